"""Progressive Locality Decoder (PLD) of SSFormer."""
from typing import List

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor

from ...datasets.transforms.soft_masks import SOFT_TARGET_FIELD


@MODELS.register_module()
class PLDHead(BaseDecodeHead):
    """Progressive Locality Decoder of SSFormer.

    This head is the implementation of `Stepwise Feature Fusion: Local Guides
    Global <https://arxiv.org/abs/2203.03635>`_ (Wang et al., MICCAI 2022).

    Every input stage passes through a Local Emphasis (LE) block, two bias-free
    3x3 convolutions each followed by ReLU, and is resized to the shallowest
    stage. Stepwise Feature Aggregation then fuses the stages from the deepest
    pair down: ``f = fuse(cat(LE_n, LE_n-1))``, ``f = fuse(cat(f, LE_n-2))``,
    ..., ``f = fuse(cat(f, LE_1))``, every fuse being a 1x1 ``ConvModule`` with
    ``norm_cfg`` and ``act_cfg``. Dropout and the 1x1 classifier follow.

    With ``soft_targets=True`` the losses are given the soft (0-1) masks
    packed by ``PackPolypInputs`` (``data_sample.gt_soft_sem_seg``, see
    :mod:`ssformer_mmseg.datasets.transforms.soft_masks`) instead of the
    {0, 1} labels, as the official recipe trains; ``acc_seg`` still counts
    against the labels.

    Args:
        interpolate_mode (str): Mode used to resize the LE outputs to the
            shallowest stage. Default: 'bilinear'.
        soft_targets (bool): Train on soft masks. Default: False.
        **kwargs: Arguments of :class:`BaseDecodeHead`; ``in_channels`` and
            ``in_index`` list the stages, shallowest first (at least two).
            ``align_corners`` applies to resizing the logits to the input
            size (SSFormer uses ``True``), not to the feature resizing, which
            always uses ``align_corners=False`` as in the paper's code.
    """

    def __init__(self,
                 interpolate_mode: str = 'bilinear',
                 soft_targets: bool = False,
                 **kwargs):
        super().__init__(input_transform='multiple_select', **kwargs)
        if soft_targets and self.out_channels != 1:
            raise ValueError('soft_targets needs a one-channel head '
                             f'(out_channels=1), got {self.out_channels}')
        self.soft_targets = soft_targets
        num_inputs = len(self.in_channels)
        if num_inputs < 2 or num_inputs != len(self.in_index):
            raise ValueError(
                'PLDHead needs at least two stages and one in_index per '
                f'stage, got in_channels={self.in_channels} and '
                f'in_index={self.in_index}')
        self.interpolate_mode = interpolate_mode

        self.local_emphasis = nn.ModuleList(
            nn.Sequential(
                ConvModule(
                    in_channels,
                    self.channels,
                    kernel_size=3,
                    padding=1,
                    bias=False,
                    conv_cfg=self.conv_cfg,
                    act_cfg=self.act_cfg),
                ConvModule(
                    self.channels,
                    self.channels,
                    kernel_size=3,
                    padding=1,
                    bias=False,
                    conv_cfg=self.conv_cfg,
                    act_cfg=self.act_cfg)) for in_channels in self.in_channels)
        # fuse_convs[i] merges the running feature with stage i; the deepest
        # stage has no fuse of its own since it starts the running feature.
        self.fuse_convs = nn.ModuleList(
            ConvModule(
                self.channels * 2,
                self.channels,
                kernel_size=1,
                conv_cfg=self.conv_cfg,
                norm_cfg=self.norm_cfg,
                act_cfg=self.act_cfg) for _ in range(num_inputs - 1))
        # SSFormer drops single activations, not whole channels.
        if self.dropout_ratio > 0:
            self.dropout = nn.Dropout(self.dropout_ratio)

    def forward(self, inputs: List[Tensor]) -> Tensor:
        """Return logits at the resolution of the shallowest stage."""
        inputs = self._transform_inputs(inputs)
        size = inputs[0].shape[2:]
        emphasised = [
            resize(
                local_emphasis(x),
                size=size,
                mode=self.interpolate_mode,
                align_corners=False)
            for local_emphasis, x in zip(self.local_emphasis, inputs)
        ]
        out = emphasised[-1]
        for idx in range(len(inputs) - 2, -1, -1):
            out = self.fuse_convs[idx](torch.cat([out, emphasised[idx]], 1))
        return self.cls_seg(out)

    def loss_by_feat(self, seg_logits: Tensor,
                     batch_data_samples: SampleList) -> dict:
        """Compute losses; ``acc_seg`` of a one-channel head uses the
        threshold (mmseg's top-1 accuracy would always pick channel 0)."""
        losses = super().loss_by_feat(seg_logits, batch_data_samples)
        if self.out_channels == 1:
            seg_label = BaseDecodeHead._stack_batch_gt(
                self, batch_data_samples).squeeze(1)
            with torch.no_grad():
                seg_logits = resize(
                    seg_logits,
                    size=seg_label.shape[1:],
                    mode='bilinear',
                    align_corners=self.align_corners)
                pred = (seg_logits.squeeze(1).sigmoid() >
                        self.threshold).long()
                correct = (pred == seg_label)[seg_label != self.ignore_index]
                losses['acc_seg'] = correct.float().mean() * 100 \
                    if correct.numel() else seg_logits.new_tensor(0.)
        return losses

    def _stack_batch_gt(self, batch_data_samples: SampleList) -> Tensor:
        """The targets of the losses: labels, or soft masks if so set."""
        labels = super()._stack_batch_gt(batch_data_samples)
        if not self.soft_targets:
            return labels
        missing = [
            i for i, sample in enumerate(batch_data_samples)
            if SOFT_TARGET_FIELD not in sample
        ]
        if missing:
            raise KeyError(
                f'PLDHead(soft_targets=True): samples {missing} of the batch '
                f'have no {SOFT_TARGET_FIELD}; load the masks with '
                'LoadPolypAnnotations(soft_mask=True) and pack them with '
                'PackPolypInputs')
        soft = torch.stack([
            getattr(sample, SOFT_TARGET_FIELD).data
            for sample in batch_data_samples
        ]).to(labels.device)
        if soft.shape != labels.shape:
            raise ValueError(
                f'soft masks of shape {tuple(soft.shape[2:])} against labels '
                f'of {tuple(labels.shape[2:])}: a transform that pads or '
                'resizes gt_seg_map alone (e.g. Pad, or padding in the data '
                'preprocessor) left the soft mask behind')
        return soft
