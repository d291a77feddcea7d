"""Pairing a download's images with its masks, and what a run writes per set.

Images and masks are paired by stem, case-insensitively (a download made on
a case-insensitive file system pairs as it looked there); a set's mask stem
prefix is dropped before digits (ETIS's ``p1.tif`` is the mask of
``1.tif``). Every folder is scanned strictly: files that are not images and
subfolders are reported (:meth:`ImageFolder.problems`).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ..polyp_files import ImageFolder, PolypFileError, scan_image_folder
from .sources import SETS, PolypSet, find_layout, find_readme, find_subfolder


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


def stem_sort_key(stem: str) -> tuple:
    """Numeric stems by value (CVC frames 1, 2, ..., 10), then the others."""
    return (0, int(stem), '') if stem.isdigit() else (1, 0, stem)


def _sorted_pairs(pairs: List[Pair]) -> List[Pair]:
    return sorted(pairs, key=lambda p: stem_sort_key(p.stem))


def list_images(folder: str,
                kind: str,
                problems: List[PolypFileError],
                prefix: str = '') -> ImageFolder:
    """The image files of a folder by matching key, its problems added.

    The key is the lower-case stem, ``prefix`` dropped before digits.
    """

    def key(stem: str) -> str:
        stem = stem.lower()
        rest = stem[len(prefix):]
        return rest if prefix and stem.startswith(prefix) and rest.isdigit() \
            else stem

    images = scan_image_folder(folder, kind, key=key)
    problems += images.problems(kind, strict=True)
    return images


def pair_by_stem(img_dir: str,
                 mask_dir: str,
                 problems: List[PolypFileError],
                 mask_prefix: str = '') -> List[Pair]:
    """Pair images and masks by stem; report unpaired files."""
    images = list_images(img_dir, 'image', problems)
    masks = list_images(mask_dir, 'mask', problems, mask_prefix)
    for found, other, problem in ((images, masks,
                                   f'image without mask in {mask_dir}'),
                                  (masks, images,
                                   f'mask without image in {img_dir}')):
        for key in sorted(set(found.files) - set(other.files)):
            problems.append(
                PolypFileError(found.path(found.files[key]), problem))
    return _sorted_pairs([
        Pair(
            images.stem(key), images.path(name), masks.path(masks.files[key]))
        for key, name in images.files.items() if key in masks.files
    ])


def plan_official(polyp_set: PolypSet, root: str,
                  problems: List[PolypFileError]) -> Optional[SetPlan]:
    """Find a set's official download under ``root`` and pair its files."""
    try:
        img_dir, mask_dir, base = find_layout(root, polyp_set.layouts,
                                              f'--{polyp_set.key}')
        pairs = pair_by_stem(img_dir, mask_dir, problems,
                             polyp_set.mask_prefix)
    except PolypFileError as error:
        problems.append(error)
        return None
    readme = find_readme(root, base) if polyp_set.key == 'clinicdb' \
        else None
    return SetPlan(polyp_set, pairs, img_dir, f'{img_dir} + {mask_dir}',
                   readme)


def _plan_pranet_test_set(
        polyp_set: PolypSet, test_dir: str,
        problems: List[PolypFileError]) -> Tuple[str, str, List[Pair]]:
    """The folder of a set in PraNet's TestDataset, its images and pairs."""
    set_dir = find_subfolder(test_dir, polyp_set.test_names)
    if set_dir is None:
        raise PolypFileError(
            test_dir, f'no {polyp_set.folder} test folder (expected '
            f'one named like {polyp_set.test_names[0]})')
    img_dir, mask_dir, _ = find_layout(
        set_dir, [('images', 'masks')], 'PraNet test set', max_depth=0)
    return set_dir, img_dir, pair_by_stem(img_dir, mask_dir, problems,
                                          polyp_set.mask_prefix)


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
        train_dir, test_dir, _ = find_layout(root,
                                             [('TrainDataset', 'TestDataset')],
                                             'PraNet')
        train_pairs = pair_by_stem(
            *find_layout(
                train_dir, [('images', 'masks')], 'TrainDataset',
                max_depth=0)[:2], problems)
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
            set_dir, img_dir, test_pairs = _plan_pranet_test_set(
                polyp_set, test_dir, problems)
        except PolypFileError as error:
            problems.append(error)
            continue
        trained = train.get(polyp_set.key, [])
        test_stems = {p.stem for p in test_pairs}
        for pair in trained:
            if pair.stem in test_stems:
                problems.append(
                    PolypFileError(pair.image,
                                   f'is in TrainDataset and in {set_dir}'))
        if polyp_set.key in train:
            splits[f'{polyp_set.key}_train'] = [p.stem for p in trained]
            splits[f'{polyp_set.key}_test'] = sorted(
                test_stems, key=stem_sort_key)
        plans.append(
            SetPlan(
                polyp_set, _sorted_pairs(trained + test_pairs), img_dir,
                f'{set_dir}' +
                (' + TrainDataset' if polyp_set.key in train else '')))
    return plans, splits
