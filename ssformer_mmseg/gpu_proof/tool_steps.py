"""The GPU proof's steps that run the tools themselves: ``distributed``
(``tools/dist_train.sh`` with one process, then ``tools/test.py``) and
``scratch`` (``tools/train.py --amp --time-limit`` for the time left, then
``tools/test.py``)."""
import json
import os
import os.path as osp
import re
import socket
import sys
import time
from typing import List, Optional

from ..engine.seed_spread import last_checkpoint
from ..engine.tool_runs import run_logged, tool_command
from ..packaged import find_config
from .context import StepContext, StepSkipped
from .measurements import amp_dtypes, short_dtype

#: Lines of a failed run's log that come back (a stack dump's main thread
#: is at its end).
LOG_TAIL_LINES = 60
#: Seconds the launch probe may take (it starts a process group, runs one
#: all-reduce and ends the group).
LAUNCH_PROBE_S = 25
#: Seconds a collective may wait before the process group gives up (a hang
#: becomes an error with a message instead of a run stopped from outside).
COLLECTIVE_TIMEOUT_S = 60
#: Seconds the distributed step keeps for tools/test.py after training
#: (its start, 162 test images, the maps).
TEST_RESERVE_S = 45


def _run(ctx: StepContext,
         name: str,
         command: List[str],
         log_file: str,
         timeout: float,
         env: Optional[dict] = None) -> None:
    """:func:`run_logged`; if it fails, the end of its log goes to the
    step's output, which comes back with the report (the log itself stays
    on the machine). A run stopped at ``timeout`` ends its log with its
    processes' stacks."""
    try:
        run_logged(command, log_file, name, ctx.log, timeout, env=env)
    except RuntimeError:
        if osp.isfile(log_file):
            with open(log_file, errors='replace') as f:
                tail = f.read().splitlines()[-LOG_TAIL_LINES:]
            ctx.log(f'the last lines of {log_file}:\n' + '\n'.join(tail))
        raise


def _run_tool(ctx: StepContext, script: str, args: List[str], log_file: str,
              timeout: float) -> None:
    _run(ctx, f'tools/{script}', tool_command(script, args), log_file, timeout)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _short_run_options(ctx: StepContext, iters: int) -> List[str]:
    """A run of ``iters`` iterations at the proof's batch that saves its
    last and never validates (``tools/test.py`` tests it), with loader
    workers for the machine's cores."""
    workers = min(12, os.cpu_count() or 1) \
        if ctx.device.startswith('cuda') else 2
    return [
        f'train_dataloader.batch_size={ctx.settings.batch}',
        f'train_dataloader.num_workers={workers}',
        f'train_cfg.max_iters={iters}', 'val_cfg=None', 'val_dataloader=None',
        'val_evaluator=None', f'default_hooks.checkpoint.interval={iters}',
        f'default_hooks.logger.interval={max(1, min(10, iters))}'
    ]


def _test_run(ctx: StepContext,
              config: str,
              checkpoint: str,
              work_dir: str,
              timeout: float,
              bootstrap_resamples: Optional[int] = None) -> dict:
    """``tools/test.py`` on ``checkpoint``: each set's meanDic with its
    interval (``bootstrap_resamples`` 0: none; None: the metric's
    default)."""
    from ..evaluation.reports import ScoreReport
    out = osp.join(work_dir, 'maps')
    resamples = [] if bootstrap_resamples is None else \
        ['--bootstrap-resamples', str(bootstrap_resamples)]
    _run_tool(
        ctx,
        'test.py', [
            config, checkpoint, '--work-dir', work_dir, '--out', out,
            *resamples, '--cfg-options', *ctx.settings.cli_options()
        ],
        osp.join(work_dir, 'test.log'),
        timeout=timeout)
    report = ScoreReport.read(out)
    return report.as_dict()


def _need_data(ctx: StepContext) -> None:
    if not ctx.settings.data_root:
        raise StepSkipped('no data: run with --bundle holding a data slice')


def run_launch_probe(ctx: StepContext, work: str, timeout: float) -> dict:
    """``torchrun`` with one worker that starts a process group, runs one
    all-reduce and ends the group (:mod:`.launch_probe`), each phase timed.

    Returns:
        dict: The phases' seconds as far as they got, ``launcher_exit_s``
        (from the worker's end to the launcher's), and ``error`` if it
        failed or hung (the phase after the last recorded is the one).
    """
    from . import launch_probe as probe
    record_file = osp.join(work, 'launch_probe.json')
    launched = time.time()
    command = [
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '1',
        '--master_addr', '127.0.0.1', '--master_port',
        str(_free_port()), probe.__file__, record_file,
        repr(launched)
    ]
    error = None
    try:
        # NCCL's own account of its start (a few dozen lines for one rank):
        # what a hang's log tail needs.
        _run(ctx, 'the launch probe', command,
             osp.join(work, 'launch_probe.log'), timeout,
             dict(NCCL_DEBUG='INFO'))
    except RuntimeError as failure:
        error = str(failure)
    ended = time.time()
    record = {}
    if osp.isfile(record_file):
        with open(record_file) as f:
            record = json.load(f)
    if 'ended_at' in record:
        record['launcher_exit_s'] = round(ended - record.pop('ended_at'), 2)
    record['total_s'] = round(ended - launched, 2)
    if error:
        record['error'] = error
    return record


def distributed(ctx: StepContext) -> None:
    _need_data(ctx)
    settings = ctx.settings
    work = osp.join(settings.work_dir, 'distributed')
    os.makedirs(work, exist_ok=True)
    # NCCL names its version when a communicator starts: proof it ran.
    os.environ.setdefault('NCCL_DEBUG', 'VERSION')
    # Pins a slow or hung launch to its phase before training is tried.
    ctx.record('launch', run_launch_probe(ctx, work, LAUNCH_PROBE_S))
    config = find_config(settings.train_config)
    os.environ['PORT'] = str(_free_port())
    log_file = osp.join(work, 'train.log')
    sync_bn = []
    if ctx.device.startswith('cuda'):
        sync_bn = ['sync_bn=torch']
    else:
        ctx.record('sync_bn', 'not set: DDP refuses SyncBatchNorm on '
                   'CPU modules')
    start = time.time()
    _run_tool(
        ctx,
        'dist_train.sh', [
            config, '1', '--work-dir', work, '--cfg-options',
            *settings.cli_options(), *sync_bn,
            f'env_cfg.dist_cfg.timeout={COLLECTIVE_TIMEOUT_S}',
            *_short_run_options(ctx, settings.dist_iters)
        ],
        log_file,
        timeout=max(30.0,
                    ctx.remaining() - TEST_RESERVE_S))
    with open(log_file) as f:
        text = f.read()
    ctx.record(
        'train',
        dict(
            iterations=settings.dist_iters,
            seconds=round(time.time() - start, 1),
            distributed='Distributed training: True' in text,
            backend=_backend_seen(text),
            sync_bn="sync_bn = 'torch'" in text))
    checkpoint = last_checkpoint(work)
    if checkpoint is None:
        raise RuntimeError(f'{work} records no checkpoint after training')
    ctx.record(
        'test',
        _test_run(
            ctx,
            config,
            checkpoint,
            osp.join(work, 'test'),
            ctx.remaining() - 2,
            # It proves the checkpoint loads and scores; the intervals are
            # the scratch step's.
            bootstrap_resamples=0))


def _backend_seen(log_text: str) -> str:
    """The process group's backend, as the training log shows it."""
    from ..compat import CPU_GLOO_NOTICE
    nccl = re.search(r'NCCL version (\S+)', log_text)
    if nccl:
        return f'nccl {nccl.group(1)}'
    if CPU_GLOO_NOTICE in log_text:
        return 'gloo'
    return 'not shown in the log'


def scratch(ctx: StepContext) -> None:
    _need_data(ctx)
    settings = ctx.settings
    on_cuda = ctx.device.startswith('cuda')
    test_reserve, start_up = (60, 30) if on_cuda else (60, 20)
    train_seconds = ctx.remaining() - test_reserve - start_up
    if train_seconds < 10:
        raise StepSkipped(f'{ctx.remaining():.0f} s left, too little to '
                          'train and test')
    speed = _amp_speed(ctx)
    # The schedule's length from the measured speed (data loading and
    # logging cost some of it); the time limit stops the run if the
    # estimate is high.
    iters = settings.scratch_iters or (max(
        2, int(train_seconds * speed * 0.6 /
               settings.batch)) if speed else 1000)
    work = osp.join(settings.work_dir, 'scratch')
    config = find_config(settings.train_config)
    ctx.record(
        'plan',
        dict(
            seconds=round(train_seconds),
            iterations=iters,
            measured_img_per_s=speed))
    start = time.time()
    _run_tool(
        ctx,
        'train.py', [
            config, '--work-dir', work, '--amp', '--time-limit',
            f'{train_seconds:.0f}', '--cfg-options', *settings.cli_options(),
            *_short_run_options(ctx, iters)
        ],
        osp.join(work, 'train.log'),
        timeout=train_seconds + start_up + 30)
    checkpoint = last_checkpoint(work)
    if checkpoint is None:
        raise RuntimeError(f'{work} records no checkpoint after training')
    done = int(osp.splitext(osp.basename(checkpoint))[0].split('_')[-1])
    ctx.record(
        'train',
        dict(
            iterations=done,
            planned=iters,
            seconds=round(time.time() - start, 1),
            images=done * settings.batch))
    ctx.record(
        'test',
        _test_run(ctx, config, checkpoint, osp.join(work, 'test'),
                  max(10.0,
                      ctx.remaining() - 2)))


def _amp_speed(ctx: StepContext) -> Optional[float]:
    """SSFormer-S's measured img/s in AMP (the training step's), if any."""
    rows = ctx.earlier('training').get('throughput', {})
    first = next(iter(ctx.settings.models))
    amp = f'AMP {short_dtype(amp_dtypes(ctx.device)[0])}'
    for row in rows.get(first, []):
        if row['name'] == amp:
            return row['img_per_s']
    return None
