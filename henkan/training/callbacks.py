"""Trainer state, control switches and callbacks: the default flow, progress display, early stopping, TensorBoard.

Callbacks read the state and flip `TrainerControl` switches; the loop does the work. `trainer_state.json` is the
`TrainerState` as JSON, the same keys the reference writes and reads.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from .. import logging
from ..utils import atomic_write_text, read_json
from .trainer_utils import IntervalStrategy, SaveStrategy, has_length

logger = logging.get_logger(__name__)


class ExportableState:
    """A callback (or control) whose settings and counters are saved in trainer_state.json and restored on resume."""

    def state(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_state(cls, state: dict):
        instance = cls(**state["args"])
        for key, value in state["attributes"].items():
            setattr(instance, key, value)
        return instance


@dataclass
class TrainerState:
    """Where training is: steps (optimizer updates) done, epoch (fractional), the log history, the best metric and
    checkpoint so far. Saved as trainer_state.json in each checkpoint."""

    epoch: float | None = None
    global_step: int = 0
    max_steps: int = 0
    logging_steps: int = 500
    eval_steps: int = 500
    save_steps: int = 500
    train_batch_size: int | None = None
    num_train_epochs: int = 0
    num_input_tokens_seen: int = 0
    total_flos: float = 0
    log_history: list = None
    best_metric: float | None = None
    best_global_step: int | None = None
    best_model_checkpoint: str | None = None
    is_local_process_zero: bool = True
    is_world_process_zero: bool = True
    is_hyper_param_search: bool = False
    trial_name: str | None = None
    trial_params: dict | None = None
    stateful_callbacks: dict | list | None = None

    def __post_init__(self):
        if self.log_history is None:
            self.log_history = []
        if self.stateful_callbacks is None:
            self.stateful_callbacks = {}
        elif not isinstance(self.stateful_callbacks, dict):
            exported: dict = {}
            for callback in self.stateful_callbacks:
                if not isinstance(callback, ExportableState):
                    raise TypeError(f"stateful_callbacks must be ExportableState objects, not {type(callback)}.")
                name = type(callback).__name__
                if name in exported:
                    previous = exported[name]
                    exported[name] = (previous if isinstance(previous, list) else [previous]) + [callback.state()]
                else:
                    exported[name] = callback.state()
            self.stateful_callbacks = exported

    def save_to_json(self, json_path: str) -> None:
        """Write the state as sorted, indented JSON, atomically."""
        atomic_write_text(json_path, json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load_from_json(cls, json_path: str) -> "TrainerState":
        data = read_json(json_path)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def compute_steps(self, args, max_steps: int) -> None:
        """Logging, eval and save intervals in steps (a value below 1 is a fraction of `max_steps`)."""
        for kind in ("logging", "eval", "save"):
            steps = getattr(args, f"{kind}_steps")
            if steps is not None:
                setattr(self, f"{kind}_steps", math.ceil(max_steps * steps) if steps < 1 else int(steps))


@dataclass
class TrainerControl(ExportableState):
    """Switches callbacks set to make the loop log, evaluate, save, or stop the epoch or the training."""

    should_training_stop: bool = False
    should_epoch_stop: bool = False
    should_save: bool = False
    should_evaluate: bool = False
    should_log: bool = False

    def _new_training(self):
        self.should_training_stop = False

    def _new_epoch(self):
        self.should_epoch_stop = False

    def _new_step(self):
        self.should_save = self.should_evaluate = self.should_log = False

    def state(self) -> dict:
        return {"args": dataclasses.asdict(self), "attributes": {}}


class TrainerCallback:
    """Hooks called by the Trainer's loop. Each receives `args`, `state`, `control` and keyword arguments (`model`,
    `processing_class`, `optimizer`, `lr_scheduler`, `train_dataloader`, `eval_dataloader`, and `logs` or
    `metrics` where they apply); one may return a `TrainerControl` to steer the loop."""

    def on_init_end(self, args, state, control, **kwargs):
        pass

    def on_train_begin(self, args, state, control, **kwargs):
        pass

    def on_train_end(self, args, state, control, **kwargs):
        pass

    def on_epoch_begin(self, args, state, control, **kwargs):
        pass

    def on_epoch_end(self, args, state, control, **kwargs):
        pass

    def on_step_begin(self, args, state, control, **kwargs):
        pass

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        pass

    def on_optimizer_step(self, args, state, control, **kwargs):
        pass

    def on_substep_end(self, args, state, control, **kwargs):
        pass

    def on_step_end(self, args, state, control, **kwargs):
        pass

    def on_evaluate(self, args, state, control, **kwargs):
        pass

    def on_predict(self, args, state, control, metrics, **kwargs):
        pass

    def on_save(self, args, state, control, **kwargs):
        pass

    def on_log(self, args, state, control, **kwargs):
        pass

    def on_prediction_step(self, args, state, control, **kwargs):
        pass


_EVENTS = [name for name in vars(TrainerCallback) if name.startswith("on_")]


class CallbackHandler(TrainerCallback):
    """Calls each event on every callback in order, passing the Trainer's objects along."""

    def __init__(self, callbacks, model, processing_class, optimizer, lr_scheduler):
        self.callbacks = []
        for callback in callbacks:
            self.add_callback(callback)
        self.model = model
        self.processing_class = processing_class
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.train_dataloader = None
        self.eval_dataloader = None

    @property
    def tokenizer(self):
        return self.processing_class

    def add_callback(self, callback) -> None:
        instance = callback() if isinstance(callback, type) else callback
        kind = type(instance)
        if any(type(c) is kind for c in self.callbacks):
            logger.warning(f"Adding a second {kind.__name__} to the callbacks; the list is now: "
                           f"{[type(c).__name__ for c in self.callbacks] + [kind.__name__]}")
        self.callbacks.append(instance)

    def pop_callback(self, callback):
        for existing in self.callbacks:
            if existing is callback or (isinstance(callback, type) and type(existing) is callback):
                self.callbacks.remove(existing)
                return existing
        return None

    def remove_callback(self, callback) -> None:
        self.pop_callback(callback)

    @property
    def callback_list(self) -> str:
        return "\n".join(type(c).__name__ for c in self.callbacks)

    def call_event(self, event: str, args, state, control, **kwargs):
        for callback in self.callbacks:
            result = getattr(callback, event)(
                args, state, control, model=self.model, processing_class=self.processing_class,
                tokenizer=self.processing_class, optimizer=self.optimizer, lr_scheduler=self.lr_scheduler,
                train_dataloader=self.train_dataloader, eval_dataloader=self.eval_dataloader, **kwargs)
            if result is not None:
                control = result
        return control


def _event(name):
    def call(self, args, state, control, **kwargs):
        if name == "on_train_begin":
            control.should_training_stop = False
        elif name == "on_epoch_begin":
            control.should_epoch_stop = False
        elif name == "on_step_begin":
            control._new_step()
        elif name in ("on_log", "on_evaluate", "on_save"):
            setattr(control, {"on_log": "should_log", "on_evaluate": "should_evaluate",
                              "on_save": "should_save"}[name], False)
        return self.call_event(name, args, state, control, **kwargs)
    call.__name__ = name
    return call


for _name in _EVENTS:
    setattr(CallbackHandler, _name, _event(_name))


class DefaultFlowCallback(TrainerCallback):
    """Decides when to log, evaluate and save from the strategies and step intervals of the arguments."""

    def on_step_end(self, args, state, control, **kwargs):
        step = state.global_step
        if step == 1 and args.logging_first_step:
            control.should_log = True
        if args.logging_strategy == IntervalStrategy.STEPS and step % state.logging_steps == 0:
            control.should_log = True
        if args.eval_strategy == IntervalStrategy.STEPS and step % state.eval_steps == 0 and args.eval_delay <= step:
            control.should_evaluate = True
        if args.save_strategy == SaveStrategy.STEPS and state.save_steps > 0 and step % state.save_steps == 0:
            control.should_save = True
        if step >= state.max_steps:
            control.should_training_stop = True
            if args.save_strategy == SaveStrategy.STEPS:
                control.should_save = True
        return control

    def on_epoch_end(self, args, state, control, **kwargs):
        if args.logging_strategy == IntervalStrategy.EPOCH:
            control.should_log = True
        if args.eval_strategy == IntervalStrategy.EPOCH and args.eval_delay <= state.epoch:
            control.should_evaluate = True
        if args.save_strategy == SaveStrategy.EPOCH:
            control.should_save = True
        return control


class ProgressCallback(TrainerCallback):
    """A tqdm bar over the training steps (and one over evaluation batches); logs are written above the bar."""

    def __init__(self, max_str_len: int = 100):
        self.training_bar = None
        self.prediction_bar = None
        self.max_str_len = max_str_len
        self.current_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            from tqdm.auto import tqdm

            self.training_bar = tqdm(total=state.max_steps, dynamic_ncols=True)
        self.current_step = 0

    def on_step_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None:
            self.training_bar.update(state.global_step - self.current_step)
            self.current_step = state.global_step

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if state.is_world_process_zero and has_length(eval_dataloader):
            if self.prediction_bar is None:
                from tqdm.auto import tqdm

                self.prediction_bar = tqdm(total=len(eval_dataloader), leave=self.training_bar is None,
                                           dynamic_ncols=True)
            self.prediction_bar.update(1)

    def _close_prediction(self):
        if self.prediction_bar is not None:
            self.prediction_bar.close()
        self.prediction_bar = None

    def on_evaluate(self, args, state, control, **kwargs):
        self._close_prediction()

    def on_predict(self, args, state, control, **kwargs):
        self._close_prediction()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None:
            shown = {k: (f"[String too long to display, length: {len(v)} > {self.max_str_len}. Consider "
                         f"increasing `max_str_len` if needed.]" if isinstance(v, str) and len(v) > self.max_str_len
                         else v) for k, v in logs.items() if k != "total_flos"}
            if "epoch" in shown:
                shown["epoch"] = round(shown["epoch"], 2)
            self.training_bar.write(str(shown))

    def on_train_end(self, args, state, control, **kwargs):
        if self.training_bar is not None:
            self.training_bar.close()
            self.training_bar = None


class PrinterCallback(TrainerCallback):
    """Prints each log dict (used instead of the progress bar when `disable_tqdm=True`)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_local_process_zero:
            print({k: v for k, v in logs.items() if k != "total_flos"})


class EarlyStoppingCallback(TrainerCallback, ExportableState):
    """Stops training once `metric_for_best_model` has failed to improve (by more than `early_stopping_threshold`)
    for `early_stopping_patience` evaluations in a row."""

    def __init__(self, early_stopping_patience: int = 1, early_stopping_threshold: float | None = 0.0):
        self.early_stopping_patience = early_stopping_patience
        self.early_stopping_threshold = early_stopping_threshold
        self.early_stopping_patience_counter = 0

    def check_metric_value(self, args, state, control, metric_value) -> None:
        best = state.best_metric
        better = best is None or (metric_value > best if args.greater_is_better else metric_value < best)
        if better and (best is None or abs(metric_value - best) > self.early_stopping_threshold):
            self.early_stopping_patience_counter = 0
        else:
            self.early_stopping_patience_counter += 1

    def on_train_begin(self, args, state, control, **kwargs):
        if args.metric_for_best_model is None:
            raise ValueError("EarlyStoppingCallback needs metric_for_best_model (or load_best_model_at_end=True).")
        if args.eval_strategy == IntervalStrategy.NO:
            raise ValueError("EarlyStoppingCallback needs evaluations: set eval_strategy to 'steps' or 'epoch'.")
        if not args.load_best_model_at_end:
            logger.warning("EarlyStoppingCallback without load_best_model_at_end=True: the best model will not be "
                           "loaded at the end.")

    def on_evaluate(self, args, state, control, metrics, **kwargs):
        name = args.metric_for_best_model
        name = name if name.startswith("eval_") else f"eval_{name}"
        value = metrics.get(name)
        if value is None:
            logger.warning(f"Early stopping needs {name} in the evaluation metrics, which has only "
                           f"{sorted(metrics)}; early stopping is off.")
            return
        self.check_metric_value(args, state, control, value)
        if self.early_stopping_patience_counter >= self.early_stopping_patience:
            control.should_training_stop = True

    def state(self) -> dict:
        return {"args": {"early_stopping_patience": self.early_stopping_patience,
                         "early_stopping_threshold": self.early_stopping_threshold},
                "attributes": {"early_stopping_patience_counter": self.early_stopping_patience_counter}}


def _tensorboard_tag(key: str) -> str:
    for prefix in ("eval_", "test_"):
        if key.startswith(prefix):
            return f"{prefix[:-1]}/{key[len(prefix):]}"
    return f"train/{key}"


class TensorBoardCallback(TrainerCallback):
    """Writes the logged scalars as TensorBoard event files under `args.logging_dir` (train/..., eval/..., test/...
    tags), with the arguments as text. Needs the `tensorboard` package (`pip install 'henkan[train]'`)."""

    def __init__(self, tb_writer=None):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise RuntimeError("TensorBoardCallback needs the tensorboard package: pip install tensorboard "
                               "(or set report_to='none').") from e
        self._writer_class = SummaryWriter
        self.tb_writer = tb_writer

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.tb_writer is None:
            self.tb_writer = self._writer_class(log_dir=args.logging_dir)
        self.tb_writer.add_text("args", args.to_json_string())
        model = kwargs.get("model")
        if model is not None and getattr(model, "config", None) is not None:
            self.tb_writer.add_text("model_config", model.config.to_json_string())

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.tb_writer is None:
            self.tb_writer = self._writer_class(log_dir=args.logging_dir)
        for key, value in logs.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.tb_writer.add_scalar(_tensorboard_tag(key), value, state.global_step)
            else:
                logger.warning(f"TensorBoard takes numbers; the logged {key!r} is a {type(value).__name__} and is "
                               f"left out.")
        self.tb_writer.flush()

    def on_train_end(self, args, state, control, **kwargs):
        if self.tb_writer is not None:
            self.tb_writer.close()
            self.tb_writer = None


REPORT_CALLBACKS = {"tensorboard": TensorBoardCallback}
