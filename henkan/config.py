"""`PretrainedConfig`: a model's `config.json` as an object.

A config is plain data keyed by config.json names. Family configs declare their keys and defaults in `defaults`;
unknown keys are kept as attributes and written back. `attribute_map` gives aliases (DistilBERT's `hidden_size` is
its `dim`).

Configs check themselves, so a bad value fails where it enters (`__init__`, `from_dict`, `from_pretrained`, or an
assignment) with the key, the value, what was expected and, when it came from a file, the file; never later as a
shape error. What each key may hold is declared, not hand-checked:

- `FIELDS` (below) gives the kind of the keys families share (`vocab_size`, `hidden_size`, `num_attention_heads`,
  `n_embd`, `d_model`, token ids, generation settings, ...); keys named like a dropout (`*dropout*`, `*pdrop`,
  `*_prob`, `*layerdrop`) are probabilities, keys named `*_eps` / `*_epsilon` positive numbers, and keys whose
  default is a bool must be bools. A family whose `defaults` use only such keys declares nothing more.
- A family adds or overrides kinds with `fields = dict(key=KIND, ...)`, using the kinds of this module (`SIZE`,
  `COUNT`, `PROBABILITY`, `EPSILON`, `NUMBER`, `POSITIVE`, `BOOL`, `STRING`, `TOKEN_ID`, or `integer(low, high)`,
  `number(low, high)`, `choice(*values)`, `list_of(kind)`, `any_of(*kinds)`; `kind.or_none` also takes None). A key
  whose default is None also takes None.
- `multiples = (("hidden_size", "num_attention_heads"), ...)` lists the pairs where the first must be a multiple of
  the second (attribute names; aliases work), checked once all keys are set.

Shared checks (labels, rope scaling, dtype, keys that would hide a method) live in `validate()`, which every config
runs at the end of `__init__` and `from_dict`, and models run when they are built.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
import os
import re

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


# field kinds --------------------------------------------------------------------------------------------------------
class Kind:
    """What a config key may hold: a test and the words an error uses for it ("a positive integer")."""

    def __init__(self, expected: str, test):
        self.expected, self.test = expected, test

    def __call__(self, value) -> bool:
        return self.test(value)

    @property
    def or_none(self) -> "Kind":
        if self.test(None):
            return self
        return Kind(f"{self.expected} or null", lambda v: v is None or self.test(v))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _bounds(low, high, low_open: bool, high_open: bool) -> str:
    if high is None:
        return f"{'>' if low_open else '>='} {low}"
    if low is None:
        return f"{'<' if high_open else '<='} {high}"
    return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


def _in_bounds(value, low, high, low_open, high_open) -> bool:
    return ((low is None or (value > low if low_open else value >= low))
            and (high is None or (value < high if high_open else value <= high)))


def integer(low: int | None = None, high: int | None = None) -> Kind:
    """An int (not a bool) within [low, high]."""
    words = "an integer" if low is None and high is None else f"an integer {_bounds(low, high, False, False)}"
    return Kind(words, lambda v: _is_int(v) and _in_bounds(v, low, high, False, False))


def number(low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False) -> Kind:
    """A finite int or float within the bounds (open bounds exclude the end)."""
    words = "a number" if low is None and high is None else f"a number {_bounds(low, high, low_open, high_open)}"
    return Kind(words, lambda v: _is_number(v) and _in_bounds(v, low, high, low_open, high_open))


def choice(*values) -> Kind:
    return Kind(f"one of {list(values)}", lambda v: isinstance(v, (str, int, float, bool, type(None))) and v in values)


def list_of(kind: Kind) -> Kind:
    return Kind(f"a list of {kind.expected.removeprefix('a ').removeprefix('an ')}s",
                lambda v: isinstance(v, (list, tuple)) and all(kind(x) for x in v))


def any_of(*kinds: Kind) -> Kind:
    return Kind(" or ".join(k.expected for k in kinds), lambda v: any(k(v) for k in kinds))


SIZE = Kind("a positive integer", lambda v: _is_int(v) and v > 0)
COUNT = Kind("a non-negative integer", lambda v: _is_int(v) and v >= 0)
NUMBER = number()
POSITIVE = number(0, low_open=True)
PROBABILITY = number(0, 1)
EPSILON = Kind("a positive number (an epsilon)", POSITIVE.test)
BOOL = Kind("true or false", lambda v: isinstance(v, bool))
STRING = Kind("a string", lambda v: isinstance(v, str))
DICT = Kind("a JSON object", lambda v: isinstance(v, dict))
TOKEN_ID = integer().or_none
TOKEN_IDS = any_of(integer(), list_of(integer())).or_none

# Kinds of the keys families share. Generation settings and token ids also take None (a model's save moves the
# generation settings to generation_config.json and leaves None behind).
FIELDS: dict[str, Kind] = {
    **{key: SIZE for key in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "intermediate_size", "max_position_embeddings", "head_dim", "embedding_size",
        "n_positions", "n_ctx", "n_embd", "n_layer", "n_head", "n_inner", "n_layers", "n_heads", "dim",
        "hidden_dim", "d_model", "d_ff", "d_kv", "num_layers", "num_decoder_layers", "encoder_layers",
        "decoder_layers", "encoder_ffn_dim", "decoder_ffn_dim", "encoder_attention_heads", "decoder_attention_heads",
        "decoder_vocab_size", "rotary_dim", "num_hidden_groups", "inner_group_num", "pretraining_tp",
        "relative_attention_num_buckets", "relative_attention_max_distance", "block_size")},
    **{key: COUNT for key in ("max_window_layers", "num_random_blocks", "type_vocab_size")},  # (0: no token types)
    "num_heads": any_of(SIZE, list_of(SIZE)),  # (a list: one count per stage, in vision families)
    "sliding_window": SIZE.or_none,
    "initializer_range": number(0), "init_std": number(0), "initializer_factor": number(0),
    "rope_theta": POSITIVE, "partial_rotary_factor": number(0, 1, low_open=True),
"layer_types": list_of(STRING).or_none,
    "pruned_heads": DICT, "architectures": list_of(STRING).or_none, "task_specific_params": DICT.or_none,
    "problem_type": choice(None, "regression", "single_label_classification", "multi_label_classification"),
    "chunk_size_feed_forward": COUNT,
    **{key: TOKEN_ID for key in ("bos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id",
                                 "forced_bos_token_id")},
    "eos_token_id": TOKEN_IDS, "forced_eos_token_id": TOKEN_IDS,
    **{key: kind.or_none for key, kind in (
        ("max_length", COUNT), ("min_length", COUNT), ("num_beams", SIZE), ("num_beam_groups", SIZE),
        ("diversity_penalty", NUMBER), ("temperature", number(0)), ("top_k", COUNT), ("top_p", PROBABILITY),
        ("typical_p", PROBABILITY), ("repetition_penalty", POSITIVE), ("length_penalty", NUMBER),
        ("no_repeat_ngram_size", COUNT), ("encoder_no_repeat_ngram_size", COUNT), ("num_return_sequences", SIZE),
        ("do_sample", BOOL), ("early_stopping", any_of(BOOL, choice("never"))), ("output_scores", BOOL),
        ("return_dict_in_generate", BOOL), ("remove_invalid_values", BOOL))},
}
_DROPOUT = re.compile(r"(dropout|pdrop|_prob|layerdrop)(_rate)?$")
_EPSILON = re.compile(r"(_eps|epsilon)$")
# Properties a file or a keyword may set (everything else the class defines is not a config key).
_SETTABLE = frozenset({"num_labels", "torch_dtype", "dtype", "name_or_path"})
MAX_JSON_DEPTH = 64  # config.json files nest a few levels; far deeper is a broken or hostile file
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64", "half", "float", "double", "float8_e4m3fn",
                 "float8_e5m2")


ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "llama3", "longrope")
_ROPE_REQUIRED = {"linear": ("factor",), "dynamic": ("factor",), "yarn": ("factor",),
                  "longrope": ("short_factor", "long_factor"),
                  "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")}
# rope_scaling entries and their kinds (checked when present)
_ROPE_FIELDS = {"factor": POSITIVE, "attention_factor": POSITIVE, "beta_fast": POSITIVE, "beta_slow": POSITIVE,
                "mscale": NUMBER, "mscale_all_dim": NUMBER, "low_freq_factor": POSITIVE, "high_freq_factor": POSITIVE,
                "original_max_position_embeddings": SIZE, "short_factor": list_of(POSITIVE),
                "long_factor": list_of(POSITIVE), "truncate": BOOL}


def rope_type(scaling: dict | None) -> str:
    """The rope variant a `rope_scaling` dict asks for (its `rope_type`, or the older `type` key), with its entries
    checked: the keys the variant needs, each of the right kind and range."""
    if not scaling:
        return "default"
    if not isinstance(scaling, dict):
        raise ValueError(f"rope_scaling should be an object such as {{\"rope_type\": \"linear\", \"factor\": 2.0}}, "
                         f"not {type(scaling).__name__} ({_show(scaling)}).")
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise NotImplementedError(f"rope_scaling type {kind!r} is not supported; henkan knows {list(ROPE_TYPES)}.")
    missing = [key for key in _ROPE_REQUIRED.get(kind, ()) if key not in scaling]
    if missing:
        raise ValueError(f"rope_scaling of type {kind!r} needs the keys {missing} (it has {sorted(scaling)}).")
    for key, field in _ROPE_FIELDS.items():
        value = scaling.get(key)
        if value is not None and not field(value):
            raise ValueError(f"rope_scaling[{key!r}] is {_show(value)}; expected {field.expected}.")
    if kind == "llama3" and scaling["high_freq_factor"] <= scaling["low_freq_factor"]:
        raise ValueError(f"rope_scaling['high_freq_factor'] ({scaling['high_freq_factor']}) must be greater than "
                         f"rope_scaling['low_freq_factor'] ({scaling['low_freq_factor']}).")
    return kind


def check_rope_scaling(config) -> None:
    """Check a config's `rope_scaling` (mirroring the older `type` key to `rope_type`, as the reference does), and
    that LongRoPE's factor lists cover the rotary dimension."""
    scaling = getattr(config, "rope_scaling", None)
    if isinstance(scaling, dict) and "type" in scaling:
        scaling["rope_type"] = scaling["type"]
    kind = rope_type(scaling)
    heads, hidden = getattr(config, "num_attention_heads", None), getattr(config, "hidden_size", None)
    head_dim = getattr(config, "head_dim", None) or (hidden // heads if _is_int(hidden) and _is_int(heads) else None)
    if kind == "longrope" and _is_int(head_dim):
        half = int(head_dim * getattr(config, "partial_rotary_factor", 1.0)) // 2
        for key in ("short_factor", "long_factor"):
            if len(scaling[key]) != half:
                raise ValueError(f"rope_scaling[{key!r}] has {len(scaling[key])} numbers; it needs {half} (half "
                                 f"the rotary dimension).")


def _divisor_near(a: int, b: int) -> int:
    """The divisor of `a` closest to `b` (for an error's suggestion)."""
    return min((d for d in range(1, a + 1) if a % d == 0), key=lambda d: (abs(d - b), d))


def _field_kinds(cls) -> dict[str, Kind]:
    """Key -> Kind for every key a config class declares (canonical names, after `attribute_map`); cached."""
    cached = cls.__dict__.get("_kinds")
    if cached is not None:
        return cached
    declared = {}
    for klass in reversed(cls.__mro__):
        declared.update(klass.__dict__.get("fields", {}))
    defaults = {**BASE_DEFAULTS, **cls.defaults}
    kinds = {}
    for key, kind in declared.items():
        kinds[cls.attribute_map.get(key, key)] = kind
    for key, default in defaults.items():
        if key in kinds:
            continue
        if isinstance(default, bool):
            kinds[key] = BOOL
        elif _DROPOUT.search(key):
            kinds[key] = PROBABILITY
        elif _EPSILON.search(key):
            kinds[key] = EPSILON
    for key, default in defaults.items():
        if default is None and key in kinds:
            kinds[key] = kinds[key].or_none
    cls._kinds = kinds
    return kinds


def _reserved(cls) -> frozenset:
    """Names a config's class defines (methods, properties, class settings): never config keys."""
    cached = cls.__dict__.get("_reserved_names")
    if cached is None:
        cached = frozenset(name for name in dir(cls) if not name.startswith("__")) - _SETTABLE
        cls._reserved_names = cached
    return cached


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int_keys(mapping, name: str = "id2label") -> dict | None:
    if mapping is None:
        return None
    if not isinstance(mapping, dict):
        raise ValueError(f"{name} should be an object mapping label ids to names, not {type(mapping).__name__} "
                         f"({_show(mapping)}).")
    out = {}
    for key, value in mapping.items():
        try:
            out[int(key)] = value
        except (TypeError, ValueError):
            raise ValueError(f"{name} has the key {key!r}, which is not an integer label id; keys are 0, 1, ... "
                             f"(e.g. {{\"0\": \"NEGATIVE\", \"1\": \"POSITIVE\"}}).") from None
    return out


class PretrainedConfig(PushToHubMixin):
    """Base class of every model configuration (see the module docstring for how fields are declared)."""

    model_type: str = ""
    defaults: dict = {}
    attribute_map: dict = {}
    fields: dict = FIELDS
    multiples: tuple = ()
    is_composition = False
    base_config_key = ""  # a part's key in its composite's config.json (CLIP's "text_config"), read from there
    sub_configs: dict = {}

    def __init_subclass__(cls, **kwargs):
        """Wrap the class's `__init__` so that `validate()` runs once the outermost `__init__` has set every key,
        and give it a signature naming the fields with their defaults (for `help()`, IDEs and code that reads
        `inspect.signature`)."""
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__init__")

        def __init__(self, *args, **kwargs):
            if own is None:
                super(cls, self).__init__(*args, **kwargs)
            else:
                own(self, *args, **kwargs)
            if type(self) is cls:
                self.validate()

        __init__.__qualname__, __init__.__module__ = f"{cls.__qualname__}.__init__", cls.__module__
        __init__.__doc__ = getattr(own, "__doc__", None)
        if own is None:
            __init__.takes_fields = getattr(cls.__mro__[1].__init__, "takes_fields", True)
        else:
            params = list(inspect.signature(own).parameters.values())
            __init__.takes_fields = [p.kind for p in params[1:]] == [inspect.Parameter.VAR_POSITIONAL,
                                                                   inspect.Parameter.VAR_KEYWORD]
        if __init__.takes_fields:  # (*args, **kwargs): the fields, positional in `defaults` order, and any key
            kinds = inspect.Parameter.POSITIONAL_OR_KEYWORD
            __init__.__signature__ = inspect.Signature([
                inspect.Parameter("self", kinds), *(inspect.Parameter(key, kinds, default=default)
                                                    for key, default in cls.defaults.items()),
                inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])
        else:
            __init__.__signature__ = inspect.signature(own or cls.__mro__[1].__init__)
        cls.__init__ = __init__

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
        if num_labels is not None and not (_is_int(num_labels) and num_labels >= 0):
            raise ValueError(f"{type(self).__name__}: num_labels is {_show(num_labels)}; expected a non-negative "
                             f"integer.")
        if id2label is not None and num_labels is not None and len(id2label) != num_labels:
            logger.warning("num_labels=%s does not match id2label (%s entries); keeping id2label.", num_labels,
                           len(id2label))
        self.id2label = id2label
        if id2label is None:
            self.num_labels = num_labels if num_labels is not None else 2
        self.label2id = dict(label2id) if isinstance(label2id, dict) else (
            label2id if label2id is not None else {v: k for k, v in self.id2label.items()})
        for key, value in kwargs.items():  # keys this class does not know: kept, and written back on save
            setattr(self, key, value)
        if type(self) is PretrainedConfig:
            self.validate()

    # aliases and checks ----------------------------------------------------------------------------------------
    def __setattr__(self, key, value):
        key = type(self).attribute_map.get(key, key)
        if not key.startswith("_"):
            cls = type(self)
            if key in _reserved(cls):
                raise ValueError(f"{cls.__name__}: {key!r} names a method or setting of the class and cannot be a "
                                 f"config key; rename the key (a config.json key must not hide {cls.__name__}."
                                 f"{key}).")
            kind = _field_kinds(cls).get(key)
            if kind is not None and not kind(value):
                raise ValueError(f"{cls.__name__}: {key} is {_show(value)}; expected {kind.expected}.")
        super().__setattr__(key, value)

    def __getattr__(self, key):  # only reached when normal lookup fails
        alias = type(self).attribute_map.get(key)
        if alias is not None:
            return getattr(self, alias)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{key}'")

    def validate(self) -> None:
        """Check what involves more than one key (the per-key kinds are checked on every assignment): `multiples`,
        the label maps, rope scaling. Raises ValueError naming the keys."""
        name = type(self).__name__
        for big, small in self.multiples:
            a, b = getattr(self, big, None), getattr(self, small, None)
            if _is_int(a) and _is_int(b) and b > 0 and a % b:
                big, small = self.attribute_map.get(big, big), self.attribute_map.get(small, small)
                raise ValueError(f"{name}: {big} ({a}) must be a multiple of {small} ({b}); change one of them "
                                 f"(e.g. {small}={_divisor_near(a, b)}).")
        id2label, label2id = self.id2label, self.label2id
        if not isinstance(label2id, dict):
            raise ValueError(f"{name}: label2id should be an object mapping label names to ids, not "
                             f"{type(label2id).__name__} ({_show(label2id)}).")
        bad = [k for k in id2label if not 0 <= k < len(id2label)]
        if bad:
            raise ValueError(f"{name}: id2label should number its labels 0..{len(id2label) - 1}, but has the id "
                             f"{bad[0]}.")
        bad = [(k, v) for k, v in label2id.items() if not (_is_int(v) and 0 <= v < len(id2label))]
        if bad:
            raise ValueError(f"{name}: label2id maps {bad[0][0]!r} to {_show(bad[0][1])}, which is not a label id "
                             f"of id2label (0..{len(id2label) - 1}).")
        check_rope_scaling(self)

    @property
    def dtype(self):
        """The dtype the weights are stored in, as a `torch.dtype` (None when not recorded)."""
        value = self.__dict__.get("dtype")
        if value is None:
            return None
        import torch

        return getattr(torch, value)

    @dtype.setter
    def dtype(self, value) -> None:
        if value is not None:
            text = str(value).removeprefix("torch.") if not isinstance(value, str) else value.removeprefix("torch.")
            if text not in _FLOAT_DTYPES:
                raise ValueError(f"{type(self).__name__}: dtype (torch_dtype) is {_show(value)}; expected a floating "
                                 f"dtype ({', '.join(_FLOAT_DTYPES[:3])}, ...) or null: weights are never stored in "
                                 f"an integer or bool dtype.")
            value = {"half": "float16", "float": "float32", "double": "float64"}.get(text, text)
        self.__dict__["dtype"] = value

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
        """The old name of `dtype`."""
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

    def update_from_string(self, update_str: str) -> None:
        """Set existing keys from "key=value,key=value" (as on a command line): each value is read as the kind the
        key holds now (int, float, bool as true/false/yes/no/1/0, or string)."""
        for item in update_str.split(","):
            key, sep, text = item.partition("=")
            if not sep:
                raise ValueError(f"update_from_string expects key=value pairs separated by commas; got {item!r}.")
            if not hasattr(self, key):
                raise ValueError(f"key {key} isn't in the original config dict")
            old = getattr(self, key)
            if isinstance(old, bool):
                truth = {"true": True, "1": True, "y": True, "yes": True, "false": False, "0": False, "n": False,
                         "no": False}.get(text.lower())
                if truth is None:
                    raise ValueError(f"can't derive true or false from {text} (key {key})")
                value = truth
            elif isinstance(old, (int, float)):
                try:
                    value = type(old)(text)
                except ValueError:
                    raise ValueError(f"update_from_string: {key}={text!r} is not a {type(old).__name__}.") from None
            elif isinstance(old, str):
                value = text
            else:
                raise TypeError(f"You can only update int, float, bool or string values in the config, got {text} "
                                f"for key {key}")
            setattr(self, key, value)

    def get_text_config(self, decoder=None, encoder=None) -> "PretrainedConfig":
        """The config of the part that handles text: this config itself, for a config that has no parts."""
        return self

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
        """The JSON object of config.json, and `kwargs` less the hub options (plus `_source`: the file read, which
        `from_dict` names in its errors)."""
        hub = pop_hub_kwargs(kwargs)
        path = resolve_file(pretrained_model_name_or_path, CONFIG_NAME, **hub)
        return read_json(path, max_depth=MAX_JSON_DEPTH), {**kwargs, "_source": path}

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
        """A config from a dict of config.json keys; `kwargs` override them (those that are not config keys are
        returned with `return_unused_kwargs=True`). A bad value in the dict is a ValueError naming the key and,
        when the dict came from a file, the file."""
        return_unused = kwargs.pop("return_unused_kwargs", False)
        source = kwargs.pop("_source", None)
        kwargs.pop("trust_remote_code", None)
        if not isinstance(config_dict, dict):
            raise ValueError(f"{cls.__name__}.from_dict needs a dict of config keys, not {type(config_dict).__name__}.")
        try:
            config = cls(**config_dict)
        except (ValueError, TypeError, NotImplementedError) as e:
            if source is None:
                raise
            raise type(e)(f"{source}: {e}") from e
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
        if kwargs:
            config.validate()
        return (config, unused) if return_unused else config

    @classmethod
    def from_json_file(cls, json_file):
        return cls.from_dict(read_json(json_file, max_depth=MAX_JSON_DEPTH), _source=json_file)
