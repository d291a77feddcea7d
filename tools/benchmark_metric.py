"""Cost of the polyp evaluation protocol per image, at typical sizes.

Times ``score_image`` (every PolypMetric score of one image) and each of its
parts on synthetic maps, estimates the time to score the 798 images of
the five PraNet test sets at their native resolutions, and times what the
confidence intervals (the default bootstrap) add to such a run.

Example:
    python tools/benchmark_metric.py --repeats 5
"""
import argparse

from ssformer_mmseg.benchmark.metric import (PRANET_TEST_SETS,
                                             measure_intervals, measure_metric)
from ssformer_mmseg.cpu_features import cpu_description
from ssformer_mmseg.evaluation.intervals import BootstrapSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args()
    names, rows, per_pixel, estimate = measure_metric(args.repeats)
    print(f'{"size (HxW)":>12} {"total ms":>9} ' + ' '.join(f'{name:>15}'
                                                            for name in names))
    for height, width, total, part_times in rows:
        print(f'{height:>5}x{width:<6} {total * 1e3:9.1f} ' +
              ' '.join(f'{t * 1e3:15.1f}' for t in part_times))
    images = sum(n for n, _, _ in PRANET_TEST_SETS.values())
    print(f'\nestimated scoring time of the {images} PraNet test images at '
          f'native resolution: {estimate:.0f} s (median {per_pixel * 1e9:.0f} '
          'ns per pixel; model inference not included)')
    settings = BootstrapSettings()
    seconds = measure_intervals(args.repeats, settings)
    print(f'confidence intervals of every score, the five sets and their '
          f'mean ({settings.describe()}): {seconds:.2f} s')
    print(f'CPU: {cpu_description()}')


if __name__ == '__main__':
    main()
