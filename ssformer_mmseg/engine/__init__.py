"""Runner hooks and the optimizer wrapper of the fast paths."""
from .hooks import ChannelsLastHook, FastInferenceHook
from .optim_wrapper import AutocastOptimWrapper

__all__ = ['ChannelsLastHook', 'FastInferenceHook', 'AutocastOptimWrapper']
