"""BestCheckpointHook: save_best never leaves a run without a best
checkpoint (mmengine's removes the previous one before writing the new)."""
import os

import pytest
from mmengine.logging import MessageHub, MMLogger
from mmseg.registry import HOOKS

import ssformer_mmseg  # noqa: F401  (registers the hook)


class StubRunner:
    """What CheckpointHook reads of a runner; ``save_checkpoint`` writes the
    iteration into the file, or fails like a full disk."""

    def __init__(self, work_dir, name):
        self.work_dir = str(work_dir)
        self.epoch, self.iter = 0, 0
        self.message_hub = MessageHub.get_instance(name)
        self.logger = MMLogger.get_instance(name)
        self.fail = False

    def save_checkpoint(self, out_dir, filename, **kwargs):
        if self.fail:
            with open(os.path.join(out_dir, filename), 'w') as f:
                f.write('trunc')  # a partial write, then the error
            raise OSError('No space left on device')
        with open(os.path.join(out_dir, filename), 'w') as f:
            f.write(str(self.iter))


@pytest.fixture
def hook_and_runner(tmp_path, request):
    hook = HOOKS.build(
        dict(
            type='BestCheckpointHook',
            interval=1000,
            by_epoch=False,
            save_best='acc',
            rule='greater'))
    runner = StubRunner(tmp_path, request.node.name)
    hook.before_train(runner)
    return hook, runner


def _files(tmp_path):
    return sorted(os.listdir(tmp_path))


def test_a_failed_write_keeps_the_previous_best(hook_and_runner, tmp_path):
    hook, runner = hook_and_runner
    runner.iter = 10
    hook._save_best_checkpoint(runner, dict(acc=0.5))
    assert _files(tmp_path) == ['best_acc_iter_10.pth']
    runner.iter, runner.fail = 20, True
    with pytest.raises(OSError, match='No space left'):
        hook._save_best_checkpoint(runner, dict(acc=0.6))
    # mmengine's hook had removed best_acc_iter_10.pth before writing.
    assert 'best_acc_iter_10.pth' in _files(tmp_path)
    assert (tmp_path / 'best_acc_iter_10.pth').read_text() == '10'
    assert not any(n.endswith('.previous-best') for n in _files(tmp_path))


def test_a_new_best_replaces_and_no_better_keeps(hook_and_runner, tmp_path):
    hook, runner = hook_and_runner
    runner.iter = 10
    hook._save_best_checkpoint(runner, dict(acc=0.5))
    runner.iter = 20
    hook._save_best_checkpoint(runner, dict(acc=0.4))  # not better
    assert _files(tmp_path) == ['best_acc_iter_10.pth']
    runner.iter = 30
    hook._save_best_checkpoint(runner, dict(acc=0.7))
    assert _files(tmp_path) == ['best_acc_iter_30.pth']
    assert hook.best_ckpt_path.endswith('best_acc_iter_30.pth')
