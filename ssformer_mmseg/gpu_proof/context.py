"""What a GPU-proof step works with: its settings, its deadline, its
record (written as it goes, so a step stopped at its limit keeps what it
measured)."""
import json
import os
import os.path as osp
import time
from typing import Dict

import torch
from mmengine.config import Config

from ..config import load_config
from ..packaged import find_config
from .settings import ProofSettings


class StepSkipped(Exception):
    """A step that cannot run here; its message says why."""


class StepContext:
    """What a step works with: the settings, its deadline, its record.

    Args:
        settings (ProofSettings): The run's settings.
        name (str): The step.
        deadline (float): ``time.time()`` by which it must be done.
    """

    def __init__(self, settings: ProofSettings, name: str, deadline: float):
        self.settings = settings
        self.name = name
        self.deadline = deadline
        self.figures: Dict[str, object] = {}
        os.makedirs(osp.dirname(settings.step_record(name)), exist_ok=True)

    @property
    def device(self) -> str:
        return self.settings.device

    def record(self, key: str, value) -> None:
        """Keep ``value`` under ``key`` and write the record now."""
        self.figures[key] = value
        path = self.settings.step_record(self.name)
        with open(path + '.part', 'w') as f:
            json.dump(self.figures, f, indent=1, default=str)
        os.replace(path + '.part', path)

    def log(self, message: str) -> None:
        print(f'[{self.name}] {message}', flush=True)

    def remaining(self) -> float:
        """Seconds left before the deadline."""
        return self.deadline - time.time()

    def earlier(self, step: str) -> dict:
        """What an earlier step recorded (empty if it did not run)."""
        return self.settings.read_record(step)

    def config(self, name: str) -> Config:
        """A packaged config with the run's model options and data root."""
        options = dict(self.settings.model_options)
        if self.settings.data_root:
            options['data_root'] = self.settings.data_root
        return load_config(find_config(name), options)

    def build(self, name: str) -> torch.nn.Module:
        """The model of config ``name`` on the device, random weights."""
        from ..apis.loading import load_segmentor
        return load_segmentor(self.config(name), None, self.device)
