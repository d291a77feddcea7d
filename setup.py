"""Install ssformer-mmseg.

PyTorch and mmcv are not listed in ``install_requires`` on purpose (as in
mmseg): PyTorch must match the user's CUDA/CPU setup, and mmcv comes either as
``mmcv-lite`` (no compiled ops, the default) or as full ``mmcv`` (compiled
ops). ``make install`` picks both for a CPU machine; see the README.
"""
import os.path as osp
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

#: Run at interpreter start, in site-packages: lets mmseg's own tools use our
#: configs with mmcv-lite (see ``_ssformer_mmseg_startup.py``).
STARTUP_PTH = 'ssformer_mmseg_startup.pth'


class BuildPyWithStartupHook(build_py):
    """Put the ``.pth`` file at the root of wheels (site-packages)."""

    def run(self) -> None:
        super().run()
        self.copy_file(STARTUP_PTH, osp.join(self.build_lib, STARTUP_PTH))


def editable_wheel_command():
    """setuptools' PEP 660 ``editable_wheel`` (``pip install -e``), which
    ignores extra build outputs, with the ``.pth`` file written into its
    wheel (listed, with its hash, in the wheel's RECORD like every other
    file). None before setuptools 64 (``develop`` installs; no hook)."""
    try:
        from setuptools.command.editable_wheel import editable_wheel
    except ImportError:
        return None

    class WithStartupHook:
        """An editable-install strategy that also writes the ``.pth``."""

        def __init__(self, strategy):
            self.strategy = strategy

        def __enter__(self):
            self.strategy.__enter__()
            return self

        def __exit__(self, *exc_info):
            return self.strategy.__exit__(*exc_info)

        def __call__(self, wheel, files, mapping):
            self.strategy(wheel, files, mapping)
            wheel.write(STARTUP_PTH, STARTUP_PTH)

    class EditableWheelWithStartupHook(editable_wheel):

        def _select_strategy(self, *args, **kwargs):
            return WithStartupHook(super()._select_strategy(*args, **kwargs))

    return EditableWheelWithStartupHook


def command_classes() -> dict:
    """``build_py`` and, where setuptools has it, ``editable_wheel``."""
    commands = dict(build_py=BuildPyWithStartupHook)
    editable_wheel = editable_wheel_command()
    if editable_wheel is not None:
        commands['editable_wheel'] = editable_wheel
    return commands


#: Optional engines (tested with onnxruntime 1.32, openvino 2026.4, nncf 3.4).
ONNX = ['onnx', 'onnxscript', 'onnxruntime']
OPENVINO = ['openvino>=2025.0', 'nncf>=3.0']
WEBAPP = ['gradio>=6,<7']


def read_version() -> str:
    init = osp.join(osp.dirname(__file__), 'ssformer_mmseg', '__init__.py')
    with open(init) as f:
        for line in f:
            if line.startswith('__version__'):
                return line.split('=')[1].strip().strip('\'"')
    raise RuntimeError('no __version__ in ssformer_mmseg/__init__.py')


setup(
    name='ssformer-mmseg',
    version=read_version(),
    description='SSFormer (Stepwise Feature Fusion: Local Guides Global) '
    'for MMSegmentation 1.x',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['ssformer_mmseg', 'ssformer_mmseg.*']),
    py_modules=['_ssformer_mmseg_startup'],
    cmdclass=command_classes(),
    python_requires='>=3.8',
    install_requires=[
        'mmengine>=0.10.0,<0.11.0',
        'mmsegmentation==1.2.2',
        'numpy',
        # The polyp toolboxes' S-/E-measure, weighted F, MAE and threshold
        # curves. 1.6.2 is the newest release; it supports NumPy 2 up to
        # 2.3.x (its own pin), so it also pins NumPy below 2.3.5.
        'pysodmetrics==1.6.2',
        # mmengine and mmcv ask for opencv-python, pysodmetrics for
        # opencv-python-headless<5. Both unpack into the same ``cv2``
        # folder and the last one installed wins file by file, so they
        # are kept on one major version (a 5.x binary beside 4.x Python
        # files, or the reverse, is not a working OpenCV).
        'opencv-python<5',
        # mmseg 1.2 imports these at ``import mmseg.models`` time.
        'ftfy',
        'regex',
    ],
    extras_require={
        'lite': ['mmcv-lite>=2.1.0,<2.2.0'],
        'full': ['mmcv>=2.1.0,<2.2.0'],
        'mmpretrain': ['mmpretrain>=1.0.0'],
        # tools/export_onnx.py and tools/infer.py --backend onnxruntime.
        # onnxscript: torch.onnx.export's default (dynamo) exporter needs it.
        # For CUDA inference install onnxruntime-gpu instead of onnxruntime.
        'onnx': ONNX,
        # tools/deploy.py: OpenVINO (fp32/bf16/int8) and NNCF's int8
        # quantization (for both engines); the export needs the ONNX ones.
        'openvino': OPENVINO + ONNX,
        # tools/webapp.py.
        'webapp': WEBAPP,
        # The engines and the web app too, so CI runs the export, parity,
        # deployment and web app tests; playwright drives the system's
        # Chromium in the browser check (it downloads no browser).
        'tests': ['pytest', 'playwright'] + OPENVINO + ONNX + WEBAPP,
    },
    license='Apache License 2.0',
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
)
