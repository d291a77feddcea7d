"""Stopping a tool that overran: its whole process tree (torchrun's workers
live in sessions of their own), with the stacks of the processes that print
them first."""
import os
import signal
import subprocess
import sys
import time

import pytest

from ssformer_mmseg.engine import process_tree
from ssformer_mmseg.engine.process_tree import (STACK_SIGNAL, catches,
                                                descendants,
                                                dump_stacks_on_signal, running,
                                                stop_process_tree)
from ssformer_mmseg.engine.tool_runs import run_logged

pytestmark = pytest.mark.skipif(
    not os.path.isdir('/proc'), reason='the process tree is read from /proc')

MODULE = process_tree.__file__

# A worker as torchrun starts one: in a session of its own, printing its
# stacks on the signal, with a forked child (a DataLoader worker) that
# does not; it writes its pid and its child's, then waits forever.
WORKER = '''
import importlib.util, os, sys, time
spec = importlib.util.spec_from_file_location('process_tree', sys.argv[2])
process_tree = importlib.util.module_from_spec(spec)
spec.loader.exec_module(process_tree)  # not the package: no torch to import
process_tree.dump_stacks_on_signal()
child = os.fork()
if child == 0:
    while True:
        time.sleep(1)
def stuck_in_a_collective():
    with open(sys.argv[1], 'w') as f:
        f.write(f'{os.getpid()} {child}')
    while True:
        time.sleep(0.1)
stuck_in_a_collective()
'''
# A launcher: starts WORKER in a new session and waits for it.
LAUNCHER = '''
import subprocess, sys
subprocess.Popen([sys.executable, '-c', *sys.argv[1:]],
                 start_new_session=True).wait()
'''


def wait_for(path, seconds: float = 60) -> str:
    end = time.time() + seconds
    while time.time() < end:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f'{path} was not written')


def test_a_timed_out_launcher_leaves_no_worker_and_logs_its_stack(tmp_path):
    pids, log = tmp_path / 'pids', tmp_path / 'run.log'
    command = [sys.executable, '-c', LAUNCHER, WORKER, str(pids), MODULE]
    started = time.time()
    with pytest.raises(RuntimeError) as error:
        run_logged(command, str(log), 'the launcher', timeout=8)
    assert str(error.value) == (
        f'the launcher ran past 8 s and was stopped; its log: {log}')
    worker, child = map(int, pids.read_text().split())
    # Killing the launcher's group alone would leave both running.
    assert not running(worker) and not running(child)
    text = log.read_text()
    # The worker's main thread, where it was stuck; the forked child and
    # the launcher (no handler) printed nothing.
    assert 'in stuck_in_a_collective' in text
    assert text.count('most recent call first') == 1
    assert time.time() - started < 8 + 10


def test_a_run_that_ends_in_time_is_left_alone(tmp_path):
    log = tmp_path / 'ok.log'
    run_logged([sys.executable, '-c', 'print("done")'],
               str(log),
               'it',
               timeout=30)
    assert log.read_text() == 'done\n'
    with pytest.raises(RuntimeError, match=r'^it exited with 3; its log: '):
        run_logged([sys.executable, '-c', 'raise SystemExit(3)'],
                   str(log),
                   'it',
                   timeout=30)


def test_descendants_and_handlers_are_read_from_proc(tmp_path):
    pids = tmp_path / 'pids'
    launcher = subprocess.Popen(
        [sys.executable, '-c', LAUNCHER, WORKER,
         str(pids), MODULE],
        start_new_session=True)
    try:
        worker, child = map(int, wait_for(pids).split())
        tree = descendants(launcher.pid)
        assert worker in tree and child in tree
        assert catches(worker, STACK_SIGNAL)
        assert not catches(child, STACK_SIGNAL)  # forked: forgotten
        assert not catches(launcher.pid, STACK_SIGNAL)
        assert stop_process_tree(launcher, stack_wait=0) == []
        assert not running(worker) and not running(child)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert catches(10**7, STACK_SIGNAL) is False  # no such process


def test_the_signal_prints_stacks_and_the_process_goes_on(tmp_path):
    # In this process: the handler is installed and does not end it.
    previous = signal.getsignal(STACK_SIGNAL)
    import faulthandler
    try:
        dump_stacks_on_signal()
        assert catches(os.getpid(), STACK_SIGNAL)
    finally:
        faulthandler.unregister(STACK_SIGNAL)
        signal.signal(STACK_SIGNAL, previous)
