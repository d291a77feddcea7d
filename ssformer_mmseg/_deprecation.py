"""Deprecated names: old import paths of names that moved, still served with
a warning, and the one wording every deprecation uses, which names the
release that removes the old name (:data:`REMOVED_IN`).

A module whose names moved sets ``__getattr__ = moved_names(__name__,
{...})``; Python calls it only for names the module does not define, so
the old spelling keeps working, warns once per use site, and the new
location is imported only when an old name is actually used.
"""
import importlib
import warnings
from typing import Any, Callable, Dict

#: The release that removes every name deprecated so far.
REMOVED_IN = '0.3.0'


def warn_deprecated(old: str, instead: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated, say what to use ``instead`` and when
    ``old`` goes (a ``DeprecationWarning``; ``stacklevel`` 3 points at the
    caller of the function that calls this)."""
    warnings.warn(
        f'{old} is deprecated and will be removed in ssformer-mmseg '
        f'{REMOVED_IN}; {instead}',
        DeprecationWarning,
        stacklevel=stacklevel)


def moved_names(module: str, moves: Dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for names that moved.

    Args:
        module (str): The old module's ``__name__``.
        moves (dict): Old name -> ``'new.module.name'``.

    Returns:
        Callable: The ``__getattr__`` to assign in the old module.
    """

    def __getattr__(name: str) -> Any:
        target = moves.get(name)
        if target is None:
            raise AttributeError(
                f'module {module!r} has no attribute {name!r}')
        new_module, _, new_name = target.rpartition('.')
        warnings.warn(
            f'{module}.{name} has moved to {target}; the old name will be '
            f'removed in ssformer-mmseg {REMOVED_IN}',
            DeprecationWarning,
            stacklevel=2)
        return getattr(importlib.import_module(new_module), new_name)

    return __getattr__
