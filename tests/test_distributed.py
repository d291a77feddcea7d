"""Distributed training through tools/dist_train.sh: 2 CPU processes, gloo."""
import os
import socket
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

# Both start a process group: gloo, and here torchrun's two processes.
pytestmark = pytest.mark.distributed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.subprocess  # bash and torchrun: not through run_tool
def test_two_cpu_processes_train_and_write_one_checkpoint(
        kvasir_like_root, tiny_cli_options, tmp_path):
    data, work = kvasir_like_root, tmp_path / 'work'
    loaders = [
        f'{name}.{key}' for name in ('train_dataloader', 'val_dataloader')
        for key in ('num_workers=0', 'persistent_workers=False')
    ]
    result = subprocess.run([
        'bash', 'tools/dist_train.sh', 'configs/ssformer_s_kvasir.py', '2',
        '--work-dir',
        str(work), '--cfg-options', f'data_root={data}', *tiny_cli_options,
        *loaders, 'train_dataloader.batch_size=2', 'train_cfg.max_iters=3',
        'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=3',
        'default_hooks.logger.interval=1'
    ],
                            cwd=REPO_ROOT,
                            env=dict(
                                os.environ,
                                PORT=str(free_port()),
                                PYTHON=sys.executable),
                            capture_output=True,
                            text=True,
                            timeout=300)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert 'Distributed training: True' in log
    assert 'Iter(train) [3/3]' in log
    # The 2 test frames are split over the 2 ranks: one each, then gathered.
    assert 'Iter(val) [1/1]' in log and 'Kvasir/meanDic' in log
    checkpoints = [f for f in os.listdir(work) if f.endswith('.pth')]
    assert checkpoints == ['iter_3.pth']


def test_shutdown_distributed_destroys_the_process_group(tmp_path):
    import torch.distributed as dist

    from ssformer_mmseg.engine.distributed import shutdown_distributed
    assert shutdown_distributed() is False  # no group: nothing to do
    dist.init_process_group(
        'gloo',
        init_method=f'file://{tmp_path / "store"}',
        rank=0,
        world_size=1)
    assert shutdown_distributed() is True
    assert not dist.is_initialized()
