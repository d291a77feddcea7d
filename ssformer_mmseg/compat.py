"""Workarounds for known breakages of the torch / mmcv / mmengine stack.

Everything here is applied once, by ``import ssformer_mmseg``, before mmseg's
models are imported. Each fix does nothing where the stack does not need it.

1. **mmcv-lite has no compiled ops.** mmseg imports a few ``mmcv.ops``
   functions at module level, so ``import mmseg.models`` fails without them.
   :func:`install_mmcv_ops_fallback` registers a stand-in ``mmcv.ops`` module
   with a pure-PyTorch ``point_sample``. Any other op raises
   :class:`MissingMMCVOpError` (a ``ModuleNotFoundError``, so mmseg's
   ``try: from mmcv.ops import X / except ModuleNotFoundError`` guards take
   their fallback branch) naming the op and how to get it. Ops that mmseg
   imports without such a guard are bound to placeholders that raise the same
   error when called. With full mmcv installed nothing is replaced.
   mmseg's own ``tools/train.py`` and ``tools/test.py`` import
   ``mmseg.models`` (``register_all_modules``) before a config's
   ``custom_imports`` can import us, so an installed ssformer-mmseg also
   ships ``ssformer_mmseg_startup.pth``: at interpreter start it registers
   a finder (:mod:`_ssformer_mmseg_startup`, standard library only) that
   does nothing until ``mmcv.ops`` is first imported, and then serves
   :func:`fallback_ops_module` if mmcv has no compiled ops. For that this
   module imports nothing of the package at module level.
2. **torch >= 2.6 loads checkpoints with ``weights_only=True``.** mmengine's
   Runner checkpoints carry a few non-tensor globals (its ``HistoryBuffer``
   and NumPy arrays/scalars in ``message_hub``), so resuming, ``load_from``,
   testing and inference fail. :func:`allow_runner_checkpoint_globals`
   allow-lists exactly those globals; ``weights_only`` stays on, and a
   checkpoint with any other global is still refused by torch with an error
   naming it. The one ``getattr`` call such checkpoints contain is served by
   a restricted function that only returns ``HistoryBuffer`` statistics.
   On torch 2.4 and 2.5 (the oldest the README supports), ``torch.load``
   still defaults to ``weights_only=False`` and mmengine passes nothing, so
   a checkpoint's pickle could run code: :func:`load_weights_only_by_default`
   gives ``torch.load`` the default of torch 2.6 there (an explicit
   ``weights_only=False`` still works, as on newer torch).
3. **mmengine resolves ``package::`` base configs through distribution
   names and ``pkg_resources``.** setuptools >= 82 has no ``pkg_resources``,
   and the maintained forks install ``mmseg`` as ``onedl-mmsegmentation``.
   Our own configs do not inherit from mmseg's, but user configs may:
   :func:`patch_package_lookup` gives mmengine ``importlib``-based
   look-ups of the module that imports, and registers our package, so a
   user config can start from ours with
   ``_base_ = ['ssformer_mmseg::ssformer_s_kvasir.py']``.
4. **mmengine's PyTorch launcher assumes CUDA.** It calls
   ``torch.cuda.set_device`` before creating the process group, which fails
   on CPU-only PyTorch, and configs default to the GPU-only NCCL backend.
   Without CUDA, :func:`patch_cpu_distributed_init` skips the device call and
   uses gloo instead of NCCL. (What a CPU run also needs at run time, a DDP
   wrapper config without device ids and a clean process-group shutdown,
   is in :mod:`ssformer_mmseg.engine.distributed`, applied by our tools.)
5. **onedl-mmengine retries a refused checkpoint with ``weights_only=False``**
   (0.10.12, on torch >= 2.6), so a hostile checkpoint's pickle runs, and
   its allow-list context drops ours. :func:`refuse_unsafe_checkpoint_fallback`
   loads with ``weights_only`` only, as upstream does; nothing changes on
   upstream mmengine, which has no such loader.
6. **onedl-mmsegmentation prints "Could not import OneDL" on stdout**
   (1.4.2, twice, at ``import mmseg.datasets`` when its optional ``onedl``
   package is absent: a DEBUG message given to ``print_log`` without a
   logger), which spoils the output of commands that print a result, such as
   ``ssformer-mmseg configs``. :func:`import_mmseg_datasets` imports it with
   that one line held back; anything else printed passes through.
"""
import contextlib
import functools
import importlib.machinery
import importlib.metadata
import importlib.util
import io
import os.path as osp
import pickle
import re
import sys
import types
import warnings
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

MMCV_FULL_HINT = (
    'full mmcv 2.1 (compiled ops) is required for it; see "Full mmcv" in the '
    'ssformer-mmseg README for how to build it')

# Ops mmseg 1.2 imports from mmcv.ops without a ModuleNotFoundError guard
# (beyond point_sample, which is provided): they get call-time placeholders so
# that ``import mmseg.models`` works.
UNGUARDED_MMCV_OPS = ('sigmoid_focal_loss', )

#: What onedl-mmsegmentation prints on stdout at import (point 6).
FORK_IMPORT_NOTICE = 'Could not import OneDL'


class MissingMMCVOpError(ModuleNotFoundError):
    """Raised for an ``mmcv.ops`` member that needs mmcv's compiled ops."""

    def __init__(self, op_name: str):
        super().__init__(
            f'mmcv.ops.{op_name} is not available: '
            f'{MMCV_FULL_HINT}.',
            name='mmcv._ext')
        self.op_name = op_name


def mmcv_has_compiled_ops() -> bool:
    """Whether the installed mmcv ships its compiled extension."""
    return importlib.util.find_spec('mmcv._ext') is not None


def point_sample(input: Tensor,
                 points: Tensor,
                 align_corners: bool = False,
                 **kwargs) -> Tensor:
    """Pure-PyTorch ``mmcv.ops.point_sample``.

    Args:
        input (Tensor): Features of shape (N, C, H, W).
        points (Tensor): Points in [0, 1] x [0, 1], shape (N, P, 2) or
            (N, Hgrid, Wgrid, 2), ``(x, y)`` order.
        align_corners (bool): As in ``F.grid_sample``. Default: False.
        **kwargs: Passed on to ``F.grid_sample``.

    Returns:
        Tensor: Sampled features, (N, C, P) or (N, C, Hgrid, Wgrid).
    """
    add_dim = points.dim() == 3
    if add_dim:
        points = points.unsqueeze(2)
    output = F.grid_sample(
        input, 2.0 * points - 1.0, align_corners=align_corners, **kwargs)
    return output.squeeze(3) if add_dim else output


class _UnavailableOp:
    """Stand-in for an op that mmseg imports unconditionally."""

    def __init__(self, name: str):
        self.__name__ = self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        raise MissingMMCVOpError(self.__name__)

    def __repr__(self) -> str:
        return f'<unavailable mmcv.ops.{self.__name__}>'


def _fallback_ops_getattr(name: str) -> Any:
    if name.startswith('__'):
        raise AttributeError(name)
    raise MissingMMCVOpError(name)


def fallback_ops_module() -> types.ModuleType:
    """A new pure-PyTorch stand-in for ``mmcv.ops`` (see point 1 above)."""
    # mmcv warns at import that MultiScaleDeformableAttention is missing; the
    # stand-in already says so, with the fix, if that op is ever used.
    warnings.filterwarnings(
        'ignore', message='Fail to import ``MultiScaleDeformableAttention``')
    module = types.ModuleType(
        'mmcv.ops', 'Pure-PyTorch stand-in for mmcv.ops, installed by '
        'ssformer_mmseg because mmcv has no compiled ops.')
    module.__spec__ = importlib.machinery.ModuleSpec('mmcv.ops', None)
    module.IS_SSFORMER_FALLBACK = True
    module.point_sample = point_sample
    for name in UNGUARDED_MMCV_OPS:
        setattr(module, name, _UnavailableOp(name))
    module.__getattr__ = _fallback_ops_getattr
    return module


def install_mmcv_ops_fallback() -> bool:
    """Register the pure-PyTorch ``mmcv.ops`` stand-in if mmcv lacks ops.

    Returns:
        bool: True if the stand-in is (now) installed, False if the real,
        compiled ``mmcv.ops`` is available and left untouched.
    """
    if mmcv_has_compiled_ops():
        return False
    existing = sys.modules.get('mmcv.ops')
    if existing is not None and getattr(existing, 'IS_SSFORMER_FALLBACK',
                                        False):
        return True
    import mmcv

    module = fallback_ops_module()
    sys.modules['mmcv.ops'] = module
    mmcv.ops = module
    return True


def _history_buffer_statistic(obj: Any, name: str) -> Any:
    """The only ``getattr`` a Runner checkpoint needs.

    ``HistoryBuffer`` keeps its statistic functions (``min``, ``mean``, ...)
    in a dict, which pickles them as ``getattr(HistoryBuffer, 'min')``.
    Anything else would let a checkpoint reach arbitrary attributes.
    """
    from mmengine.logging import HistoryBuffer

    # The class fills _statistics_methods only when a first buffer is made,
    # which a fresh process that only loads a checkpoint has not done.
    statistics = {
        'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods
    }
    if obj is HistoryBuffer and name in statistics:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'Refusing GLOBAL builtins.getattr({obj!r}, {name!r}): checkpoints '
        'may only use getattr for mmengine HistoryBuffer statistics')


def runner_checkpoint_globals() -> list:
    """Globals (object or ``(object, pickled name)``) of Runner checkpoints."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(
        np, '_core') else np.core.multiarray
    safe = [
        HistoryBuffer, np.ndarray, np.dtype,
        (_history_buffer_statistic, 'builtins.getattr')
    ]
    # Checkpoints written under NumPy 1 name ``numpy.core``, under NumPy 2
    # ``numpy._core``: accept both spellings for the same two functions.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        safe.append((multiarray._reconstruct, f'{module}._reconstruct'))
        safe.append((multiarray.scalar, f'{module}.scalar'))
    # NumPy >= 1.25 may pickle a dtype through its class (numpy.dtypes.*).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe.extend(
            cls for cls in vars(dtypes).values()
            if isinstance(cls, type) and issubclass(cls, np.dtype))
    return safe


def allow_runner_checkpoint_globals() -> None:
    """Allow-list the globals of mmengine Runner checkpoints for torch.load."""
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is not None:  # torch < 2.4 loads them anyway
        add_safe_globals(runner_checkpoint_globals())


def load_weights_only_by_default(torch_module: Any = torch) -> bool:
    """On torch < 2.6, make ``torch.load`` default to ``weights_only=True``
    (torch 2.6's default), so that mmengine's and mmseg's loading, which
    pass no ``weights_only``, never unpickle arbitrary objects.

    Returns:
        bool: True if ``torch.load`` was wrapped (torch < 2.6).
    """
    major, minor = (
        int(part)
        for part in re.findall(r'\d+', str(torch_module.__version__))[:2])
    original = torch_module.load
    if (major, minor) >= (2, 6) or getattr(original,
                                           'is_ssformer_weights_only', False):
        return False

    @functools.wraps(original)
    def load(*args, weights_only: Optional[bool] = None, **kwargs):
        return original(
            *args,
            weights_only=True if weights_only is None else weights_only,
            **kwargs)

    load.is_ssformer_weights_only = True
    torch_module.load = load
    return True


#: Our package in ``_base_ = ['ssformer_mmseg::ssformer_s_kvasir.py']``.
CONFIG_PACKAGE = 'ssformer_mmseg'


def _module_of(package: str) -> str:
    """The module a distribution name in mmengine's table stands for
    (``mmsegmentation`` -> ``mmseg``), else the name itself."""
    from mmengine.config.utils import MODULE2PACKAGE
    for module, dist in MODULE2PACKAGE.items():
        if dist == package:
            return module
    return package


def _is_installed(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
        return True
    except importlib.metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(_module_of(package))
        return spec is not None and spec.origin is not None


def _get_installed_path(package: str) -> str:
    # The module that imports, whichever distribution installed it (the
    # forks install mmseg as onedl-mmsegmentation, not mmsegmentation).
    spec = importlib.util.find_spec(_module_of(package))
    if spec is None or spec.origin is None:
        # A distribution name mmengine's table does not know.
        dist = importlib.metadata.distribution(package)
        module = (dist.read_text('top_level.txt') or package).split()[0]
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(
                f'cannot locate the module of package {package}')
    return osp.dirname(spec.origin)


def _get_package_and_cfg_path(original):
    """mmengine's ``package::path`` parser, also taking a path without a
    folder for our package (``ssformer_mmseg::ssformer_s_kvasir.py``: our
    runnable configs are not in per-model folders)."""

    @functools.wraps(original)
    def parse(cfg_path: str):
        package, separator, path = cfg_path.partition('::')
        if separator and package == CONFIG_PACKAGE and '::' not in path:
            return package, path
        return original(cfg_path)

    parse.is_ssformer_patch = True
    return parse


#: The registry scope of our modules (registered in mmseg's registries).
CONFIG_SCOPE = 'mmseg'


def _get_cfg_path(original):
    """``Config._get_cfg_path``, giving the dicts of our configs the scope
    of the registries our modules are in: mmengine names the scope after the
    package (``ssformer_mmseg``), which has no registries of its own, so
    e.g. mmseg's ``SegLocalVisualizer`` would not be found."""

    def get(cfg_path: str, filename: str):
        path, scope = original(cfg_path, filename)
        return path, CONFIG_SCOPE if scope == CONFIG_PACKAGE else scope

    get.is_ssformer_patch = True
    return staticmethod(get)


def patch_package_lookup() -> bool:
    """Let mmengine resolve ``package::`` base configs on any stack.

    mmengine finds ``mmseg::`` through the distribution ``mmsegmentation``
    (with ``pkg_resources``, gone from setuptools >= 82); the maintained
    forks install ``mmseg`` as ``onedl-mmsegmentation``. The replacements
    find the module that imports, by ``importlib``. It also registers
    ``ssformer_mmseg::`` (configs in ``ssformer_mmseg/.mim/configs``).

    Returns:
        bool: True if mmengine was patched now (False: already patched).
    """
    import mmengine.config.config as config_module
    import mmengine.config.utils as config_utils
    import mmengine.hub.hub as hub_module
    import mmengine.utils as utils_module
    import mmengine.utils.package_utils as package_utils

    config_utils.MODULE2PACKAGE.setdefault(CONFIG_PACKAGE, CONFIG_PACKAGE)
    if getattr(config_module._get_package_and_cfg_path, 'is_ssformer_patch',
               False):
        return False
    # Each module bound the functions by name at import: patch every binding.
    for module in (package_utils, utils_module, config_module, hub_module):
        module.is_installed = _is_installed
        module.get_installed_path = _get_installed_path
    for module in (config_module, hub_module):
        module._get_package_and_cfg_path = _get_package_and_cfg_path(
            module._get_package_and_cfg_path)
    config_module.Config._get_cfg_path = _get_cfg_path(
        config_module.Config._get_cfg_path)
    return True


def refuse_unsafe_checkpoint_fallback() -> bool:
    """onedl-mmengine (0.10.12) loads a checkpoint that ``weights_only``
    refuses again with ``weights_only=False``, running whatever its pickle
    says, and its allow-list context drops the globals we allow-listed.
    Its loader is replaced by a plain ``weights_only`` load, which refuses
    such checkpoints with torch's error naming the global (as upstream
    mmengine on torch >= 2.6 does).

    Returns:
        bool: True if mmengine has that loader (and it was replaced).
    """
    import mmengine.runner.checkpoint as checkpoint
    original = getattr(checkpoint, '_safe_torch_load', None)
    if original is None:
        return False
    if getattr(original, 'is_ssformer_patch', False):
        return True

    def load(file, map_location=None, weights_only=None):
        return torch.load(
            file,
            map_location=map_location,
            weights_only=True if weights_only is None else weights_only)

    load.is_ssformer_patch = True
    checkpoint._safe_torch_load = load
    return True


#: What a CPU process group says when it starts (the config asks for nccl).
CPU_GLOO_NOTICE = ('ssformer_mmseg: no CUDA here, so the process group uses '
                   'gloo instead of the configured nccl')


def patch_cpu_distributed_init() -> bool:
    """Let mmengine start a PyTorch-launched process group without CUDA.

    Returns:
        bool: True if mmengine was patched (CUDA is not available).
    """
    if torch.cuda.is_available():
        return False
    import mmengine.dist.utils as dist_utils
    original = dist_utils._init_dist_pytorch
    if getattr(original, 'is_ssformer_cpu_patch', False):
        return True

    def init_dist_pytorch_cpu(backend: str = 'gloo',
                              init_backend: str = 'torch',
                              **kwargs) -> None:
        if init_backend != 'torch':
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            print(f'{CPU_GLOO_NOTICE}', file=sys.stderr, flush=True)
            backend = 'gloo'
        torch.distributed.init_process_group(backend=backend, **kwargs)

    init_dist_pytorch_cpu.is_ssformer_cpu_patch = True
    dist_utils._init_dist_pytorch = init_dist_pytorch_cpu
    return True


def import_without_notice(module: str,
                          notice: str = FORK_IMPORT_NOTICE) -> bool:
    """Import ``module`` with the lines equal to ``notice`` held back from
    stdout (what else it prints is written through afterwards).

    Returns:
        True if it was imported now, False if it already was.
    """
    if module in sys.modules:
        return False
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            importlib.import_module(module)
    finally:
        sys.stdout.write(''.join(
            line for line in printed.getvalue().splitlines(keepends=True)
            if line.rstrip('\n') != notice))
    return True


def import_mmseg_datasets() -> bool:
    """Import ``mmseg.datasets`` without the fork's import notice (point
    6); True if it was imported now."""
    return import_without_notice('mmseg.datasets')


def apply() -> None:
    """Apply every workaround; safe to call more than once."""
    install_mmcv_ops_fallback()
    allow_runner_checkpoint_globals()
    load_weights_only_by_default()
    patch_package_lookup()
    refuse_unsafe_checkpoint_fallback()
    patch_cpu_distributed_init()
    import_mmseg_datasets()


_MOVED = {
    'use_cpu_ddp_wrapper':
    'ssformer_mmseg.engine.distributed.use_cpu_ddp_wrapper',
    'shutdown_distributed':
    'ssformer_mmseg.engine.distributed.shutdown_distributed',
}


def __getattr__(name: str) -> Any:
    # Imported at call time: this module imports nothing of the package, so
    # that the interpreter-start hook can load it before mmseg (point 1);
    # dunder probes (every ``from compat import X``) must not import it.
    if name.startswith('__'):
        raise AttributeError(name)
    from ._deprecation import moved_names
    return moved_names(__name__, _MOVED)(name)
