"""What this machine's CPU can do fast: the facts that decide how fast fp32
and bf16 can run, shared by inference, training and the benchmark.

Light on purpose (only ``torch``): the training-time optimizer wrapper
asks it, and ``import ssformer_mmseg`` must not load inference code.
"""
import functools
import os

import torch

EMULATED_BF16 = ('bf16 on a CPU without native bf16 (AVX-512 BF16 / AMX) '
                 'is emulated by PyTorch, several times slower than fp32')


@functools.lru_cache(maxsize=None)
def onednn_bf16_supported() -> bool:
    """Whether this CPU has oneDNN bf16 primitives (AVX-512 BF16 or AMX);
    without them oneDNN refuses to create bf16 convolutions and linears.
    (PyTorch's private check, the one inductor uses for the same choice.)"""
    return (torch.backends.mkldnn.is_available()
            and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def bf16_emulated(device_type: str) -> bool:
    """Whether bf16 runs emulated on ``device_type`` (``'cpu'``, ``'cuda'``):
    on a CPU without native bf16 (see :data:`EMULATED_BF16`)."""
    return device_type == 'cpu' and not onednn_bf16_supported()


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else the machine type."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return os.uname().machine + ' CPU'


def cpu_description() -> str:
    """The CPU's name, the vector ISA PyTorch uses and whether bf16 is
    native, e.g. ``'AMD EPYC (AVX512, native bf16)'``."""
    native = 'native bf16' if onednn_bf16_supported() else \
        'no native bf16: bf16 is emulated'
    return (f'{cpu_name()} ({torch.backends.cpu.get_cpu_capability()}, '
            f'{native})')
