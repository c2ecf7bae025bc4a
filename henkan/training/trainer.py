"""Trainer: a small training and evaluation loop over any model whose forward returns a loss.

The loop in one paragraph: batches come from a seeded, resumable batch sampler (sharded across processes when
started by torchrun); each optimizer step takes `gradient_accumulation_steps` batches, and each batch's mean loss
is weighed by its share of the window's target items (labels that are not -100, counted over every process), so
accumulation and data parallelism give the update of one big batch even with uneven padding. Callbacks decide
when to log, evaluate and save; checkpoints are written to a temporary folder and renamed into place, so a crash
never leaves a partial `checkpoint-N` and never loses the last good one.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from .. import logging
from ..utils import atomic_path, atomic_write_text, fsync_dir, set_seed
from .callbacks import (REPORT_CALLBACKS, CallbackHandler, DefaultFlowCallback, ExportableState, PrinterCallback,
                        ProgressCallback, TrainerControl, TrainerState)
from .data_collator import DataCollatorWithPadding, default_data_collator
from .optimization import Adafactor, get_scheduler
from .trainer_utils import (PREFIX_CHECKPOINT_DIR, EvalLoopOutput, EvalPrediction, PredictionOutput, SaveStrategy,
                            TrainOutput, denumpify_detensorize, enable_full_determinism,
                            get_last_checkpoint, has_length, sorted_checkpoints)
from .training_args import TrainingArguments

logger = logging.get_logger(__name__)

TRAINER_STATE_NAME = "trainer_state.json"
OPTIMIZER_NAME = "optimizer.pt"
SCHEDULER_NAME = "scheduler.pt"
SCALER_NAME = "scaler.pt"


def _numpy_safe_globals() -> list:
    """The numpy types a reference rng_state.pth holds, allowed for torch.load(weights_only=True)."""
    multiarray = getattr(np, "_core", np.core).multiarray
    return [multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def _load_tensors(path: str):
    """A torch file of tensors and plain values (optimizer, scheduler, RNG states): never code."""
    with torch.serialization.safe_globals(_numpy_safe_globals()):
        return torch.load(path, map_location="cpu", weights_only=True)


class _BatchSampler:
    """Batches of dataset indices for one process: a permutation per epoch (seeded by seed + epoch, or the dataset
    order), optionally grouped by length, cut into global batches of `batch_size * world_size` of which this
    process takes its slice. `skip` batches are left out at the start of the next epoch (resuming mid-epoch)."""

    def __init__(self, size: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool = False,
                 world_size: int = 1, rank: int = 0, lengths: list[int] | None = None):
        self.size, self.batch_size, self.shuffle, self.seed = size, batch_size, shuffle, seed
        self.drop_last, self.world_size, self.rank, self.lengths = drop_last, world_size, rank, lengths
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.size))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        if self.lengths is None:
            return order
        group = 50 * self.batch_size * self.world_size  # sort by length within mega-batches: less padding
        return [i for start in range(0, len(order), group)
                for i in sorted(order[start:start + group], key=lambda i: -self.lengths[i])]

    def __len__(self) -> int:
        step = self.batch_size * self.world_size
        return self.size // step if self.drop_last else -(-self.size // step)

    def __iter__(self):
        order = self._order()
        step = self.batch_size * self.world_size
        skip, self.skip = self.skip, 0
        for b in range(skip, len(self)):
            batch = order[b * step:(b + 1) * step]
            if len(batch) < step and self.world_size > 1:  # every process needs a batch: wrap around
                batch = batch + order[:step - len(batch)]
            yield batch[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]


class _CheckedCollator:
    """Drops the columns the model's forward does not take, checks every row has the first row's columns, and
    hands the rows to the data collator."""

    def __init__(self, collator, keep: set[str] | None):
        self.collator, self.keep = collator, keep

    def __call__(self, rows):
        if rows and isinstance(rows[0], Mapping):
            first = set(rows[0])
            for i, row in enumerate(rows):
                if set(row) != first:
                    missing = sorted(first - set(row)) or sorted(set(row) - first)
                    raise ValueError(f"Dataset rows differ in their columns: a row lacks or adds {missing} "
                                     f"(batch position {i}). Every row needs the same columns, e.g. its labels.")
            if self.keep is not None:
                rows = [{k: v for k, v in row.items() if k in self.keep} for row in rows]
        return self.collator(rows)


def _nested(fn, value):
    if isinstance(value, (list, tuple)):
        return type(value)(_nested(fn, v) for v in value)
    if isinstance(value, Mapping):
        return type(value)({k: _nested(fn, v) for k, v in value.items()})
    return fn(value)


def _to_numpy(value):
    return _nested(lambda t: t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy(), value)


def _concat(parts: list, pad):
    """Concatenate per-batch arrays along the first axis, padding the second axis with `pad` where batches differ
    in length (e.g. token logits of batches padded to different lengths)."""
    first = parts[0]
    if isinstance(first, (list, tuple)):
        return type(first)(_concat([p[i] for p in parts], pad) for i in range(len(first)))
    if isinstance(first, Mapping):
        return {k: _concat([p[k] for p in parts], pad) for k in first}
    if first.ndim < 2 or all(p.shape[1:] == first.shape[1:] for p in parts):
        return np.concatenate(parts, axis=0)
    shape = (sum(p.shape[0] for p in parts), max(p.shape[1] for p in parts), *first.shape[2:])
    out = np.full(shape, pad, dtype=first.dtype)
    row = 0
    for p in parts:
        out[row:row + p.shape[0], :p.shape[1]] = p
        row += p.shape[0]
    return out


class Trainer:
    """Train, evaluate and predict with a model and datasets (see the module docstring for the loop)."""

    def __init__(self, model=None, args: TrainingArguments | None = None, data_collator=None, train_dataset=None,
                 eval_dataset=None, processing_class=None, model_init=None, compute_loss_func=None,
                 compute_metrics=None, callbacks=None, optimizers=(None, None), optimizer_cls_and_kwargs=None,
                 preprocess_logits_for_metrics=None, tokenizer=None):
        if args is None:
            args = TrainingArguments()
        if not isinstance(args, TrainingArguments):
            raise TypeError(f"args should be a TrainingArguments, not {type(args).__name__}.")
        self.args = args
        (enable_full_determinism if args.full_determinism else set_seed)(args.seed)
        self.model_init = model_init
        if model is None:
            if model_init is None:
                raise ValueError("Trainer needs a model, or a model_init function that returns one.")
            model = self.call_model_init()
        elif model_init is not None:
            raise ValueError("Pass either model or model_init to the Trainer, not both.")
        if not isinstance(model, nn.Module):
            raise TypeError(f"model should be a torch.nn.Module, not {type(model).__name__}.")
        if processing_class is not None and tokenizer is not None and processing_class is not tokenizer:
            raise ValueError("Pass the tokenizer as processing_class (tokenizer is its older name), not both.")
        self.processing_class = processing_class if processing_class is not None else tokenizer
        self.model = model
        self._move_model_to_device(model)
        if data_collator is None:
            data_collator = DataCollatorWithPadding(self.processing_class) \
                if hasattr(self.processing_class, "pad") else default_data_collator
        self.data_collator = data_collator
        self.train_dataset, self.eval_dataset = train_dataset, eval_dataset
        self.compute_loss_func = compute_loss_func
        self.compute_metrics = compute_metrics
        self.preprocess_logits_for_metrics = preprocess_logits_for_metrics
        self.optimizer, self.lr_scheduler = optimizers
        if optimizer_cls_and_kwargs is not None and self.optimizer is not None:
            raise ValueError("Pass either optimizers or optimizer_cls_and_kwargs, not both.")
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs
        self.label_names = args.label_names if args.label_names is not None else self._default_label_names()
        self.can_return_loss = "return_loss" in inspect.signature(self.model.forward).parameters
        defaults = [DefaultFlowCallback] + [REPORT_CALLBACKS[name] for name in args.report_to]
        self.callback_handler = CallbackHandler(defaults + list(callbacks or []), self.model, self.processing_class,
                                                self.optimizer, self.lr_scheduler)
        self.add_callback(PrinterCallback if args.disable_tqdm else ProgressCallback)
        self.state = TrainerState(is_local_process_zero=self.is_local_process_zero(),
                                  is_world_process_zero=self.is_world_process_zero())
        self.control = TrainerControl()
        self.is_in_train = False
        self.model_wrapped = model
        self._train_sampler = None
        self._scaler = None
        self._step_lr = args.learning_rate
        self.current_flos = 0
        self.control = self.callback_handler.on_init_end(self.args, self.state, self.control)

    # compatibility names ----------------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        return self.processing_class

    @tokenizer.setter
    def tokenizer(self, value):
        self.processing_class = value

    def call_model_init(self, trial=None):
        takes_trial = len(inspect.signature(self.model_init).parameters) == 1
        model = self.model_init(trial) if takes_trial else self.model_init()
        if model is None:
            raise RuntimeError("model_init returned None; it should return a model.")
        return model

    def _move_model_to_device(self, model) -> None:
        if getattr(model, "hf_device_map", None) or any(p.is_meta for p in model.parameters()):
            return  # placed by device_map, or not materialised: leave it where it is
        model.to(self.args.device)

    def _default_label_names(self) -> list[str]:
        names = [p for p in inspect.signature(self.model.forward).parameters if "label" in p]
        if "start_positions" in inspect.signature(self.model.forward).parameters:
            names += ["start_positions", "end_positions"]
        return names or ["labels"]

    # callbacks ------------------------------------------------------------------------------------------------
    def add_callback(self, callback) -> None:
        self.callback_handler.add_callback(callback)

    def pop_callback(self, callback):
        return self.callback_handler.pop_callback(callback)

    def remove_callback(self, callback) -> None:
        self.callback_handler.remove_callback(callback)

    def is_local_process_zero(self) -> bool:
        return self.args.local_process_index == 0

    def is_world_process_zero(self) -> bool:
        return self.args.process_index == 0

    # data -----------------------------------------------------------------------------------------------------
    def _signature_columns(self) -> set[str]:
        params = inspect.signature(self.model.forward).parameters
        return {p for p, v in params.items() if v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)} | \
            {"label", "label_ids", *self.label_names}

    def _prepare_dataset(self, dataset, what: str):
        """A `datasets.Dataset` loses the columns the model does not take (the others are dropped row by row in
        the collator); `keep` is the column set the collator keeps (None: all)."""
        if dataset is None:
            raise ValueError(f"Trainer needs a {what}: pass it to the Trainer or to this call.")
        if not self.args.remove_unused_columns:
            return dataset, None
        keep = self._signature_columns()
        columns = getattr(dataset, "column_names", None)
        if isinstance(columns, list) and hasattr(dataset, "remove_columns"):
            unused = [c for c in columns if c not in keep]
            if unused and len(unused) == len(columns):
                raise ValueError(f"No column of the {what} ({columns}) is an argument of "
                                 f"{type(self.model).__name__}.forward; tokenize the dataset first, or set "
                                 f"remove_unused_columns=False.")
            if unused:
                logger.info(f"The {what} columns {unused} are not arguments of the model's forward and are left out.")
                dataset = dataset.remove_columns(unused)
            return dataset, None
        return dataset, keep

    def _loader(self, dataset, batch_sampler=None, batch_size=None, keep=None) -> DataLoader:
        args = self.args
        options = dict(collate_fn=_CheckedCollator(self.data_collator, keep),
                       num_workers=args.dataloader_num_workers,
                       pin_memory=args.dataloader_pin_memory and args.device.type == "cuda",
                       persistent_workers=args.dataloader_persistent_workers and args.dataloader_num_workers > 0)
        if args.dataloader_num_workers > 0 and args.dataloader_prefetch_factor is not None:
            options["prefetch_factor"] = args.dataloader_prefetch_factor
        if batch_sampler is not None:
            return DataLoader(dataset, batch_sampler=batch_sampler, **options)
        return DataLoader(dataset, batch_size=batch_size, drop_last=args.dataloader_drop_last, **options)

    def _lengths(self, dataset) -> list[int] | None:
        if not self.args.group_by_length:
            return None
        columns = getattr(dataset, "column_names", None) or []
        if self.args.length_column_name in columns:
            return list(dataset[self.args.length_column_name])
        name = getattr(self.model, "main_input_name", "input_ids")
        return [len(dataset[i][name]) for i in range(len(dataset))]

    def get_train_dataloader(self) -> DataLoader:
        """The training batches: shuffled per epoch (seeded), sharded across processes, resumable mid-epoch."""
        dataset, keep = self._prepare_dataset(self.train_dataset, "train_dataset")
        args = self.args
        if isinstance(dataset, IterableDataset) or not has_length(dataset):
            return self._loader(dataset, batch_size=args.per_device_train_batch_size, keep=keep)
        seed = args.data_seed if args.data_seed is not None else args.seed
        self._train_sampler = _BatchSampler(len(dataset), args.per_device_train_batch_size, True, seed,
                                            args.dataloader_drop_last, args.world_size, args.process_index,
                                            self._lengths(self.train_dataset))  # before columns are dropped
        return self._loader(dataset, batch_sampler=self._train_sampler, keep=keep)

    def _eval_loader(self, dataset, what: str) -> DataLoader:
        dataset, keep = self._prepare_dataset(dataset, what)
        args = self.args
        if args.world_size > 1 and has_length(dataset):
            shard = _BatchSampler(len(dataset), args.per_device_eval_batch_size, False, 0, False, args.world_size,
                                  args.process_index)
            return self._loader(dataset, batch_sampler=shard, keep=keep)
        return self._loader(dataset, batch_size=args.per_device_eval_batch_size, keep=keep)

    def get_eval_dataloader(self, eval_dataset=None) -> DataLoader:
        if isinstance(eval_dataset, str):
            eval_dataset = self.eval_dataset[eval_dataset]
        return self._eval_loader(eval_dataset if eval_dataset is not None else self.eval_dataset, "eval_dataset")

    def get_test_dataloader(self, test_dataset) -> DataLoader:
        return self._eval_loader(test_dataset, "test_dataset")

    def num_examples(self, dataloader) -> int:
        sampler = dataloader.batch_sampler
        if isinstance(sampler, _BatchSampler):
            return sampler.size
        return len(dataloader.dataset)

    def _prepare_inputs(self, inputs: dict) -> dict:
        if not isinstance(inputs, Mapping):
            raise TypeError(f"A batch should be a dict of model inputs, not {type(inputs).__name__}; check the data "
                            f"collator.")
        device = self.args.device
        return {k: _nested(lambda t: t.to(device) if isinstance(t, torch.Tensor) else t, v) for k, v in inputs.items()}

    # optimizer and schedule -----------------------------------------------------------------------------------
    def get_decay_parameter_names(self, model) -> list[str]:
        """Names of the parameters that get weight decay: all but biases and normalisation weights."""
        skip = {f"{name}.{p}" if name else p for name, module in model.named_modules()
                if "norm" in type(module).__name__.lower() for p, _ in module.named_parameters(recurse=False)}
        return [n for n, _ in model.named_parameters() if n not in skip and not n.endswith("bias")]

    def create_optimizer(self):
        """AdamW (or `args.optim`) over the trainable parameters, with weight decay where it belongs."""
        if self.optimizer is not None:
            return self.optimizer
        model = self.model
        decay = set(self.get_decay_parameter_names(model))
        params = [(_clean_name(n), p) for n, p in self.model_wrapped.named_parameters() if p.requires_grad]
        groups = [{"params": [p for n, p in params if n in decay], "weight_decay": self.args.weight_decay},
                  {"params": [p for n, p in params if n not in decay], "weight_decay": 0.0}]
        if self.optimizer_cls_and_kwargs is not None:
            cls, kwargs = self.optimizer_cls_and_kwargs
        else:
            cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
        self.optimizer = cls(groups, **kwargs)
        return self.optimizer

    @staticmethod
    def get_optimizer_cls_and_kwargs(args: TrainingArguments, model=None) -> tuple[type, dict]:
        lr = args.learning_rate
        extra = {}
        if args.optim_args:
            for pair in args.optim_args.replace(" ", "").split(","):
                key, _, value = pair.partition("=")
                extra[key] = float(value) if value.replace(".", "", 1).replace("e-", "").isdigit() else value
        if args.optim == "adafactor":
            return Adafactor, {"lr": lr, "scale_parameter": False, "relative_step": False, **extra}
        if args.optim == "sgd":
            return torch.optim.SGD, {"lr": lr, **extra}
        if args.optim == "adagrad":
            return torch.optim.Adagrad, {"lr": lr, **extra}
        if args.optim == "rmsprop":
            return torch.optim.RMSprop, {"lr": lr, **extra}
        kwargs = {"lr": lr, "betas": (args.adam_beta1, args.adam_beta2), "eps": args.adam_epsilon, **extra}
        if args.optim == "adamw_torch_fused":
            kwargs["fused"] = True
        return torch.optim.AdamW, kwargs

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            self.lr_scheduler = get_scheduler(self.args.lr_scheduler_type, optimizer or self.optimizer,
                                              num_warmup_steps=self.args.get_warmup_steps(num_training_steps),
                                              num_training_steps=num_training_steps,
                                              scheduler_specific_kwargs=self.args.lr_scheduler_kwargs)
        return self.lr_scheduler

    def create_optimizer_and_scheduler(self, num_training_steps: int) -> None:
        self.create_optimizer()
        self.create_scheduler(num_training_steps, self.optimizer)

    def _get_learning_rate(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    # loss -----------------------------------------------------------------------------------------------------
    def autocast_smart_context_manager(self):
        """bf16/fp16 autocast when mixed precision is on."""
        if self.args.bf16 or self.args.fp16:
            dtype = torch.bfloat16 if self.args.bf16 else torch.float16
            return torch.autocast(self.args.device.type, dtype=dtype)
        return contextlib.nullcontext()

    compute_loss_context_manager = autocast_smart_context_manager

    def _shifts_labels(self) -> bool:
        model = self.model
        if hasattr(model, "shifts_labels"):
            return bool(model.shifts_labels)
        name = type(model).__name__
        return name.endswith("ForCausalLM") or name.endswith("LMHeadModel")

    def _count_items(self, inputs: dict) -> int:
        """How many targets a batch's mean loss averages over: the labels that are not -100 (without the first
        position for a causal LM, which predicts the next token), or the rows when there are no `labels`."""
        labels = inputs.get("labels")
        if isinstance(labels, torch.Tensor) and labels.dtype in (torch.long, torch.int):
            if labels.dim() > 1 and self._shifts_labels():
                labels = labels[..., 1:]
            return int((labels != -100).sum())
        first = next((v for v in inputs.values() if isinstance(v, torch.Tensor) and v.dim()), None)
        return int(first.shape[0]) if first is not None else 1

    def compute_loss(self, model, inputs: dict, return_outputs: bool = False, num_items_in_batch=None):
        """The batch's mean loss (the model's own, or with `label_smoothing_factor` / `compute_loss_func`). The
        training step weighs it by the batch's share of the accumulation window, so `num_items_in_batch` is only
        passed on to a `compute_loss_func` that wants it."""
        smoothing = self.args.label_smoothing_factor
        labels = inputs.pop("labels") if (smoothing or self.compute_loss_func) and "labels" in inputs else None
        outputs = model(**inputs)
        if self.args.past_index >= 0:
            self._past = outputs[self.args.past_index]
        if self.compute_loss_func is not None:
            loss = self.compute_loss_func(outputs, labels, num_items_in_batch=None)
        elif labels is not None:
            logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[0]
            if self._shifts_labels():
                logits, labels = logits[..., :-1, :], labels[..., 1:]
            loss = nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                               labels.reshape(-1).to(logits.device), ignore_index=-100,
                                               label_smoothing=smoothing)
        else:
            loss = outputs.get("loss") if isinstance(outputs, Mapping) else (
                outputs[0] if isinstance(outputs, (tuple, list)) and outputs else None)
            if loss is None or not isinstance(loss, torch.Tensor):
                keys = list(outputs.keys()) if isinstance(outputs, Mapping) else type(outputs).__name__
                missing = [n for n in self.label_names if n not in inputs]
                hint = (f" The batch has no {missing}: every training row needs its labels (the dataset column "
                        f"'labels' or 'label', or set label_names)." if missing else
                        " Override compute_loss to compute one.")
                raise ValueError(f"The model did not return a loss (it returned {keys}; the batch had "
                                 f"{sorted(inputs)}).{hint}")
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs: dict, num_items_in_batch=None) -> torch.Tensor:
        """Forward and backward on one batch. Its mean loss is weighed by (its targets / `num_items_in_batch`, the
        targets of the whole window on all processes), so the summed gradients are those of the window's mean loss
        over its targets. Returns the weighed loss (detached)."""
        model.train()
        inputs = self._prepare_inputs(inputs)
        count = self._count_items(inputs)
        with self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        if loss.dim():
            loss = loss.mean()
        if num_items_in_batch is None:
            weight = 1.0 / self.args.gradient_accumulation_steps
        else:
            weight = count / max(int(num_items_in_batch), 1)
        if count == 0:  # no targets here: a mean over nothing is NaN, so contribute zero (keeping DDP in step)
            loss = sum(p.view(-1)[0] for p in model.parameters() if p.requires_grad) * 0.0
        weighed = loss * weight
        # DDP averages gradients over processes; the weights already divide by every process's targets
        scale = self.args.world_size if self.args.world_size > 1 else 1
        self._backward(weighed * scale)
        return weighed.detach()

    def _backward(self, loss: torch.Tensor) -> None:
        if self._scaler is not None:
            self._scaler.scale(loss).backward()
        else:
            loss.backward()

    # training -------------------------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None,
              **kwargs) -> TrainOutput:
        """Train; with `resume_from_checkpoint` (True: the latest in output_dir, or a checkpoint folder) continue
        where that checkpoint stopped, with the same data order and learning-rate schedule."""
        if kwargs:
            raise TypeError(f"train() got unexpected arguments: {sorted(kwargs)}.")
        args = self.args
        if resume_from_checkpoint is None:
            resume_from_checkpoint = args.resume_from_checkpoint
        if resume_from_checkpoint is True or resume_from_checkpoint == "True":
            resume_from_checkpoint = get_last_checkpoint(args.output_dir)
            if resume_from_checkpoint is None:
                raise ValueError(f"resume_from_checkpoint=True, but {args.output_dir} holds no checkpoint-N folder.")
        elif resume_from_checkpoint is False:
            resume_from_checkpoint = None
        if resume_from_checkpoint is not None and not os.path.isfile(
                os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME)):
            raise ValueError(f"{resume_from_checkpoint} is not a Trainer checkpoint (it has no {TRAINER_STATE_NAME}).")
        if self.model_init is not None:
            set_seed(args.seed)
            self.model = self.call_model_init(trial)
            self._move_model_to_device(self.model)
            self.optimizer = self.lr_scheduler = None
        self.is_in_train = True
        try:
            return self._inner_training_loop(resume_from_checkpoint, ignore_keys_for_eval)
        finally:
            self.is_in_train = False

    def _training_plan(self, dataloader) -> tuple[int, int, int | None]:
        """(max_steps, epochs, batches per epoch or None for a stream)."""
        args = self.args
        batches = len(dataloader) if has_length(dataloader) else None
        if batches == 0:
            raise ValueError("The training dataloader is empty: the train_dataset has no rows (or fewer than a "
                             "batch with dataloader_drop_last=True).")
        if batches is None:
            if args.max_steps <= 0:
                raise ValueError("A train_dataset without a length (a stream) needs max_steps > 0.")
            return args.max_steps, sys.maxsize, None  # a stream is read again until max_steps
        updates = max(math.ceil(batches / args.gradient_accumulation_steps), 1)
        if args.max_steps > 0:
            return args.max_steps, math.ceil(args.max_steps / updates), batches
        return math.ceil(args.num_train_epochs * updates), math.ceil(args.num_train_epochs), batches

    def _wrap_model(self) -> nn.Module:
        """The model the loop runs: in a multi-process run, wrapped in DistributedDataParallel, or in torch's
        FullyShardedDataParallel when `fsdp` asks for sharding (its options and fsdp_config mapped onto it)."""
        self.model_wrapped = self.model
        args = self.args
        if args.world_size > 1 and args.fsdp:
            self.model_wrapped = _fsdp_wrap(self.model, args)
        elif args.world_size > 1:
            device_ids = [args.device.index] if args.device.type == "cuda" else None
            self.model_wrapped = nn.parallel.DistributedDataParallel(
                self.model, device_ids=device_ids, find_unused_parameters=bool(args.ddp_find_unused_parameters),
                broadcast_buffers=args.ddp_broadcast_buffers is not False, bucket_cap_mb=args.ddp_bucket_cap_mb or 25)
        return self.model_wrapped

    @property
    def _sharded(self) -> bool:
        return type(self.model_wrapped).__name__ == "FullyShardedDataParallel"

    def _inner_training_loop(self, resume_from_checkpoint, ignore_keys_for_eval):
        args = self.args
        dataloader = self.get_train_dataloader()
        max_steps, epochs, batches = self._training_plan(dataloader)
        ga = args.gradient_accumulation_steps
        self.state = TrainerState(is_local_process_zero=self.is_local_process_zero(),
                                  is_world_process_zero=self.is_world_process_zero(),
                                  stateful_callbacks=[c for c in self.callback_handler.callbacks + [self.control]
                                                      if isinstance(c, ExportableState)])
        self.state.compute_steps(args, max_steps)
        self.state.train_batch_size = args.per_device_train_batch_size
        if args.gradient_checkpointing:
            self.model.gradient_checkpointing_enable(args.gradient_checkpointing_kwargs)
        if resume_from_checkpoint is not None:
            self._load_model_weights(resume_from_checkpoint)
        model = self._wrap_model()  # before the optimizer: FSDP replaces the parameters it shards
        self.create_optimizer_and_scheduler(max_steps)
        self._scaler = torch.amp.GradScaler(args.device.type) if args.fp16 else None
        self.callback_handler.model, self.callback_handler.optimizer = self.model, self.optimizer
        self.callback_handler.lr_scheduler, self.callback_handler.train_dataloader = self.lr_scheduler, dataloader
        epochs_done, skip_batches = 0, 0
        if resume_from_checkpoint is not None:
            self._load_optimizer_and_scheduler(resume_from_checkpoint)
            self.state = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, TRAINER_STATE_NAME))
            self.state.compute_steps(args, max_steps)
            self._restore_callback_states()
            if batches is not None:
                updates = math.ceil(batches / ga)
                epochs_done = self.state.global_step // updates
                skip_batches = 0 if args.ignore_data_skip else (self.state.global_step % updates) * ga
            logger.info(f"Resuming from {resume_from_checkpoint} at step {self.state.global_step}.")
        self.state.max_steps, self.state.num_train_epochs = max_steps, epochs
        start_step = self.state.global_step
        self.state.is_local_process_zero = self.is_local_process_zero()
        self.state.is_world_process_zero = self.is_world_process_zero()
        total_batch = args.per_device_train_batch_size * ga * args.world_size
        logger.info(f"***** Running training *****  examples: {self.num_examples(dataloader) if batches else '?'}, "
                    f"epochs: {epochs}, total batch size: {total_batch}, optimization steps: {max_steps}")
        tr_loss = torch.zeros((), device=args.device)
        self._total_loss, self._last_logged = 0.0, self.state.global_step
        grad_norm = None
        start = time.time()
        model.zero_grad(set_to_none=True)
        self.control = self.callback_handler.on_train_begin(args, self.state, self.control)
        if args.eval_on_start:
            self._evaluate(ignore_keys_for_eval)
        for epoch in range(epochs_done, epochs):
            if self._train_sampler is not None:
                self._train_sampler.set_epoch(epoch)
                self._train_sampler.skip = skip_batches if epoch == epochs_done else 0
            done = skip_batches if epoch == epochs_done else 0
            self.control = self.callback_handler.on_epoch_begin(args, self.state, self.control)
            iterator = iter(dataloader)  # draws a worker seed from torch's generator: before the restore below
            if epoch == epochs_done and resume_from_checkpoint is not None:
                self._load_rng_state(resume_from_checkpoint)
            while True:
                window = list(_take(iterator, ga if batches is None else min(ga, batches - done)))
                if not window:
                    if done == 0 and batches is None:  # a stream that yields nothing: stop, not spin
                        logger.warning("The training stream yielded no batch; stopping.")
                        self.control.should_training_stop = True
                    break
                self.control = self.callback_handler.on_step_begin(args, self.state, self.control)
                total = self._window_items(window)
                for i, batch in enumerate(window):
                    last = i == len(window) - 1
                    sync = model.no_sync() if not last and model is not self.model else contextlib.nullcontext()
                    with sync:
                        step_loss = self.training_step(model, batch, num_items_in_batch=total)
                    if args.logging_nan_inf_filter and not torch.isfinite(step_loss):
                        step_loss = tr_loss / (1 + self.state.global_step - self._last_logged) / len(window)
                    tr_loss += step_loss
                    self.current_flos += self.floating_point_ops(batch)
                    if args.include_num_input_tokens_seen:
                        self.state.num_input_tokens_seen += self._input_tokens(batch)
                    if not last:
                        self.control = self.callback_handler.on_substep_end(args, self.state, self.control)
                done += len(window)
                grad_norm = self._optimizer_step(model)
                self.state.global_step += 1
                self.state.epoch = epoch + done / batches if batches else self.state.global_step / max_steps
                self.control = self.callback_handler.on_step_end(args, self.state, self.control)
                self._maybe_log_save_evaluate(tr_loss, grad_norm, ignore_keys_for_eval)
                if self.control.should_epoch_stop or self.control.should_training_stop:
                    break
            self.control = self.callback_handler.on_epoch_end(args, self.state, self.control)
            self._maybe_log_save_evaluate(tr_loss, grad_norm, ignore_keys_for_eval)
            if self.control.should_training_stop:
                break
        if args.load_best_model_at_end and self.state.best_model_checkpoint is not None:
            self._barrier()
            logger.info(f"Loading the best model from {self.state.best_model_checkpoint} "
                        f"({args.metric_for_best_model}: {self.state.best_metric}).")
            self._load_model_weights(self.state.best_model_checkpoint)
        self._total_loss += self._reduce_loss(tr_loss)
        runtime = time.time() - start
        steps_run = max(self.state.global_step - start_step, 1)
        train_loss = self._total_loss / steps_run
        metrics = {"train_runtime": round(runtime, 4),
                   "train_samples_per_second": round(steps_run * total_batch / runtime, 3),
                   "train_steps_per_second": round(steps_run / runtime, 3),
                   "total_flos": self._total_flos(), "train_loss": train_loss}
        self.log(metrics)
        self._rotate_checkpoints()
        self.control = self.callback_handler.on_train_end(args, self.state, self.control)
        return TrainOutput(self.state.global_step, train_loss, metrics)

    def _input_tokens(self, batch) -> int:
        """Input tokens of a batch on all processes (non-padding ones with include_num_input_tokens_seen=
        "non_padding")."""
        name = getattr(self.model, "main_input_name", "input_ids")
        if name not in batch:
            return 0
        mask = batch.get("attention_mask")
        count = int(mask.sum()) if self.args.include_num_input_tokens_seen == "non_padding" and mask is not None \
            else batch[name].numel()
        if self.args.world_size > 1:
            import torch.distributed as dist

            total = torch.tensor([count], device=self.args.device, dtype=torch.long)
            dist.all_reduce(total)
            count = int(total.item())
        return count

    def _window_items(self, window: list) -> int:
        """Targets in an accumulation window, summed over all processes."""
        total = sum(self._count_items(b) for b in window)
        if self.args.world_size > 1:
            import torch.distributed as dist

            count = torch.tensor([total], device=self.args.device, dtype=torch.long)
            dist.all_reduce(count)
            total = int(count.item())
        return total

    def _optimizer_step(self, model):
        args = self.args
        grad_norm = None
        if self._scaler is not None:
            self._scaler.unscale_(self.optimizer)
        if args.max_grad_norm is not None and args.max_grad_norm > 0:
            clip = model.clip_grad_norm_ if self._sharded else functools.partial(nn.utils.clip_grad_norm_,
                                                                                 model.parameters())
            grad_norm = float(clip(args.max_grad_norm))
        self.control = self.callback_handler.on_pre_optimizer_step(args, self.state, self.control)
        if self._scaler is not None:
            self._scaler.step(self.optimizer)
            self._scaler.update()
        else:
            self.optimizer.step()
        self.control = self.callback_handler.on_optimizer_step(args, self.state, self.control)
        self._step_lr = self._get_learning_rate()
        if not isinstance(self.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.lr_scheduler.step()
        model.zero_grad(set_to_none=True)
        return grad_norm

    def _reduce_loss(self, tr_loss: torch.Tensor) -> float:
        """The summed weighed losses of every process (each holds its share of the windows' means); resets it."""
        value = tr_loss.detach().clone()
        if self.args.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(value)
        tr_loss.zero_()
        return float(value)

    def _maybe_log_save_evaluate(self, tr_loss, grad_norm, ignore_keys_for_eval) -> None:
        if self.control.should_log and self.state.global_step > self._last_logged:
            total = self._reduce_loss(tr_loss)
            logs = {"loss": round(total / (self.state.global_step - self._last_logged), 4)}
            if grad_norm is not None:
                logs["grad_norm"] = grad_norm
            logs["learning_rate"] = self._step_lr
            self._total_loss += total
            self._last_logged = self.state.global_step
            self.store_flos()
            self.log(logs)
        metrics = None
        if self.control.should_evaluate:
            metrics = self._evaluate(ignore_keys_for_eval)
            is_best = self._update_best(metrics)
            if self.args.save_strategy == SaveStrategy.BEST:
                self.control.should_save = is_best
        if self.control.should_save:
            self._save_checkpoint()
            self.control = self.callback_handler.on_save(self.args, self.state, self.control)

    def _evaluate(self, ignore_keys=None) -> dict:
        metrics = {}
        datasets = self.eval_dataset if isinstance(self.eval_dataset, dict) else {None: self.eval_dataset}
        for name, dataset in datasets.items():
            prefix = "eval" if name is None else f"eval_{name}"
            metrics.update(self.evaluate(dataset, ignore_keys=ignore_keys, metric_key_prefix=prefix))
        if isinstance(self.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            key = self.args.metric_for_best_model or "loss"
            self.lr_scheduler.step(metrics[key if key.startswith("eval_") else f"eval_{key}"])
        return metrics

    def _update_best(self, metrics: dict) -> bool:
        """Track the best `metric_for_best_model`; True when this evaluation is the new best."""
        name = self.args.metric_for_best_model
        if name is None:
            return False
        key = name if name.startswith("eval_") else f"eval_{name}"
        if key not in metrics:
            raise KeyError(f"metric_for_best_model={name!r} is not among the evaluation metrics {sorted(metrics)}; "
                           f"name one of them (without the eval_ prefix or with it).")
        value = metrics[key]
        best = self.state.best_metric
        better = best is None or (value > best if self.args.greater_is_better else value < best)
        if better:
            self.state.best_metric = value
            self.state.best_global_step = self.state.global_step
        return better

    # checkpoints ----------------------------------------------------------------------------------------------
    def _barrier(self) -> None:
        if self.args.world_size > 1:
            import torch.distributed as dist

            dist.barrier()

    def _save_checkpoint(self) -> None:
        """Write checkpoint-N into a temporary folder, then rename it into place (a crash mid-save leaves the
        earlier checkpoints whole and no partial checkpoint-N), then rotate old ones."""
        args = self.args
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        final = os.path.join(args.output_dir, name)
        staging = os.path.join(args.output_dir, f".tmp-{name}")
        self.store_flos()
        if self.is_world_process_zero():
            if os.path.isfile(args.output_dir):
                raise ValueError(f"output_dir ({args.output_dir}) is a file; the checkpoints need a folder.")
            shutil.rmtree(staging, ignore_errors=True)
            os.makedirs(staging)
        self._barrier()
        self.save_model(staging, _internal_call=True)
        if not args.save_only_model:
            optimizer_state = self._fsdp_states(optimizer=True)[1] if self._sharded else self.optimizer.state_dict()
            if self.is_world_process_zero():
                self._save_tensors(optimizer_state, os.path.join(staging, OPTIMIZER_NAME))
                self._save_tensors(self.lr_scheduler.state_dict(), os.path.join(staging, SCHEDULER_NAME))
                if self._scaler is not None:
                    self._save_tensors(self._scaler.state_dict(), os.path.join(staging, SCALER_NAME))
            rng_name = f"rng_state_{args.process_index}.pth" if args.world_size > 1 else "rng_state.pth"
            self._save_tensors(self._rng_state(), os.path.join(staging, rng_name))
        self._barrier()
        if self.is_world_process_zero():
            best = self.state.best_global_step
            if best is not None and (best == self.state.global_step or
                                     os.path.isdir(os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{best}"))):
                self.state.best_model_checkpoint = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{best}")
            self.state.stateful_callbacks = TrainerState(
                stateful_callbacks=[c for c in self.callback_handler.callbacks + [self.control]
                                    if isinstance(c, ExportableState)]).stateful_callbacks
            self.state.save_to_json(os.path.join(staging, TRAINER_STATE_NAME))
            fsync_dir(staging)
            if os.path.isdir(final):  # saved again at the same step: swap the old one out, then drop it
                old = os.path.join(args.output_dir, f".old-{name}")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(final, old)
                os.replace(staging, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(staging, final)
            fsync_dir(args.output_dir)
            if args.push_to_hub and args.hub_strategy.value in ("every_save", "checkpoint", "all_checkpoints"):
                self._push(final, f"Training in progress, step {self.state.global_step}")
            self._rotate_checkpoints()
        self._barrier()

    @staticmethod
    def _save_tensors(value, path: str) -> None:
        with atomic_path(path) as tmp:
            torch.save(value, tmp)

    @staticmethod
    def _rng_state() -> dict:
        state = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.random.get_rng_state_all()
        return state

    def _load_rng_state(self, checkpoint: str) -> None:
        name = f"rng_state_{self.args.process_index}.pth" if self.args.world_size > 1 else "rng_state.pth"
        path = os.path.join(checkpoint, name)
        if not os.path.isfile(path):
            logger.warning(f"{checkpoint} has no {name}: random draws (dropout, masking) will not continue exactly.")
            return
        state = _load_tensors(path)
        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        torch.random.set_rng_state(state["cpu"])
        if torch.cuda.is_available() and "cuda" in state:
            cuda = state["cuda"]
            torch.cuda.random.set_rng_state_all(cuda) if isinstance(cuda, (list, tuple)) else \
                torch.cuda.random.set_rng_state(cuda)

    def _rotate_checkpoints(self) -> None:
        """Keep the newest `save_total_limit` checkpoints, and always the best one (on top of the limit)."""
        limit = self.args.save_total_limit
        if not limit or limit <= 0 or not self.is_world_process_zero():
            return
        found = sorted_checkpoints(self.args.output_dir)
        best = self.state.best_model_checkpoint
        best = os.path.abspath(best) if best else None
        removable = [p for p in found if os.path.abspath(p) != best]
        keep = limit - (1 if best and any(os.path.abspath(p) == best for p in found) else 0)
        for path in removable[:max(len(removable) - max(keep, 1), 0)]:
            logger.info(f"Deleting older checkpoint {path} (save_total_limit={limit}).")
            shutil.rmtree(path, ignore_errors=True)

    def _load_model_weights(self, folder: str) -> None:
        """Load a checkpoint's weights (safetensors, single or sharded) into the model in place."""
        from safetensors.torch import load_file

        index = os.path.join(folder, "model.safetensors.index.json")
        if os.path.isfile(index):
            with open(index, encoding="utf-8") as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        elif os.path.isfile(os.path.join(folder, "model.safetensors")):
            files = ["model.safetensors"]
        else:
            raise ValueError(f"{folder} has no model.safetensors (nor an index of shards) to load weights from.")
        state = {}
        for name in files:
            state.update(load_file(os.path.join(folder, name)))
        model = self.model
        if self._sharded:  # every process loads the full weights into its shards
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
            from torch.distributed.fsdp import StateDictType

            with FSDP.state_dict_type(self.model_wrapped, StateDictType.FULL_STATE_DICT):
                missing, unexpected = self.model_wrapped.load_state_dict(state, strict=False)
        else:
            missing, unexpected = model.load_state_dict(state, strict=False)
        tied = _tied_keys(model)
        missing = [k for k in missing if k not in tied]
        if missing or unexpected:
            raise ValueError(f"The weights in {folder} do not fit {type(model).__name__}: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}.")
        if hasattr(model, "tie_weights") and not self._sharded:
            model.tie_weights()

    def _load_optimizer_and_scheduler(self, checkpoint: str) -> None:
        path = os.path.join(checkpoint, OPTIMIZER_NAME)
        if not os.path.isfile(path):
            logger.warning(f"{checkpoint} has no {OPTIMIZER_NAME} (saved with save_only_model?): the optimizer "
                           f"starts afresh.")
            return
        state = _load_tensors(path)
        if self._sharded:
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

            state = FSDP.optim_state_dict_to_load(self.model_wrapped, self.optimizer, state)
        self.optimizer.load_state_dict(state)
        self.lr_scheduler.load_state_dict(_load_tensors(os.path.join(checkpoint, SCHEDULER_NAME)))
        if self._scaler is not None and os.path.isfile(os.path.join(checkpoint, SCALER_NAME)):
            self._scaler.load_state_dict(_load_tensors(os.path.join(checkpoint, SCALER_NAME)))

    def _restore_callback_states(self) -> None:
        if not self.args.restore_callback_states_from_checkpoint:
            return
        for callback in self.callback_handler.callbacks + [self.control]:
            saved = self.state.stateful_callbacks.get(type(callback).__name__)
            if isinstance(callback, ExportableState) and saved is not None:
                saved = saved[0] if isinstance(saved, list) else saved
                for key, value in {**saved.get("args", {}), **saved.get("attributes", {})}.items():
                    setattr(callback, key, value)

    def _fsdp_states(self, optimizer: bool = False) -> tuple:
        """The full (unsharded) model state dict and, if asked, optimizer state of an FSDP model, gathered on the
        main process (every process must call this)."""
        from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        wrapped, offload = self.model_wrapped, self.args.device.type != "cpu"  # CPU weights: no copy (it crashes)
        with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT,
                                  FullStateDictConfig(offload_to_cpu=offload, rank0_only=True),
                                  FullOptimStateDictConfig(offload_to_cpu=offload, rank0_only=True)):
            return wrapped.state_dict(), FSDP.optim_state_dict(wrapped, self.optimizer) if optimizer else None

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Save the model (safetensors + config) and the processing class to `output_dir` (default: output_dir).
        Under FSDP every process must call it (the weights are gathered first)."""
        output_dir = output_dir or self.args.output_dir
        state = self._fsdp_states()[0] if self._sharded else None
        if not self.is_world_process_zero():
            return
        if os.path.isfile(output_dir):
            raise ValueError(f"Cannot save the model to {output_dir}: it is a file; pass a folder path.")
        os.makedirs(output_dir, exist_ok=True)
        model = self.model
        if hasattr(model, "save_pretrained"):
            model.save_pretrained(output_dir, state_dict=state)
        else:
            from safetensors.torch import save_file

            with atomic_path(os.path.join(output_dir, "model.safetensors")) as tmp:
                save_file({k: v.detach().cpu().contiguous() for k, v in (state or model.state_dict()).items()}, tmp,
                          metadata={"format": "pt"})
        if self.processing_class is not None and hasattr(self.processing_class, "save_pretrained"):
            self.processing_class.save_pretrained(output_dir)
        if self.args.push_to_hub and not _internal_call:
            self._push(output_dir, "Training done" if not self.is_in_train else "Model save")

    def save_state(self) -> None:
        if self.is_world_process_zero():
            os.makedirs(self.args.output_dir, exist_ok=True)
            self.state.save_to_json(os.path.join(self.args.output_dir, TRAINER_STATE_NAME))

    def _push(self, folder: str, message: str) -> None:
        from ..hub import upload_folder

        repo = self.args.hub_model_id or os.path.basename(os.path.normpath(self.args.output_dir))
        upload_folder(folder, repo_id=repo, commit_message=message, private=self.args.hub_private_repo,
                      token=self.args.hub_token, revision=self.args.hub_revision)

    def push_to_hub(self, commit_message: str | None = "End of training", blocking: bool = True, **kwargs):
        """Save the model to output_dir and upload the folder to `hub_model_id` (default: the folder's name)."""
        self.save_model(_internal_call=True)
        if self.is_world_process_zero():
            self._push(self.args.output_dir, commit_message or "End of training")

    # logging --------------------------------------------------------------------------------------------------
    def floating_point_ops(self, inputs: dict) -> float:
        """6 x tokens x non-embedding parameters: the usual estimate of a forward and backward pass."""
        if not hasattr(self, "_flop_params"):
            model = self.model
            embeds = {id(p) for m in model.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
            self._flop_params = sum(p.numel() for p in model.parameters() if id(p) not in embeds)
        name = getattr(self.model, "main_input_name", "input_ids")
        tokens = inputs.get(name) if isinstance(inputs, Mapping) else None
        return 6.0 * tokens.numel() * self._flop_params if isinstance(tokens, torch.Tensor) else 0.0

    def store_flos(self) -> None:
        flos = torch.tensor([float(self.current_flos)], dtype=torch.float64)
        if self.args.world_size > 1:
            import torch.distributed as dist

            flos = flos.to(self.args.device) if self.args.device.type == "cuda" else flos
            dist.all_reduce(flos)
        self.state.total_flos += float(flos.item())
        self.current_flos = 0

    def _total_flos(self) -> float:
        self.store_flos()
        return self.state.total_flos

    def log(self, logs: dict, start_time: float | None = None) -> None:
        """Add the epoch and step, append to `state.log_history`, and pass to the callbacks' on_log."""
        if self.state.epoch is not None:
            logs["epoch"] = self.state.epoch
        if self.args.include_num_input_tokens_seen:
            logs["num_input_tokens_seen"] = self.state.num_input_tokens_seen
        self.state.log_history.append({**logs, "step": self.state.global_step})
        self.control = self.callback_handler.on_log(self.args, self.state, self.control, logs=logs)

    def metrics_format(self, metrics: dict) -> dict:
        out = dict(metrics)
        for key, value in out.items():
            if "_mem_" in key:
                out[key] = f"{value >> 20}MB"
            elif key.endswith("_runtime"):
                out[key] = time.strftime("%H:%M:%S", time.gmtime(value)) + f".{int(value % 1 * 100):02d}"
            elif key == "total_flos":
                out[key] = f"{int(value) >> 30}GF"
            elif isinstance(value, float):
                out[key] = round(value, 4)
        return out

    def log_metrics(self, split: str, metrics: dict) -> None:
        if not self.is_world_process_zero():
            return
        print(f"***** {split} metrics *****")
        shown = self.metrics_format(metrics)
        width = max(len(k) for k in shown) if shown else 0
        for key in sorted(shown):
            print(f"  {key: <{width}} = {shown[key]:>9}")

    def save_metrics(self, split: str, metrics: dict, combined: bool = True) -> None:
        """Write `{split}_results.json` (and merge into all_results.json) in output_dir."""
        if not self.is_world_process_zero():
            return
        os.makedirs(self.args.output_dir, exist_ok=True)
        path = os.path.join(self.args.output_dir, f"{split}_results.json" if split != "all" else "all_results.json")
        atomic_write_text(path, json.dumps(metrics, indent=4, sort_keys=True))
        if combined:
            everything = os.path.join(self.args.output_dir, "all_results.json")
            merged = json.load(open(everything, encoding="utf-8")) if os.path.isfile(everything) else {}
            merged.update(metrics)
            atomic_write_text(everything, json.dumps(merged, indent=4, sort_keys=True))

    # evaluation -----------------------------------------------------------------------------------------------
    def evaluate(self, eval_dataset=None, ignore_keys: list[str] | None = None,
                 metric_key_prefix: str = "eval") -> dict:
        """Loss and `compute_metrics` over the eval dataset, keys prefixed `eval_` (or `metric_key_prefix`)."""
        if isinstance(eval_dataset, dict) or (eval_dataset is None and isinstance(self.eval_dataset, dict)):
            metrics = {}
            for name, dataset in (eval_dataset or self.eval_dataset).items():
                metrics.update(self.evaluate(dataset, ignore_keys, f"{metric_key_prefix}_{name}"))
            return metrics
        dataloader = self.get_eval_dataloader(eval_dataset)
        start = time.time()
        output = self.evaluation_loop(dataloader, "Evaluation", prediction_loss_only=True if
                                      self.compute_metrics is None else None, ignore_keys=ignore_keys,
                                      metric_key_prefix=metric_key_prefix)
        output.metrics.update(_speed(metric_key_prefix, start, output.num_samples, len(dataloader)))
        self.log(output.metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics=output.metrics)
        return output.metrics

    def predict(self, test_dataset, ignore_keys: list[str] | None = None,
                metric_key_prefix: str = "test") -> PredictionOutput:
        """Predictions (numpy), label_ids and metrics (prefixed `test_`) over `test_dataset`."""
        dataloader = self.get_test_dataloader(test_dataset)
        start = time.time()
        output = self.evaluation_loop(dataloader, "Prediction", ignore_keys=ignore_keys,
                                      metric_key_prefix=metric_key_prefix)
        output.metrics.update(_speed(metric_key_prefix, start, output.num_samples, len(dataloader)))
        self.control = self.callback_handler.on_predict(self.args, self.state, self.control, metrics=output.metrics)
        return PredictionOutput(output.predictions, output.label_ids, output.metrics)

    _prediction_pad = -100

    def evaluation_loop(self, dataloader, description: str, prediction_loss_only: bool | None = None,
                        ignore_keys: list[str] | None = None, metric_key_prefix: str = "eval") -> EvalLoopOutput:
        """Run `prediction_step` over the batches, moving each batch's outputs to the CPU as numpy at once (so
        the accelerator holds one batch at a time), then the metrics."""
        args = self.args
        prediction_loss_only = args.prediction_loss_only if prediction_loss_only is None else prediction_loss_only
        model = self.model_wrapped if self._sharded else self.model  # FSDP gathers the shards in its forward
        model.eval()
        self.callback_handler.eval_dataloader = dataloader
        logger.info(f"***** Running {description} *****  batch size: {args.per_device_eval_batch_size}")
        losses, preds, labels, inputs_kept = [], [], [], []
        want_inputs = "inputs" in args.include_for_metrics
        for batch in dataloader:
            size = _batch_size(batch)
            loss, logits, label = self.prediction_step(model, batch, prediction_loss_only, ignore_keys=ignore_keys)
            if loss is not None:
                losses.append(np.repeat(loss.float().cpu().numpy().reshape(-1)[:1], size))
            if logits is not None:
                if self.preprocess_logits_for_metrics is not None:
                    logits = self.preprocess_logits_for_metrics(logits, label)
                preds.append(_to_numpy(_nested(lambda t: t.detach().cpu(), logits)))
            if label is not None:
                labels.append(_to_numpy(_nested(lambda t: t.detach().cpu(), label)))
            if want_inputs:
                name = getattr(self.model, "main_input_name", "input_ids")
                inputs_kept.append(batch[name].cpu().numpy())
            self.control = self.callback_handler.on_prediction_step(args, self.state, self.control)
        losses, preds, labels, inputs_kept = self._gather_eval(
            [losses, preds, labels, inputs_kept], [0, self._prediction_pad, -100, -100], dataloader)
        all_losses = np.concatenate(losses) if losses else None
        predictions = _concat(preds, self._prediction_pad) if preds else None
        label_ids = _concat(labels, -100) if labels else None
        inputs_all = _concat(inputs_kept, -100) if inputs_kept else None
        num_samples = self.num_examples(dataloader) if has_length(dataloader.dataset) else \
            (len(all_losses) if all_losses is not None else 0)
        metrics = {}
        if self.compute_metrics is not None and predictions is not None and label_ids is not None:
            prediction = EvalPrediction(predictions, label_ids, inputs=inputs_all,
                                        losses=all_losses if "loss" in args.include_for_metrics else None)
            try:
                metrics = self.compute_metrics(prediction)
            except Exception as e:
                raise RuntimeError(f"compute_metrics raised {type(e).__name__}: {e} (at step "
                                   f"{self.state.global_step}; the checkpoints saved so far are intact).") from e
            if not isinstance(metrics, Mapping):
                raise TypeError(f"compute_metrics should return a dict of metric names to values, not "
                                f"{type(metrics).__name__}.")
            metrics = dict(metrics)
        metrics = denumpify_detensorize(metrics)
        if all_losses is not None and all_losses.size:
            metrics[f"{metric_key_prefix}_loss"] = float(all_losses.mean())
        for key in list(metrics):
            if not key.startswith(f"{metric_key_prefix}_"):
                metrics[f"{metric_key_prefix}_{key}"] = metrics.pop(key)
        return EvalLoopOutput(predictions, label_ids, metrics, num_samples)

    def _gather_eval(self, parts: list, pads: list, dataloader) -> list:
        """In a multi-process run, every process's per-batch arrays in dataset order (global batch j is the
        processes' j-th batches in rank order), without the wrapped-around rows that filled the last batch."""
        if self.args.world_size <= 1:
            return parts
        import torch.distributed as dist

        everyone = [None] * self.args.world_size
        dist.all_gather_object(everyone, parts)
        size, out = self.num_examples(dataloader), []
        for k, pad in enumerate(pads):
            merged, seen = [], 0
            for j in range(len(parts[k])):
                piece = _concat([rank_parts[k][j] for rank_parts in everyone], pad)
                take = min(_rows_of(piece), size - seen)
                merged.append(_nested(lambda a, t=take: a[:t], piece))
                seen += take
            out.append(merged)
        return out

    def prediction_step(self, model, inputs: dict, prediction_loss_only: bool,
                        ignore_keys: list[str] | None = None) -> tuple:
        """(loss, logits, labels) of one batch, without gradients; logits leave out `ignore_keys` (default: the
        config's keys_to_ignore_at_inference) and anything that is not a tensor (caches)."""
        inputs = self._prepare_inputs(inputs)
        has_labels = bool(self.label_names) and all(inputs.get(k) is not None for k in self.label_names)
        if ignore_keys is None:
            ignore_keys = getattr(getattr(model, "config", None), "keys_to_ignore_at_inference", [])
        labels = None
        if has_labels:
            labels = tuple(inputs[k].detach() for k in self.label_names)
            labels = labels[0] if len(labels) == 1 else labels
        with torch.no_grad(), self.compute_loss_context_manager():
            if has_labels or self.can_return_loss:
                loss, outputs = self.compute_loss(model, dict(inputs), return_outputs=True)
                loss = loss.mean().detach()
            else:
                loss, outputs = None, model(**inputs)
        if prediction_loss_only:
            return loss, None, labels
        if isinstance(outputs, Mapping):
            logits = tuple(v for k, v in outputs.items() if k not in ignore_keys and k != "loss"
                           and isinstance(v, torch.Tensor))
        else:
            logits = tuple(v for v in (outputs[1:] if has_labels else outputs) if isinstance(v, torch.Tensor))
        logits = tuple(t.detach() for t in logits)
        return loss, (logits[0] if len(logits) == 1 else logits) if logits else None, labels


def _take(iterator, n: int):
    for _ in range(n):
        try:
            yield next(iterator)
        except StopIteration:
            return


def _batch_size(batch) -> int:
    for value in (batch.values() if isinstance(batch, Mapping) else batch):
        if isinstance(value, torch.Tensor) and value.dim():
            return int(value.shape[0])
    return 1


def _rows_of(piece) -> int:
    while isinstance(piece, (list, tuple)):
        piece = piece[0]
    if isinstance(piece, Mapping):
        return _rows_of(next(iter(piece.values())))
    return piece.shape[0]


def _speed(prefix: str, start: float, samples: int, steps: int) -> dict:
    runtime = time.time() - start
    return {f"{prefix}_runtime": round(runtime, 4),
            f"{prefix}_samples_per_second": round(samples / runtime, 3) if runtime else None,
            f"{prefix}_steps_per_second": round(steps / runtime, 3) if runtime else None}


def _tied_keys(model: nn.Module) -> set[str]:
    """State-dict keys that share storage with an earlier key (tied weights: saved once, tied again at load)."""
    seen, tied = set(), set()
    for key, tensor in model.state_dict(keep_vars=True).items():
        ident = (tensor.data_ptr(), tuple(tensor.shape))
        if ident in seen:
            tied.add(key)
        seen.add(ident)
    return tied


def _clean_name(name: str) -> str:
    """A parameter name without the wrappers' prefixes (FSDP's `_fsdp_wrapped_module.`, DDP's `module.`)."""
    return name.replace("_fsdp_wrapped_module.", "").replace("_checkpoint_wrapped_module.", "")


def _fsdp_wrap(model: nn.Module, args) -> nn.Module:
    """torch FullyShardedDataParallel over `model` from the `fsdp` options (full_shard, shard_grad_op, no_shard,
    hybrid_shard; offload; auto_wrap by transformer layer class or parameter count) and `fsdp_config`."""
    from torch.distributed.fsdp import CPUOffload, ShardingStrategy
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp.wrap import size_based_auto_wrap_policy, transformer_auto_wrap_policy

    options, config = set(args.fsdp), {k.removeprefix("fsdp_"): v for k, v in (args.fsdp_config or {}).items()}
    strategy = next((s for s in ("full_shard", "shard_grad_op", "no_shard", "hybrid_shard") if s in options),
                    "full_shard")
    policy = None
    if "auto_wrap" in options:
        names = config.get("transformer_layer_cls_to_wrap") or args.fsdp_transformer_layer_cls_to_wrap or \
            getattr(model, "_no_split_modules", None)
        min_params = config.get("min_num_params") or args.fsdp_min_num_params
        if min_params:
            policy = functools.partial(size_based_auto_wrap_policy, min_num_params=min_params)
        elif names:
            names = {names} if isinstance(names, str) else set(names)
            classes = {type(m) for m in model.modules() if type(m).__name__ in names}
            if not classes:
                raise ValueError(f"fsdp auto_wrap: no module of {type(model).__name__} is a {sorted(names)}; set "
                                 f"fsdp_config['transformer_layer_cls_to_wrap'] to a layer class name of the model.")
            policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls=classes)
    device = args.device if args.device.type == "cuda" else torch.device("cpu")
    return FSDP(model, sharding_strategy=ShardingStrategy[strategy.upper()], auto_wrap_policy=policy,
                cpu_offload=CPUOffload(offload_params="offload" in options), device_id=device, use_orig_params=True)
