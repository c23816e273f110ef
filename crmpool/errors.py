"""The failures crmpool reports, and the one table that maps them to exit codes (SPEC)."""

from __future__ import annotations


class CrmpoolError(Exception):
    """Base of every failure that is the user's to fix, not a bug."""


class UsageError(CrmpoolError):
    """A bad option or argument (exit 2)."""


class InputError(CrmpoolError):
    """Invalid input data: an import file, a rules file, a date (exit 3).

    The message names where: file, line, column or key.
    """


class Refused(CrmpoolError):
    """Refused by policy: over cap, claim limit, cooldown, not the owner, role ... (exit 4)."""


class NotFound(Refused):
    """A customer, user or pool that does not exist: refused like any other policy (exit 4)."""


class DatabaseUnavailable(CrmpoolError):
    """The database is busy after the timeout, or is not a crmpool database (exit 5)."""


EXIT_CODES: dict[type[CrmpoolError], int] = {
    UsageError: 2,
    InputError: 3,
    Refused: 4,
    DatabaseUnavailable: 5,
}


def exit_code_for(error: BaseException) -> int:
    """The documented exit code of an error; 1 for anything unexpected."""
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 1
