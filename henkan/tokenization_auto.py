"""The model tokenizers (BERT, DistilBERT, RoBERTa, XLM-R, CamemBERT, ALBERT, GPT-2, and the decoders' Llama,
Code Llama, Gemma, Qwen2, BLOOM, CodeGen) and `AutoTokenizer`.

Each model class only declares its defaults: special tokens, model inputs, where the special tokens go, and
which shared builder makes its Rust tokenizer from vocabulary files when a folder has no tokenizer.json
(WordPiece from vocab.txt, byte-level BPE from vocab.json + merges.txt). The SentencePiece-based classes
(XLM-R, CamemBERT, ALBERT) load from tokenizer.json only.

The names of the reference's pure-Python classes (`BertTokenizer`, ...) are the same tokenizers with the
defaults the pure-Python classes had (BERT's decode cleans up spaces before punctuation).
"""

from __future__ import annotations

import os

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from .hub import pop_hub_kwargs, resolve_file
from .logging import get_logger
from .tokenization import SPECIAL_TOKENS_ATTRIBUTES, PreTrainedTokenizer, PreTrainedTokenizerFast, layout_pieces
from .tokenization_files import TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, _read_json

logger = get_logger(__name__)

# ------------------------------------------------------------------------------------- builders, one per algorithm


def build_wordpiece(cls, files: dict, kwargs: dict) -> Tokenizer:
    """BERT's WordPiece from vocab.txt (one token a line, the line number is the id)."""
    with open(files["vocab_file"], encoding="utf-8") as f:
        vocab = {line.rstrip("\n"): index for index, line in enumerate(f)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token=str(kwargs["unk_token"]), max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=kwargs["tokenize_chinese_chars"],
        strip_accents=kwargs["strip_accents"], lowercase=kwargs["do_lower_case"],
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece(prefix="##")
    backend.post_processor = cls._post_processor(backend, kwargs)
    return backend


def build_byte_level_bpe(cls, files: dict, kwargs: dict) -> Tokenizer:
    """GPT-2's byte-level BPE from vocab.json + merges.txt.

    As the reference's byte-level tokenizers do, special tokens given as strings match on normalized text.
    """
    model = models.BPE.from_file(files["vocab_file"], files["merges_file"], dropout=None,
                                 continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False)
    backend = Tokenizer(model)
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=kwargs["add_prefix_space"])
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = cls._post_processor(backend, kwargs)
    for key in SPECIAL_TOKENS_ATTRIBUTES[:-1]:
        if isinstance(kwargs.get(key), str):
            kwargs[key] = AddedToken(kwargs[key], lstrip=False, rstrip=False, normalized=True, special=True)
    return backend


def _template_processor(cls, backend: Tokenizer, kwargs: dict):
    """A TemplateProcessing from the class's `_template` ("cls $A sep" -> "[CLS]:0 $A:0 [SEP]:0")."""
    tokens = {name: str(kwargs[name + "_token"]) for layout in cls._template
              for name, _ in layout_pieces(layout) if not name.startswith("$")}

    def spell(layout: str) -> str:
        return " ".join(f"{tokens.get(name, name)}:{type_id}" for name, type_id in layout_pieces(layout))

    specials = [(token, backend.token_to_id(token)) for token in dict.fromkeys(tokens.values())]
    return processors.TemplateProcessing(single=spell(cls._template[0]), pair=spell(cls._template[1]),
                                         special_tokens=specials)


# ------------------------------------------------------------------------------------------------ model classes

_BERT_LAYOUT = ("cls $A sep", "cls $A sep $B:1 sep:1")
_ROBERTA_LAYOUT = ("cls $A sep", "cls $A sep sep $B sep")
_SPECIALS_ROBERTA = dict(bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>",
                         pad_token="<pad>", mask_token="<mask>")


class BertTokenizerFast(PreTrainedTokenizerFast):
    """BERT's WordPiece tokenizer (uncased by default: `do_lower_case=True`)."""

    vocab_files_names = {"vocab_file": "vocab.txt", "tokenizer_file": TOKENIZER_FILE}
    _defaults = dict(do_lower_case=True, unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                     mask_token="[MASK]", tokenize_chinese_chars=True, strip_accents=None)
    _slow_defaults = dict(clean_up_tokenization_spaces=True)
    _template = _BERT_LAYOUT
    _build_backend = classmethod(build_wordpiece)
    _post_processor = classmethod(_template_processor)
    _backend_options = {"normalizer": {"lowercase": "do_lower_case", "strip_accents": "strip_accents",
                                       "handle_chinese_chars": "tokenize_chinese_chars"}}


class DistilBertTokenizerFast(BertTokenizerFast):
    """DistilBERT's tokenizer: BERT's, without token type ids."""

    model_input_names = ["input_ids", "attention_mask"]


class RobertaTokenizerFast(PreTrainedTokenizerFast):
    """RoBERTa's byte-level BPE tokenizer."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(errors="replace", **_SPECIALS_ROBERTA, add_prefix_space=False, trim_offsets=True)
    _template = _ROBERTA_LAYOUT
    _build_backend = classmethod(build_byte_level_bpe)
    _backend_options = {"post_processor": {"add_prefix_space": "add_prefix_space", "trim_offsets": "trim_offsets"}}
    _mask_lstrip = True
    _words_need_prefix_space = True

    @classmethod
    def _post_processor(cls, backend: Tokenizer, kwargs: dict):
        sep, bos = str(kwargs["sep_token"]), str(kwargs["cls_token"])
        return processors.RobertaProcessing((sep, backend.token_to_id(sep)), (bos, backend.token_to_id(bos)),
                                            trim_offsets=kwargs["trim_offsets"],
                                            add_prefix_space=kwargs["add_prefix_space"])


class GPT2TokenizerFast(PreTrainedTokenizerFast):
    """GPT-2's byte-level BPE tokenizer: no special tokens around the text, and no padding token."""

    vocab_files_names = RobertaTokenizerFast.vocab_files_names
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(unk_token="<|endoftext|>", bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                     add_prefix_space=False)
    _build_backend = classmethod(build_byte_level_bpe)
    _words_need_prefix_space = True

    @classmethod
    def _post_processor(cls, backend: Tokenizer, kwargs: dict):
        return processors.ByteLevel(trim_offsets=False)


class XLMRobertaTokenizerFast(PreTrainedTokenizerFast):
    """XLM-RoBERTa's SentencePiece (Unigram) tokenizer, loaded from tokenizer.json."""

    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(_SPECIALS_ROBERTA)
    _template = _ROBERTA_LAYOUT
    _mask_lstrip = True


class CamembertTokenizerFast(XLMRobertaTokenizerFast):
    """CamemBERT's tokenizer: XLM-R's, with three extra special tokens."""

    _defaults = dict(_SPECIALS_ROBERTA, additional_special_tokens=["<s>NOTUSED", "</s>NOTUSED", "<unk>NOTUSED"])


class AlbertTokenizerFast(PreTrainedTokenizerFast):
    """ALBERT's SentencePiece tokenizer, loaded from tokenizer.json."""

    vocab_files_names = {"vocab_file": "spiece.model", "tokenizer_file": TOKENIZER_FILE}
    _defaults = dict(do_lower_case=True, remove_space=True, keep_accents=False, bos_token="[CLS]",
                     eos_token="[SEP]", unk_token="<unk>", sep_token="[SEP]", pad_token="<pad>", cls_token="[CLS]",
                     mask_token="[MASK]")
    _template = _BERT_LAYOUT
    _mask_lstrip = True


class _DecoderTokenizerFast(PreTrainedTokenizerFast):
    """Tokenizers of decoder models, loaded from tokenizer.json (which holds where BOS/EOS go): no token type ids."""

    vocab_files_names = {"tokenizer_file": TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]


class LlamaTokenizerFast(_DecoderTokenizerFast):
    """Llama's (and Mistral's) SentencePiece-style tokenizer; pads on the left, as batched generation needs."""

    padding_side = "left"
    _defaults = dict(unk_token="<unk>", bos_token="<s>", eos_token="</s>", add_bos_token=True, add_eos_token=False)

    @property
    def _template(self) -> tuple[str, str]:
        """BOS before each sequence and EOS after it, as `add_bos_token` / `add_eos_token` say."""
        bos = ["bos"] if self.init_kwargs.get("add_bos_token", True) else []
        eos = ["eos"] if self.init_kwargs.get("add_eos_token", False) else []
        first = " ".join([*bos, "$A", *eos])
        return first, first + " " + " ".join(f"{piece}:1" for piece in [*bos, "$B", *eos])

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        """One type id per given token, 0 then 1, as the reference's Llama tokenizer (its BOS is not counted)."""
        return [0] * len(token_ids_0) + [1] * len(token_ids_1 or [])


class CodeLlamaTokenizerFast(LlamaTokenizerFast):
    """Code Llama's tokenizer: Llama's, with the infilling tokens in its tokenizer.json."""


class GemmaTokenizerFast(LlamaTokenizerFast):
    _defaults = dict(unk_token="<unk>", bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                     add_bos_token=True, add_eos_token=False)


class Qwen2TokenizerFast(_DecoderTokenizerFast):
    _defaults = dict(unk_token=None, bos_token=None, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


class BloomTokenizerFast(_DecoderTokenizerFast):
    padding_side = "left"
    _defaults = dict(unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>")


class CodeGenTokenizerFast(GPT2TokenizerFast):
    """CodeGen's tokenizer: GPT-2's byte-level BPE."""


class TokenizersBackend(PreTrainedTokenizerFast):
    """The generic tokenizer transformers 5.x saves (tokenizer_class "TokenizersBackend"): a tokenizer.json whose
    calls return no token type ids. It is saved as a PreTrainedTokenizerFast, which 4.x loads as well."""

    model_input_names = ["input_ids", "attention_mask"]

    def _saved_class_name(self) -> str:
        return "PreTrainedTokenizerFast"


class BertTokenizer(BertTokenizerFast, PreTrainedTokenizer):
    """The name of BERT's pure-Python tokenizer, served by the Rust one."""


class DistilBertTokenizer(DistilBertTokenizerFast, PreTrainedTokenizer):
    """The name of DistilBERT's pure-Python tokenizer, served by the Rust one."""


class RobertaTokenizer(RobertaTokenizerFast, PreTrainedTokenizer):
    """The name of RoBERTa's pure-Python tokenizer, served by the Rust one."""


class GPT2Tokenizer(GPT2TokenizerFast, PreTrainedTokenizer):
    """The name of GPT-2's pure-Python tokenizer, served by the Rust one."""


class XLMRobertaTokenizer(XLMRobertaTokenizerFast, PreTrainedTokenizer):
    """The name of XLM-R's SentencePiece tokenizer, served by the Rust one (from tokenizer.json)."""


class CamembertTokenizer(CamembertTokenizerFast, PreTrainedTokenizer):
    """The name of CamemBERT's SentencePiece tokenizer, served by the Rust one (from tokenizer.json)."""


class AlbertTokenizer(AlbertTokenizerFast, PreTrainedTokenizer):
    """The name of ALBERT's SentencePiece tokenizer, served by the Rust one (from tokenizer.json)."""


class LlamaTokenizer(LlamaTokenizerFast, PreTrainedTokenizer):
    """The name of Llama's SentencePiece tokenizer, served by the Rust one (from tokenizer.json)."""


class CodeLlamaTokenizer(CodeLlamaTokenizerFast, PreTrainedTokenizer):
    """The name of Code Llama's SentencePiece tokenizer, served by the Rust one (from tokenizer.json)."""


class GemmaTokenizer(GemmaTokenizerFast, PreTrainedTokenizer):
    """The name of Gemma's SentencePiece tokenizer, served by the Rust one (from tokenizer.json)."""


class Qwen2Tokenizer(Qwen2TokenizerFast, PreTrainedTokenizer):
    """The name of Qwen2's pure-Python tokenizer, served by the Rust one (from tokenizer.json)."""


class CodeGenTokenizer(CodeGenTokenizerFast, PreTrainedTokenizer):
    """The name of CodeGen's pure-Python tokenizer, served by the Rust one."""


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
}
# tokenizer classes no model_type maps to, still known by name in tokenizer_config.json
_OTHER_CLASSES = (CodeLlamaTokenizer, CodeLlamaTokenizerFast, GemmaTokenizer, GemmaTokenizerFast)
_BUILTIN_MODEL_TYPES = frozenset(TOKENIZER_MAPPING)
_GENERIC_CLASSES = (PreTrainedTokenizerFast, PreTrainedTokenizer, TokenizersBackend)


def tokenizer_class_from_name(name: str) -> type | None:
    """The tokenizer class tokenizer_config.json calls `name`: henkan's, or one given to AutoTokenizer.register."""
    known = (*_GENERIC_CLASSES, *_OTHER_CLASSES,
             *(cls for pair in TOKENIZER_MAPPING.values() for cls in pair if cls is not None))
    return next((cls for cls in known if cls.__name__ == name), None)


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
