"""Shared fixtures: registration, quiet model building, real-data location."""
import os
import os.path as osp

import pytest

import ssformer_mmseg  # noqa: F401  (applies compat, registers modules)
from mmengine import Config
from mmengine.registry import init_default_scope

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
