"""The deploy package and the engine backends through the Python API: every
backend and precision against PyTorch on a briefly trained tiny model, the
seeded calibration, the deployed folder's metadata round trip and checks,
the accuracy report, and the refusals that write nothing.

The tests that need the trained model or a deployment are marked slow (the
module's training fixture takes ~30-50 s, each deployment 5-10 s on an idle
2-core CPU).
"""
import json
import os
import shutil
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from ssformer_mmseg.apis import PolypSegmenter, load_segmentor
from ssformer_mmseg.apis.backends import (InferenceBackend, OnnxRuntimeBackend,
                                          OpenVINOBackend)
from ssformer_mmseg.apis.backends.openvino import openvino_core
from ssformer_mmseg.config import load_config
from ssformer_mmseg.datasets.synthetic import render_frame
from ssformer_mmseg.deploy import (ACCURACY_BOUND, METADATA_FILE,
                                   DeployedModel, DeployedModelError,
                                   DeployOptions)
from ssformer_mmseg.deploy import build as deploy_build
from ssformer_mmseg.deploy import (compare, deploy, folder_frames,
                                   format_report, is_deployed_folder,
                                   training_frames)
from ssformer_mmseg.deploy.accuracy import BOUNDED_METRICS, REPORTED_METRICS
from ssformer_mmseg.deploy.artifact import (check_deployable,
                                            config_from_metadata,
                                            describe_preprocessing,
                                            file_record, sha256)
from ssformer_mmseg.deploy.calibration import choose
from ssformer_mmseg.evaluation.intervals import BootstrapSettings

# The engines are optional extras; the deploy package imports them when used.
pytest.importorskip('openvino')
pytest.importorskip('onnxruntime')
pytest.importorskip('nncf')

SLOW = pytest.mark.slow

# The data: Kvasir-SEG's layout with the demo's synthetic frames, each polyp
# tinted POLYP_TINT of the way to POLYP_COLOUR (BGR), so that a few training
# steps give a model that segments (Dice 0.90-0.98 against the ground truth
# in 5 trainings: two seeds, 1 and 2 threads), not one whose outcome depends
# on the machine's rounding. Untinted, 80 steps gave Dice about 0.2, and
# masks that changed with the thread count.
POLYP_TINT = 0.2
POLYP_COLOUR = (60, 200, 200)
NUM_TRAIN = 30
NUM_TEST = 4
FRAME_HW = (96, 128)
# Calibration and held-out validation frames: few, to stay fast (the
# training split has 30, enough for both, disjoint).
CALIB_COUNT = 16
VALIDATION_COUNT = 8
# accuracy_control='auto' of the module's deployments checks int8 on the
# held-out frames and goes accuracy-aware above this meanDic drop. The
# default bound (0.005) was crossed on one training here (drop 0.0077), a
# 60 s detour whose outcome depends on the machine; 0.05 keeps them
# post-training. test_accuracy_aware_quantization_is_recorded runs that path.
FIXTURE_MAX_DROP = 0.05
# Training: AdamW on BCE + soft Dice at the network input size, the learning
# rate annealed to 0 (cosine) so that the run ends in a minimum instead of
# wherever its last large step threw it. At a constant 1e-2, 60 steps gave
# eval Dice 0.84 and a map spanning 0.24 on one run and 0.96 / 0.93 when only
# the random draws of drop path changed: a model that passed on one CPU and
# failed on another (Zen 4), whose rounding differs. Annealed, 100 steps gave
# Dice 0.95-0.97 and every map spanning > 0.9 over three seeds x 1 and 2
# threads on Zen 4 (60 steps: Dice 0.92-0.95, spans > 0.73).
TRAIN_STEPS = 100
TRAIN_BATCH = 8
TRAIN_LR = 1e-2
# The training frames' Dice (prob > 0.5, pooled) a finished training must
# reach, or it is repeated with the next seed (at most TRAIN_SEEDS): the
# fixture checks its own convergence instead of leaving the tests below to
# fail on a model that did not learn.
CONVERGED_DICE = 0.9
TRAIN_SEEDS = 3
# Eval frames (rendered in memory, not on disk) of several sizes, so the
# resize back to each frame is part of the comparison.
EVAL_SIZES = ((96, 128), (128, 96), (100, 150), (352, 352)) * 2

# Dice of the trained model's masks against the eval frames' ground truth
# (measured 0.90-0.98): it segments.
TRAINED_DICE = 0.75
# fp32 engines against PyTorch: max |Δlogit| / max |logit| at the network
# input size (measured: 9e-7 OpenVINO, 2e-6 ONNX Runtime).
FP32_RELATIVE_TOLERANCE = 1e-4
# Reduced precisions against PyTorch fp32, on the probability maps at frame
# size over the eight eval frames: the mean |Δprob| (per frame, averaged),
# the 99th percentile of |Δprob| over all their pixels, and the Dice of the
# masks (prob > 0.5) pooled over the frames. Measured on an AVX512-BF16/AMX
# Xeon (bf16 native), two trainings (1 and 2 threads):
#   bf16 (OpenVINO)       mean 0.0015-0.0042  p99 0.016-0.029  Dice 0.997
#   int8 (OpenVINO)       mean 0.0029-0.0036  p99 0.013-0.025  Dice 0.994
#   int8 (ONNX Runtime)   mean 0.0021-0.0034  p99 0.012-0.025  Dice 0.994
# The max |Δprob| is no bound: a few boundary pixels with steep logits
# moved 0.14-0.31 in one training and 0.78 in the other (int8), with the
# rest as close. Bounds: 3.5x the mean, 3x the p99, 4.5x the Dice loss.
BOUNDS = {
    'bf16': dict(mean=0.015, p99=0.08, dice=0.97),
    'int8': dict(mean=0.015, p99=0.08, dice=0.97),
}


def _render(rng: np.random.Generator, size) -> tuple:
    """A synthetic frame with one tinted polyp, and its 0/255 mask."""
    image, mask = render_frame(rng, size, 1)
    tinted = (1 - POLYP_TINT) * image + POLYP_TINT * np.float32(POLYP_COLOUR)
    image = np.where(mask[..., None] > 0, tinted, image)
    return np.rint(image).astype(np.uint8), mask


def _write_polyp_root(root) -> None:
    """``root/kvasir-seg/{images,masks}/frame<i>.png``: :func:`_render`
    frames; the PraNet split: the first NUM_TRAIN train, the rest test."""
    for sub in ('images', 'masks'):
        os.makedirs(root / 'kvasir-seg' / sub)
    stems = [f'frame{i}' for i in range(NUM_TRAIN + NUM_TEST)]
    for i, stem in enumerate(stems):
        image, mask = _render(np.random.default_rng([0, i]), FRAME_HW)
        cv2.imwrite(str(root / 'kvasir-seg' / 'images' / f'{stem}.png'), image)
        cv2.imwrite(str(root / 'kvasir-seg' / 'masks' / f'{stem}.png'), mask)
    os.makedirs(root / 'splits' / 'pranet')
    (root / 'splits' / 'pranet' / 'kvasir_train.txt').write_text('\n'.join(
        stems[:NUM_TRAIN]))
    (root / 'splits' / 'pranet' / 'kvasir_test.txt').write_text('\n'.join(
        stems[NUM_TRAIN:]))


def _train(config: str, root) -> torch.nn.Module:
    """The tiny model after :data:`TRAIN_STEPS` steps on the training split,
    on one thread (the tiny model's many small backward ops gain little from
    a second, and when other jobs share the 2 cores two threads ran 7x
    slower, waiting for each other). A training whose model does not reach
    :data:`CONVERGED_DICE` on its own training frames is repeated with the
    next seed; after :data:`TRAIN_SEEDS` the fixture fails saying so."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    inputs, targets = _training_tensors(config, root)
    dices = []
    try:
        for seed in range(TRAIN_SEEDS):
            model = _train_steps(config, inputs, targets, seed)
            with torch.no_grad():
                probs = model(inputs, mode='tensor').sigmoid()
            probs = F.interpolate(
                probs,
                size=targets.shape[2:],
                mode='bilinear',
                align_corners=True)
            dices.append(
                _agreement(
                    list(probs[:, 0].numpy()),
                    list(targets[:, 0].numpy()))['dice'])
            if dices[-1] >= CONVERGED_DICE:
                return model
    finally:
        torch.set_num_threads(threads)
    raise AssertionError(
        f'the fixture training did not converge: training-frame Dice '
        f'{dices} with seeds 0-{TRAIN_SEEDS - 1}, needed {CONVERGED_DICE}')


def _training_tensors(config: str, root) -> tuple:
    """The training split as network inputs and 0/1 targets at the network
    input size."""
    segmenter = PolypSegmenter(config)
    stems = (root / 'splits' / 'pranet' / 'kvasir_train.txt').read_text()
    stems = stems.split()
    frames = [
        cv2.imread(str(root / 'kvasir-seg' / 'images' / f'{s}.png'))
        for s in stems
    ]
    inputs = segmenter.preprocess(frames)['inputs']
    size = tuple(inputs.shape[2:])
    masks = [
        cv2.imread(
            str(root / 'kvasir-seg' / 'masks' / f'{s}.png'),
            cv2.IMREAD_GRAYSCALE) for s in stems
    ]
    targets = torch.from_numpy(
        np.stack([
            cv2.resize(m, size[::-1], interpolation=cv2.INTER_NEAREST)
            for m in masks
        ]) > 127).float()[:, None]
    return inputs, targets


def _train_steps(config: str, inputs: torch.Tensor, targets: torch.Tensor,
                 seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = load_segmentor(config)
    size = tuple(inputs.shape[2:])
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=TRAIN_LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, TRAIN_STEPS)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(TRAIN_STEPS):
        batch = torch.randperm(len(inputs), generator=generator)[:TRAIN_BATCH]
        logits = F.interpolate(
            model(inputs[batch], mode='tensor'),
            size=size,
            mode='bilinear',
            align_corners=True)
        target = targets[batch]
        probs = logits.sigmoid()
        dice = (2 * (probs * target).sum((2, 3)) + 1) / (
            probs.sum((2, 3)) + target.sum((2, 3)) + 1)
        loss = F.binary_cross_entropy_with_logits(logits,
                                                  target) + (1 - dice).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


@pytest.fixture(scope='module')
def polyp_root(tmp_path_factory):
    """The synthetic Kvasir-like data root (see :func:`_write_polyp_root`)."""
    root = tmp_path_factory.mktemp('deploy_data') / 'data'
    _write_polyp_root(root)
    return root


@pytest.fixture(scope='module')
def polyp_config(make_tiny_config, polyp_root, tmp_path_factory) -> str:
    """The tiny config with every dataset on :func:`polyp_root`, as a file
    (so deploy() needs no cfg_options)."""
    cfg = load_config(make_tiny_config(), {'data_root': str(polyp_root)})
    path = tmp_path_factory.mktemp('deploy_config') / 'tiny_polyp.py'
    cfg.dump(str(path))
    return str(path)


@pytest.fixture(scope='module')
def trained(polyp_config, polyp_root, tmp_path_factory):
    """The tiny model trained briefly on :func:`polyp_root`: ``config``,
    ``checkpoint``, and ``reference`` (its PyTorch PolypSegmenter)."""
    model = _train(polyp_config, polyp_root)
    checkpoint = str(tmp_path_factory.mktemp('deploy_ckpt') / 'tiny.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return SimpleNamespace(
        config=polyp_config,
        checkpoint=checkpoint,
        reference=PolypSegmenter(polyp_config, checkpoint))


@pytest.fixture(scope='module')
def untrained(make_tiny_config, make_kvasir_like, tmp_path_factory):
    """A random-weight tiny model on conftest's Kvasir-like set, for the
    refusals (``config``, ``checkpoint``)."""
    folder = tmp_path_factory.mktemp('deploy_untrained')
    root = make_kvasir_like(folder / 'data')
    cfg = load_config(make_tiny_config(), {'data_root': str(root)})
    config = str(folder / 'tiny.py')
    cfg.dump(config)
    torch.manual_seed(0)
    checkpoint = str(folder / 'tiny.pth')
    torch.save({
        'state_dict': load_segmentor(config).state_dict(),
        'meta': {}
    }, checkpoint)
    return SimpleNamespace(config=config, checkpoint=checkpoint)


def _options(model, backend, precision, out_dir, **kwargs) -> DeployOptions:
    kwargs.setdefault('calib_count', CALIB_COUNT)
    kwargs.setdefault('validation_count', VALIDATION_COUNT)
    return DeployOptions(model.config, model.checkpoint, backend, precision,
                         str(out_dir), **kwargs)


@pytest.fixture(scope='module')
def deployments(trained, tmp_path_factory):
    """``deployments(backend, precision)``: the trained model deployed there
    (with the accuracy report), built on first use and kept. int8 stays
    post-training (see FIXTURE_MAX_DROP)."""
    folder = tmp_path_factory.mktemp('deployed')
    built = {}

    def get(backend: str, precision: str) -> DeployedModel:
        if (backend, precision) not in built:
            out = folder / f'{backend}_{precision}'
            built[backend, precision] = deploy(
                _options(
                    trained,
                    backend,
                    precision,
                    out,
                    max_drop=FIXTURE_MAX_DROP))
        return built[backend, precision]

    return get


@pytest.fixture(scope='module')
def eval_set():
    """Eight frames the model never saw, of several sizes, with masks."""
    rng = np.random.default_rng(1)
    frames, masks = zip(*(_render(rng, size) for size in EVAL_SIZES))
    return SimpleNamespace(frames=list(frames), masks=list(masks))


@pytest.fixture(scope='module')
def eval_frames(eval_set):
    """The eval frames alone."""
    return eval_set.frames


@pytest.fixture(scope='module')
def reference_outputs(trained, eval_frames):
    """PyTorch's network-size logits and frame-size probabilities."""
    reference = trained.reference
    data = reference.preprocess(eval_frames)
    with torch.no_grad():
        logits = reference.logits(data['inputs'], data['data_samples'])
    return SimpleNamespace(
        inputs=data['inputs'], logits=logits, probs=reference(eval_frames))


def _engine_logits(segmenter, frames) -> torch.Tensor:
    data = segmenter.preprocess(frames)
    with torch.no_grad():
        return segmenter.logits(data['inputs'], data['data_samples'])


def _agreement(probs, reference_probs) -> dict:
    """|Δprob| (mean per frame, averaged; 99th percentile and max over all
    pixels) and the pooled Dice of the thresholded masks."""
    diffs = [np.abs(p - r) for p, r in zip(probs, reference_probs)]
    pixels = np.concatenate([d.ravel() for d in diffs])
    inter = total = 0
    for p, r in zip(probs, reference_probs):
        inter += np.count_nonzero((p > 0.5) & (r > 0.5))
        total += np.count_nonzero(p > 0.5) + np.count_nonzero(r > 0.5)
    return dict(
        mean=float(np.mean([d.mean() for d in diffs])),
        p99=float(np.quantile(pixels, 0.99)),
        max=float(pixels.max()),
        dice=2 * inter / total if total else 1.0)


def _assert_within(agreement: dict, precision: str) -> None:
    bounds = BOUNDS[precision]
    assert agreement['mean'] <= bounds['mean'], agreement
    assert agreement['p99'] <= bounds['p99'], agreement
    assert agreement['dice'] >= bounds['dice'], agreement


def _native_precisions(backend: str) -> tuple:
    """What the backend runs natively on this CPU."""
    cls = OpenVINOBackend if backend == 'openvino' else OnnxRuntimeBackend
    return cls.supported_precisions('cpu')


def _copy_folder(deployed: DeployedModel, tmp_path):
    folder = tmp_path / 'copy'
    shutil.copytree(deployed.folder, folder)
    return folder


def _edit_metadata(folder, edit) -> None:
    path = folder / METADATA_FILE
    metadata = json.loads(path.read_text())
    edit(metadata)
    path.write_text(json.dumps(metadata))


# The trained model and its deployments --------------------------------------


@SLOW
def test_trained_model_segments(reference_outputs, eval_set):
    # The comparisons below mean something only on a model whose maps vary
    # and follow the polyps (measured: Dice 0.90-0.98, maps spanning > 0.95).
    probs = reference_outputs.probs
    assert all(p.max() - p.min() > 0.5 for p in probs)
    truth = [(m > 0).astype(np.float32) for m in eval_set.masks]
    dice = _agreement(probs, truth)['dice']
    assert dice >= TRAINED_DICE, dice


@SLOW
@pytest.mark.parametrize('backend', ['openvino', 'onnxruntime'])
def test_fp32_engine_logits_equal_pytorch(backend, deployments, eval_frames,
                                          reference_outputs):
    segmenter = deployments(backend, 'fp32').segmenter()
    assert (segmenter.backend, segmenter.precision) == (backend, 'fp32')
    logits = _engine_logits(segmenter, eval_frames)
    reference = reference_outputs.logits
    assert logits.shape == reference.shape == (len(eval_frames), 1, 352, 352)
    worst = (logits - reference).abs().max() / reference.abs().max()
    assert worst <= FP32_RELATIVE_TOLERANCE
    probs = segmenter(eval_frames)
    assert [p.shape for p in probs] == list(EVAL_SIZES)
    for prob, ref in zip(probs, reference_outputs.probs):
        np.testing.assert_allclose(prob, ref, atol=1e-5)


@SLOW
@pytest.mark.parametrize('backend,precision', [('openvino', 'bf16'),
                                               ('openvino', 'int8'),
                                               ('onnxruntime', 'int8')])
def test_reduced_precision_agrees_with_pytorch(backend, precision, trained,
                                               deployments, eval_frames,
                                               reference_outputs, tmp_path):
    if precision not in _native_precisions(backend):
        # Not native on this CPU: refused up front, nothing written.
        out = tmp_path / 'out'
        with pytest.raises(
                ValueError, match=f'{precision} does not run '
                'natively'):
            deploy(_options(trained, backend, precision, out))
        assert not out.exists()
        return
    deployed = deployments(backend, precision)
    segmenter = deployed.segmenter()
    assert (segmenter.backend, segmenter.precision) == (backend, precision)
    _assert_within(
        _agreement(segmenter(eval_frames), reference_outputs.probs), precision)


@SLOW
def test_bf16_folder_holds_the_fp32_model(deployments):
    # bf16 is a compile-time hint: the IR keeps the export's fp32 weights.
    if 'bf16' not in OpenVINOBackend.supported_precisions():
        pytest.skip('bf16 is not native here')
    bf16 = deployments('openvino', 'bf16').metadata['files']
    fp32 = deployments('openvino', 'fp32').metadata['files']
    assert bf16['model.bin'] == fp32['model.bin']


@SLOW
@pytest.mark.parametrize('backend,precision', [('openvino', 'fp32'),
                                               ('openvino', 'int8'),
                                               ('onnxruntime', 'fp32'),
                                               ('onnxruntime', 'int8')])
def test_deploy_json_describes_the_folder(backend, precision, deployments,
                                          trained):
    deployed = deployments(backend, precision)
    folder = deployed.folder
    metadata = json.loads(open(os.path.join(folder, METADATA_FILE)).read())
    assert metadata == deployed.metadata
    assert (metadata['backend'], metadata['precision']) == (backend, precision)
    model_files = ['model.xml', 'model.bin'
                   ] if backend == 'openvino' else ['model.onnx']
    assert sorted(os.listdir(folder)) == sorted(
        model_files + ['accuracy.md', 'deploy.json', 'source_config.py'])
    for name, record in metadata['files'].items():
        assert record == file_record(os.path.join(folder, name))
    assert is_deployed_folder(folder)
    assert metadata['source']['checkpoint_sha256'] == sha256(
        trained.checkpoint)
    assert metadata['source']['config'] == trained.config
    if precision == 'fp32':
        assert metadata['calibration'] is None
        assert metadata['quantization'] is None
        return
    calibration = metadata['calibration']
    assert calibration['source'] == 'training split'
    assert (calibration['available'], calibration['count'],
            calibration['seed']) == (NUM_TRAIN, CALIB_COUNT, 0)
    train = [f'frame{i}.png' for i in range(NUM_TRAIN)]
    assert all(name in train for name in calibration['first_names'])
    quantization = metadata['quantization']
    assert quantization['method'] == 'post-training (NNCF)'
    assert quantization['validation']['images'] == VALIDATION_COUNT
    check = quantization['validation']
    assert check['drop'] == pytest.approx(check['fp32_meanDic'] -
                                          check['int8_meanDic'])
    assert check['drop'] <= FIXTURE_MAX_DROP  # measured: at most 0.008


@SLOW
def test_accuracy_report_of_a_deployment(deployments):
    deployed = deployments('openvino', 'int8')
    report = deployed.metadata['accuracy']
    assert report['bound'] == ACCURACY_BOUND
    assert report['bounded_metrics'] == list(BOUNDED_METRICS)
    # One test set: its row only, no mean row repeating it.
    assert list(report['sets']) == ['Kvasir']
    entry = report['sets']['Kvasir']
    assert set(entry) == {
        'images', 'engine', 'reference', 'delta', 'within_bound', 'engine_ci',
        'reference_ci', 'delta_ci'
    }
    for key in ('engine', 'reference', 'delta'):
        for metric in REPORTED_METRICS:
            low, high = entry[f'{key}_ci'][metric]
            assert low <= entry[key][metric] + 1e-9
            assert entry[key][metric] <= high + 1e-9
    assert 'BCa bootstrap' in report['intervals']
    assert entry['images'] == NUM_TEST
    for key in ('engine', 'reference', 'delta'):
        assert list(entry[key]) == list(REPORTED_METRICS)
    for metric in REPORTED_METRICS:
        assert entry['delta'][metric] == pytest.approx(
            entry['engine'][metric] - entry['reference'][metric], abs=1e-12)
    assert entry['within_bound'] == all(
        abs(entry['delta'][m]) <= ACCURACY_BOUND for m in BOUNDED_METRICS)
    assert report['within_bound'] == entry['within_bound']
    text = open(os.path.join(deployed.folder, 'accuracy.md')).read()
    assert text.strip() == format_report(report, 'openvino int8')
    # fp32 engines score exactly as PyTorch does.
    fp32 = deployments('openvino', 'fp32').metadata['accuracy']
    assert fp32['within_bound']
    delta = fp32['sets']['Kvasir']['delta']
    assert all(abs(v) < 1e-4 for v in delta.values()), delta


@SLOW
@pytest.mark.parametrize('precision', ['fp32', 'int8'])
def test_openvino_throughput_mode_gives_latency_mode_outputs(
        precision, deployments, eval_frames):
    deployed = deployments('openvino', precision)
    frames = eval_frames[:3]
    latency = deployed.segmenter()(frames)
    segmenter = deployed.segmenter(throughput=True)
    assert segmenter.runtime.queue is not None  # requests in flight
    throughput = segmenter(frames)
    assert len(throughput) == 3
    for a, b in zip(throughput, latency):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


@SLOW
def test_onnxruntime_throughput_option_changes_nothing(deployments,
                                                       eval_frames):
    deployed = deployments('onnxruntime', 'fp32')
    frames = eval_frames[:3]
    latency = deployed.segmenter()(frames)
    throughput = deployed.segmenter(throughput=True)(frames)
    for a, b in zip(throughput, latency):
        np.testing.assert_array_equal(a, b)


# The segmenter on engine model files ----------------------------------------


@SLOW
def test_openvino_runs_an_exported_onnx_file(deployments, trained, eval_frames,
                                             reference_outputs):
    onnx_file = deployments('onnxruntime', 'fp32').model_file
    segmenter = PolypSegmenter(
        trained.config, backend='openvino', model_file=onnx_file)
    assert (segmenter.backend, segmenter.precision) == ('openvino', 'fp32')
    logits = _engine_logits(segmenter, eval_frames)
    reference = reference_outputs.logits
    worst = (logits - reference).abs().max() / reference.abs().max()
    assert worst <= FP32_RELATIVE_TOLERANCE


@SLOW
@pytest.mark.parametrize('backend', ['openvino', 'onnxruntime'])
def test_precision_defaults_to_what_the_file_holds(backend, deployments,
                                                   trained):
    for precision in ('fp32', 'int8'):
        model_file = deployments(backend, precision).model_file
        segmenter = PolypSegmenter(
            trained.config, backend=backend, model_file=model_file)
        assert segmenter.precision == precision
    int8 = deployments(backend, 'int8').model_file
    with pytest.raises(
            ValueError, match='is an int8 model; it cannot run '
            'as fp32'):
        PolypSegmenter(
            trained.config, backend=backend, model_file=int8, precision='fp32')
    fp32 = deployments(backend, 'fp32').model_file
    with pytest.raises(ValueError, match='a float model'):
        PolypSegmenter(
            trained.config, backend=backend, model_file=fp32, precision='int8')


@SLOW
def test_segmenter_refusals_of_the_engines(deployments, trained, monkeypatch):
    fp32 = deployments('onnxruntime', 'fp32').model_file
    with pytest.raises(
            ValueError, match='no bf16 for this model; use '
            '--backend openvino'):
        PolypSegmenter(
            trained.config,
            backend='onnxruntime',
            model_file=fp32,
            precision='bf16')
    with pytest.raises(ValueError, match='OpenVINO runs on cpu or gpu'):
        PolypSegmenter(
            trained.config, backend='openvino', model_file=fp32, device='cuda')
    with pytest.raises(ValueError, match='needs a model file'):
        PolypSegmenter(trained.config, backend='openvino')
    monkeypatch.setattr(
        OpenVINOBackend, 'supported_precisions',
        classmethod(lambda cls, device='cpu': ('fp32', 'int8')))
    with pytest.raises(
            ValueError,
            match='bf16 does not run natively with '
            r'the openvino backend on cpu here \(it runs fp32, '
            r'int8\)'):
        PolypSegmenter(
            trained.config,
            backend='openvino',
            model_file=fp32,
            precision='bf16')


# Calibration -----------------------------------------------------------------


def test_training_frames_are_seeded(polyp_config):
    cfg = load_config(polyp_config)
    first = training_frames(cfg, CALIB_COUNT, seed=0)
    again = training_frames(cfg, CALIB_COUNT, seed=0)
    other = training_frames(cfg, CALIB_COUNT, seed=1)
    assert first == again
    assert first.summary() == again.summary()
    assert len(first.images) == CALIB_COUNT and first.available == NUM_TRAIN
    assert other.images != first.images
    assert other.summary()['names_sha256'] != first.summary()['names_sha256']
    # Never a test frame; masks paired with their images.
    train = {f'frame{i}.png' for i in range(NUM_TRAIN)}
    assert {os.path.basename(p) for p in first.images} <= train
    assert [os.path.basename(p) for p in first.masks
            ] == [os.path.basename(p) for p in first.images]
    # Validation frames: disjoint from the calibration frames.
    held_out = training_frames(
        cfg, VALIDATION_COUNT, seed=1, exclude=first.images)
    assert len(held_out.images) == VALIDATION_COUNT
    assert not set(held_out.images) & set(first.images)


def test_choose_is_sorted_and_takes_all_when_short():
    assert choose(5, 3, seed=0) == [0, 1, 2]
    assert choose(5, 8, seed=0, exclude=[1, 2, 3]) == [0, 4, 5, 6, 7]
    picked = choose(4, 100, seed=7)
    assert picked == sorted(picked) == choose(4, 100, seed=7)
    assert not set(choose(50, 100, seed=0, exclude=range(40))) & set(range(40))


def test_folder_frames_are_seeded(polyp_root):
    folder = str(polyp_root / 'kvasir-seg' / 'images')
    first = folder_frames(folder, 5, seed=3)
    assert first == folder_frames(folder, 5, seed=3)
    assert first.images != folder_frames(folder, 5, seed=4).images
    assert first.source == 'folder' and first.masks == []
    assert first.available == NUM_TRAIN + NUM_TEST


@SLOW
def test_int8_deployment_is_reproducible(deployments, trained, eval_frames,
                                         tmp_path):
    first = deployments('onnxruntime', 'int8')
    # The same seed again (no accuracy step: the model is the same).
    again = deploy(
        _options(
            trained,
            'onnxruntime',
            'int8',
            tmp_path / 'again',
            accuracy_control='never',
            check_accuracy=False))
    assert again.metadata['calibration'] == first.metadata['calibration']
    assert again.metadata['files']['model.onnx'] == first.metadata['files'][
        'model.onnx']
    for a, b in zip(again.segmenter()(eval_frames),
                    first.segmenter()(eval_frames)):
        np.testing.assert_array_equal(a, b)


# The deployed folder ---------------------------------------------------------


@SLOW
def test_metadata_config_preprocesses_as_the_source_config(
        deployments, trained, eval_frames, reference_outputs):
    deployed = deployments('openvino', 'fp32')
    from_metadata = PolypSegmenter(
        deployed.config(), backend='openvino', model_file=deployed.model_file)
    from_source = PolypSegmenter(
        trained.config, backend='openvino', model_file=deployed.model_file)
    a = from_metadata.preprocess(eval_frames)
    b = from_source.preprocess(eval_frames)
    assert torch.equal(a['inputs'], b['inputs'])
    assert torch.equal(a['inputs'], reference_outputs.inputs)
    for sa, sb in zip(a['data_samples'], b['data_samples']):
        for key in ('ori_shape', 'img_shape'):
            assert sa.metainfo[key] == sb.metainfo[key]
    assert (from_metadata.threshold,
            from_metadata.align_corners) == (from_source.threshold,
                                             from_source.align_corners)
    for pa, pb in zip(from_metadata(eval_frames), from_source(eval_frames)):
        np.testing.assert_array_equal(pa, pb)
    for pa, pb in zip(deployed.segmenter()(eval_frames),
                      from_source(eval_frames)):
        np.testing.assert_array_equal(pa, pb)


class _InputMean(InferenceBackend):
    """A stand-in network (not registered): the logit is the mean of the
    input channels, so the input and the segmenter's resize back to the
    frame (align_corners) show in the output."""

    name = 'input-mean'

    def __init__(self, cfg):
        self.data_preprocessor = MODELS.build(cfg.model.data_preprocessor)
        self.device = 'cpu'

    @classmethod
    def create(cls, cfg, **options):
        return cls(cfg)

    def logits(self, inputs, data_samples):
        return inputs.mean(1, keepdim=True)


def test_metadata_round_trip_of_other_preprocessing(tiny_config):
    # Non-default everywhere: a non-square size (mmcv scales are (w, h)),
    # bicubic, BGR input, other mean/std, threshold and align_corners.
    cfg = tiny_config
    for pipeline in (cfg.test_pipeline, cfg.test_dataloader.dataset.pipeline):
        resize = next(s for s in pipeline if s['type'] == 'Resize')
        resize.update(scale=(320, 256), interpolation='bicubic')
    cfg.model.data_preprocessor.update(
        mean=[100.0, 110.0, 120.0],
        std=[50.0, 60.0, 70.0],
        bgr_to_rgb=False,
        size=(256, 320))
    cfg.model.decode_head.update(threshold=0.3, align_corners=False)
    check_deployable(cfg)
    input_entry, preprocessing = describe_preprocessing(cfg)
    assert (input_entry['height'], input_entry['width']) == (256, 320)
    assert input_entry['channel_order'] == 'BGR'
    metadata = dict(
        input=input_entry,
        preprocessing=json.loads(json.dumps(preprocessing)),
        output=dict(threshold=0.3, align_corners=False))
    rebuilt = config_from_metadata(metadata)
    source = PolypSegmenter(cfg, backend=_InputMean(cfg))
    copy = PolypSegmenter(rebuilt, backend=_InputMean(rebuilt))
    assert (copy.threshold, copy.align_corners) == (0.3, False)
    frames = [
        np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8)
        for i, (h, w) in enumerate([(90, 130), (300, 200)])
    ]
    a, b = source.preprocess(frames), copy.preprocess(frames)
    assert a['inputs'].shape == (2, 3, 256, 320)
    assert torch.equal(a['inputs'], b['inputs'])
    for pa, pb in zip(source(frames), copy(frames)):
        np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize(
    'change,message',
    [(lambda cfg: cfg.model.update(
        test_cfg=dict(mode='slide', crop_size=(352, 352), stride=(200, 200))),
      'test_cfg.mode=slide'),
     (lambda cfg: cfg.test_dataloader.dataset.pipeline.insert(
         2, dict(type='RandomFlip', prob=0.0)), 'also has RandomFlip'),
     (lambda cfg: cfg.test_dataloader.dataset.pipeline[1].update(
         keep_ratio=True), 'no fixed-size Resize')],
    ids=['slide', 'extra-step', 'keep-ratio'])
def test_check_deployable_names_what_is_not_reproduced(change, message,
                                                       tiny_config):
    change(tiny_config)
    with pytest.raises(ValueError, match=message):
        check_deployable(tiny_config)


def _remove(name):
    return lambda folder: os.remove(folder / name)


def _flip_a_byte(name):

    def flip(folder):
        data = bytearray((folder / name).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / name).write_bytes(bytes(data))

    return flip


def _truncate(name):
    return lambda folder: (folder / name).write_bytes(
        (folder / name).read_bytes()[:-10])


def _write_metadata_text(text):
    return lambda folder: (folder / METADATA_FILE).write_text(text)


def _metadata(edit):
    return lambda folder: _edit_metadata(folder, edit)


def _set(*path_and_value):
    *path, key, value = path_and_value

    def edit(metadata):
        for part in path:
            metadata = metadata[part]
        metadata[key] = value

    return edit


def _delete(*path_and_key):
    *path, key = path_and_key

    def edit(metadata):
        for part in path:
            metadata = metadata[part]
        del metadata[key]

    return edit


# A corruption of a copy of the openvino fp32 folder, the file the error
# names, what it says. deploy.json has no SHA-256 of its own, so an edited
# precision reaches the check of the model's ops, not a checksum.
CORRUPTIONS = [
    pytest.param(
        _remove(METADATA_FILE),
        METADATA_FILE,
        'missing: not a deployed-model folder',
        id='no-deploy-json'),
    pytest.param(
        _remove('model.bin'), 'model.bin', ': missing$', id='no-model-bin'),
    pytest.param(
        _remove('model.xml'), 'model.xml', ': missing$', id='no-model-xml'),
    pytest.param(
        _flip_a_byte('model.bin'),
        'model.bin',
        'changed since it was deployed',
        id='model-bin-changed'),
    pytest.param(
        _truncate('model.xml'),
        'model.xml',
        'changed since it was deployed',
        id='model-xml-truncated'),
    pytest.param(
        _truncate('source_config.py'),
        'source_config.py',
        'changed since it was deployed',
        id='source-config-changed'),
    pytest.param(
        _write_metadata_text('{"format": '),
        METADATA_FILE,
        'unreadable',
        id='unreadable-json'),
    pytest.param(
        _write_metadata_text('[1, 2]'),
        METADATA_FILE,
        'not a JSON object',
        id='json-not-an-object'),
    pytest.param(
        _metadata(lambda m: [m.pop('input'), m.pop('files')]),
        METADATA_FILE,
        'missing entries: files, input',
        id='missing-entries'),
    pytest.param(
        _metadata(_set('format_version', 2)),
        METADATA_FILE,
        'format version 2; this ssformer-mmseg reads version 1',
        id='format-version'),
    pytest.param(
        _metadata(_set('format', 'something else')),
        METADATA_FILE,
        "format 'something else'",
        id='other-format'),
    pytest.param(
        _metadata(_set('backend', 'tensorrt')),
        METADATA_FILE,
        "unknown backend 'tensorrt'",
        id='unknown-backend'),
    pytest.param(
        _metadata(_set('backend', 'pytorch')),
        METADATA_FILE,
        "unknown backend 'pytorch'",
        id='pytorch-backend'),
    pytest.param(
        _metadata(_set('precision', 'fp16')),
        METADATA_FILE,
        "precision 'fp16' is not one of the openvino backend's",
        id='precision-of-no-backend'),
    pytest.param(
        _metadata(_delete('files', 'model.bin')),
        METADATA_FILE,
        'lists no model.bin, which the openvino model needs',
        id='model-bin-not-listed'),
    pytest.param(
        _metadata(_delete('files', 'model.bin', 'sha256')),
        METADATA_FILE,
        'files.model.bin.sha256 missing',
        id='file-record-without-sha256'),
    pytest.param(
        _metadata(_delete('input', 'height')),
        METADATA_FILE,
        'input.height missing',
        id='input-without-height'),
    pytest.param(
        _metadata(_delete('output', 'threshold')),
        METADATA_FILE,
        'output.threshold missing',
        id='output-without-threshold'),
    pytest.param(
        _metadata(_set('preprocessing', 'bgr_to_rgb', 'yes')),
        METADATA_FILE,
        "preprocessing.bgr_to_rgb is 'yes'",
        id='string-for-a-flag'),
    pytest.param(
        _metadata(_set('input', 'width', True)),
        METADATA_FILE,
        'input.width is True',
        id='bool-for-a-size'),
    pytest.param(
        _metadata(_set('preprocessing', 'resize', 'width', 320)),
        METADATA_FILE,
        'preprocessing.resize is 352x320 but input is 352x352',
        id='resize-disagrees-with-input'),
    pytest.param(
        _metadata(_set('input', 'height', 320)),
        METADATA_FILE,
        'preprocessing.resize is 352x352 but input is 320x352',
        id='input-disagrees-with-resize'),
    # Hostile or careless entries: paths outside the folder are neither
    # hashed nor reported on, wrong types and ranges are named.
    pytest.param(
        _metadata(_set('files', '../x', dict(bytes=1, sha256='0'))),
        METADATA_FILE,
        "files.'../x' is not a file of a openvino deployed folder",
        id='file-outside-the-folder'),
    pytest.param(
        _metadata(_set('files', '/etc/hostname', dict(bytes=1, sha256='0'))),
        METADATA_FILE,
        "files.'/etc/hostname' is not a file",
        id='absolute-file-name'),
    pytest.param(
        _metadata(_set('backend', ['openvino'])),
        METADATA_FILE,
        r"unknown backend \['openvino'\]",
        id='list-as-backend'),
    pytest.param(
        _metadata(_set('output', 'threshold', 5)),
        METADATA_FILE,
        'output.threshold is 5; expected a probability between 0 and 1',
        id='threshold-out-of-range'),
    pytest.param(
        _metadata(_set('preprocessing', 'mean', ['a', 'b', 'c'])),
        METADATA_FILE,
        r"preprocessing.mean is \['a', 'b', 'c'\]",
        id='non-numeric-mean'),
    pytest.param(
        _metadata(_set('preprocessing', 'std', [1.0, 0.0, 1.0])),
        METADATA_FILE,
        r'preprocessing.std is \[1.0, 0.0, 1.0\]',
        id='zero-std'),
    pytest.param(
        _metadata(_set('format_version', True)),
        METADATA_FILE,
        'format version True; this ssformer-mmseg reads version 1',
        id='bool-format-version'),
    pytest.param(
        _metadata(_set('test_sets', [dict(type='os.system')])),
        METADATA_FILE,
        "test_sets.0.type is 'os.system'; expected a polyp dataset",
        id='test-set-of-another-type'),
    pytest.param(
        _metadata(_set('precision', 'int8')),
        'model.xml',
        'holds no int8 ops but deploy.json says precision int8',
        id='int8-claimed-on-float'),
]


@SLOW
@pytest.mark.parametrize('corrupt,file_name,message', CORRUPTIONS)
def test_corrupt_folder_is_named(corrupt, file_name, message, deployments,
                                 tmp_path):
    folder = _copy_folder(deployments('openvino', 'fp32'), tmp_path)
    DeployedModel.load(str(folder))  # the copy is fine before
    corrupt(folder)
    with pytest.raises(DeployedModelError, match=message) as error:
        DeployedModel.load(str(folder))
    assert error.value.path == str(folder / file_name)
    assert str(error.value).startswith(str(folder / file_name) + ': ')


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(DeployedModelError, match='no such folder'):
        DeployedModel.load(str(tmp_path / 'nothing'))
    assert not is_deployed_folder(str(tmp_path))


@SLOW
@pytest.mark.parametrize('backend', ['openvino', 'onnxruntime'])
def test_int8_model_files_in_a_float_folder(backend, deployments, tmp_path):
    # Swapping in the int8 model trips the checksums first; with the
    # checksums fixed too, the ops check names the model.
    folder = _copy_folder(deployments(backend, 'fp32'), tmp_path)
    int8 = deployments(backend, 'int8')
    model_file = folder / os.path.basename(int8.model_file)
    names = [n for n in int8.metadata['files'] if n != 'source_config.py']
    for name in names:
        shutil.copyfile(os.path.join(int8.folder, name), folder / name)
    with pytest.raises(DeployedModelError, match='changed since') as error:
        DeployedModel.load(str(folder))
    assert error.value.path == str(model_file)
    _edit_metadata(
        folder, lambda m: m['files'].update(
            {name: int8.metadata['files'][name]
             for name in names}))
    with pytest.raises(
            DeployedModelError,
            match='holds int8 ops but deploy.json says precision fp32'
    ) as error:
        DeployedModel.load(str(folder))
    assert error.value.path == str(model_file)


def _resize_to_320(metadata):
    metadata['input'].update(height=320, width=320)
    metadata['preprocessing']['resize'].update(height=320, width=320)


@SLOW
@pytest.mark.parametrize('backend', ['openvino', 'onnxruntime'])
def test_input_size_mismatch_is_named_by_load(backend, deployments, tmp_path):
    deployed = deployments(backend, 'fp32')
    folder = _copy_folder(deployed, tmp_path)
    _edit_metadata(folder, _resize_to_320)
    with pytest.raises(
            DeployedModelError,
            match='the model takes 352x352 '
            'inputs but deploy.json says 320x320') as error:
        DeployedModel.load(str(folder))
    assert error.value.path == str(folder /
                                   os.path.basename(deployed.model_file))


@SLOW
def test_every_bad_entry_is_named_in_one_error(deployments, tmp_path):
    folder = _copy_folder(deployments('openvino', 'fp32'), tmp_path)
    _edit_metadata(folder, _delete('input', 'height'))
    _edit_metadata(folder, _delete('output', 'align_corners'))
    with pytest.raises(DeployedModelError) as error:
        DeployedModel.load(str(folder))
    assert 'input.height missing' in str(error.value)
    assert 'output.align_corners missing' in str(error.value)


# Refusals: nothing written ---------------------------------------------------


@pytest.mark.parametrize(
    'backend,precision,missing,hint',
    [('openvino', 'fp32', 'openvino', 'pip install openvino nncf'),
     ('openvino', 'int8', 'nncf', 'pip install openvino nncf'),
     ('onnxruntime', 'fp32', 'onnxruntime',
      'pip install onnx onnxscript onnxruntime'),
     ('onnxruntime', 'fp32', 'onnxscript',
      'pip install onnx onnxscript onnxruntime')],
    ids=['openvino', 'nncf', 'onnxruntime', 'onnxscript'])
def test_missing_engine_package_is_named_with_pip(backend, precision, missing,
                                                  hint, untrained, tmp_path,
                                                  monkeypatch):
    monkeypatch.setitem(sys.modules, missing, None)  # import fails
    out = tmp_path / 'out'
    with pytest.raises(ImportError) as error:
        deploy(_options(untrained, backend, precision, out))
    assert str(error.value).startswith(f'{missing} is needed for ')
    assert hint in str(error.value)
    assert not out.exists()  # nothing written


def test_segmenter_without_openvino_names_pip(untrained, tmp_path,
                                              monkeypatch):
    model_file = tmp_path / 'model.xml'
    model_file.write_text('<net/>')
    monkeypatch.setitem(sys.modules, 'openvino', None)
    openvino_core.cache_clear()  # a Core made earlier would hide it
    try:
        with pytest.raises(ImportError, match='pip install openvino nncf'):
            PolypSegmenter(
                untrained.config,
                backend='openvino',
                model_file=str(model_file))
    finally:
        openvino_core.cache_clear()


def test_precision_not_native_here_is_refused(untrained, tmp_path,
                                              monkeypatch):
    monkeypatch.setattr(
        OpenVINOBackend, 'supported_precisions',
        classmethod(lambda cls, device='cpu': ('fp32', 'int8')))
    out = tmp_path / 'out'
    with pytest.raises(
            ValueError,
            match='bf16 does not run natively with '
            r'the openvino backend on cpu here \(it runs fp32, '
            r'int8\)'):
        deploy(_options(untrained, 'openvino', 'bf16', out))
    assert not out.exists()  # nothing written


@pytest.mark.parametrize(
    'change,error,message',
    [(dict(backend='onnxruntime', precision='bf16'), ValueError,
      'the onnxruntime backend has no bf16 precision; it runs fp32, int8'),
     (dict(backend='openvino', precision='fp16'), ValueError,
      'the openvino backend has no fp16 precision'),
     (dict(backend='tensorrt'), ValueError,
      "cannot deploy to 'tensorrt'; use one of onnxruntime, openvino"),
     (dict(accuracy_control='sometimes'), ValueError,
      'accuracy_control must be one of auto, always, never'),
     (dict(checkpoint='missing.pth'), FileNotFoundError,
      'missing.pth: checkpoint not found'),
     (dict(calib_data='no_such_folder'), FileNotFoundError,
      'no_such_folder: calibration folder not found')],
    ids=[
        'onnxruntime-bf16', 'openvino-fp16', 'backend', 'accuracy-control',
        'checkpoint', 'calib-data'
    ])
def test_bad_options_are_refused_before_anything_is_written(
        change, error, message, untrained, tmp_path):
    out = tmp_path / 'out'
    options = _options(untrained, 'openvino', 'int8', out)
    for key, value in change.items():
        if key in ('checkpoint', 'calib_data'):
            value = str(tmp_path / value)
        setattr(options, key, value)
    with pytest.raises(error, match=message):
        deploy(options)
    assert not out.exists()  # nothing written


def test_non_empty_out_dir_is_refused_untouched(untrained, tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    (out / 'sub').mkdir()
    (out / 'sub' / 'deploy.json').write_text('{}')
    before = {p: p.stat().st_mtime_ns for p in out.rglob('*')}
    with pytest.raises(
            ValueError,
            match='exists and is not empty; deploy '
            'into a new folder'):
        deploy(_options(untrained, 'onnxruntime', 'fp32', out))
    assert {p: p.stat().st_mtime_ns for p in out.rglob('*')} == before
    assert (out / 'keep.txt').read_text() == 'mine'


def test_out_dir_that_is_a_file_is_left_alone(untrained, tmp_path):
    out = tmp_path / 'out'
    out.write_text('mine')
    with pytest.raises((OSError, ValueError), match=str(out)):
        deploy(_options(untrained, 'onnxruntime', 'fp32', out))
    assert out.read_text() == 'mine'


def test_missing_training_split_stops_before_any_work(untrained, tmp_path,
                                                      monkeypatch):
    # Calibrating on a folder still checks int8 on held-out training frames:
    # a training split that is not on disk stops the run before the export
    # and calibration (minutes on a real model), naming what is missing.
    cfg = load_config(untrained.config)
    frames = os.path.join(cfg.data_root, 'kvasir-seg', 'images')
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'gone')
    options = _options(
        untrained, 'openvino', 'int8', tmp_path / 'out', calib_data=frames)
    options.config = cfg
    monkeypatch.setattr(deploy_build._Deployment, 'export',
                        lambda self: pytest.fail('exported before checking'))
    with pytest.raises(ValueError, match=str(tmp_path / 'gone')):
        deploy(options)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('exists', [False, True], ids=['new', 'empty'])
def test_undeployable_config_writes_nothing(exists, untrained, tmp_path):
    cfg = load_config(untrained.config)
    cfg.model.test_cfg = dict(
        mode='slide', crop_size=(352, 352), stride=(200, 200))
    out = tmp_path / 'out'
    if exists:
        out.mkdir()
    options = _options(untrained, 'onnxruntime', 'fp32', out)
    options.config = cfg
    with pytest.raises(ValueError, match='whole-image inference'):
        deploy(options)
    assert os.path.isdir(out) == exists
    assert not exists or os.listdir(out) == []


@SLOW
@pytest.mark.parametrize('exists', [False, True], ids=['new', 'empty'])
def test_failure_mid_deploy_leaves_nothing(exists, untrained, tmp_path,
                                           monkeypatch):
    # Everything is written but deploy.json's accuracy report when this
    # step fails, in a staging folder beside out: out is not touched.
    def fail(self, deployed):
        assert sorted(os.listdir(deployed.folder)) == [
            'deploy.json', 'model.onnx', 'source_config.py'
        ]
        assert os.path.dirname(deployed.folder) == str(tmp_path)
        assert os.path.isdir(out) == exists
        assert not exists or os.listdir(out) == []
        raise RuntimeError('scoring failed')

    monkeypatch.setattr(deploy_build._Deployment, 'accuracy', fail)
    out = tmp_path / 'out'
    if exists:
        out.mkdir()
    with pytest.raises(RuntimeError, match='scoring failed') as error:
        deploy(_options(untrained, 'onnxruntime', 'fp32', out))
    assert os.path.isdir(out) == exists
    assert not exists or os.listdir(out) == []
    assert any('removed the 3 partial output file(s)' in note
               for note in getattr(error.value, '__notes__', []))
    assert sorted(os.listdir(tmp_path)) == (['out'] if exists else [])


# Accuracy-aware quantization -------------------------------------------------


@SLOW
def test_accuracy_aware_quantization_is_recorded(trained, deployments,
                                                 tmp_path, eval_frames,
                                                 reference_outputs):
    deployed = deploy(
        _options(
            trained,
            'openvino',
            'int8',
            tmp_path / 'aa',
            accuracy_control='always',
            check_accuracy=False))
    metadata = json.loads((tmp_path / 'aa' / METADATA_FILE).read_text())
    quantization = metadata['quantization']
    assert quantization['method'] == ('accuracy-aware (NNCF '
                                      'quantize_with_accuracy_control)')
    assert quantization['max_drop'] == ACCURACY_BOUND
    for key in ('post_training_validation', 'validation'):
        check = quantization[key]
        assert check['images'] == VALIDATION_COUNT
        assert check['drop'] == pytest.approx(check['fp32_meanDic'] -
                                              check['int8_meanDic'])
    # The plain int8 model it started from is the module's (same frames).
    plain = deployments('openvino', 'int8').metadata['quantization']
    assert quantization['post_training_validation'] == pytest.approx(
        plain['validation'])
    assert metadata['accuracy'] is None
    assert not (tmp_path / 'aa' / 'accuracy.md').exists()
    segmenter = deployed.segmenter()
    assert segmenter.precision == 'int8'
    _assert_within(
        _agreement(segmenter(eval_frames), reference_outputs.probs), 'int8')


# The accuracy report ---------------------------------------------------------


def _score(dataset: str, value: float, name: str = '') -> dict:
    """A per-image score as PolypMetric keeps it, every metric ``value``
    (curves flat), so each summary metric is ``value``."""
    curve = np.full(256, value)
    return dict(
        dataset=dataset,
        name=name,
        dice=value,
        iou=value,
        sm=value,
        wfm=value,
        mae=value,
        dice_curve=curve,
        iou_curve=curve,
        em_curve=curve)


def test_compare_reports_each_set_and_the_bound():
    reference = [
        _score('A', 0.80, 'a1'),
        _score('A', 0.60, 'a2'),
        _score('B', 0.50, 'b1')
    ]
    engine = [
        _score('A', 0.803, 'a1'),
        _score('A', 0.600, 'a2'),
        _score('B', 0.49, 'b1')
    ]
    report = compare(engine, reference, bound=0.005)
    assert list(report['sets']) == ['A', 'B', 'mean']
    a, b, mean = (report['sets'][k] for k in ('A', 'B', 'mean'))
    assert (a['images'], b['images'], mean['images']) == (2, 1, 3)
    assert a['reference']['meanDic'] == pytest.approx(0.70)
    assert a['engine']['meanDic'] == pytest.approx(0.7015)
    for entry in (a, b, mean):
        assert list(entry['delta']) == list(REPORTED_METRICS)
        for metric in REPORTED_METRICS:
            assert entry['delta'][metric] == pytest.approx(
                entry['engine'][metric] - entry['reference'][metric])
    assert a['delta']['mDice'] == pytest.approx(0.0015)
    assert b['delta']['mDice'] == pytest.approx(-0.01)
    assert mean['delta']['meanDic'] == pytest.approx((0.0015 - 0.01) / 2)
    assert a['within_bound'] and not b['within_bound']
    assert mean['within_bound']  # |-0.00425| <= 0.005
    assert report['within_bound'] is False
    assert report['bound'] == 0.005
    assert report['bounded_metrics'] == ['meanDic', 'mDice']
    assert compare(engine, reference, bound=0.02)['within_bound'] is True
    text = format_report(report, 'openvino int8')
    assert 'NOT within 0.005' in text
    assert '| B | 1 | Δ | -0.0100 |' in text
    # Paired: per-image differences of A are +0.003 and 0, so every
    # resample's mean difference lies between them.
    low, high = a['delta_ci']['mDice']
    assert 0 <= low <= 0.0015 <= high <= 0.003 + 1e-12
    # One image in B: nothing to resample.
    assert all(np.isnan(b['delta_ci']['mDice']))
    assert '|  |  |   CI | 0.' in text and 'paired' in text
    off = compare(engine, reference, bootstrap=BootstrapSettings(0))
    assert 'delta_ci' not in off['sets']['A'] and off['intervals'] is None
    assert '  CI' not in format_report(off, 'openvino int8')


def test_compare_bounds_only_the_bounded_metrics():
    reference = [_score('A', 0.5)]
    engine = [dict(_score('A', 0.5), mae=0.9, sm=0.1, wfm=0.1)]
    report = compare(engine, reference)
    assert list(report['sets']) == ['A']  # one set: no mean row
    entry = report['sets']['A']
    assert entry['delta']['MAE'] == pytest.approx(0.4)
    assert entry['within_bound'] and report['within_bound']
    engine = [dict(_score('A', 0.5), dice=0.5 + 2 * ACCURACY_BOUND)]
    assert compare(engine, reference)['within_bound'] is False
