"""Polyp datasets and loading transforms: pairing, splits, bad files."""
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmseg.registry import DATASETS, TRANSFORMS

from ssformer_mmseg.datasets import (CVC300Dataset, CVCClinicDBDataset,
                                     CVCColonDBDataset,
                                     ETISLaribPolypDBDataset, KvasirSEGDataset,
                                     PolypDataset, PolypFileError)
from ssformer_mmseg.datasets.image_io import (DEFAULT_MAX_PIXELS,
                                              MAX_PIXELS_ENV, max_pixels,
                                              read_header)
from ssformer_mmseg.datasets.polyp_files import read_image, read_mask

TEST_PIPELINE = [
    dict(type='LoadPolypImage'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='LoadPolypAnnotations'),
    dict(type='PackSegInputs'),
]


def frame(height=24, width=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def disk_mask(height=24, width=32):
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, (width // 2, height // 2),
               min(height, width) // 4, 255, -1)
    return mask


def write_set(root,
              folder='',
              stems=('a', 'b', 'c'),
              img_ext='.jpg',
              mask_ext='.png'):
    """A set in the prepared layout: <root>/<folder>/{images,masks}."""
    img_dir = osp.join(root, folder, 'images')
    mask_dir = osp.join(root, folder, 'masks')
    for path in (img_dir, mask_dir):
        __import__('os').makedirs(path, exist_ok=True)
    for i, stem in enumerate(stems):
        cv2.imwrite(osp.join(img_dir, stem + img_ext), frame(seed=i))
        cv2.imwrite(osp.join(mask_dir, stem + mask_ext), disk_mask())
    return img_dir, mask_dir


def infos(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def build(root, **kwargs):
    kwargs.setdefault('pipeline', TEST_PIPELINE)
    return PolypDataset(data_root=str(root), **kwargs)


def test_pairs_by_stem_whatever_the_suffix(tmp_path):
    img_dir, mask_dir = write_set(tmp_path, img_ext='.jpg', mask_ext='.png')
    cv2.imwrite(osp.join(img_dir, 'd.tif'), frame())
    cv2.imwrite(osp.join(mask_dir, 'd.bmp'), disk_mask())
    dataset = build(tmp_path)
    assert [osp.basename(d['img_path'])
            for d in infos(dataset)] == ['a.jpg', 'b.jpg', 'c.jpg', 'd.tif']
    assert [osp.basename(d['seg_map_path'])
            for d in infos(dataset)] == ['a.png', 'b.png', 'c.png', 'd.bmp']
    assert dataset.metainfo['classes'] == ('background', 'polyp')
    assert len(dataset.metainfo['palette']) == 2


def test_split_file_selects_in_its_order(tmp_path):
    write_set(tmp_path)
    (tmp_path / 'split.txt').write_text('c\n\na\n')
    dataset = build(tmp_path, ann_file='split.txt')
    assert [osp.basename(d['img_path'])
            for d in infos(dataset)] == ['c.jpg', 'a.jpg']


def test_sample_has_binary_mask_at_original_size(tmp_path):
    write_set(tmp_path)
    sample = build(tmp_path)[0]
    assert sample['inputs'].shape == (3, 64, 64)
    gt = sample['data_samples'].gt_sem_seg.data
    assert gt.shape == (1, 24, 32)
    assert set(gt.unique().tolist()) == {0, 1}
    assert sample['data_samples'].ori_shape == (24, 32)


@pytest.mark.parametrize('cls,folder,name', [
    (KvasirSEGDataset, 'kvasir-seg', 'Kvasir'),
    (CVCClinicDBDataset, 'cvc-clinicdb', 'CVC-ClinicDB'),
    (CVCColonDBDataset, 'cvc-colondb', 'CVC-ColonDB'),
    (ETISLaribPolypDBDataset, 'etis-laribpolypdb', 'ETIS-LaribPolypDB'),
    (CVC300Dataset, 'cvc-300', 'CVC-300'),
])
def test_named_sets_find_their_folder(tmp_path, cls, folder, name):
    write_set(tmp_path, folder, stems=('1', '2'), img_ext='.png')
    assert DATASETS.get(cls.__name__) is cls
    dataset = DATASETS.build(dict(type=cls.__name__, data_root=str(tmp_path)))
    assert len(dataset) == 2
    info = dataset.get_data_info(0)
    assert info['img_path'] == osp.join(
        str(tmp_path), folder, 'images', '1.png')
    assert info['dataset_name'] == name
    assert dataset.metainfo == PolypDataset(
        data_root=str(tmp_path),
        data_prefix=dict(
            img_path=f'{folder}/images',
            seg_map_path=f'{folder}/masks')).metainfo


def test_jpeg_masks_binarise_exactly(tmp_path):
    path = str(tmp_path / 'mask.jpg')
    cv2.imwrite(path, cv2.cvtColor(disk_mask(), cv2.COLOR_GRAY2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 60])
    noisy = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    assert len(np.unique(noisy)) > 2  # JPEG noise is really there
    mask = read_mask(path)
    assert mask.dtype == np.uint8
    assert np.array_equal(mask, (disk_mask() > 127).astype(np.uint8))


def test_soft_mask_edges_binarise_at_127(tmp_path):
    soft = cv2.GaussianBlur(disk_mask(240, 320), (5, 5), 0)
    path = str(tmp_path / 'soft.tif')
    cv2.imwrite(path, soft)
    assert np.array_equal(read_mask(path), (soft > 127).astype(np.uint8))


# Bad input: each error names the file ---------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(PolypFileError, match='images: image folder does not'):
        build(tmp_path)


def test_empty_folder(tmp_path):
    img_dir, _ = write_set(tmp_path, stems=())
    with pytest.raises(PolypFileError, match=f'{img_dir}: no image files'):
        build(tmp_path)


def test_image_without_mask(tmp_path):
    img_dir, mask_dir = write_set(tmp_path)
    cv2.imwrite(osp.join(img_dir, 'lonely.jpg'), frame())
    with pytest.raises(PolypFileError, match='images without mask') as info:
        build(tmp_path)
    assert 'lonely.jpg' in str(info.value)


def test_mask_without_image(tmp_path):
    _, mask_dir = write_set(tmp_path)
    cv2.imwrite(osp.join(mask_dir, 'orphan.png'), disk_mask())
    with pytest.raises(PolypFileError, match='orphan.png'):
        build(tmp_path)


def test_two_files_with_one_stem(tmp_path):
    img_dir, _ = write_set(tmp_path)
    cv2.imwrite(osp.join(img_dir, 'a.png'), frame())
    with pytest.raises(
            PolypFileError, match=r"a\.png: shares the stem 'a' with") as info:
        build(tmp_path)
    assert 'a.jpg' in str(info.value) and 'a.png' in str(info.value)


@pytest.mark.parametrize('content,problem', [
    ('a\nz_missing\n', r"stems not in .*images: 'z_missing' \(line 2\)"),
    ('a\na\n', "stem 'a' on lines 1 and 2"),
    ('\n\n', 'lists no stems'),
])
def test_bad_split_file(tmp_path, content, problem):
    write_set(tmp_path)
    split = tmp_path / 'split.txt'
    split.write_text(content)
    with pytest.raises(PolypFileError, match=problem) as info:
        build(tmp_path, ann_file='split.txt')
    assert str(split) in str(info.value)


def corrupt(path):
    with open(path, 'wb') as f:
        f.write(b'not an image at all' * 10)


def truncate(path):
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) - 10])


def grayscale(path):
    cv2.imwrite(path, frame()[..., 0])


def rgba(path):
    cv2.imwrite(
        osp.splitext(path)[0] + '.png',
        np.dstack([frame(), np.full((24, 32), 255, np.uint8)]))


@pytest.mark.parametrize('damage,problem', [
    (corrupt, 'cannot be decoded'),
    (truncate, 'truncated JPEG'),
    (grayscale, 'grayscale image'),
    (rgba, 'RGBA image'),
])
def test_bad_image_stops_with_its_path(tmp_path, damage, problem):
    img_dir, _ = write_set(tmp_path)
    path = osp.join(img_dir, 'b.jpg')
    damage(path)
    if damage is rgba:
        __import__('os').remove(path)
        path = osp.join(img_dir, 'b.png')
    dataset = build(tmp_path)
    with pytest.raises(PolypFileError, match=problem) as info:
        dataset[1]
    assert info.value.path == path and str(info.value).startswith(path)


def mask_of_other_size(path):
    cv2.imwrite(path, disk_mask(20, 32))


def mask_coded_0_1(path):
    cv2.imwrite(path, (disk_mask() > 0).astype(np.uint8))


def grey_mask(path):
    cv2.imwrite(path, disk_mask() // 2)


def colour_mask(path):
    colour = np.zeros((24, 32, 3), np.uint8)
    colour[disk_mask() > 0] = (0, 0, 255)
    cv2.imwrite(path, colour)


@pytest.mark.parametrize('damage,problem', [
    (corrupt, 'cannot be decoded'),
    (mask_of_other_size, r'mask is 32x20 but its image .*b\.jpg is 32x24'),
    (mask_coded_0_1, r'values \[0, 1\] look like class indices'),
    (grey_mask, 'grey'),
    (colour_mask, 'colour mask'),
])
def test_bad_mask_stops_with_its_path(tmp_path, damage, problem):
    _, mask_dir = write_set(tmp_path)
    path = osp.join(mask_dir, 'b.png')
    damage(path)
    dataset = build(tmp_path)
    with pytest.raises(PolypFileError, match=problem) as info:
        dataset[1]
    assert info.value.path == path


# Run in a fresh interpreter: in the suite's process (where OpenVINO and
# ONNX Runtime have run) joining the DataLoader worker after its error
# crashed the interpreter (SIGSEGV in PyEval_RestoreThread under
# _shutdown_workers), whenever the iterator was collected.
_WORKER_SCRIPT = """
import sys
import torch
import ssformer_mmseg
from mmengine.registry import init_default_scope
from ssformer_mmseg.datasets import PolypDataset, PolypFileError
init_default_scope('mmseg')
loader = torch.utils.data.DataLoader(
    PolypDataset(data_root=sys.argv[1], pipeline=%r),
    batch_size=1, num_workers=1, collate_fn=lambda batch: batch)
try:
    list(loader)
except PolypFileError as error:
    print(error)
    sys.exit(3)
"""


def test_corrupt_image_in_a_worker_reports_its_path(tmp_path):
    img_dir, _ = write_set(tmp_path)
    corrupt(osp.join(img_dir, 'c.jpg'))
    result = subprocess.run([
        sys.executable, '-c', _WORKER_SCRIPT % (TEST_PIPELINE, ),
        str(tmp_path)
    ],
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 3, result.stderr[-2000:]
    assert osp.join(img_dir, 'c.jpg') in result.stdout


@pytest.fixture
def no_decoding(monkeypatch):
    """Any pixel decoding (OpenCV or Pillow) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError('pixels were decoded')

    monkeypatch.setattr(cv2, 'imdecode', refuse)
    monkeypatch.setattr('PIL.ImageFile.ImageFile.load', refuse)


@pytest.mark.parametrize('reader', [read_image, read_mask])
def test_size_bomb_is_refused_from_its_header(tmp_path, write_png_header,
                                              no_decoding, reader):
    # 254 bytes claiming 60000x60000: OpenCV raised its own cv2.error,
    # Pillow its DecompressionBombError.
    path = str(tmp_path / 'bomb.png')
    write_png_header(path, 60000, 60000)
    with pytest.raises(PolypFileError) as info:
        reader(path)
    assert info.value.path == path
    assert '3,600,000,000 pixels, over the limit of ' \
        f'{DEFAULT_MAX_PIXELS:,} pixels' in str(info.value)
    assert MAX_PIXELS_ENV in str(info.value)


def test_sixteen_bit_rgba_is_refused_before_decoding(tmp_path,
                                                     write_png_header,
                                                     monkeypatch, no_decoding):
    # Pillow opens it as 8-bit 'RGBA': the depth is read from the IHDR.
    monkeypatch.setenv(MAX_PIXELS_ENV, str(10**9))
    path = str(tmp_path / 'deep.png')
    write_png_header(path, 8000, 8000, bits=16, colour_type=6)
    with pytest.raises(PolypFileError, match='16-bit image; expected 8 bits'):
        read_image(path)
    with pytest.raises(PolypFileError, match='16-bit mask; expected 8 bits'):
        read_mask(path)


def test_header_of_real_files(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.jpg'), frame(30, 40))
    cv2.imwrite(str(tmp_path / 'b.png'), frame(30, 40).astype(np.uint16))
    cv2.imwrite(str(tmp_path / 'c.tif'), frame(30, 40)[..., 0])
    headers = [
        read_header((tmp_path / name).read_bytes(), name)
        for name in ('a.jpg', 'b.png', 'c.tif')
    ]
    assert [(h.width, h.height, h.bits, h.format)
            for h in headers] == [(40, 30, 8, 'JPEG'), (40, 30, 16, 'PNG'),
                                  (40, 30, 8, 'TIFF')]


def test_pixel_limit_follows_the_environment(tmp_path, monkeypatch):
    path = str(tmp_path / 'a.png')
    cv2.imwrite(path, frame(30, 40))
    monkeypatch.setenv(MAX_PIXELS_ENV, str(40 * 30))
    assert max_pixels() == 1200 and read_image(path).shape == (30, 40, 3)
    monkeypatch.setenv(MAX_PIXELS_ENV, str(40 * 30 - 1))
    with pytest.raises(
            PolypFileError,
            match=r'is 40x30 \(1,200 pixels\), over the limit of '
            '1,199'):
        read_image(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, 'lots')
    with pytest.raises(ValueError, match=f"{MAX_PIXELS_ENV}='lots'"):
        max_pixels()


def test_opencv_errors_become_polyp_file_errors(tmp_path, monkeypatch):
    path = str(tmp_path / 'a.png')
    cv2.imwrite(path, frame())

    def fail(*args):
        raise cv2.error('OpenCV internal failure')

    monkeypatch.setattr(cv2, 'imdecode', fail)
    # Pillow, the fallback decoder, still reads it.
    assert read_image(path).shape == (24, 32, 3)
    (tmp_path /
     'b.png').write_bytes(open(path, 'rb').read()[:60] + b'IEND\xaeB`\x82')
    with pytest.raises(PolypFileError) as info:
        read_image(str(tmp_path / 'b.png'))
    assert 'cannot be decoded' in str(info.value)


def test_loading_transforms_are_registered():
    assert TRANSFORMS.get('LoadPolypImage') is not None
    assert TRANSFORMS.get('LoadPolypAnnotations') is not None


def test_read_image_returns_bgr(tmp_path):
    path = str(tmp_path / 'x.png')
    image = frame()
    cv2.imwrite(path, image)
    assert np.array_equal(read_image(path), image)
