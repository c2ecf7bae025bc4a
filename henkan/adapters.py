"""PEFT adapters (LoRA, AdaLoRA, IA3) in PEFT's file format, without the `peft` package.

An adapter folder is `adapter_config.json` + `adapter_model.safetensors`, keys `base_model.model.<module>.lora_A.weight`
(`lora_B`, `ia3_l`; AdaLoRA's bare `lora_A` / `lora_E` / `lora_B` matrices; a `modules_to_save` module's own keys).
Attached to a model, each adapted linear layer gains `lora_A.<adapter>` / `lora_B.<adapter>` / `lora_E.<adapter>` /
`ia3_l.<adapter>` (and `modules_to_save.<adapter>` copies), the names PEFT gives them in memory, and its forward adds
the active adapters' terms:

    LoRA:    y = base(x) + lora_B(lora_A(dropout(x))) * scaling,  scaling = lora_alpha / r  (/ sqrt(r) with rslora)
    AdaLoRA: y = base(x) + dropout(x) @ (A * E).T @ B.T * scaling / (init_r + 1e-5),  scaling = lora_alpha (or the
             rank when lora_alpha is 0); the rank of a layer is init_r, or the count of True in its `rank_pattern`
             mask (the file then holds only the kept singular triplets)
    IA3:     y = base(x) * l  (or base(x * l) for `feedforward_modules`)

The base layers keep their own names and classes, so the base checkpoint keys do not change.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
import re

import torch
from torch import nn

ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
ADAPTER_PICKLE_NAME = "adapter_model.bin"
_PREFIX = "base_model.model."


class PeftConfig:
    """An adapter's settings as `adapter_config.json` spells them; unknown keys are kept and written back."""

    peft_type = ""
    defaults: dict = {}

    def __init__(self, **kwargs):
        kwargs.pop("peft_type", None)
        for key, value in {**self.defaults, **kwargs}.items():
            setattr(self, key, copy.deepcopy(value))

    def to_dict(self) -> dict:
        return {"peft_type": self.peft_type, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}

    def save_pretrained(self, save_directory) -> None:
        from .utils import atomic_write_text

        os.makedirs(save_directory, exist_ok=True)
        atomic_write_text(os.path.join(save_directory, ADAPTER_CONFIG_NAME),
                          json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class LoraConfig(PeftConfig):
    peft_type = "LORA"
    defaults = dict(r=8, lora_alpha=8, lora_dropout=0.0, target_modules=None, exclude_modules=None,
                    modules_to_save=None, rank_pattern={}, alpha_pattern={}, use_rslora=False, fan_in_fan_out=False,
                    bias="none", init_lora_weights=True, use_dora=False, layers_to_transform=None,
                    layers_pattern=None, task_type=None, base_model_name_or_path=None, inference_mode=False)


class AdaLoraConfig(PeftConfig):
    """AdaLoRA: LoRA in SVD form whose ranks were pruned during training. henkan loads, runs, merges and saves such
    adapters; it does not run the rank allocation itself (a fresh one trains at its initial rank)."""

    peft_type = "ADALORA"
    defaults = dict(LoraConfig.defaults, r=8, rank_pattern=None, target_r=8, init_r=12, tinit=0, tfinal=0, deltaT=1,
                    beta1=0.85, beta2=0.85, orth_reg_weight=0.5, total_step=None)


class IA3Config(PeftConfig):
    peft_type = "IA3"
    defaults = dict(target_modules=None, exclude_modules=None, feedforward_modules=None, modules_to_save=None,
                    fan_in_fan_out=False, init_ia3_weights=True, task_type=None, base_model_name_or_path=None,
                    inference_mode=False)


_CONFIGS = {cls.peft_type: cls for cls in (LoraConfig, AdaLoraConfig, IA3Config)}


def as_adapter_config(config, where: str = "adapter_config") -> PeftConfig:
    """One of our configs from ours, a dict, or a `peft` config object (anything with `to_dict()`)."""
    if isinstance(config, PeftConfig):
        return config
    if not isinstance(config, dict):
        if not hasattr(config, "to_dict"):
            raise TypeError(f"{where} must be a LoraConfig, an AdaLoraConfig, an IA3Config or a dict, not {type(config).__name__}.")
        config = config.to_dict()
    kind = config.get("peft_type")
    kind = getattr(kind, "value", kind)
    if kind not in _CONFIGS:
        raise ValueError(f"{where} has peft_type {kind!r}; henkan runs {sorted(_CONFIGS)} adapters.")
    out = _CONFIGS[kind](**{k: v for k, v in config.items() if k != "peft_type"})
    if getattr(out, "use_dora", False) or getattr(out, "lora_bias", False) or out.to_dict().get("bias", "none") != "none":
        raise ValueError(f"{where} asks for DoRA or adapter biases, which henkan does not run yet.")
    if getattr(out, "layers_to_transform", None) is not None:
        raise ValueError(f"{where} sets layers_to_transform, which henkan does not support yet; list the target "
                         f"modules by name instead.")
    if kind == "ADALORA":
        init_r = out.init_r
        if not isinstance(init_r, int) or isinstance(init_r, bool) or init_r < 0:
            raise ValueError(f"{where} has init_r {init_r!r}; AdaLoRA's initial rank is a non-negative integer.")
        pattern = out.rank_pattern or {}
        if not isinstance(pattern, dict):
            raise ValueError(f"{where} has a rank_pattern that is not a dict of masks: {pattern!r}.")
        for key, mask in pattern.items():
            if not isinstance(mask, list) or len(mask) != init_r or not all(isinstance(b, bool) for b in mask):
                raise ValueError(f"{where}: rank_pattern[{key!r}] must be a list of {init_r} true/false values (one "
                                 f"per initial rank), not {mask!r}.")
    return out


def _matches(config: PeftConfig, name: str) -> bool:
    """PEFT's rule: a string target is a full-name regex, a list matches a name or a dotted suffix."""
    exclude = config.exclude_modules
    if exclude and (re.fullmatch(exclude, name) if isinstance(exclude, str) else
                    name in exclude or any(name.endswith("." + e) for e in exclude)):
        return False
    if config.modules_to_save and any(re.match(rf"(^|.*\.){m}($|\..*)", name) for m in config.modules_to_save):
        return False
    targets = config.target_modules
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return name in targets or any(name.endswith("." + t) for t in targets)


def _adalora_module(key: str, adapter_name: str) -> str:
    """The module an AdaLoRA rank_pattern key names: `<module>.lora_E`, with the adapter's name after it in memory."""
    return key.removesuffix(f".{adapter_name}").removesuffix(".lora_E")


def _pattern(patterns: dict, name: str, default):
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", name):
            return value
    return default


def _linear_shape(module: nn.Module) -> tuple[int, int] | None:
    """(in, out) of a linear layer henkan can adapt, else None."""
    from .layers import Conv1D
    from .quantization.layers import QuantLinear

    if isinstance(module, (nn.Linear, QuantLinear)):
        return module.in_features, module.out_features
    if isinstance(module, Conv1D):
        return tuple(module.weight.shape)
    return None


class _Switch:
    """The adapters a model runs: shared by all its adapted layers, so switching costs nothing per layer."""

    def __init__(self):
        self.active: list[str] = []
        self.disabled = False


def _adapted_forward(layer, base, x):
    switch = layer._adapter_switch
    if switch.disabled or not switch.active:
        return base(x)
    ia3 = getattr(layer, "ia3_l", None)
    scale = None
    for name in switch.active:
        if ia3 is not None and name in ia3:
            scale = ia3[name].flatten() if scale is None else scale * ia3[name].flatten()
    if scale is not None and layer._ia3_feedforward:
        x = x * scale
    result = base(x)
    if scale is not None and not layer._ia3_feedforward:
        result = result * scale
    lora_a = getattr(layer, "lora_A", None)
    svd = "lora_E" in layer._modules
    for name in switch.active if lora_a is not None else ():
        if name not in lora_a:
            continue
        if svd:
            alpha, rank = layer.lora_scaling[name]
            low = layer.lora_dropout[name](x) @ (lora_a[name] * layer.lora_E[name]).T
            result = result + (low @ layer.lora_B[name].T) * alpha / rank
        else:
            result = result + layer.lora_B[name](lora_a[name](layer.lora_dropout[name](x))) * layer.lora_scaling[name]
    return result


def _saved_module_forward(layer, base, *args, **kwargs):
    switch = layer._adapter_switch
    copies = layer.modules_to_save
    name = next((n for n in switch.active if n in copies), None) if not switch.disabled else None
    return base(*args, **kwargs) if name is None else copies[name](*args, **kwargs)


def _wrap(layer: nn.Module, forward, switch: _Switch) -> None:
    if "_adapter_base_forward" not in layer.__dict__:
        layer._adapter_base_forward = layer.__dict__.get("forward")  # an instance-level forward, or None
        layer.forward = functools.partial(forward, layer, layer.forward)
    layer._adapter_switch = switch


def _unwrap(layer: nn.Module) -> None:
    base = layer.__dict__.pop("_adapter_base_forward")
    if base is None:
        del layer.forward
    else:
        layer.forward = base
    del layer._adapter_switch


class PeftAdapterMixin:
    """The adapter methods of every model: load_adapter, add_adapter, set_adapter, enable/disable_adapters,
    active_adapters, get_adapter_state_dict, delete_adapter, merge_and_unload."""

    _hf_peft_config_loaded = False

    # attaching --------------------------------------------------------------------------------------------------
    def _adapter_targets(self, config: PeftConfig) -> dict[str, nn.Module]:
        if config.target_modules is None:
            raise ValueError(f"The adapter config has no target_modules; name the layers to adapt, e.g. "
                             f"target_modules=[\"q_proj\", \"v_proj\"].")
        if isinstance(config.target_modules, str) and config.target_modules.lower() == "all-linear":
            output = self.get_output_embeddings()
            targets = {n: m for n, m in self.named_modules() if _linear_shape(m) and m is not output
                       and not n.split(".")[-1].startswith(("lora_", "ia3_"))}
        else:
            targets = {n: m for n, m in self.named_modules() if n and _matches(config, n)}
        linears = {n: m for n, m in targets.items() if _linear_shape(m) is not None}
        if not linears:
            names = sorted({n.rpartition(".")[2] for n, m in self.named_modules() if _linear_shape(m)})
            raise ValueError(f"target_modules {config.target_modules!r} match no linear layer of "
                             f"{type(self).__name__}; its linear layers are named {names}.")
        other = sorted(set(targets) - set(linears))
        if other and not isinstance(config.target_modules, str):
            raise ValueError(f"target_modules match modules henkan cannot adapt (not linear layers): {other[:5]}.")
        return linears

    def _attach(self, config: PeftConfig, adapter_name: str) -> None:
        if not isinstance(adapter_name, str) or not adapter_name or "." in adapter_name:
            raise ValueError(f"adapter_name must be a non-empty name without dots, not {adapter_name!r}.")
        if self._hf_peft_config_loaded and adapter_name in self.peft_config:
            raise ValueError(f"Adapter with name {adapter_name} already exists. Please use a different name.")
        targets = self._adapter_targets(config)
        if config.peft_type == "ADALORA":
            stray = [k for k in config.rank_pattern or {} if _adalora_module(k, adapter_name) not in targets]
            if stray:
                raise ValueError(f"The AdaLoRA rank_pattern names {stray[:3]}, which are not among the layers its "
                                 f"target_modules adapt in {type(self).__name__}; the adapter was made for another "
                                 f"base model.")
        for name, layer in targets.items():
            held = "lora_E" in layer._modules, "lora_A" in layer._modules and "lora_E" not in layer._modules
            if (config.peft_type == "LORA" and held[0]) or (config.peft_type == "ADALORA" and held[1]):
                kinds = ("AdaLoRA", "LoRA") if held[0] else ("LoRA", "AdaLoRA")
                raise ValueError(f"{name} already holds a {kinds[0]} adapter; henkan keeps {kinds[0]} and {kinds[1]} "
                                 f"adapters on different layers (delete_adapter the {kinds[0]} one first).")
        if not self._hf_peft_config_loaded:
            self.peft_config, self._adapter_switch_state = {}, _Switch()
            self._hf_peft_config_loaded = True
        switch = self._adapter_switch_state
        for name, layer in targets.items():
            attach = {"LORA": self._attach_lora, "ADALORA": self._attach_adalora}.get(config.peft_type,
                                                                                      self._attach_ia3)
            attach(name, layer, config, adapter_name)
            _wrap(layer, _adapted_forward, switch)
        for module_name in config.modules_to_save or ():
            for name, module in list(self.named_modules()):
                if name == module_name or name.endswith("." + module_name):
                    if "modules_to_save" not in module._modules:
                        base = copy.deepcopy(module)
                        module.modules_to_save = nn.ModuleDict()
                    else:
                        base = copy.deepcopy(next(iter(module.modules_to_save.values())))
                    module.modules_to_save[adapter_name] = base
                    _wrap(module, _saved_module_forward, switch)
        self.peft_config[adapter_name] = config
        if not switch.active:
            switch.active = [adapter_name]

    def _attach_lora(self, name: str, layer: nn.Module, config: LoraConfig, adapter_name: str) -> None:
        width, outputs = _linear_shape(layer)
        rank = _pattern(config.rank_pattern or {}, name, config.r)
        alpha = _pattern(config.alpha_pattern or {}, name, config.lora_alpha)
        like = next((p for p in layer.parameters() if p.is_floating_point()), None)
        options = {"dtype": like.dtype if like is not None else torch.float32,
                   "device": like.device if like is not None else None}
        for attr in ("lora_A", "lora_B", "lora_dropout"):
            if attr not in layer._modules:
                setattr(layer, attr, nn.ModuleDict())
        if "lora_scaling" not in layer.__dict__:
            layer.lora_scaling = {}
        layer.lora_A[adapter_name] = nn.Linear(width, rank, bias=False, **options)
        layer.lora_B[adapter_name] = nn.Linear(rank, outputs, bias=False, **options)
        nn.init.kaiming_uniform_(layer.lora_A[adapter_name].weight, a=math.sqrt(5))
        if config.init_lora_weights is not False:
            nn.init.zeros_(layer.lora_B[adapter_name].weight)
        layer.lora_dropout[adapter_name] = nn.Dropout(config.lora_dropout) if config.lora_dropout else nn.Identity()
        layer.lora_scaling[adapter_name] = alpha / (math.sqrt(rank) if config.use_rslora else rank)

    def _attach_adalora(self, name: str, layer: nn.Module, config: AdaLoraConfig, adapter_name: str) -> None:
        width, outputs = _linear_shape(layer)
        masks = {_adalora_module(key, adapter_name): mask for key, mask in (config.rank_pattern or {}).items()}
        rank = sum(masks[name]) if name in masks else config.init_r
        like = next((p for p in layer.parameters() if p.is_floating_point()), None)
        options = {"dtype": like.dtype if like is not None else torch.float32,
                   "device": like.device if like is not None else None}
        for attr in ("lora_A", "lora_E", "lora_B"):
            if attr not in layer._modules:
                setattr(layer, attr, nn.ParameterDict())
        if "lora_dropout" not in layer._modules:
            layer.lora_dropout = nn.ModuleDict()
        if "lora_scaling" not in layer.__dict__:
            layer.lora_scaling = {}
        layer.lora_A[adapter_name] = nn.Parameter(torch.empty(rank, width, **options))
        layer.lora_E[adapter_name] = nn.Parameter(torch.empty(rank, 1, **options))
        layer.lora_B[adapter_name] = nn.Parameter(torch.empty(outputs, rank, **options))
        for attr in ("lora_A", "lora_B"):
            nn.init.normal_(getattr(layer, attr)[adapter_name], std=0.02 if config.init_lora_weights else 1.0)
        if config.init_lora_weights:
            nn.init.zeros_(layer.lora_E[adapter_name])
        else:
            nn.init.normal_(layer.lora_E[adapter_name])
        layer.lora_dropout[adapter_name] = nn.Dropout(config.lora_dropout) if config.lora_dropout else nn.Identity()
        # the triplets scale by the rank the adapter started at (not its pruned rank): 1e-5 as PEFT adds it
        alpha = config.lora_alpha if config.lora_alpha > 0 else float(rank)
        layer.lora_scaling[adapter_name] = (alpha, config.init_r + 1e-5)

    def _attach_ia3(self, name: str, layer: nn.Module, config: IA3Config, adapter_name: str) -> None:
        width, outputs = _linear_shape(layer)
        feedforward = bool(config.feedforward_modules) and _matches(
            IA3Config(target_modules=config.feedforward_modules), name)
        if "ia3_l" not in layer._modules:
            layer.ia3_l = nn.ParameterDict()
        layer._ia3_feedforward = feedforward
        shape = (1, width) if feedforward else (outputs, 1)
        like = next((p for p in layer.parameters() if p.is_floating_point()), None)
        layer.ia3_l[adapter_name] = nn.Parameter(torch.ones(shape, dtype=like.dtype if like is not None else None))

    # public API ---------------------------------------------------------------------------------------------------
    def add_adapter(self, adapter_config, adapter_name: str | None = None) -> None:
        """Attach a fresh adapter (LoRA B at zero, IA3 at one) for training and make it the active one; only
        adapter weights require grad afterwards."""
        config = as_adapter_config(adapter_config)
        config.base_model_name_or_path = self.__dict__.get("name_or_path")
        adapter_name = adapter_name or "default"
        self._attach(config, adapter_name)
        self.set_adapter(adapter_name)
        for param in self.parameters():
            param.requires_grad_(False)
        for param in self._adapter_parameters(adapter_name).values():
            param.requires_grad_(True)

    def load_adapter(self, peft_model_id=None, adapter_name: str | None = None, revision: str | None = None,
                     token=None, device_map=None, max_memory=None, offload_folder=None, offload_index=None,
                     peft_config: dict | None = None, adapter_state_dict: dict | None = None,
                     low_cpu_mem_usage: bool = False, is_trainable: bool = False,
                     adapter_kwargs: dict | None = None) -> None:
        """Attach an adapter from a folder / Hub id (or from `peft_config` + `adapter_state_dict`)."""
        from .hub import resolve_file

        adapter_name = adapter_name or "default"
        hub = {"revision": revision or "main", "token": token, **(adapter_kwargs or {})}
        if peft_model_id is None and (peft_config is None or adapter_state_dict is None):
            raise ValueError("load_adapter needs a peft_model_id (a folder or Hub id), or both peft_config and "
                             "adapter_state_dict.")
        where = str(peft_model_id) if peft_model_id is not None else "adapter_state_dict"
        if peft_config is None:
            path = resolve_file(peft_model_id, ADAPTER_CONFIG_NAME, required=False, **hub)
            if path is None:
                raise ValueError(f"adapter model file not found in {peft_model_id}: it has no {ADAPTER_CONFIG_NAME}. "
                                 f"Pass the folder that PEFT's save_pretrained wrote.")
            with open(path, encoding="utf-8") as f:
                peft_config = json.load(f)
        config = as_adapter_config(peft_config, f"{where}/{ADAPTER_CONFIG_NAME}")
        config.inference_mode = not is_trainable
        if adapter_state_dict is None:
            adapter_state_dict = _read_adapter_weights(peft_model_id, hub)
        self._attach(config, adapter_name)
        try:
            self._fill_adapter(adapter_state_dict, adapter_name, where)
        except Exception:
            self.delete_adapter(adapter_name)
            raise
        for param in self._adapter_parameters(adapter_name).values():
            param.requires_grad_(is_trainable)
        if not is_trainable:
            self.eval()

    def _fill_adapter(self, tensors: dict, adapter_name: str, where: str) -> None:
        own = self._adapter_parameters(adapter_name)
        by_file_key = {self._file_key(key, adapter_name): key for key in own}
        unknown = [k for k in tensors if k.removeprefix(_PREFIX) not in by_file_key]
        if unknown:
            raise ValueError(f"The adapter at {where} has weights this model has no place for: {unknown[:4]}. It was "
                             f"made for another base model (or other target_modules).")
        wrong = []
        with torch.no_grad():
            for file_key, tensor in tensors.items():
                param = own[by_file_key[file_key.removeprefix(_PREFIX)]]
                if tuple(tensor.shape) != tuple(param.shape):
                    wrong.append(f"{file_key}: adapter {list(tensor.shape)}, model {list(param.shape)}")
                    continue
                param.copy_(tensor)
        if wrong:
            raise ValueError(f"The adapter at {where} does not fit this model's shapes; it was made for another base "
                             f"model:\n  " + "\n  ".join(wrong[:6]))
        missing = sorted(set(by_file_key) - {k.removeprefix(_PREFIX) for k in tensors})
        if missing:
            raise ValueError(f"The adapter at {where} lacks {missing[:4]}; the file does not match its "
                             f"adapter_config.json.")

    @staticmethod
    def _file_key(key: str, adapter_name: str) -> str:
        """A model key of an adapter parameter -> its key in PEFT's file (without the base_model.model. prefix)."""
        return key.replace(f".modules_to_save.{adapter_name}.", ".").replace(f".{adapter_name}.", ".").removesuffix(
            f".{adapter_name}")

    def _adapter_parameters(self, adapter_name: str) -> dict[str, nn.Parameter]:
        marks = (f".lora_A.{adapter_name}.", f".lora_B.{adapter_name}.", f".modules_to_save.{adapter_name}.")
        ends = tuple(f".{attr}.{adapter_name}" for attr in ("ia3_l", "lora_A", "lora_E", "lora_B"))
        return {k: p for k, p in self.named_parameters(remove_duplicate=False)
                if any(m in k for m in marks) or k.endswith(ends)}

    def _require_adapters(self) -> None:
        if not self._hf_peft_config_loaded:
            raise ValueError("No adapter loaded. Please load an adapter first (load_adapter or add_adapter).")

    def set_adapter(self, adapter_name) -> None:
        self._require_adapters()
        names = [adapter_name] if isinstance(adapter_name, str) else list(adapter_name)
        missing = [n for n in names if n not in self.peft_config]
        if missing:
            raise ValueError(f"Adapter(s) {missing} not found; the loaded adapters are {list(self.peft_config)}.")
        self._adapter_switch_state.active = names

    def disable_adapters(self) -> None:
        self._require_adapters()
        self._adapter_switch_state.disabled = True

    def enable_adapters(self) -> None:
        self._require_adapters()
        self._adapter_switch_state.disabled = False

    def active_adapters(self) -> list[str]:
        self._require_adapters()
        return list(self._adapter_switch_state.active)

    def active_adapter(self) -> str:
        return self.active_adapters()[0]

    def get_adapter_state_dict(self, adapter_name: str | None = None, state_dict: dict | None = None) -> dict:
        """The adapter's weights under PEFT's file keys (without `base_model.model.`)."""
        self._require_adapters()
        adapter_name = adapter_name or self.active_adapters()[0]
        own = self._adapter_parameters(adapter_name)
        return {self._file_key(k, adapter_name): (state_dict or {}).get(k, p).detach() for k, p in own.items()}

    def delete_adapter(self, adapter_names) -> None:
        self._require_adapters()
        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        missing = [n for n in names if n not in self.peft_config]
        if missing:
            raise ValueError(f"Adapter(s) {missing} not found; the loaded adapters are {list(self.peft_config)}.")
        for module in list(self.modules()):
            for attr in ("lora_A", "lora_B", "lora_E", "lora_dropout", "ia3_l", "modules_to_save"):
                holder = module._modules.get(attr)
                for name in names if holder is not None else ():
                    if name in holder:
                        del holder[name]
                if holder is not None and not len(holder):
                    delattr(module, attr)
            for name in names:
                getattr(module, "lora_scaling", {}).pop(name, None)
            if "_adapter_base_forward" in module.__dict__ and not any(
                    a in module._modules for a in ("lora_A", "ia3_l", "modules_to_save")):
                _unwrap(module)
                module.__dict__.pop("lora_scaling", None)
        for name in names:
            del self.peft_config[name]
        switch = self._adapter_switch_state
        switch.active = [n for n in switch.active if n not in names] or list(self.peft_config)[:1]
        if not self.peft_config:
            self._hf_peft_config_loaded = False
            del self.peft_config, self._adapter_switch_state

    def merge_and_unload(self, adapter_names: list[str] | None = None, safe_merge: bool = False):
        """Fold the active adapters (or `adapter_names`) into the base weights, remove every adapter, return the
        model: outputs stay those of the adapted model, at the base model's cost."""
        self._require_adapters()
        names = adapter_names or self.active_adapters()
        with torch.no_grad():
            for name, module in list(self.named_modules()):
                if "_adapter_base_forward" not in module.__dict__:
                    continue
                copies = module._modules.get("modules_to_save")
                if copies is not None:
                    chosen = next((n for n in names if n in copies), None)
                    if chosen is not None:
                        parent, _, attr = name.rpartition(".")
                        replacement = copies[chosen]
                        setattr(self.get_submodule(parent), attr, replacement)
                    continue
                self._merge_layer(name, module, names, safe_merge)
        self.delete_adapter(list(self.peft_config))
        return self

    def _merge_layer(self, name: str, layer: nn.Module, names: list[str], safe_merge: bool) -> None:
        from .layers import Conv1D

        if not isinstance(layer._parameters.get("weight"), nn.Parameter):
            raise ValueError(f"{name} is quantized; adapters cannot be merged into low-bit weights. Keep the adapter "
                             f"attached, or merge into the full-precision model and quantize that.")
        weight = layer.weight  # [out, in], or [in, out] for Conv1D
        transposed = isinstance(layer, Conv1D)
        new = weight.data.float().clone()
        for adapter in names:
            if "lora_E" in layer._modules and adapter in layer.lora_E:
                alpha, rank = layer.lora_scaling[adapter]
                delta = layer.lora_B[adapter].float() @ (layer.lora_A[adapter] * layer.lora_E[adapter]).float()
                delta = delta * alpha / rank
                new += delta.T if transposed else delta
            elif "lora_A" in layer._modules and adapter in layer.lora_A:
                delta = (layer.lora_B[adapter].weight.float() @ layer.lora_A[adapter].weight.float()) * \
                    layer.lora_scaling[adapter]
                new += delta.T if transposed else delta
            if "ia3_l" in layer._modules and adapter in layer.ia3_l:
                scale = layer.ia3_l[adapter].float().flatten()
                if layer._ia3_feedforward:
                    new *= scale[:, None] if transposed else scale[None, :]
                else:
                    new *= scale[None, :] if transposed else scale[:, None]
                    if layer.bias is not None:
                        layer.bias.mul_(scale.to(layer.bias.dtype))
        if safe_merge and not torch.isfinite(new).all():
            raise ValueError(f"Merging the adapter into {name} gives non-finite weights; the adapter is broken.")
        weight.data.copy_(new.to(weight.dtype))


def _read_adapter_weights(path, hub: dict) -> dict:
    from .hub import resolve_file

    file = resolve_file(path, ADAPTER_WEIGHTS_NAME, required=False, **hub)
    if file is not None:
        from safetensors.torch import load_file

        return load_file(file)
    file = resolve_file(path, ADAPTER_PICKLE_NAME, required=False, **hub)
    if file is None:
        raise OSError(f"No adapter weights in {path}: looked for {ADAPTER_WEIGHTS_NAME} and {ADAPTER_PICKLE_NAME}.")
    state = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise OSError(f"{file} does not hold a state dict of tensors.")
    return state


def adapter_base(name_or_path, hub: dict) -> str | None:
    """The base model an adapter folder names (`base_model_name_or_path`), when `name_or_path` is an adapter
    folder without a config.json of its own; else None."""
    from .hub import resolve_file

    try:
        if resolve_file(name_or_path, "config.json", required=False, **hub) is not None:
            return None
        path = resolve_file(name_or_path, ADAPTER_CONFIG_NAME, required=False, **hub)
    except OSError:
        return None
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        base = json.load(f).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{path} names no base_model_name_or_path; load the base model and call "
                         f"model.load_adapter({str(name_or_path)!r}).")
    return base


def save_adapter(model, save_directory) -> None:
    """Write the active adapter as PEFT does: adapter_config.json + adapter_model.safetensors, nothing else."""
    from safetensors.torch import save_file

    from .utils import atomic_path

    names = model.active_adapters()
    if len(names) != 1:
        raise ValueError(f"Several adapters are active ({names}); set_adapter() one of them before saving.")
    config = as_adapter_config(model.peft_config[names[0]].to_dict())
    config.inference_mode = True
    os.makedirs(save_directory, exist_ok=True)
    tensors = {_PREFIX + k: v.to("cpu").contiguous() for k, v in model.get_adapter_state_dict(names[0]).items()}
    with atomic_path(os.path.join(save_directory, ADAPTER_WEIGHTS_NAME)) as tmp:
        save_file(tensors, tmp, metadata={"format": "pt"})
    config.save_pretrained(save_directory)
