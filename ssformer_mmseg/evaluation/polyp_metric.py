"""The polyp evaluation protocol as an mmseg metric."""
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmseg.registry import METRICS

from ..datasets.image_io import write_image
from ..datasets.polyp_files import check_sizes_match
from .intervals import BootstrapSettings
from .polyp_scores import flatten, score_image, to_uint8_map
from .reports import ScoreReport, write_report
from .run_folder import keep_inputs, prob_map_file


@METRICS.register_module()
class PolypMetric(BaseMetric):
    """Per-image polyp segmentation scores, per test set, as papers report.

    Published polyp numbers are per-image averages computed the way the
    PraNet / Polyp-PVT toolboxes compute them; mmseg's ``IoUMetric`` pools
    pixels over the whole set and averages in the background class. This
    metric scores every image on its foreground probability map at the
    ground truth's original resolution (see
    :mod:`ssformer_mmseg.evaluation.polyp_scores` for every definition and
    edge case) and averages per test set: the polyp datasets put the set's
    name in each sample (``dataset_name``), so one ``ConcatDataset`` of the
    five PraNet test sets is scored set by set in one run.

    It logs a table with a row per set plus their unweighted mean, each
    with its bootstrap confidence intervals (:mod:`.intervals`), and
    returns keys such as ``Kvasir/meanDic`` and ``mean/meanDic`` (usable as
    ``CheckpointHook(save_best=..., rule='greater')``; ``rule='less'`` for
    ``MAE``). Scores are on the 0-1 scale.

    Args:
        threshold (float): Threshold of ``mDice`` / ``mIoU``. Default: 0.5.
        prob_map_dir (str, optional): Export every 8-bit probability map at
            ground-truth resolution as ``<dir>/<test set>/<stem>.png``, the
            layout the public toolboxes read. Default: None.
        report_dir (str, optional): Write ``per_image.csv`` and
            ``dice_vs_threshold.{csv,png}`` there. Default: None.
        review_dir (str, optional): Write a complete run folder there, the
            one the web app's review tab reads
            (:mod:`~ssformer_mmseg.evaluation.run_folder`): the probability
            maps, the report, and a copy of each frame and its ground
            truth. Default: None.
        bootstrap_resamples (int): Resamples of the confidence intervals
            in the table and in ``scores.{json,csv}`` of the report
            folders; 0 turns them off. Default: 9999.
        bootstrap_seed (int): Their seed. Default: 0.
        collect_device (str): Device to gather results across ranks.
        prefix (str, optional): Prefix of the returned keys.
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 threshold: float = 0.5,
                 prob_map_dir: Optional[str] = None,
                 report_dir: Optional[str] = None,
                 review_dir: Optional[str] = None,
                 bootstrap_resamples: int = BootstrapSettings.resamples,
                 bootstrap_seed: int = BootstrapSettings.seed,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(
            collect_device=collect_device, prefix=prefix, **kwargs)
        self.threshold = threshold
        self.prob_map_dir = prob_map_dir
        self.report_dir = report_dir
        self.review_dir = review_dir
        self.bootstrap = BootstrapSettings(
            resamples=bootstrap_resamples, seed=bootstrap_seed)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Score each prediction of a batch against its ground truth."""
        for sample in data_samples:
            path = sample['img_path']
            prob = foreground_probability(sample['seg_logits']['data'])
            gt = sample['gt_sem_seg']['data'][0].cpu().numpy()
            check_sizes_match(path, 'prediction', prob.shape, 'ground truth',
                              sample.get('seg_map_path'), gt.shape)
            prob_map = to_uint8_map(prob)
            # Outside a Runner no dataset_meta may have been set.
            dataset = sample.get('dataset_name') or (
                self.dataset_meta or {}).get('dataset_name', 'Polyp')
            name = osp.splitext(osp.basename(path))[0]
            for out_dir in self._map_dirs():
                map_file = osp.join(out_dir, prob_map_file(dataset, name))
                os.makedirs(osp.dirname(map_file), exist_ok=True)
                write_image(map_file, prob_map)
            if self.review_dir is not None:
                keep_inputs(self.review_dir, dataset, name, path, gt == 1)
            self.results.append(
                score_image(prob_map, gt == 1, self.threshold, dataset, name))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Summarise per set, log the table, write the report files."""
        logger = MMLogger.get_current_instance()
        report = ScoreReport.of(results, self.bootstrap)
        logger.info('\n' + report.table())
        for out_dir in dict.fromkeys((self.report_dir, self.review_dir)):
            if out_dir is not None:
                for path in write_report(results, out_dir, report):
                    logger.info(f'wrote {path}')
        return flatten(report.summary)

    def _map_dirs(self) -> list:
        """Where probability maps go (each folder once)."""
        return [
            d for d in dict.fromkeys((self.prob_map_dir, self.review_dir))
            if d is not None
        ]


def foreground_probability(seg_logits: torch.Tensor) -> np.ndarray:
    """Foreground probability (H, W) from mmseg's ``seg_logits``.

    One channel: mmseg already stores the sigmoid there. Two channels
    (background, polyp): softmax of the logits.
    """
    if seg_logits.shape[0] == 1:
        prob = seg_logits[0]
    elif seg_logits.shape[0] == 2:
        prob = seg_logits.softmax(dim=0)[1]
    else:
        raise ValueError('PolypMetric scores binary segmentation; got '
                         f'{seg_logits.shape[0]} classes')
    return prob.float().cpu().numpy()
