"""OpenVINO as an inference backend: an exported ONNX file or OpenVINO IR
(``model.xml`` + ``model.bin``, as ``tools/deploy.py`` writes), on the CPU
or an Intel GPU, in fp32, bf16 or int8.

Precision is OpenVINO's own: bf16 is its ``INFERENCE_PRECISION_HINT`` (on
CPUs with native bf16: AVX512-BF16 or AMX), int8 a model quantized by NNCF
(:mod:`ssformer_mmseg.deploy.quantization`), whose remaining float ops run in
bf16 where the CPU has it natively and in fp32 elsewhere.
"""
import functools
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from ..._deprecation import moved_names
from ..onnx_file import ONNX_LOGITS
from ..optional import OPENVINO_HINT, require
from .base import (Calibration, InferenceBackend, ModelFacts, WrittenModel,
                   check_input_size, register_backend)
from .nncf_int8 import nncf_module, quantize, validate

#: Op types that only a quantized (int8) model holds.
QUANTIZED_OP_TYPES = ('FakeQuantize', 'FakeConvert')


@functools.lru_cache(maxsize=None)
def openvino_core():
    """The process's one ``openvino.Core`` (it caches devices and plugins)."""
    return require('openvino', 'the OpenVINO backend', OPENVINO_HINT).Core()


def openvino_device(device: str) -> str:
    """OpenVINO's name for ``'cpu'``, ``'gpu'`` or ``'gpu:N'``.

    Raises:
        ValueError: For CUDA devices (OpenVINO runs on Intel hardware) and
            devices this machine does not have.
    """
    kind, _, index = device.lower().partition(':')
    if kind not in ('cpu', 'gpu'):
        raise ValueError(f'device {device!r}: OpenVINO runs on cpu or gpu '
                         '(an Intel GPU); for CUDA use --backend pytorch or '
                         'onnxruntime')
    name = kind.upper() + (f'.{index}' if index else '')
    available = openvino_core().available_devices
    if name not in available and not (name == 'GPU' and any(
            d.startswith('GPU') for d in available)):
        raise ValueError(f'device {device!r}: OpenVINO sees only '
                         f'{", ".join(available)} here')
    return name


def model_is_quantized(model) -> bool:
    """Whether an ``openvino.Model`` holds int8 quantization ops."""
    return any(op.get_type_name() in QUANTIZED_OP_TYPES
               for op in model.get_ops())


def model_input_size(model) -> List[Optional[int]]:
    """Height and width of an ``openvino.Model``'s (or compiled model's)
    input, None where not fixed."""
    shape = list(model.input(0).get_partial_shape())[2:]
    return [d.get_length() if d.is_static else None for d in shape]


def one_frame_shape(model):
    """The model's input shape with the batch fixed at one frame."""
    shape = model.input(0).get_partial_shape()
    shape[0] = 1
    return shape


def read_model(model_file: str):
    """An ``openvino.Model`` from an IR ``.xml`` or an ``.onnx`` file."""
    if not osp.isfile(model_file):
        raise FileNotFoundError(f'{model_file}: model file not found')
    return openvino_core().read_model(model_file)


def quantize_openvino(onnx_file: str, inputs: Sequence[np.ndarray]):
    """An int8 ``openvino.Model`` of an exported ONNX file.

    Args:
        onnx_file (str): The fp32 export.
        inputs (Sequence[np.ndarray]): Calibration inputs, (1, 3, H, W)
            each.
    """
    return quantize(read_model(onnx_file), inputs)


def quantize_openvino_with_accuracy_control(
        onnx_file: str,
        inputs: Sequence[np.ndarray],
        validation: Sequence[tuple],
        max_drop: float,
        max_num_iterations: Optional[int] = None):
    """NNCF's accuracy-aware quantization: int8 except where reverting ops
    to float is needed to keep meanDic within ``max_drop`` (absolute) of
    the float model on ``validation``.

    Args:
        onnx_file (str): The fp32 export.
        inputs (Sequence[np.ndarray]): Calibration inputs.
        validation (Sequence[tuple]): ``(input, mask)`` pairs: (1, 3, H, W)
            network inputs and {0, 1} masks at the network size, from
            frames that are not calibration frames.
        max_drop (float): Largest meanDic drop allowed.
        max_num_iterations (int, optional): Cap on NNCF's reverting steps.
    """
    nncf = nncf_module()
    advanced = None
    if max_num_iterations is not None:
        advanced = nncf.AdvancedAccuracyRestorerParameters(
            max_num_iterations=max_num_iterations)
    return nncf.quantize_with_accuracy_control(
        read_model(onnx_file),
        nncf.Dataset(list(inputs)),
        nncf.Dataset(list(validation)),
        validate,
        max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(inputs),
        advanced_accuracy_restorer_parameters=advanced)


def _quantized(onnx_file: str, calibration: Calibration) -> tuple:
    """The int8 model of ``onnx_file`` and its ``quantization`` record:
    post-training, measured by the calibration's check unless accuracy
    control is off, and accuracy-aware where asked or where the drop is
    beyond the bound."""
    calibration.log('quantizing with NNCF (post-training)')
    model = quantize_openvino(onnx_file, calibration.inputs)
    record = dict(method='post-training (NNCF)')
    if calibration.check is None or calibration.accuracy_control == 'never':
        return model, record
    check = calibration.check(openvino_core().compile_model(model, 'CPU'))
    record['validation'] = check
    if calibration.accuracy_control == 'auto' and \
            check['drop'] <= calibration.max_drop:
        return model, record
    calibration.log('accuracy-aware quantization (max meanDic drop '
                    f'{calibration.max_drop})')
    model = quantize_openvino_with_accuracy_control(onnx_file,
                                                    calibration.inputs,
                                                    calibration.validation(),
                                                    calibration.max_drop)
    return model, dict(
        method='accuracy-aware (NNCF quantize_with_accuracy_control)',
        max_drop=calibration.max_drop,
        post_training_validation=check,
        validation=calibration.check(openvino_core().compile_model(
            model, 'CPU')))


@register_backend('openvino')
class OpenVINOBackend(InferenceBackend):
    """A model compiled by OpenVINO.

    Args:
        compiled (openvino.CompiledModel): The compiled model.
        data_preprocessor (nn.Module): The config's data preprocessor.
        device (str): ``'cpu'`` or ``'gpu[:N]'``.
        precision (str): ``'fp32'``, ``'bf16'`` or ``'int8'``.
        throughput (bool): Run the frames of a batch as parallel requests.
    """

    PRECISIONS = ('fp32', 'bf16', 'int8')
    MODEL_FILES = ('model.xml', 'model.bin')
    REQUIRES = ('openvino', )
    INSTALL_HINT = OPENVINO_HINT
    QUANTIZATION_REQUIRES = ('nncf', )
    HAS_THROUGHPUT_MODE = True

    def __init__(self,
                 compiled,
                 data_preprocessor: torch.nn.Module,
                 device: str = 'cpu',
                 precision: str = 'fp32',
                 throughput: bool = False):
        self.compiled = compiled
        self.data_preprocessor = data_preprocessor
        self.device = device
        self.precision = precision
        self.throughput = throughput
        self.input_hw = model_input_size(compiled)
        self.output = compiled.output(ONNX_LOGITS)
        self.request = compiled.create_infer_request()
        self.queue = None
        if throughput:
            ov = require('openvino', 'the OpenVINO backend', OPENVINO_HINT)
            # 0: as many requests as OpenVINO finds optimal for the device.
            self.queue = ov.AsyncInferQueue(compiled, 0)

    @classmethod
    def supported_precisions(cls, device: str = 'cpu') -> Tuple[str, ...]:
        capabilities = openvino_core().get_property(
            openvino_device(device), 'OPTIMIZATION_CAPABILITIES')
        return tuple(
            p
            for p, capability in zip(cls.PRECISIONS, ('FP32', 'BF16', 'INT8'))
            if capability in capabilities)

    @classmethod
    def float_hint(cls, precision: str, device: str = 'cpu') -> str:
        """``INFERENCE_PRECISION_HINT`` of the model's float ops: bf16 for
        bf16, and for int8 where bf16 is native (the quantized ops are int8
        either way), else f32."""
        if precision == 'bf16' or (precision == 'int8' and 'bf16'
                                   in cls.supported_precisions(device)):
            return 'bf16'
        return 'f32'

    @classmethod
    def inspect_model_file(cls, model_file: str) -> ModelFacts:
        model = read_model(model_file)
        return ModelFacts(model_is_quantized(model), model_input_size(model))

    @classmethod
    def write_model(cls,
                    onnx_file: str,
                    out_dir: str,
                    precision: str,
                    calibration: Optional[Calibration] = None) -> WrittenModel:
        """IR (``model.xml`` + ``model.bin``) of the export; int8: NNCF's
        post-training quantization, accuracy-aware (NNCF's
        ``quantize_with_accuracy_control``) where the calibration's check
        drops more than its bound or accuracy control is ``'always'``.
        Float weights stay fp32 either way: bf16 is a compile-time choice,
        and fp32 IR must give the export's outputs."""
        ov = require('openvino', 'the OpenVINO backend', OPENVINO_HINT)
        quantization = None
        if precision == 'int8':
            model, quantization = _quantized(onnx_file, calibration)
        else:
            model = read_model(onnx_file)
        ov.save_model(
            model,
            osp.join(out_dir, cls.MODEL_FILES[0]),
            compress_to_fp16=False)
        return WrittenModel(list(cls.MODEL_FILES), quantization)

    @classmethod
    def create(cls,
               cfg: Config,
               *,
               device: str = 'cpu',
               precision: Optional[str] = None,
               throughput: bool = False,
               model_file: Optional[str] = None) -> 'OpenVINOBackend':
        """Compile ``model_file`` (IR or ONNX). The precision defaults to
        what the file holds (int8 for a quantized model, else fp32).

        Raises:
            ValueError: If the model file is missing, the precision does
                not match the file (int8 asked of a float model or the
                other way round) or does not run natively here.
        """
        if model_file is None:
            raise ValueError('the openvino backend needs a model file (IR '
                             '.xml or .onnx)')
        ov_device = openvino_device(device)
        model = read_model(model_file)
        quantized = model_is_quantized(model)
        if precision is None:
            precision = 'int8' if quantized else 'fp32'
        if quantized and precision != 'int8':
            raise ValueError(f'{model_file} is an int8 model; it cannot run '
                             f'as {precision}')
        if not quantized and precision == 'int8':
            raise ValueError(f'{model_file} is a float model; int8 needs a '
                             'quantized one (tools/deploy.py --precision '
                             'int8)')
        cls.check_precision(precision, device)
        # One frame per request: at a static shape OpenVINO plans its memory
        # and kernels once, which made batch-1 calls markedly faster than
        # on the export's free batch (docs/deployment.md#speed). Batches run
        # frame by frame, or as requests in flight in throughput mode.
        model.reshape({model.input(0): one_frame_shape(model)})
        config = {
            'INFERENCE_PRECISION_HINT': cls.float_hint(precision, device),
            'PERFORMANCE_HINT': 'THROUGHPUT' if throughput else 'LATENCY',
        }
        if ov_device == 'CPU':
            # The same CPU threads as PyTorch, so comparisons are fair.
            config['INFERENCE_NUM_THREADS'] = torch.get_num_threads()
        compiled = openvino_core().compile_model(model, ov_device, config)
        return cls(compiled, MODELS.build(cfg.model.data_preprocessor), device,
                   precision, throughput)

    def logits(self, inputs: torch.Tensor, data_samples: list) -> torch.Tensor:
        check_input_size(self.input_hw, inputs.shape[2:])
        batch = inputs.detach().cpu().float().numpy()
        if self.queue is None or len(batch) == 1:
            # Copied at once: the request reuses its output buffer.
            logits = np.concatenate([
                np.array(self.request.infer({0: batch[i:i + 1]})[self.output])
                for i in range(len(batch))
            ])
        else:
            logits = np.concatenate(self._in_flight(batch))
        return torch.from_numpy(logits)

    def _in_flight(self, batch: np.ndarray) -> List[np.ndarray]:
        """One request per frame, all in flight at once."""
        results: List[Optional[np.ndarray]] = [None] * len(batch)
        output = self.output

        # Not a closure over self: the queue keeps its callback, and a
        # backend -> queue -> callback -> backend cycle would leave the
        # queue to the garbage collector, which may free it on any thread
        # at any later time.
        def done(request, index: int) -> None:
            results[index] = np.array(request.get_tensor(output).data)

        self.queue.set_callback(done)
        for index in range(len(batch)):
            self.queue.start_async({0: batch[index:index + 1]}, index)
        self.queue.wait_all()
        return results


# Renamed: the ONNX file functions of the same names take a path.
__getattr__ = moved_names(
    __name__, {
        'is_quantized':
        'ssformer_mmseg.apis.backends.openvino.model_is_quantized',
        'input_size': 'ssformer_mmseg.apis.backends.openvino.model_input_size',
    })
