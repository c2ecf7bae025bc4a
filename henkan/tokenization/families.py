"""The model tokenizers that are not SentencePiece-based (those are in .sentencepiece_families): BERT, DistilBERT,
RoBERTa, BART, Blenderbot, Blenderbot-Small, GPT-2, ByT5, and the decoders' Qwen2, BLOOM, CodeGen.

Each model class only declares its defaults: special tokens, model inputs, where the special tokens go, and
which shared builder makes its Rust tokenizer from vocabulary files when a folder has no tokenizer.json
(WordPiece from vocab.txt, byte-level BPE from vocab.json + merges.txt, ...).

The names of the reference's pure-Python classes (`BertTokenizer`, ...) are the same tokenizers with the
defaults the pure-Python classes had (BERT's decode cleans up spaces before punctuation).
"""

from __future__ import annotations

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from ..logging import get_logger
from .base import SPECIAL_TOKENS_ATTRIBUTES, PreTrainedTokenizer, PreTrainedTokenizerFast, _to_ids, layout_pieces
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


class _SlowDecoding:
    """Decoding as the reference's pure-Python ("slow") tokenizers do, for tokenizers built from the vocabulary
    files of a model whose reference tokenizer is such a one (`_from_files`): added tokens that are not in the
    model's vocabulary stand alone (joined by spaces), and the runs of tokens between them become text through the
    family's `_tokens_to_text`. Built from a tokenizer.json, the Rust decoder is used, as the reference's fast
    tokenizers do."""

    _spaces_between_special_tokens = True
    _keeps_empty_texts = False  # a run of tokens that decodes to nothing still takes its place between the spaces

    @property
    def _slow_mode(self) -> bool:
        return self._from_files

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        if not self._from_files:
            return super().convert_tokens_to_string(tokens)
        return self._tokens_to_text(list(tokens))

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               spaces_between_special_tokens: bool | None = None, **kwargs) -> str:
        if not self._from_files:
            return super().decode(token_ids, skip_special_tokens, clean_up_tokenization_spaces)
        if spaces_between_special_tokens is None:
            spaces_between_special_tokens = self._spaces_between_special_tokens
        text = self._slow_decode(_to_ids(token_ids), skip_special_tokens, spaces_between_special_tokens)
        return self._clean_up(text, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs) -> list[str]:
        if not self._from_files:
            return super().batch_decode(sequences, skip_special_tokens, clean_up_tokenization_spaces)
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces, **kwargs) for s in sequences]

    def _id_to_token(self, index: int) -> str:
        token = self._tokenizer.id_to_token(index)
        return "" if token is None else token

    def _slow_decode(self, ids: list[int], skip_special_tokens: bool, spaces: bool) -> str:
        specials = set(self.all_special_tokens)
        skipped = set(self.all_special_ids) if skip_special_tokens else set()
        alone = self._standalone_tokens()
        added = {i: t.content for i, t in self.added_tokens_decoder.items()}
        texts, run = [], []
        for token in (added[i] if i in added else self._id_to_token(i) for i in ids if i not in skipped):
            if skip_special_tokens and token in specials:
                continue
            if token in alone:
                if run:
                    text = self._tokens_to_text(run)
                    if text or self._keeps_empty_texts:
                        texts.append(text)
                    run = []
                texts.append(token)
            else:
                run.append(token)
        if run:
            texts.append(self._tokens_to_text(run))
        return (" " if spaces else "").join(texts)

    def _standalone_tokens(self) -> set[str]:
        """The added tokens that decode on their own, between the runs of other tokens: those outside the model's
        vocabulary that are not special (or are additional special tokens)."""
        specials, vocab_size = set(self.all_special_tokens), self.vocab_size
        additional = set(self.additional_special_tokens)
        return {t.content for i, t in self.added_tokens_decoder.items()
                if i >= vocab_size and (t.content not in specials or t.content in additional)}

    def _tokens_to_text(self, tokens: list[str]) -> str:
        raise NotImplementedError


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


class ConvBertTokenizerFast(BertTokenizerFast):
    """ConvBERT's tokenizer: BERT's."""


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


class _DecoderTokenizerFast(PreTrainedTokenizerFast):
    """Tokenizers of decoder models, loaded from tokenizer.json (which holds where BOS/EOS go): no token type ids."""

    vocab_files_names = {"tokenizer_file": TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]


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


class BartTokenizerFast(_SlowDecoding, RobertaTokenizerFast):
    """BART's tokenizer: RoBERTa's byte-level BPE and layout. Built from vocab.json + merges.txt it decodes as the
    reference's slow BART tokenizer (added tokens spaced apart)."""

    def _tokens_to_text(self, tokens: list[str]) -> str:
        return decoders.ByteLevel().decode(tokens)


class BlenderbotTokenizerFast(BartTokenizerFast):
    """Blenderbot's tokenizer: RoBERTa's byte-level BPE with only </s> after the text. A pair is laid out as the
    reference's fast tokenizer does (the two texts, no </s>): its slow one drops the second text."""

    _template = ("$A eos", "$A $B")

    @classmethod
    def _post_processor(cls, backend: Tokenizer, kwargs: dict):
        eos = str(kwargs["eos_token"])
        return processors.TemplateProcessing(single=f"$A:0 {eos}:0", pair="$A:0 $B:0",
                                             special_tokens=[(eos, backend.token_to_id(eos))])


class DebertaTokenizerFast(_SlowDecoding, RobertaTokenizerFast):
    """DeBERTa's tokenizer: GPT-2's byte-level BPE with BERT's special tokens, layout and token types."""

    model_input_names = ["input_ids", "attention_mask", "token_type_ids"]
    _defaults = dict(errors="replace", bos_token="[CLS]", eos_token="[SEP]", sep_token="[SEP]", cls_token="[CLS]",
                     unk_token="[UNK]", pad_token="[PAD]", mask_token="[MASK]", add_prefix_space=False)
    _template = _BERT_LAYOUT
    _post_processor = classmethod(_template_processor)
    _backend_options = {}

    def _tokens_to_text(self, tokens: list[str]) -> str:
        return decoders.ByteLevel().decode(tokens)


class ByT5Tokenizer(_SlowDecoding, PreTrainedTokenizer):
    """ByT5's tokenizer: no vocabulary file; the UTF-8 bytes of the text, shifted by 3 (<pad>, </s>, <unk>), and
    `extra_ids` sentinels after them; </s> after the text."""

    vocab_files_names: dict[str, str] = {}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=125,
                     additional_special_tokens=None)
    _template = ("$A eos", "$A eos $B eos")
    _offset = 3

    def __init__(self, **kwargs):
        extra_ids = kwargs.get("extra_ids", 125)
        extra = kwargs.get("additional_special_tokens")
        if extra_ids > 0 and extra is None:
            kwargs["additional_special_tokens"] = [f"<extra_id_{i}>" for i in range(extra_ids)]
        elif extra_ids > 0 and extra:
            if len({str(t) for t in extra if "extra_id" in str(t)}) != extra_ids:
                raise ValueError(f"Both extra_ids ({extra_ids}) and additional_special_tokens ({extra}) are given "
                                 f"to ByT5Tokenizer: additional_special_tokens must then hold the {extra_ids} "
                                 "<extra_id_N> sentinels.")
        for key in ("pad_token", "eos_token", "unk_token"):
            value = kwargs.get(key, self._defaults[key])
            if isinstance(value, str):
                kwargs[key] = AddedToken(value, lstrip=True, rstrip=True, normalized=True, special=True)
        kwargs["extra_ids"] = 0  # (the reference saves 0: the sentinels are in additional_special_tokens)
        kwargs.setdefault("tokenizer_object", None)
        if kwargs["tokenizer_object"] is None and "tokenizer_file" not in kwargs:
            kwargs["tokenizer_object"] = self._byte_tokenizer(kwargs)
            self._built_here = True
        super().__init__(**kwargs)
        self._from_files = self._from_files or getattr(self, "_built_here", False)
        self._tokenizer.post_processor = self._byte_post_processor()

    def _byte_tokenizer(self, kwargs) -> Tokenizer:
        from tokenizers.pre_tokenizers import ByteLevel

        alphabet = sorted(ByteLevel.alphabet(), key=_byte_of)
        vocab = {str(kwargs[k]): i for i, k in enumerate(("pad_token", "eos_token", "unk_token"))}
        vocab.update({char: _byte_of(char) + self._offset for char in alphabet})
        backend = Tokenizer(models.BPE(vocab, [], unk_token=str(kwargs["unk_token"])))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
        backend.decoder = decoders.ByteLevel()
        return backend

    def _byte_post_processor(self):
        eos = str(self.eos_token)
        return processors.TemplateProcessing(single=f"$A:0 {eos}:0", pair=f"$A:0 {eos}:0 $B:0 {eos}:0",
                                             special_tokens=[(eos, self.eos_token_id)])

    @property
    def vocab_size(self) -> int:
        return 256

    def _latin1(self, token: str | None, added=None) -> str | None:
        """A byte token as the reference spells it (the character of the byte's code), other tokens as they are."""
        added = self.get_added_vocab() if added is None else added
        if token is None or token in added or self._tokenizer.token_to_id(token) is None:
            return token
        return chr(_byte_of(token))

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        tokens = super().convert_ids_to_tokens(ids, skip_special_tokens)
        if isinstance(tokens, str) or tokens is None:
            return self._latin1(tokens)
        added = self.get_added_vocab()
        return [self._latin1(t, added) for t in tokens]

    def convert_tokens_to_ids(self, tokens):
        """A byte's character gives the byte's id, an added token its id, anything else None (as the reference)."""
        if isinstance(tokens, str):
            added = self.get_added_vocab()
            if tokens in added:
                return added[tokens]
            return ord(tokens) + self._offset if len(tokens) == 1 and ord(tokens) < 256 else None
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        return self.convert_ids_to_tokens(self.encode_plus(text, pair, add_special_tokens=add_special_tokens,
                                                           **kwargs)["input_ids"])

    def get_vocab(self) -> dict[str, int]:
        return {**{chr(b): b + self._offset for b in range(256)}, **self.get_added_vocab()}

    def _slow_decode(self, ids: list[int], skip_special_tokens: bool, spaces: bool) -> str:
        self._added_now = self.get_added_vocab()
        try:
            return super()._slow_decode(ids, skip_special_tokens, spaces)
        finally:
            del self._added_now

    def _id_to_token(self, index: int) -> str:
        return self._latin1(super()._id_to_token(index), getattr(self, "_added_now", None))

    def _tokens_to_text(self, tokens: list[str]) -> str:
        added = getattr(self, "_added_now", None) or self.get_added_vocab()
        data = b"".join(t.encode() if t in added else bytes([ord(t)]) for t in tokens if t)
        return data.decode("utf-8", errors="ignore")

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        return ()

    @property
    def can_save_slow_tokenizer(self) -> bool:
        return True


def _byte_of(char: str) -> int:
    """The byte a character of the Rust ByteLevel alphabet stands for (GPT-2's byte-to-unicode table)."""
    code = ord(char)
    if 33 <= code <= 126 or 161 <= code <= 172 or 174 <= code <= 255:
        return code
    others = [b for b in range(256) if not (33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255)]
    return others[code - 256]


class BlenderbotSmallTokenizer(_SlowDecoding, PreTrainedTokenizer):
    """Blenderbot-Small's tokenizer: lowercased words, punctuation split off, a word-level BPE whose vocabulary
    marks the pieces that do not end a word with "@@" (vocab.json + merges.txt). Newlines after a word become
    "__newln__"."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(bos_token="__start__", eos_token="__end__", unk_token="__unk__", pad_token="__null__")
    _files_first = True
    _copies_files = True

    def _build_backend(self, files: dict, kwargs: dict) -> Tokenizer:
        import json

        with open(files["vocab_file"], encoding="utf-8") as f:
            self.encoder = json.load(f)
        self._decoder_dict = {i: t for t, i in self.encoder.items()}
        with open(files["merges_file"], encoding="utf-8") as f:
            lines = f.read().split("\n")[1:-1]
        merges = [tuple(line.split()) for line in lines if line.strip()]
        # the Rust BPE marks the last piece of a word (with </w>) where the vocabulary marks the others (with @@)
        specials = [str(kwargs[k]) for k in ("bos_token", "eos_token", "unk_token", "pad_token")]
        vocab = {(t[:-2] if t.endswith("@@") else t + "</w>"): i for t, i in self.encoder.items() if t not in specials}
        for token in specials:
            vocab[token] = self.encoder.get(token, len(vocab))
        missing = sorted({p for pair in merges for p in (*pair, pair[0] + pair[1])} - set(vocab))
        if missing:
            raise ValueError(f"{files['merges_file']} merges pieces that {files['vocab_file']} lacks (e.g. "
                             f"{missing[:3]}); are the two files from the same tokenizer?")
        backend = Tokenizer(models.BPE(vocab, merges, unk_token=str(kwargs["unk_token"]), end_of_word_suffix="</w>",
                                       fuse_unk=False, dropout=None))
        backend.normalizer = normalizers.Sequence([
            normalizers.Lowercase(), normalizers.Replace(Regex(r"(?<=\S)\n"), " __newln__ ")])
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Split(Regex(r"'|[.,!?()][^\s.,!?()']*|[^\s.,!?()']+"), behavior="isolated")])
        backend.decoder = decoders.BPEDecoder(suffix="</w>")
        return backend

    @property
    def vocab_size(self) -> int:
        return len(self.encoder) if self._from_files else super().vocab_size

    def _spelled(self, token: str) -> str:
        """A Rust token as the reference spells it ("piece@@" inside a word, "piece" at its end)."""
        if token in self.get_added_vocab():
            return token
        return token[:-4] if token.endswith("</w>") else token + "@@"

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        """The tokens as the reference spells them; an unknown piece shows its (lowercased) text."""
        encoding = self.encode_plus(text, pair, add_special_tokens=add_special_tokens, **kwargs)
        tokens = encoding.tokens()
        if not self._from_files or not encoding.encodings:
            return tokens
        found, unk = encoding.encodings[0], self.unk_token_id
        words, sequences = found.word_ids, found.sequence_ids
        out = []
        for i, (token, index, (start, end)) in enumerate(zip(tokens, found.ids, found.offsets)):
            source = text if sequences[i] == 0 else pair
            if index == unk and isinstance(source, str) and source[start:end] != str(self.unk_token):
                inside = i + 1 < len(tokens) and words[i + 1] is not None and words[i + 1] == words[i] and \
                    sequences[i + 1] == sequences[i]
                out.append(source[start:end].lower() + ("@@" if inside else ""))
            else:
                out.append(self._spelled(token))
        return out

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        if not self._from_files:
            return super().convert_ids_to_tokens(ids, skip_special_tokens)
        if isinstance(ids, int) or getattr(ids, "ndim", None) == 0:
            return self._id_to_token(int(ids))
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._id_to_token(i) for i in _to_ids(ids) if i not in skip]

    def convert_tokens_to_ids(self, tokens):
        if not self._from_files or not isinstance(tokens, str):
            return super().convert_tokens_to_ids(tokens)
        added = self.get_added_vocab()
        return added[tokens] if tokens in added else self.encoder.get(tokens.lower(), self.unk_token_id)

    def get_vocab(self) -> dict[str, int]:
        return {**self.encoder, **self.get_added_vocab()} if self._from_files else super().get_vocab()

    def _id_to_token(self, index: int) -> str:
        found = {i: t.content for i, t in self.added_tokens_decoder.items()}
        return found.get(index) or self._decoder_dict.get(index, str(self.unk_token))

    def _tokens_to_text(self, tokens: list[str]) -> str:
        return " ".join(tokens).replace("@@ ", "").strip()


class BertTokenizer(BertTokenizerFast, PreTrainedTokenizer):
    """The name of BERT's pure-Python tokenizer, served by the Rust one."""


class ConvBertTokenizer(ConvBertTokenizerFast, PreTrainedTokenizer):
    """The name of ConvBERT's pure-Python tokenizer, served by the Rust one."""


class DistilBertTokenizer(DistilBertTokenizerFast, PreTrainedTokenizer):
    """The name of DistilBERT's pure-Python tokenizer, served by the Rust one."""


class RobertaTokenizer(RobertaTokenizerFast, PreTrainedTokenizer):
    """The name of RoBERTa's pure-Python tokenizer, served by the Rust one."""


class GPT2Tokenizer(GPT2TokenizerFast, PreTrainedTokenizer):
    """The name of GPT-2's pure-Python tokenizer, served by the Rust one."""


class Qwen2Tokenizer(Qwen2TokenizerFast, PreTrainedTokenizer):
    """The name of Qwen2's pure-Python tokenizer, served by the Rust one (from tokenizer.json)."""


class CodeGenTokenizer(CodeGenTokenizerFast, PreTrainedTokenizer):
    """The name of CodeGen's pure-Python tokenizer, served by the Rust one."""




class DebertaTokenizer(DebertaTokenizerFast, PreTrainedTokenizer):
    """The name of DeBERTa's pure-Python tokenizer, served by the Rust one."""


class BartTokenizer(BartTokenizerFast, PreTrainedTokenizer):
    """The name of BART's pure-Python tokenizer, served by the Rust one."""


class BlenderbotTokenizer(BlenderbotTokenizerFast, PreTrainedTokenizer):
    """The name of Blenderbot's pure-Python tokenizer, served by the Rust one."""


__all__ = [
    "BertTokenizerFast",
    "DistilBertTokenizerFast",
    "RobertaTokenizerFast",
    "GPT2TokenizerFast",
    "Qwen2TokenizerFast",
    "BloomTokenizerFast",
    "CodeGenTokenizerFast",
    "TokenizersBackend",
    "BartTokenizerFast",
    "BlenderbotTokenizerFast",
    "ByT5Tokenizer",
    "BlenderbotSmallTokenizer",
    "BertTokenizer",
    "DistilBertTokenizer",
    "RobertaTokenizer",
    "GPT2Tokenizer",
    "Qwen2Tokenizer",
    "CodeGenTokenizer",
    "BartTokenizer",
    "BlenderbotTokenizer",
    "DebertaTokenizerFast",
    "DebertaTokenizer",
    "ConvBertTokenizerFast",
    "ConvBertTokenizer",
]
