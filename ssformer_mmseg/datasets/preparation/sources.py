"""The public polyp sets and how their downloads are laid out.

A download is found by its folder names, matched case-insensitively and
ignoring spaces, ``-``, ``_`` and ``.`` (:func:`normalise_folder_name`), in
the given folder or below it through single-folder wrappers
(:func:`find_layout`).
"""
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from ..polyp import (CVC300Dataset, CVCClinicDBDataset, CVCColonDBDataset,
                     ETISLaribPolypDBDataset, KvasirSEGDataset)
from ..polyp_files import PolypFileError, is_system_file

#: How many single-folder wrappers a source's layout may lie below (a
#: download extracted into a folder of its own name is one down, Kvasir-SEG's
#: zip, which holds a Kvasir-SEG folder, extracted like that two).
MAX_DEPTH = 2


@dataclass(frozen=True)
class PolypSet:
    """A public polyp set: where it goes and how its download looks.

    Args:
        key (str): Its source option (``--<key>``) and split-list prefix.
        name (str): Its name, for help texts.
        folder (str): Its folder under the output root (its dataset class's
            ``FOLDER``).
        layouts (tuple): (image folder, mask folder) alternatives in the
            download, preferred first; nested folders with ``/``.
        test_names (tuple): Its folder name in PraNet's TestDataset,
            normalised (see :func:`normalise_folder_name`).
        mask_prefix (str): Prefix of mask stems to drop (ETIS names the
            mask of ``1.tif`` ``p1.tif``).
    """
    key: str
    name: str
    folder: str
    layouts: Tuple[Tuple[str, str], ...]
    test_names: Tuple[str, ...]
    mask_prefix: str = ''


SETS = (
    PolypSet('kvasir', 'Kvasir-SEG', KvasirSEGDataset.FOLDER,
             (('images', 'masks'), ), ('kvasir', 'kvasirseg')),
    PolypSet('clinicdb', 'CVC-ClinicDB', CVCClinicDBDataset.FOLDER,
             (('PNG/Original', 'PNG/Ground Truth'),
              ('Original', 'Ground Truth'),
              ('TIF/Original', 'TIF/Ground Truth'), ('images', 'masks')),
             ('cvcclinicdb', 'clinicdb')),
    PolypSet('colondb', 'CVC-ColonDB', CVCColonDBDataset.FOLDER,
             (('images', 'masks'), ), ('cvccolondb', 'colondb')),
    PolypSet(
        'etis',
        'ETIS-LaribPolypDB',
        ETISLaribPolypDBDataset.FOLDER,
        (('ETIS-LaribPolypDB', 'Ground Truth'), ('images', 'masks')),
        ('etislaribpolypdb', 'etis'),
        mask_prefix='p'),
    PolypSet('cvc300', 'CVC-300', CVC300Dataset.FOLDER,
             (('images', 'masks'), ), ('cvc300', )),
)
SETS_BY_KEY = {s.key: s for s in SETS}


def normalise_folder_name(name: str) -> str:
    """Folder name as matched: case, spaces, ``-``, ``_``, ``.`` ignored,
    singular ``image``/``mask`` (PraNet's TrainDataset) as plural."""
    name = re.sub(r'[\s_.\-]+', '', name.lower())
    return {'image': 'images', 'mask': 'masks'}.get(name, name)


def subfolders(folder: str) -> List[str]:
    """Names of the folders in ``folder`` (system folders left out), sorted."""
    return sorted(
        name for name in os.listdir(folder)
        if not is_system_file(name) and osp.isdir(osp.join(folder, name)))


def find_subfolder(folder: str, names: Iterable[str]) -> Optional[str]:
    """The subfolder of ``folder`` whose normalised name is in ``names``.

    Raises:
        PolypFileError: If several subfolders match.
    """
    names = list(names)
    wanted = {normalise_folder_name(n) for n in names}
    matches = [
        d for d in subfolders(folder) if normalise_folder_name(d) in wanted
    ]
    if len(matches) > 1:
        raise PolypFileError(
            folder, f'folders {", ".join(matches)} are ambiguous (all match '
            f'{" or ".join(sorted(names))}); keep one')
    return osp.join(folder, matches[0]) if matches else None


def _resolve(folder: str, relative: str) -> Optional[str]:
    """The nested folder ``a/b`` of ``folder``, each part matched by name."""
    for part in relative.split('/'):
        folder = find_subfolder(folder, [part])
        if folder is None:
            return None
    return folder


def find_layout(root: str,
                layouts: Sequence[Tuple[str, str]],
                what: str,
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
        inside = subfolders(folder)
        if len(inside) != 1:
            break
        folder = osp.join(folder, inside[0])
    expected = ', or '.join(f'{a}/ + {b}/' for a, b in layouts)
    down = (f' (nor in single subfolders, up to {max_depth} down)'
            if max_depth else '')
    holds = ', '.join(subfolders(root)) or 'no folders'
    raise PolypFileError(
        root, f'no {what} layout found{down}: expected {expected}; '
        f'it holds {holds}')


def find_readme(root: str, base: str) -> Optional[str]:
    """A README*.txt in ``base`` or a folder between ``root`` and it."""
    folder = base
    while True:
        for name in sorted(os.listdir(folder)):
            if re.fullmatch(r'readme.*\.txt', name, re.IGNORECASE):
                return osp.join(folder, name)
        if osp.samefile(folder, root) or osp.dirname(folder) == folder:
            return None
        folder = osp.dirname(folder)
