"""Reading polyp images and masks, refusing anything that would be mis-read.

One place decides what a valid polyp frame and ground-truth mask are; the
dataset, its loading transforms and ``tools/prepare_polyp_data.py`` all use
it, so a file refused by one is refused by all, always with its path:

* an image must decode completely (a truncated JPEG or PNG is refused, even
  where a decoder would fill the missing rows silently) to an 8-bit colour
  image: grayscale, RGBA and 16-bit images are refused;
* a mask must decode to 8 bits and be a black/white mask: JPEG noise and
  soft edges are fine (it is binarised at ``> 127``), a mask coded 0/1, a
  colour label map or a mostly grey image is refused;
* a mask must have the size of its image.
"""
import io
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine import fileio
from PIL import Image, UnidentifiedImageError

MASK_THRESHOLD = 127
# Masks with more than this share of pixels far from both black and white
# (in (32, 223)) are not black/white masks. Real masks stay far below: JPEG
# noise in Kvasir-SEG stays within 8 of 0/255; soft edges are thin.
MAX_GREY_SHARE = 0.05
_JPEG_END = b'\xff\xd9'
# What operating systems and file managers drop into folders; never data.
_SYSTEM_NAMES = ('thumbs.db', 'desktop.ini', '__macosx')
_PNG_END = b'IEND\xaeB`\x82'


class PolypFileError(ValueError):
    """A polyp image or mask that cannot be used; the message names it.

    Args:
        path (str): The file (or folder, or split file).
        problem (str, optional): What is wrong with it. Without it, ``path``
            is taken as the whole message: PyTorch's DataLoader re-raises a
            worker's exception from its message alone.
    """

    def __init__(self, path: str, problem: Optional[str] = None):
        super().__init__(path if problem is None else f'{path}: {problem}')
        self.path = path
        self.problem = problem


def is_system_file(name: str) -> bool:
    """Whether a folder entry is OS clutter (hidden files such as macOS's
    ``._<name>``, ``Thumbs.db``, ...) that folder scans skip silently."""
    return name.startswith('.') or name.lower() in _SYSTEM_NAMES


def listing(names: Sequence[str], limit: int = 20) -> str:
    """Comma-separated names for messages, cut after ``limit``."""
    names = list(names)
    more = f', ... ({len(names)} in all)' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more


def _check_complete(data: bytes, path: str) -> None:
    """Refuse JPEG/PNG files whose end marker is missing (truncated)."""
    tail = data.rstrip(b'\0\r\n ')
    if data[:2] == b'\xff\xd8' and not tail.endswith(_JPEG_END):
        raise PolypFileError(path, 'truncated JPEG (no end-of-image marker)')
    if data[:8] == b'\x89PNG\r\n\x1a\n' and not tail.endswith(_PNG_END):
        raise PolypFileError(path, 'truncated PNG (no IEND chunk)')


def decode(data: bytes, path: str) -> np.ndarray:
    """Decode image bytes as stored (channels and depth unchanged).

    OpenCV is tried first; Pillow reads some TIFF variants OpenCV does not
    (and the other way round), so it is the fallback.

    Args:
        data (bytes): The file content.
        path (str): The file's path, for messages.

    Returns:
        np.ndarray: (H, W) or (H, W, C) array, colour channels in BGR order.

    Raises:
        PolypFileError: If the file is empty, truncated or undecodable.
    """
    if not data:
        raise PolypFileError(path, 'empty file')
    _check_complete(data, path)
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is not None:
        return array
    try:
        with Image.open(io.BytesIO(data)) as pil:
            pil.load()
            if pil.mode in ('P', 'CMYK', 'YCbCr', 'LAB', 'HSV'):
                pil = pil.convert('RGBA' if 'transparency' in pil.info
                                  else 'RGB')
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
        array = np.ascontiguousarray(array[..., [2, 1, 0, *range(
            3, array.shape[2])]])
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
        PolypFileError: For undecodable, truncated, grayscale, RGBA or
            16-bit images.
    """
    image = decode(data, path)
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


def mask_from_bytes(data: bytes, path: str) -> np.ndarray:
    """Decode, check and binarise a ground-truth mask.

    Returns:
        np.ndarray: (H, W) uint8 mask with values in {0, 1}.

    Raises:
        PolypFileError: For undecodable or truncated files, masks that are
            not 8-bit, colour label maps, masks coded 0/1 and masks that are
            not black/white.
    """
    mask = decode(data, path)
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
    foreground = mask > MASK_THRESHOLD
    if not foreground.any():
        values = np.unique(mask)
        if 0 < values.max() <= 32 and len(values) <= 3:
            raise PolypFileError(
                path, f'values {values.tolist()} look like class indices; '
                'expected 0 for background and 255 for polyp')
    return foreground.astype(np.uint8)


def read_image(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Read and check a colour frame; see :func:`image_from_bytes`."""
    return image_from_bytes(read_bytes(path, backend_args), path)


def read_mask(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Read, check and binarise a mask; see :func:`mask_from_bytes`."""
    return mask_from_bytes(read_bytes(path, backend_args), path)


def check_same_size(image: np.ndarray, mask: np.ndarray, image_path: str,
                    mask_path: str) -> None:
    """Refuse a mask whose height/width differ from its image's."""
    if image.shape[:2] != mask.shape[:2]:
        raise PolypFileError(
            mask_path, f'mask is {mask.shape[1]}x{mask.shape[0]} but its '
            f'image {image_path} is {image.shape[1]}x{image.shape[0]}')
