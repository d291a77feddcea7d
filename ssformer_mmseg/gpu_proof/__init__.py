"""The GPU proof: one prepared run of every CUDA path (training with AMP,
NCCL through ``tools/dist_train.sh``, GPU inference, a short training from
scratch) for the minutes a GPU is lent, and its CPU dry run.

:mod:`.bundle` packs what the GPU machine lacks (wheels, a data slice);
:mod:`.bootstrap` (standard library only) installs it there;
:mod:`.steps` are the measurements, :mod:`.proof` runs them each in a
process of its own with a time limit, :mod:`.report` writes the results.
``tools/gpu_proof/build_bundle.py`` and ``tools/gpu_proof/run.py`` are the
command lines. Not imported by ``import ssformer_mmseg``.
"""
from .proof import run_proof
from .settings import STEP_NAMES, ProofSettings

__all__ = ['ProofSettings', 'STEP_NAMES', 'run_proof']
