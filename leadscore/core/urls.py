"""Database URLs as they may be shown: in log lines, error messages and reports, never with the password."""

from __future__ import annotations


def redact_url(url: str) -> str:
    """The URL with any password masked (``postgresql://user:***@host/db``).

    An URL SQLAlchemy cannot parse is cut to what follows the last ``@``, so a password in it is still not
    echoed; whoever parses it next reports the real problem.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return url.split("@")[-1]
