import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

from conftest import build_model
from ssformer_mmseg.datasets.transforms.soft_masks import SOFT_TARGET_FIELD
from ssformer_mmseg.models import PixelDiceBCELoss, PLDHead


def make_head(in_channels=(8, 16, 24, 32), channels=16, **kwargs):
    cfg = dict(
        type='PLDHead',
        in_channels=list(in_channels),
        in_index=list(range(len(in_channels))),
        channels=channels,
        num_classes=2,
        out_channels=1,
        threshold=0.5,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=True,
        loss_decode=[
            dict(
                type='CrossEntropyLoss',
                use_sigmoid=True,
                loss_name='loss_bce'),
            dict(type='BinaryDiceLoss')
        ])
    cfg.update(kwargs)
    return MODELS.build(cfg)


def pyramid(in_channels=(8, 16, 24, 32), size=32, batch=2):
    return [
        torch.randn(batch, c, size // 2**i, size // 2**i)
        for i, c in enumerate(in_channels)
    ]


def data_samples(batch, size, num_classes=2):
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        label = torch.randint(0, num_classes, (1, size, size))
        sample.gt_sem_seg = PixelData(data=label)
        sample.set_metainfo(
            dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                pad_shape=(size, size)))
        samples.append(sample)
    return samples


def test_registered():
    assert MODELS.get('PLDHead') is PLDHead


def test_local_emphasis_and_fuse_structure():
    head = make_head()
    assert len(head.local_emphasis) == 4 and len(head.fuse_convs) == 3
    for block, in_ch in zip(head.local_emphasis, (8, 16, 24, 32)):
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        assert [c.kernel_size for c in convs] == [(3, 3), (3, 3)]
        assert [c.in_channels for c in convs] == [in_ch, 16]
        assert all(c.bias is None for c in convs)
        assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
        assert sum(isinstance(m, nn.ReLU) for m in block.modules()) == 2
    for fuse in head.fuse_convs:
        assert fuse.conv.kernel_size == (1, 1) and fuse.conv.in_channels == 32
        assert isinstance(fuse.bn, nn.BatchNorm2d)
        assert isinstance(fuse.activate, nn.ReLU)
    assert type(head.dropout) is nn.Dropout and head.dropout.p == 0.1
    assert head.conv_seg.out_channels == 1


def test_stepwise_aggregation_fuses_deepest_first():
    torch.manual_seed(0)
    head = make_head().eval()
    feats = pyramid(batch=1)
    size = feats[0].shape[2:]
    le = [
        F.interpolate(
            block(x), size=size, mode='bilinear', align_corners=False)
        for block, x in zip(head.local_emphasis, feats)
    ]
    f = head.fuse_convs[2](torch.cat([le[3], le[2]], 1))
    f = head.fuse_convs[1](torch.cat([f, le[1]], 1))
    f = head.fuse_convs[0](torch.cat([f, le[0]], 1))
    expected = head.conv_seg(f)
    with torch.no_grad():
        assert torch.allclose(head(feats), expected, atol=1e-6)


@pytest.mark.parametrize('num_stages', [2, 3, 5])
def test_any_number_of_stages(num_stages):
    channels = tuple(8 * (i + 1) for i in range(num_stages))
    head = make_head(in_channels=channels)
    out = head(pyramid(channels, size=64))
    assert out.shape == (2, 1, 64, 64)
    assert len(head.fuse_convs) == num_stages - 1


def test_rejects_single_stage():
    with pytest.raises(ValueError, match='at least two stages'):
        make_head(in_channels=(8, ))


def test_binary_loss_items_and_thresholded_accuracy():
    torch.manual_seed(0)
    head = make_head()
    feats = pyramid()
    samples = data_samples(2, 32)
    losses = head.loss(feats, samples, train_cfg=dict())
    assert set(losses) == {'loss_bce', 'loss_dice', 'acc_seg'}
    sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    assert all(p.grad is not None for p in head.parameters())
    # acc_seg must follow the thresholded sigmoid, not top-1 of one channel.
    with torch.no_grad():
        logits = head.forward(feats)
        pred = (logits.sigmoid() > 0.5).long().squeeze(1)
        gt = torch.cat([s.gt_sem_seg.data for s in samples])
        expected = (pred == gt).float().mean() * 100
        head.eval()
        acc = head.loss_by_feat(logits, samples)['acc_seg']
    assert acc.item() == pytest.approx(expected.item(), abs=1e-4)


def test_multiclass_head_keeps_mmseg_losses():
    head = make_head(
        num_classes=3,
        out_channels=None,
        threshold=None,
        loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))
    feats = pyramid()
    assert head(feats).shape == (2, 3, 32, 32)
    losses = head.loss(feats, data_samples(2, 32, 3), train_cfg=dict())
    assert set(losses) == {'loss_ce', 'acc_seg'}
    assert 0 <= losses['acc_seg'].item() <= 100


@pytest.mark.parametrize('config,size', [
    ('_base_/models/ssformer_s.py', 352),
    ('_base_/models/ssformer_l.py', 128),
    ('_base_/models/pld_swin-t.py', 224),
    ('_base_/models/pld_twins-pcpvt-s.py', 128),
])
def test_segmentor_forward_backward(config, size):
    torch.manual_seed(0)
    model = build_model(config)
    model.train()
    inputs = torch.randn(1, 3, size, size)
    samples = data_samples(1, size)
    losses = model.loss(inputs, samples)
    assert {'decode.loss_bce', 'decode.loss_dice'} <= set(losses)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad():
        assert model(
            inputs, mode='tensor').shape == (1, 1, size // 4, size // 4)


def test_predict_upsamples_with_align_corners_and_thresholds():
    torch.manual_seed(0)
    model = build_model('_base_/models/ssformer_s.py').eval()
    inputs = torch.randn(1, 3, 352, 352)
    samples = data_samples(1, 352)
    with torch.no_grad():
        low = model(inputs, mode='tensor')
        pred = model.predict(inputs, samples)[0]
    # SSFormer: 1/4-scale logits upsampled x4 with align_corners=True.
    expected = F.interpolate(
        low, size=(352, 352), mode='bilinear', align_corners=True)[0]
    # For one channel, mmseg stores the sigmoid in ``seg_logits``.
    assert torch.allclose(pred.seg_logits.data, expected.sigmoid(), atol=1e-6)
    assert torch.equal(pred.pred_sem_seg.data,
                       (expected.sigmoid() > 0.5).long())


def test_multiclass_ssformer_predicts_argmax():
    model = build_model(
        '_base_/models/ssformer_s.py',
        num_classes=3,
        out_channels=None,
        threshold=None,
        loss_decode=dict(type='CrossEntropyLoss')).eval()
    inputs = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        pred = model.predict(inputs, data_samples(1, 128, 3))[0]
    assert pred.seg_logits.data.shape == (3, 128, 128)
    assert torch.equal(pred.pred_sem_seg.data[0],
                       pred.seg_logits.data.argmax(0))


def soft_samples(batch, size, soft_size=None):
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        soft = torch.rand(1, size, size)
        sample.gt_sem_seg = PixelData(data=(soft > 0.5).long())
        if soft_size:
            soft = torch.rand(1, soft_size, soft_size)
        sample.set_data({SOFT_TARGET_FIELD: PixelData(data=soft)})
        sample.set_metainfo(dict(img_shape=(size, size)))
        samples.append(sample)
    return samples


def test_head_trains_on_soft_targets_and_counts_accuracy_on_labels():
    torch.manual_seed(0)
    loss_cfg = [dict(type='PixelDiceBCELoss', sigmoid_output=True)]
    head = make_head(soft_targets=True, loss_decode=loss_cfg)
    feats, samples = pyramid(), soft_samples(2, 32)
    logits = head.forward(feats)
    losses = head.loss_by_feat(logits, samples)
    resized = F.interpolate(
        logits, size=(32, 32), mode='bilinear', align_corners=True)
    soft = torch.cat([s.gt_soft_sem_seg.data for s in samples])
    expected = PixelDiceBCELoss(sigmoid_output=True)(resized, soft)
    assert losses['loss_pixel_dice_bce'].item() == pytest.approx(
        expected.item(), rel=1e-6)
    labels = torch.cat([s.gt_sem_seg.data for s in samples])
    accuracy = ((resized.sigmoid() > 0.5).long().squeeze(1) == labels)
    assert losses['acc_seg'].item() == pytest.approx(
        accuracy.float().mean().item() * 100, abs=1e-3)
    # The same head without soft_targets sees the labels.
    hard = make_head(loss_decode=loss_cfg)
    hard.load_state_dict(head.state_dict())
    assert hard.loss_by_feat(
        logits, samples)['loss_pixel_dice_bce'].item() == pytest.approx(
            PixelDiceBCELoss(sigmoid_output=True)(resized, labels).item(),
            rel=1e-6)


def test_head_soft_targets_missing_or_misshapen_are_named():
    head = make_head(soft_targets=True)
    logits = head.forward(pyramid())
    samples = soft_samples(2, 32)
    del samples[1].gt_soft_sem_seg
    with pytest.raises(KeyError, match=r'samples \[1\].*soft_mask=True'):
        head.loss_by_feat(logits, samples)
    with pytest.raises(ValueError, match='left the soft mask behind'):
        head.loss_by_feat(logits, soft_samples(2, 32, soft_size=30))
    with pytest.raises(ValueError, match='one-channel'):
        make_head(soft_targets=True, out_channels=2, num_classes=2)
