"""Finding a checkpoint to resume from that a crash did not truncate."""
import glob
import os.path as osp
import re
import zipfile
from typing import List, Optional, Tuple


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint, or None if it is.

    ``torch.save`` writes a zip archive whose directory comes last and whose
    members carry CRCs, so a file cut short by a crash (or bit rot) fails
    this check without unpickling anything.
    """
    if not osp.isfile(path):
        return 'missing'
    if not zipfile.is_zipfile(path):
        return 'not a complete torch checkpoint (truncated?)'
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        return f'unreadable ({error})'
    return f'corrupt member {bad}' if bad else None


def _iteration(path: str) -> int:
    match = re.search(r'(\d+)\.pth$', osp.basename(path))
    return int(match.group(1)) if match else -1


def resumable_checkpoint(work_dir: str) -> Tuple[Optional[str], List[str]]:
    """The newest complete checkpoint of ``work_dir``.

    Candidates are the one named in mmengine's ``last_checkpoint`` file,
    then every ``*.pth`` of the work dir from the highest iteration (or
    epoch) down.

    Returns:
        tuple: The checkpoint path (None if there is no complete one) and
        ``'path: problem'`` for each newer candidate that was skipped.
    """
    candidates = []
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            named = f.read().strip()
        if named:
            candidates.append(named)
    candidates += sorted(
        glob.glob(osp.join(work_dir, '*.pth')), key=_iteration, reverse=True)
    skipped = []
    for path in dict.fromkeys(candidates):  # unique, in order
        problem = checkpoint_problem(path)
        if problem is None:
            return path, skipped
        skipped.append(f'{path}: {problem}')
    return None, skipped
