"""The GPU proof's steps. Each records its figures as it goes
(:meth:`.context.StepContext.record`), so a step stopped at its time limit
keeps what it measured; :mod:`.proof` runs each in a process of its own.

1. ``smoke``: versions, the device, SSFormer-S built on it, one training
   step.
2. ``training``: training img/s and peak memory of SSFormer-S and -L per
   recipe (fp32, fp16 AMP with loss scaling, bf16 AMP, channels_last, the
   fast recipe, and under ``torch.compile`` when time allows); the losses
   of fp32 and AMP over the same steps from the same weights.
3. ``distributed``: ``tools/dist_train.sh`` with one process (NCCL on
   CUDA) and ``sync_bn=torch``, then ``tools/test.py`` on its checkpoint.
4. ``inference``: eager fp32 against ``optimize_for_inference`` (fp16,
   bf16) at each batch, with max |logit difference|; ONNX Runtime on the
   device where its provider is there.
5. ``scratch``: SSFormer-S from scratch with AMP on the carried training
   pairs for the time left, tested on the carried test pairs.
"""
from typing import Callable, Dict

from .context import StepContext, StepSkipped
from .measurements import inference, smoke, training
from .tool_steps import distributed, scratch

#: Step name -> function.
STEPS: Dict[str, Callable[[StepContext], None]] = dict(
    smoke=smoke,
    training=training,
    distributed=distributed,
    inference=inference,
    scratch=scratch)

__all__ = ['STEPS', 'StepContext', 'StepSkipped']
