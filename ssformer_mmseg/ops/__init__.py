"""Kernels of the PyTorch fast path, each choosing its fast path itself:
oneDNN post-op fusions (:mod:`.fused_ops`) and Winograd F(4x4, 3x3)
convolution (:mod:`.winograd`). Plain ``torch``; no model knowledge."""
