"""Distributed runs on CPU-only machines, at run time.

:mod:`ssformer_mmseg.compat` lets mmengine start a process group without
CUDA (gloo instead of NCCL). Two more things a CPU run needs are applied by
``tools/train.py`` and ``tools/test.py`` to their own runs:

* the Runner's default DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which
  DDP refuses for CPU modules: :func:`use_cpu_ddp_wrapper` gives CPU runs a
  wrapper config without device ids, so ``torchrun`` /
  ``tools/dist_train.sh`` run on CPU processes;
* mmengine never destroys its process group, and a gloo group still alive at
  interpreter exit sometimes aborts the process ("terminate called without
  an active exception", SIGABRT, so torchrun reports the whole run as failed
  after it finished): :func:`shutdown_distributed`, called when the run
  ends, waits for every rank and destroys the group.
"""
from typing import Any

import torch


def use_cpu_ddp_wrapper(cfg: Any) -> bool:
    """Give a distributed CPU run a DDP wrapper config without device ids.

    Args:
        cfg (Config): A Runner config; changed in place.

    Returns:
        bool: True if the config was changed (a launcher is set, CUDA is not
        available and the config has no ``model_wrapper_cfg`` of its own).
    """
    if (cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available()
            or cfg.get('model_wrapper_cfg') is not None):
        return False
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        # Set explicitly: the Runner would default it to [LOCAL_RANK].
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    return True


def shutdown_distributed() -> bool:
    """Wait for every rank, then destroy the default process group.

    Returns:
        bool: True if a process group existed and was destroyed.
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return False
    dist.barrier()
    dist.destroy_process_group()
    return True
