"""`GenerationConfig`: the settings of one `generate()` call, stored as `generation_config.json`.

The file format (keys, defaults, what is left out of a diff) is that of the reference library's 4.x line, so a
folder saved here is read there and the other way round. This module does not import torch.
"""

from __future__ import annotations

import copy
import enum
import json
import os
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from ..config import (BOOL, COUNT, FORMAT_VERSION, MAX_JSON_DEPTH, NUMBER, POSITIVE, PROBABILITY, SIZE, TOKEN_ID, Kind, any_of,
                      choice, integer, list_of, number)
from ..hub import PushToHubMixin, pop_hub_kwargs, pop_upload_kwargs, resolve_file, upload_folder
from ..logging import get_logger, get_verbosity, WARNING
from ..utils import atomic_write_text, read_json

logger = get_logger(__name__)

GENERATION_CONFIG_NAME = "generation_config.json"
METADATA_FIELDS = ("_from_model_config", "_commit_hash", "_original_object_hash", "transformers_version")
STATIC_CACHE_IMPLEMENTATIONS = ("static", "offloaded_static")
DYNAMIC_CACHE_IMPLEMENTATIONS = ("dynamic", "dynamic_full", "offloaded", "quantized")
_OLD_STATIC_CACHES = ("sliding_window", "hybrid", "hybrid_chunked", "offloaded_hybrid", "offloaded_hybrid_chunked")
ALL_CACHE_IMPLEMENTATIONS = STATIC_CACHE_IMPLEMENTATIONS + _OLD_STATIC_CACHES + DYNAMIC_CACHE_IMPLEMENTATIONS

# Every setting with its default, in the order the reference writes them. Grouped by what they control.
_DEFAULTS: dict[str, Any] = {
    # length of the output
    "max_length": 20, "max_new_tokens": None, "min_length": 0, "min_new_tokens": None, "early_stopping": False,
    "max_time": None, "stop_strings": None,
    # strategy
    "do_sample": False, "num_beams": 1,
    # cache
    "use_cache": True, "cache_implementation": None, "cache_config": None, "return_legacy_cache": None,
    "prefill_chunk_size": None,
    # logits manipulation
    "temperature": 1.0, "top_k": 50, "top_p": 1.0, "min_p": None, "typical_p": 1.0, "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0, "repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "length_penalty": 1.0,
    "no_repeat_ngram_size": 0, "bad_words_ids": None, "renormalize_logits": False, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "remove_invalid_values": False, "exponential_decay_length_penalty": None,
    "suppress_tokens": None, "begin_suppress_tokens": None, "sequence_bias": None, "token_healing": False,
    "guidance_scale": None, "watermarking_config": None,
    # what generate() returns
    "num_return_sequences": 1, "output_attentions": False, "output_hidden_states": False, "output_scores": False,
    "output_logits": None, "return_dict_in_generate": False,
    # special tokens
    "pad_token_id": None, "bos_token_id": None, "eos_token_id": None,
    # encoder-decoder only
    "encoder_no_repeat_ngram_size": 0, "decoder_start_token_id": None,
    # assisted generation
    "num_assistant_tokens": 20, "num_assistant_tokens_schedule": "constant", "assistant_confidence_threshold": 0.4,
    "prompt_lookup_num_tokens": None, "max_matching_ngram_size": None, "assistant_early_exit": None,
    "assistant_lookbehind": 10, "target_lookbehind": 10,
    # performance
    "compile_config": None, "disable_compile": False,
    # strategies the reference moved out of its core (kept so files round-trip)
    "low_memory": None, "penalty_alpha": None, "dola_layers": None, "diversity_penalty": 0.0, "num_beam_groups": 1,
    "constraints": None, "force_words_ids": None,
}

def _eos_ids(value) -> bool:
    """An id, a list of ids, or an integer tensor of them."""
    return TOKEN_IDS(value) or (type(value).__name__ == "Tensor" and not value.is_floating_point()
                                and value.dim() <= 1)


TOKEN_IDS = any_of(integer(), list_of(integer()))
# What each setting may hold (None everywhere: "unset"), checked by validate() whenever settings change, so a bad
# generate() argument fails before any compute. (Kinds as in henkan.config.)
_FIELDS = {key: kind.or_none for key, kind in {
    **{key: COUNT for key in ("max_length", "min_length", "min_new_tokens", "no_repeat_ngram_size",
                              "encoder_no_repeat_ngram_size", "top_k", "prefill_chunk_size")},
    **{key: SIZE for key in ("max_new_tokens", "num_beams", "num_beam_groups", "num_return_sequences")},
    **{key: BOOL for key in ("do_sample", "use_cache", "renormalize_logits", "remove_invalid_values",
                             "output_attentions", "output_hidden_states", "output_scores", "output_logits",
                             "return_dict_in_generate")},
    "early_stopping": any_of(BOOL, choice("never")), "max_time": POSITIVE, "temperature": number(0),
    "top_p": number(0, 1, low_open=True), "typical_p": number(0, 1, low_open=True), "min_p": PROBABILITY,
    "epsilon_cutoff": number(0, 1, high_open=True), "eta_cutoff": number(0, 1, high_open=True),
    "repetition_penalty": POSITIVE, "encoder_repetition_penalty": POSITIVE, "length_penalty": NUMBER,
    "diversity_penalty": NUMBER, "bad_words_ids": list_of(list_of(integer())),
    "suppress_tokens": list_of(integer()), "begin_suppress_tokens": list_of(integer()),
    **{key: TOKEN_ID for key in ("pad_token_id", "bos_token_id", "decoder_start_token_id", "forced_bos_token_id")},
    **{key: Kind("a token id or a list of token ids", _eos_ids) for key in ("eos_token_id", "forced_eos_token_id")},
}.items()}

# Arguments of generate() itself, which a config must not hold.
_GENERATE_ARGUMENTS = ("logits_processor", "stopping_criteria", "prefix_allowed_tokens_fn", "synced_gpus",
                       "assistant_model", "streamer", "negative_prompt_ids", "negative_prompt_attention_mask",
                       "use_model_defaults")
_SAMPLING_ONLY = (("temperature", 1.0), ("top_p", 1.0), ("min_p", None), ("typical_p", 1.0), ("top_k", 50),
                  ("epsilon_cutoff", 0.0), ("eta_cutoff", 0.0))


class GenerationMode(str, enum.Enum):
    """The decoding strategy a config selects."""

    CONTRASTIVE_SEARCH = "contrastive_search"
    GREEDY_SEARCH = "greedy_search"
    SAMPLE = "sample"
    ASSISTED_GENERATION = "assisted_generation"
    DOLA_GENERATION = "dola_generation"
    BEAM_SEARCH = "beam_search"
    BEAM_SAMPLE = "beam_sample"
    CONSTRAINED_BEAM_SEARCH = "constrained_beam_search"
    GROUP_BEAM_SEARCH = "group_beam_search"

    def __str__(self) -> str:
        return self.value


@dataclass
class CompileConfig:
    """How `generate()` compiles the decode step (used with `cache_implementation="static"`)."""

    fullgraph: bool = False
    dynamic: bool | None = False
    backend: str = "inductor"
    mode: str = "reduce-overhead"
    options: dict | None = None
    _compile_all_devices: bool | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def _default_dict() -> dict:
    cached = getattr(_default_dict, "cache", None)
    if cached is None:
        cached = _default_dict.cache = GenerationConfig().to_dict()
    return copy.deepcopy(cached)


class GenerationConfig(PushToHubMixin):
    """Settings of `generate()`: length, strategy, logits processing, special tokens, outputs.

    Keyword arguments set the settings; unknown keywords become attributes too (they are saved and loaded back).
    Contradictory settings raise a `ValueError` (e.g. `max_new_tokens=0`) or log a warning (e.g. `temperature`
    without `do_sample=True`).
    """

    extra_output_flags = ("output_attentions", "output_hidden_states", "output_scores", "output_logits")

    def __init__(self, **kwargs):
        for key, default in _DEFAULTS.items():
            setattr(self, key, copy.deepcopy(kwargs.pop(key, default)))
        self.is_assistant = False
        self._from_model_config = kwargs.pop("_from_model_config", False)
        self._commit_hash = kwargs.pop("_commit_hash", None)
        self.transformers_version = kwargs.pop("transformers_version", FORMAT_VERSION)
        if not self._from_model_config:
            # keys this class does not know: kept (a model's config carries many that are not about generation,
            # which is why they are dropped when the settings come from a model config)
            for key, value in kwargs.items():
                setattr(self, key, value)
        self.validate()

    # identity ----------------------------------------------------------------------------------------------------
    def __hash__(self) -> int:
        return hash(self.to_json_string(ignore_metadata=True))

    def __eq__(self, other) -> bool:
        if not isinstance(other, GenerationConfig):
            return False
        return (self.to_json_string(use_diff=False, ignore_metadata=True)
                == other.to_json_string(use_diff=False, ignore_metadata=True))

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string(ignore_metadata=True)}"

    def get_generation_mode(self, assistant_model=None) -> GenerationMode:
        """The decoding strategy these settings select."""
        if self.constraints is not None or self.force_words_ids is not None:
            mode = GenerationMode.CONSTRAINED_BEAM_SEARCH
        elif self.num_beams == 1:
            if self.do_sample is not False:
                mode = GenerationMode.SAMPLE
            elif self.top_k is not None and self.top_k > 1 and self.penalty_alpha is not None \
                    and self.penalty_alpha > 0:
                mode = GenerationMode.CONTRASTIVE_SEARCH
            else:
                mode = GenerationMode.GREEDY_SEARCH
        elif self.num_beam_groups > 1:
            mode = GenerationMode.GROUP_BEAM_SEARCH
        elif self.do_sample is True:
            mode = GenerationMode.BEAM_SAMPLE
        else:
            mode = GenerationMode.BEAM_SEARCH
        if assistant_model is not None or self.prompt_lookup_num_tokens is not None \
                or self.assistant_early_exit is not None:
            if mode in (GenerationMode.GREEDY_SEARCH, GenerationMode.SAMPLE):
                mode = GenerationMode.ASSISTED_GENERATION
            else:
                logger.warning("An assistant model (or prompt lookup) was set, but assisted generation works with "
                               "greedy search and sampling only; the current settings select %s, so it is ignored.",
                               mode.value)
        if self.dola_layers is not None:
            if mode in (GenerationMode.GREEDY_SEARCH, GenerationMode.SAMPLE):
                mode = GenerationMode.DOLA_GENERATION
            else:
                logger.warning("`dola_layers` is set, but DoLa decoding works with greedy search and sampling only; "
                               "the current settings select %s, so it is ignored.", mode.value)
        return mode

    # validation --------------------------------------------------------------------------------------------------
    def validate(self, strict: bool = False) -> None:
        """Raise on settings that cannot work (a value of the wrong kind or range: a ValueError naming the setting);
        warn (or raise, when `strict`) on settings that will be ignored."""
        for name, kind in _FIELDS.items():
            value = getattr(self, name, None)
            if not kind(value):
                raise ValueError(f"`{name}` is {value!r}; expected {kind.expected}. (A generate() argument or a "
                                 f"setting of the generation config.)")
        if self.cache_implementation is not None and self.cache_implementation not in ALL_CACHE_IMPLEMENTATIONS:
            raise ValueError(f"Invalid `cache_implementation` ({self.cache_implementation}). Choose one of: "
                             f"{ALL_CACHE_IMPLEMENTATIONS}")
        if self.compile_config is not None and not isinstance(self.compile_config, CompileConfig):
            raise ValueError(f"You provided `compile_config` as an instance of {type(self.compile_config)}, but it "
                             f"must be an instance of `CompileConfig`.")
        issues: dict[str, str] = {}
        if self.pad_token_id is not None and isinstance(self.pad_token_id, int) and self.pad_token_id < 0:
            issues["pad_token_id"] = (
                f"`pad_token_id` should be positive but got {self.pad_token_id}. Batched generation with padding "
                f"will fail; set `model.generation_config.pad_token_id` to a valid token id.")
        if self.do_sample is False:
            for name, neutral in _SAMPLING_ONLY:
                value = getattr(self, name)
                if value is not None and value != neutral:
                    issues[name] = (f"`do_sample` is set to `False`. However, `{name}` is set to `{value}` -- this "
                                    f"flag is only used in sample-based generation modes. You should set "
                                    f"`do_sample=True` or unset `{name}`.")
        if self.num_beams == 1:
            for name, value in (("early_stopping", self.early_stopping), ("length_penalty", self.length_penalty)):
                ignored = value is not False if name == "early_stopping" else value is not None and value != 1.0
                if ignored:
                    issues[name] = (f"`num_beams` is set to 1. However, `{name}` is set to `{value}` -- this flag "
                                    f"is only used in beam-based generation modes. You should set `num_beams>1` or "
                                    f"unset `{name}`.")
        if self.num_return_sequences != 1:
            if self.num_beams == 1:
                if self.do_sample is False:
                    raise ValueError("Greedy methods without beam search do not support `num_return_sequences` "
                                     f"different than 1 (got {self.num_return_sequences}).")
            elif self.num_return_sequences > self.num_beams:
                raise ValueError(f"`num_return_sequences` ({self.num_return_sequences}) has to be smaller or equal "
                                 f"to `num_beams` ({self.num_beams}).")
        if self.use_cache is False:
            for name in ("cache_implementation", "cache_config", "return_legacy_cache"):
                if getattr(self, name) is not None:
                    issues[name] = (f"You have set `use_cache` to `False`, but {name} is set to "
                                    f"{getattr(self, name)}. {name} will have no effect.")
        if self.return_dict_in_generate is not True:
            for name in self.extra_output_flags:
                if getattr(self, name) is True:
                    issues[name] = (f"`return_dict_in_generate` is NOT set to `True`, but `{name}` is. When "
                                    f"`return_dict_in_generate` is not `True`, `{name}` is ignored.")
        for name in _GENERATE_ARGUMENTS:
            if name in self.__dict__:
                raise ValueError(f"Argument `{name}` is not a valid argument of `GenerationConfig`. It should be "
                                 f"passed to `generate()` (or a pipeline) directly.")
        if not issues:
            return
        details = "\n".join(f"- `{name}`: {text}" for name, text in issues.items())
        details += ("\nIf you're using a pretrained model, note that some of these attributes may be set through "
                    "the model's `generation_config.json` file.")
        if strict:
            raise ValueError("GenerationConfig is invalid: \n" + details)
        message = f"The following generation flags are not valid and may be ignored: {list(issues)}."
        if get_verbosity() >= WARNING:
            message += " Set `TRANSFORMERS_VERBOSITY=info` for more details."
        logger.warning_once(message)
        logger.info(details)

    # serialisation -----------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = copy.deepcopy({k: v for k, v in self.__dict__.items()
                             if k not in ("_commit_hash", "_original_object_hash", "compile_config")})
        out["transformers_version"] = FORMAT_VERSION
        _dtype_to_str(out)
        return out

    def to_diff_dict(self) -> dict[str, Any]:
        default = _default_dict()
        out = {k: v for k, v in self.to_dict().items()
               if k not in default or k == "transformers_version" or v != default[k]}
        _dtype_to_str(out)
        return out

    def to_json_string(self, use_diff: bool = True, ignore_metadata: bool = False) -> str:
        data = self.to_diff_dict() if use_diff else self.to_dict()
        if ignore_metadata:
            for name in METADATA_FIELDS:
                data.pop(name, None)
        return json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path, use_diff: bool = True) -> None:
        atomic_write_text(json_file_path, self.to_json_string(use_diff=use_diff))

    def save_pretrained(self, save_directory, config_file_name=None, push_to_hub: bool = False, **kwargs) -> None:
        """Write `generation_config.json` (only the settings that differ from the defaults), atomically."""
        try:
            self.validate(strict=True)
        except ValueError as e:
            raise ValueError(f"{e}\n\nFix these issues to save the configuration.") from None
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise AssertionError(f"Provided path ({save_directory}) should be a directory, not a file")
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(save_directory, config_file_name or GENERATION_CONFIG_NAME)
        self.to_json_file(path, use_diff=True)
        logger.info("Configuration saved in %s", path)
        if push_to_hub:
            upload_folder(save_directory, **{"commit_message": "Upload generation config", **pop_upload_kwargs(kwargs)})

    # loading -----------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name, config_file_name=None, cache_dir=None, force_download=False,
                        local_files_only=False, token=None, revision="main", **kwargs):
        """Read `generation_config.json` from a folder, a file path or a Hub id; keyword arguments override it."""
        name = config_file_name or GENERATION_CONFIG_NAME
        hub = {"cache_dir": cache_dir, "force_download": force_download, "local_files_only": local_files_only,
               "token": token, "revision": revision, **pop_hub_kwargs(kwargs)}
        for key in ("_from_pipeline", "_from_auto", "trust_remote_code"):
            kwargs.pop(key, None)
        direct = os.path.join(os.fspath(pretrained_model_name), name)
        path = direct if os.path.isfile(direct) else resolve_file(pretrained_model_name, name, **hub)
        config_dict = read_json(path, max_depth=MAX_JSON_DEPTH)
        logger.info("loading configuration file %s", path)
        try:
            result = cls.from_dict(config_dict, **kwargs)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e
        config = result[0] if isinstance(result, tuple) else result
        config._original_object_hash = hash(config)
        return result

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        return_unused = kwargs.pop("return_unused_kwargs", False)
        kwargs.pop("_from_auto", None)
        kwargs.pop("_from_pipeline", None)
        config = cls(**{**config_dict, **kwargs})
        unused = config.update(**kwargs)
        return (config, unused) if return_unused else config

    @classmethod
    def from_model_config(cls, model_config) -> "GenerationConfig":
        """The generation settings a model config carries (the 4.x config.json format holds some)."""
        config_dict = model_config.to_dict()
        config_dict.pop("_from_model_config", None)
        config_dict = {k: v for k, v in config_dict.items() if v is not None}
        config = cls.from_dict(config_dict, return_unused_kwargs=False, _from_model_config=True)
        get_text_config = getattr(model_config, "get_text_config", None)
        decoder = get_text_config(decoder=True) if callable(get_text_config) else model_config
        if decoder is not model_config and decoder is not None:
            default = cls()
            decoder_dict = decoder.to_dict()
            for key in config.to_dict():
                if key in decoder_dict and getattr(config, key) == getattr(default, key):
                    setattr(config, key, decoder_dict[key])
        if config.return_dict_in_generate is False and any(getattr(config, f, False) for f in cls.extra_output_flags):
            config.return_dict_in_generate = True
        config._original_object_hash = hash(config)
        return config

    def update(self, **kwargs) -> dict:
        """Set the attributes this config has from `kwargs`; return the others (untouched)."""
        used = [key for key in kwargs if hasattr(self, key)]
        for key in used:
            setattr(self, key, kwargs[key])
        self.validate()
        return {k: v for k, v in kwargs.items() if k not in used}


def _dtype_to_str(d: dict) -> None:
    if d.get("dtype") is not None and not isinstance(d["dtype"], str):
        d["dtype"] = str(d["dtype"]).split(".")[1]
    for value in d.values():
        if isinstance(value, dict):
            _dtype_to_str(value)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if is_dataclass(obj) and not isinstance(obj, type):
        return obj.to_dict() if hasattr(obj, "to_dict") else asdict(obj)
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return obj.to_dict()
    return obj
