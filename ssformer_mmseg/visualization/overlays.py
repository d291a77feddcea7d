"""Drawing masks on frames: the one overlay every picture of this package
uses (inference outputs, the demo's result tiles, the training-sample
browser), and the labelled panels built from it."""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

#: Green stands out on the reddish mucosa.
GREEN = (0, 255, 0)


def tint(image: np.ndarray, mask: np.ndarray, color: Sequence[int],
         alpha: float) -> np.ndarray:
    """A copy of ``image`` with the pixels of ``mask`` blended towards
    ``color``: ``rint((1 - alpha) * pixel + alpha * color)``.

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR image.
        mask (np.ndarray): (H, W) mask, selected where > 0 (or True).
        color (Sequence[int]): BGR colour.
        alpha (float): Weight of the colour.
    """
    selected = mask > 0
    out = image.copy()
    out[selected] = np.rint(image[selected].astype(np.float32) * (1 - alpha) +
                            np.asarray(color, np.float32) * alpha).astype(
                                np.uint8)
    return out


def outline(image: np.ndarray,
            mask: np.ndarray,
            color: Sequence[int],
            thickness: int = 1) -> np.ndarray:
    """Draw the outline of ``mask`` (> 0) on ``image`` in place; holes are
    outlined too. Returns ``image``."""
    contours = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_LIST,
                                cv2.CHAIN_APPROX_SIMPLE)[-2]
    cv2.drawContours(image, contours, -1, tuple(int(c) for c in color),
                     thickness)
    return image


def draw_overlay(frame: np.ndarray,
                 mask: np.ndarray,
                 color: Tuple[int, int, int] = GREEN,
                 alpha: float = 0.35,
                 thickness: Optional[int] = None) -> np.ndarray:
    """The frame with the predicted polyp tinted and outlined.

    Green is the default colour since it stands out on the reddish mucosa.

    Args:
        frame (np.ndarray): (H, W, 3) uint8 BGR frame.
        mask (np.ndarray): (H, W) mask, foreground > 0.
        color (tuple): BGR colour of tint and outline.
        alpha (float): Weight of the tint.
        thickness (int, optional): Outline width; default grows with the
            frame (1 px per 300 px of the shorter side, at least 1).

    Returns:
        np.ndarray: The drawn (H, W, 3) uint8 BGR image.
    """
    if thickness is None:
        thickness = max(1, round(min(frame.shape[:2]) / 300))
    return outline(tint(frame, mask, color, alpha), mask, color, thickness)


def labelled_row(panels: Sequence[np.ndarray],
                 labels: Sequence[str],
                 title: Optional[str] = None,
                 gap: int = 4) -> np.ndarray:
    """Panels of one height side by side on white, each labelled in a bar
    above it, with an optional title line below.

    Args:
        panels (Sequence[np.ndarray]): (H, W_i, 3) uint8 BGR images.
        labels (Sequence[str]): One label per panel.
        title (str, optional): Text of the line below the row.
        gap (int): White pixels between panels.
    """
    height = panels[0].shape[0]
    spacer = np.full((height, gap, 3), 255, np.uint8)
    pieces, lefts, left = [], [], 0
    for index, panel in enumerate(panels):
        if index:
            pieces.append(spacer)
            left += gap
        lefts.append(left)
        pieces.append(panel)
        left += panel.shape[1]
    row = np.concatenate(pieces, axis=1)
    bar = np.full((22, row.shape[1], 3), 255, np.uint8)
    for left, label in zip(lefts, labels):
        _text(bar, label, (left + 4, 15))
    parts = [bar, row]
    if title is not None:
        foot = np.full((20, row.shape[1], 3), 255, np.uint8)
        _text(foot, title, (4, 14))
        parts += [foot, np.full_like(foot[:6], 255)]
    return np.concatenate(parts, axis=0)


def prediction_tile(image: np.ndarray, gt: np.ndarray, pred: np.ndarray,
                    title: str) -> np.ndarray:
    """``image | ground truth | prediction`` for one test frame: the ground
    truth tinted green, the prediction tinted yellow, both panels with the
    ground-truth outline (green) and the prediction's own (yellow).

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR frame.
        gt (np.ndarray): (H, W) ground-truth mask (> 0 polyp).
        pred (np.ndarray): (H, W) predicted mask (> 0 polyp).
        title (str): The line below the row.
    """
    green, yellow = (60, 200, 60), (0, 220, 255)
    gt_panel = outline(tint(image, gt, green, 0.45), gt, green)
    pred_panel = outline(tint(image, pred, yellow, 0.45), gt, green)
    outline(pred_panel, pred, yellow)
    return labelled_row([image, gt_panel, pred_panel],
                        ('image', 'ground truth', 'prediction (p > 0.5)'),
                        title)


def grid(tiles: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Tiles of one size in rows of ``columns``, the last row padded with
    white."""
    tiles = list(tiles)
    blank = np.full_like(tiles[0], 255)
    tiles += [blank] * (-len(tiles) % columns)
    rows = [
        np.concatenate(tiles[r:r + columns], axis=1)
        for r in range(0, len(tiles), columns)
    ]
    return np.concatenate(rows, axis=0)


def _text(image: np.ndarray, text: str, origin: Tuple[int, int]) -> None:
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0),
                1, cv2.LINE_AA)
