"""`PretrainedConfig`: a model's `config.json` as an object.

A config is plain data keyed by config.json names. Family configs declare their keys and defaults in `defaults`;
unknown keys are kept as attributes and written back. `attribute_map` gives aliases (DistilBERT's `hidden_size` is
its `dim`).
"""

from __future__ import annotations

import copy
import json
import os

from .hub import PushToHubMixin, pop_hub_kwargs, pop_upload_kwargs, resolve_file, upload_folder
from .logging import get_logger
from .utils import atomic_write_text, read_json

logger = get_logger(__name__)

CONFIG_NAME = "config.json"
# The config.json format henkan reads and writes is that of this release of the reference library; configs are
# stamped with it so that tools reading `transformers_version` see a format they know.
FORMAT_VERSION = "4.57.6"

# Keys every config has, with their defaults (the reference's base config, generation defaults included: they are
# part of the config.json format of the 4.x line).
BASE_DEFAULTS = {
    "return_dict": True, "output_hidden_states": False, "output_attentions": False, "torchscript": False,
    "dtype": None, "use_bfloat16": False, "tf_legacy_loss": False, "pruned_heads": {},
    "tie_word_embeddings": True, "chunk_size_feed_forward": 0, "is_encoder_decoder": False, "is_decoder": False,
    "cross_attention_hidden_size": None, "add_cross_attention": False, "tie_encoder_decoder": False,
    "max_length": 20, "min_length": 0, "do_sample": False, "early_stopping": False, "num_beams": 1,
    "num_beam_groups": 1, "diversity_penalty": 0.0, "temperature": 1.0, "top_k": 50, "top_p": 1.0,
    "typical_p": 1.0, "repetition_penalty": 1.0, "length_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "bad_words_ids": None, "num_return_sequences": 1,
    "output_scores": False, "return_dict_in_generate": False, "forced_bos_token_id": None,
    "forced_eos_token_id": None, "remove_invalid_values": False, "exponential_decay_length_penalty": None,
    "suppress_tokens": None, "begin_suppress_tokens": None, "architectures": None, "finetuning_task": None,
    "tokenizer_class": None, "prefix": None, "bos_token_id": None, "pad_token_id": None, "eos_token_id": None,
    "sep_token_id": None, "decoder_start_token_id": None, "task_specific_params": None, "problem_type": None,
}
# The generation settings among them: they belong in generation_config.json (a model's save moves them there).
GENERATION_KEYS = ("max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
                   "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
                   "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
                   "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
                   "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
                   "suppress_tokens", "begin_suppress_tokens")
_NOT_SERIALIZED = ("_commit_hash", "_attn_implementation", "_auto_class")
_PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


def _int_keys(mapping: dict | None) -> dict | None:
    return None if mapping is None else {int(k): v for k, v in mapping.items()}


class PretrainedConfig(PushToHubMixin):
    """Base class of every model configuration."""

    model_type: str = ""
    defaults: dict = {}
    attribute_map: dict = {}
    is_composition = False
    base_config_key = ""  # a part's key in its composite's config.json (CLIP's "text_config"), read from there

    def __init__(self, *args, **kwargs):
        if args:
            names = list(self.defaults)
            if len(args) > len(names):
                raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional arguments")
            for name, value in zip(names, args):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__} got two values for {name!r}")
                kwargs[name] = value
        if "torch_dtype" in kwargs:
            kwargs.setdefault("dtype", kwargs.pop("torch_dtype"))
        kwargs = {self.attribute_map.get(k, k): v for k, v in kwargs.items()}
        object.__setattr__(self, "_attn_implementation", kwargs.pop("attn_implementation", None))
        self._name_or_path = str(kwargs.pop("name_or_path", kwargs.pop("_name_or_path", "")))
        id2label = _int_keys(kwargs.pop("id2label", None))
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        kwargs.pop("model_type", None)
        kwargs.pop("transformers_version", None)
        for key, default in {**BASE_DEFAULTS, **self.defaults}.items():
            setattr(self, key, copy.deepcopy(kwargs.pop(key, default)))
        if id2label is not None and num_labels is not None and len(id2label) != num_labels:
            logger.warning("num_labels=%s does not match id2label (%s entries); keeping id2label.", num_labels,
                           len(id2label))
        self.id2label = id2label
        if id2label is None:
            self.num_labels = num_labels if num_labels is not None else 2
        self.label2id = dict(label2id) if label2id is not None else {v: k for k, v in self.id2label.items()}
        if isinstance(self.dtype, str) and self.dtype.startswith("torch."):
            self.dtype = self.dtype[len("torch."):]
        if self.problem_type is not None and self.problem_type not in _PROBLEM_TYPES:
            raise ValueError(f"problem_type must be one of {_PROBLEM_TYPES} or None, not {self.problem_type!r}.")
        for key, value in kwargs.items():  # keys this class does not know: kept, and written back on save
            setattr(self, key, value)

    # aliases ---------------------------------------------------------------------------------------------------
    def __setattr__(self, key, value):
        super().__setattr__(type(self).attribute_map.get(key, key), value)

    def __getattr__(self, key):  # only reached when normal lookup fails
        alias = type(self).attribute_map.get(key)
        if alias is not None:
            return getattr(self, alias)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'")

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n: int) -> None:
        if getattr(self, "id2label", None) is None or len(self.id2label) != n:
            self.id2label = {i: f"LABEL_{i}" for i in range(n)}
            self.label2id = {v: k for k, v in self.id2label.items()}

    @property
    def torch_dtype(self):
        return self.dtype

    @torch_dtype.setter
    def torch_dtype(self, value):
        self.dtype = value

    @property
    def name_or_path(self) -> str:
        return self._name_or_path

    @name_or_path.setter
    def name_or_path(self, value) -> None:
        self._name_or_path = str(value)

    @property
    def use_return_dict(self) -> bool:
        return self.return_dict and not self.torchscript

    # serialisation ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            if key in _NOT_SERIALIZED:
                continue
            if isinstance(value, PretrainedConfig):
                value = value.to_dict()
                value.pop("transformers_version", None)
            out[key] = copy.deepcopy(value)
        out["model_type"] = self.model_type
        out["transformers_version"] = FORMAT_VERSION
        if out.get("dtype") is not None and not isinstance(out["dtype"], str):
            out["dtype"] = str(out["dtype"]).replace("torch.", "")
        return out

    def to_diff_dict(self) -> dict:
        """Only what differs from the defaults, plus every key of this family: what config.json holds."""
        base = PretrainedConfig().to_dict()
        own = {} if self.is_composition else type(self)().to_dict()
        out = {}
        for key, value in self.to_dict().items():
            if key == "_name_or_path":
                continue
            part = getattr(self, key, None)
            if self.is_composition and isinstance(part, PretrainedConfig):
                out[key] = part._diff_as_part(value)
                continue
            if isinstance(part, PretrainedConfig) and isinstance(own.get(key), dict):
                value = {k: v for k, v in value.items() if own[key].get(k, object()) != v or k == "model_type"}
            if key not in base or key == "transformers_version" or value != base[key] or (key in own and value != own[key]):
                out[key] = value
        return out

    def _diff_as_part(self, data: dict) -> dict:
        """This config as a part of a composite's config.json (`data`: its to_dict()): the keys its family adds to
        the base config, the values that differ from its family's defaults, and its model_type."""
        base, own = PretrainedConfig().to_dict(), type(self)().to_dict()
        out = {k: v for k, v in data.items() if k not in base or v != own.get(k)}
        out["model_type"] = data["model_type"]
        return out

    def to_json_string(self, use_diff: bool = True) -> str:
        data = self.to_diff_dict() if use_diff else self.to_dict()
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def to_json_file(self, json_file_path, use_diff: bool = True) -> None:
        atomic_write_text(json_file_path, self.to_json_string(use_diff))

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"

    def __eq__(self, other) -> bool:
        return isinstance(other, PretrainedConfig) and self.to_dict() == other.to_dict()

    def __iter__(self):
        yield from self.__dict__

    def update(self, config_dict: dict) -> None:
        for key, value in config_dict.items():
            setattr(self, key, value)

    def misplaced_generation_settings(self) -> dict:
        """Generation settings this config holds with values other than its family's defaults (None is "unset")."""
        defaults = type(self)() if not self.is_composition else PretrainedConfig()
        return {key: getattr(self, key) for key in GENERATION_KEYS
                if getattr(self, key, None) is not None and getattr(self, key) != getattr(defaults, key, None)}

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs) -> None:
        if os.path.isfile(save_directory):
            raise AssertionError(f"save_directory ({save_directory}) should be a directory, not a file")
        os.makedirs(save_directory, exist_ok=True)
        self.to_json_file(os.path.join(save_directory, CONFIG_NAME))
        if push_to_hub:
            upload_folder(save_directory, **{"commit_message": "Upload config", **pop_upload_kwargs(kwargs)})

    # loading ---------------------------------------------------------------------------------------------------
    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs) -> tuple[dict, dict]:
        hub = pop_hub_kwargs(kwargs)
        return read_json(resolve_file(pretrained_model_name_or_path, CONFIG_NAME, **hub)), kwargs

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, cache_dir=None, force_download=False,
                        local_files_only=False, token=None, revision="main", **kwargs):
        hub = {"cache_dir": cache_dir, "force_download": force_download, "local_files_only": local_files_only,
               "token": token, "revision": revision}
        config_dict, kwargs = cls.get_config_dict(pretrained_model_name_or_path, **hub, **kwargs)
        if cls.base_config_key and isinstance(config_dict.get(cls.base_config_key), dict):
            config_dict = config_dict[cls.base_config_key]
        config_dict.setdefault("_name_or_path", str(pretrained_model_name_or_path))
        if cls.model_type and config_dict.get("model_type") not in (None, cls.model_type):
            logger.warning("You are using a model of type %s to instantiate a model of type %s. This is not "
                           "supported for all configurations of models and can yield errors.",
                           config_dict["model_type"], cls.model_type)
        return cls.from_dict(config_dict, **kwargs)

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        return_unused = kwargs.pop("return_unused_kwargs", False)
        kwargs.pop("trust_remote_code", None)
        config = cls(**config_dict)
        unused = {}
        for key, value in kwargs.items():
            canonical = cls.attribute_map.get(key, key)
            if key == "num_labels" or hasattr(config, canonical) or key in ("torch_dtype", "dtype"):
                if key == "torch_dtype":
                    canonical = "dtype"
                setattr(config, canonical, _int_keys(value) if key == "id2label" else value)
            elif key == "attn_implementation":
                config._attn_implementation = value
            else:
                unused[key] = value
        if "id2label" in kwargs and "label2id" not in kwargs:
            config.label2id = {v: k for k, v in config.id2label.items()}
        return (config, unused) if return_unused else config

    @classmethod
    def from_json_file(cls, json_file):
        return cls(**read_json(json_file))
