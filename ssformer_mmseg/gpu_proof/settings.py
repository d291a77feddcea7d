"""What one GPU-proof run does: device, sizes, configs and each step's
time budget, for the real run and for the CPU dry run."""
import json
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

from ..config import TINY_MODEL_OPTIONS, cfg_option_argument

#: The steps, in the order they run.
STEP_NAMES = ('smoke', 'training', 'distributed', 'inference', 'scratch')
#: Seconds each step may take at most (the last gets what is left).
STEP_BUDGETS = dict(smoke=45, training=160, distributed=150, inference=45)


@dataclass
class ProofSettings:
    """One run of the proof.

    Attributes:
        results_dir (str): Where the report goes (the folder that comes
            back: a few files, no subfolders).
        work_dir (str): Scratch space (steps' records, training runs).
        device (str): ``'cuda'``, or ``'cpu'`` for the dry run.
        dry_run (bool): Tiny sizes and the tiny model, same code paths.
        data_root (str, optional): The bundle's PraNet slice; None: random
            data where a step can do with it, else the step is skipped.
        time_limit (float): Seconds for all steps together.
        steps (list[str]): The steps to run.
        shape (tuple): Training and inference input size.
        batch (int): Training batch.
        loss_steps (int): Steps of the fp32 vs AMP loss curves.
        rounds (int): Timed rounds per measurement.
        inference_batches (tuple): Inference batch sizes.
        dist_iters (int): Iterations of the ``dist_train.sh`` run.
        scratch_iters (int, optional): Iterations of the from-scratch run;
            None: as many as the measured speed fits in the time left.
        models (dict): Name -> config of the throughput steps.
        train_config (str): Config of the distributed and scratch runs.
        model_options (dict): ``--cfg-options`` applied to every model.
        compile_backend (str): ``torch.compile``'s backend in the training
            step (the dry run captures graphs without generating code,
            which takes minutes on a CPU).
        budget_scale (float): Factor on every step's limit (a CPU is
            slower at everything the steps do).
    """
    results_dir: str
    work_dir: str
    device: str = 'cuda'
    dry_run: bool = False
    data_root: Optional[str] = None
    time_limit: float = 420.0
    steps: List[str] = field(default_factory=lambda: list(STEP_NAMES))
    shape: Tuple[int, int] = (352, 352)
    batch: int = 16
    loss_steps: int = 30
    rounds: int = 5
    inference_batches: Tuple[int, ...] = (1, 16)
    dist_iters: int = 20
    scratch_iters: Optional[int] = None
    models: Dict[str, str] = field(default_factory=lambda: {
        'SSFormer-S': 'ssformer_s_pranet.py',
        'SSFormer-L': 'ssformer_l_pranet.py'
    })
    train_config: str = 'experiments/ssformer_s_pranet_two_sets.py'
    model_options: dict = field(
        default_factory=lambda: {'model.backbone.init_cfg': None})
    compile_backend: str = 'inductor'
    budget_scale: float = 1.0

    @classmethod
    def dry(cls, results_dir: str, work_dir: str, **overrides):
        """The CPU dry run: tiny model, 64x64, batch 2, a few steps."""
        settings = dict(
            device='cpu',
            dry_run=True,
            shape=(64, 64),
            batch=2,
            loss_steps=3,
            rounds=2,
            inference_batches=(1, 2),
            dist_iters=2,
            scratch_iters=4,
            model_options=dict(TINY_MODEL_OPTIONS),
            compile_backend='eager',
            budget_scale=4.0)
        settings.update(overrides)
        return cls(results_dir, work_dir, **settings)

    def budget(self, step: str) -> Optional[float]:
        """The step's own limit in seconds (None: what is left)."""
        budget = STEP_BUDGETS.get(step)
        return None if budget is None else budget * self.budget_scale

    def cli_options(self) -> List[str]:
        """:attr:`model_options` and the data root as ``--cfg-options``
        values of a tool."""
        options = [
            cfg_option_argument(key, value)
            for key, value in self.model_options.items()
        ]
        if self.data_root:
            options.append(f'data_root={self.data_root}')
        return options

    def save(self, path: str) -> None:
        with open(path, 'w') as f:
            json.dump(asdict(self), f, indent=2)

    @classmethod
    def load(cls, path: str) -> 'ProofSettings':
        with open(path) as f:
            values = json.load(f)
        values['shape'] = tuple(values['shape'])
        values['inference_batches'] = tuple(values['inference_batches'])
        return cls(**values)

    def step_record(self, step: str) -> str:
        """The JSON file step ``step`` records its figures in."""
        return osp.join(self.work_dir, 'steps', f'{step}.json')

    def read_record(self, step: str) -> dict:
        """What step ``step`` recorded (empty if it did not run)."""
        path = self.step_record(step)
        if not osp.isfile(path):
            return {}
        with open(path) as f:
            return json.load(f)
