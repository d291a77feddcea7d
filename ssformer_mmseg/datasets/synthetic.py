"""A licence-free synthetic colonoscopy-like polyp set, for the demo.

Real polyp data cannot ship with the repository, so ``tools/demo.py`` trains
on frames generated here. Each frame imitates what matters to a polyp
segmenter in colonoscopy video: pinkish-red mucosa with low-frequency
texture, a dark lumen, haustral folds, vessels, vignetting of the endoscope's
light, specular highlights and, on most frames, one or two polyps: smooth,
irregular, star-convex blobs covering roughly 2-30 % of the frame, with a
slightly different colour and surface texture, dome shading and a soft
shadow at the base. Colour contrast is kept moderate and the distractors
(lumen, folds, highlights, colour jitter) are shared with the polyps' cues,
so the task is learnable but not trivial.

The layout is the one ``tools/prepare_polyp_data.py`` writes for the public
sets, read by :class:`SyntheticPolypDataset`::

    <root>/synthetic/images/<stem>.png     BGR frames
    <root>/synthetic/masks/<stem>.png      masks, 0 / 255
    <root>/synthetic/manifest.json         generation parameters (written last)
    <root>/splits/synthetic_train.txt      train stems, one a line
    <root>/splits/synthetic_test.txt       test stems

Every test frame holds at least one polyp: the toolbox metrics (``meanDic``
and the other curves) count an empty ground truth as 0 whatever the
prediction, so an empty test frame would only pull the averages down. About
10 % of the training frames hold no polyp, so the model also learns that a
frame may contain none.

Generation is deterministic: frame ``i`` of a split depends only on
``(seed, split, i)``, so a larger set starts with the frames of a smaller one.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmseg.registry import DATASETS

from .image_io import write_image
from .polyp import PolypDataset

#: Folder of the set under the data root.
FOLDER = 'synthetic'
#: Bumped whenever the generated pictures change, so old sets are rebuilt.
GENERATOR_VERSION = 1
#: Split ids mixed into the per-frame seeds (never reorder).
_SPLITS = {'train': 0, 'test': 1}
#: Polyp counts per frame and their probabilities, per split.
_POLYP_COUNTS = {
    'train': ((0, 1, 2), (0.1, 0.65, 0.25)),
    'test': ((1, 2), (0.75, 0.25)),
}
#: Range of one polyp's visible area, as a fraction of the frame.
MIN_POLYP_FRACTION = 0.02
MAX_POLYP_FRACTION = 0.30

Size = Union[int, Tuple[int, int]]


@DATASETS.register_module()
class SyntheticPolypDataset(PolypDataset):
    """The demo's synthetic colonoscopy-like set (see
    :func:`make_synthetic_polyp_set`)."""
    DATASET_NAME = 'Synthetic'
    FOLDER = FOLDER


def split_file(root: str, split: str) -> str:
    """Path of the split file ``<root>/splits/synthetic_<split>.txt``."""
    return osp.join(root, 'splits', f'{FOLDER}_{split}.txt')


def make_synthetic_polyp_set(
    root: str,
    num_train: int = 400,
    num_test: int = 100,
    size: Size = 256,
    seed: int = 0,
    overwrite: bool = False,
    progress: Optional[Callable[[int, int],
                                None]] = None) -> Dict[str, List[str]]:
    """Write the synthetic set under ``root`` (layout: see module doc).

    A complete set written earlier with the same parameters is kept as it is
    (checked through its manifest and files), unless ``overwrite``. A folder
    holding anything else (other parameters, missing files, an interrupted
    run: the manifest is written last) is rebuilt from scratch.

    Args:
        root (str): Data root; the set goes to ``<root>/synthetic``.
        num_train (int): Training frames (``train_0000``, ...).
        num_test (int): Test frames (``test_0000``, ...); each holds at
            least one polyp.
        size (int | tuple[int, int]): Frame side, or ``(height, width)``.
        seed (int): Seed of the whole set.
        overwrite (bool): Rebuild even a complete matching set.
        progress (callable, optional): Called as ``progress(done, total)``
            after each frame written.

    Returns:
        dict[str, list[str]]: The stems of each split, ``'train'`` and
        ``'test'``.

    Raises:
        ValueError: On a size below 32 pixels or a negative count.
    """
    height, width = _hw(size)
    if min(height, width) < 32:
        raise ValueError(f'frames must be at least 32x32, got {width}x'
                         f'{height}')
    if num_train < 0 or num_test < 0:
        raise ValueError('frame counts must not be negative')
    stems = {
        'train': [f'train_{i:04d}' for i in range(num_train)],
        'test': [f'test_{i:04d}' for i in range(num_test)],
    }
    manifest = synthetic_manifest(num_train, num_test, size, seed)
    if not overwrite and synthetic_set_is_complete(root, manifest):
        return stems

    set_dir = osp.join(root, FOLDER)
    manifest_path = osp.join(set_dir, 'manifest.json')
    if osp.exists(manifest_path):
        os.remove(manifest_path)  # incomplete until rewritten at the end
    for sub in ('images', 'masks'):
        folder = osp.join(set_dir, sub)
        os.makedirs(folder, exist_ok=True)
        # Leftovers of another set would be paired by the dataset.
        for name in os.listdir(folder):
            os.remove(osp.join(folder, name))
    os.makedirs(osp.join(root, 'splits'), exist_ok=True)

    total, done = num_train + num_test, 0
    for split, split_stems in stems.items():
        counts, probs = _POLYP_COUNTS[split]
        for index, stem in enumerate(split_stems):
            rng = np.random.default_rng([seed, _SPLITS[split], index])
            num_polyps = int(rng.choice(counts, p=probs))
            image, mask = render_frame(rng, (height, width), num_polyps)
            write_image(osp.join(set_dir, 'images', stem + '.png'), image)
            write_image(osp.join(set_dir, 'masks', stem + '.png'), mask)
            done += 1
            if progress is not None:
                progress(done, total)
        with open(split_file(root, split), 'w') as f:
            f.write(''.join(s + '\n' for s in split_stems))
    with open(manifest_path, 'w') as f:
        json.dump(manifest, f, indent=2)
    return stems


def synthetic_manifest(num_train: int, num_test: int, size: Size,
                       seed: int) -> dict:
    """The manifest a set generated with these parameters carries."""
    height, width = _hw(size)
    return dict(
        generator_version=GENERATOR_VERSION,
        num_train=num_train,
        num_test=num_test,
        height=height,
        width=width,
        seed=seed)


def synthetic_set_is_complete(root: str, manifest: dict) -> bool:
    """Whether ``root`` holds a complete set generated with ``manifest``'s
    parameters: same manifest, both split files listing the expected stems,
    every image and mask present and no other file."""
    set_dir = osp.join(root, FOLDER)
    try:
        with open(osp.join(set_dir, 'manifest.json')) as f:
            if json.load(f) != manifest:
                return False
        expected = []
        for split in _SPLITS:
            count = manifest[f'num_{split}']
            stems = [f'{split}_{i:04d}' for i in range(count)]
            with open(split_file(root, split)) as f:
                if f.read().split() != stems:
                    return False
            expected += stems
        names = sorted(s + '.png' for s in expected)
        return all(
            sorted(os.listdir(osp.join(set_dir, sub))) == names
            for sub in ('images', 'masks'))
    except (OSError, ValueError, KeyError):
        return False


def render_frame(rng: np.random.Generator, size: Size,
                 num_polyps: int) -> Tuple[np.ndarray, np.ndarray]:
    """Draw one colonoscopy-like frame and its polyp mask.

    Args:
        rng (np.random.Generator): Source of every random choice.
        size (int | tuple[int, int]): Frame side, or ``(height, width)``.
        num_polyps (int): Polyps to place (0, 1 or 2 in the sets); each
            covers 2-30 % of the frame and they do not overlap.

    Returns:
        tuple[np.ndarray, np.ndarray]: The BGR uint8 frame (H, W, 3) and
        its uint8 mask (H, W) of 0 (background) and 255 (polyp).
    """
    height, width = _hw(size)
    scale = min(height, width)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    # Work in RGB floats in [0, 1]; converted to BGR uint8 at the end.
    base = np.array([
        rng.uniform(0.72, 0.90),
        rng.uniform(0.33, 0.47),
        rng.uniform(0.28, 0.42)
    ], np.float32)
    texture = _fractal_noise(rng, height, width, (3, 6, 12), (0.55, 0.3, 0.15))
    tint = _fractal_noise(rng, height, width, (2, 4), (0.7, 0.3))
    image = base * (1 + 0.09 * texture[..., None])
    image[..., 1:] *= (1 + 0.06 * tint)[..., None]

    # The lumen: a dark, soft-edged hole somewhere in the frame, with the
    # haustral folds as rings around it (darker crest line, lit rim).
    lumen = (rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height)
    if rng.random() < 0.7:
        radius = rng.uniform(0.07, 0.2) * scale
        dist2 = (xx - lumen[0])**2 + (yy - lumen[1])**2
        image *= (1 - rng.uniform(0.55, 0.85) * np.exp(-dist2 /
                                                       (2 * radius**2)))[...,
                                                                         None]
    image = _draw_folds(rng, image, lumen, scale)
    image = _draw_vessels(rng, image, scale)

    mask = np.zeros((height, width), np.uint8)
    for index in range(num_polyps):
        polyp = _place_polyp(rng, mask, height, width)
        # The first polyp always gets a place (on an empty frame one is
        # found within a few tries); a later one may find no room.
        while polyp is None and index == 0:
            polyp = _place_polyp(rng, mask, height, width)
        if polyp is not None:
            image = _paint_polyp(rng, image, polyp, base, scale)
            mask |= polyp

    image = _add_highlights(rng, image, mask, scale)

    # Vignetting: the endoscope lights the centre of the view best.
    cx = width * rng.uniform(0.4, 0.6)
    cy = height * rng.uniform(0.4, 0.6)
    r2 = ((xx - cx)**2 + (yy - cy)**2) / (0.75 * scale)**2
    image *= np.clip(1 - rng.uniform(0.3, 0.6) * r2, 0.2, 1)[..., None]

    # Camera: exposure, slight blur and sensor noise.
    image = image * rng.uniform(0.85, 1.1)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.9))
    image = image + rng.normal(0, 0.012, image.shape).astype(np.float32)
    image = np.clip(image, 0, 1)
    bgr = np.rint(image[..., ::-1] * 255).astype(np.uint8)
    return np.ascontiguousarray(bgr), mask


def _hw(size: Size) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = size
    return int(height), int(width)


def _fractal_noise(rng: np.random.Generator, height: int, width: int,
                   cells: Sequence[int],
                   weights: Sequence[float]) -> np.ndarray:
    """Smooth noise of unit standard deviation: upsampled random grids of
    ``cells`` cells across the shorter side, mixed with ``weights``."""
    out = np.zeros((height, width), np.float32)
    for n, w in zip(cells, weights):
        grid = rng.normal(
            size=(max(2, round(n * height / min(height, width))) + 2,
                  max(2, round(n * width / min(height, width))) + 2)).astype(
                      np.float32)
        # Resizing the padded grid and cropping keeps the borders smooth.
        big = cv2.resize(
            grid, (width + 2 * width // n, height + 2 * height // n),
            interpolation=cv2.INTER_CUBIC)
        out += w * big[height // n:height // n + height,
                       width // n:width // n + width]
    return out / max(float(out.std()), 1e-6)


def _draw_folds(rng: np.random.Generator, image: np.ndarray,
                lumen: Tuple[float, float], scale: int) -> np.ndarray:
    """Arcs around the lumen: a dark crest line with a lit rim beside it."""
    height, width = image.shape[:2]
    dark = np.zeros((height, width), np.float32)
    lit = np.zeros((height, width), np.float32)
    for _ in range(rng.integers(1, 5)):
        axes = (int(rng.uniform(0.2, 0.9) * scale),
                int(rng.uniform(0.15, 0.7) * scale))
        angle = float(rng.uniform(0, 180))
        start = float(rng.uniform(0, 360))
        span = float(rng.uniform(60, 220))
        center = (int(lumen[0] + rng.normal(0, 0.05 * scale)),
                  int(lumen[1] + rng.normal(0, 0.05 * scale)))
        thick = max(1, int(rng.uniform(0.01, 0.03) * scale))
        cv2.ellipse(dark, center, axes, angle, start, start + span, 1.0, thick,
                    cv2.LINE_AA)
        shift = max(2, int(1.5 * thick))
        cv2.ellipse(lit, center, (axes[0] + shift, axes[1] + shift), angle,
                    start, start + span, 1.0, thick * 2, cv2.LINE_AA)
    sigma = 0.012 * scale
    dark = cv2.GaussianBlur(dark, (0, 0), sigma)
    lit = cv2.GaussianBlur(lit, (0, 0), 1.5 * sigma)
    image = image * (1 - rng.uniform(0.2, 0.4) * dark)[..., None]
    return image + (rng.uniform(0.04, 0.1) * lit)[..., None]


def _draw_vessels(rng: np.random.Generator, image: np.ndarray,
                  scale: int) -> np.ndarray:
    """Thin, wandering, branching dark-red lines (submucosal vessels)."""
    height, width = image.shape[:2]
    vessels = np.zeros((height, width), np.float32)
    step = max(1.5, 0.012 * scale)
    for _ in range(rng.integers(2, 9)):
        strands = [(rng.uniform(0, width), rng.uniform(0, height),
                    rng.uniform(0, 2 * np.pi), int(rng.integers(15, 60)))]
        while strands:
            x, y, heading, length = strands.pop()
            points = [(x, y)]
            for _ in range(length):
                heading += rng.normal(0, 0.35)
                x += step * np.cos(heading)
                y += step * np.sin(heading)
                points.append((x, y))
                if rng.random() < 0.03 and len(strands) < 3:
                    strands.append(
                        (x, y,
                         heading + rng.choice([-1, 1]) * rng.uniform(0.5, 1.2),
                         length // 2))
            cv2.polylines(
                vessels, [np.round(np.array(points) * 4).astype(np.int32)],
                False,
                float(rng.uniform(0.4, 1.0)),
                1,
                cv2.LINE_AA,
                shift=2)
    vessels = cv2.GaussianBlur(vessels, (0, 0), 0.5)
    colour = np.array([0.55, 0.12, 0.16], np.float32)
    alpha = (rng.uniform(0.25, 0.5) * vessels)[..., None]
    return image * (1 - alpha) + image * colour * 1.3 * alpha


def _polyp_outline(rng: np.random.Generator, center: Tuple[float, float],
                   radius: float) -> np.ndarray:
    """Vertices of a smooth star-convex blob: a deformed, rotated ellipse
    whose radius wobbles with a few low harmonics."""
    theta = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 6):
        r += rng.uniform(
            0, 0.16 / k * 2) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    stretch = rng.uniform(0.7, 1.0)
    rot = rng.uniform(0, np.pi)
    px = radius * r * np.cos(theta) / np.sqrt(stretch)
    py = radius * r * np.sin(theta) * np.sqrt(stretch)
    x = center[0] + px * np.cos(rot) - py * np.sin(rot)
    y = center[1] + px * np.sin(rot) + py * np.cos(rot)
    return np.stack([x, y], axis=1)


def _place_polyp(rng: np.random.Generator, taken: np.ndarray, height: int,
                 width: int) -> Optional[np.ndarray]:
    """The 0/255 mask of a new polyp covering 2-30 % of the frame and not
    touching ``taken``; None if no such place was found."""
    area = height * width
    free = 1 - taken.astype(bool).mean()
    for _ in range(30):
        # Log-uniform size: small polyps are as common as large ones.
        fraction = np.exp(
            rng.uniform(np.log(0.03), np.log(min(0.25, 0.6 * free))))
        radius = np.sqrt(fraction * area / np.pi)
        # A polyp may be cut by the frame edge, but mostly stays inside.
        margin = 0.5 * radius
        center = (rng.uniform(margin, width - margin),
                  rng.uniform(margin, height - margin))
        polyp = np.zeros((height, width), np.uint8)
        outline = np.round(_polyp_outline(rng, center, radius) * 16)
        cv2.fillPoly(
            polyp, [outline.astype(np.int32)], 255, cv2.LINE_8, shift=4)
        visible = polyp.astype(bool).mean()
        if not MIN_POLYP_FRACTION <= visible <= MAX_POLYP_FRACTION:
            continue
        gap = max(3, int(0.03 * min(height, width)))
        grown = cv2.dilate(polyp, np.ones((2 * gap + 1, 2 * gap + 1),
                                          np.uint8))
        if not (grown & taken).any():
            return polyp
    return None


def _paint_polyp(rng: np.random.Generator, image: np.ndarray,
                 polyp: np.ndarray, base: np.ndarray,
                 scale: int) -> np.ndarray:
    """Blend a polyp into ``image``: its own colour and surface texture,
    dome shading lit from the camera side, and a soft shadow at its base."""
    height, width = image.shape[:2]
    inside = polyp.astype(np.float32) / 255
    # Normalised height of the dome: 0 at the rim, 1 at the top.
    dist = cv2.distanceTransform(polyp, cv2.DIST_L2, 5)
    top = max(float(dist.max()), 1.0)
    dome = 1 - (1 - dist / top)**2
    gy, gx = np.gradient(cv2.GaussianBlur(dome, (0, 0), 1.5))
    light = rng.normal(size=2)
    light /= np.linalg.norm(light) + 1e-6
    # The gradient is ~2 / top at the rim: scale it to a fixed contrast.
    shading = 0.84 + 0.2 * dome + 0.12 * top * (light[0] * gx + light[1] * gy)

    # Moderate colour contrast: a little paler/pinker or redder than the
    # mucosa, never a different hue family.
    if rng.random() < 0.5:
        colour = base * np.array([1.04, 1.12, 1.1]) + rng.uniform(
            0.0, 0.05)  # paler, pinker
    else:
        colour = base * np.array([1.0, 0.85, 0.88])  # redder, congested
    colour = (colour * rng.uniform(0.92, 1.06, 3)).astype(np.float32)
    # Finer surface texture than the mucosa (pit pattern, lobulation).
    fine = _fractal_noise(rng, height, width, (16, 32), (0.6, 0.4))
    surface = colour * (1 + 0.07 * fine[..., None]) * shading[..., None]

    # Keep the local lighting of the mucosa under the polyp (vignette,
    # lumen darkness) so colour alone does not give it away.
    local = cv2.GaussianBlur(image.mean(axis=2), (0, 0), 0.05 * scale)
    surface *= (local / max(float(base.mean()), 1e-3))[...,
                                                       None].clip(0.4, 1.3)

    shadow_width = rng.uniform(0.01, 0.03) * scale
    ring = cv2.GaussianBlur(inside, (0, 0), shadow_width) * (1 - inside)
    image = image * (1 - rng.uniform(0.2, 0.5) * ring)[..., None]
    alpha = cv2.GaussianBlur(inside, (0, 0), 0.8)[..., None]
    return image * (1 - alpha) + surface * alpha


def _add_highlights(rng: np.random.Generator, image: np.ndarray,
                    mask: np.ndarray, scale: int) -> np.ndarray:
    """Specular reflections: small saturated white spots, more of them on
    polyps (convex and wet) than on the mucosa."""
    height, width = image.shape[:2]
    spots = np.zeros((height, width), np.float32)

    def spot(x: float, y: float, size: float) -> None:
        axes = (max(1, int(size * rng.uniform(0.6, 1.6))),
                max(1, int(size * rng.uniform(0.3, 0.8))))
        cv2.ellipse(spots, (int(x), int(y)), axes, float(rng.uniform(0, 180)),
                    0, 360, 1.0, -1, cv2.LINE_AA)

    for _ in range(rng.integers(2, 12)):
        spot(
            rng.uniform(0, width), rng.uniform(0, height),
            rng.uniform(0.005, 0.02) * scale)
    ys, xs = np.nonzero(mask)
    if len(xs) and rng.random() < 0.8:
        for _ in range(rng.integers(1, 5)):
            i = rng.integers(len(xs))
            spot(xs[i], ys[i], rng.uniform(0.008, 0.025) * scale)
    spots = cv2.GaussianBlur(spots, (0, 0), 0.8)[..., None]
    white = np.array([1.0, 0.97, 0.95], np.float32)
    return image * (1 - spots) + white * 1.05 * spots
