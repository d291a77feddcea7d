"""Reading polyp files, refusing anything that would be mis-read.

One place decides which files are images, how folders of them are matched
by stem, how split files are read, and what a valid polyp frame and
ground-truth mask are; the datasets, their loading transforms, inference,
map scoring and the data preparation all use it, so a file refused by one
is refused by all, always with its path:

* image files are those with a suffix of :data:`IMAGE_SUFFIXES`
  (case-insensitive); hidden and system files (:func:`is_system_file`) are
  never data; in a folder every image has its own stem
  (:func:`scan_image_folder`);
* a split file lists one stem a line (a file name's image suffix is
  dropped), each once (:func:`read_split_file`);

* an image's size and bit depth are read from its header before a pixel is
  decoded: more than :func:`max_pixels` pixels (a decompression bomb, or a
  frame no endoscope gives) or more than 8 bits a channel is refused
  without decoding (:func:`read_header`); every decoder error becomes a
  :class:`PolypFileError` naming the file;
* an image must decode completely (a truncated JPEG or PNG is refused, even
  where a decoder would fill the missing rows silently) to an 8-bit colour
  image: grayscale, RGBA and 16-bit images are refused;
* a mask must decode to 8 bits and be a black/white mask: JPEG noise and
  soft edges are fine (it is binarised at ``> 127``), a mask coded 0/1, a
  colour label map or a mostly grey image is refused;
* a mask (or a prediction map) must have the size of its image (or ground
  truth): :func:`check_sizes_match`.
"""
import io
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine import fileio
from PIL import Image, UnidentifiedImageError

from ..messages import listing
from .file_errors import PolypFileError
from .image_io import PNG_SIGNATURE, check_header

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.tif', '.tiff', '.bmp')
MASK_THRESHOLD = 127
# Masks with more than this share of pixels far from both black and white
# (in (32, 223)) are not black/white masks. Real masks stay far below: JPEG
# noise in Kvasir-SEG stays within 8 of 0/255; soft edges are thin.
MAX_GREY_SHARE = 0.05
JPEG_SIGNATURE = b'\xff\xd8\xff'
_JPEG_END = b'\xff\xd9'
_PNG_END = b'IEND\xaeB`\x82'
# What operating systems and file managers drop into folders; never data.
_SYSTEM_NAMES = ('thumbs.db', 'desktop.ini', '__macosx')


def is_system_file(name: str) -> bool:
    """Whether a folder entry is OS clutter (hidden files such as macOS's
    ``._<name>``, ``Thumbs.db``, ...) that folder scans skip silently."""
    return name.startswith('.') or name.lower() in _SYSTEM_NAMES


def stored_format(data: bytes) -> Optional[str]:
    """``'jpeg'`` or ``'png'`` by the file's signature, else None: the
    formats that are kept byte for byte (and checked for truncation)."""
    if data.startswith(JPEG_SIGNATURE):
        return 'jpeg'
    if data.startswith(PNG_SIGNATURE):
        return 'png'
    return None


def _check_complete(data: bytes, path: str) -> None:
    """Refuse JPEG/PNG files whose end marker is missing (truncated)."""
    tail = data.rstrip(b'\0\r\n ')
    kind = stored_format(data)
    if kind == 'jpeg' and not tail.endswith(_JPEG_END):
        raise PolypFileError(path, 'truncated JPEG (no end-of-image marker)')
    if kind == 'png' and not tail.endswith(_PNG_END):
        raise PolypFileError(path, 'truncated PNG (no IEND chunk)')


def decode(data: bytes, path: str, what: str = 'image') -> np.ndarray:
    """Decode image bytes as stored (channels and depth unchanged), after
    :func:`check_header`.

    OpenCV is tried first; Pillow reads some TIFF variants OpenCV does not
    (and the other way round), so it is the fallback.

    Args:
        data (bytes): The file content.
        path (str): The file's path, for messages.
        what (str): What it is (``'image'``, ``'mask'``, ``'map'``), for
            messages.

    Returns:
        np.ndarray: (H, W) or (H, W, C) array, colour channels in BGR order.

    Raises:
        PolypFileError: If the file is empty, truncated, too large, deeper
            than 8 bits or undecodable.
    """
    if not data:
        raise PolypFileError(path, 'empty file')
    _check_complete(data, path)
    check_header(data, path, what)
    try:
        array = cv2.imdecode(
            np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        array = None  # e.g. OpenCV's own size limit; Pillow has its turn
    if array is not None:
        return array
    try:
        with Image.open(io.BytesIO(data)) as pil:
            pil.load()
            if pil.mode in ('P', 'CMYK', 'YCbCr', 'LAB', 'HSV'):
                pil = pil.convert('RGBA' if 'transparency' in
                                  pil.info else 'RGB')
            array = np.asarray(pil)
    except UnidentifiedImageError:
        raise PolypFileError(
            path, 'cannot be decoded by OpenCV or Pillow (unknown or '
            'corrupt format)') from None
    except Exception as error:  # Pillow raises many types for bad files
        raise PolypFileError(
            path, 'cannot be decoded by OpenCV or Pillow '
            f'({type(error).__name__}: {error})') from None
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3 and array.shape[2] >= 3:
        array = np.ascontiguousarray(
            array[..., [2, 1, 0, *range(3, array.shape[2])]])
    return array


def read_bytes(path: str, backend_args: Optional[dict] = None) -> bytes:
    """Read a file through mmengine's file backends, naming it on failure."""
    try:
        return fileio.get(path, backend_args=backend_args)
    except (OSError, ValueError) as error:
        raise PolypFileError(path, f'cannot be read ({error})') from None


def image_from_bytes(data: bytes, path: str) -> np.ndarray:
    """Decode and check a colour frame.

    Returns:
        np.ndarray: (H, W, 3) uint8 BGR image.

    Raises:
        PolypFileError: For undecodable, truncated, too large, grayscale,
            RGBA or 16-bit images.
    """
    image = decode(data, path, 'image')
    if image.dtype != np.uint8:
        raise PolypFileError(path, f'{image.dtype} image; expected 8 bits')
    channels = 1 if image.ndim == 2 else image.shape[2]
    if channels == 1:
        raise PolypFileError(path, 'grayscale image; expected a colour frame')
    if channels == 4:
        raise PolypFileError(
            path, 'RGBA image (has an alpha channel); expected RGB')
    if channels != 3:
        raise PolypFileError(path, f'{channels}-channel image; expected RGB')
    return image


def mask_from_bytes(data: bytes, path: str, soft: bool = False) -> np.ndarray:
    """Decode, check and binarise a ground-truth mask.

    Args:
        data (bytes): The file's bytes.
        path (str): Its path, for messages.
        soft (bool): Return the checked grey levels (0-255) instead of the
            binarised labels, for recipes that train on soft targets.

    Returns:
        np.ndarray: (H, W) uint8 mask with values in {0, 1} (0-255 when
        ``soft``).

    Raises:
        PolypFileError: For undecodable or truncated files, masks that are
            not 8-bit, colour label maps, masks coded 0/1 and masks that are
            not black/white.
    """
    mask = decode(data, path, 'mask')
    if mask.dtype != np.uint8:
        raise PolypFileError(path, f'{mask.dtype} mask; expected 8 bits')
    if mask.ndim == 3:
        colour = mask[..., :3].astype(np.int16)
        # JPEG-compressed grey masks differ a little between channels.
        if np.abs(colour - colour[..., :1]).max() > 64:
            raise PolypFileError(
                path, 'colour mask; expected a black/white (0/255) mask')
        mask = mask[..., 0] if mask.shape[2] < 3 else cv2.cvtColor(
            mask[..., :3], cv2.COLOR_BGR2GRAY)
    grey_share = float(((mask > 32) & (mask < 223)).mean())
    if grey_share > MAX_GREY_SHARE:
        raise PolypFileError(
            path, f'{grey_share:.0%} of the pixels are grey (between 32 and '
            '223); expected a black/white (0/255) mask')
    if not (mask > MASK_THRESHOLD).any():
        values = np.unique(mask)
        if 0 < values.max() <= 32 and len(values) <= 3:
            raise PolypFileError(
                path, f'values {values.tolist()} look like class indices; '
                'expected 0 for background and 255 for polyp')
    return np.ascontiguousarray(mask) if soft else binarise_mask(mask)


def binarise_mask(mask: np.ndarray) -> np.ndarray:
    """{0, 1} uint8 labels of a checked 0-255 mask (``> MASK_THRESHOLD``)."""
    return (mask > MASK_THRESHOLD).astype(np.uint8)


def read_image(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Read and check a colour frame; see :func:`image_from_bytes`."""
    return image_from_bytes(read_bytes(path, backend_args), path)


def read_mask(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Read, check and binarise a mask; see :func:`mask_from_bytes`."""
    return mask_from_bytes(read_bytes(path, backend_args), path)


def check_sizes_match(path: str, what: str, shape: Sequence[int],
                      reference: str, reference_path: Optional[str],
                      reference_shape: Sequence[int]) -> None:
    """Refuse an array whose height/width differ from its reference's.

    Args:
        path (str): The file (or sample) checked, named first.
        what (str): What it is: ``'mask'``, ``'map'``, ``'prediction'``.
        shape (Sequence[int]): Its shape, (H, W, ...).
        reference (str): What it must match: ``'image'``,
            ``'ground truth'``.
        reference_path (str, optional): The reference's file.
        reference_shape (Sequence[int]): The reference's shape.

    Raises:
        PolypFileError: ``"<path>: mask is WxH but its image <file> is
        WxH"``.
    """
    if tuple(shape[:2]) != tuple(reference_shape[:2]):
        named = f' {reference_path}' if reference_path else ''
        raise PolypFileError(
            path, f'{what} is {shape[1]}x{shape[0]} but its {reference}'
            f'{named} is {reference_shape[1]}x{reference_shape[0]}')


def check_same_size(image: np.ndarray, mask: np.ndarray, image_path: str,
                    mask_path: str) -> None:
    """Refuse a mask whose height/width differ from its image's (see
    :func:`check_sizes_match`)."""
    check_sizes_match(mask_path, 'mask', mask.shape, 'image', image_path,
                      image.shape)


def is_image_name(name: str, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> bool:
    """Whether a file name has one of the image ``suffixes``."""
    return osp.splitext(name)[1].lower() in suffixes


@dataclass
class ImageFolder:
    """The image files of one folder, matched by stem
    (see :func:`scan_image_folder`).

    Attributes:
        folder (str): The folder.
        files (dict): Matching key (the stem, or what ``key`` made of it)
            -> file name, in sorted name order.
        duplicates (list): ``(file name, name of the earlier file)`` for
            every image whose key was already taken.
        others (list): Names of the other files (neither images nor system
            files).
        subfolders (list): Names of the folders in it.
        suffixes (tuple): The image suffixes it was scanned for.
    """
    folder: str
    suffixes: Tuple[str, ...] = IMAGE_SUFFIXES
    files: Dict[str, str] = field(default_factory=dict)
    duplicates: List[Tuple[str, str]] = field(default_factory=list)
    others: List[str] = field(default_factory=list)
    subfolders: List[str] = field(default_factory=list)

    def path(self, name: str) -> str:
        """The path of a file of the folder."""
        return osp.join(self.folder, name)

    def paths(self) -> List[str]:
        """The paths of the images, in sorted name order."""
        return [self.path(name) for name in self.files.values()]

    def stem(self, key: str) -> str:
        """The file stem of the image matched as ``key``."""
        return osp.splitext(self.files[key])[0]

    def problems(self,
                 kind: str,
                 strict: bool = False) -> List['PolypFileError']:
        """What makes the folder unusable: images sharing a stem, no image;
        with ``strict`` also every other file and subfolder (a frame in a
        format this package does not read would vanish unnoticed)."""
        problems = [
            PolypFileError(
                self.path(name), f'shares the stem {osp.splitext(name)[0]!r} '
                f'with {self.path(first)} (files are matched and named by '
                'stem; rename one of them)') for name, first in self.duplicates
        ]
        if strict:
            problems += [
                PolypFileError(
                    self.path(name),
                    f'not an image ({", ".join(self.suffixes)}); '
                    f'remove it from the {kind} folder')
                for name in self.others
            ]
            problems += [
                PolypFileError(
                    self.path(name), f'unexpected folder among the {kind}s')
                for name in self.subfolders
            ]
        if not self.files:
            problems.append(
                PolypFileError(
                    self.folder,
                    f'no {kind} files ({", ".join(self.suffixes)})'))
        return problems

    def check(self, kind: str, strict: bool = False) -> 'ImageFolder':
        """Raise the first of :meth:`problems`; returns the folder."""
        problems = self.problems(kind, strict)
        if problems:
            raise problems[0]
        return self


def scan_image_folder(folder: str,
                      kind: str = 'image',
                      suffixes: Sequence[str] = IMAGE_SUFFIXES,
                      key: Optional[Callable[[str], str]] = None,
                      backend_args: Optional[dict] = None) -> ImageFolder:
    """List the image files of a folder (not recursive) by stem.

    Hidden and system files are skipped silently; what else is wrong is
    recorded, not raised (see :meth:`ImageFolder.problems`), so callers can
    report every problem of a run at once.

    Args:
        folder (str): The folder, through mmengine's file backends.
        kind (str): What the files are (``'image'``, ``'mask'``), for
            messages.
        suffixes (Sequence[str]): Image suffixes, lower case.
        key (Callable, optional): Maps a stem to the key images are matched
            by (e.g. lower case); default: the stem itself.
        backend_args (dict, optional): mmengine file backend arguments.

    Raises:
        PolypFileError: If the folder does not exist.
    """
    if not fileio.isdir(folder, backend_args=backend_args):
        raise PolypFileError(folder, f'{kind} folder does not exist')
    result = ImageFolder(folder, suffixes=tuple(suffixes))
    names = fileio.list_dir_or_file(
        folder, list_dir=False, backend_args=backend_args)
    for name in sorted(names):
        if is_system_file(name):
            continue
        if not is_image_name(name, suffixes):
            result.others.append(name)
            continue
        stem = osp.splitext(name)[0]
        match = key(stem) if key is not None else stem
        if match in result.files:
            result.duplicates.append((name, result.files[match]))
        else:
            result.files[match] = name
    try:
        result.subfolders = sorted(
            name for name in fileio.list_dir_or_file(
                folder, list_file=False, backend_args=backend_args)
            if not is_system_file(name))
    except NotImplementedError:  # a backend that lists files only
        pass
    return result


def read_split_file(path: str,
                    backend_args: Optional[dict] = None) -> Dict[str, int]:
    """Read a split file: one stem a line.

    Surrounding spaces and blank lines are ignored, and a line naming a file
    (``1.png``) counts as its stem.

    Returns:
        dict: Stem -> line number (from 1), in file order.

    Raises:
        PolypFileError: If the file cannot be read, lists no stem, or lists
            a stem twice (naming each with its lines).
    """
    try:
        text = fileio.get_text(path, backend_args=backend_args)
    except (OSError, ValueError) as error:
        raise PolypFileError(path, f'cannot be read ({error})') from None
    stems: Dict[str, int] = {}
    repeated: Dict[str, List[int]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stem = line.strip()
        if is_image_name(stem):
            stem = osp.splitext(stem)[0]
        if not stem:
            continue
        if stem in stems:
            repeated.setdefault(stem, [stems[stem]]).append(number)
        else:
            stems[stem] = number
    if repeated:
        raise PolypFileError(
            path,
            '; '.join(f'stem {stem!r} on lines '
                      f'{", ".join(map(str, lines[:-1]))} and {lines[-1]}'
                      for stem, lines in repeated.items()))
    if not stems:
        raise PolypFileError(path, 'split file lists no stems')
    return stems


def check_split_stems(path: str, stems: Dict[str, int], known: Sequence[str],
                      where: str) -> None:
    """Refuse split-file stems (from :func:`read_split_file`) that are not
    among the ``known`` stems of ``where``, naming each with its line."""
    known = set(known)
    unknown = [f'{s!r} (line {n})' for s, n in stems.items() if s not in known]
    if unknown:
        raise PolypFileError(path,
                             f'stems not in {where}: ' + listing(unknown))
