"""Running one of the packaged tools (``tools/train.py``, ``tools/test.py``,
``tools/dist_train.sh``, ...) in a subprocess, its output in a log file:
what the seed spread and the GPU proof build on."""
import os
import os.path as osp
import signal
import subprocess
import sys
from typing import Callable, Optional, Sequence

from ..messages import quiet
from ..packaged import tools_dir


def tool_command(script: str, args: Sequence[str]) -> list:
    """The command line of ``tools/<script>``: a Python tool under this
    interpreter, a shell launcher under bash (its ``PYTHON`` set by
    :func:`run_tool`)."""
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
    ``log_file``.

    The tool runs in a process group of its own, so a launcher's workers
    (torchrun's) end with it when ``timeout`` runs out.

    Raises:
        RuntimeError: If it fails or runs past ``timeout`` seconds, naming
            its log.
    """
    command = tool_command(script, args)
    log(f'{script}: {" ".join(command[1:])} (log: {log_file})')
    os.makedirs(osp.dirname(osp.abspath(log_file)), exist_ok=True)
    env = dict(os.environ, PYTHON=sys.executable)
    with open(log_file, 'w') as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError(f'tools/{script} ran past {timeout:.0f} s and '
                               f'was stopped; its log: {log_file}') from None
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    if code != 0:
        raise RuntimeError(f'tools/{script} exited with {code}; its log: '
                           f'{log_file}')
