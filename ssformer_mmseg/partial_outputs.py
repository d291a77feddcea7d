"""Never leave a half-written output folder that looks complete, and never
touch a file this run did not write.

Two ways, one rule (undo exactly what this run did):

* :func:`removed_on_error` for our own writers: each file is *claimed*
  (:func:`claim_output`) before it is written. A claimed path that already
  held a file (or link) has it moved aside first; on failure the run's files
  are removed, the moved-aside ones put back and the folders the run
  created removed when empty. Nothing else in the folder is looked at, so
  another process's files there, links and dangling links are left alone.
* :func:`staged` for writers we do not control (mmengine's visualiser,
  mmseg's metrics): they write into a hidden staging folder beside the
  output folder, which is moved into place file by file (each move claimed
  as above) only when the block succeeds.

A run killed outright (SIGKILL) cannot clean up; the next run in the same
place removes the staging folders of dead processes, and names any folder
of replaced files left behind, which it never deletes.
"""
import contextlib
import os
import os.path as osp
import shutil
import socket
import tempfile
import threading
import warnings
from typing import Dict, Iterator, List

_STAGING = '.ssformer-staging'
_REPLACED = '.ssformer-replaced'
_active: List['OutputRecord'] = []
_active_lock = threading.Lock()


def owner_tag() -> str:
    """``<host>-<pid>``: what names a folder of this process, so that a
    later run can tell whether its owner still runs."""
    return f'{socket.gethostname()}-{os.getpid()}'


def is_dead_owner(name: str, prefix: str) -> bool:
    """Whether a ``<prefix>-<host>-<pid>-...`` folder was made on this host
    by a process that no longer runs."""
    host = socket.gethostname()
    rest = name[len(prefix) + 1:]
    if not rest.startswith(host + '-'):
        return False
    pid = rest[len(host) + 1:].split('-', 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class OutputRecord:
    """What one run wrote under ``folder``; see the module doc.

    Args:
        folder (str): The output folder (need not exist yet).
    """

    def __init__(self, folder: str):
        self.folder = osp.abspath(folder)
        self.written: List[str] = []
        self._claimed = set()
        self.created_folders: List[str] = []
        self.replaced: Dict[str, str] = {}
        self._replaced_dir = None
        self._lock = threading.Lock()

    def contains(self, path: str) -> bool:
        return osp.abspath(path).startswith(self.folder + os.sep)

    def claim(self, path: str) -> str:
        """Record ``path`` as this run's before it is written: its folders
        are created (and recorded), and a file already there is moved aside
        to be restored if the run fails. Returns ``path``."""
        target = osp.abspath(path)
        with self._lock:
            if target in self._claimed:
                return path
            self._make_folders(osp.dirname(target))
            if osp.lexists(target) and not osp.isdir(target):
                aside = osp.join(self._replaced_folder(),
                                 str(len(self.replaced)))
                os.replace(target, aside)
                self.replaced[target] = aside
            self.written.append(target)
            self._claimed.add(target)
        return path

    def _make_folders(self, folder: str) -> None:
        missing = []
        while not osp.isdir(folder):
            missing.append(folder)
            folder = osp.dirname(folder)
        for path in reversed(missing):
            os.mkdir(path)
            self.created_folders.append(path)

    def _replaced_folder(self) -> str:
        if self._replaced_dir is None:
            self._make_folders(self.folder)
            self._replaced_dir = tempfile.mkdtemp(
                prefix=f'{_REPLACED}-{owner_tag()}-', dir=self.folder)
        return self._replaced_dir

    def undo(self) -> int:
        """Remove what the run wrote, restore what it replaced; returns the
        number of files removed."""
        removed = 0
        for path in reversed(self.written):
            if osp.lexists(path) and not osp.isdir(path):
                os.remove(path)
                removed += 1
            if path in self.replaced:
                os.replace(self.replaced[path], path)
        self._drop_replaced_folder()
        for folder in reversed(self.created_folders):
            with contextlib.suppress(OSError):  # not empty: not only ours
                os.rmdir(folder)
        return removed

    def commit(self) -> None:
        """Keep what the run wrote; forget what it replaced."""
        self._drop_replaced_folder()

    def _drop_replaced_folder(self) -> None:
        if self._replaced_dir is not None:
            shutil.rmtree(self._replaced_dir, ignore_errors=True)
            self._replaced_dir = None


def claim_output(path: str) -> str:
    """Claim ``path`` (see :meth:`OutputRecord.claim`) in every
    :func:`removed_on_error` block running whose folder holds it; outside
    them, only create its folder. Returns ``path``. Every writer of the
    package calls it before writing a file."""
    with _active_lock:
        records = [r for r in _active if r.contains(path)]
    for record in records:
        record.claim(path)
    if not records:
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    return path


def _warn_of_leftovers(folder: str) -> None:
    """Remove staging folders of dead runs beside ``folder``; name folders
    of files a killed run replaced (never deleted: they are the user's)."""
    parent = osp.dirname(osp.abspath(folder))
    staging = f'.{osp.basename(osp.abspath(folder))}{_STAGING}'
    for root, prefix in ((parent, staging), (folder, _REPLACED)):
        if not osp.isdir(root):
            continue
        for name in os.listdir(root):
            path = osp.join(root, name)
            if not name.startswith(prefix) or not is_dead_owner(name, prefix):
                continue
            if prefix == staging:
                shutil.rmtree(path, ignore_errors=True)
            else:
                warnings.warn(f'{path}: files a killed run had replaced '
                              'under its output folder (not deleted)')


@contextlib.contextmanager
def removed_on_error(folder: str) -> Iterator[OutputRecord]:
    """Undo what the block claimed under ``folder`` if it raises (see the
    module doc); the exception propagates, with a note of how many files
    were removed."""
    _warn_of_leftovers(folder)
    with _recorded(folder) as record:
        yield record


@contextlib.contextmanager
def _recorded(folder: str) -> Iterator[OutputRecord]:
    """:func:`removed_on_error` without the scan for leftovers (which
    :func:`staged` has done already)."""
    record = OutputRecord(folder)
    with _active_lock:
        _active.append(record)
    try:
        yield record
    except BaseException as error:
        removed = record.undo()
        if removed and hasattr(error, 'add_note'):
            error.add_note(f'removed the {removed} partial output file(s) '
                           f'this run had written under {folder}')
        raise
    else:
        record.commit()
    finally:
        with _active_lock:
            _active.remove(record)


@contextlib.contextmanager
def staged(folder: str) -> Iterator[str]:
    """A staging folder that becomes ``folder``'s content if the block
    succeeds: its files are moved into ``folder`` (replacing files of the
    same name, which are restored if a move fails). On failure it is
    removed, with a note of how many files it held; ``folder`` is never
    touched then."""
    _warn_of_leftovers(folder)
    folder = osp.abspath(folder)
    parent = osp.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(
        prefix=f'.{osp.basename(folder)}{_STAGING}-{owner_tag()}-', dir=parent)
    try:
        yield staging
        with _recorded(folder) as record:
            for root, _, names in os.walk(staging):
                for name in names:
                    source = osp.join(root, name)
                    target = osp.join(folder, osp.relpath(source, staging))
                    os.replace(source, record.claim(target))
        os.makedirs(folder, exist_ok=True)
    except BaseException as error:
        staged_files = sum(len(n) for _, _, n in os.walk(staging))
        if staged_files and hasattr(error, 'add_note'):
            error.add_note(f'removed the {staged_files} partial output '
                           f'file(s) this run had staged for {folder}')
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
