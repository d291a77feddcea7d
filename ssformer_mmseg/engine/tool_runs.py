"""Running one of the packaged tools (``tools/train.py``, ``tools/test.py``,
``tools/dist_train.sh``, ...) in a subprocess, its output in a log file:
what the seed spread and the GPU proof build on."""
import os
import os.path as osp
import subprocess
import sys
from typing import Callable, Mapping, Optional, Sequence

from ..messages import quiet
from ..packaged import tools_dir
from .process_tree import stop_process_tree


def tool_command(script: str, args: Sequence[str]) -> list:
    """The command line of ``tools/<script>``: a Python tool under this
    interpreter, a shell launcher under bash (its ``PYTHON`` set by
    :func:`run_logged`)."""
    path = osp.join(tools_dir(), script)
    runner = [sys.executable] if script.endswith('.py') else ['bash']
    return [*runner, path, *args]


def run_tool(script: str,
             args: Sequence[str],
             log_file: str,
             log: Callable[[str], None] = quiet,
             timeout: Optional[float] = None,
             cwd: Optional[str] = None) -> None:
    """Run ``tools/<script>`` with ``args``, stdout and stderr to
    ``log_file`` (:func:`run_logged`).

    Raises:
        RuntimeError: If it fails or runs past ``timeout`` seconds, naming
            its log.
    """
    run_logged(
        tool_command(script, args), log_file, f'tools/{script}', log, timeout,
        cwd)


def run_logged(command: Sequence[str],
               log_file: str,
               name: str,
               log: Callable[[str], None] = quiet,
               timeout: Optional[float] = None,
               cwd: Optional[str] = None,
               env: Optional[Mapping[str, str]] = None) -> None:
    """Run ``command``, stdout and stderr to ``log_file``, with the
    environment's ``PYTHON`` set to this interpreter.

    If ``timeout`` runs out, the processes in the command's tree that
    print their stacks on a signal do so into the log, then the whole tree
    is killed, a launcher's workers in sessions of their own included
    (:func:`~ssformer_mmseg.engine.process_tree.stop_process_tree`).

    Args:
        command (Sequence[str]): The command line.
        log_file (str): Where its output goes.
        name (str): What ``log`` and errors call it.
        log (Callable): Gets the command line.
        timeout (float, optional): Seconds it may run.
        cwd (str, optional): Its working directory.
        env (Mapping, optional): Variables set for it besides this
            process's environment.

    Raises:
        RuntimeError: If it fails or runs past ``timeout`` seconds, naming
            its log.
    """
    log(f'{name}: {" ".join(command[1:])} (log: {log_file})')
    os.makedirs(osp.dirname(osp.abspath(log_file)), exist_ok=True)
    with open(log_file, 'w') as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={
                **os.environ, 'PYTHON': sys.executable,
                **(env or {})
            },
            cwd=cwd,
            start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process_tree(process)
            raise RuntimeError(f'{name} ran past {timeout:.0f} s and was '
                               f'stopped; its log: {log_file}') from None
        except BaseException:
            stop_process_tree(process, stack_wait=0)
            raise
    if code != 0:
        raise RuntimeError(f'{name} exited with {code}; its log: {log_file}')
