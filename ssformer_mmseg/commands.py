"""The installed ``ssformer-mmseg`` command: one subcommand per tool.

``ssformer-mmseg train CONFIG ...`` runs the packaged ``tools/train.py``
exactly as ``python tools/train.py CONFIG ...`` does in a clone (the same
file, the same options), so the command and the scripts never differ. The
subcommands are the tools found in the packaged ``tools/`` folder: each
``tools/<name>.py`` and ``tools/model_converters/<name>.py`` is
``ssformer-mmseg <name>`` (underscores or hyphens), each launcher
``tools/<name>.sh`` (``dist_train``, ``slurm_test``, ...) runs with bash.
Besides them: ``configs`` lists the packaged configs, ``--version``.
"""
import ast
import os
import os.path as osp
import subprocess
import sys
import types
from typing import Dict, List, Optional, Sequence

from . import packaged
from .version import __version__

#: The command's name (``console_scripts`` in pyproject.toml).
COMMAND = 'ssformer-mmseg'
#: Subfolders of ``tools/`` whose scripts are subcommands too.
TOOL_SUBFOLDERS = ('model_converters', )


def tool_scripts() -> Dict[str, str]:
    """Subcommand name (hyphens) -> its script in the packaged tools."""
    scripts = {}
    base = packaged.tools_dir()
    for folder in (base, *(osp.join(base, sub) for sub in TOOL_SUBFOLDERS)):
        for name in sorted(os.listdir(folder)):
            stem, suffix = osp.splitext(name)
            if suffix in ('.py', '.sh') and not stem.startswith('_'):
                scripts[stem.replace('_', '-')] = osp.join(folder, name)
    return scripts


def summary(script: str) -> str:
    """The first sentence of a tool's docstring (or leading comment, for a
    launcher), read without running it."""
    with open(script, encoding='utf-8') as f:
        text = f.read()
    if script.endswith('.py'):
        doc = ast.get_docstring(ast.parse(text)) or ''
    else:  # the comment block after the #! line
        comments = []
        for line in text.splitlines()[1:]:
            if not line.startswith('#'):
                break
            comments.append(line.lstrip('#').strip())
        doc = '\n'.join(comments)
    paragraph = ' '.join(doc.strip().split('\n\n')[0].split())
    return paragraph.split('. ')[0].rstrip('.')


def usage(scripts: Dict[str, str]) -> str:
    """The command's help: every subcommand with its summary."""
    width = max(len(name) for name in (*scripts, 'configs'))
    lines = [
        f'usage: {COMMAND} <command> [options]   '
        f'({COMMAND} <command> --help for its options)', '', 'commands:'
    ]
    lines += [
        f'  {name:<{width}}  {summary(path)}'
        for name, path in scripts.items()
    ]
    lines += [
        f'  {"configs":<{width}}  list the packaged configs (any tool takes '
        'one by name)', '',
        f'Configs: a path, or a packaged name such as ssformer_s_kvasir; in '
        f'a config, _base_ = [\'{packaged.PACKAGE_PREFIX}'
        'ssformer_s_kvasir.py\'].'
    ]
    return '\n'.join(lines)


def run_tool(script: str, name: str, args: Sequence[str]) -> int:
    """Run one tool with ``args`` as ``python tools/<tool>.py args`` would
    (a launcher through bash, with ``PYTHON`` set to this interpreter)."""
    if script.endswith('.sh'):
        env = dict(os.environ, PYTHON=os.environ.get('PYTHON', sys.executable))
        return subprocess.call(['bash', script, *args], env=env)
    saved = sys.argv, sys.path[:], sys.modules['__main__']
    # As `python script` would: the script is __main__, its folder first on
    # sys.path. (runpy.run_path would set argv[0] to the script's path,
    # and argparse names the program after argv[0].)
    module = types.ModuleType('__main__')
    module.__file__ = script
    sys.argv = [f'{COMMAND} {name}', *args]
    sys.path.insert(0, osp.dirname(script))
    sys.modules['__main__'] = module
    try:
        with open(script, encoding='utf-8') as f:
            compiled = compile(f.read(), script, 'exec')
        exec(compiled, module.__dict__)
    except SystemExit as done:
        status = done.code
        if status is None or isinstance(status, int):
            return status or 0
        print(status, file=sys.stderr)  # sys.exit('message')
        return 1
    finally:
        sys.argv, sys.path[:], sys.modules['__main__'] = saved
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """``ssformer-mmseg <command> [options]``; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    scripts = tool_scripts()
    if not argv or argv[0] in ('-h', '--help', 'help'):
        print(usage(scripts))
        return 0
    command, args = argv[0], argv[1:]
    if command == '--version':
        print(f'{COMMAND} {__version__}')
        return 0
    if command == 'configs':
        print('\n'.join(packaged.config_names()))
        return 0
    script = scripts.get(command.replace('_', '-'))
    if script is None:
        print(
            f'{COMMAND}: no command {command!r}\n\n{usage(scripts)}',
            file=sys.stderr)
        return 2
    return run_tool(script, command.replace('_', '-'), args)


if __name__ == '__main__':
    sys.exit(main())
