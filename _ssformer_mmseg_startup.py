"""Interpreter-start hook of ssformer-mmseg (``ssformer_mmseg_startup.pth``).

mmseg's own tools call ``register_all_modules()``, which imports
``mmseg.models`` and so ``mmcv.ops``, before a config's ``custom_imports``
can import ``ssformer_mmseg``; with mmcv-lite (no compiled ops) that import
fails on ``mmcv._ext``. This hook puts a finder first on ``sys.meta_path``
that ignores every module but ``mmcv.ops``. When ``mmcv.ops`` is first
imported and mmcv has no compiled ops, it serves the pure-PyTorch stand-in of
:mod:`ssformer_mmseg.compat` (loaded from its file without importing the
package, which would import mmseg in the middle of mmseg's own import);
with full mmcv it steps aside. Nothing is imported at interpreter start but
the standard library, and the finder leaves after its one use. Set
``SSFORMER_MMSEG_NO_STARTUP_HOOK=1`` to keep the stock behaviour.
"""
import importlib.abc
import importlib.util
import os
import os.path as osp
import sys

_TARGET = 'mmcv.ops'
_COMPAT = 'ssformer_mmseg.compat'


def _load_compat():
    """``ssformer_mmseg.compat``, loaded without running the package's
    ``__init__``; a later ``import ssformer_mmseg`` reuses it."""
    if _COMPAT in sys.modules:
        return sys.modules[_COMPAT]
    package = importlib.util.find_spec('ssformer_mmseg')
    if package is None:  # uninstalled while this hook stayed behind
        return None
    path = osp.join(package.submodule_search_locations[0], 'compat.py')
    spec = importlib.util.spec_from_file_location(_COMPAT, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_COMPAT] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_COMPAT]
        raise
    return module


class _FallbackLoader(importlib.abc.Loader):
    """Hands out a module that is already built; the hook's work is done
    once it has (a mere ``find_spec`` probe leaves the hook in place)."""

    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        uninstall()
        return self.module

    def exec_module(self, module) -> None:
        pass


class MMCVOpsFinder(importlib.abc.MetaPathFinder):
    """Serves the ``mmcv.ops`` stand-in where mmcv has no compiled ops."""

    def __init__(self):
        # Loading compat imports torch and mmcv, which may look up mmcv.ops
        # themselves: those look-ups take the normal way.
        self._busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET or self._busy:
            return None
        self._busy = True
        try:
            compat = _load_compat()
            if compat is None or compat.mmcv_has_compiled_ops():
                uninstall()
                return None
            module = compat.fallback_ops_module()
        except Exception:  # never break mmcv.ops itself: stock behaviour
            uninstall()
            return None
        finally:
            self._busy = False
        return importlib.util.spec_from_loader(_TARGET,
                                               _FallbackLoader(module))


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once), unless
    ``SSFORMER_MMSEG_NO_STARTUP_HOOK=1``."""
    if os.environ.get('SSFORMER_MMSEG_NO_STARTUP_HOOK') == '1':
        return
    if not any(isinstance(f, MMCVOpsFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MMCVOpsFinder())


def uninstall() -> None:
    """Remove the finder."""
    sys.meta_path[:] = [
        f for f in sys.meta_path if not isinstance(f, MMCVOpsFinder)
    ]
