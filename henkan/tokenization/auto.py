"""`AutoTokenizer`: which tokenizer class a folder (or Hub id, or model type) is loaded with."""

from __future__ import annotations

import os

from ..hub import pop_hub_kwargs, resolve_file
from ..logging import get_logger
from .base import PreTrainedTokenizerFast
from .families import (
    BartTokenizer, BartTokenizerFast, BertTokenizer, BertTokenizerFast, BlenderbotSmallTokenizer, BlenderbotTokenizer,
    BlenderbotTokenizerFast, BloomTokenizerFast, ByT5Tokenizer, CodeGenTokenizer, CodeGenTokenizerFast,
    ConvBertTokenizer, ConvBertTokenizerFast, DebertaTokenizer, DebertaTokenizerFast, DistilBertTokenizer,
    DistilBertTokenizerFast, GPT2Tokenizer, GPT2TokenizerFast, Qwen2Tokenizer, Qwen2TokenizerFast, RobertaTokenizer,
    RobertaTokenizerFast,
)
from .files import KNOWN_CLASSES, TOKENIZER_CONFIG_FILE, _read_json
from .multimodal import (
    CLIPTokenizer, CLIPTokenizerFast, Wav2Vec2CTCTokenizer, WhisperTokenizer, WhisperTokenizerFast,
)
from .segmenters import BioGptTokenizer, CpmAntTokenizer, CTRLTokenizer
from .sentencepiece_families import (
    AlbertTokenizer, AlbertTokenizerFast, BarthezTokenizer, BarthezTokenizerFast, BartphoTokenizer,
    BertGenerationTokenizer, BigBirdTokenizer, BigBirdTokenizerFast, CamembertTokenizer, CamembertTokenizerFast,
    CodeLlamaTokenizer, CodeLlamaTokenizerFast, CpmTokenizer, CpmTokenizerFast, DebertaV2Tokenizer,
    DebertaV2TokenizerFast, LlamaTokenizer, LlamaTokenizerFast, MarianTokenizer, MBart50Tokenizer,
    MBart50TokenizerFast, MBartTokenizer, MBartTokenizerFast, MT5Tokenizer, MT5TokenizerFast, PegasusTokenizer,
    PegasusTokenizerFast, T5Tokenizer, T5TokenizerFast, XLMRobertaTokenizer, XLMRobertaTokenizerFast, XLNetTokenizer,
    XLNetTokenizerFast,
)

logger = get_logger(__name__)

# ------------------------------------------------------------------------------------------------ AutoTokenizer

# model_type (config.json) -> (slow-name class, fast class); AutoTokenizer.register adds to it
TOKENIZER_MAPPING: dict[str, tuple[type | None, type | None]] = {
    "bert": (BertTokenizer, BertTokenizerFast),
    "distilbert": (DistilBertTokenizer, DistilBertTokenizerFast),
    "roberta": (RobertaTokenizer, RobertaTokenizerFast),
    "xlm-roberta": (XLMRobertaTokenizer, XLMRobertaTokenizerFast),
    "camembert": (CamembertTokenizer, CamembertTokenizerFast),
    "albert": (AlbertTokenizer, AlbertTokenizerFast),
    "gpt2": (GPT2Tokenizer, GPT2TokenizerFast),
    "llama": (LlamaTokenizer, LlamaTokenizerFast),
    "mistral": (LlamaTokenizer, LlamaTokenizerFast),
    "qwen2": (Qwen2Tokenizer, Qwen2TokenizerFast),
    "bloom": (None, BloomTokenizerFast),
    "codegen": (CodeGenTokenizer, CodeGenTokenizerFast),
    "code_llama": (CodeLlamaTokenizer, CodeLlamaTokenizerFast),
    "t5": (T5Tokenizer, T5TokenizerFast),
    "mt5": (MT5Tokenizer, MT5TokenizerFast),
    "byt5": (ByT5Tokenizer, None),
    "bart": (BartTokenizer, BartTokenizerFast),
    "mbart": (MBartTokenizer, MBartTokenizerFast),
    "mbart50": (MBart50Tokenizer, MBart50TokenizerFast),
    "marian": (MarianTokenizer, None),
    "pegasus": (PegasusTokenizer, PegasusTokenizerFast),
    "bigbird_pegasus": (PegasusTokenizer, PegasusTokenizerFast),
    "blenderbot": (BlenderbotTokenizer, BlenderbotTokenizerFast),
    "blenderbot-small": (BlenderbotSmallTokenizer, None),
    "barthez": (BarthezTokenizer, BarthezTokenizerFast),
    "bartpho": (BartphoTokenizer, None),
    "bert-generation": (BertGenerationTokenizer, None),
    "deberta": (DebertaTokenizer, DebertaTokenizerFast),
    "convbert": (ConvBertTokenizer, ConvBertTokenizerFast),
    "bros": (BertTokenizer, BertTokenizerFast),
    "xlnet": (XLNetTokenizer, XLNetTokenizerFast),
    "big_bird": (BigBirdTokenizer, BigBirdTokenizerFast),
    "data2vec-text": (RobertaTokenizer, RobertaTokenizerFast),
    "deberta-v2": (DebertaV2Tokenizer, DebertaV2TokenizerFast),
    "clip": (CLIPTokenizer, CLIPTokenizerFast),
    "chinese_clip": (BertTokenizer, BertTokenizerFast),
    "align": (BertTokenizer, BertTokenizerFast),
    "altclip": (XLMRobertaTokenizer, XLMRobertaTokenizerFast),
    "clap": (RobertaTokenizer, RobertaTokenizerFast),
    "wav2vec2": (Wav2Vec2CTCTokenizer, None),
    "data2vec-audio": (Wav2Vec2CTCTokenizer, None),
    "whisper": (WhisperTokenizer, WhisperTokenizerFast),
    "biogpt": (BioGptTokenizer, None),
    "ctrl": (CTRLTokenizer, None),
    "cpmant": (CpmAntTokenizer, None),
}
_BUILTIN_MODEL_TYPES = frozenset(TOKENIZER_MAPPING)


def tokenizer_class_from_name(name: str) -> type | None:
    """The tokenizer class tokenizer_config.json calls `name`: one given to AutoTokenizer.register, or henkan's."""
    registered = (cls for pair in TOKENIZER_MAPPING.values() for cls in pair if cls is not None)
    return next((cls for cls in registered if cls.__name__ == name), None) or KNOWN_CLASSES.get(name)


class AutoTokenizer:
    """Picks the tokenizer class a folder or Hub id was saved with, and loads it.

    The class comes from tokenizer_config.json's `tokenizer_class`, else from config.json's `model_type`, else
    a generic `PreTrainedTokenizerFast` reads the tokenizer.json. Code from model repositories (`auto_map`) is
    never run: a standard class is used when one fits.
    """

    def __init__(self):
        raise OSError(
            "AutoTokenizer is designed to be instantiated using the "
            "`AutoTokenizer.from_pretrained(pretrained_model_name_or_path)` method."
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *inputs, use_fast: bool = True,
                        trust_remote_code: bool = False, **kwargs):
        hub = pop_hub_kwargs(kwargs)
        config = kwargs.pop("config", None)
        tokenizer_type = kwargs.pop("tokenizer_type", None)
        name = os.fspath(pretrained_model_name_or_path)
        if tokenizer_type is not None:
            if tokenizer_type not in TOKENIZER_MAPPING:
                raise ValueError(f"Passed `tokenizer_type` {tokenizer_type} does not exist. `tokenizer_type` should "
                                 f"be one of {', '.join(TOKENIZER_MAPPING)}.")
            tokenizer_class = _pick(TOKENIZER_MAPPING[tokenizer_type], use_fast)
        else:
            tokenizer_class = _choose_class(name, config, use_fast, trust_remote_code, hub)
        return tokenizer_class.from_pretrained(name, *inputs, **hub, **kwargs)

    @staticmethod
    def register(config_class, slow_tokenizer_class=None, fast_tokenizer_class=None, exist_ok: bool = False):
        """Make AutoTokenizer load `config_class.model_type` (or a model_type string) with the given classes."""
        if slow_tokenizer_class is None and fast_tokenizer_class is None:
            raise ValueError("You need to pass either a `slow_tokenizer_class` or a `fast_tokenizer_class")
        model_type = config_class if isinstance(config_class, str) else getattr(config_class, "model_type", None)
        if not model_type:
            raise ValueError(f"{config_class} has no `model_type`, which AutoTokenizer.register needs.")
        if model_type in _BUILTIN_MODEL_TYPES:
            if not exist_ok:
                raise ValueError(f"'{config_class}' is already used by a Transformers model.")
            slow, fast = None, None
        else:  # registering one kind of class again keeps the other
            slow, fast = TOKENIZER_MAPPING.get(model_type, (None, None))
        TOKENIZER_MAPPING[model_type] = (slow_tokenizer_class or slow, fast_tokenizer_class or fast)


def _pick(classes: tuple[type | None, type | None], use_fast: bool) -> type:
    slow, fast = classes
    return fast if fast is not None and (use_fast or slow is None) else slow


def _class_named(class_name: str | None, use_fast: bool) -> type | None:
    if not class_name:
        return None
    candidates = [class_name + "Fast", class_name] if use_fast and not class_name.endswith("Fast") else [class_name]
    return next((c for c in map(tokenizer_class_from_name, candidates) if c is not None), None)


def _choose_class(name: str, config, use_fast: bool, trust_remote_code: bool, hub: dict) -> type:
    tokenizer_config = _read_json(resolve_file(name, TOKENIZER_CONFIG_FILE, required=False, **hub)) or {}
    class_name, auto_map = tokenizer_config.get("tokenizer_class"), tokenizer_config.get("auto_map")
    found = _class_named(class_name, use_fast)
    if found is None:  # the model's config may name the class, or at least the model type
        if config is None:
            config = _read_json(resolve_file(name, "config.json", required=False, **hub)) or {}
        elif not isinstance(config, dict):
            config = {key: getattr(config, key, None) for key in ("tokenizer_class", "model_type", "auto_map")}
        class_name = class_name or config.get("tokenizer_class")
        auto_map = auto_map or config.get("auto_map")
        found = _class_named(class_name, use_fast)
        if found is None and config.get("model_type") in TOKENIZER_MAPPING:
            found = _pick(TOKENIZER_MAPPING[config["model_type"]], use_fast)
    if isinstance(auto_map, dict):
        auto_map = auto_map.get("AutoTokenizer")
    if auto_map:
        if found is None:
            raise ValueError(
                f"'{name}' uses its own tokenizer code ({auto_map}), and henkan does not run code from model "
                "repositories. Load a tokenizer.json with PreTrainedTokenizerFast.from_pretrained, or register a "
                "class with AutoTokenizer.register."
            )
        if trust_remote_code:
            logger.warning(f"henkan does not run code from model repositories; '{name}' is loaded with "
                           f"{found.__name__} instead of {auto_map}.")
    if found is not None:
        return found
    if class_name:
        logger.warning(f"henkan has no tokenizer class {class_name}; '{name}' is loaded with "
                       "PreTrainedTokenizerFast from its tokenizer.json.")
    return PreTrainedTokenizerFast
