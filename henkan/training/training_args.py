"""TrainingArguments and Seq2SeqTrainingArguments: the reference's field names and defaults, checked on creation.

Every field of the reference is accepted (so scripts and argument parsers keep working); a misspelt one is an error
naming the closest valid field. Fields for integrations henkan has no engine for (TPU, SageMaker, Apex, Liger, ...)
are accepted at their defaults and refused when set, rather than silently ignored.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import difflib
import functools
import json
import logging as _logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from .trainer_utils import HubStrategy, IntervalStrategy, SaveStrategy, SchedulerType

_OPTIMIZERS = ("adamw_torch", "adamw_torch_fused", "adamw_hf", "adafactor", "sgd", "adagrad", "rmsprop")
_REPORTERS = ("tensorboard",)
_LOG_LEVELS = {"debug": _logging.DEBUG, "info": _logging.INFO, "warning": _logging.WARNING,
               "error": _logging.ERROR, "critical": _logging.CRITICAL, "passive": -1}
# fields kept for compatibility that henkan cannot honour: setting them away from the default is an error
_UNSUPPORTED = {"tpu_num_cores": None, "tpu_metrics_debug": False, "use_mps_device": False, "jit_mode_eval": False,
                "use_legacy_prediction_loop": False, "mp_parameters": "", "use_liger_kernel": False,
                "liger_kernel_config": None, "neftune_noise_alpha": None, "optim_target_modules": None,
                "torchdynamo": None, "parallelism_config": None, "deepspeed": None, "half_precision_backend": "auto",
                "fp16_backend": "auto", "fp16_opt_level": "O1", "auto_find_batch_size": False}


def _checked_init(cls):
    """Wrap the dataclass __init__ so an unknown keyword names the closest field instead of a bare TypeError."""
    init = cls.__init__
    names = sorted(f.name for f in dataclasses.fields(cls) if f.init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        for key in kwargs:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise TypeError(f"{cls.__name__} got an unknown argument {key!r}.{hint}")
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


@_checked_init
@dataclass
class TrainingArguments:
    """The settings of a `Trainer` run (names, defaults and meaning as in the reference's TrainingArguments)."""

    output_dir: str | None = None
    overwrite_output_dir: bool = False
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    eval_strategy: IntervalStrategy | str = "no"
    prediction_loss_only: bool = False
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 8
    per_gpu_train_batch_size: int | None = None
    per_gpu_eval_batch_size: int | None = None
    gradient_accumulation_steps: int = 1
    eval_accumulation_steps: int | None = None
    eval_delay: float = 0
    torch_empty_cache_steps: int | None = None
    learning_rate: float = 5e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    num_train_epochs: float = 3.0
    max_steps: int = -1
    lr_scheduler_type: SchedulerType | str = "linear"
    lr_scheduler_kwargs: dict | str | None = None
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    log_level: str = "passive"
    log_level_replica: str = "warning"
    log_on_each_node: bool = True
    logging_dir: str | None = None
    logging_strategy: IntervalStrategy | str = "steps"
    logging_first_step: bool = False
    logging_steps: float = 500
    logging_nan_inf_filter: bool = True
    save_strategy: SaveStrategy | str = "steps"
    save_steps: float = 500
    save_total_limit: int | None = None
    save_safetensors: bool = True
    save_on_each_node: bool = False
    save_only_model: bool = False
    restore_callback_states_from_checkpoint: bool = False
    no_cuda: bool = False
    use_cpu: bool = False
    use_mps_device: bool = False
    seed: int = 42
    data_seed: int | None = None
    jit_mode_eval: bool = False
    bf16: bool = False
    fp16: bool = False
    fp16_opt_level: str = "O1"
    half_precision_backend: str = "auto"
    bf16_full_eval: bool = False
    fp16_full_eval: bool = False
    tf32: bool | None = None
    local_rank: int = -1
    ddp_backend: str | None = None
    tpu_num_cores: int | None = None
    tpu_metrics_debug: bool = False
    debug: str | list = ""
    dataloader_drop_last: bool = False
    eval_steps: float | None = None
    dataloader_num_workers: int = 0
    dataloader_prefetch_factor: int | None = None
    past_index: int = -1
    run_name: str | None = None
    disable_tqdm: bool | None = None
    remove_unused_columns: bool = True
    label_names: list[str] | None = None
    load_best_model_at_end: bool = False
    metric_for_best_model: str | None = None
    greater_is_better: bool | None = None
    ignore_data_skip: bool = False
    fsdp: list | str | None = None
    fsdp_min_num_params: int = 0
    fsdp_config: dict | str | None = None
    fsdp_transformer_layer_cls_to_wrap: str | None = None
    accelerator_config: dict | str | None = None
    parallelism_config: Any = None
    deepspeed: dict | str | None = None
    label_smoothing_factor: float = 0.0
    optim: str = "adamw_torch_fused"
    optim_args: str | None = None
    adafactor: bool = False
    group_by_length: bool = False
    length_column_name: str = "length"
    report_to: str | list[str] | None = None
    project: str = "huggingface"
    trackio_space_id: str | None = "trackio"
    ddp_find_unused_parameters: bool | None = None
    ddp_bucket_cap_mb: int | None = None
    ddp_broadcast_buffers: bool | None = None
    dataloader_pin_memory: bool = True
    dataloader_persistent_workers: bool = False
    skip_memory_metrics: bool = True
    use_legacy_prediction_loop: bool = False
    push_to_hub: bool = False
    resume_from_checkpoint: str | None = None
    hub_model_id: str | None = None
    hub_strategy: HubStrategy | str = "every_save"
    hub_token: str | None = None
    hub_private_repo: bool | None = None
    hub_always_push: bool = False
    hub_revision: str | None = None
    gradient_checkpointing: bool = False
    gradient_checkpointing_kwargs: dict | str | None = None
    include_inputs_for_metrics: bool = False
    include_for_metrics: list[str] = field(default_factory=list)
    eval_do_concat_batches: bool = True
    fp16_backend: str = "auto"
    push_to_hub_model_id: str | None = None
    push_to_hub_organization: str | None = None
    push_to_hub_token: str | None = None
    mp_parameters: str = ""
    auto_find_batch_size: bool = False
    full_determinism: bool = False
    torchdynamo: str | None = None
    ray_scope: str | None = "last"
    ddp_timeout: int = 1800
    torch_compile: bool = False
    torch_compile_backend: str | None = None
    torch_compile_mode: str | None = None
    include_tokens_per_second: bool = False
    include_num_input_tokens_seen: bool | str = False
    neftune_noise_alpha: float | None = None
    optim_target_modules: str | list[str] | None = None
    batch_eval_metrics: bool = False
    eval_on_start: bool = False
    use_liger_kernel: bool = False
    liger_kernel_config: dict | None = None
    eval_use_gather_object: bool = False
    average_tokens_across_devices: bool = True
    # the name of eval_strategy before 4.46, still found in guides and scripts
    evaluation_strategy: IntervalStrategy | str | None = None

    def __post_init__(self):
        if self.output_dir is None:
            self.output_dir = "trainer_output"
        self.output_dir = os.fspath(self.output_dir)
        if os.path.isfile(self.output_dir):
            raise ValueError(f"output_dir ({self.output_dir}) is a file; pass a folder path for the checkpoints.")
        for name, default in _UNSUPPORTED.items():
            if getattr(self, name) != default:
                raise ValueError(f"{name}={getattr(self, name)!r} is not supported by henkan's Trainer (it trains "
                                 f"on torch.distributed: DDP, or FSDP through `fsdp`); leave it at {default!r}.")
        if self.evaluation_strategy is not None:
            if self.eval_strategy not in ("no", IntervalStrategy.NO) and \
                    IntervalStrategy(self.eval_strategy) != IntervalStrategy(self.evaluation_strategy):
                raise ValueError("eval_strategy and its old name evaluation_strategy disagree; pass only "
                                 "eval_strategy.")
            self.eval_strategy = self.evaluation_strategy
        self.eval_strategy = IntervalStrategy(self.eval_strategy)
        self.logging_strategy = IntervalStrategy(self.logging_strategy)
        self.save_strategy = SaveStrategy(self.save_strategy)
        self.hub_strategy = HubStrategy(self.hub_strategy)
        self.lr_scheduler_type = SchedulerType(self.lr_scheduler_type)
        self.evaluation_strategy = self.eval_strategy
        if self.do_eval is False and self.eval_strategy != IntervalStrategy.NO:
            self.do_eval = True
        for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, not {getattr(self, name)!r}.")
        if self.eval_accumulation_steps is not None and self.eval_accumulation_steps < 1:
            raise ValueError("eval_accumulation_steps must be a positive integer or None.")
        if self.learning_rate < 0 or self.weight_decay < 0:
            raise ValueError("learning_rate and weight_decay must not be negative.")
        if not 0 <= self.warmup_ratio <= 1:
            raise ValueError(f"warmup_ratio must be in [0, 1], not {self.warmup_ratio}.")
        if self.warmup_steps < 0:
            raise ValueError("warmup_steps must not be negative.")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError("max_steps must be positive (or -1 to train for num_train_epochs).")
        if self.eval_strategy == IntervalStrategy.STEPS and not self.eval_steps:
            if not self.logging_steps:
                raise ValueError("eval_strategy='steps' needs eval_steps (or a nonzero logging_steps).")
            self.eval_steps = self.logging_steps
        for name in ("logging_steps", "save_steps", "eval_steps"):
            value = getattr(self, name)
            if value is not None and (value < 0 or (value > 1 and value != int(value))):
                raise ValueError(f"{name} must be a whole number of steps or a ratio in (0, 1], not {value}.")
            if value is not None and value > 1:
                setattr(self, name, int(value))
        if self.logging_strategy == IntervalStrategy.STEPS and not self.logging_steps:
            raise ValueError("logging_strategy='steps' needs logging_steps > 0.")
        if self.save_strategy == SaveStrategy.STEPS and not self.save_steps:
            raise ValueError("save_strategy='steps' needs save_steps > 0.")
        if self.load_best_model_at_end and self.save_strategy != SaveStrategy.BEST:
            if self.eval_strategy.value != self.save_strategy.value:
                raise ValueError(f"load_best_model_at_end needs the save and eval strategies to match, not "
                                 f"save_strategy={self.save_strategy.value!r} and "
                                 f"eval_strategy={self.eval_strategy.value!r}.")
            if self.eval_strategy == IntervalStrategy.STEPS and self.save_steps % self.eval_steps:
                raise ValueError(f"load_best_model_at_end needs save_steps ({self.save_steps}) to be a multiple of "
                                 f"eval_steps ({self.eval_steps}).")
        if (self.load_best_model_at_end or self.save_strategy == SaveStrategy.BEST) and \
                self.metric_for_best_model is None:
            self.metric_for_best_model = "loss"
        if self.greater_is_better is None and self.metric_for_best_model is not None:
            self.greater_is_better = not self.metric_for_best_model.endswith("loss")
        if self.optim not in _OPTIMIZERS:
            raise ValueError(f"optim={self.optim!r} is not supported; choose one of {', '.join(_OPTIMIZERS)}.")
        if self.adafactor:
            self.optim = "adafactor"
        if self.fp16 and self.bf16:
            raise ValueError("Choose one of fp16 and bf16.")
        for name in ("lr_scheduler_kwargs", "gradient_checkpointing_kwargs", "fsdp_config", "accelerator_config"):
            if isinstance(getattr(self, name), str):
                setattr(self, name, _json_or_file(name, getattr(self, name)))
        self.lr_scheduler_kwargs = self.lr_scheduler_kwargs or {}
        self.report_to = _reporters(self.report_to)
        if self.logging_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S") + "_" + socket.gethostname()
            self.logging_dir = os.path.join(self.output_dir, "runs", stamp)
        self.logging_dir = os.fspath(self.logging_dir)
        if self.disable_tqdm is None:
            self.disable_tqdm = _logging.getLogger("henkan").getEffectiveLevel() > _logging.WARN
        if self.include_inputs_for_metrics and "inputs" not in self.include_for_metrics:
            self.include_for_metrics = [*self.include_for_metrics, "inputs"]
        if isinstance(self.fsdp, str):
            self.fsdp = self.fsdp.split()
        self.fsdp = list(self.fsdp or [])
        unknown = set(self.fsdp) - {"full_shard", "shard_grad_op", "no_shard", "hybrid_shard", "offload",
                                    "auto_wrap"}
        if unknown:
            raise ValueError(f"fsdp options {sorted(unknown)} are unknown; use full_shard, shard_grad_op, "
                             f"no_shard, hybrid_shard, offload, auto_wrap.")
        if self.run_name is None:
            self.run_name = self.output_dir
        if self.label_smoothing_factor < 0 or self.label_smoothing_factor >= 1:
            raise ValueError("label_smoothing_factor must be in [0, 1).")

    # batch sizes and processes --------------------------------------------------------------------------------
    @property
    def train_batch_size(self) -> int:
        return (self.per_gpu_train_batch_size or self.per_device_train_batch_size) * max(1, self.n_gpu)

    @property
    def eval_batch_size(self) -> int:
        return (self.per_gpu_eval_batch_size or self.per_device_eval_batch_size) * max(1, self.n_gpu)

    @property
    def world_size(self) -> int:
        return int(os.environ.get("WORLD_SIZE", 1))

    @property
    def process_index(self) -> int:
        return int(os.environ.get("RANK", 0))

    @property
    def local_process_index(self) -> int:
        return int(os.environ.get("LOCAL_RANK", 0))

    @property
    def parallel_mode(self) -> str:
        return "distributed" if self.world_size > 1 else "not_parallel"

    @property
    def n_gpu(self) -> int:
        return 1 if self.device.type == "cuda" else 0

    @functools.cached_property
    def device(self):
        """The device of this process; in a run started by torchrun (or `accelerate launch`) this also joins the
        process group (gloo on CPU, nccl on GPUs unless ddp_backend says otherwise)."""
        import torch

        cuda = _has_cuda() and not (self.use_cpu or self.no_cuda)
        device = torch.device("cuda", self.local_process_index) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        if self.world_size > 1:
            import torch.distributed as dist
            from datetime import timedelta

            if not dist.is_initialized():
                backend = self.ddp_backend or ("nccl" if cuda else "gloo")
                dist.init_process_group(backend, timeout=timedelta(seconds=self.ddp_timeout))
                # the group joined here is left at exit: a process ending with it alive could abort as it tore
                # down gloo's threads ("terminate called without an active exception"), failing the whole run
                atexit.register(_leave_process_group)
        return device

    @property
    def should_log(self) -> bool:
        return self.process_index == 0 if not self.log_on_each_node else self.local_process_index == 0

    @property
    def should_save(self) -> bool:
        return self.process_index == 0 if not self.save_on_each_node else self.local_process_index == 0

    def get_process_log_level(self) -> int:
        """The log level of this process: `log_level` on the main process, `log_level_replica` on the others."""
        level = self.log_level if self.should_log else self.log_level_replica
        if level not in _LOG_LEVELS:
            raise ValueError(f"log level {level!r} is not one of {', '.join(_LOG_LEVELS)}.")
        value = _LOG_LEVELS[level]
        return _logging.getLogger("henkan").getEffectiveLevel() if value == -1 else value

    @contextlib.contextmanager
    def main_process_first(self, local: bool = True, desc: str = "work"):
        """Run the block on the main process first (e.g. dataset preprocessing that fills a cache), then the rest."""
        from .trainer_utils import torch_distributed_zero_first

        with torch_distributed_zero_first(self.local_process_index if local else self.process_index):
            yield

    def get_warmup_steps(self, num_training_steps: int) -> int:
        """`warmup_steps` if set, else `warmup_ratio` of the training steps, rounded up."""
        import math

        return self.warmup_steps if self.warmup_steps > 0 else math.ceil(num_training_steps * self.warmup_ratio)

    # serialisation ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The fields as plain values (enums by value, tokens hidden)."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Enum):
                value = value.value
            if f.name.endswith("_token") and value is not None:
                value = f"<{f.name.upper()}>"
            out[f.name] = value
        return out

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_sanitized_dict(self) -> dict:
        """Only bool/int/float/str values (others as str), as TensorBoard's hparams want them."""
        return {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in self.to_dict().items()}

    def __str__(self):
        body = ",\n".join(f"{k}={v!r}" for k, v in sorted(self.to_dict().items()))
        return f"{type(self).__name__}(\n{body},\n)"

    __repr__ = __str__


@_checked_init
@dataclass
class Seq2SeqTrainingArguments(TrainingArguments):
    """TrainingArguments plus generation for evaluation: with `predict_with_generate`, evaluate/predict decode with
    `generate()` (`generation_max_length`, `generation_num_beams`, or a whole `generation_config`)."""

    sortish_sampler: bool = False
    predict_with_generate: bool = False
    generation_max_length: int | None = None
    generation_num_beams: int | None = None
    generation_config: Any = None

    def to_dict(self) -> dict:
        out = super().to_dict()
        if out.get("generation_config") is not None and hasattr(out["generation_config"], "to_dict"):
            out["generation_config"] = out["generation_config"].to_dict()
        return out


def _leave_process_group() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _json_or_file(name: str, value: str) -> dict:
    """A dict field given as a JSON string or a path to a JSON file (as on a command line)."""
    if os.path.isfile(value):
        from ..utils import read_json

        return read_json(value)
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as e:
        raise ValueError(f"{name} should be a dict, a JSON string or a JSON file path, not {value!r} ({e}).") from e
    if not isinstance(parsed, dict):
        raise ValueError(f"{name} should hold a JSON object, not {type(parsed).__name__}.")
    return parsed


def _reporters(report_to) -> list[str]:
    """report_to as a list of integrations: None and "all" mean every installed one (tensorboard if present),
    "none" or [] none; an integration henkan has no callback for is an error."""
    if report_to is None or report_to == "all" or report_to == ["all"]:
        import importlib.util

        return ["tensorboard"] if importlib.util.find_spec("tensorboard") else []
    if report_to == "none" or report_to == ["none"]:
        return []
    names = [report_to] if isinstance(report_to, str) else list(report_to)
    for name in names:
        if name not in _REPORTERS:
            raise ValueError(f"report_to={name!r}: henkan reports to {', '.join(_REPORTERS)} (or 'none'); log "
                             f"elsewhere from a TrainerCallback's on_log.")
    return names
