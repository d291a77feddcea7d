"""Shared fixtures: registration, quiet model building, real-data location,
the tiny SSFormer-S of the fast tests, Kvasir-like data on disk, running the
command-line tools, and the test markers.

Test modules never import each other: what several of them need is here,
handed out through fixtures.
"""
import os
import os.path as osp
import pathlib
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import pytest
import torch
from mmengine import Config
from mmengine.registry import init_default_scope

import ssformer_mmseg  # noqa: F401  (applies compat, registers modules)
from ssformer_mmseg.config import TINY_MODEL_OPTIONS, cfg_option_argument

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs')

init_default_scope('mmseg')


def load_config(name: str) -> Config:
    """Load ``configs/<name>`` with pretrained weights switched off."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    cfg.model.backbone.init_cfg = None
    return cfg


def build_model(name: str, **head_overrides):
    """Build the segmentor of ``configs/<name>`` without any download."""
    from mmseg.registry import MODELS
    cfg = load_config(name)
    cfg.model.decode_head.update(head_overrides)
    return MODELS.build(cfg.model)


# Markers ---------------------------------------------------------------------

MARKERS = {
    'slow':
    'takes clearly more than 5 s on a 2-core CPU, with the '
    'fixtures it alone needs (one tool start-up is about 5 s)',
    'subprocess':
    'starts a tool or a Python interpreter in a subprocess '
    '(added to every user of the run_tool fixture)',
    'distributed':
    'starts a torch.distributed process group (gloo, '
    'torchrun)',
    'real_data':
    'reads the real polyp data of SSFORMER_TEST_DATA (added to '
    'every user of the real_data_root fixture)',
}


def pytest_configure(config):
    for name, description in MARKERS.items():
        config.addinivalue_line('markers', f'{name}: {description}')


def pytest_collection_modifyitems(config, items):
    # fixturenames is the whole closure: a test whose module-scoped fixture
    # runs a tool is marked too.
    for item in items:
        names = getattr(item, 'fixturenames', ())
        if 'real_data_root' in names:
            item.add_marker(pytest.mark.real_data)
        if 'run_tool' in names:
            item.add_marker(pytest.mark.subprocess)


# Real data -------------------------------------------------------------------


@pytest.fixture(scope='session')
def real_data_root() -> str:
    """Root of the real polyp data (``SSFORMER_TEST_DATA``).

    Defaults to ``../shared/data`` beside the repository. Skips when absent,
    unless ``SSFORMER_REQUIRE_DATA=1`` (as in CI), where it fails instead.
    """
    root = os.environ.get('SSFORMER_TEST_DATA',
                          osp.join(REPO_ROOT, '..', 'shared', 'data'))
    if not osp.isdir(osp.join(root, 'kvasir-seg')):
        message = f'real polyp data not found at {root}'
        if os.environ.get('SSFORMER_REQUIRE_DATA') == '1':
            pytest.fail(message)
        pytest.skip(message)
    return root


# The tiny SSFormer-S ---------------------------------------------------------

# SSFormer-S at a fraction of its cost (ssformer_mmseg.config's
# TINY_MODEL_OPTIONS): every code path of the real model.
TINY_BASE = 'ssformer_s_kvasir.py'


def _tiny_options() -> dict:
    return dict(TINY_MODEL_OPTIONS)


@pytest.fixture
def tiny_options() -> dict:
    """The tiny model as parsed ``--cfg-options``: ``{'model.backbone.
    embed_dims': 8, ...}`` (a fresh dict per test)."""
    return _tiny_options()


@pytest.fixture(scope='session')
def tiny_cli_options() -> list:
    """The tiny model as ``--cfg-options`` arguments of a tool:
    ``['model.backbone.init_cfg=None', 'model.backbone.embed_dims=8',
    ...]``."""
    return [
        cfg_option_argument(key, value)
        for key, value in TINY_MODEL_OPTIONS.items()
    ]


@pytest.fixture(scope='session')
def make_tiny_config():
    """Factory: ``make_tiny_config(name='ssformer_s_kvasir.py', **head)``
    loads ``configs/<name>`` (or an absolute path) with the tiny model merged
    in as ``--cfg-options`` would, then ``head`` into the decode head. Each
    call returns a new :class:`~mmengine.Config`.

    Session-scoped, so module-scoped fixtures can build from it.
    """

    def make(name: str = TINY_BASE, **head) -> Config:
        cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
        cfg.merge_from_dict(_tiny_options())
        cfg.model.decode_head.update(head)
        return cfg

    return make


@pytest.fixture
def tiny_config(make_tiny_config) -> Config:
    """``configs/ssformer_s_kvasir.py`` with the tiny model (a fresh
    :class:`~mmengine.Config` per test: tests may change it)."""
    return make_tiny_config()


@pytest.fixture(scope='session')
def make_tiny_config_file(make_tiny_config, tmp_path_factory):
    """Factory: ``make_tiny_config_file(cfg=None)`` dumps ``cfg`` (default:
    the plain tiny config) to a new ``.py`` file, for the command-line tools
    or as a ``_base_``, and returns its path."""
    folder = tmp_path_factory.mktemp('tiny_config')
    count = [0]

    def make(cfg: Optional[Config] = None) -> str:
        count[0] += 1
        path = folder / f'tiny_ssformer_s_kvasir_{count[0]}.py'
        (cfg if cfg is not None else make_tiny_config()).dump(str(path))
        return str(path)

    return make


@pytest.fixture(scope='session')
def tiny_config_file(make_tiny_config_file) -> str:
    """``configs/ssformer_s_kvasir.py`` with the tiny model, as a file."""
    return make_tiny_config_file()


# Data on disk ----------------------------------------------------------------


def _write_kvasir_like(root,
                       num_train: int = 6,
                       num_test: int = 2) -> pathlib.Path:
    rng = np.random.default_rng(0)
    root = pathlib.Path(root)
    for sub in ('images', 'masks'):
        os.makedirs(root / 'kvasir-seg' / sub)
    stems = [f'frame{i}' for i in range(num_train + num_test)]
    for i, stem in enumerate(stems):
        mask = np.zeros((48, 64), np.uint8)
        cv2.circle(mask, (32, 24), 6 + i, 255, -1)
        cv2.imwrite(
            str(root / 'kvasir-seg' / 'images' / f'{stem}.png'),
            rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        cv2.imwrite(str(root / 'kvasir-seg' / 'masks' / f'{stem}.png'), mask)
    os.makedirs(root / 'splits' / 'pranet')
    (root / 'splits' / 'pranet' / 'kvasir_train.txt').write_text('\n'.join(
        stems[:num_train]))
    (root / 'splits' / 'pranet' / 'kvasir_test.txt').write_text('\n'.join(
        stems[num_train:]))
    return root


@pytest.fixture(scope='session')
def make_kvasir_like():
    """Factory: ``make_kvasir_like(root, num_train=6, num_test=2)`` writes a
    data root the Kvasir configs read, and returns it as a ``Path``.

    ``kvasir-seg/{images,masks}/frame<i>.png`` are random 64x48 frames with a
    circular polyp of radius ``6 + i``; the PraNet split lists the first
    ``num_train`` frames for training, the rest (``frame<num_train>``, ...)
    for testing. The same arguments always give the same files.
    """
    return _write_kvasir_like


@pytest.fixture(scope='session')
def make_tiny_model(make_tiny_config, make_kvasir_like):
    """Factory: ``make_tiny_model(folder, num_train=6, num_test=2)`` writes a
    tiny model's config file (``folder/tiny.py``), a checkpoint of its
    weights seeded with 0 (``folder/tiny.pth``) and a Kvasir-like set
    (``folder/data``), and returns a dict of ``config``, ``checkpoint``,
    ``root`` and ``options`` (the ``--cfg-options`` that point the config
    at the set)."""
    from ssformer_mmseg.apis import load_segmentor

    def make(folder, num_train: int = 6, num_test: int = 2) -> dict:
        folder = pathlib.Path(folder)
        root = make_kvasir_like(folder / 'data', num_train, num_test)
        config = str(folder / 'tiny.py')
        make_tiny_config().dump(config)
        torch.manual_seed(0)
        checkpoint = str(folder / 'tiny.pth')
        torch.save(
            {
                'state_dict': load_segmentor(config).state_dict(),
                'meta': {}
            }, checkpoint)
        return dict(
            config=config,
            checkpoint=checkpoint,
            root=root,
            options=['--cfg-options', f'data_root={root}'])

    return make


@pytest.fixture
def kvasir_like_root(make_kvasir_like, tmp_path) -> pathlib.Path:
    """``tmp_path / 'data'``: 6 training and 2 test frames
    (see :func:`make_kvasir_like`)."""
    return make_kvasir_like(tmp_path / 'data')


# Hostile checkpoints ---------------------------------------------------------


class RunsShell:
    """A pickle payload that would run a shell command when loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.fixture(scope='session')
def write_hostile_checkpoint():
    """Factory: ``write_hostile_checkpoint(path, marker)`` saves a complete,
    well-formed torch checkpoint whose pickle would run ``touch marker``
    (through ``os.system``) when loaded; only its pickle is hostile."""

    def write(path, marker) -> None:
        torch.save({'state_dict': {}, 'meta': RunsShell(marker)}, path)

    return write


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack(
        '>I', zlib.crc32(kind + data))


@pytest.fixture(scope='session')
def write_png_header():
    """Factory: ``write_png_header(path, width, height, bits=8,
    colour_type=2)`` writes a small PNG whose header claims that size and
    depth (colour type 2 RGB, 6 RGBA) but whose data holds a few bytes: a
    decompression bomb's header, complete with its IEND chunk."""

    def write(path, width, height, bits=8, colour_type=2) -> None:
        header = struct.pack('>IIBBBBB', width, height, bits, colour_type, 0,
                             0, 0)
        data = (b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', header) +
                _png_chunk(b'IDAT', zlib.compress(b'\0' * 4096)) +
                _png_chunk(b'IEND', b''))
        pathlib.Path(path).write_bytes(data)

    return write


# Command-line tools ----------------------------------------------------------


@dataclass(frozen=True)
class ToolRun:
    """The outcome of :func:`run_tool`."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout, then stderr."""
        return self.stdout + self.stderr


@pytest.fixture(scope='session')
def run_tool():
    """Runner: ``run_tool(*args, cwd=REPO_ROOT, env=None, timeout=300)``
    runs ``python ARGS`` (``tools/X.py ...`` or ``-c CODE``) with this
    interpreter in a subprocess and returns a :class:`ToolRun` (``code``,
    ``stdout``, ``stderr``, ``output``). ``env`` replaces the whole
    environment when given.

    Every test that uses it is marked ``subprocess``.
    """

    def run(*args,
            cwd=REPO_ROOT,
            env: Optional[dict] = None,
            timeout: Optional[float] = 300) -> ToolRun:
        result = subprocess.run([sys.executable, *map(str, args)],
                                cwd=str(cwd),
                                env=env,
                                capture_output=True,
                                text=True,
                                timeout=timeout)
        return ToolRun(result.returncode, result.stdout, result.stderr)

    return run
