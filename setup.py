"""What the build needs code for; the metadata is in ``pyproject.toml``.

1. The start-up hook ``ssformer_mmseg_startup.pth`` goes to the root of the
   wheel (site-packages), also in editable installs (see
   ``_ssformer_mmseg_startup.py``).
2. ``configs/``, ``tools/`` and ``model-index.yml`` go into the package as
   ``ssformer_mmseg/.mim/`` (OpenMMLab's layout: ``mim`` and mmengine's
   ``ssformer_mmseg::`` base configs read it): copied into wheels, linked
   in the source tree for editable installs, as mmsegmentation does.
"""
import os
import os.path as osp
import shutil
from setuptools import setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
#: Run at interpreter start, in site-packages: lets mmseg's own tools use our
#: configs with mmcv-lite (see ``_ssformer_mmseg_startup.py``).
STARTUP_PTH = 'ssformer_mmseg_startup.pth'
#: The repository files the package carries in ``ssformer_mmseg/.mim``
#: (``ssformer_mmseg.packaged.MIM_CONTENTS``; read here without importing
#: the package, which needs torch and mmseg).
MIM_CONTENTS = ('configs', 'tools', 'model-index.yml')
MIM_DIR = osp.join('ssformer_mmseg', '.mim')
#: Never packaged from a working tree.
IGNORED = shutil.ignore_patterns('__pycache__', '*.pyc', '.*')


def copy_mim_files(target: str) -> None:
    """Copy the ``.mim`` contents into ``target`` (a build folder)."""
    os.makedirs(target, exist_ok=True)
    for name in MIM_CONTENTS:
        source, copy = osp.join(HERE, name), osp.join(target, name)
        if osp.isdir(source):
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(source, copy, ignore=IGNORED)
        else:
            shutil.copyfile(source, copy)


def link_mim_files() -> None:
    """Link ``ssformer_mmseg/.mim/<name>`` to the checkout's files, so an
    editable install serves the files being edited."""
    target = osp.join(HERE, MIM_DIR)
    os.makedirs(target, exist_ok=True)
    for name in MIM_CONTENTS:
        link = osp.join(target, name)
        if osp.islink(link) or osp.isfile(link):
            os.remove(link)
        elif osp.isdir(link):
            shutil.rmtree(link)
        os.symlink(osp.join('..', '..', name), link)


class BuildPyWithExtras(build_py):
    """Put the ``.pth`` file at the root of wheels (site-packages) and the
    ``.mim`` files into the package."""

    def run(self) -> None:
        super().run()
        self.copy_file(STARTUP_PTH, osp.join(self.build_lib, STARTUP_PTH))
        copy_mim_files(osp.join(self.build_lib, MIM_DIR))


def editable_wheel_command():
    """setuptools' PEP 660 ``editable_wheel`` (``pip install -e``), which
    ignores extra build outputs, with the ``.pth`` file written into its
    wheel (listed, with its hash, in the wheel's RECORD like every other
    file) and ``.mim`` linked in the source tree."""
    from setuptools.command.editable_wheel import editable_wheel

    class WithStartupHook:
        """An editable-install strategy that also writes the ``.pth``."""

        def __init__(self, strategy):
            self.strategy = strategy

        def __enter__(self):
            self.strategy.__enter__()
            return self

        def __exit__(self, *exc_info):
            return self.strategy.__exit__(*exc_info)

        def __call__(self, wheel, files, mapping):
            self.strategy(wheel, files, mapping)
            wheel.write(STARTUP_PTH, STARTUP_PTH)

    class EditableWheelWithExtras(editable_wheel):

        def _select_strategy(self, *args, **kwargs):
            link_mim_files()
            return WithStartupHook(super()._select_strategy(*args, **kwargs))

    return EditableWheelWithExtras


setup(
    cmdclass=dict(
        build_py=BuildPyWithExtras, editable_wheel=editable_wheel_command()))
