"""``save_best`` that never leaves a run without its best checkpoint.

mmengine's ``CheckpointHook`` removes the previous best checkpoint and then
writes the new one: a crash, a full disk or a kill between the two leaves
none. :class:`BestCheckpointHook` moves the previous best aside first and
deletes it only once the new one is written; if writing fails, it is put
back.
"""
import os
import os.path as osp
from typing import Dict, List

from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

#: Suffix of a previous best checkpoint while the new one is written.
ASIDE_SUFFIX = '.previous-best'


@HOOKS.register_module()
class BestCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) whose ``save_best``
    keeps the previous best until the new one is on disk."""

    def _recorded_best(self) -> List[str]:
        """The best checkpoint path(s) the hook has recorded."""
        paths = [getattr(self, 'best_ckpt_path', None)]
        paths += list(getattr(self, 'best_ckpt_path_dict', {}).values())
        return [p for p in paths if p]

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not isinstance(getattr(self, 'file_backend', None), LocalBackend):
            return super()._save_best_checkpoint(runner, metrics)
        aside: Dict[str, str] = {}
        for path in filter(osp.isfile, self._recorded_best()):
            aside[path] = path + ASIDE_SUFFIX
            os.replace(path, aside[path])
        try:
            super()._save_best_checkpoint(runner, metrics)
        except BaseException:
            for path, kept in aside.items():
                if osp.exists(kept):
                    os.replace(kept, path)
            raise
        current = self._recorded_best()
        for path, kept in aside.items():
            if path in current and not osp.isfile(path):
                os.replace(kept, path)  # no new best: the previous one stays
            else:
                os.remove(kept)  # a new best is on disk
