"""SSFormer through mmseg's inference API on real colonoscopy frames."""
import os.path as osp

import cv2
import pytest
from mmseg.apis import inference_model, init_model

from conftest import load_config


@pytest.fixture(scope='module')
def ssformer_s():
    cfg = load_config('_base_/models/ssformer_s.py')
    cfg.test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(352, 352), keep_ratio=False),
        dict(type='PackSegInputs'),
    ]
    return init_model(cfg, checkpoint=None, device='cpu')


@pytest.mark.parametrize('subset,split', [('kvasir-seg', 'kvasir_test'),
                                          ('cvc-clinicdb', 'clinicdb_test')])
def test_prediction_at_original_resolution(ssformer_s, real_data_root,
                                           subset, split):
    with open(osp.join(real_data_root, 'splits', 'pranet',
                       f'{split}.txt')) as f:
        stem = f.readline().strip()
    ext = '.jpg' if subset == 'kvasir-seg' else '.png'
    path = osp.join(real_data_root, subset, 'images', stem + ext)
    height, width = cv2.imread(path).shape[:2]
    result = inference_model(ssformer_s, path)
    assert result.pred_sem_seg.data.shape == (1, height, width)
    assert set(result.pred_sem_seg.data.unique().tolist()) <= {0, 1}
    prob = result.seg_logits.data
    assert prob.shape == (1, height, width)
    assert 0 <= prob.min() and prob.max() <= 1
