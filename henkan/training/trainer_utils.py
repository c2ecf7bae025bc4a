"""Small shared vocabulary of the Trainer: strategies, prediction tuples, seeding, checkpoint discovery."""

from __future__ import annotations

import contextlib
import os
import re
from typing import NamedTuple

from ..utils import ExplicitEnum, set_seed  # noqa: F401 - set_seed: users import it from here too

PREFIX_CHECKPOINT_DIR = "checkpoint"
_CHECKPOINT_RE = re.compile(r"^" + PREFIX_CHECKPOINT_DIR + r"-(\d+)$")


class IntervalStrategy(ExplicitEnum):
    NO = "no"
    STEPS = "steps"
    EPOCH = "epoch"


class SaveStrategy(ExplicitEnum):
    NO = "no"
    STEPS = "steps"
    EPOCH = "epoch"
    BEST = "best"


class HubStrategy(ExplicitEnum):
    END = "end"
    EVERY_SAVE = "every_save"
    CHECKPOINT = "checkpoint"
    ALL_CHECKPOINTS = "all_checkpoints"


class SchedulerType(ExplicitEnum):
    LINEAR = "linear"
    COSINE = "cosine"
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    POLYNOMIAL = "polynomial"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    INVERSE_SQRT = "inverse_sqrt"
    REDUCE_ON_PLATEAU = "reduce_lr_on_plateau"
    COSINE_WITH_MIN_LR = "cosine_with_min_lr"
    WARMUP_STABLE_DECAY = "warmup_stable_decay"


class EvalPrediction:
    """What `compute_metrics` receives: predictions and label_ids (numpy arrays, or tuples of them), and the inputs
    or losses when `include_for_metrics` asks for them. Unpacks as `predictions, labels` like a tuple."""

    def __init__(self, predictions, label_ids, inputs=None, losses=None):
        self.predictions = predictions
        self.label_ids = label_ids
        self.inputs = inputs
        self.losses = losses
        self.elements = (predictions, label_ids) + tuple(x for x in (inputs, losses) if x is not None)

    def __iter__(self):
        return iter(self.elements)

    def __getitem__(self, idx):
        return self.elements[idx]

    def __len__(self):
        return len(self.elements)


class EvalLoopOutput(NamedTuple):
    predictions: object
    label_ids: object
    metrics: dict | None
    num_samples: int | None


class PredictionOutput(NamedTuple):
    predictions: object
    label_ids: object
    metrics: dict | None


class TrainOutput(NamedTuple):
    global_step: int
    training_loss: float
    metrics: dict


def enable_full_determinism(seed: int, warn_only: bool = False) -> None:
    """`set_seed` plus deterministic torch kernels (slower), for bit-reproducible runs."""
    import torch

    set_seed(seed)
    os.environ["CUDA_LAUNCH_BLOCKING"] = "1"
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":16:8"
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


@contextlib.contextmanager
def torch_distributed_zero_first(local_rank: int):
    """Let the local main process run the block first (e.g. to fill a cache) while the others wait, then them."""
    import torch.distributed as dist

    waits = dist.is_available() and dist.is_initialized() and local_rank not in (-1, 0)
    if waits:
        dist.barrier()
    yield
    if dist.is_available() and dist.is_initialized() and local_rank == 0:
        dist.barrier()


def checkpoint_step(path: str) -> int | None:
    """The step N of a `checkpoint-N` folder name, None for any other name."""
    match = _CHECKPOINT_RE.match(os.path.basename(os.path.normpath(path)))
    return int(match.group(1)) if match else None


def sorted_checkpoints(folder: str) -> list[str]:
    """The complete `checkpoint-N` folders of `folder`, oldest step first (a save still being written lives under a
    temporary name, so it is never listed)."""
    if not os.path.isdir(folder):
        return []
    found = [(checkpoint_step(name), os.path.join(folder, name)) for name in os.listdir(folder)]
    return [path for step, path in sorted(f for f in found if f[0] is not None) if os.path.isdir(path)]


def get_last_checkpoint(folder: str) -> str | None:
    """The latest `checkpoint-N` folder in `folder`, or None."""
    found = sorted_checkpoints(folder)
    return found[-1] if found else None


def has_length(dataset) -> bool:
    try:
        return len(dataset) is not None
    except TypeError:
        return False


def denumpify_detensorize(metrics):
    """Plain Python numbers in place of numpy scalars and one-element tensors (so metrics serialise to JSON)."""
    if isinstance(metrics, (list, tuple)):
        return type(metrics)(denumpify_detensorize(m) for m in metrics)
    if isinstance(metrics, dict):
        return type(metrics)({k: denumpify_detensorize(v) for k, v in metrics.items()})
    kind = type(metrics).__module__
    if kind == "numpy" and getattr(metrics, "ndim", 1) == 0 or kind == "torch" and metrics.numel() == 1:
        return metrics.item()
    return metrics
