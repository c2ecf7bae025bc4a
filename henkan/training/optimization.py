"""Learning-rate schedules (`get_scheduler` and each named schedule), `Adafactor`, and `AdamW` (torch's).

Each schedule is a `LambdaLR` over a module-level factor function bound with `functools.partial`, so its
`state_dict` (and a checkpoint's scheduler.pt) holds no code and the same step gives the same factor anywhere.
"""

from __future__ import annotations

import functools
import math
import warnings

import torch
from torch.optim import AdamW, Optimizer  # noqa: F401 - AdamW is torch's, exported under the name users import
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from .trainer_utils import SchedulerType

__all__ = ["AdamW", "Adafactor", "AdafactorSchedule", "SchedulerType", "get_scheduler", "get_constant_schedule",
           "get_constant_schedule_with_warmup", "get_linear_schedule_with_warmup", "get_cosine_schedule_with_warmup",
           "get_cosine_with_hard_restarts_schedule_with_warmup", "get_polynomial_decay_schedule_with_warmup",
           "get_inverse_sqrt_schedule", "get_cosine_with_min_lr_schedule_with_warmup", "get_wsd_schedule",
           "get_reduce_on_plateau_schedule", "get_adafactor_schedule"]


def _warmup(step: int, warmup: int) -> float:
    return step / max(1, warmup)


def _progress(step: int, warmup: int, total: int) -> float:
    return (step - warmup) / max(1, total - warmup)


def _constant(step: int) -> float:
    return 1.0


def _constant_warmup(step: int, *, num_warmup_steps: int) -> float:
    return _warmup(step, num_warmup_steps) if step < num_warmup_steps else 1.0


def _linear(step: int, *, num_warmup_steps: int, num_training_steps: int) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))


def _cosine(step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: float,
            min_lr_rate: float = 0.0) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    wave = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * _progress(step, num_warmup_steps, num_training_steps)))
    return max(0.0, wave * (1.0 - min_lr_rate) + min_lr_rate)


def _cosine_restarts(step: int, *, num_warmup_steps: int, num_training_steps: int, num_cycles: int) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    progress = _progress(step, num_warmup_steps, num_training_steps)
    if progress >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((num_cycles * progress) % 1.0))))


def _polynomial(step: int, *, num_warmup_steps: int, num_training_steps: int, lr_end: float, power: float,
                lr_init: float) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    if step > num_training_steps:
        return lr_end / lr_init
    remaining = 1 - (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
    return ((lr_init - lr_end) * remaining ** power + lr_end) / lr_init


def _inverse_sqrt(step: int, *, num_warmup_steps: int, timescale: int) -> float:
    if step < num_warmup_steps:
        return _warmup(step, num_warmup_steps)
    return 1.0 / math.sqrt((step + timescale - num_warmup_steps) / timescale)


_SHAPES = {"linear": lambda p: p, "cosine": lambda p: 0.5 * (1.0 - math.cos(math.pi * p)),
           "1-sqrt": lambda p: 1.0 - math.sqrt(1.0 - p)}


def _wsd(step: int, *, num_warmup_steps: int, num_stable_steps: int, num_decay_steps: int, warmup_type: str,
         decay_type: str, min_lr_ratio: float, num_cycles: float) -> float:
    """Warmup, stable, decay. Warmup rises by `warmup_type`; decay falls by `decay_type` (cosine over `num_cycles`)."""
    if step < num_warmup_steps:
        factor = _SHAPES[warmup_type](_warmup(step, num_warmup_steps))
    elif step < num_warmup_steps + num_stable_steps:
        return 1.0
    elif step < num_warmup_steps + num_stable_steps + num_decay_steps:
        p = (step - num_warmup_steps - num_stable_steps) / max(1, num_decay_steps)
        factor = {"linear": 1.0 - p, "cosine": 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * p)),
                  "1-sqrt": 1.0 - math.sqrt(p)}[decay_type]
    else:
        return min_lr_ratio
    return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)


def get_constant_schedule(optimizer: Optimizer, last_epoch: int = -1) -> LambdaLR:
    """The optimizer's learning rate, unchanged."""
    return LambdaLR(optimizer, _constant, last_epoch=last_epoch)


def get_constant_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, last_epoch: int = -1) -> LambdaLR:
    """Linear warmup from 0, then constant."""
    return LambdaLR(optimizer, functools.partial(_constant_warmup, num_warmup_steps=num_warmup_steps), last_epoch)


def get_linear_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int,
                                    last_epoch: int = -1) -> LambdaLR:
    """Linear warmup from 0, then linear decay to 0 at `num_training_steps`."""
    factor = functools.partial(_linear, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
    return LambdaLR(optimizer, factor, last_epoch)


def get_cosine_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int,
                                    num_cycles: float = 0.5, last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then a cosine over `num_cycles` waves (half a wave: down to 0)."""
    factor = functools.partial(_cosine, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                               num_cycles=num_cycles)
    return LambdaLR(optimizer, factor, last_epoch)


def get_cosine_with_hard_restarts_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int,
                                                       num_training_steps: int, num_cycles: int = 1,
                                                       last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then `num_cycles` cosine decays each restarting from the full rate."""
    factor = functools.partial(_cosine_restarts, num_warmup_steps=num_warmup_steps,
                               num_training_steps=num_training_steps, num_cycles=num_cycles)
    return LambdaLR(optimizer, factor, last_epoch)


def get_polynomial_decay_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int,
                                              lr_end: float = 1e-7, power: float = 1.0,
                                              last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then a polynomial decay of degree `power` from the optimizer's rate to `lr_end`."""
    lr_init = optimizer.defaults["lr"]
    if not lr_init > lr_end:
        raise ValueError(f"lr_end ({lr_end}) must be smaller than the optimizer's initial lr ({lr_init}).")
    factor = functools.partial(_polynomial, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                               lr_end=lr_end, power=power, lr_init=lr_init)
    return LambdaLR(optimizer, factor, last_epoch)


def get_inverse_sqrt_schedule(optimizer: Optimizer, num_warmup_steps: int, timescale: int | None = None,
                              last_epoch: int = -1) -> LambdaLR:
    """Linear warmup, then a decay by the inverse square root of the step (over `timescale` steps)."""
    timescale = timescale or num_warmup_steps or 10_000
    factor = functools.partial(_inverse_sqrt, num_warmup_steps=num_warmup_steps, timescale=timescale)
    return LambdaLR(optimizer, factor, last_epoch)


def get_cosine_with_min_lr_schedule_with_warmup(optimizer: Optimizer, num_warmup_steps: int,
                                                num_training_steps: int, num_cycles: float = 0.5,
                                                last_epoch: int = -1, min_lr: float | None = None,
                                                min_lr_rate: float | None = None) -> LambdaLR:
    """The cosine schedule, floored at `min_lr` (or `min_lr_rate` times the initial rate)."""
    if (min_lr is None) == (min_lr_rate is None):
        raise ValueError("Pass exactly one of min_lr and min_lr_rate.")
    if min_lr is not None:
        min_lr_rate = min_lr / optimizer.defaults["lr"]
    factor = functools.partial(_cosine, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps,
                               num_cycles=num_cycles, min_lr_rate=min_lr_rate)
    return LambdaLR(optimizer, factor, last_epoch)


def get_wsd_schedule(optimizer: Optimizer, num_warmup_steps: int, num_decay_steps: int,
                     num_training_steps: int | None = None, num_stable_steps: int | None = None,
                     warmup_type: str = "linear", decay_type: str = "cosine", min_lr_ratio: float = 0,
                     num_cycles: float = 0.5, last_epoch: int = -1) -> LambdaLR:
    """Warmup, a stable phase, then decay to `min_lr_ratio` times the initial rate."""
    if num_stable_steps is None:
        if num_training_steps is None:
            raise ValueError("get_wsd_schedule needs num_training_steps or num_stable_steps.")
        num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps
    elif num_training_steps is not None:
        warnings.warn("Both num_training_steps and num_stable_steps are given; num_stable_steps is used.",
                      stacklevel=2)
    for name, value in (("warmup_type", warmup_type), ("decay_type", decay_type)):
        if value not in _SHAPES:
            raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, _SHAPES))}.")
    factor = functools.partial(_wsd, num_warmup_steps=num_warmup_steps, num_stable_steps=num_stable_steps,
                               num_decay_steps=num_decay_steps, warmup_type=warmup_type, decay_type=decay_type,
                               min_lr_ratio=min_lr_ratio, num_cycles=num_cycles)
    return LambdaLR(optimizer, factor, last_epoch)


def get_reduce_on_plateau_schedule(optimizer: Optimizer, **kwargs) -> ReduceLROnPlateau:
    """torch's ReduceLROnPlateau; the Trainer steps it with the evaluation metric."""
    return ReduceLROnPlateau(optimizer, **kwargs)


_SCHEDULES = {
    SchedulerType.LINEAR: get_linear_schedule_with_warmup,
    SchedulerType.COSINE: get_cosine_schedule_with_warmup,
    SchedulerType.COSINE_WITH_RESTARTS: get_cosine_with_hard_restarts_schedule_with_warmup,
    SchedulerType.POLYNOMIAL: get_polynomial_decay_schedule_with_warmup,
    SchedulerType.CONSTANT: get_constant_schedule,
    SchedulerType.CONSTANT_WITH_WARMUP: get_constant_schedule_with_warmup,
    SchedulerType.INVERSE_SQRT: get_inverse_sqrt_schedule,
    SchedulerType.REDUCE_ON_PLATEAU: get_reduce_on_plateau_schedule,
    SchedulerType.COSINE_WITH_MIN_LR: get_cosine_with_min_lr_schedule_with_warmup,
    SchedulerType.WARMUP_STABLE_DECAY: get_wsd_schedule,
}


def get_scheduler(name, optimizer: Optimizer, num_warmup_steps: int | None = None,
                  num_training_steps: int | None = None, scheduler_specific_kwargs: dict | None = None):
    """The schedule called `name` (a `SchedulerType` or its value) over `optimizer`."""
    name = SchedulerType(name)
    schedule = _SCHEDULES[name]
    kwargs = dict(scheduler_specific_kwargs or {})
    if name == SchedulerType.CONSTANT:
        return schedule(optimizer)
    if name == SchedulerType.REDUCE_ON_PLATEAU:
        return schedule(optimizer, **kwargs)
    if num_warmup_steps is None:
        raise ValueError(f"The {name.value!r} schedule needs num_warmup_steps.")
    if name in (SchedulerType.CONSTANT_WITH_WARMUP, SchedulerType.INVERSE_SQRT):
        return schedule(optimizer, num_warmup_steps=num_warmup_steps, **kwargs)
    if num_training_steps is None and name != SchedulerType.WARMUP_STABLE_DECAY:
        raise ValueError(f"The {name.value!r} schedule needs num_training_steps.")
    return schedule(optimizer, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps, **kwargs)


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018): second moments kept as row and column averages for matrices, updates
    clipped by their RMS, and (by default) a relative step size scaled by each parameter's RMS, so no learning rate
    is needed. For an external rate and schedule: `scale_parameter=False, relative_step=False, lr=...`."""

    def __init__(self, params, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0, decay_rate=-0.8, beta1=None,
                 weight_decay=0.0, scale_parameter=True, relative_step=True, warmup_init=False):
        if lr is not None and relative_step:
            raise ValueError("Adafactor: a manual lr needs relative_step=False.")
        if warmup_init and not relative_step:
            raise ValueError("Adafactor: warmup_init=True needs relative_step=True.")
        super().__init__(params, dict(lr=lr, eps=eps, clip_threshold=clip_threshold, decay_rate=decay_rate,
                                      beta1=beta1, weight_decay=weight_decay, scale_parameter=scale_parameter,
                                      relative_step=relative_step, warmup_init=warmup_init))

    @staticmethod
    def _get_lr(group: dict, state: dict) -> float:
        lr = group["lr"]
        if group["relative_step"]:
            floor = 1e-6 * state["step"] if group["warmup_init"] else 1e-2
            lr = min(floor, 1.0 / math.sqrt(state["step"]))
        return lr * (max(group["eps"][1], state["RMS"]) if group["scale_parameter"] else 1.0)

    @staticmethod
    def _rms(t: torch.Tensor) -> torch.Tensor:
        return t.norm(2) / t.numel() ** 0.5

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Adafactor does not support sparse gradients.")
                grad = p.grad.float()
                factored = grad.dim() >= 2
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    if group["beta1"] is not None:
                        state["exp_avg"] = torch.zeros_like(grad)
                    if factored:
                        state["exp_avg_sq_row"] = grad.new_zeros(grad.shape[:-1])
                        state["exp_avg_sq_col"] = grad.new_zeros(grad.shape[:-2] + grad.shape[-1:])
                    else:
                        state["exp_avg_sq"] = torch.zeros_like(grad)
                    state["RMS"] = 0
                weights = p.float() if p.dtype in (torch.float16, torch.bfloat16) else p
                state["step"] += 1
                state["RMS"] = self._rms(weights)
                lr = self._get_lr(group, state)
                beta2 = 1.0 - math.pow(state["step"], group["decay_rate"])
                squared = grad ** 2 + group["eps"][0]
                if factored:
                    row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
                    row.mul_(beta2).add_(squared.mean(dim=-1), alpha=1.0 - beta2)
                    col.mul_(beta2).add_(squared.mean(dim=-2), alpha=1.0 - beta2)
                    row_factor = (row / row.mean(dim=-1, keepdim=True)).rsqrt_().unsqueeze(-1)
                    update = (row_factor * col.unsqueeze(-2).rsqrt()).mul_(grad)
                else:
                    state["exp_avg_sq"].mul_(beta2).add_(squared, alpha=1.0 - beta2)
                    update = state["exp_avg_sq"].rsqrt().mul_(grad)
                update.div_((self._rms(update) / group["clip_threshold"]).clamp_(min=1.0)).mul_(lr)
                if group["beta1"] is not None:
                    update = state["exp_avg"].mul_(group["beta1"]).add_(update, alpha=1 - group["beta1"])
                if group["weight_decay"] != 0:
                    weights.add_(weights, alpha=-group["weight_decay"] * lr)
                weights.add_(-update)
                if weights is not p:
                    p.copy_(weights)
        return loss


class AdafactorSchedule(LambdaLR):
    """A stand-in schedule for Adafactor's own step sizes, so the Trainer can log a learning rate."""

    def __init__(self, optimizer: Adafactor, initial_lr: float = 0.0):
        for group in optimizer.param_groups:
            group["initial_lr"] = initial_lr
        super().__init__(optimizer, functools.partial(_fixed, value=initial_lr))
        for group in optimizer.param_groups:
            del group["initial_lr"]

    def get_lr(self):
        opt = self.optimizer
        rates = [opt._get_lr(g, opt.state[g["params"][0]]) for g in opt.param_groups
                 if g["params"][0].grad is not None and opt.state[g["params"][0]]]
        return rates or self.base_lrs


def _fixed(step: int, *, value: float) -> float:
    return value


def get_adafactor_schedule(optimizer: Adafactor, initial_lr: float = 0.0) -> AdafactorSchedule:
    return AdafactorSchedule(optimizer, initial_lr)
