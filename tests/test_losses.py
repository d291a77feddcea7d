import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from ssformer_mmseg.models import BinaryDiceLoss

BIG = 50.0  # sigmoid(50) == 1.0 exactly in float32


def logits_from(prob_like: torch.Tensor) -> torch.Tensor:
    """(N, H, W) {0, 1} map -> (N, 1, H, W) saturated logits."""
    return (prob_like.float() * 2 - 1).mul(BIG).unsqueeze(1)


def test_perfect_prediction_is_zero():
    target = torch.tensor([[[0, 1], [1, 1]]])
    loss = BinaryDiceLoss()(logits_from(target), target)
    assert loss.item() == pytest.approx(0.0, abs=1e-7)


def test_inverted_prediction():
    target = torch.tensor([[[0, 1], [1, 1]]])
    loss = BinaryDiceLoss()(logits_from(1 - target), target)
    # inter = 0, sum(p) = 1, sum(t) = 3: 1 - (0 + 1) / (4 + 1)
    assert loss.item() == pytest.approx(0.8, abs=1e-6)


def test_half_probability_hand_value():
    target = torch.tensor([[[0, 1], [0, 0]]])
    pred = torch.zeros(1, 1, 2, 2)  # p = 0.5 everywhere
    # inter = 0.5, sum(p) = 2, sum(t) = 1: 1 - (1 + 1) / (3 + 1)
    assert BinaryDiceLoss()(pred, target).item() == pytest.approx(0.5)
    # smooth=0: 1 - 1 / 3
    assert BinaryDiceLoss(smooth=0)(pred,
                                    target).item() == pytest.approx(2 / 3)


def test_empty_target_empty_prediction_is_zero():
    target = torch.zeros(1, 3, 3, dtype=torch.long)
    assert BinaryDiceLoss()(logits_from(target), target).item() == 0.0


def test_mean_over_images_and_weight():
    target = torch.tensor([[[0, 1], [1, 1]], [[0, 1], [1, 1]]])
    pred = torch.stack(
        [logits_from(target[:1])[0],
         logits_from(1 - target[1:])[0]])
    loss = BinaryDiceLoss(loss_weight=2.0)(pred, target)
    assert loss.item() == pytest.approx(2.0 * (0.0 + 0.8) / 2, abs=1e-6)


def test_ignore_index_pixels_are_left_out():
    target = torch.tensor([[[255, 1], [0, 255]]])
    pred = torch.tensor([[[[BIG, BIG], [-BIG, -BIG]]]])
    # Only the two labelled pixels count, both predicted right.
    assert BinaryDiceLoss()(pred, target).item() == pytest.approx(0, abs=1e-7)


def test_gradient_pushes_towards_label():
    target = torch.tensor([[[0, 1], [1, 0]]])
    pred = torch.zeros(1, 1, 2, 2, requires_grad=True)
    BinaryDiceLoss()(pred, target).backward()
    grad = pred.grad[0, 0]
    assert (grad[target[0] == 1] < 0).all() and (grad[target[0] == 0] >
                                                 0).all()


def test_rejects_multi_channel_logits():
    with pytest.raises(ValueError, match=r'\(N, 1, H, W\)'):
        BinaryDiceLoss()(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2).long())


def test_mmseg_dice_loss_scores_background_with_one_channel():
    """mmseg's DiceLoss cannot serve a one-channel head: it compares the
    foreground probability with the background mask."""
    target = torch.tensor([[[0, 1, 1], [0, 1, 0], [0, 0, 0]]])
    mmseg_dice = MODELS.build(dict(type='DiceLoss', use_sigmoid=True))
    perfect, inverted = logits_from(target), logits_from(1 - target)
    assert mmseg_dice(perfect, target).item() > 0.99
    assert mmseg_dice(inverted, target).item() < 0.01
    ours = BinaryDiceLoss()
    assert ours(perfect, target).item() < 1e-6
    assert ours(inverted, target).item() > 0.7


def test_mmseg_bce_matches_bce_with_logits_on_one_channel():
    torch.manual_seed(0)
    pred = torch.randn(2, 1, 5, 5)
    target = (torch.rand(2, 5, 5) > 0.5).long()
    bce = MODELS.build(
        dict(type='CrossEntropyLoss', use_sigmoid=True, loss_name='loss_bce'))
    expected = F.binary_cross_entropy_with_logits(
        pred.squeeze(1), target.float())
    assert bce(pred, target).item() == pytest.approx(expected.item(), 1e-6)


def test_registered_in_mmseg():
    assert MODELS.get('BinaryDiceLoss') is BinaryDiceLoss
    loss = MODELS.build(dict(type='BinaryDiceLoss', loss_name='loss_x'))
    assert loss.loss_name == 'loss_x'
