"""Data pipeline speed: training samples per second by loader workers."""
import copy
import time
from typing import List

from mmengine.config import Config

from .options import BenchmarkOptions


def benchmark_data(cfg: Config, options: BenchmarkOptions) -> List[dict]:
    """Training-pipeline samples/s of the config's training set (full
    augmentation) with each of ``options.workers`` loader workers."""
    from mmengine.runner import Runner
    results = []
    for workers in options.workers:
        loader_cfg = copy.deepcopy(cfg.train_dataloader)
        loader_cfg.update(num_workers=workers, persistent_workers=workers > 0)
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        iterator = iter(loader)
        next(iterator)  # worker start-up is not throughput
        start = time.perf_counter()
        samples = 0
        for _ in range(options.data_batches):
            samples += len(next(iterator)['inputs'])
        seconds = time.perf_counter() - start
        results.append(
            dict(
                workers=workers,
                samples_per_s=samples / seconds,
                batch_size=loader_cfg.batch_size))
        options.log(f'  {workers} workers: {samples / seconds:.1f} samples/s')
        del iterator, loader
    return results
