"""PolypTTAModel: views merged as averaged foreground probabilities."""
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from conftest import build_model


def view(data, path='x.png'):
    sample = SegDataSample(metainfo=dict(img_path=path, dataset_name='Kvasir'))
    sample.seg_logits = PixelData(data=data)
    return sample


def tta_model(**head):
    module = build_model('_base_/models/ssformer_s.py', **head)
    return MODELS.build(dict(type='PolypTTAModel', module=module))


def test_one_channel_views_average_stored_probabilities():
    model = tta_model()
    probs = [torch.full((1, 2, 2), p) for p in (0.2, 0.6, 0.4)]
    merged = model.merge_preds([[view(p) for p in probs]])[0]
    assert torch.allclose(merged.seg_logits.data, torch.full((1, 2, 2), 0.4))
    # mmseg's SegTTAModel would take sigmoid(0.4) = 0.6 > 0.5: foreground.
    assert merged.pred_sem_seg.data.sum() == 0
    assert merged.img_path == 'x.png' and merged.dataset_name == 'Kvasir'


def test_multiclass_views_average_softmax():
    model = tta_model(
        num_classes=3,
        out_channels=None,
        threshold=None,
        loss_decode=dict(type='CrossEntropyLoss'))
    logits = [torch.randn(3, 2, 2) for _ in range(2)]
    merged = model.merge_preds([[view(x) for x in logits]])[0]
    expected = torch.stack([x.softmax(0) for x in logits]).mean(0)
    assert torch.allclose(merged.seg_logits.data, expected)
    assert torch.equal(merged.pred_sem_seg.data[0], expected.argmax(0))
