"""Image files before and after their pixels: the size and bit depth an
image's header claims, the pixel limit every reader applies before decoding,
and checked writes.

The limit is one setting for the whole process and the processes it starts
(DataLoader workers, subprocesses): ``$SSFORMER_MAX_PIXELS``, which every
tool's ``--max-pixels`` sets; :func:`check_header` refuses from the header
alone, so a decompression bomb costs nothing.
"""
import io
import os
import re
import warnings
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from ..partial_outputs import claim_output
from .file_errors import PolypFileError

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
#: Largest image (width x height) decoded by default: 4K endoscopy frames
#: (3840x2160, 8.3 M) fit twice; its 8-bit BGR frame is 48 MiB.
DEFAULT_MAX_PIXELS = 4096 * 4096
#: The environment variable that overrides it (what every tool's
#: ``--max-pixels`` sets, so that DataLoader workers and subprocesses follow).
MAX_PIXELS_ENV = 'SSFORMER_MAX_PIXELS'


def max_pixels() -> int:
    """The largest image (width x height) the checked reader decodes:
    ``$SSFORMER_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`.

    Raises:
        ValueError: If the variable is set to anything but a positive
            integer.
    """
    value = os.environ.get(MAX_PIXELS_ENV, '').strip()
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValueError(f'{MAX_PIXELS_ENV}={value!r}: expected a positive '
                         'number of pixels')
    return limit


def set_max_pixels(limit: Optional[int]) -> None:
    """Set :func:`max_pixels` for this process and the processes it starts
    (DataLoader workers, subprocesses); None keeps what is set."""
    if limit is None:
        return
    if limit < 1:
        raise ValueError(f'max pixels must be positive, got {limit}')
    os.environ[MAX_PIXELS_ENV] = str(limit)


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, before any pixel is decoded.

    Attributes:
        width (int): Width in pixels.
        height (int): Height in pixels.
        bits (int): Bits per channel sample (8 for ordinary frames).
        format (str): The format as Pillow names it (``'PNG'``, ``'JPEG'``).
    """
    width: int
    height: int
    bits: int
    format: str


# Bits per sample of Pillow's modes that are not 8 bits (PNGs are read from
# their IHDR chunk instead: Pillow opens a 16-bit RGBA PNG as 'RGBA').
_MODE_BITS = {'1': 1, 'I': 32, 'F': 32}


def read_header(data: bytes, path: str) -> ImageHeader:
    """Size and bit depth from the file's header (Pillow's lazy open, which
    decodes no pixel).

    Raises:
        PolypFileError: If no header can be read.
    """
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit; ours is checked after this.
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as pil:
                width, height = pil.size
                mode, kind = pil.mode, pil.format or 'unknown'
    except Image.DecompressionBombError as error:
        # Pillow refuses twice its own limit before telling the size.
        claimed = re.search(r'\((\d+) pixels\)', str(error))
        raise over_pixel_limit(
            path, f'image has {int(claimed.group(1)):,} pixels'
            if claimed else f'image is over {2 * Image.MAX_IMAGE_PIXELS:,} '
            'pixels') from None
    except UnidentifiedImageError:
        raise PolypFileError(
            path, 'cannot be decoded by OpenCV or Pillow (unknown or '
            'corrupt format: no image header found)') from None
    except Exception as error:  # Pillow raises many types for bad headers
        raise PolypFileError(
            path, f'unreadable image header ({type(error).__name__}: '
            f'{error})') from None
    if data.startswith(PNG_SIGNATURE) and len(data) > 24:
        bits = data[24]  # IHDR: width, height, then the bit depth
    elif mode.startswith('I;16'):
        bits = 16
    else:
        bits = _MODE_BITS.get(mode, 8)
    return ImageHeader(width, height, bits, kind)


def over_pixel_limit(path: str, size: str) -> PolypFileError:
    """The error for a file of ``size`` (``'image is WxH (N pixels)'``)
    over :func:`max_pixels`."""
    return PolypFileError(
        path, f'{size}, over the limit of {max_pixels():,} pixels '
        f'({MAX_PIXELS_ENV} or --max-pixels sets it)')


def check_header(data: bytes, path: str, what: str = 'image') -> ImageHeader:
    """Refuse, from the header alone, an image of more than
    :func:`max_pixels` pixels or more than 8 bits a sample.

    Args:
        data (bytes): The file content.
        path (str): The file's path, for messages.
        what (str): What it is (``'image'``, ``'mask'``, ``'map'``).

    Raises:
        PolypFileError: Naming the size and the limit, or the depth.
    """
    header = read_header(data, path)
    pixels = header.width * header.height
    if pixels > max_pixels():
        raise over_pixel_limit(
            path, f'{what} is {header.width}x{header.height} '
            f'({pixels:,} pixels)')
    if header.bits > 8:
        raise PolypFileError(path,
                             f'{header.bits}-bit {what}; expected 8 bits')
    return header


def write_image(path: str, image: np.ndarray) -> str:
    """``cv2.imwrite`` that fails loudly, after
    :func:`~ssformer_mmseg.partial_outputs.claim_output` (which creates the
    folder); returns ``path``.

    Raises:
        OSError: Naming the file, if OpenCV wrote nothing (unknown suffix,
            missing folder, full disk, no permission).
    """
    claim_output(path)
    try:
        written = cv2.imwrite(path, image)
    except cv2.error as error:
        raise OSError(f'{path}: cannot be written ({error})') from None
    if not written:
        raise OSError(f'{path}: cannot be written')
    return path
