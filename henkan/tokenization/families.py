"""The model tokenizers (BERT, DistilBERT, RoBERTa, XLM-R, CamemBERT, ALBERT, GPT-2, and the decoders' Llama,
Code Llama, Gemma, Qwen2, BLOOM, CodeGen).

Each model class only declares its defaults: special tokens, model inputs, where the special tokens go, and
which shared builder makes its Rust tokenizer from vocabulary files when a folder has no tokenizer.json
(WordPiece from vocab.txt, byte-level BPE from vocab.json + merges.txt). The SentencePiece-based classes
(XLM-R, CamemBERT, ALBERT) load from tokenizer.json only.

The names of the reference's pure-Python classes (`BertTokenizer`, ...) are the same tokenizers with the
defaults the pure-Python classes had (BERT's decode cleans up spaces before punctuation).
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from ..logging import get_logger
from .base import SPECIAL_TOKENS_ATTRIBUTES, PreTrainedTokenizer, PreTrainedTokenizerFast, layout_pieces
from .files import TOKENIZER_FILE

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


__all__ = [
    "BertTokenizerFast",
    "DistilBertTokenizerFast",
    "RobertaTokenizerFast",
    "GPT2TokenizerFast",
    "XLMRobertaTokenizerFast",
    "CamembertTokenizerFast",
    "AlbertTokenizerFast",
    "LlamaTokenizerFast",
    "CodeLlamaTokenizerFast",
    "GemmaTokenizerFast",
    "Qwen2TokenizerFast",
    "BloomTokenizerFast",
    "CodeGenTokenizerFast",
    "TokenizersBackend",
    "BertTokenizer",
    "DistilBertTokenizer",
    "RobertaTokenizer",
    "GPT2Tokenizer",
    "XLMRobertaTokenizer",
    "CamembertTokenizer",
    "AlbertTokenizer",
    "LlamaTokenizer",
    "CodeLlamaTokenizer",
    "GemmaTokenizer",
    "Qwen2Tokenizer",
    "CodeGenTokenizer",
]
