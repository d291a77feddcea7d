"""One step of the GPU proof in a process of its own (what
:func:`~ssformer_mmseg.gpu_proof.proof.run_step` starts)."""
import sys

from .proof import step_main

sys.exit(step_main(sys.argv[1:]))
