"""Split lists: PraNet's lists from a folder, CVC-ClinicDB's sequence split.

PraNet's lists (``{kvasir,clinicdb}_{train,test}.txt``) are read as every
split file is (:func:`~ssformer_mmseg.datasets.polyp_files.read_split_file`)
and checked against the sets. The sequence split keeps each of
CVC-ClinicDB's video sequences on one side, from the frame-to-sequence
table of its README.txt.
"""
import os
import os.path as osp
import random
import re
from typing import Dict, List, Optional, Sequence, Tuple

from ...messages import listing
from ..polyp_files import (PolypFileError, check_split_stems, read_split_file,
                           scan_image_folder)
from .options import AUTO, PrepareOptions
from .pairing import SetPlan, stem_sort_key
from .sources import SETS_BY_KEY

#: Frames in CVC-ClinicDB; its README's sequence table must cover 1..612.
CLINICDB_FRAMES = 612
PRANET_SPLITS = ('kvasir_train', 'kvasir_test', 'clinicdb_train',
                 'clinicdb_test')
# A sequence-table row such as "|     26 to  50    |<tab> 2   |".
_SEQUENCE_ROW = re.compile(
    r'^\s*\|?\s*(\d+)\s*(?:to|-)\s*(\d+)\s*\|\s*(\d+)\s*\|?\s*$',
    re.IGNORECASE)


def existing_stems(folder: str) -> Optional[List[str]]:
    """The image stems of a prepared set folder, None if it has no images/."""
    img_dir = osp.join(folder, 'images')
    if not osp.isdir(img_dir):
        return None
    return list(scan_image_folder(img_dir).files)


def read_split_dir(split_dir: str, set_stems: Dict[str, Optional[List[str]]],
                   problems: List[PolypFileError]) -> Dict[str, List[str]]:
    """Read and check ``{kvasir,clinicdb}_{train,test}.txt`` of a folder.

    File names are matched case-insensitively; a line may name a file
    (``1.png``), whose image suffix is dropped. Each list adds at most one
    problem; a stem in both lists of a set adds one more.

    Args:
        split_dir (str): Folder holding the four lists.
        set_stems (dict): Set key -> stems of the prepared set, or None if
            the set is not available (its lists are then not checked).
        problems (list): Where problems are added.

    Returns:
        dict: Split name -> stems (sorted), for the lists without problems.
    """
    if not osp.isdir(split_dir):
        problems.append(
            PolypFileError(split_dir, 'split folder does not '
                           'exist'))
        return {}
    names = {n.lower(): n for n in os.listdir(split_dir)}
    splits, lines_of = {}, {}
    for split in PRANET_SPLITS:
        path = osp.join(split_dir, names.get(f'{split}.txt', f'{split}.txt'))
        if not osp.isfile(path):
            problems.append(PolypFileError(path, 'split list missing'))
            continue
        key = split.split('_')[0]
        try:
            stems = read_split_file(path)
            if set_stems[key] is not None:
                check_split_stems(path, stems, set_stems[key],
                                  SETS_BY_KEY[key].folder)
        except PolypFileError as error:
            problems.append(error)
            continue
        splits[split] = sorted(stems, key=stem_sort_key)
        lines_of[split] = (path, stems)
    for key in ('kvasir', 'clinicdb'):
        if f'{key}_train' in lines_of and f'{key}_test' in lines_of:
            train_path, train = lines_of[f'{key}_train']
            test_path, test = lines_of[f'{key}_test']
            for stem in sorted(set(train) & set(test), key=stem_sort_key):
                problems.append(
                    PolypFileError(
                        test_path,
                        f'stem {stem!r} (line {test[stem]}) is also '
                        f'in {train_path} (line {train[stem]})'))
    return splits


def parse_sequence_table(text: str, path: str) -> Dict[int, List[int]]:
    """Read CVC-ClinicDB's frame -> video-sequence table from its README.

    Rows look like ``|     26 to  50    |<tab> 2   |`` with irregular tabs
    and spaces; everything else in the text is ignored. The ranges must
    cover frames 1..612 without gap or overlap.

    Args:
        text (str): The README's text.
        path (str): The README's path, for messages.

    Returns:
        dict: Sequence number -> its frame numbers.

    Raises:
        PolypFileError: If no row is found or the ranges do not cover
            1..612 exactly once.
    """
    rows = []
    for line in text.splitlines():
        match = _SEQUENCE_ROW.match(line)
        if match:
            rows.append(tuple(int(g) for g in match.groups()))
    if not rows:
        raise PolypFileError(
            path, 'no frame-to-sequence table (rows like '
            '"| 26 to 50 | 2 |") found')
    sequences: Dict[int, List[int]] = {}
    expected = 1
    for first, last, sequence in sorted(rows):
        if last < first:
            raise PolypFileError(
                path, f'sequence table row "{first} to {last}" ends before '
                'it starts')
        if first != expected:
            raise PolypFileError(
                path, f'sequence table row "{first} to {last}" does not '
                f'start at frame {expected}: frames must run from 1 to '
                f'{CLINICDB_FRAMES} without gap or overlap')
        sequences.setdefault(sequence, []).extend(range(first, last + 1))
        expected = last + 1
    if expected - 1 != CLINICDB_FRAMES:
        raise PolypFileError(
            path, f'sequence table ends at frame {expected - 1}; '
            f'expected {CLINICDB_FRAMES}')
    return sequences


def sequence_split(sequences: Dict[int, List[int]], test_fraction: float,
                   seed: int) -> Tuple[List[int], List[int]]:
    """Choose whole sequences for the test side, about ``test_fraction`` of
    the frames.

    Sequences are visited in a seeded random order and taken when they
    bring the test frame count closer to the target.

    Returns:
        tuple: Train and test sequence numbers, sorted.
    """
    total = sum(len(f) for f in sequences.values())
    target = test_fraction * total
    order = sorted(sequences)
    random.Random(seed).shuffle(order)
    test, count = [], 0
    for sequence in order:
        size = len(sequences[sequence])
        if abs(count + size - target) < abs(count - target):
            test.append(sequence)
            count += size
    if not test:
        # Every sequence overshoots a tiny target; the closest one does least.
        test = [min(order, key=lambda s: abs(len(sequences[s]) - target))]
    if len(test) == len(order):
        # A fraction near 1 can take everything; training needs a sequence.
        test.pop()
    train = sorted(set(sequences) - set(test))
    return train, sorted(test)


def _sequence_readme(options: PrepareOptions, this_run: Sequence[SetPlan],
                     clinicdb: str) -> Optional[str]:
    """The README the sequence split reads: given, or found (or None)."""
    readme = options.clinicdb_sequence_split
    if readme != AUTO:
        return readme
    readme = this_run[0].readme if this_run else None
    if readme is None and osp.isdir(clinicdb):
        readme = next((osp.join(clinicdb, n)
                       for n in sorted(os.listdir(clinicdb))
                       if n.lower() == 'readme.txt'), None)
    return readme


def _read_sequences(readme: str) -> Dict[int, List[int]]:
    """The sequence table of a README, with at least two sequences."""
    try:
        with open(readme, encoding='latin-1') as file:
            sequences = parse_sequence_table(file.read(), readme)
    except OSError as error:
        raise PolypFileError(readme, f'cannot be read ({error})') from None
    if len(sequences) < 2:
        raise PolypFileError(
            readme, 'the sequence table has one sequence; nothing to split')
    return sequences


def plan_sequence_split(
    options: PrepareOptions, plans: List[SetPlan], stems: Optional[List[str]],
    problems: List[PolypFileError]
) -> Optional[Tuple[Dict[str, List[str]], str]]:
    """Split CVC-ClinicDB by video sequence, from its README's table.

    Args:
        options (PrepareOptions): The run (README, fraction, seed, out).
        plans (list): The sets this run writes.
        stems (list, optional): CVC-ClinicDB's stems (of this run or
            prepared), None if it is not available.
        problems (list): Where problems are added.

    Returns:
        tuple: The lists (``train``, ``test``) and a line naming the test
        sequences; None if there was a problem.
    """
    clinicdb = osp.join(options.out, SETS_BY_KEY['clinicdb'].folder)
    this_run = [p for p in plans if p.polyp_set.key == 'clinicdb']
    where = this_run[0].img_dir if this_run else clinicdb
    readme = _sequence_readme(options, this_run, clinicdb)
    if readme is None:
        problems.append(
            PolypFileError(
                options.clinicdb or clinicdb, 'no CVC-ClinicDB README.txt '
                'found for the sequence split; pass its path: '
                '--clinicdb-sequence-split PATH'))
        return None
    if stems is None:
        problems.append(
            PolypFileError(
                clinicdb,
                'not prepared, so it cannot be split by sequence; give '
                '--clinicdb (or --pranet) too'))
        return None
    try:
        sequences = _read_sequences(readme)
    except PolypFileError as error:
        problems.append(error)
        return None
    frames = {str(f) for fs in sequences.values() for f in fs}
    strays = sorted(set(stems) - frames, key=stem_sort_key)
    absent = sorted(frames - set(stems), key=stem_sort_key)
    if strays or absent:
        problems.append(
            PolypFileError(
                where, 'does not hold exactly the frames 1..'
                f'{CLINICDB_FRAMES} of {readme}: ' +
                (f'not in the table: {listing(strays)}; ' if strays else '') +
                (f'missing: {listing(absent)}' if absent else '')))
        return None
    train, test = sequence_split(sequences, options.test_fraction,
                                 options.seed)
    lists = {
        side: sorted((str(f) for s in chosen for f in sequences[s]),
                     key=stem_sort_key)
        for side, chosen in (('train', train), ('test', test))
    }
    note = (f'clinicdb_sequence: test = sequences '
            f'{", ".join(map(str, test))} ({len(lists["test"])} frames, '
            f'{len(lists["test"]) / CLINICDB_FRAMES:.1%}); train = '
            f'{len(train)} sequences ({len(lists["train"])} frames); '
            f'seed {options.seed}')
    return lists, note
