"""The bookkeeping every converter shares: unwrapping checkpoints and
handing out their tensors while recording what was missing, left over or
mis-shaped, so that one error names every bad key."""
import re
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional

import torch
from torch import Tensor

from ..messages import listing

StateDict = Dict[str, Tensor]

# Buffers that FLOP counters (thop and friends) register on every module;
# they are statistics of a profiling run, not weights.
_PROFILER_SUFFIXES = ('total_ops', 'total_params')
_WEIGHT_BIAS = ('weight', 'bias')


class CheckpointConversionError(KeyError):
    """A checkpoint does not have the layout a converter expects.

    A ``KeyError`` subclass so that callers treating a bad layout as a key
    problem keep working; ``str()`` gives the plain message (``KeyError``
    would quote it).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def unwrap_state_dict(checkpoint: Mapping[str, Any]) -> StateDict:
    """Return the state dict held by a checkpoint.

    Args:
        checkpoint (Mapping): A state dict, or a checkpoint holding one under
            ``'state_dict'`` (mmengine) or ``'model'`` (many training
            scripts). A ``module.`` prefix on every key (``DataParallel``) is
            removed.

    Returns:
        dict[str, Tensor]: The state dict, as a new ``OrderedDict`` (the
        tensors are shared with the input).

    Raises:
        CheckpointConversionError: If no tensor state dict is found.
    """
    state_dict: Any = checkpoint
    for wrapper in ('state_dict', 'model'):
        if isinstance(state_dict, Mapping) and isinstance(
                state_dict.get(wrapper), Mapping):
            state_dict = state_dict[wrapper]
            break
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointConversionError(
            'expected a non-empty state dict, or a checkpoint with one under '
            f"'state_dict' or 'model'; got {type(checkpoint).__name__}")
    not_tensors = [k for k, v in state_dict.items() if not torch.is_tensor(v)]
    if not_tensors:
        raise CheckpointConversionError(
            'state dict entries that are not tensors: ' +
            listing(not_tensors, limit=30))
    keys = list(state_dict)
    if all(k.startswith('module.') for k in keys):
        return OrderedDict(
            (k[len('module.'):], v) for k, v in state_dict.items())
    return OrderedDict(state_dict)


class KeySource:
    """Hands out the tensors of a state dict and records which were used.

    Missing keys are collected rather than raised one by one, so that a
    wrong checkpoint is reported with all its problems at once.
    """

    def __init__(self, state_dict: StateDict, dropped: Iterable[str]):
        self.state_dict = state_dict
        dropped = set(dropped)
        self.unused = [k for k in state_dict if k not in dropped]
        self._unused_set = set(self.unused)
        self.missing: List[str] = []
        self.bad_shapes: List[str] = []

    def remaining(self) -> List[str]:
        """Keys that are neither dropped nor consumed yet, in source order."""
        return [k for k in self.unused if k in self._unused_set]

    def has(self, key: str) -> bool:
        return key in self.state_dict

    def take(self, key: str, ndim: Optional[int] = None) -> Tensor:
        """Consume ``key``; a missing key yields an empty placeholder."""
        if key not in self.state_dict:
            self.missing.append(key)
            return torch.empty(0)
        self._unused_set.discard(key)
        tensor = self.state_dict[key]
        if ndim is not None and tensor.dim() != ndim:
            self.bad_shapes.append(
                f'{key}: expected {ndim} dims, got {tuple(tensor.shape)}')
        return tensor

    def shape_error(self, message: str) -> None:
        self.bad_shapes.append(message)

    def check(self, hint: str = '') -> None:
        """Raise if anything was missing, left over or mis-shaped."""
        problems = []
        if self.missing:
            problems.append('missing keys: ' + listing(self.missing, limit=30))
        leftover = self.remaining()
        if leftover:
            problems.append('unexpected keys: ' + listing(leftover, limit=30) +
                            hint)
        if self.bad_shapes:
            problems.append('unexpected shapes: ' + '; '.join(self.bad_shapes))
        if problems:
            raise CheckpointConversionError(
                'checkpoint does not have the expected layout; ' +
                '. '.join(problems))


def is_profiler_key(key: str) -> bool:
    return key.rsplit('.', 1)[-1] in _PROFILER_SUFFIXES


def count_indexed(keys: Iterable[str], pattern: str, start: int = 0) -> int:
    """Number of consecutive indices matched by ``pattern`` from ``start``.

    Counting up to the largest index found (not the number of distinct
    indices) turns a gap into missing keys, which are then reported.
    """
    indices = {
        int(m.group(1))
        for m in (re.match(pattern, k) for k in keys) if m
    }
    return max(indices) - start + 1 if indices else 0


def linear_to_conv(source: KeySource, key: str) -> Tensor:
    weight = source.take(key, ndim=2)
    return weight.reshape(*weight.shape, 1, 1) if weight.dim() == 2 \
        else weight


def conv_to_linear(source: KeySource, key: str) -> Tensor:
    weight = source.take(key, ndim=4)
    if weight.dim() == 4 and weight.shape[2:] != (1, 1):
        source.shape_error(f'{key}: expected a 1x1 kernel, got '
                           f'{tuple(weight.shape)}')
    return weight.reshape(weight.shape[0], -1) if weight.dim() == 4 \
        else weight


def copy_weight_bias(source: KeySource, out: StateDict, src: str,
                     dst: str) -> None:
    for name in _WEIGHT_BIAS:
        out[f'{dst}.{name}'] = source.take(f'{src}.{name}')
