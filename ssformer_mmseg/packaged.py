"""Where the configs, the tools and the model index are, and finding a
config by name.

An installed wheel carries them in ``ssformer_mmseg/.mim/`` (OpenMMLab's
layout, which ``mim`` and mmengine's ``ssformer_mmseg::`` base configs read);
a clone has them at its root, beside the package, and an editable install
links ``.mim/`` to them. The folder mirrors the repository root either way:
``configs/``, ``tools/``, ``model-index.yml``.

Imports nothing beyond the standard library: the ``ssformer-mmseg`` command
and the start-up hook use it before mmseg is imported.
"""
import difflib
import os
import os.path as osp
from typing import List

PACKAGE_DIR = osp.dirname(osp.abspath(__file__))
#: What a wheel (and an editable install) holds; mmengine and mim look here.
MIM_DIR = osp.join(PACKAGE_DIR, '.mim')
#: The files and folders of the repository root that ``.mim`` mirrors.
MIM_CONTENTS = ('configs', 'tools', 'model-index.yml')
#: The prefix naming our configs in ``_base_`` and on the command line.
PACKAGE_PREFIX = 'ssformer_mmseg::'


class ConfigNotFoundError(FileNotFoundError):
    """A config argument that is neither a file nor a packaged config."""


def root() -> str:
    """The folder holding ``configs/``, ``tools/`` and ``model-index.yml``.

    Raises:
        FileNotFoundError: If neither the package nor a checkout has them
            (a broken install).
    """
    checkout = osp.dirname(PACKAGE_DIR)
    for folder in (MIM_DIR, checkout):
        if osp.isdir(osp.join(folder, 'configs')) and osp.isfile(
                osp.join(folder, 'model-index.yml')):
            return folder
    raise FileNotFoundError(
        f'ssformer-mmseg has no configs: neither {MIM_DIR} nor the checkout '
        f'{checkout} holds configs/ and model-index.yml; reinstall the '
        'package (pip install --force-reinstall ssformer-mmseg)')


def config_dir() -> str:
    """The packaged ``configs/`` folder."""
    return osp.join(root(), 'configs')


def tools_dir() -> str:
    """The packaged ``tools/`` folder."""
    return osp.join(root(), 'tools')


def config_names() -> List[str]:
    """Every runnable packaged config, as its name: the path under
    ``configs/`` without ``.py`` (``ssformer_s_kvasir``,
    ``experiments/ssformer_s_kvasir_scratch_224``); ``_base_`` parts are
    not runnable and not listed."""
    base = config_dir()
    names = []
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith(('_', '.')))
        for name in sorted(files):
            if name.endswith('.py'):
                relative = osp.relpath(osp.join(folder, name), base)
                names.append(relative[:-len('.py')].replace(os.sep, '/'))
    return names


def find_config(name: str) -> str:
    """The config file a command-line argument names: an existing path as
    it is (a file, or a deployed-model folder where a tool takes one),
    otherwise a packaged config by name (``ssformer_s_kvasir``, with or
    without ``.py``, ``configs/`` or ``ssformer_mmseg::`` before it, so the
    README's ``configs/...`` paths work outside a clone too).

    Raises:
        ConfigNotFoundError: Naming the closest packaged configs.
    """
    if osp.exists(name):
        return name
    key = name.replace(os.sep, '/')
    for prefix in (PACKAGE_PREFIX, 'configs/'):
        if key.startswith(prefix):
            key = key[len(prefix):]
    if key.endswith('.py'):
        key = key[:-len('.py')]
    path = osp.join(config_dir(), *key.split('/')) + '.py'
    if key and osp.isfile(path):
        return path
    names = config_names()
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
    hint = (f'did you mean {", ".join(close)}?'
            if close else 'ssformer-mmseg configs lists them')
    raise ConfigNotFoundError(
        f'{name!r} is neither a config file nor a packaged config; {hint}')
