"""The ``leadscore`` command line: the shell over every package (nothing imports it back)."""
