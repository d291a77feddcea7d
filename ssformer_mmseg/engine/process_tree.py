"""Stopping a tool that overran: every process it started, with the Python
stacks of the ones that can print them first.

Killing a tool's process group is not enough: ``torchrun`` starts each
worker in a session of its own, so a ``tools/dist_train.sh`` stopped that
way leaves its training processes running (on a GPU, holding its memory
and skewing whatever is measured next). :func:`stop_process_tree` finds the
whole tree under the tool's process (from ``/proc``), lets the processes
that print their stacks on :data:`STACK_SIGNAL` do so, so the log says
where the run was stuck, then kills every one of them.

The tools that run long (``tools/train.py``, ``tools/test.py``) call
:func:`dump_stacks_on_signal` at start, which also serves a user with a
run that seems stuck: ``kill -USR1 <pid>`` prints where each thread is.
"""
import faulthandler
import os
import os.path as osp
import signal
import subprocess
import time
from typing import Dict, List, Optional

#: The signal on which :func:`dump_stacks_on_signal` prints the stacks
#: (None on Windows, which has no such signal).
STACK_SIGNAL = getattr(signal, 'SIGUSR1', None)

#: Seconds :func:`stop_process_tree` waits for killed processes to end.
KILL_WAIT_S = 10.0

_registered = False


def dump_stacks_on_signal() -> None:
    """Print every thread's Python stack to stderr on :data:`STACK_SIGNAL`.

    The process goes on afterwards. Processes forked from this one
    (DataLoader workers) do not inherit it, so a signal to the whole tree
    prints the stacks of the processes that matter, not a dozen idle
    workers'. Nothing is done where there is no :data:`STACK_SIGNAL`.
    """
    global _registered
    if STACK_SIGNAL is None:
        return
    faulthandler.register(STACK_SIGNAL, all_threads=True)
    if not _registered:
        os.register_at_fork(after_in_child=_forget_in_child)
        _registered = True


def _forget_in_child() -> None:
    faulthandler.unregister(STACK_SIGNAL)


def _stat(pid) -> Optional[List[str]]:
    """The fields of ``/proc/<pid>/stat`` after the name (state, parent,
    ...); None if it cannot be read (ended meanwhile, no ``/proc``)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            # The name (field 2) may hold spaces: parse after it.
            return f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None


def _parents() -> Dict[int, int]:
    """pid -> parent pid of every process (empty where ``/proc`` is not)."""
    parents = {}
    for entry in os.listdir('/proc') if osp.isdir('/proc') else ():
        fields = _stat(entry) if entry.isdigit() else None
        if fields is not None:
            parents[int(entry)] = int(fields[1])
    return parents


def descendants(pid: int) -> List[int]:
    """Every process started under ``pid``, in whatever session.

    Args:
        pid (int): A process.

    Returns:
        list[int]: Its children, their children and so on (empty where
        ``/proc`` is not available).
    """
    children: Dict[int, List[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop()
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def catches(pid: int, signum: Optional[int]) -> bool:
    """Whether process ``pid`` has a handler for ``signum``.

    Returns:
        bool: From ``/proc/<pid>/status``; False where it cannot be read
        (or ``signum`` is None).
    """
    if signum is None:
        return False
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('SigCgt:'):
                    return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


def stop_process_tree(process: subprocess.Popen,
                      stack_wait: float = 2.0) -> List[int]:
    """Kill ``process`` and every process under it.

    ``process`` must lead a process group of its own
    (``start_new_session=True``), which is killed as a whole; so are the
    groups of the processes found under it.

    Args:
        process (Popen): The tool's process.
        stack_wait (float): Seconds the processes that catch
            :data:`STACK_SIGNAL` get to print their stacks (0: no stacks).

    Returns:
        list[int]: The processes that were asked for their stacks. When it
        returns, every process of the tree has ended (or
        :data:`KILL_WAIT_S` seconds have passed).
    """
    tree = [process.pid] + descendants(process.pid)
    asked = [pid for pid in tree if catches(pid, STACK_SIGNAL)
             ] if stack_wait > 0 and process.poll() is None else []
    for pid in asked:
        _send(pid, STACK_SIGNAL)
    if asked:
        time.sleep(stack_wait)
    own_group = os.getpgrp()
    groups = {process.pid}
    for pid in tree:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            pass
    for group in groups - {own_group}:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in tree:
        _send(pid, signal.SIGKILL)
    process.wait()
    # Return once they are gone (their GPU memory with them).
    end = time.time() + KILL_WAIT_S
    while time.time() < end and any(map(running, tree)):
        time.sleep(0.05)
    return asked


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie has).

    Returns:
        bool: From ``/proc/<pid>/stat``; False where it cannot be read.
    """
    fields = _stat(pid)
    return fields is not None and fields[0] != 'Z'


def _send(pid: int, signum: int) -> None:
    if pid == os.getpid():
        return
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
