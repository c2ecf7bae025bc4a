"""`PreTrainedModel`: build a model from a config, load and save checkpoint folders the Hub way.

Loading never runs random init: parameters are created on the `meta` device, tensors are read from safetensors (or a
pickle checkpoint through `torch.load(weights_only=True)`) straight into the target dtype, and assigned. Only the
weights the checkpoint lacks are initialised.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import uuid
import warnings

import torch
from torch import nn

from .adapters import PeftAdapterMixin, adapter_base, save_adapter
from .config import PretrainedConfig
from .hub import PushToHubMixin, pop_hub_kwargs, pop_upload_kwargs, resolve_file, upload_folder
from .layers import LMPredictionHead, linear_layer
from .logging import get_logger
from .utils import atomic_paths, read_json, remove_stale_temporaries

logger = get_logger(__name__)

SAFE_WEIGHTS = "model.safetensors"
SAFE_INDEX = "model.safetensors.index.json"
PT_WEIGHTS = "pytorch_model.bin"
PT_INDEX = "pytorch_model.bin.index.json"
SAVE_ID = "henkan_save_id"  # metadata key: which save_pretrained call wrote a weight file
_DTYPES = {"float32": torch.float32, "float": torch.float32, "fp32": torch.float32, "float16": torch.float16,
           "half": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float64": torch.float64, "double": torch.float64}
# Buffers older checkpoints stored that henkan computes instead.
_STORED_BUFFERS = (r"\.position_ids$", r"\.token_type_ids$", r"\.masked_bias$", r"\.attn\.bias$")
# Old checkpoints name LayerNorm parameters the TensorFlow way.
_LEGACY_SUFFIXES = ((".gamma", ".weight"), (".beta", ".bias"))
# weight-normalised kernels as saved before torch's parametrizations (magnitude g, direction v)
_WEIGHT_NORM_SUFFIXES = ((".weight_g", ".parametrizations.weight.original0"),
                         (".weight_v", ".parametrizations.weight.original1"))


def parse_dtype(dtype) -> torch.dtype | str | None:
    """A torch dtype, "auto", or None, from what users pass as `torch_dtype`/`dtype`."""
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if isinstance(dtype, str):
        name = dtype.removeprefix("torch.")
        if name in _DTYPES:
            return _DTYPES[name]
    raise ValueError(f"Unknown torch_dtype {dtype!r}. Use a torch dtype (torch.float16, torch.bfloat16, "
                     f"torch.float32), one of {sorted(_DTYPES)}, or \"auto\" to keep the checkpoint's dtype.")


ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "unpadded")


def check_attn_implementation(value):
    """`value` if henkan can attend that way (None: the default, SDPA); a clear error otherwise."""
    if value is None or value in ATTN_IMPLEMENTATIONS:
        return value
    raise ValueError(f"attn_implementation={value!r} is not available in henkan: attention runs through PyTorch's "
                     f"scaled_dot_product_attention (\"sdpa\", the default, which picks flash or memory-efficient "
                     f"kernels itself), \"eager\" (the same results), or \"unpadded\" (encoders skip padding "
                     f"tokens). Use one of {list(ATTN_IMPLEMENTATIONS)}.")


_INIT_FUNCTIONS = ("normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
                   "trunc_normal_", "ones_", "zeros_", "constant_", "orthogonal_")


def _keep(tensor, *args, **kwargs):
    return tensor


@contextlib.contextmanager
def _skeleton():
    """Build modules on the meta device without initialising anything: loading fills every tensor."""
    saved = {name: getattr(nn.init, name) for name in _INIT_FUNCTIONS}
    for name in saved:
        setattr(nn.init, name, _keep)
    PreTrainedModel._loading = True
    try:
        with torch.device("meta"):
            yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)
        PreTrainedModel._loading = False


def parse_size(size) -> int:
    """Bytes from 5GB / "200MB" / "10KiB" / an int."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?)B?\s*", str(size).upper())
    if not match:
        raise ValueError(f"max_shard_size={size!r} is not a size; write it like \"5GB\", \"500MB\" or an int.")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** " KMGT".index(unit or " "))


class PreTrainedModel(nn.Module, PushToHubMixin, PeftAdapterMixin):
    """Base class of every model: config handling, loading, saving, embeddings and tying."""

    config_class = PretrainedConfig
    base_model_prefix = ""
    main_input_name = "input_ids"
    input_embeddings_path = ""  # where a base model keeps its token embeddings, e.g. "embeddings.word_embeddings"
    supports_gradient_checkpointing = True
    # what code written for the reference asks a class before choosing an attention kernel or compiling: henkan
    # attends through PyTorch's SDPA (eager when attention weights are asked for), on every family
    _supports_sdpa = True
    _supports_flash_attn = _supports_flash_attn_2 = _supports_flex_attn = _supports_attention_backend = False
    _supports_cache_class = _supports_static_cache = True
    _can_compile_fullgraph = False
    # (checkpoint key of an output weight, key of the input weight it is tied to), relative to the model
    _tied_weights_keys: list[str] = []
    _keys_to_ignore_on_load_unexpected: list[str] = []
    _keys_to_ignore_on_load_missing: list[str] = []
    _keys_to_ignore_on_save: list[str] = []
    # modules whose weights stay float32 when the model is loaded in float16 (their outputs would overflow it)
    _keep_in_fp32_modules: list[str] = []
    _loading = False

    def __init__(self, config: PretrainedConfig, *args, **kwargs):
        super().__init__()
        if not isinstance(config, PretrainedConfig):
            raise TypeError(f"{type(self).__name__} needs a PretrainedConfig (e.g. {self.config_class.__name__}()), "
                            f"not {type(config).__name__}.")
        config.validate()  # (assignments since the config was built may have broken a rule between keys)
        self.config = config
        self.name_or_path = config.name_or_path
        self.gradient_checkpointing = False
        self.warnings_issued = {}
        self.generation_config = None
        if self.can_generate():  # the settings generate() starts from; a checkpoint's generation_config.json wins
            from .generation.configuration_utils import GenerationConfig

            self.generation_config = GenerationConfig.from_model_config(config)

    # construction ----------------------------------------------------------------------------------------------
    def post_init(self) -> None:
        """Initialise weights (unless a checkpoint is about to fill them) and tie the embeddings."""
        if not PreTrainedModel._loading:
            self.apply(self._init_weights)
        self.tie_weights()
        if self.supports_gradient_checkpointing and getattr(self.config, "gradient_checkpointing", False):
            # an older config.json way of asking for it; consumed here so it is not saved again
            self.gradient_checkpointing_enable()
            del self.config.gradient_checkpointing

    def _init_weights(self, module: nn.Module) -> None:
        std = getattr(self.config, "initializer_range", getattr(self.config, "init_std", 0.02))
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, LMPredictionHead):
            nn.init.zeros_(module.bias)

    def init_weights(self) -> None:
        self.apply(self._init_weights)
        self.tie_weights()

    @classmethod
    def from_config(cls, config: PretrainedConfig, torch_dtype=None, dtype=None, **kwargs):
        dtype = parse_dtype(dtype or torch_dtype)
        attn_implementation = kwargs.pop("attn_implementation", None)
        if attn_implementation is not None:
            config._attn_implementation = check_attn_implementation(attn_implementation)
        for key, value in kwargs.items():
            setattr(config, key, value)
        if isinstance(dtype, torch.dtype):
            previous = torch.get_default_dtype()
            torch.set_default_dtype(dtype)
            try:
                return cls(config)
            finally:
                torch.set_default_dtype(previous)
        return cls(config)

    @classmethod
    def _from_config(cls, config: PretrainedConfig, **kwargs):
        """The name the reference's own code uses for `from_config`."""
        return cls.from_config(config, **kwargs)

    def set_attn_implementation(self, attn_implementation: str | dict) -> None:
        """Choose how attention runs from now on ("sdpa", "eager" or "unpadded"; a dict maps sub-config names to
        them, "" for this model's own), for this model and the models inside it."""
        if isinstance(attn_implementation, dict):
            attn_implementation = attn_implementation.get("", self.config._attn_implementation)
        value = check_attn_implementation(attn_implementation)
        for module in self.modules():
            if isinstance(module, PreTrainedModel):
                module.config._attn_implementation = value

    @property
    def base_model(self) -> nn.Module:
        return getattr(self, self.base_model_prefix, self)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(p.dtype for p in self.parameters() if p.is_floating_point())

    @classmethod
    def can_generate(cls) -> bool:
        """Whether `generate()` works on this class (asked of the class or of a model)."""
        return hasattr(cls, "generate") and hasattr(cls, "prepare_inputs_for_generation")

    # embeddings and tying --------------------------------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Module:
        base = self.base_model
        if base is not self:
            return base.get_input_embeddings()
        if not self.input_embeddings_path:
            raise NotImplementedError(f"{type(self).__name__} does not define its input embeddings.")
        return self.get_submodule(self.input_embeddings_path)

    def set_input_embeddings(self, value: nn.Module) -> None:
        base = self.base_model
        if base is not self:
            return base.set_input_embeddings(value)
        if not self.input_embeddings_path:
            raise NotImplementedError(f"{type(self).__name__} does not define its input embeddings.")
        parent, _, name = self.input_embeddings_path.rpartition(".")
        setattr(self.get_submodule(parent), name, value)

    def get_output_embeddings(self) -> nn.Module | None:
        return None

    def tie_weights(self) -> None:
        output = self.get_output_embeddings()
        if output is not None and getattr(self.config, "tie_word_embeddings", True):
            output.weight = self.get_input_embeddings().weight

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        old = self.get_input_embeddings()
        if new_num_tokens is None and pad_to_multiple_of is None:
            return old
        new_num_tokens = old.num_embeddings if new_num_tokens is None else new_num_tokens
        if pad_to_multiple_of is not None:
            if not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of <= 0:
                raise ValueError(f"pad_to_multiple_of must be a positive int, not {pad_to_multiple_of!r}.")
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        new = self._resized_embedding(old, new_num_tokens, mean_resizing)
        self.set_input_embeddings(new)
        output = self.get_output_embeddings()
        if output is not None and not getattr(self.config, "tie_word_embeddings", True):
            resized = self._resized_linear(output, new_num_tokens, mean_resizing)
            self._replace_parameter(output.weight, resized.weight)
            if output.bias is not None:
                self._replace_parameter(output.bias, resized.bias)
            output.out_features = new_num_tokens
        elif output is not None:
            output.out_features = new_num_tokens
            if output.bias is not None and output.bias.shape[0] != new_num_tokens:
                self._replace_parameter(output.bias, nn.Parameter(
                    self._resized_rows(output.bias.data, new_num_tokens, False)))
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        return self.get_input_embeddings()

    def _replace_parameter(self, old: nn.Parameter, new: nn.Parameter) -> None:
        """Swap a parameter everywhere it is registered (a decoder bias is often also the head's `bias`)."""
        for module in self.modules():
            for name, param in list(module._parameters.items()):
                if param is old:
                    module._parameters[name] = new

    @staticmethod
    def _resized_rows(old: torch.Tensor, n: int, mean_resizing: bool) -> torch.Tensor:
        new = old.new_zeros((n, *old.shape[1:]))
        keep = min(n, old.shape[0])
        new[:keep] = old[:keep]
        if n > keep:
            if mean_resizing and old.dim() == 2:
                rows = old.float()
                mean = rows.mean(0)
                cov = ((rows - mean).T @ (rows - mean)) / rows.shape[0]
                covariance = 1e-5 * cov + 1e-9 * torch.eye(cov.shape[0])
                dist = torch.distributions.MultivariateNormal(mean, covariance_matrix=covariance)
                new[keep:] = dist.sample((n - keep,)).to(old.dtype)
            elif mean_resizing:
                new[keep:] = old.float().mean(0).to(old.dtype)
        return new

    def _resized_embedding(self, old: nn.Embedding, n: int, mean_resizing: bool) -> nn.Embedding:
        new = type(old)(n, old.embedding_dim, padding_idx=old.padding_idx, device=old.weight.device,
                        dtype=old.weight.dtype)
        for name in getattr(old, "kept_on_resize", ()):  # an embedding subclass's own settings (a scale, ...)
            setattr(new, name, getattr(old, name))
        if not mean_resizing:
            self._init_weights(new)
        with torch.no_grad():
            data = self._resized_rows(old.weight.data, n, mean_resizing)
            if not mean_resizing:
                data[old.num_embeddings:] = new.weight.data[old.num_embeddings:]
            new.weight.copy_(data)
        return new

    def _resized_linear(self, old: nn.Linear, n: int, mean_resizing: bool) -> nn.Linear:
        new = linear_layer(old.in_features, n, bias=old.bias is not None, device=old.weight.device,
                           dtype=old.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(self._resized_rows(old.weight.data, n, mean_resizing))
            if old.bias is not None:
                new.bias.copy_(self._resized_rows(old.bias.data, n, mean_resizing))
        return new

    # sizes -----------------------------------------------------------------------------------------------------
    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        skip = set()
        if exclude_embeddings:
            skip = {id(m.weight) for m in self.modules() if isinstance(m, nn.Embedding)}
        return sum(p.numel() for p in self.parameters()
                   if id(p) not in skip and (p.requires_grad or not only_trainable))

    def get_memory_footprint(self, return_buffers: bool = True) -> int:
        total = sum(p.numel() * p.element_size() for p in self.parameters())
        if return_buffers:
            total += sum(b.numel() * b.element_size() for b in self.buffers())
        return total

    # training helpers ------------------------------------------------------------------------------------------
    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
        if not self.supports_gradient_checkpointing:
            raise ValueError(f"{type(self).__name__} does not support gradient checkpointing.")
        kwargs = {"use_reentrant": False, **(gradient_checkpointing_kwargs or {})}
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = True
                module._checkpoint_kwargs = kwargs

    def gradient_checkpointing_disable(self) -> None:
        for module in self.modules():
            if hasattr(module, "gradient_checkpointing"):
                module.gradient_checkpointing = False

    @property
    def is_gradient_checkpointing(self) -> bool:
        return any(getattr(m, "gradient_checkpointing", False) for m in self.modules())

    def enable_input_require_grads(self) -> None:
        self.get_input_embeddings().register_forward_hook(lambda m, i, out: out.requires_grad_(True))

    # loading ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, config=None, cache_dir=None,
                        ignore_mismatched_sizes: bool = False, force_download: bool = False,
                        local_files_only: bool = False, token=None, revision: str = "main",
                        use_safetensors: bool | None = None, weights_only: bool = True, **kwargs):
        if not weights_only:
            raise ValueError("henkan loads pickle checkpoints with weights_only=True only; convert the checkpoint "
                             "to safetensors rather than unpickling arbitrary objects.")
        if torch.empty(0).device.type == "meta" and kwargs.get("device_map") is None:
            raise RuntimeError(f"{cls.__name__}.from_pretrained was called inside a meta device context (with "
                               f"torch.device('meta') or torch.set_default_device('meta')): loading wants real "
                               f"weights. For an empty model on the meta device use {cls.__name__}(config) or "
                               f"from_config(config) in that context; to load, leave it.")
        state_dict = kwargs.pop("state_dict", None)
        if pretrained_model_name_or_path is None and (config is None or state_dict is None):
            raise ValueError(f"{cls.__name__}.from_pretrained(None, ...) needs both config= (a config object) and "
                             f"state_dict= (the weights); otherwise pass a folder or Hub id.")
        dtype = parse_dtype(kwargs.pop("dtype", None) or kwargs.pop("torch_dtype", None))
        kwargs.pop("torch_dtype", None)
        device_map = kwargs.pop("device_map", None)
        kwargs.pop("low_cpu_mem_usage", None)  # always low: parameters are never allocated twice
        output_loading_info = kwargs.pop("output_loading_info", False)
        attn_implementation = kwargs.pop("attn_implementation", None)
        kwargs.pop("trust_remote_code", None)
        quantization = {k: kwargs.pop(k, None) for k in ("quantization_config", "load_in_8bit", "load_in_4bit")}
        hub = {"cache_dir": cache_dir, "force_download": force_download, "local_files_only": local_files_only,
               "token": token, "revision": revision, **pop_hub_kwargs(kwargs)}
        base = adapter_base(pretrained_model_name_or_path, hub) if config is None else None
        if base is not None:  # an adapter folder: its base model, then the adapter
            model = cls.from_pretrained(base, *model_args, dtype=dtype, device_map=device_map,
                                        attn_implementation=attn_implementation, weights_only=weights_only,
                                        use_safetensors=use_safetensors, **{k: v for k, v in quantization.items()
                                                                            if v is not None}, **kwargs)
            model.load_adapter(pretrained_model_name_or_path, adapter_kwargs=hub)
            return (model, {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": [], "error_msgs": []}) \
                if output_loading_info else model
        if config is None:
            config, kwargs = cls.config_class.from_pretrained(
                pretrained_model_name_or_path, return_unused_kwargs=True, **hub, **kwargs)
        elif not isinstance(config, PretrainedConfig):
            config, kwargs = cls.config_class.from_pretrained(config, return_unused_kwargs=True, **hub, **kwargs)
        if kwargs or model_args:
            names = ", ".join(sorted(kwargs)) or f"{len(model_args)} positional argument(s)"
            raise TypeError(f"{cls.__name__}.from_pretrained got unexpected argument(s): {names}. They are neither "
                            f"loading options nor attributes of {type(config).__name__}.")
        if attn_implementation is not None:
            config._attn_implementation = check_attn_implementation(attn_implementation)
        if pretrained_model_name_or_path is not None:
            config.name_or_path = str(pretrained_model_name_or_path)

        if state_dict is not None:
            state = _CheckpointReader.from_state_dict(state_dict)
        else:
            files, index = _find_weights(pretrained_model_name_or_path, hub, use_safetensors)
            state = _CheckpointReader(files, index)
        quantizer = _quantizer(config, dtype, **quantization)
        if dtype == "auto":
            dtype = parse_dtype(config.dtype) if config.dtype is not None else state.first_float_dtype()
        dtype = dtype or torch.float32

        with _skeleton():
            model = cls(config)
            if quantizer is not None:
                quantizer.replace(model, state.keys())
                state.copy = True  # a map of the whole file would keep its float pages resident
        info = model._load_checkpoint(state, dtype, ignore_mismatched_sizes, quantizer)
        if quantizer is not None:
            quantizer.finish(model)
        config.dtype = str(dtype).removeprefix("torch.")
        if model.can_generate() and pretrained_model_name_or_path is not None:
            model._load_generation_config(pretrained_model_name_or_path, hub)
        model.eval()
        if device_map is not None:
            model._dispatch(device_map)
        return (model, info) if output_loading_info else model

    def _load_generation_config(self, name_or_path, hub: dict) -> None:
        from .generation.configuration_utils import GENERATION_CONFIG_NAME, GenerationConfig

        try:
            path = resolve_file(name_or_path, GENERATION_CONFIG_NAME, required=False, **hub)
        except OSError:
            path = None
        if path is None:
            logger.info("No generation_config.json for %s: using the generation settings of its config.",
                        name_or_path)
            return
        try:
            self.generation_config = GenerationConfig.from_pretrained(os.path.dirname(path))
        except (OSError, TypeError, ValueError) as e:
            logger.warning("Could not read %s (%s); using the generation settings of the model config instead.",
                           path, e)

    def _checkpoint_key_candidates(self, key: str) -> list[str]:
        """Names a checkpoint key may have in this model: itself, the legacy spelling fixed, the prefix added/removed."""
        for old, new in _LEGACY_SUFFIXES:
            if key.endswith(old) and "norm" in key.lower():
                key = key[: -len(old)] + new
        for old, new in _WEIGHT_NORM_SUFFIXES:
            if key.endswith(old):
                key = key[: -len(old)] + new
        prefix = self.base_model_prefix + "."
        out = [key]
        if self.base_model_prefix and self.base_model is not self:
            out.append(prefix + key)
        elif self.base_model_prefix and key.startswith(prefix):
            out.append(key[len(prefix):])
        return out

    def _load_checkpoint(self, state: "_CheckpointReader", dtype: torch.dtype, ignore_mismatched: bool,
                         quantizer=None) -> dict:
        expected = dict(self.state_dict(keep_vars=True))
        shared: dict[int, list[str]] = {}  # one parameter reachable under several names (a shared bias, ...)
        for key, value in expected.items():
            shared.setdefault(id(value), []).append(key)
        tied = {k for k in self._tied_weights_keys if getattr(self.config, "tie_word_embeddings", True)}
        loaded, unexpected, mismatched = {}, [], []
        for ckpt_key in state.keys():
            taken = quantizer.take(self, ckpt_key, state) if quantizer is not None else None
            if taken is not None:
                loaded.update(taken)
                continue
            target = next((k for k in self._checkpoint_key_candidates(ckpt_key) if k in expected), None)
            if target is None or target in loaded:
                unexpected.append(ckpt_key)
                continue
            shape = state.shape(ckpt_key)
            want = tuple(expected[target].shape)
            if shape != want:
                mismatched.append((ckpt_key, shape, want))
                continue
            tensor = state.get(ckpt_key)
            if tensor.is_floating_point():
                tensor = tensor.to(self._load_dtype(target, dtype))
            loaded[target] = tensor
        if quantizer is not None:
            loaded.update(quantizer.flush(state))
        if mismatched and not ignore_mismatched:
            lines = "\n".join(f"  {k}: checkpoint {list(s)}, model {list(w)}" for k, s, w in mismatched)
            raise RuntimeError(
                f"Error(s) in loading weights for {type(self).__name__} from {state.describe()}: some shapes do "
                f"not match the model built from its config:\n{lines}\nCheck that config.json belongs to these "
                f"weights, or pass ignore_mismatched_sizes=True to initialise those weights anew (e.g. a new "
                f"classifier with another num_labels).")
        for names in shared.values():
            source = next((k for k in names if k in loaded), None)
            for other in names if source is not None else ():
                loaded.setdefault(other, loaded[source])
        missing = [k for k in expected if k not in loaded and k not in tied]
        self._assign(loaded, missing, dtype)
        self._reshare(shared)
        self.tie_weights()
        ignored_missing = [k for k in missing if any(re.search(p, k) for p in self._keys_to_ignore_on_load_missing)]
        missing = [k for k in missing if k not in ignored_missing]
        unexpected = [k for k in unexpected if not any(
            re.search(p, k) for p in (*self._keys_to_ignore_on_load_unexpected, *_STORED_BUFFERS))]
        self._report(state, missing, unexpected, mismatched)
        return {"missing_keys": missing, "unexpected_keys": unexpected,
                "mismatched_keys": [(k, s, w) for k, s, w in mismatched], "error_msgs": []}

    def _load_dtype(self, name: str, dtype: torch.dtype) -> torch.dtype:
        """The dtype a floating-point tensor is loaded in: `dtype`, but float32 in the modules named by
        `_keep_in_fp32_modules` when `dtype` is float16 (as the reference loads them)."""
        if dtype is torch.float16 and self._keep_in_fp32_modules and \
                not set(name.split(".")).isdisjoint(self._keep_in_fp32_modules):
            return torch.float32
        return dtype

    def _assign(self, loaded: dict, missing: list[str], dtype: torch.dtype) -> None:
        """Put loaded tensors in place and materialise (then initialise) what the checkpoint lacked."""
        fresh_modules = set()
        for name in missing:
            module_name, _, attr = name.rpartition(".")
            module = self.get_submodule(module_name)
            current = getattr(module, attr)
            if current.device.type == "meta":
                fill = torch.empty(current.shape, dtype=self._load_dtype(name, dtype) if current.is_floating_point()
                                   else current.dtype)
                loaded[name] = fill
                fresh_modules.add(module_name)
        self.load_state_dict(loaded, strict=False, assign=True)
        for module_name in fresh_modules:
            self._init_weights(self.get_submodule(module_name))
        for module in self.modules():  # buffers that are computed, not stored (rotary frequencies, ...)
            if any(b.is_meta for b in module.buffers(recurse=False)):
                module.materialize_buffers()

    def _reshare(self, shared: dict[int, list[str]]) -> None:
        """Assigning tensors breaks parameter sharing; make each group of names point at one parameter again."""
        for names in shared.values():
            if len(names) < 2:
                continue
            first_module, _, first_attr = names[0].rpartition(".")
            param = getattr(self.get_submodule(first_module), first_attr)
            for name in names[1:]:
                module_name, _, attr = name.rpartition(".")
                setattr(self.get_submodule(module_name), attr, param)

    def _report(self, state, missing, unexpected, mismatched) -> None:
        name = type(self).__name__
        if unexpected:
            logger.warning("Some weights of the checkpoint at %s were not used when initializing %s: %s\n- This is "
                           "expected when the checkpoint was trained for another task or with another architecture "
                           "(e.g. a pretraining checkpoint loaded for classification).", state.describe(), name,
                           unexpected)
        if missing:
            logger.warning("Some weights of %s were not initialized from the checkpoint at %s and are newly "
                           "initialized: %s\nYou should probably TRAIN this model on a down-stream task to be able "
                           "to use it for predictions and inference.", name, state.describe(), missing)
        if mismatched:
            lines = "\n".join(f"- {k}: found shape {list(s)} in the checkpoint and {list(w)} in the model"
                              for k, s, w in mismatched)
            logger.warning("Some weights of %s were not initialized from the checkpoint at %s and are newly "
                           "initialized because the shapes did not match:\n%s\nYou should probably TRAIN this model "
                           "on a down-stream task to be able to use it for predictions and inference.", name,
                           state.describe(), lines)

    def _dispatch(self, device_map) -> None:
        if isinstance(device_map, (str, torch.device, int)):
            device = _auto_device() if device_map == "auto" else device_map
            self.to(device)
            self.hf_device_map = {"": str(device)}
            return
        if not isinstance(device_map, dict):
            raise ValueError(f"device_map must be \"auto\", a device or a dict of module name -> device, not "
                             f"{device_map!r}.")
        for name, module in self.named_modules():
            if name in device_map or (name == "" and "" in device_map):
                module.to(device_map[name])
        self.hf_device_map = dict(device_map)

    # saving ----------------------------------------------------------------------------------------------------
    def save_pretrained(self, save_directory, is_main_process: bool = True, state_dict: dict | None = None,
                        push_to_hub: bool = False, max_shard_size="5GB", safe_serialization: bool = True,
                        variant: str | None = None, **kwargs) -> None:
        """Write config.json and the weights (safetensors, sharded above `max_shard_size`), each file atomically."""
        if os.path.isfile(save_directory):
            raise OSError(f"save_directory ({save_directory}) is a file; pass a folder path.")
        upload = pop_upload_kwargs(kwargs) if push_to_hub else None
        if not safe_serialization:
            raise ValueError("henkan writes safetensors only (safe_serialization=True); pickle checkpoints can run "
                             "code when loaded.")
        unknown = set(kwargs) - {"save_function", "token", "save_peft_format"}
        if unknown:
            raise TypeError(f"save_pretrained got unexpected argument(s): {', '.join(sorted(unknown))}.")
        if not is_main_process:
            return
        if self._hf_peft_config_loaded and kwargs.get("save_peft_format", True):
            save_adapter(self, save_directory)  # as PEFT does: the adapter only; the base model is saved elsewhere
            if upload is not None:
                upload.setdefault("commit_message", "Upload adapter")
                upload_folder(save_directory, **upload)
            return
        os.makedirs(save_directory, exist_ok=True)
        remove_stale_temporaries(save_directory)
        tensors = self._state_for_saving(state_dict)
        shards = _shard(tensors, parse_size(max_shard_size))
        stem = SAFE_WEIGHTS if variant is None else SAFE_WEIGHTS.replace(".safetensors", f".{variant}.safetensors")
        names = [stem] if len(shards) == 1 else [
            stem.replace(".safetensors", f"-{i + 1:05d}-of-{len(shards):05d}.safetensors") for i in range(len(shards))]
        _save_weights(save_directory, stem, names, shards)
        _remove_stale_weights(save_directory, stem, keep=set(names) | ({stem + ".index.json"}
                                                                       if len(shards) > 1 else set()))
        config = self.config
        config.architectures = [type(self).__name__]
        config.dtype = str(self.dtype).removeprefix("torch.")  # (the reference records it on every save)
        generation_config = getattr(self, "generation_config", None) if self.can_generate() else None
        if generation_config is not None:
            misplaced = config.misplaced_generation_settings()
            if misplaced:
                warnings.warn(f"Generation settings set on the model config move to the generation config on save: "
                              f"{misplaced}. Set them on model.generation_config (or pass them to generate()).",
                              UserWarning, stacklevel=2)
                for key, value in misplaced.items():
                    setattr(generation_config, key, value)
                    setattr(config, key, None)
        config.save_pretrained(save_directory)
        if generation_config is not None:
            generation_config.save_pretrained(save_directory)
        if upload is not None:
            upload.setdefault("commit_message", "Upload model")
            upload_folder(save_directory, **upload)

    def _save_for_upload(self, folder: str, **options) -> None:
        self.save_pretrained(folder, **options)

    def _state_for_saving(self, state_dict: dict | None) -> dict:
        state = self.state_dict() if state_dict is None else state_dict
        seen, out = {}, {}
        for key, tensor in state.items():
            if any(re.search(pattern, key) for pattern in self._keys_to_ignore_on_save):
                continue  # recomputed at load (fixed tables): the reference leaves them out too
            ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
            if ident in seen and tensor.numel():
                continue  # a tied copy: the reference drops it too and ties it again at load
            seen[ident] = key
            out[key] = tensor.detach().to("cpu").contiguous()
        return out


def _quantizer(config, dtype, quantization_config=None, load_in_8bit=None, load_in_4bit=None):
    """The Quantizer of a from_pretrained call (its arguments, else config.json's quantization_config), or None.
    float32 asked for explicitly (`dtype=torch.float32`) makes the low-bit layers compute exact float32 products
    rather than run the bfloat16 kernels."""
    stored = getattr(config, "quantization_config", None)
    if quantization_config is None and stored is None and not (load_in_8bit or load_in_4bit):
        return None
    from .quantization import Quantizer, resolve

    scheme = resolve(quantization_config, bool(load_in_8bit), bool(load_in_4bit), stored)
    if scheme is None:
        return None
    if scheme.compute_dtype is None and dtype is torch.float32:
        scheme.compute_dtype = torch.float32
    return Quantizer(scheme)


def _auto_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _shard(tensors: dict, limit: int) -> list[dict]:
    shards, current, size = [], {}, 0
    for key, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if current and size + nbytes > limit:
            shards.append(current)
            current, size = {}, 0
        current[key] = tensor
        size += nbytes
    shards.append(current)
    return shards


def _save_weights(folder: str, stem: str, names: list[str], shards: list[dict]) -> None:
    """Write the weight files so that the folder changes as a whole.

    Every file is written under a temporary name first, then they are renamed into place, the index last: a kill
    while writing leaves the old checkpoint untouched, and the index switches a checkpoint whose shard count changed
    in one step. Only a kill among the renames of same-named shards can leave files of two saves side by side;
    every file carries the id of its save (safetensors metadata, and the index's), so loading that folder fails
    naming the file instead of mixing weights.
    """
    from safetensors.torch import save_file

    save_id = uuid.uuid4().hex
    paths = [os.path.join(folder, name) for name in names]
    if len(shards) > 1:
        paths.append(os.path.join(folder, stem + ".index.json"))
    with atomic_paths(paths) as tmps:
        for shard, tmp in zip(shards, tmps):
            save_file(shard, tmp, metadata={"format": "pt", SAVE_ID: save_id})
        if len(shards) > 1:
            size = sum(t.numel() * t.element_size() for shard in shards for t in shard.values())
            index = {"metadata": {"total_size": size, SAVE_ID: save_id},
                     "weight_map": {k: n for n, shard in zip(names, shards) for k in sorted(shard)}}
            with open(tmps[-1], "w", encoding="utf-8") as f:
                f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


def _remove_stale_weights(folder: str, stem: str, keep: set[str]) -> None:
    """After a save, drop weight files of an earlier save (other shard counts) so they cannot be mixed in."""
    base = stem.removesuffix(".safetensors")
    pattern = re.compile(re.escape(base) + r"(-\d{5}-of-\d{5})?\.safetensors(\.index\.json)?$")
    for name in os.listdir(folder):
        if pattern.fullmatch(name) and name not in keep:
            os.unlink(os.path.join(folder, name))


def _find_weights(name_or_path, hub: dict, use_safetensors: bool | None) -> tuple[list[str], dict | None]:
    """The weight files of a checkpoint, safetensors first, and the index naming them (path and contents) if any."""
    choices = [(SAFE_WEIGHTS, False), (SAFE_INDEX, True)]
    if use_safetensors is not True:
        choices += [(PT_WEIGHTS, False), (PT_INDEX, True)]
    for filename, is_index in choices:
        path = resolve_file(name_or_path, filename, required=False, **hub)
        if path is None:
            continue
        if not is_index:
            return [path], None
        index = read_json(path)
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict):
            raise OSError(f"{path} is not a valid weight index (no \"weight_map\" object). Re-save or re-download "
                          f"the checkpoint.")
        files = [resolve_file(name_or_path, shard, **hub) for shard in dict.fromkeys(weight_map.values())]
        return files, {"path": path, **index}
    looked = ", ".join(name for name, _ in choices)
    raise OSError(f"No weights found for '{name_or_path}': looked for {looked}. A folder written by "
                  f"save_pretrained() has them; TensorFlow/Flax-only checkpoints must be converted to PyTorch first.")


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64,
    "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}


class _MappedSafetensors:
    """Tensors of a safetensors file as views of one private memory map: nothing is read or copied until used.

    `safe_open` validates the file and gives the layout; the map is copy-on-write, so training writes to the
    parameters never reach the file. A tensor whose offset does not suit its dtype's alignment is copied."""

    def __init__(self, path: str, handle):
        self.handle, self.path = handle, path
        with open(path, "rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            self.layout = json.loads(f.read(header_len))
        self.layout.pop("__metadata__", None)
        self.start = 8 + header_len
        self._storage = None

    @property
    def storage(self) -> torch.UntypedStorage:
        if self._storage is None:  # made on first use: a reader that only read()s never maps the file
            self._storage = torch.UntypedStorage.from_file(self.path, shared=False, nbytes=os.path.getsize(self.path))
        return self._storage

    def keys(self):
        return self.handle.keys()

    def get_slice(self, key: str):
        return self.handle.get_slice(key)

    def get_tensor(self, key: str) -> torch.Tensor:
        info = self.layout[key]
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        begin = self.start + info["data_offsets"][0]
        if dtype is None or begin % dtype.itemsize:
            return self.handle.get_tensor(key)
        shape = info["shape"]
        strides = [math.prod(shape[i + 1:]) for i in range(len(shape))]
        return torch.empty(0, dtype=dtype).set_(self.storage, begin // dtype.itemsize, shape, strides)


    def read(self, key: str) -> torch.Tensor:
        info = self.layout[key]
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            return self.handle.get_tensor(key)
        begin, end = info["data_offsets"]
        out = torch.empty(info["shape"], dtype=dtype)
        with open(self.path, "rb") as f:
            f.seek(self.start + begin)
            f.readinto(memoryview(out.view(torch.uint8).reshape(-1).numpy()) if out.numel() else bytearray())
        return out


class _CheckpointReader:
    """Read tensors from safetensors files (memory-mapped) or pickle files (weights_only=True), with clear errors."""

    copy = False  # get() reads into memory of its own rather than mapping the files (quantized loading)

    def __init__(self, files: list[str], index: dict | None = None):
        self.files = files
        self._where: dict[str, object] = {}
        saves = {}  # safetensors file -> id of the save that wrote it (None: not written by henkan)
        for path in files:
            if path.endswith(".safetensors"):
                handle = self._open_safetensors(path)
                saves[path] = (handle.handle.metadata() or {}).get(SAVE_ID)
            else:
                handle = self._load_pickle(path)
            for key in handle.keys():
                self._where[key] = handle
        if index is not None:
            self._check_one_save(saves, index)

    @staticmethod
    def _check_one_save(saves: dict, index: dict) -> None:
        """Shards written by different saves (a save killed while renaming its files) must not be mixed."""
        metadata = index.get("metadata")
        expected = metadata.get(SAVE_ID) if isinstance(metadata, dict) else None
        if expected is None:
            if len(set(saves.values())) < 2:
                return
            expected = saves[next(iter(saves))]
        odd = [path for path, save in saves.items() if save != expected]
        if odd:
            raise OSError(
                f"The checkpoint in {os.path.dirname(index['path'])} mixes files of two saves: {odd[0]} was not "
                f"written by the save that wrote {os.path.basename(index['path'])} (a save_pretrained() killed "
                "while replacing its files?). Loading it would mix old and new weights: save the model there again, "
                "or restore the folder from a copy."
            )

    @classmethod
    def from_state_dict(cls, state: dict) -> "_CheckpointReader":
        """A reader over tensors in memory (`from_pretrained(..., state_dict=...)`)."""
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise TypeError("state_dict should be a dict of tensor names to tensors (e.g. model.state_dict()).")
        reader = cls([])
        handle = _DictHandle(state)
        reader._where = dict.fromkeys(state, handle)
        return reader

    def describe(self) -> str:
        if not self.files:
            return "the given state_dict"
        folder = os.path.dirname(self.files[0])
        return folder if len(self.files) > 1 else self.files[0]

    @staticmethod
    def _open_safetensors(path: str):
        from safetensors import SafetensorError, safe_open

        try:
            return _MappedSafetensors(path, safe_open(path, framework="pt"))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise OSError(f"Cannot read {path}: {e}. The file is truncated or corrupt (an interrupted download or "
                          f"copy?); download it again (force_download=True) or re-save it.") from e

    @staticmethod
    def _load_pickle(path: str):
        """A state dict from a `torch.save` file, memory-mapped; the legacy (pre-1.6, non-zip) format cannot be
        mapped and is read whole, through the same restricted unpickler."""
        try:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as e:
                if "mmap can only be used" not in str(e):
                    raise
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises many kinds; all mean the same to the user
            if "weights_only" in str(e) or "Unsupported global" in str(e):
                raise OSError(f"Refusing to load {path}: it holds Python objects besides tensors, which could run "
                              f"code when unpickled. Re-save it as safetensors with a trusted tool.") from e
            raise OSError(f"Cannot read {path}: {e}. The file is truncated or corrupt; download it again "
                          f"(force_download=True).") from e
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise OSError(f"{path} does not hold a state dict of tensors; it cannot be loaded as weights.")
        return _DictHandle(state)

    def keys(self):
        return list(self._where)

    def shape(self, key: str) -> tuple:
        handle = self._where[key]
        if isinstance(handle, _DictHandle):
            return tuple(handle.state[key].shape)
        return tuple(handle.get_slice(key).get_shape())

    def get(self, key: str) -> torch.Tensor:
        return self.read(key) if self.copy else self._where[key].get_tensor(key)

    def read(self, key: str) -> torch.Tensor:
        """A tensor copied into memory of its own (not a view of the file's map, whose pages would stay resident)."""
        handle = self._where[key]
        return handle.read(key) if isinstance(handle, _MappedSafetensors) else handle.get_tensor(key).clone()

    def is_float(self, key: str) -> bool:
        handle = self._where[key]
        if isinstance(handle, _MappedSafetensors):
            return handle.layout[key]["dtype"] in ("F64", "F32", "F16", "BF16")
        return handle.get_tensor(key).is_floating_point()

    def first_float_dtype(self) -> torch.dtype:
        for key in self._where:
            tensor = self.get(key)
            if tensor.is_floating_point():
                return tensor.dtype
        return torch.float32


class _DictHandle:
    def __init__(self, state: dict):
        self.state = state

    def keys(self):
        return self.state.keys()

    def get_tensor(self, key: str) -> torch.Tensor:
        return self.state[key]
