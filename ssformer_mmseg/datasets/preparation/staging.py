"""Checking and writing the sets in a staging folder, and moving them in.

Every pair is checked as the datasets check it
(:mod:`ssformer_mmseg.datasets.polyp_files`); JPEG and PNG files are kept
byte for byte (copied or linked), other formats converted to PNG, masks as
0/255. A run writes everything under a staging folder first and moves the
finished folders into place only when nothing had a problem
(:func:`commit`).
"""
import os
import os.path as osp
import shutil
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..polyp_files import (PolypFileError, check_sizes_match, image_from_bytes,
                           mask_from_bytes, read_bytes, stored_format)
from .pairing import SetPlan
from .sources import SETS_BY_KEY

#: Receives a line of progress for the user (the tool prints it).
Report = Callable[[str], None]
#: Wraps the pairs of a set while they are checked, given them and a label
#: (the tool shows a live counter on a terminal).
Track = Callable[[Sequence, str], Iterable]


def report_nothing(line: str) -> None:
    """The default :data:`Report`: drop the line."""


def track_nothing(items: Sequence, label: str) -> Iterable:
    """The default :data:`Track`: the items as they are."""
    return items


@dataclass
class SetResult:
    """Counts of one written set, for the summary table."""
    folder: str
    pairs: int = 0
    copied: int = 0
    linked: int = 0
    converted: int = 0
    splits: List[str] = field(default_factory=list)


def _checked(
        path: str, check: Callable[[bytes, str], np.ndarray],
        problems: List[PolypFileError]) -> Optional[Tuple[bytes, np.ndarray]]:
    try:
        data = read_bytes(path)
        return data, check(data, path)
    except PolypFileError as error:
        problems.append(error)
        return None


def place_file(source: str, data: bytes, array: np.ndarray, folder: str,
               stem: str, link: str) -> str:
    """Write one file: JPEG/PNG as is (or linked), others as PNG.

    Returns:
        str: ``'copied'``, ``'linked'`` or ``'converted'``.
    """
    kept = stored_format(data)
    target = osp.join(folder, stem + ('.jpg' if kept == 'jpeg' else '.png'))
    if kept is not None:
        if link == 'hard':
            os.link(source, target)
        elif link == 'sym':
            os.symlink(osp.abspath(source), target)
        else:
            with open(target, 'wb') as file:
                file.write(data)
        return 'linked' if link != 'none' else 'copied'
    # Through imencode, not imwrite: imwrite fails silently on some paths.
    ok, encoded = cv2.imencode('.png', array)
    if not ok:
        raise OSError('PNG encoding failed')
    with open(target, 'wb') as file:
        file.write(encoded.tobytes())
    return 'converted'


def stage_set(plan: SetPlan,
              target: str,
              link: str,
              problems: List[PolypFileError],
              report: Report = report_nothing,
              track: Track = track_nothing) -> SetResult:
    """Check every pair of a set and write it under ``target``.

    Once the run has a problem nothing more is written (it will be thrown
    away), but checking goes on so one report names every bad file.
    Reports ``"<set>: N pairs checked, K problem(s)"``.
    """
    result = SetResult(plan.polyp_set.folder, pairs=len(plan.pairs))
    folders = osp.join(target, 'images'), osp.join(target, 'masks')
    for folder in folders:
        os.makedirs(folder)
    if plan.readme:
        shutil.copyfile(plan.readme, osp.join(target, 'README.txt'))
    found = len(problems)
    for pair in track(plan.pairs, result.folder):
        image = _checked(pair.image, image_from_bytes, problems)
        mask = _checked(pair.mask, mask_from_bytes, problems)
        if image and mask:
            try:
                check_sizes_match(pair.mask, 'mask', mask[1].shape, 'image',
                                  pair.image, image[1].shape)
            except PolypFileError as error:
                problems.append(error)
                continue
        if problems:
            continue
        for source, (data, array), folder in ((pair.image, image, folders[0]),
                                              (pair.mask, (mask[0],
                                                           mask[1] * 255),
                                               folders[1])):
            try:
                kind = place_file(source, data, array, folder, pair.stem, link)
            except OSError as error:
                problems.append(
                    PolypFileError(source,
                                   f'cannot be written to {folder} ({error})'))
                break
            setattr(result, kind, getattr(result, kind) + 1)
    report(f'{result.folder}: {len(plan.pairs)} pairs checked, '
           f'{len(problems) - found} problem(s)')
    return result


def _write_list(path: str, stems: Sequence[str]) -> None:
    with open(path, 'w') as file:
        file.write(''.join(f'{s}\n' for s in stems))


def stage_splits(stage: str, split_lists: Dict[str, Dict[str, List[str]]],
                 results: Dict[str, SetResult]) -> None:
    """Write the split lists under ``stage`` and count them per set."""
    for name, lists in split_lists.items():
        os.makedirs(osp.join(stage, 'splits', name))
        for split, stems in lists.items():
            _write_list(osp.join(stage, 'splits', name, f'{split}.txt'), stems)
        prefixes = {
            'clinicdb': ''
        } if name == 'clinicdb_sequence' else {
            key: f'{key}_'
            for key in ('kvasir', 'clinicdb')
        }
        for key, prefix in prefixes.items():
            folder = SETS_BY_KEY[key].folder
            results.setdefault(folder, SetResult(folder)).splits.append(
                f'{name} {len(lists[prefix + "train"])}/'
                f'{len(lists[prefix + "test"])}')


class CommitUndoError(OSError):
    """A failed :func:`commit` that could not be undone; the message names
    the folder keeping the replaced sets, which must not be removed."""


def commit(staged: List[Tuple[str, str]], trash: str) -> None:
    """Move staged folders into place; undo every move if one fails.

    Args:
        staged (list): (staged folder, target) pairs.
        trash (str): Where replaced targets are moved (on the targets'
            file system, so that every move is one rename).

    Raises:
        CommitUndoError: If a move failed and undoing failed as well.
    """
    done: List[Tuple[str, str]] = []
    try:
        for source, target in staged:
            os.makedirs(osp.dirname(target), exist_ok=True)
            if osp.lexists(target):
                old = osp.join(trash, f'{len(done)}-{osp.basename(target)}')
                os.rename(target, old)
                done.append((target, old))
            os.rename(source, target)
            done.append((source, target))
    except OSError as error:
        try:
            for before, after in reversed(done):
                os.rename(after, before)
        except OSError as undo_error:
            raise CommitUndoError(
                f'moving the prepared sets into place failed ({error}) and '
                f'undoing it failed too ({undo_error}); the sets it had '
                f'replaced are kept in {trash}: move them back by hand'
            ) from error
        raise
