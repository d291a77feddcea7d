"""How error messages name many things: one rule for every list."""
from typing import Iterable


def listing(names: Iterable[str], limit: int = 20) -> str:
    """Comma-separated names for messages, cut after ``limit`` with the
    total count, so a message stays readable for thousands of files."""
    names = list(names)
    more = f', ... ({len(names)} in all)' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more
