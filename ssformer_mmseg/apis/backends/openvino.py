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
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

from ..._deprecation import moved_names
from ..onnx_file import ONNX_LOGITS
from ..optional import require
from .base import InferenceBackend, check_input_size, register_backend

#: Op types that only a quantized (int8) model holds.
QUANTIZED_OP_TYPES = ('FakeQuantize', 'FakeConvert')


@functools.lru_cache(maxsize=None)
def openvino_core():
    """The process's one ``openvino.Core`` (it caches devices and plugins)."""
    return require('openvino', 'the OpenVINO backend').Core()


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
            ov = require('openvino', 'the OpenVINO backend')
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
    def create(cls,
               cfg: Config,
               device: str = 'cpu',
               checkpoint: Optional[str] = None,
               model_file: Optional[str] = None,
               fast: Optional[dict] = None,
               precision: Optional[str] = None,
               throughput: bool = False) -> 'OpenVINOBackend':
        """Compile ``model_file`` (IR or ONNX); ``checkpoint`` is not read
        (the weights are in the file). The precision defaults to what the
        file holds (int8 for a quantized model, else fp32).

        Raises:
            ValueError: If the precision does not match the file (int8 asked
                of a float model or the other way round) or does not run
                natively here, and for options of other backends.
        """
        if model_file is None:
            raise ValueError('the openvino backend needs a model file (IR '
                             '.xml or .onnx)')
        if fast is not None:
            raise ValueError('the PyTorch fast path (fast=...) does not '
                             'apply to the openvino backend')
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
