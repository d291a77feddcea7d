"""Install ssformer-mmseg.

PyTorch and mmcv are not listed in ``install_requires`` on purpose (as in
mmseg): PyTorch must match the user's CUDA/CPU setup, and mmcv comes either as
``mmcv-lite`` (no compiled ops, the default) or as full ``mmcv`` (compiled
ops). ``make install`` picks both for a CPU machine; see the README.
"""
import os.path as osp

from setuptools import find_packages, setup


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
    python_requires='>=3.8',
    install_requires=[
        'mmengine>=0.10.0,<0.11.0',
        'mmsegmentation==1.2.2',
        'numpy',
        # The polyp toolboxes' S-/E-measure, weighted F, MAE and threshold
        # curves. 1.6.2 is the newest release; it supports NumPy 2 up to
        # 2.3.x (its own pin), so it also pins NumPy below 2.3.5.
        'pysodmetrics==1.6.2',
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
        'onnx': ['onnx', 'onnxscript', 'onnxruntime'],
        # The ONNX packages too, so CI runs the export/parity tests (about
        # 40 MB of wheels, a few seconds to install).
        'tests': ['pytest', 'onnx', 'onnxscript', 'onnxruntime'],
    },
    license='Apache License 2.0',
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Image Recognition',
    ],
)
