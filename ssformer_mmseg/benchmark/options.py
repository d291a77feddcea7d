"""What a benchmark run measures (the options of ``tools/benchmark.py``)."""
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

from ..messages import quiet


@dataclass
class BenchmarkOptions:
    """Settings of :func:`~ssformer_mmseg.benchmark.run_benchmark`.

    Attributes:
        shape (tuple): Input (height, width).
        batch_size (int): Inference batch.
        device (str): ``'cpu'``, ``'cuda'``, ...
        precision (list[str]): Precisions of the fast path.
        compile (bool): Also run each precision under ``torch.compile``.
        train (bool): Also time training steps.
        train_batch_size (int): Batch of the training steps (0: the
            inference batch, at least 2 for BatchNorm).
        loss_steps (int): Steps of the loss comparison.
        data (bool): Also measure the training data pipeline.
        workers (list[int]): Loader worker counts for ``data``.
        data_batches (int): Batches per worker count.
        engines (bool): Compare the engines (PyTorch eager and fast path,
            ONNX Runtime, OpenVINO) at each precision instead of the
            plain-vs-fast inference table (:mod:`.engines`).
        kernels (bool): Time what each hand-written kernel of the fast
            path earns at each precision instead (:mod:`.kernels`).
        target_fps (float, optional): Compare input sizes x engines x
            precisions against this frame rate instead (:mod:`.target_fps`).
        sizes (list[int]): Square input sides of ``target_fps``.
        score_images (int): Test images each combination is scored on with
            a checkpoint (every k-th; 0: all).
        backends (list[str], optional): The backends whose rows the engine
            comparison times besides PyTorch's (default: every backend that
            runs a model file).
        throughput_batch (int): Frames of the engines' throughput calls.
        calib_count (int): int8 calibration frames of the engines.
        seed (int): Seed of the engines' frame choice.
        prob_tolerance (float): Largest max |probability difference| from
            eager fp32 the engines' recommendation accepts.
        warmup (int): Untimed calls of each variant.
        rounds (int): Timed rounds (each runs every variant once).
        log (Callable): Progress messages (default: none).
    """
    shape: Tuple[int, int] = (352, 352)
    batch_size: int = 1
    device: str = 'cpu'
    precision: List[str] = field(default_factory=lambda: ['fp32'])
    compile: bool = False
    train: bool = False
    train_batch_size: int = 0
    loss_steps: int = 10
    data: bool = False
    workers: List[int] = field(default_factory=lambda: [0, 1, 2])
    data_batches: int = 20
    engines: bool = False
    kernels: bool = False
    backends: Optional[List[str]] = None
    target_fps: Optional[float] = None
    sizes: List[int] = field(default_factory=lambda: [352, 320, 288, 256])
    score_images: int = 0
    throughput_batch: int = 4
    calib_count: int = 100
    seed: int = 0
    prob_tolerance: float = 0.05
    warmup: int = 2
    rounds: int = 10
    log: Callable[[str], None] = quiet
