"""Inference (tools/infer.py, PolypSegmenter), mmseg's own inference APIs
with our configs, and ONNX export (tools/export_onnx.py) with parity.

The shared tiny SSFormer-S of conftest.py (embed_dims 8, one layer per
stage, 8 channels) at a 128x128 input, with random weights, keeps every test
fast; nothing is downloaded.
"""
import os
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch

from conftest import CONFIG_DIR
from ssformer_mmseg.apis import (PolypSegmenter, config_test_pipeline,
                                 draw_overlay, inference_config, list_images,
                                 network_input_size, onnx_export, onnx_parity,
                                 require, run_inference)
from ssformer_mmseg.config import load_config
from ssformer_mmseg.datasets import PolypDataset, PolypFileError

# The sizes of the test frames: odd, landscape and portrait, none 352.
SIZES = [(61, 83), (97, 53), (40, 40)]

# Network input of the tests: the real configs resize to 352x352 (checked
# below); 128x128 runs the same code about 7x faster.
INPUT = 128


@pytest.fixture(scope='module')
def make_config(make_tiny_config):
    """``make_config()``: the shared tiny SSFormer-S config (of
    ``configs/ssformer_s_kvasir.py``) resized to ``INPUT`` x ``INPUT``; a
    new :class:`~mmengine.Config` per call."""

    def make():
        cfg = make_tiny_config()
        for pipeline in (cfg.test_pipeline,
                         cfg.test_dataloader.dataset.pipeline):
            assert pipeline[1]['type'] == 'Resize'
            pipeline[1]['scale'] = (INPUT, INPUT)
        return cfg

    return make


def frame(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random BGR frame (not pure noise, so predictions vary)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope='module')
def checkpoint(make_config, tmp_path_factory):
    """A tiny SSFormer-S checkpoint with the dataset_meta a Runner saves."""
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(make_config().model).eval()
    # Random weights call everything polyp; spread and centre the logits on
    # the test frames so masks have both classes and logits a trained
    # model's range (about +-10).
    frames = [frame(h, w, i) for i, (h, w) in enumerate(SIZES)]
    inputs = [
        torch.from_numpy(cv2.resize(f, (INPUT, INPUT))).permute(2, 0, 1)
        for f in frames
    ]
    with torch.no_grad():
        batch = model.data_preprocessor(dict(inputs=inputs), False)['inputs']
        classifier = model.decode_head.conv_seg
        logits = model(batch, mode='tensor')
        classifier.weight.mul_(4 / logits.std())
        classifier.bias.mul_(4 / logits.std())
        classifier.bias.sub_(model(batch, mode='tensor').median())
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(
        dict(
            state_dict=model.state_dict(),
            meta=dict(dataset_meta=dict(PolypDataset.METAINFO))), path)
    return str(path)


@pytest.fixture(scope='module')
def segmenter(make_config, checkpoint):
    return PolypSegmenter(make_config(), checkpoint)


@pytest.fixture
def images(tmp_path):
    """A folder of three PNG/JPEG frames of different sizes."""
    folder = tmp_path / 'frames'
    folder.mkdir()
    paths = []
    for i, (h, w) in enumerate(SIZES):
        path = folder / f'frame{i}.{"jpg" if i == 1 else "png"}'
        cv2.imwrite(str(path), frame(h, w, i))
        paths.append(str(path))
    return folder, paths


@pytest.fixture(scope='module')
def run_infer(run_tool):
    """``run_infer(config, checkpoint, input, out_dir, *options)``:
    ``tools/infer.py`` in a subprocess (a :class:`conftest.ToolRun`)."""

    def run(config_path, checkpoint, source, out_dir, *extra):
        return run_tool('tools/infer.py', config_path, checkpoint, source,
                        '--out-dir', out_dir, '--no-progress', *extra)

    return run


@pytest.fixture(scope='module')
def config_file(make_config, make_tiny_config_file):
    """The tiny config as a file, for the command-line tools."""
    return make_tiny_config_file(make_config())


def check_outputs(out_dir, stem, size):
    mask = cv2.imread(
        str(out_dir / 'masks' / f'{stem}.png'), cv2.IMREAD_UNCHANGED)
    prob = cv2.imread(
        str(out_dir / 'probs' / f'{stem}.png'), cv2.IMREAD_UNCHANGED)
    overlay = cv2.imread(
        str(out_dir / 'overlays' / f'{stem}.png'), cv2.IMREAD_UNCHANGED)
    assert mask.shape == prob.shape == size
    assert overlay.shape == (*size, 3)
    assert mask.dtype == prob.dtype == overlay.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 255}
    # The mask is the float probability > 0.5; in the 8-bit map that is
    # > 127 except where 255 * prob rounds to 128 from 127.5 or below.
    disagree = (mask == 255) != (prob > 127)
    assert (prob[disagree] == 128).all()
    return mask, prob, overlay


# ---------------------------------------------------------------------------
# tools/infer.py: image, folder, video
# ---------------------------------------------------------------------------
@pytest.mark.subprocess
def test_single_image(config_file, checkpoint, images, tmp_path, run_infer):
    _, paths = images
    out = tmp_path / 'out'
    result = run_infer(config_file, checkpoint, paths[0], out)
    assert result.code == 0, result.stderr
    check_outputs(out, 'frame0', SIZES[0])
    assert sorted(os.listdir(out / 'masks')) == ['frame0.png']
    assert 'segmented 1 frame(s)' in result.stdout
    assert 'pytorch fp32 on cpu' in result.stdout


@pytest.mark.subprocess
def test_folder_in_batches(config_file, checkpoint, images, tmp_path,
                           run_infer):
    folder, _ = images
    (folder / 'notes.txt').write_text('not an image')
    (folder / '.hidden.png').write_bytes(b'')  # OS clutter: ignored
    (folder / 'subfolder').mkdir()  # not read
    out = tmp_path / 'out'
    result = run_infer(config_file, checkpoint, folder, out, '--batch-size',
                       '2')
    assert result.code == 0, result.stderr
    for i, size in enumerate(SIZES):
        check_outputs(out, f'frame{i}', size)
    for kind in ('masks', 'probs', 'overlays'):
        assert len(os.listdir(out / kind)) == len(SIZES)
    printed = result.stdout
    assert 'skipped 1 non-image file(s): notes.txt' in printed
    assert f'segmented {len(SIZES)} frame(s)' in printed


def test_batch_size_does_not_change_results(segmenter):
    frames = [frame(h, w, i) for i, (h, w) in enumerate(SIZES)]
    together = segmenter(frames)
    alone = [segmenter([f])[0] for f in frames]
    for a, b, (h, w) in zip(together, alone, SIZES):
        assert a.shape == (h, w) and a.dtype == np.float32
        assert 0 < (a > 0.5).mean() < 1  # both classes: the checks bite
        np.testing.assert_allclose(a, b, atol=1e-5)


def write_video(path, frames, fps):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
        frames[0].shape[1::-1])
    assert writer.isOpened(), 'OpenCV cannot write mp4v here'
    for image in frames:
        writer.write(image)
    writer.release()


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return fps, frames


@pytest.mark.subprocess
@pytest.mark.parametrize('save_frames', [False, True])
def test_video(config_file, checkpoint, tmp_path, save_frames, run_infer):
    frames = [frame(48, 64, i) for i in range(5)]
    video = tmp_path / 'clip.mp4'
    write_video(video, frames, fps=10)
    out = tmp_path / 'out'
    extra = ['--batch-size', '2'] + (['--save-frames'] if save_frames else [])
    result = run_infer(config_file, checkpoint, video, out, *extra)
    assert result.code == 0, result.stderr
    assert f'wrote {out / "clip_overlay.mp4"}' in result.stdout

    fps, overlays = read_video(out / 'clip_overlay.mp4')
    assert fps == pytest.approx(10)
    assert len(overlays) == len(frames)
    assert all(o.shape == (48, 64, 3) for o in overlays)
    if save_frames:
        for i in range(len(frames)):
            check_outputs(out, f'clip_{i:06d}', (48, 64))
        assert len(os.listdir(out / 'masks')) == len(frames)
    else:
        assert not (out / 'masks').exists()


def test_video_frames_match_image_path(segmenter, tmp_path):
    """Frames decoded from a video go through the same code as images."""
    frames = [frame(48, 64, i) for i in range(3)]
    video = tmp_path / 'clip.avi'
    write_video(video, frames, fps=5)  # mp4v in AVI: decodes everywhere
    _, decoded = read_video(video)
    run_inference(
        segmenter,
        str(video),
        str(tmp_path / 'v'),
        batch_size=2,
        save_frames=True,
        progress=False)
    for i, image in enumerate(decoded):
        expected = segmenter([image])[0]
        prob = cv2.imread(
            str(tmp_path / 'v' / 'probs' / f'clip_{i:06d}.png'),
            cv2.IMREAD_UNCHANGED)
        assert np.abs(prob.astype(int) - np.rint(expected * 255)).max() <= 1


@pytest.mark.subprocess
def test_corrupt_image_in_folder_is_named(config_file, checkpoint, segmenter,
                                          images, tmp_path, run_infer):
    folder, paths = images
    data = open(paths[1], 'rb').read()
    bad = folder / 'frame9.jpg'
    bad.write_bytes(data[:len(data) // 2])  # truncated JPEG
    out = tmp_path / 'out'
    result = run_infer(config_file, checkpoint, folder, out)
    assert result.code == 1
    err = result.stderr
    assert str(bad) in err and 'truncated' in err

    with pytest.raises(PolypFileError, match='frame9.jpg'):
        run_inference(segmenter, str(folder), str(out), progress=False)


@pytest.mark.subprocess
def test_bad_inputs(config_file, checkpoint, images, make_config,
                    make_tiny_config, tmp_path, run_infer):
    folder, paths = images
    result = run_infer(config_file, checkpoint, tmp_path / 'missing.png',
                       tmp_path / 'o')
    assert result.code == 1 and 'no such file' in result.stderr
    (folder / 'frame0.jpg').write_bytes(open(paths[1], 'rb').read())
    with pytest.raises(
            PolypFileError,
            match=r"frame0\.png: shares the stem 'frame0' with "
            r'.*frame0\.jpg'):
        list_images(str(folder))
    result = run_infer(config_file, checkpoint, folder, tmp_path / 'o')
    assert result.code == 1 and 'shares the stem' in result.stderr
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(PolypFileError, match=f'{empty}: no image files'):
        list_images(str(empty))
    with pytest.raises(ValueError, match='no test pipeline'):
        PolypSegmenter(make_tiny_config('_base_/models/ssformer_s.py'))
    with pytest.raises(ValueError, match='uint8 BGR'):
        PolypSegmenter(make_config())([np.zeros((8, 8), np.uint8)])


def test_checkpoint_forms(checkpoint, segmenter, make_config, tmp_path):
    """A bare state dict loads too (mmseg's init_model needs 'meta'); a
    checkpoint of another model is refused, not half-loaded."""
    bare = tmp_path / 'bare.pth'
    torch.save(torch.load(checkpoint, weights_only=True)['state_dict'], bare)
    image = frame(40, 40, 3)
    np.testing.assert_array_equal(
        PolypSegmenter(make_config(), str(bare))([image])[0],
        segmenter([image])[0])
    assert segmenter.model.dataset_meta['classes'] == ('background', 'polyp')
    other = make_config()
    other.model.decode_head.channels = 16
    with pytest.raises(RuntimeError, match='size mismatch'):
        PolypSegmenter(other, checkpoint)


@pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is available')
def test_cuda_without_cuda_is_a_clear_error(make_config, checkpoint):
    with pytest.raises(ValueError, match='no usable CUDA'):
        PolypSegmenter(make_config(), checkpoint, device='cuda')


@pytest.mark.subprocess
def test_threshold_option(config_file, checkpoint, images, tmp_path,
                          run_infer):
    _, paths = images
    for threshold, value in (('0', 255), ('1', 0)):
        out = tmp_path / threshold
        result = run_infer(config_file, checkpoint, paths[0], out,
                           '--threshold', threshold)
        assert result.code == 0, result.stderr
        mask = cv2.imread(
            str(out / 'masks' / 'frame0.png'), cv2.IMREAD_UNCHANGED)
        assert (mask == value).all()


def test_overlay_tints_mask_and_outlines_it():
    image = np.full((40, 50, 3), 100, np.uint8)
    mask = np.zeros((40, 50), np.uint8)
    mask[10:30, 15:35] = 255
    out = draw_overlay(image, mask, color=(0, 255, 0), alpha=0.5, thickness=1)
    assert (out[20, 25] == [50, 178, 50]).all()  # inside: tinted
    assert (out[10, 20] == [0, 255, 0]).all()  # on the border: outline
    assert (out[0, 0] == 100).all() and (out[35, 45] == 100).all()
    assert (draw_overlay(image, np.zeros_like(mask)) == image).all()


# ---------------------------------------------------------------------------
# Parity with mmseg, and mmseg's own inference APIs with our configs
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def mmseg_model(make_config, checkpoint):
    from mmseg.apis import init_model
    return init_model(
        inference_config(make_config()), checkpoint, device='cpu')


def test_probabilities_equal_mmseg_inference_model(segmenter, mmseg_model,
                                                   images):
    from mmseg.apis import inference_model
    _, paths = images
    frames = [cv2.imread(path) for path in paths]
    probs = segmenter(frames)
    # Paths first: mmseg's inference_model rewrites model.cfg's loader to
    # LoadImageFromNDArray at the first array input, for good.
    from_paths = inference_model(mmseg_model, paths)
    from_arrays = inference_model(mmseg_model, frames)
    for prob, *results in zip(probs, from_paths, from_arrays):
        for expected in results:
            logits = expected.seg_logits.data[0].numpy()
            assert logits.shape == prob.shape
            np.testing.assert_allclose(prob, logits, atol=1e-5, rtol=0)
            pred = expected.pred_sem_seg.data[0].numpy()
            assert np.array_equal(segmenter.mask(prob) == 255, pred == 1)


def test_mmseg_init_model_reads_dataset_meta(mmseg_model):
    assert mmseg_model.dataset_meta['classes'] == ('background', 'polyp')
    assert mmseg_model.dataset_meta['palette'] == PolypDataset.METAINFO[
        'palette']


def test_mmseg_inferencer(checkpoint, segmenter, images, make_config,
                          tmp_path):
    from mmseg.apis import MMSegInferencer
    _, paths = images
    inferencer = MMSegInferencer(
        model=inference_config(make_config()),
        weights=checkpoint,
        device='cpu')
    assert inferencer.model.dataset_meta['classes'] == ('background', 'polyp')
    frames = [cv2.imread(path) for path in paths]
    result = inferencer([paths[0], frames[1]],
                        batch_size=2,
                        out_dir=str(tmp_path / 'mmseg'))
    for pred, image in zip(result['predictions'], frames):
        expected = segmenter.mask(segmenter([image])[0]) == 255
        assert pred.shape == image.shape[:2]
        assert np.array_equal(pred == 1, expected)
    assert len(os.listdir(tmp_path / 'mmseg' / 'vis')) == 2
    assert len(os.listdir(tmp_path / 'mmseg' / 'pred')) == 2


def test_mmseg_inference_model_with_configs_as_written(checkpoint, images,
                                                       segmenter, make_config):
    """init_model + inference_model take our test pipelines unchanged:
    LoadPolypAnnotations passes samples without a mask through."""
    from mmseg.apis import inference_model, init_model
    _, paths = images
    model = init_model(make_config(), checkpoint, device='cpu')
    result = inference_model(model, paths[0])
    prob = segmenter([cv2.imread(paths[0])])[0]
    np.testing.assert_allclose(
        result.seg_logits.data[0].numpy(), prob, atol=1e-5, rtol=0)


def test_mmseg_inferencer_needs_inference_config(checkpoint, make_config):
    """Why inference_config exists (mmseg 1.2.2 is pinned): the inferencer
    only knows mmcv's loader name, not our checked polyp loader."""
    from mmseg.apis import MMSegInferencer
    with pytest.raises(ValueError, match='LoadImageFromFile is not found'):
        MMSegInferencer(model=make_config(), weights=checkpoint, device='cpu')


@pytest.mark.parametrize('name',
                         ['ssformer_s_kvasir.py', 'ssformer_l_pranet.py'])
def test_inference_config_of_runnable_configs(name):
    cfg = load_config(osp.join(CONFIG_DIR, name))
    before = cfg.pretty_text
    inference = inference_config(cfg)
    assert cfg.pretty_text == before  # the input is not modified
    types = [t['type'] for t in inference.test_pipeline]
    assert types == ['LoadPolypImage', 'Resize', 'PackSegInputs']
    types = [t['type'] for t in inference.test_dataloader.dataset.pipeline]
    assert types == ['LoadImageFromFile', 'Resize', 'PackSegInputs']
    assert inference.model.backbone.init_cfg is None
    assert network_input_size(cfg) == (352, 352)
    assert config_test_pipeline(cfg)[0]['type'] == 'LoadPolypImage'


# ---------------------------------------------------------------------------
# ONNX export and ONNX Runtime inference
# ---------------------------------------------------------------------------
@pytest.fixture(scope='module')
def onnx_file(config_file, checkpoint, tmp_path_factory, run_tool):
    """The tiny model exported by tools/export_onnx.py (dynamo, defaults)."""
    pytest.importorskip('onnxruntime')
    path = str(tmp_path_factory.mktemp('onnx') / 'tiny.onnx')
    result = run_tool('tools/export_onnx.py', config_file, checkpoint, '--out',
                      path)
    assert result.code == 0, result.stderr
    return path


# The onnx_file export takes about 12 s: every test that needs it is slow.
@pytest.mark.slow
def test_exported_graph(onnx_file):
    import onnx
    proto = onnx.load(onnx_file)
    onnx.checker.check_model(proto)
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param
    assert [d.dim_value for d in dims[1:]] == [3, INPUT, INPUT]
    assert [o.name for o in proto.graph.output] == ['logits', 'probs']


@pytest.mark.slow
def test_onnx_parity_with_pytorch(onnx_file, mmseg_model):
    for batch in (1, 3):
        diffs = onnx_parity(
            mmseg_model,
            onnx_file,
            shape=(INPUT, INPUT),
            batch_size=batch,
            seed=batch)
        assert max(diffs.values()) <= 1e-4, diffs


@pytest.mark.slow
def test_onnxruntime_backend_matches_pytorch(onnx_file, config_file,
                                             checkpoint, segmenter, images,
                                             make_config, tmp_path, run_infer):
    _, paths = images
    frames = [cv2.imread(path) for path in paths]
    onnx_segmenter = PolypSegmenter(
        make_config(), backend='onnxruntime', onnx_file=onnx_file)
    for a, b in zip(onnx_segmenter(frames), segmenter(frames)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    folder, _ = images
    out = tmp_path / 'onnx_out'
    result = run_infer(config_file, '-', folder, out, '--backend',
                       'onnxruntime', '--onnx', onnx_file, '--batch-size', '2')
    assert result.code == 0, result.stderr
    assert 'onnxruntime fp32 on cpu' in result.stdout
    for i, size in enumerate(SIZES):
        check_outputs(out, f'frame{i}', size)


@pytest.mark.subprocess
def test_export_tool_output_and_torchscript_exporter(config_file, checkpoint,
                                                     tmp_path, run_tool):
    pytest.importorskip('onnxruntime')
    path = str(tmp_path / 'ts.onnx')
    result = run_tool('tools/export_onnx.py', config_file, checkpoint, '--out',
                      path, '--exporter', 'torchscript')
    assert result.code == 0, result.stderr
    printed = result.stdout
    assert 'opset 17' in printed and 'batch dynamic' in printed
    assert 'max |diff| probs' in printed and 'parity OK' in printed
    # The same export judged with no tolerance at all fails, saying why.
    strict = run_tool('tools/export_onnx.py', config_file, checkpoint, '--out',
                      path, '--exporter', 'torchscript', '--tolerance', '0')
    assert strict.code == 1
    assert 'exceeds the tolerance 0' in strict.stderr


@pytest.mark.parametrize(
    'diffs,code',
    [
        (dict(logits=2e-4, logits_rel=2e-4, probs=1e-5), 1),
        (dict(logits=2e-5, logits_rel=2e-5, probs=2e-4), 1),
        # logits spanning +-20 (a trained model): judged relative to the range
        (dict(logits=3e-4, logits_rel=1.5e-5, probs=5e-5), 0),
    ])
def test_export_tolerance(mmseg_model, tmp_path, monkeypatch, diffs, code):
    pytest.importorskip('onnxruntime')
    monkeypatch.setattr(onnx_export, 'onnx_parity', lambda *a, **k: diffs)
    report = onnx_export.export_checked(
        mmseg_model,
        str(tmp_path / 'ts.onnx'),
        shape=(INPUT, INPUT),
        exporter='torchscript',
        tolerance=1e-4)
    assert report.ok == (not code)
    assert report.worst == max(diffs['probs'], diffs['logits_rel'])
    assert report.opset == 17 and report.size_mib > 0


@pytest.mark.slow
def test_onnx_shape_mismatch_is_explained(onnx_file, make_config):
    cfg = make_config()
    cfg.test_dataloader.dataset.pipeline[1]['scale'] = (96, 96)
    segmenter = PolypSegmenter(cfg, backend='onnxruntime', onnx_file=onnx_file)
    with pytest.raises(ValueError, match=f'takes {INPUT}x{INPUT} inputs'):
        segmenter([frame(40, 40, 0)])


@pytest.mark.subprocess
def test_missing_onnx_packages_are_explained(config_file, checkpoint, tmp_path,
                                             monkeypatch, run_tool):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(ImportError, match='pip install onnx'):
        require('onnxruntime')
    # A module of that name that fails to import hides the real package.
    blocked = tmp_path / 'blocked'
    blocked.mkdir()
    (blocked / 'onnxruntime.py'
     ).write_text("raise ImportError('onnxruntime blocked by the test')\n")
    result = run_tool(
        'tools/export_onnx.py',
        config_file,
        checkpoint,
        '--out',
        tmp_path / 'x.onnx',
        env=dict(os.environ, PYTHONPATH=str(blocked)))
    assert result.code == 1
    assert 'pip install onnx' in result.stderr
    assert not (tmp_path / 'x.onnx').exists()
