"""Test-time augmentation that averages probabilities correctly."""
from typing import List

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import SegTTAModel
from mmseg.registry import MODELS
from mmseg.utils import SampleList


@MODELS.register_module()
class PolypTTAModel(SegTTAModel):
    """``SegTTAModel`` whose merged result is usable by polyp metrics.

    mmseg 1.2's ``SegTTAModel.merge_preds`` has two problems for binary
    heads: it applies a sigmoid to ``seg_logits`` that, for one output
    channel, already hold sigmoid probabilities (every merged probability
    lands in [0.5, 0.73], so everything is foreground at threshold 0.5), and
    it returns the last view's ``seg_logits`` instead of the merge, which
    probability-based metrics read. Here the views' foreground probabilities
    (the stored sigmoid for one channel, the softmax otherwise) are averaged,
    and both ``seg_logits`` (the averaged probabilities) and
    ``pred_sem_seg`` come from that average.
    """

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        """Merge the views of each image into one prediction."""
        one_channel = self.module.out_channels == 1
        predictions = []
        for views in data_samples_list:
            probs = [
                view.seg_logits.data
                if one_channel else view.seg_logits.data.softmax(dim=0)
                for view in views
            ]
            prob = torch.stack(probs).mean(dim=0)
            if one_channel:
                pred = (prob > self.module.decode_head.threshold).long()
            else:
                pred = prob.argmax(dim=0, keepdim=True)
            merged = views[0].clone()
            merged.set_data(
                dict(
                    seg_logits=PixelData(data=prob),
                    pred_sem_seg=PixelData(data=pred)))
            predictions.append(merged)
        return predictions
