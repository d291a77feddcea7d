"""Never leave a half-written output folder that looks complete."""
import contextlib
import os
import os.path as osp
from typing import Dict, Iterator, Optional


def _snapshot(folder: str) -> Dict[str, Optional[float]]:
    """Every file and folder under ``folder`` with its modification time
    (None for folders)."""
    entries: Dict[str, Optional[float]] = {}
    for root, dirs, files in os.walk(folder):
        entries[root] = None
        for name in files:
            path = osp.join(root, name)
            entries[path] = os.stat(path).st_mtime_ns
    return entries


@contextlib.contextmanager
def removed_on_error(folder: str) -> Iterator[None]:
    """Undo what the block wrote under ``folder`` if it raises.

    Files the block created or rewrote are deleted, then the folders it
    created (when empty); what was there before and untouched stays. The
    exception propagates, with a note of how many files were removed.
    """
    before = _snapshot(folder) if osp.isdir(folder) else {}
    try:
        yield
    except BaseException as error:
        removed = 0
        after = _snapshot(folder) if osp.isdir(folder) else {}
        for path, mtime in sorted(after.items(), reverse=True):
            if mtime is not None and before.get(path, -1) != mtime:
                os.remove(path)
                removed += 1
            elif mtime is None and path not in before and not os.listdir(path):
                os.rmdir(path)
        if removed and hasattr(error, 'add_note'):
            error.add_note(f'removed the {removed} partial output file(s) '
                           f'this run had written under {folder}')
        raise
