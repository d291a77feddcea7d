"""RandomImageEnhance and RandomMaskDilateErode: PIL parity, randomness."""
import itertools
from collections import Counter

import cv2
import numpy as np
import pytest
from mmseg.registry import TRANSFORMS
from PIL import Image, ImageEnhance

from ssformer_mmseg.datasets.transforms.augmentations import (
    RandomImageEnhance, RandomMaskDilateErode)

PIL_ENHANCERS = {
    'brightness': ImageEnhance.Brightness,
    'contrast': ImageEnhance.Contrast,
    'sharpness': ImageEnhance.Sharpness,
}


def random_images():
    """Noise (worst case for rounding) and smooth frames, odd sizes too."""
    rng = np.random.default_rng(0)
    images = []
    for h, w in ((352, 352), (37, 53), (4, 3)):
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        images += [noise, cv2.GaussianBlur(noise, (5, 5), 2)]
    # Grey levels 10 and 11 in equal parts: luminance mean exactly 10.5,
    # where PIL's int(mean + 0.5) rounding is decisive.
    images.append(
        np.repeat(np.array([10, 11], np.uint8),
                  8).reshape(4, 4, 1).repeat(3, axis=2))
    return images


def pil_enhance(img: np.ndarray, method: str, factor: float) -> np.ndarray:
    pil = Image.fromarray(np.ascontiguousarray(img[..., ::-1]))
    enhanced = PIL_ENHANCERS[method](pil).enhance(factor)
    return np.asarray(enhanced)[..., ::-1]


def enhance(img: np.ndarray, method: str, factor: float) -> np.ndarray:
    transform = RandomImageEnhance(
        methods=(method, ), prob=1, factor_range=(factor, factor))
    return transform(dict(img=img))['img']


def disk(size: int, radius: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - size // 2
    return (yy**2 + xx**2 <= radius**2).astype(np.uint8)


# ---------------------------------------------------------------- enhance


@pytest.mark.parametrize('method', ['brightness', 'contrast'])
def test_brightness_contrast_bit_exact_with_pil(method):
    for img in random_images():
        for factor in (1.0, 1.0371, 1.05, 1.0999, 0.6, 1.8):
            np.testing.assert_array_equal(
                enhance(img, method, factor), pil_enhance(img, method, factor))


def test_sharpness_within_one_level_of_pil():
    mismatched = total = 0
    for img in random_images():
        for factor in (1.0, 1.0371, 1.05, 1.0999, 0.6, 1.8):
            diff = (
                enhance(img, 'sharpness', factor).astype(int) -
                pil_enhance(img, 'sharpness', factor))
            assert np.abs(diff).max() <= 1
            mismatched += np.count_nonzero(diff)
            total += diff.size
    assert mismatched / total < 1e-3


def test_enhance_accepts_flipped_view():
    img = random_images()[1]
    flipped = np.flip(img, axis=1)  # what RandomFlip hands over
    for method in PIL_ENHANCERS:
        np.testing.assert_array_equal(
            enhance(flipped, method, 1.07),
            enhance(np.ascontiguousarray(flipped), method, 1.07))


def record_calls(monkeypatch):
    """Replace the three adjusters by recorders of (method, factor)."""
    calls = []
    for name in PIL_ENHANCERS:
        monkeypatch.setitem(
            RandomImageEnhance._ADJUSTERS,
            name,
            lambda img, factor, name=name: calls.append((name, factor)) or img)
    return calls


def test_prob_one_applies_all_three_in_random_order(monkeypatch):
    calls = record_calls(monkeypatch)
    transform = RandomImageEnhance(prob=1)
    np.random.seed(0)
    orders = Counter()
    for _ in range(600):
        calls.clear()
        transform(dict(img=np.zeros((4, 4, 3), np.uint8)))
        assert sorted(name for name, _ in calls) == sorted(PIL_ENHANCERS)
        assert all(1.0 <= factor < 1.1 for _, factor in calls)
        orders[tuple(name for name, _ in calls)] += 1
    assert set(orders) == set(itertools.permutations(PIL_ENHANCERS))
    assert all(abs(n / 600 - 1 / 6) < 0.05 for n in orders.values())


def test_each_method_applied_independently_with_prob(monkeypatch):
    calls = record_calls(monkeypatch)
    transform = RandomImageEnhance(prob=0.5)
    np.random.seed(0)
    counts = Counter()
    draws = 3000
    for _ in range(draws):
        calls.clear()
        transform(dict(img=np.zeros((4, 4, 3), np.uint8)))
        counts[len(calls)] += 1
        for name, _ in calls:
            counts[name] += 1
    for name in PIL_ENHANCERS:
        assert abs(counts[name] / draws - 0.5) < 0.03
    # Independence: the number applied is Binomial(3, 0.5).
    for applied, expected in enumerate((1 / 8, 3 / 8, 3 / 8, 1 / 8)):
        assert abs(counts[applied] / draws - expected) < 0.03


def test_prob_zero_leaves_everything_untouched():
    img = random_images()[0]
    mask = disk(352, 100)
    results = dict(img=img, gt_seg_map=mask, seg_fields=['gt_seg_map'])
    out = RandomImageEnhance(prob=0)(dict(results))
    assert out['img'] is img
    assert out == results


def test_enhance_never_touches_mask_or_other_keys():
    img = random_images()[0]
    mask = disk(352, 100)
    results = dict(
        img=img,
        gt_seg_map=mask,
        seg_fields=['gt_seg_map'],
        img_shape=(352, 352))
    out = RandomImageEnhance(prob=1, factor_range=(1.1, 1.1))(dict(results))
    assert not np.array_equal(out['img'], img)
    assert out['gt_seg_map'] is mask
    np.testing.assert_array_equal(mask, disk(352, 100))
    assert {k: v for k, v in out.items() if k != 'img'} == \
        {k: v for k, v in results.items() if k != 'img'}


def test_enhance_deterministic_under_seed():
    img = random_images()[0]
    transform = RandomImageEnhance()
    outputs = []
    for seed in (0, 0, 1):
        np.random.seed(seed)
        outputs.append([transform(dict(img=img))['img'] for _ in range(5)])
    for first, second in zip(outputs[0], outputs[1]):
        np.testing.assert_array_equal(first, second)
    assert any(not np.array_equal(a, b)
               for a, b in zip(outputs[0], outputs[2]))


@pytest.mark.parametrize('img', [
    np.zeros((8, 8, 3), np.float32),
    np.zeros((8, 8), np.uint8),
    np.zeros((8, 8, 4), np.uint8),
])
def test_enhance_rejects_non_bgr_uint8(img):
    with pytest.raises(ValueError, match='HxWx3 uint8'):
        RandomImageEnhance(prob=0)(dict(img=img))


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(methods='contrast'), TypeError, 'sequence of method names'),
    (dict(methods=()), ValueError, 'at least one'),
    (dict(methods=('contrast', 'colour')), ValueError, 'unknown'),
    (dict(methods=('contrast', 'contrast')), ValueError, 'distinct'),
    (dict(prob=1.5), ValueError, r'prob must be in \[0, 1\]'),
    (dict(prob=-0.1), ValueError, r'prob must be in \[0, 1\]'),
    (dict(prob='0.5'), ValueError, r'prob must be in \[0, 1\]'),
    (dict(factor_range=1.1), TypeError, 'pair of numbers'),
    (dict(factor_range=(1.0, 1.1, 1.2)), TypeError, 'pair of numbers'),
    (dict(factor_range=(1.2, 1.1)), ValueError, 'low <= high'),
    (dict(factor_range=(-0.1, 1.1)), ValueError, '0 <= low'),
])
def test_enhance_argument_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        RandomImageEnhance(**kwargs)


# ------------------------------------------------------------ dilate/erode


def mask_transform(operation: str, size: int) -> RandomMaskDilateErode:
    """A transform that always performs ``operation`` with a size-k kernel."""
    return RandomMaskDilateErode(
        kernel_range=(size, size + 1),
        dilate_prob=float(operation == 'dilate'),
        erode_prob=float(operation == 'erode'))


def morph(mask: np.ndarray, operation: str, size: int) -> np.ndarray:
    results = dict(gt_seg_map=mask, seg_fields=['gt_seg_map'])
    return mask_transform(operation, size)(results)['gt_seg_map']


def equivalent_radius(mask: np.ndarray) -> float:
    return float(np.sqrt(mask.sum() / np.pi))


@pytest.mark.parametrize('size', [2, 3, 4, 5, 7])
def test_dilation_and_erosion_move_disk_boundary_by_kernel_radius(size):
    original = disk(61, 15)
    dilated = morph(original, 'dilate', size)
    eroded = morph(original, 'erode', size)
    # A k x k element reaches (k - 1) / 2 pixels from its centre.
    assert abs(equivalent_radius(original) - 15) < 0.1
    assert abs(equivalent_radius(dilated) - (15 + (size - 1) / 2)) < 0.3
    assert abs(equivalent_radius(eroded) - (15 - (size - 1) / 2)) < 0.3
    assert np.all(dilated >= original) and np.all(eroded <= original)
    assert dilated.dtype == eroded.dtype == original.dtype
    if size % 2:  # odd elements are centred: the disk stays symmetric
        for out in (dilated, eroded):
            np.testing.assert_array_equal(out, out[::-1])
            np.testing.assert_array_equal(out, out[:, ::-1])


def reference_morph(seg: np.ndarray, operation: str, size: int) -> np.ndarray:
    """Per-pixel definition: ignore pixels neither grow nor eat foreground.

    Neighbour offsets are those of the ellipse relative to cv2's anchor
    (size // 2); neighbours outside the image do not count.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    offsets = [(i - size // 2, j - size // 2)
               for i, j in zip(*np.nonzero(kernel))]
    h, w = seg.shape
    out = seg.copy()
    for y, x in itertools.product(range(h), range(w)):
        if seg[y, x] == 255:
            continue
        neighbours = [
            seg[y + dy, x + dx] for dy, dx in offsets
            if 0 <= y + dy < h and 0 <= x + dx < w
        ]
        if operation == 'dilate':
            out[y, x] = any(n == 1 for n in neighbours)
        else:
            out[y, x] = all(n != 0 for n in neighbours)
    return out


@pytest.mark.parametrize('operation', ['dilate', 'erode'])
@pytest.mark.parametrize('size', [2, 3, 4])
def test_morphology_matches_definition_with_ignore(operation, size):
    rng = np.random.default_rng(size)
    for _ in range(3):
        seg = (rng.random((23, 19)) < 0.5).astype(np.uint8)
        seg = cv2.medianBlur(seg, 3)  # blobs rather than salt and pepper
        seg[rng.random(seg.shape) < 0.05] = 255
        seg[5:9, 3:15] = 255
        np.testing.assert_array_equal(
            morph(seg, operation, size), reference_morph(seg, operation, size))


def test_ignore_pixels_kept_and_never_grow_or_eat_foreground():
    seg = np.zeros((20, 20), np.uint8)
    seg[:, 8:12] = 255  # ignore band, background on its left
    seg[5:15, 12:18] = 1  # object touching the band on its right
    dilated = morph(seg, 'dilate', 3)
    eroded = morph(seg, 'erode', 3)
    for out in (dilated, eroded):
        np.testing.assert_array_equal(out == 255, seg == 255)
    assert not dilated[:, :8].any()  # 255 did not spread as foreground
    assert dilated[4, 14] == 1  # ... while the object did grow
    assert eroded[6:14, 12].all()  # side on the band kept
    assert not eroded[5, 14] and not eroded[6:14, 17].any()


def test_morphology_keeps_dtype_and_accepts_flipped_view():
    seg = np.flip(disk(31, 6), axis=0).astype(np.int64)
    out = morph(seg, 'dilate', 3)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, morph(disk(31, 6), 'dilate', 3))


def test_operation_frequencies_and_kernel_sizes():
    square = np.zeros((21, 21), np.uint8)
    square[6:15, 6:15] = 1
    # Every (operation, k) leaves a distinct area on this square.
    outcome_by_area = {int(square.sum()): ('none', 0)}
    for operation, size in itertools.product(('dilate', 'erode'), range(2, 7)):
        area = int(morph(square, operation, size).sum())
        assert area not in outcome_by_area
        outcome_by_area[area] = (operation, size)

    transform = RandomMaskDilateErode()
    np.random.seed(0)
    draws = 3000
    outcomes = Counter()
    for _ in range(draws):
        results = dict(gt_seg_map=square, seg_fields=['gt_seg_map'])
        area = int(transform(results)['gt_seg_map'].sum())
        outcomes[outcome_by_area[area]] += 1
    operations = Counter()
    sizes = Counter()
    for (operation, size), n in outcomes.items():
        operations[operation] += n
        if operation != 'none':
            sizes[size] += n
    for operation in ('dilate', 'erode', 'none'):
        assert abs(operations[operation] / draws - 1 / 3) < 0.03
    assert set(sizes) == {2, 3, 4}  # the upper bound 5 is exclusive
    applied = sum(sizes.values())
    assert all(abs(n / applied - 1 / 3) < 0.04 for n in sizes.values())


def test_same_operation_on_every_seg_field_and_image_untouched():
    img = np.zeros((31, 31, 3), np.uint8)
    results = dict(
        img=img,
        gt_seg_map=disk(31, 6),
        aux_map=disk(31, 10),
        other_map=disk(31, 3),
        seg_fields=['gt_seg_map', 'aux_map'])
    out = mask_transform('dilate', 3)(results)
    assert out['img'] is img and not img.any()
    np.testing.assert_array_equal(out['gt_seg_map'],
                                  morph(disk(31, 6), 'dilate', 3))
    np.testing.assert_array_equal(out['aux_map'],
                                  morph(disk(31, 10), 'dilate', 3))
    np.testing.assert_array_equal(out['other_map'], disk(31, 3))


def test_mask_untouched_without_seg_fields_or_when_skipped():
    mask = disk(9, 2)
    out = mask_transform('dilate', 3)(dict(gt_seg_map=mask))
    assert out['gt_seg_map'] is mask
    results = dict(gt_seg_map=mask, seg_fields=['gt_seg_map'])
    skip = RandomMaskDilateErode(dilate_prob=0, erode_prob=0)
    assert skip(results)['gt_seg_map'] is mask


def test_mask_deterministic_under_seed():
    transform = RandomMaskDilateErode()
    outputs = []
    for seed in (0, 0):
        np.random.seed(seed)
        outputs.append([
            transform(
                dict(gt_seg_map=disk(41, 12),
                     seg_fields=['gt_seg_map']))['gt_seg_map']
            for _ in range(20)
        ])
    for first, second in zip(*outputs):
        np.testing.assert_array_equal(first, second)
    assert len({out.tobytes() for out in outputs[0]}) > 1


def test_mask_rejects_unexpected_labels():
    seg = disk(9, 2)
    seg[0, 0] = 2
    with pytest.raises(ValueError, match=r'found labels \[2\]'):
        morph(seg, 'erode', 3)


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(kernel_range=3), TypeError, 'pair of integers'),
    (dict(kernel_range=(2.0, 5)), TypeError, 'pair of integers'),
    (dict(kernel_range=(2, 5, 7)), TypeError, 'pair of integers'),
    (dict(kernel_range=(3, 3)), ValueError, 'exclusive'),
    (dict(kernel_range=(0, 3)), ValueError, '1 <= low < high'),
    (dict(dilate_prob=1.2), ValueError, r'dilate_prob must be in \[0, 1\]'),
    (dict(erode_prob=-0.5), ValueError, r'erode_prob must be in \[0, 1\]'),
    (dict(dilate_prob=0.6, erode_prob=0.6), ValueError, 'must not exceed 1'),
])
def test_mask_argument_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        RandomMaskDilateErode(**kwargs)


# ------------------------------------------------------ registry and repr


def test_registered_and_built_from_config():
    assert TRANSFORMS.get('RandomImageEnhance') is RandomImageEnhance
    assert TRANSFORMS.get('RandomMaskDilateErode') is RandomMaskDilateErode
    enhance_t = TRANSFORMS.build(
        dict(
            type='RandomImageEnhance',
            methods=['contrast', 'brightness'],
            prob=0.3,
            factor_range=[1.0, 1.2]))
    morph_t = TRANSFORMS.build(
        dict(
            type='RandomMaskDilateErode',
            kernel_range=[3, 6],
            dilate_prob=0.2,
            erode_prob=0.5))
    assert isinstance(enhance_t, RandomImageEnhance)
    assert enhance_t.methods == ('contrast', 'brightness')
    assert enhance_t.factor_range == (1.0, 1.2)
    assert isinstance(morph_t, RandomMaskDilateErode)
    assert morph_t.kernel_range == (3, 6)


def test_repr():
    assert repr(RandomImageEnhance()) == (
        "RandomImageEnhance(methods=('contrast', 'sharpness', 'brightness'), "
        'prob=0.5, factor_range=(1.0, 1.1))')
    assert repr(RandomMaskDilateErode(dilate_prob=0.25, erode_prob=0.5)) == (
        'RandomMaskDilateErode(kernel_range=(2, 5), dilate_prob=0.25, '
        'erode_prob=0.5)')
