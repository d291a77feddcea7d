"""Prepare the public polyp downloads in the one layout the datasets read.

Each source option points at an extracted download, in its own layout (folder
names are matched case-insensitively, ignoring spaces, "-" and "_"; a
download extracted into a folder of its own is found up to two such
single-folder wrappers down):

    --kvasir    Kvasir-SEG: images/ + masks/ (JPEG)
    --clinicdb  CVC-ClinicDB: Original/ + Ground Truth/ (TIFF), or
                PNG/Original/ + PNG/Ground Truth/, or images/ + masks/
    --colondb   CVC-ColonDB: images/ + masks/
    --etis      ETIS-LaribPolypDB: ETIS-LaribPolypDB/N.tif +
                Ground Truth/pN.tif (or images/ + masks/); both become N
    --cvc300    CVC-300: images/ + masks/
    --pranet    PraNet's TrainDataset/ + TestDataset/: fills all five sets
                and writes PraNet's split lists from the folder membership

and the result is, under --out (default data/polyp):

    kvasir-seg/ cvc-clinicdb/ cvc-colondb/ etis-laribpolypdb/ cvc-300/
        images/<stem>.jpg|.png   masks/<stem>.jpg|.png
    splits/pranet/{kvasir,clinicdb}_{train,test}.txt
    splits/clinicdb_sequence/{train,test}.txt   (--clinicdb-sequence-split)

JPEG and PNG files are kept byte for byte (copied, or linked with --link);
other formats (TIFF, BMP) are converted to PNG, masks as 0/255. Files are
named by their content (.jpg for JPEG, .png otherwise) whatever their suffix
in the download; images and masks are paired by stem, case-insensitively.
CVC-ClinicDB's README.txt is copied along: its frame-to-sequence table is
what --clinicdb-sequence-split reads. Every pair is checked as the datasets
check it (ssformer_mmseg.datasets.polyp_files); all problems of a run are
reported together, and then nothing is written: the sets are built in a
temporary folder under --out and moved into place only when everything
passed. Existing set and split folders are only replaced with --overwrite.

PraNet's split lists come from --pranet (its folders) or --split-dir (lists
checked against the sets, which may have been prepared by an earlier run).

In image and mask folders, hidden files (.DS_Store, ._*), Thumbs.db and
desktop.ini are ignored; any other file that is not an image (.jpg, .jpeg,
.png, .tif, .tiff, .bmp) is reported, since it may be a frame in a format
this tool does not know, which would otherwise vanish unnoticed.

Examples:
    python tools/prepare_polyp_data.py --pranet downloads/PraNet
    python tools/prepare_polyp_data.py --kvasir downloads/Kvasir-SEG \\
        --clinicdb downloads/CVC-ClinicDB --split-dir my_pranet_lists \\
        --clinicdb-sequence-split --link hard
"""
import argparse
import os
import os.path as osp
import random
import re
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

import cv2
import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from ssformer_mmseg.datasets.polyp import IMAGE_SUFFIXES  # noqa: E402
from ssformer_mmseg.datasets.polyp_files import (  # noqa: E402
    PolypFileError, check_same_size, image_from_bytes, is_system_file,
    listing, mask_from_bytes, read_bytes)

#: Frames in CVC-ClinicDB; its README's sequence table must cover 1..612.
CLINICDB_FRAMES = 612
#: How many single-folder wrappers a source's layout may lie below (a
#: download extracted into a folder of its own name is one down, Kvasir-SEG's
#: zip, which holds a Kvasir-SEG folder, extracted like that two).
MAX_DEPTH = 2
PRANET_SPLITS = ('kvasir_train', 'kvasir_test', 'clinicdb_train',
                 'clinicdb_test')
_JPEG_MAGIC = b'\xff\xd8\xff'
_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
#: ``--clinicdb-sequence-split`` without a path: find the README.
AUTO = 'auto'
# A sequence-table row such as "|     26 to  50    |<tab> 2   |".
_SEQUENCE_ROW = re.compile(
    r'^\s*\|?\s*(\d+)\s*(?:to|-)\s*(\d+)\s*\|\s*(\d+)\s*\|?\s*$',
    re.IGNORECASE)


@dataclass(frozen=True)
class PolypSet:
    """A public polyp set: where it goes and how its download looks.

    Args:
        key (str): Its source option (``--<key>``) and split-list prefix.
        folder (str): Its folder under the output root.
        layouts (tuple): (image folder, mask folder) alternatives in the
            download, preferred first; nested folders with ``/``.
        test_names (tuple): Its folder name in PraNet's TestDataset,
            normalised (see :func:`_norm`).
        mask_prefix (str): Prefix of mask stems to drop (ETIS names the
            mask of ``1.tif`` ``p1.tif``).
    """
    key: str
    folder: str
    layouts: Tuple[Tuple[str, str], ...]
    test_names: Tuple[str, ...]
    mask_prefix: str = ''


SETS = (
    PolypSet('kvasir', 'kvasir-seg', (('images', 'masks'), ),
             ('kvasir', 'kvasirseg')),
    PolypSet('clinicdb', 'cvc-clinicdb',
             (('PNG/Original', 'PNG/Ground Truth'),
              ('Original', 'Ground Truth'),
              ('TIF/Original', 'TIF/Ground Truth'), ('images', 'masks')),
             ('cvcclinicdb', 'clinicdb')),
    PolypSet('colondb', 'cvc-colondb', (('images', 'masks'), ),
             ('cvccolondb', 'colondb')),
    PolypSet('etis', 'etis-laribpolypdb',
             (('ETIS-LaribPolypDB', 'Ground Truth'), ('images', 'masks')),
             ('etislaribpolypdb', 'etis'), mask_prefix='p'),
    PolypSet('cvc300', 'cvc-300', (('images', 'masks'), ), ('cvc300', )),
)
SETS_BY_KEY = {s.key: s for s in SETS}


@dataclass
class Pair:
    """One frame: its output stem and its source files."""
    stem: str
    image: str
    mask: str


@dataclass
class SetPlan:
    """What a run writes for one set, and from where.

    ``img_dir`` is the folder of its (test) images, ``origin`` says in words
    where all of it comes from.
    """
    polyp_set: PolypSet
    pairs: List[Pair]
    img_dir: str
    origin: str
    readme: Optional[str] = None


@dataclass
class SetResult:
    """Counts of one written set, for the summary table."""
    folder: str
    pairs: int = 0
    copied: int = 0
    linked: int = 0
    converted: int = 0
    splits: List[str] = field(default_factory=list)


class PrepareError(Exception):
    """A run that failed; ``problems`` name each file and what is wrong."""

    def __init__(self, problems: List[PolypFileError]):
        # A folder given for two sets would report each of its bad files
        # twice.
        unique: Dict[str, PolypFileError] = {}
        for problem in problems:
            unique.setdefault(str(problem), problem)
        self.problems = list(unique.values())
        super().__init__(f'{len(self.problems)} problem(s)')


def stem_sort_key(stem: str) -> tuple:
    """Numeric stems by value (CVC frames 1, 2, ..., 10), then the others."""
    return (0, int(stem), '') if stem.isdigit() else (1, 0, stem)


def _norm(name: str) -> str:
    """Folder name as matched: case, spaces, ``-``, ``_``, ``.`` ignored,
    singular ``image``/``mask`` (PraNet's TrainDataset) as plural."""
    name = re.sub(r'[\s_.\-]+', '', name.lower())
    return {'image': 'images', 'mask': 'masks'}.get(name, name)


def _subdirs(folder: str) -> List[str]:
    return sorted(
        name for name in os.listdir(folder)
        if not is_system_file(name) and osp.isdir(osp.join(folder, name)))


def _child(folder: str, names: Iterable[str]) -> Optional[str]:
    """The subfolder of ``folder`` whose normalised name is in ``names``."""
    wanted = {_norm(n) for n in names}
    matches = [d for d in _subdirs(folder) if _norm(d) in wanted]
    if len(matches) > 1:
        raise PolypFileError(
            folder, f'folders {", ".join(matches)} are ambiguous (all match '
            f'{" or ".join(sorted(names))}); keep one')
    return osp.join(folder, matches[0]) if matches else None


def _resolve(folder: str, relative: str) -> Optional[str]:
    for part in relative.split('/'):
        folder = _child(folder, [part])
        if folder is None:
            return None
    return folder


def _find_folders(root: str, layouts: Sequence[Tuple[str, str]], what: str,
                  max_depth: int = MAX_DEPTH) -> Tuple[str, str, str]:
    """Find the first fitting layout in ``root``, or below it through
    folders holding a single folder (up to ``max_depth`` down).

    Only single-folder wrappers are entered: in a folder holding several
    downloads, a search could take one set's folders for another's.

    Returns:
        tuple: The two folders and the folder where the layout was found.

    Raises:
        PolypFileError: If ``root`` is no folder or no layout fits.
    """
    if not osp.isdir(root):
        raise PolypFileError(
            root, f'{what} folder ' +
            ('is not a folder' if osp.exists(root) else 'does not exist'))
    folder = root
    for _ in range(max_depth + 1):
        for first, second in layouts:
            found = _resolve(folder, first), _resolve(folder, second)
            if None not in found:
                return (*found, folder)
        subdirs = _subdirs(folder)
        if len(subdirs) != 1:
            break
        folder = osp.join(folder, subdirs[0])
    expected = ', or '.join(f'{a}/ + {b}/' for a, b in layouts)
    down = (f' (nor in single subfolders, up to {max_depth} down)'
            if max_depth else '')
    listing = ', '.join(_subdirs(root)) or 'no folders'
    raise PolypFileError(
        root, f'no {what} layout found{down}: expected {expected}; '
        f'it holds {listing}')


def _list_images(folder: str, kind: str, problems: List[PolypFileError],
                 prefix: str = '') -> Dict[str, Tuple[str, str]]:
    """Image files of a folder as ``{matching key: (stem, path)}``.

    The key is the lower-case stem (``prefix`` dropped before digits), so a
    download made on a case-insensitive file system pairs as it looked there.
    """
    files: Dict[str, Tuple[str, str]] = {}
    for name in sorted(os.listdir(folder)):
        path = osp.join(folder, name)
        stem, suffix = osp.splitext(name)
        if is_system_file(name):
            continue
        if osp.isdir(path):
            problems.append(PolypFileError(
                path, f'unexpected folder among the {kind}s'))
            continue
        if suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(PolypFileError(
                path, f'not an image ({", ".join(IMAGE_SUFFIXES)}); '
                f'remove it from the {kind} folder'))
            continue
        key = stem.lower()
        if prefix and key.startswith(prefix) and key[len(prefix):].isdigit():
            key = key[len(prefix):]
        if key in files:
            problems.append(PolypFileError(
                path, f'{kind} {files[key][1]} has the same stem'))
            continue
        files[key] = (stem, path)
    if not files:
        problems.append(PolypFileError(folder, f'no {kind} files'))
    return files


def _pairs(img_dir: str, mask_dir: str, problems: List[PolypFileError],
           mask_prefix: str = '') -> List[Pair]:
    """Pair images and masks by stem; report unpaired files."""
    images = _list_images(img_dir, 'image', problems)
    masks = _list_images(mask_dir, 'mask', problems, mask_prefix)
    for key in sorted(set(images) - set(masks)):
        problems.append(PolypFileError(
            images[key][1], f'image without mask in {mask_dir}'))
    for key in sorted(set(masks) - set(images)):
        problems.append(PolypFileError(
            masks[key][1], f'mask without image in {img_dir}'))
    pairs = [
        Pair(stem, path, masks[key][1])
        for key, (stem, path) in images.items() if key in masks
    ]
    return sorted(pairs, key=lambda p: stem_sort_key(p.stem))


def _find_readme(root: str, base: str) -> Optional[str]:
    """A README*.txt in ``base`` or a folder between ``root`` and it."""
    folder = base
    while True:
        for name in sorted(os.listdir(folder)):
            if re.fullmatch(r'readme.*\.txt', name, re.IGNORECASE):
                return osp.join(folder, name)
        if osp.samefile(folder, root) or osp.dirname(folder) == folder:
            return None
        folder = osp.dirname(folder)


def plan_official(polyp_set: PolypSet, root: str,
                  problems: List[PolypFileError]) -> Optional[SetPlan]:
    """Find a set's official download under ``root`` and pair its files."""
    try:
        img_dir, mask_dir, base = _find_folders(
            root, polyp_set.layouts, f'--{polyp_set.key}')
    except PolypFileError as error:
        problems.append(error)
        return None
    readme = _find_readme(root, base) if polyp_set.key == 'clinicdb' \
        else None
    return SetPlan(polyp_set,
                   _pairs(img_dir, mask_dir, problems, polyp_set.mask_prefix),
                   img_dir, f'{img_dir} + {mask_dir}', readme)


def plan_pranet(
    root: str, problems: List[PolypFileError]
) -> Tuple[List[SetPlan], Dict[str, List[str]]]:
    """Plan all five sets and PraNet's split lists from PraNet's folders.

    TrainDataset mixes the Kvasir-SEG and CVC-ClinicDB training frames;
    ClinicDB's are the numeric stems. TestDataset holds one folder per set.

    Returns:
        tuple: The set plans and the split lists (name -> stems).
    """
    try:
        train_dir, test_dir, _ = _find_folders(
            root, [('TrainDataset', 'TestDataset')], 'PraNet')
        train_pairs = _pairs(
            *_find_folders(train_dir, [('images', 'masks')],
                           'TrainDataset', max_depth=0)[:2], problems)
    except PolypFileError as error:
        problems.append(error)
        return [], {}
    train = {
        'clinicdb': [p for p in train_pairs if p.stem.isdigit()],
        'kvasir': [p for p in train_pairs if not p.stem.isdigit()],
    }
    plans, splits = [], {}
    for polyp_set in SETS:
        try:
            set_dir = _child(test_dir, polyp_set.test_names)
            if set_dir is None:
                raise PolypFileError(
                    test_dir, f'no {polyp_set.folder} test folder (expected '
                    f'one named like {polyp_set.test_names[0]})')
            img_dir, mask_dir, _ = _find_folders(
                set_dir, [('images', 'masks')], 'PraNet test set',
                max_depth=0)
            test_pairs = _pairs(img_dir, mask_dir, problems,
                                polyp_set.mask_prefix)
        except PolypFileError as error:
            problems.append(error)
            continue
        pairs = train.get(polyp_set.key, []) + test_pairs
        test_stems = {p.stem for p in test_pairs}
        for pair in train.get(polyp_set.key, []):
            if pair.stem in test_stems:
                problems.append(PolypFileError(
                    pair.image, f'is in TrainDataset and in {set_dir}'))
        if polyp_set.key in train:
            splits[f'{polyp_set.key}_train'] = [
                p.stem for p in train[polyp_set.key]]
            splits[f'{polyp_set.key}_test'] = sorted(
                test_stems, key=stem_sort_key)
        plans.append(SetPlan(
            polyp_set, sorted(pairs, key=lambda p: stem_sort_key(p.stem)),
            img_dir, f'{set_dir}' + (' + TrainDataset' if polyp_set.key in
                                     train else '')))
    return plans, splits


def read_split_dir(split_dir: str, set_stems: Dict[str, Optional[List[str]]],
                   problems: List[PolypFileError]) -> Dict[str, List[str]]:
    """Read and check ``{kvasir,clinicdb}_{train,test}.txt`` of a folder.

    A line may name a file (``1.png``); its image suffix is dropped.

    Args:
        split_dir (str): Folder holding the four lists.
        set_stems (dict): Set key -> stems of the prepared set, or None if
            the set is not available.
        problems (list): Where problems are added.

    Returns:
        dict: Split name -> stems (sorted), for the lists without problems.
    """
    if not osp.isdir(split_dir):
        problems.append(PolypFileError(split_dir, 'split folder does not '
                                       'exist'))
        return {}
    names = {n.lower(): n for n in os.listdir(split_dir)}
    splits, lines_of = {}, {}
    for split in PRANET_SPLITS:
        path = osp.join(split_dir, names.get(f'{split}.txt', f'{split}.txt'))
        if not osp.isfile(path):
            problems.append(PolypFileError(path, 'split list missing'))
            continue
        stems: Dict[str, int] = {}
        with open(path, encoding='utf-8', errors='replace') as file:
            for number, line in enumerate(file, 1):
                stem, suffix = osp.splitext(line.strip())
                if suffix.lower() not in IMAGE_SUFFIXES:
                    stem += suffix
                if not stem:
                    continue
                if stem in stems:
                    problems.append(PolypFileError(
                        path, f'stem {stem!r} on lines {stems[stem]} and '
                        f'{number}'))
                stems.setdefault(stem, number)
        if not stems:
            problems.append(PolypFileError(path, 'split list is empty'))
            continue
        known = set_stems[split.split('_')[0]]
        known = None if known is None else set(known)
        unknown = [s for s in stems if known is not None and s not in known]
        for stem in unknown:
            problems.append(PolypFileError(
                path, f'stem {stem!r} (line {stems[stem]}) is not in '
                f'{SETS_BY_KEY[split.split("_")[0]].folder}'))
        if not unknown:
            splits[split] = sorted(stems, key=stem_sort_key)
            lines_of[split] = (path, stems)
    for key in ('kvasir', 'clinicdb'):
        if f'{key}_train' in lines_of and f'{key}_test' in lines_of:
            train_path, train = lines_of[f'{key}_train']
            test_path, test = lines_of[f'{key}_test']
            for stem in sorted(set(train) & set(test), key=stem_sort_key):
                problems.append(PolypFileError(
                    test_path, f'stem {stem!r} (line {test[stem]}) is also '
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


def plan_sequence_split(
    args: argparse.Namespace, plans: List[SetPlan],
    stems: Optional[List[str]], problems: List[PolypFileError]
) -> Optional[Tuple[Dict[str, List[str]], str]]:
    """Split CVC-ClinicDB by video sequence, from its README's table.

    Returns:
        tuple: The lists (``train``, ``test``) and a line naming the test
        sequences; None if there was a problem.
    """
    clinicdb = osp.join(args.out, 'cvc-clinicdb')
    this_run = [p for p in plans if p.polyp_set.key == 'clinicdb']
    where = this_run[0].img_dir if this_run else clinicdb
    readme = args.clinicdb_sequence_split
    if readme == AUTO:
        readme = this_run[0].readme if this_run else None
        if readme is None and osp.isdir(clinicdb):
            readme = next((osp.join(clinicdb, n)
                           for n in sorted(os.listdir(clinicdb))
                           if n.lower() == 'readme.txt'), None)
        if readme is None:
            problems.append(PolypFileError(
                args.clinicdb or clinicdb, 'no CVC-ClinicDB README.txt '
                'found for the sequence split; pass its path: '
                '--clinicdb-sequence-split PATH'))
            return None
    if stems is None:
        problems.append(PolypFileError(
            clinicdb, 'not prepared, so it cannot be split by sequence; give '
            '--clinicdb (or --pranet) too'))
        return None
    try:
        with open(readme, encoding='latin-1') as file:
            sequences = parse_sequence_table(file.read(), readme)
    except OSError as error:
        problems.append(PolypFileError(readme, f'cannot be read ({error})'))
        return None
    except PolypFileError as error:
        problems.append(error)
        return None
    if len(sequences) < 2:
        problems.append(PolypFileError(
            readme, 'the sequence table has one sequence; nothing to split'))
        return None
    frames = {str(f) for fs in sequences.values() for f in fs}
    strays = sorted(set(stems) - frames, key=stem_sort_key)
    absent = sorted(frames - set(stems), key=stem_sort_key)
    if strays or absent:
        problems.append(PolypFileError(
            where, 'does not hold exactly the frames 1..'
            f'{CLINICDB_FRAMES} of {readme}: ' +
            (f'not in the table: {listing(strays)}; ' if strays else '') +
            (f'missing: {listing(absent)}' if absent else '')))
        return None
    train, test = sequence_split(sequences, args.test_fraction, args.seed)
    lists = {
        side: sorted((str(f) for s in chosen for f in sequences[s]),
                     key=stem_sort_key)
        for side, chosen in (('train', train), ('test', test))
    }
    note = (f'clinicdb_sequence: test = sequences '
            f'{", ".join(map(str, test))} ({len(lists["test"])} frames, '
            f'{len(lists["test"]) / CLINICDB_FRAMES:.1%}); train = '
            f'{len(train)} sequences ({len(lists["train"])} frames); '
            f'seed {args.seed}')
    return lists, note


def _existing_stems(folder: str) -> Optional[List[str]]:
    img_dir = osp.join(folder, 'images')
    if not osp.isdir(img_dir):
        return None
    return [
        osp.splitext(n)[0] for n in os.listdir(img_dir)
        if not is_system_file(n) and osp.splitext(n)[1].lower() in IMAGE_SUFFIXES
    ]


def _track(items: Sequence, label: str) -> Iterator:
    """Yield ``items``, showing a live counter on a terminal."""
    live = sys.stdout.isatty()
    for number, item in enumerate(items, 1):
        yield item
        if live and (number % 20 == 0 or number == len(items)):
            print(f'\r{label}: {number}/{len(items)}', end='', flush=True)
    if live:
        print('\r', end='')


def _checked(path: str, check: Callable[[bytes, str], np.ndarray],
             problems: List[PolypFileError]
             ) -> Optional[Tuple[bytes, np.ndarray]]:
    try:
        data = read_bytes(path)
        return data, check(data, path)
    except PolypFileError as error:
        problems.append(error)
        return None


def _place(source: str, data: bytes, array: np.ndarray, folder: str,
           stem: str, link: str) -> str:
    """Write one file: JPEG/PNG as is (or linked), others as PNG.

    Returns:
        str: ``'copied'``, ``'linked'`` or ``'converted'``.
    """
    suffix = '.jpg' if data.startswith(_JPEG_MAGIC) else '.png'
    target = osp.join(folder, stem + suffix)
    if data.startswith(_JPEG_MAGIC) or data.startswith(_PNG_MAGIC):
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


def stage_set(plan: SetPlan, target: str, link: str,
              problems: List[PolypFileError]) -> SetResult:
    """Check every pair of a set and write it under ``target``.

    Once the run has a problem nothing more is written (it will be thrown
    away), but checking goes on so one report names every bad file.
    """
    result = SetResult(plan.polyp_set.folder, pairs=len(plan.pairs))
    folders = osp.join(target, 'images'), osp.join(target, 'masks')
    for folder in folders:
        os.makedirs(folder)
    if plan.readme:
        shutil.copyfile(plan.readme, osp.join(target, 'README.txt'))
    found = len(problems)
    for pair in _track(plan.pairs, result.folder):
        image = _checked(pair.image, image_from_bytes, problems)
        mask = _checked(pair.mask, mask_from_bytes, problems)
        if image and mask:
            try:
                check_same_size(image[1], mask[1], pair.image, pair.mask)
            except PolypFileError as error:
                problems.append(error)
                continue
        if problems:
            continue
        for source, (data, array), folder in (
                (pair.image, image, folders[0]),
                (pair.mask, (mask[0], mask[1] * 255), folders[1])):
            try:
                kind = _place(source, data, array, folder, pair.stem, link)
            except OSError as error:
                problems.append(PolypFileError(
                    source, f'cannot be written to {folder} ({error})'))
                break
            setattr(result, kind, getattr(result, kind) + 1)
    print(f'{result.folder}: {len(plan.pairs)} pairs checked, '
          f'{len(problems) - found} problem(s)')
    return result


def _write_list(path: str, stems: Sequence[str]) -> None:
    with open(path, 'w') as file:
        file.write(''.join(f'{s}\n' for s in stems))


def _commit(staged: List[Tuple[str, str]], trash: str) -> None:
    """Move staged folders into place; undo every move if one fails."""
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
    except OSError:
        for before, after in reversed(done):
            os.rename(after, before)
        raise


def plan_sets(args: argparse.Namespace, problems: List[PolypFileError]
              ) -> Tuple[List[SetPlan], Dict[str, List[str]]]:
    """Find and pair every source of a run.

    Returns:
        tuple: The set plans, in :data:`SETS` order, and PraNet's split
        lists when ``--pranet`` gave all four.
    """
    plans: List[SetPlan] = []
    pranet_splits: Dict[str, List[str]] = {}
    for polyp_set in SETS:
        root = getattr(args, polyp_set.key)
        if root is not None:
            plan = plan_official(polyp_set, root, problems)
            plans += [plan] if plan else []
    if args.pranet is not None:
        pranet_plans, pranet_splits = plan_pranet(args.pranet, problems)
        plans += pranet_plans
    plans.sort(key=lambda p: SETS.index(p.polyp_set))
    read_by: Dict[str, str] = {}
    for plan in plans:
        print(f'{plan.polyp_set.folder}: {len(plan.pairs)} pairs in '
              f'{plan.origin}')
        other = read_by.setdefault(osp.realpath(plan.img_dir),
                                   plan.polyp_set.folder)
        if other != plan.polyp_set.folder:
            problems.append(PolypFileError(
                plan.img_dir, f'would fill both {other} and '
                f'{plan.polyp_set.folder}; check the source options'))
    complete = len(pranet_splits) == len(PRANET_SPLITS)
    return plans, pranet_splits if complete else {}


def plan_splits(
    args: argparse.Namespace, plans: List[SetPlan],
    pranet_splits: Dict[str, List[str]], problems: List[PolypFileError]
) -> Tuple[Dict[str, Dict[str, List[str]]], Optional[str]]:
    """Collect the split lists a run writes, checked against the sets.

    Returns:
        tuple: Split folder name (``pranet``, ``clinicdb_sequence``) ->
        list name -> stems, and the line describing the sequence split.
    """
    set_stems: Dict[str, Optional[List[str]]] = {
        s.key: _existing_stems(osp.join(args.out, s.folder)) for s in SETS}
    set_stems.update({p.polyp_set.key: [x.stem for x in p.pairs]
                      for p in plans})
    split_lists: Dict[str, Dict[str, List[str]]] = {}
    if pranet_splits:
        split_lists['pranet'] = pranet_splits
    if args.split_dir is not None:
        for key in ('kvasir', 'clinicdb'):
            if set_stems[key] is None:
                problems.append(PolypFileError(
                    osp.join(args.out, SETS_BY_KEY[key].folder),
                    f'not prepared, so --split-dir cannot be checked; '
                    f'give --{key} (or --pranet) too'))
        lists = read_split_dir(args.split_dir, set_stems, problems)
        if len(lists) == len(PRANET_SPLITS):
            split_lists['pranet'] = lists
    note = None
    if args.clinicdb_sequence_split is not None:
        sequence = plan_sequence_split(args, plans, set_stems['clinicdb'],
                                       problems)
        if sequence:
            split_lists['clinicdb_sequence'], note = sequence
    return split_lists, note


def _stage_splits(stage: str, split_lists: Dict[str, Dict[str, List[str]]],
                  results: Dict[str, SetResult]) -> None:
    """Write the split lists under ``stage`` and count them per set."""
    for name, lists in split_lists.items():
        os.makedirs(osp.join(stage, 'splits', name))
        for split, stems in lists.items():
            _write_list(osp.join(stage, 'splits', name, f'{split}.txt'),
                        stems)
        prefixes = {'clinicdb': ''} if name == 'clinicdb_sequence' else {
            key: f'{key}_' for key in ('kvasir', 'clinicdb')}
        for key, prefix in prefixes.items():
            folder = SETS_BY_KEY[key].folder
            results.setdefault(folder, SetResult(folder)).splits.append(
                f'{name} {len(lists[prefix + "train"])}/'
                f'{len(lists[prefix + "test"])}')


def prepare(args: argparse.Namespace) -> List[SetResult]:
    """Run the preparation described by parsed arguments.

    Returns:
        list: One result per set written or given split lists.

    Raises:
        PrepareError: With every problem found; nothing has been written.
    """
    out = args.out
    problems: List[PolypFileError] = []
    plans, pranet_splits = plan_sets(args, problems)
    split_lists, sequence_note = plan_splits(args, plans, pranet_splits,
                                             problems)
    staged = [(p.polyp_set.folder, osp.join(out, p.polyp_set.folder))
              for p in plans]
    staged += [(osp.join('splits', name), osp.join(out, 'splits', name))
               for name in split_lists]
    for _, target in staged:
        if osp.lexists(target) and not args.overwrite:
            problems.append(PolypFileError(
                target, 'already exists; pass --overwrite to replace it '
                '(left untouched)'))

    created = []
    missing = osp.abspath(out)
    while not osp.exists(missing):
        created.append(missing)
        missing = osp.dirname(missing)
    os.makedirs(out, exist_ok=True)
    # Beside the targets, so that moving a finished folder is one rename.
    stage = tempfile.mkdtemp(prefix='.prepare-', dir=out)
    committed = False
    try:
        results = {p.polyp_set.folder: stage_set(
            p, osp.join(stage, p.polyp_set.folder), args.link, problems)
            for p in plans}
        _stage_splits(stage, split_lists, results)
        if problems:
            raise PrepareError(problems)
        trash = osp.join(stage, 'replaced')
        os.makedirs(trash)
        _commit([(osp.join(stage, name), target) for name, target in staged],
                trash)
        committed = True
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not committed:
            for folder in created:
                if osp.isdir(folder) and not os.listdir(folder):
                    os.rmdir(folder)
    if sequence_note:
        print(sequence_note)
    return [results[s.folder] for s in SETS if s.folder in results]


def summary_table(results: Sequence[SetResult]) -> str:
    """The closing table: one row per set."""
    header = ('set', 'pairs', 'copied', 'linked', 'converted',
              'split lists (train/test)')
    rows = [header] + [
        (r.folder, str(r.pairs) if r.pairs else '-', str(r.copied),
         str(r.linked), str(r.converted), ', '.join(r.splits) or '-')
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return '\n'.join(
        '  '.join([row[0].ljust(widths[0])] +
                  [c.rjust(w) for c, w in zip(row[1:5], widths[1:])] +
                  [row[5]]) for row in rows)


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f'{text} is not between 0 and 1')
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        description='Prepare polyp segmentation downloads in the layout '
        'the ssformer_mmseg datasets read.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    sources = parser.add_argument_group('sources (extracted downloads)')
    for polyp_set, help_text in zip(SETS, (
            'Kvasir-SEG', 'CVC-ClinicDB', 'CVC-ColonDB',
            'ETIS-LaribPolypDB', 'CVC-300')):
        sources.add_argument(f'--{polyp_set.key}', metavar='DIR',
                             help=f'{help_text} download')
    sources.add_argument(
        '--pranet', metavar='DIR',
        help='PraNet\'s TrainDataset/ + TestDataset/: all five sets and '
        'PraNet\'s split lists')
    splits = parser.add_argument_group('split lists')
    splits.add_argument(
        '--split-dir', metavar='DIR',
        help='folder with {kvasir,clinicdb}_{train,test}.txt to check and '
        'write to OUT/splits/pranet/')
    splits.add_argument(
        '--clinicdb-sequence-split', nargs='?', const=AUTO,
        metavar='README',
        help='also split CVC-ClinicDB by video sequence into '
        'OUT/splits/clinicdb_sequence/, from the frame-to-sequence table '
        'of its README.txt (default: the one in the --clinicdb download or '
        'in OUT/cvc-clinicdb/)')
    splits.add_argument(
        '--test-fraction', type=_fraction, default=0.1, metavar='FRACTION',
        help='share of ClinicDB frames for the sequence split\'s test side '
        '(default: 0.1)')
    splits.add_argument(
        '--seed', type=int, default=0, metavar='N',
        help='seed choosing the test sequences (default: 0)')
    output = parser.add_argument_group('output')
    output.add_argument('--out', default='data/polyp', metavar='DIR',
                        help='data root to write (default: data/polyp)')
    output.add_argument(
        '--link', choices=('none', 'hard', 'sym'), default='none',
        help='link JPEG/PNG files instead of copying them (default: none); '
        'other formats are always converted')
    output.add_argument('--overwrite', action='store_true',
                        help='replace set and split folders that exist')
    return parser


def _check_sources_outside(args: argparse.Namespace,
                           targets: Iterable[str]) -> List[str]:
    """Sources inside a folder this run replaces would be deleted."""
    clashes = []
    for option in [s.key for s in SETS] + ['pranet', 'split_dir']:
        source = getattr(args, option)
        if source is None:
            continue
        real = osp.realpath(source)
        for target in targets:
            target = osp.realpath(target)
            if real == target or real.startswith(target + os.sep):
                clashes.append(f'--{option.replace("_", "-")} {source} lies '
                               f'in {target}, which this run writes')
    return clashes


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and cross-check the arguments (exits 2 on a usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    filled: Dict[str, List[str]] = {}
    for polyp_set in SETS:
        for option in (polyp_set.key, 'pranet'):
            if getattr(args, option) is not None:
                filled.setdefault(polyp_set.folder, []).append(f'--{option}')
    clashes = [f'{folder} would come from both {" and ".join(options)}'
               for folder, options in filled.items() if len(options) > 1]
    if args.pranet is not None and args.split_dir is not None:
        clashes.append('--pranet writes PraNet\'s split lists itself; drop '
                       '--split-dir')
    clashes += _check_sources_outside(
        args, [osp.join(args.out, f) for f in filled] +
        [osp.join(args.out, 'splits')])
    if clashes:
        parser.error('; '.join(clashes))
    if osp.exists(args.out) and not osp.isdir(args.out):
        parser.error(f'--out {args.out} is not a folder')
    if not (filled or args.split_dir or args.clinicdb_sequence_split):
        parser.error('nothing to do: give at least one source, --split-dir '
                     'or --clinicdb-sequence-split')
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool.

    Returns:
        int: 0 on success, 1 when problems were found (all reported, nothing
        written), 2 on a usage error.
    """
    try:
        args = parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    # Every unreadable file is reported by name below; the decoders' own
    # warnings and log lines about it would only bury the report.
    log_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', module='PIL')
            results = prepare(args)
    except PrepareError as error:
        print(f'\n{len(error.problems)} problem(s); nothing was written to '
              f'{args.out}:', file=sys.stderr)
        for problem in error.problems:
            print(f'  {problem}', file=sys.stderr)
        return 1
    except OSError as error:
        # Out of space, no permission: the temporary folder is gone again.
        print(f'\nerror: {error}; nothing was written to {args.out}',
              file=sys.stderr)
        return 1
    finally:
        cv2.utils.logging.setLogLevel(log_level)
    print('\n' + summary_table(results))
    print(f'written to {args.out}' + (f' ({args.link} links)'
                                      if args.link != 'none' else ''))
    if args.pranet is None and args.split_dir is None:
        if osp.isdir(osp.join(args.out, 'splits', 'pranet')):
            print('PraNet split lists: splits/pranet/ left as it was.')
        else:
            print('No PraNet split lists were written: pass --pranet DIR '
                  '(lists from PraNet\'s folders) or --split-dir DIR (a '
                  'folder with {kvasir,clinicdb}_{train,test}.txt).')
    return 0


if __name__ == '__main__':
    sys.exit(main())
