"""Runner hooks, the mixed-precision optimizer wrapper, resumable
checkpoints."""
from .best_checkpoint import BestCheckpointHook
from .checkpoints import checkpoint_problem, resumable_checkpoint
from .hooks import (ChannelsLastHook, FastInferenceHook, NonFiniteLossHook,
                    RandomStateHook, TrainTimeLimitHook)
from .optim_wrapper import AutocastOptimWrapper

__all__ = [
    'ChannelsLastHook', 'FastInferenceHook', 'AutocastOptimWrapper',
    'RandomStateHook', 'NonFiniteLossHook', 'resumable_checkpoint',
    'checkpoint_problem', 'BestCheckpointHook', 'TrainTimeLimitHook'
]
