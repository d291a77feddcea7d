"""Old import paths of names that moved, still served with a warning.

A module whose names moved sets ``__getattr__ = moved_names(__name__,
{...})``; Python calls it only for names the module does not define, so
the old spelling keeps working, warns once per use site, and the new
location is imported only when an old name is actually used.
"""
import importlib
import warnings
from typing import Any, Callable, Dict


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
            'removed in a future release',
            DeprecationWarning,
            stacklevel=2)
        return getattr(importlib.import_module(new_module), new_name)

    return __getattr__
