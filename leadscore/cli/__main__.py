"""``python -m leadscore.cli``: the same command as the ``leadscore`` console script."""

import sys

from leadscore.cli.main import main

sys.exit(main())
