"""Running the GPU proof: each step in a process of its own, with its own
time limit, its output in the run's log, and the report rewritten after
every step (so a run cut short still leaves one).

A process per step keeps a step's failure (a CUDA error poisons its
process's context, a hung NCCL rendezvous never returns) from taking the
others down, and makes its time limit a hard one.
"""
import os
import os.path as osp
import subprocess
import sys
import threading
import time
import traceback
from typing import Callable, Dict, Optional, Sequence

from ..engine.process_tree import dump_stacks_on_signal, stop_process_tree
from .report import write_report
from .settings import STEP_NAMES, ProofSettings

#: A step's exit status when it cannot run here (it recorded why).
SKIPPED_EXIT = 3
#: Seconds a step may overrun its limit while it winds down.
GRACE_S = 10


def _stream(pipe, sinks: Sequence[Callable[[str], None]]) -> None:
    for line in iter(pipe.readline, ''):
        for sink in sinks:
            sink(line)
    pipe.close()


def run_step(settings: ProofSettings, settings_file: str, step: str,
             limit: float, echo: Callable[[str], None]) -> dict:
    """Run one step in a subprocess; its status, seconds and why."""
    deadline = time.time() + limit
    command = [
        sys.executable, '-m', 'ssformer_mmseg.gpu_proof', step, settings_file,
        repr(deadline)
    ]
    start = time.time()
    # cwd: the work dir, so `-m` imports the installed package, never a
    # checkout in the current folder.
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=settings.work_dir,
        start_new_session=True)
    reader = threading.Thread(
        target=_stream, args=(process.stdout, [echo]), daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=limit + GRACE_S)
    except subprocess.TimeoutExpired:
        stop_process_tree(process)
        code = None
    reader.join(timeout=5)
    seconds = round(time.time() - start, 1)
    record = settings.read_record(step)
    if code == 0:
        return dict(status='ok', seconds=seconds)
    if code == SKIPPED_EXIT:
        return dict(
            status='skipped', seconds=seconds, why=record.get('__skipped__'))
    if code is None:
        why = f'stopped at its {limit:.0f} s limit'
    else:
        why = record.get('__error__') or f'exited with {code}'
    return dict(status='failed', seconds=seconds, why=why)


def run_proof(settings: ProofSettings,
              machine: Optional[dict] = None,
              install: Optional[dict] = None,
              log: Callable[[str], None] = print) -> Dict[str, dict]:
    """Run the steps of ``settings`` in order and write the report.

    Args:
        settings (ProofSettings): What to run.
        machine (dict, optional): What the bootstrap saw (pip list,
            nvidia-smi), for the report.
        install (dict, optional): What the bootstrap installed.
        log (Callable): Progress lines.

    Returns:
        dict: Step -> ``{'status': 'ok' | 'skipped' | 'failed' | 'not
        asked', 'seconds', 'why'}``.
    """
    os.makedirs(settings.results_dir, exist_ok=True)
    os.makedirs(osp.join(settings.work_dir, 'steps'), exist_ok=True)
    settings_file = osp.join(settings.work_dir, 'settings.json')
    settings.save(settings_file)
    log_path = osp.join(settings.results_dir, 'gpu_proof.log')
    end = time.time() + settings.time_limit
    statuses: Dict[str, dict] = {}
    with open(log_path, 'a') as log_file:

        def echo(line: str) -> None:
            log_file.write(line)
            log_file.flush()
            log(line.rstrip('\n'))

        for step in STEP_NAMES:
            if step not in settings.steps:
                statuses[step] = dict(status='not asked')
                continue
            left = end - time.time()
            budget = settings.budget(step)
            limit = min(budget, left) if budget else left
            if limit < 5:
                statuses[step] = dict(
                    status='skipped', why=f'{max(left, 0):.0f} s left')
            else:
                echo(f'== {step} (limit {limit:.0f} s) ==\n')
                try:
                    statuses[step] = run_step(settings, settings_file, step,
                                              limit, echo)
                except Exception as error:  # report, go on to the next
                    statuses[step] = dict(
                        status='failed',
                        why=f'{type(error).__name__}: '
                        f'{error}')
            echo(f'== {step}: {_describe(statuses[step])} ==\n')
            write_report(settings, statuses, machine, install)
    return statuses


def _describe(status: dict) -> str:
    words = status['status']
    if 'seconds' in status:
        words += f' in {status["seconds"]} s'
    if status.get('why'):
        words += f' ({status["why"]})'
    return words


def step_main(argv: Sequence[str]) -> int:
    """``python -m ssformer_mmseg.gpu_proof STEP SETTINGS DEADLINE``: run
    one step, recording its figures, or why it was skipped or failed."""
    from .steps import STEPS, StepContext, StepSkipped
    step, settings_file, deadline = argv
    dump_stacks_on_signal()  # a step stopped at its limit says where
    settings = ProofSettings.load(settings_file)
    context = StepContext(settings, step, float(deadline))
    try:
        STEPS[step](context)
    except StepSkipped as reason:
        context.record('__skipped__', str(reason))
        print(f'[{step}] skipped: {reason}', flush=True)
        return SKIPPED_EXIT
    except BaseException as error:  # the record says what broke
        traceback.print_exc()
        context.record('__error__', f'{type(error).__name__}: {error}')
        return 1
    return 0
