"""Deploy a trained model to OpenVINO or ONNX Runtime, with its accuracy.

Writes a self-describing folder: the engine model (model.xml + model.bin,
or model.onnx), deploy.json (input size, mean/std, channel order,
threshold, align_corners, classes, backend, precision, calibration set,
source config and checkpoint with SHA-256, accuracy report), the source
config as source_config.py and accuracy.md. tools/infer.py runs it with no
config or checkpoint; tools/score_deployed.py scores it again.

int8 is calibrated on real frames through the config's test pipeline: a
seeded sample of the training split (--calib-count, default 300), or the
images of --calib-data. If plain int8 loses more than --max-drop meanDic on
held-out training frames, NNCF's accuracy-aware quantization is used
(--accuracy-control). The report scores the engine and the fp32 PyTorch
model with PolypMetric on the test sets of the config (or --eval-config).

Examples:
    python tools/deploy.py configs/ssformer_s_kvasir.py ckpt.pth \\
        --backend openvino --precision int8 --out deployed/s_int8 \\
        --cfg-options data_root=data/polyp
    python tools/deploy.py configs/ssformer_s_kvasir.py ckpt.pth \\
        --backend onnxruntime --precision fp32 --out deployed/s_ort
    python tools/deploy.py CONFIG CKPT --backend openvino --precision bf16 \\
        --out deployed/s_bf16 --eval-config configs/ssformer_s_pranet.py \\
        --eval-sets Kvasir CVC-ClinicDB
"""
import argparse
import functools
import sys
from typing import List, Optional

import ssformer_mmseg  # noqa: F401  (compat + registration)
from ssformer_mmseg.cli import (add_cfg_options_argument, add_config_argument,
                                progress_bar)
from ssformer_mmseg.datasets import PolypFileError
from ssformer_mmseg.deploy import ACCURACY_BOUND, DeployOptions, deploy
from ssformer_mmseg.deploy.accuracy import format_report
from ssformer_mmseg.deploy.artifact import MODEL_FILES
from ssformer_mmseg.deploy.build import ACCURACY_CONTROL, REPORT_FILE
from ssformer_mmseg.deploy.calibration import (DEFAULT_CALIBRATION_COUNT,
                                               DEFAULT_VALIDATION_COUNT)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    add_config_argument(parser)
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--backend', required=True, choices=sorted(MODEL_FILES))
    parser.add_argument(
        '--precision', required=True, choices=['fp32', 'bf16', 'int8'])
    parser.add_argument(
        '--out', required=True, help='the folder to write (new or empty)')
    parser.add_argument(
        '--calib-data',
        metavar='IMAGE_DIR',
        help='calibrate int8 on these images instead of the training split')
    parser.add_argument(
        '--calib-count',
        type=int,
        default=DEFAULT_CALIBRATION_COUNT,
        help='calibration frames (default: %(default)s)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the frame choice (default: 0)')
    parser.add_argument(
        '--accuracy-control',
        choices=ACCURACY_CONTROL,
        default='auto',
        help='int8 on OpenVINO: accuracy-aware quantization if plain int8 '
        'loses more than --max-drop on held-out training frames (auto), '
        'always, or never (default: auto)')
    parser.add_argument(
        '--max-drop',
        type=float,
        default=ACCURACY_BOUND,
        help='meanDic drop accuracy control allows (default: %(default)s)')
    parser.add_argument(
        '--validation-count',
        type=int,
        default=DEFAULT_VALIDATION_COUNT,
        help='held-out training frames of that check (default: '
        '%(default)s)')
    parser.add_argument(
        '--eval-config',
        help='config whose test sets the report scores (default: CONFIG)')
    parser.add_argument(
        '--eval-sets', nargs='+', help='test sets to score (default: all)')
    parser.add_argument(
        '--input-size',
        nargs=2,
        type=int,
        metavar=('H', 'W'),
        help='the deployed model\'s input size instead of the config\'s '
        '(multiples of 32; smaller is faster): the accuracy report scores '
        'it against the fp32 model at the config\'s size')
    parser.add_argument(
        '--no-accuracy',
        action='store_true',
        help='skip the accuracy report (e.g. no test data here)')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bars')
    add_cfg_options_argument(parser)
    args = parser.parse_args(argv)
    if args.calib_count < 1 or args.validation_count < 1:
        parser.error('--calib-count and --validation-count must be >= 1')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    log = functools.partial(print, flush=True)
    options = DeployOptions(
        config=args.config,
        checkpoint=args.checkpoint,
        backend=args.backend,
        precision=args.precision,
        out_dir=args.out,
        cfg_options=args.cfg_options,
        calib_data=args.calib_data,
        calib_count=args.calib_count,
        seed=args.seed,
        accuracy_control=args.accuracy_control,
        validation_count=args.validation_count,
        max_drop=args.max_drop,
        eval_config=args.eval_config,
        eval_sets=args.eval_sets,
        input_size=tuple(args.input_size) if args.input_size else None,
        check_accuracy=not args.no_accuracy,
        log=log,
        progress=None if args.no_progress else progress_bar())
    try:
        deployed = deploy(options)
    except (PolypFileError, FileNotFoundError, ImportError,
            ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        for note in getattr(error, '__notes__', []):
            print(note, file=sys.stderr)
        return 1
    metadata = deployed.metadata
    print(f'wrote {args.out}: {", ".join(sorted(metadata["files"]))}, '
          f'deploy.json')
    if metadata['accuracy'] is not None:
        print(f'accuracy ({REPORT_FILE}):')
        print(
            format_report(metadata['accuracy'],
                          f'{args.backend} {args.precision}'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
