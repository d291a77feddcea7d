"""How messages are put: one rule for every list of names, and the log
callback that says nothing (the default of every ``log`` / ``progress``
argument)."""
from typing import Iterable


def listing(names: Iterable[str], limit: int = 20) -> str:
    """Comma-separated names for messages, cut after ``limit`` with the
    total count, so a message stays readable for thousands of files."""
    names = list(names)
    more = f', ... ({len(names)} in all)' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more


def quiet(message: str) -> None:
    """A log or progress callback that says nothing."""
