"""Training under faults: a SIGKILL mid-run, truncated checkpoints, NaN."""
import os
import os.path as osp

import pytest
import torch

from ssformer_mmseg.engine import checkpoint_problem, resumable_checkpoint

TESTS_DIR = osp.dirname(osp.abspath(__file__))


@pytest.fixture(scope='module')
def write_config(tiny_config_file):
    """``write_config(path, extra_hooks='')``: a tiny SSFormer-S run, 6
    iterations, a checkpoint every 2, dropout and stochastic depth on (so
    the model's own randomness matters). Returns the path."""

    def write(path, extra_hooks: str = '') -> str:
        path.write_text(f"""
_base_ = [{tiny_config_file!r}]
custom_imports = dict(imports=['ssformer_mmseg', 'fault_hooks'],
                      allow_failed_imports=False)
model = dict(backbone=dict(drop_path_rate=0.3))
train_dataloader = dict(batch_size=2, num_workers=0,
                        persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
train_cfg = dict(max_iters=6, val_interval=100)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, max_keep_ckpts=10))
custom_hooks = [dict(type='RandomStateHook'), dict(type='NonFiniteLossHook'),
                {extra_hooks}]
randomness = dict(seed=0, deterministic=True)
""")
        return str(path)

    return write


@pytest.fixture(scope='module')
def train(run_tool):
    """``train(config, data, work, *extra)``: tools/train.py, with the fault
    hooks of this folder importable."""

    def run(config: str, data, work, *extra):
        return run_tool(
            'tools/train.py',
            config,
            '--work-dir',
            str(work),
            '--cfg-options',
            f'data_root={data}',
            *extra,
            env=dict(
                os.environ,
                PYTHONPATH=os.pathsep.join(
                    [TESTS_DIR, os.environ.get('PYTHONPATH', '')])))

    return run


def final_weights(work) -> dict:
    checkpoint = torch.load(
        osp.join(work, 'iter_6.pth'), map_location='cpu', weights_only=True)
    return checkpoint['state_dict']


@pytest.fixture(scope='module')
def setup(tmp_path_factory, make_kvasir_like, write_config, train):
    root = tmp_path_factory.mktemp('faults')
    make_kvasir_like(root / 'data', num_train=6, num_test=2)
    plain = write_config(root / 'plain.py')
    work = root / 'uninterrupted'
    result = train(plain, root / 'data', work)
    assert result.code == 0, result.stderr[-3000:]
    return root, plain, final_weights(work)


@pytest.fixture(scope='module')
def crashed_run(write_config, train):
    """``crashed_run(root, name)``: a run killed right after iteration 5
    (checkpoints 2 and 4 exist); returns its work dir."""

    def run(root, name: str):
        work = root / name
        killer = write_config(root / f'{name}.py',
                              "dict(type='KillAfterIterHook', iteration=5)")
        result = train(killer, root / 'data', work)
        assert result.code != 0  # SIGKILL
        assert sorted(f for f in os.listdir(work)
                      if f.endswith('.pth')) == ['iter_2.pth', 'iter_4.pth']
        return work

    return run


def assert_same_weights(expected: dict, work) -> None:
    weights = final_weights(work)
    assert weights.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(weights[key], value), key


@pytest.mark.slow
def test_resume_after_sigkill_ends_with_the_same_weights(
        setup, crashed_run, train):
    root, plain, expected = setup
    work = crashed_run(root, 'killed')
    result = train(plain, root / 'data', work, '--resume')
    log = result.output
    assert result.code == 0, log[-3000:]
    assert 'resuming from' in log and 'iter_4.pth' in log
    assert 'Iter(train) [5/6]' in log
    assert_same_weights(expected, work)


@pytest.mark.slow
def test_without_random_state_hook_resume_diverges(setup, crashed_run,
                                                   write_config, train):
    """Why RandomStateHook exists: the replayed data alone does not restore
    the model's dropout / stochastic-depth draws."""
    root, _, expected = setup
    work = crashed_run(root, 'killed_no_hook')
    config = write_config(root / 'no_hook.py')
    text = open(config).read().replace("dict(type='RandomStateHook'), ", '')
    open(config, 'w').write(text)
    result = train(config, root / 'data', work, '--resume')
    assert result.code == 0, result.stderr[-3000:]
    weights = final_weights(work)
    assert any(not torch.equal(weights[k], v) for k, v in expected.items())


@pytest.mark.slow
def test_truncated_checkpoint_is_skipped_for_the_previous_one(
        setup, crashed_run, train):
    root, plain, expected = setup
    work = crashed_run(root, 'truncated')
    newest = work / 'iter_4.pth'
    data = newest.read_bytes()
    newest.write_bytes(data[:len(data) // 2])
    result = train(plain, root / 'data', work, '--resume')
    log = result.output
    assert result.code == 0, log[-3000:]
    assert f'not resuming from {newest}' in log and 'truncated' in log
    assert 'Iter(train) [3/6]' in log
    assert_same_weights(expected, work)


# Slow for its share of setup's training run (about 16 s) when run alone.
@pytest.mark.slow
def test_no_complete_checkpoint_is_a_clear_error(setup, train, tmp_path):
    root, plain, _ = setup
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_2.pth').write_bytes(b'PK\x03\x04 cut')
    result = train(plain, root / 'data', work, '--resume')
    assert result.code != 0
    assert 'no complete checkpoint' in result.stderr
    assert 'iter_2.pth' in result.output


@pytest.mark.slow
def test_non_finite_loss_stops_naming_iteration_and_term(
        setup, write_config, train):
    root, _, _ = setup
    work = root / 'nan'
    config = write_config(
        root / 'nan.py', "dict(type='NaNWeightsBeforeIterHook', iteration=3)")
    result = train(config, root / 'data', work)
    log = result.output
    assert result.code != 0
    assert 'FloatingPointError: non-finite loss at iteration 3' in log
    assert 'decode.loss_bce=nan' in log and 'decode.loss_dice=nan' in log
    assert 'iter_2.pth' in log.split('non-finite loss')[1]
    # The diverged model was never saved: the last good one is kept.
    assert sorted(f for f in os.listdir(work)
                  if f.endswith('.pth')) == ['iter_2.pth']


@pytest.mark.slow
def test_time_limit_stops_saving_weights_that_resume_exactly(setup, train):
    root, plain, expected = setup
    work = root / 'time_limited'
    # Any first iteration ends past a limit of a millisecond.
    result = train(plain, root / 'data', work, '--time-limit', '0.001')
    log = result.output
    assert result.code == 0, log[-3000:]
    assert 'time limit of 0.001 s reached after iteration 1 of 6' in log
    assert 'Iter(train) [2/6]' not in log
    assert sorted(f for f in os.listdir(work)
                  if f.endswith('.pth')) == ['iter_1.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_1.pth')
    # --resume finds it, and the run ends where an uninterrupted one does.
    result = train(plain, root / 'data', work, '--resume')
    assert result.code == 0, result.output[-3000:]
    assert 'iter_1.pth' in result.output
    assert_same_weights(expected, work)
    refused = train(plain, root / 'data', work, '--time-limit', '0')
    assert refused.code == 2
    assert 'must be > 0 seconds, got 0' in refused.stderr
    # An epoch-based loop stops at the end of the epoch the limit passes in.
    epochs = root / 'epochs.py'
    epochs.write_text(f"""
_base_ = [{plain!r}]
train_dataloader = dict(
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True))
train_cfg = dict(
    _delete_=True, type='EpochBasedTrainLoop', max_epochs=3, val_interval=9)
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=9))
""")
    work = root / 'time_limited_epochs'
    result = train(str(epochs), root / 'data', work, '--time-limit', '0.001')
    assert result.code == 0, result.output[-3000:]
    assert 'reached after epoch 1 of 3' in result.output
    assert (work / 'last_checkpoint').read_text() == str(work / 'epoch_1.pth')
    meta = torch.load(
        work / 'epoch_1.pth', map_location='cpu', weights_only=False)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 3)  # 6 frames, batch 2


def test_checkpoint_problem_and_candidates(tmp_path):
    good = tmp_path / 'iter_2.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(3))), good)
    assert checkpoint_problem(str(good)) is None
    assert checkpoint_problem(str(tmp_path / 'none.pth')) == 'missing'
    cut = tmp_path / 'iter_4.pth'
    cut.write_bytes(good.read_bytes()[:-40])
    assert 'truncated' in checkpoint_problem(str(cut))
    (tmp_path / 'last_checkpoint').write_text(str(cut))
    path, skipped = resumable_checkpoint(str(tmp_path))
    assert path == str(good)
    assert skipped == [f'{cut}: not a complete torch checkpoint (truncated?)']
    assert resumable_checkpoint(str(tmp_path / 'empty')) == (None, [])
