"""Quantization configs as users write them (`BitsAndBytesConfig`, `GPTQConfig`, `TorchAoConfig`, `AwqConfig`), and
their translation into the one scheme henkan runs: weight-only int8 (a scale per output channel) or int4 (a scale
and an offset per group of input columns) on PyTorch's CPU kernels.

`Scheme` is that translation. A folder saved from a quantized model carries `{"quant_method": "henkan", ...}` in
its config.json; GPTQ folders keep their own `quant_method: gptq` and are read in GPTQ's packed layout.
"""

from __future__ import annotations

import dataclasses

import torch

from ..logging import get_logger

logger = get_logger(__name__)

GROUP_SIZES = (32, 64, 128, 256)  # what PyTorch's CPU int4 kernel takes
NAMED_DATASETS = ("wikitext2", "c4", "c4-new")  # GPTQ's calibration datasets, as the reference names them


def _dtype(value, name: str):
    from ..modeling import parse_dtype

    try:
        return parse_dtype(value)
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None


class QuantizationConfigMixin:
    """Shared behaviour of the quantization configs: plain data, dict round trip, unknown keys kept."""

    quant_method = ""

    def __init__(self, **kwargs):
        for key, value in kwargs.items():
            setattr(self, key, value)

    @classmethod
    def from_dict(cls, config: dict, return_unused_kwargs: bool = False, **kwargs):
        config = cls(**{**config, **kwargs})
        return (config, {}) if return_unused_kwargs else config

    def to_dict(self) -> dict:
        out = {"quant_method": self.quant_method}
        for key, value in vars(self).items():
            if key.startswith("_"):
                continue
            out[key] = str(value).removeprefix("torch.") if isinstance(value, torch.dtype) else value
        return out

    def to_json_string(self, use_diff: bool = True) -> str:
        import json

        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()


class BitsAndBytesConfig(QuantizationConfigMixin):
    """bitsandbytes' settings, accepted as written. Without a bitsandbytes CPU backend henkan runs them as its own
    weight-only int8 / int4 (group of `bnb_4bit_blocksize`, 64 by default) and says so once. henkan's own option
    `keep_sensitive_in_8bit` (False by default) is `Scheme.sensitive_8bit`."""

    quant_method = "bitsandbytes"

    def __init__(self, load_in_8bit: bool = False, load_in_4bit: bool = False, llm_int8_threshold: float = 6.0,
                 llm_int8_skip_modules=None, llm_int8_enable_fp32_cpu_offload: bool = False,
                 llm_int8_has_fp16_weight: bool = False, bnb_4bit_compute_dtype=None, bnb_4bit_quant_type: str = "fp4",
                 bnb_4bit_use_double_quant: bool = False, bnb_4bit_quant_storage=None, **kwargs):
        if load_in_8bit and load_in_4bit:
            raise ValueError("load_in_8bit and load_in_4bit are both True; choose one (8-bit keeps more accuracy, "
                             "4-bit uses half the memory).")
        if bnb_4bit_quant_type not in ("fp4", "nf4"):
            raise ValueError(f"bnb_4bit_quant_type must be \"fp4\" or \"nf4\", not {bnb_4bit_quant_type!r}.")
        if llm_int8_skip_modules is not None and (isinstance(llm_int8_skip_modules, str) or not all(
                isinstance(m, str) for m in llm_int8_skip_modules)):
            raise ValueError(f"llm_int8_skip_modules must be a list of module names, e.g. [\"lm_head\"], not "
                             f"{llm_int8_skip_modules!r}.")
        self.load_in_8bit, self.load_in_4bit = bool(load_in_8bit), bool(load_in_4bit)
        self.llm_int8_threshold = llm_int8_threshold
        self.llm_int8_skip_modules = list(llm_int8_skip_modules) if llm_int8_skip_modules is not None else None
        self.llm_int8_enable_fp32_cpu_offload = llm_int8_enable_fp32_cpu_offload
        self.llm_int8_has_fp16_weight = llm_int8_has_fp16_weight
        self.bnb_4bit_compute_dtype = _dtype(bnb_4bit_compute_dtype, "bnb_4bit_compute_dtype")
        self.bnb_4bit_quant_type = bnb_4bit_quant_type
        self.bnb_4bit_use_double_quant = bnb_4bit_use_double_quant
        self.bnb_4bit_quant_storage = bnb_4bit_quant_storage
        super().__init__(**kwargs)

    def scheme(self) -> Scheme:
        bits = 4 if self.load_in_4bit else 8  # only llm_int8_* settings (as a seed sample writes it): LLM.int8()
        group = getattr(self, "bnb_4bit_blocksize", 64) if bits == 4 else None
        logger.warning_once(f"No bitsandbytes backend on this machine: load_in_{bits}bit runs as henkan's weight-only "
                            f"int{bits}" + (f" (groups of {group}, not {self.bnb_4bit_quant_type})" if bits == 4
                                            else "") + " on PyTorch's CPU kernels.")
        return Scheme(bits, group, skip=tuple(self.llm_int8_skip_modules or ()),
                      compute_dtype=self.bnb_4bit_compute_dtype if bits == 4 else None,
                      sensitive_8bit=bits == 4 and getattr(self, "keep_sensitive_in_8bit", False))


class TorchAoConfig(QuantizationConfigMixin):
    """torchao's `quant_type` names that henkan runs: int8_weight_only and int4_weight_only (`group_size`, and
    henkan's `keep_sensitive_in_8bit`, see `Scheme`)."""

    quant_method = "torchao"
    _TYPES = {"int8_weight_only": 8, "int4_weight_only": 4, "Int8WeightOnlyConfig": 8, "Int4WeightOnlyConfig": 4}

    def __init__(self, quant_type="int8_weight_only", modules_to_not_convert=None, **kwargs):
        self.quant_type = quant_type
        self.modules_to_not_convert = modules_to_not_convert
        self.quant_type_kwargs = kwargs.pop("quant_type_kwargs", None) or dict(kwargs)
        if self.bits is None:
            raise ValueError(f"TorchAoConfig quant_type {quant_type!r} is not one henkan runs; use one of "
                             f"{sorted(self._TYPES)[:2] + ['int4_weight_only']}.")

    @property
    def bits(self):
        name = self.quant_type if isinstance(self.quant_type, str) else type(self.quant_type).__name__
        return self._TYPES.get(name)

    def scheme(self) -> Scheme:
        group = self.quant_type_kwargs.get("group_size", 128) if self.bits == 4 else None
        return Scheme(self.bits, group, skip=tuple(self.modules_to_not_convert or ()),
                      sensitive_8bit=self.bits == 4 and self.quant_type_kwargs.get("keep_sensitive_in_8bit", False))


class GPTQConfig(QuantizationConfigMixin):
    """GPTQ settings: a GPTQ checkpoint's (its config.json's `quantization_config`), loaded onto henkan's int4
    layers; or, with `dataset` (a list of texts) and `tokenizer` passed to from_pretrained, a request to quantize a
    float model with the GPTQ algorithm as it loads (gptq.py: `group_size`, `desc_act`, `sym`, `damp_percent`,
    `true_sequential`, `model_seqlen`, `batch_size`, `pad_token_id`, `block_name_to_quantize`,
    `modules_to_not_convert`). Calibration keeps the float model in memory while it runs, as the reference does, and
    costs a few forward passes of the texts per block. Only 4 bits run on henkan's kernel."""

    quant_method = "gptq"

    def __init__(self, bits: int = 4, tokenizer=None, dataset=None, group_size: int = 128, damp_percent: float = 0.1,
                 desc_act: bool = False, sym: bool = True, true_sequential: bool = True,
                 checkpoint_format: str = "gptq", model_seqlen: int | None = None, block_name_to_quantize=None,
                 batch_size: int = 1, pad_token_id: int | None = None, modules_to_not_convert=None, **kwargs):
        if dataset is not None and not (dataset in NAMED_DATASETS or isinstance(dataset, (list, tuple)) and all(
                isinstance(text, str) for text in dataset)):
            raise ValueError(f"GPTQConfig dataset must be a list of calibration texts or one of {NAMED_DATASETS}, "
                             f"not {dataset!r}.")
        if not 0 < damp_percent < 1:
            raise ValueError(f"GPTQConfig damp_percent must be between 0 and 1, not {damp_percent!r}.")
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise ValueError(f"GPTQConfig batch_size must be a positive integer, not {batch_size!r}.")
        self.bits, self.tokenizer, self.dataset, self.group_size = bits, tokenizer, dataset, group_size
        self.damp_percent, self.desc_act, self.sym, self.true_sequential = damp_percent, desc_act, sym, true_sequential
        self.checkpoint_format = checkpoint_format
        self.model_seqlen, self.block_name_to_quantize = model_seqlen, block_name_to_quantize
        self.batch_size, self.pad_token_id = batch_size, pad_token_id
        self.modules_to_not_convert = modules_to_not_convert
        super().__init__(**kwargs)

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["tokenizer"] = None  # as the reference records it: an object (or a local path) means nothing elsewhere
        return out

    def scheme(self) -> Scheme:
        if self.bits != 4:
            raise ValueError(f"This GPTQ checkpoint has bits={self.bits}; henkan loads 4-bit GPTQ checkpoints only.")
        if self.checkpoint_format not in ("gptq", "gptq_v2"):
            raise ValueError(f"GPTQ checkpoint_format {self.checkpoint_format!r} is not one henkan reads "
                             f"(\"gptq\", \"gptq_v2\").")
        return Scheme(4, self.group_size, skip=tuple(self.modules_to_not_convert or ()), packed=self.checkpoint_format)

    def calibration_scheme(self) -> Scheme:
        """The scheme of quantizing a float model with GPTQ at load; the arguments checked before anything loads."""
        if self.bits != 4:
            raise ValueError(f"GPTQConfig(bits={self.bits}): henkan's kernel runs 4-bit weights; pass bits=4.")
        if self.tokenizer is None:
            raise ValueError("GPTQConfig has a calibration dataset but no tokenizer to read it; pass "
                             "GPTQConfig(..., tokenizer=AutoTokenizer.from_pretrained(model_id)).")
        if isinstance(self.dataset, str):
            from .gptq import check_named_dataset

            check_named_dataset(self.dataset)
        if self.checkpoint_format != "gptq":
            raise ValueError(f"GPTQ calibration writes checkpoint_format \"gptq\", not "
                             f"{self.checkpoint_format!r}.")
        return Scheme(4, self.group_size, skip=tuple(self.modules_to_not_convert or ()), calibration=self)


class AwqConfig(QuantizationConfigMixin):
    """An AWQ checkpoint's settings (its config.json's `quantization_config`): 4-bit weights in groups with zero
    points, in the GEMM layout (`version="gemm"`, AutoAWQ's default), loaded onto henkan's int4 layers. The other
    layouts (GEMV, Marlin, ...) and AWQ's own search (which needs calibration data) are not henkan's."""

    quant_method = "awq"

    def __init__(self, bits: int = 4, group_size: int = 128, zero_point: bool = True, version: str = "gemm",
                 backend: str = "autoawq", modules_to_not_convert=None, **kwargs):
        self.bits, self.group_size, self.zero_point = bits, group_size, zero_point
        self.version, self.backend = version, backend
        self.modules_to_not_convert = modules_to_not_convert
        super().__init__(**kwargs)

    def scheme(self) -> Scheme:
        if self.bits != 4:
            raise ValueError(f"This AWQ checkpoint has bits={self.bits}; henkan loads 4-bit AWQ checkpoints only.")
        if str(self.version).lower() != "gemm" or not self.zero_point:
            raise ValueError(f"This AWQ checkpoint is in the {self.version!r} layout with zero_point="
                             f"{self.zero_point}; henkan reads AWQ's GEMM layout with zero points (version \"gemm\", "
                             f"zero_point true), the one AutoAWQ writes by default.")
        return Scheme(4, self.group_size, skip=tuple(self.modules_to_not_convert or ()), packed="awq")


class HenkanQuantConfig(QuantizationConfigMixin):
    """What a quantized henkan model records in its config.json: `bits`, `group_size`, `modules_to_not_convert`,
    `keep_sensitive_in_8bit` (which layers are int8 in a 4-bit folder is read from its tensors)."""

    quant_method = "henkan"

    def __init__(self, bits: int = 8, group_size=None, modules_to_not_convert=None, keep_sensitive_in_8bit=False,
                 **kwargs):
        self.bits, self.group_size = bits, group_size
        self.modules_to_not_convert = modules_to_not_convert
        self.keep_sensitive_in_8bit = keep_sensitive_in_8bit
        super().__init__(**kwargs)

    def scheme(self) -> Scheme:
        return Scheme(self.bits, self.group_size, skip=tuple(self.modules_to_not_convert or ()), saved=True)


_METHODS = {cls.quant_method: cls for cls in (BitsAndBytesConfig, TorchAoConfig, GPTQConfig, AwqConfig,
                                              HenkanQuantConfig)}


@dataclasses.dataclass
class Scheme:
    """The quantization henkan runs: `bits` 8 (per output channel) or 4 (per `group_size` input columns); module
    names kept in full precision; the compute dtype (None: the kernels' bfloat16, float32: exact dequantized
    products); `packed` names a packed 4-bit checkpoint layout to read (GPTQ's "gptq" / "gptq_v2", or "awq"), `saved`
    a folder already in henkan's layout, `calibration` the GPTQConfig of a float model to quantize with GPTQ once
    loaded.

    `sensitive_8bit` (4 bits, on request) keeps in int8 the layers where a 4-bit error costs the most accuracy, as
    the mixed low-bit schemes of this field do: the output layer, the attention value and output projections, and
    the first and last blocks of each layer stack. On the random 125M Llama shape it lifts the logits' cosine to
    float32 from 0.94 to 0.99, for about a quarter more bytes and a slower decode step (int8 runs as two 4-bit
    planes), hence not the default."""

    bits: int
    group_size: int | None = None
    skip: tuple = ()
    compute_dtype: torch.dtype | None = None
    packed: str | None = None
    saved: bool = False
    sensitive_8bit: bool = False
    calibration: GPTQConfig | None = None

    def __post_init__(self):
        if self.bits not in (4, 8):
            raise ValueError(f"henkan quantizes to 8 or 4 bits, not {self.bits!r}.")
        if self.bits == 4 and self.group_size not in GROUP_SIZES:
            raise ValueError(f"int4 group_size must be one of {GROUP_SIZES}, not {self.group_size!r}.")

    def record(self) -> dict:
        """The `quantization_config` a saved folder carries (a calibrated model's is GPTQ's, in GPTQ's layout)."""
        if self.calibration is not None:
            return self.calibration.to_dict()
        return HenkanQuantConfig(self.bits, self.group_size, list(self.skip) or None, self.sensitive_8bit).to_dict()


def resolve(quantization_config, load_in_8bit: bool, load_in_4bit: bool, stored) -> Scheme | None:
    """The scheme of a from_pretrained call: from its arguments, else from the checkpoint's config.json."""
    if load_in_8bit and load_in_4bit:
        raise ValueError("load_in_8bit=True and load_in_4bit=True were both passed; choose one.")
    if load_in_8bit or load_in_4bit:
        if quantization_config is not None:
            raise ValueError("Pass either load_in_8bit/load_in_4bit or quantization_config, not both.")
        quantization_config = BitsAndBytesConfig(load_in_8bit=load_in_8bit, load_in_4bit=load_in_4bit)
    if quantization_config is None and stored is None:
        return None
    if quantization_config is not None and stored is not None:
        method = stored.get("quant_method") if isinstance(stored, dict) else getattr(stored, "quant_method", None)
        logger.warning("The checkpoint is already quantized (%s); the quantization_config passed is ignored.", method)
        quantization_config = None
    calibrate = quantization_config is not None  # (a checkpoint's stored dataset is only its history)
    config = quantization_config if quantization_config is not None else stored
    if isinstance(config, dict):
        method = config.get("quant_method")
        if method not in _METHODS:
            raise ValueError(f"quantization_config has quant_method {method!r}; henkan reads "
                             f"{sorted(_METHODS)}.")
        config = _METHODS[method].from_dict({k: v for k, v in config.items() if k != "quant_method"})
    if not isinstance(config, QuantizationConfigMixin):
        raise TypeError(f"quantization_config must be a BitsAndBytesConfig, GPTQConfig, TorchAoConfig or a dict, "
                        f"not {type(config).__name__}.")
    if calibrate and isinstance(config, GPTQConfig) and config.dataset is not None:
        return config.calibration_scheme()
    return config.scheme()
