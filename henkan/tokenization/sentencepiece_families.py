"""The tokenizers of the models whose original tokenizer is a SentencePiece model: T5 / mT5, Llama / Code Llama /
Gemma, XLM-R, CamemBERT, ALBERT, mBART / mBART-50, Marian, Pegasus, BARThez, BARTpho and BERT-Generation.

Each loads a tokenizer.json when the folder has one (the fast tokenizers of the reference). A folder that ships
only the SentencePiece model is converted (henkan.tokenization.sentencepiece) into a Rust tokenizer that gives the
ids of the reference's SentencePiece ("slow") tokenizer; so do the slow class names (`T5Tokenizer`, ...) whenever
the model file is there. Tokenizers built from the model file also decode as the slow tokenizers do: special
tokens and added tokens are spaced the way each family's `convert_tokens_to_string` spaces them, and pieces are
turned into text as SentencePiece does.

What each family declares: where its ids come from (`_vocabulary`: the model's pieces, shifted behind the
fairseq special tokens for XLM-R-like models, or a separate vocabulary file for Marian and BARTpho), its special
tokens and their layout (`_template`), whether the dummy-prefix space goes before every piece of text or only the
first (`legacy`), and how tokens become text again (`_tokens_to_text`).
"""

from __future__ import annotations

import functools
import json
import re
import sys

from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers, processors

from ..logging import get_logger
from .base import PreTrainedTokenizer, PreTrainedTokenizerFast, _to_ids, layout_pieces
from .families import _BERT_LAYOUT, _ROBERTA_LAYOUT, _SPECIALS_ROBERTA, _DecoderTokenizerFast, _SlowDecoding
from .files import TOKENIZER_FILE
from .sentencepiece import SPIECE_UNDERLINE, PieceDecoder, build_backend, model_pieces, read_model

logger = get_logger(__name__)

_LEGACY_WARNING = (
    "{cls} uses the legacy behaviour of the reference's SentencePiece tokenizers (legacy=True): a space is put "
    "before the text that follows a special token. Pass legacy=False for the newer behaviour; legacy=True keeps "
    "the ids this checkpoint was trained with."
)


# ------------------------------------------------------------------------------------------------ shared base


class _SentencePieceTokenizerFast(_SlowDecoding, PreTrainedTokenizerFast):
    """A tokenizer whose original is a SentencePiece model: built from it when the folder has no tokenizer.json
    (or for the slow names), then encoding and decoding as the reference's SentencePiece tokenizer does."""

    vocab_files_names = {"vocab_file": "spiece.model", "tokenizer_file": TOKENIZER_FILE}
    _files_first = True
    _copies_files = True
    _dummy_prefix_used = "always"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._from_files:
            self.update_post_processor()

    # --- building from the model file

    def _build_backend(self, files: dict, kwargs: dict) -> Tokenizer:
        proto = read_model(files["vocab_file"])
        self._proto = proto
        vocab, unk_id = self._vocabulary(proto, files, kwargs)
        self._dummy_prefix_used = self._dummy_prefix(kwargs)
        backend = build_backend(proto, vocab, unk_id, dummy_prefix=self._dummy_prefix_used,
                                extra_normalizers=self._extra_normalizers(kwargs))
        self._pieces_text = PieceDecoder(proto, add_dummy_prefix=self._decoder_strips_first(kwargs))
        self._prepare_backend(backend, kwargs)
        return backend

    def _for_backend(self, tokens: list, special: bool = False) -> list:
        """Built from the model file, added tokens match the text as it is, before normalization, as in the slow
        tokenizer (whose text between them is then normalized with its spaces stripped)."""
        if not self._from_files:
            return tokens
        return [AddedToken(t, normalized=False, special=special) if isinstance(t, str) else
                AddedToken(t.content, single_word=t.single_word, lstrip=t.lstrip, rstrip=t.rstrip, normalized=False,
                           special=t.special) for t in tokens]

    def _vocabulary(self, proto, files: dict, kwargs: dict) -> tuple[list[tuple[str, float]], int]:
        """(piece, score) in id order, and the unknown piece's id: by default the model's own."""
        return model_pieces(proto), proto.trainer_spec.unk_id

    def _dummy_prefix(self, kwargs: dict) -> str:
        return "always"

    def _extra_normalizers(self, kwargs: dict) -> tuple:
        return ()

    def _decoder_strips_first(self, kwargs: dict) -> bool | None:
        return None  # as the model says

    def _prepare_backend(self, backend: Tokenizer, kwargs: dict) -> None:
        """Add what the family puts in the vocabulary before the special tokens are registered."""

    def update_post_processor(self) -> None:
        """Set the Rust post-processor from the family's special-token layout (`_template`)."""
        layout = self._template
        if layout is None:
            self._tokenizer.post_processor = None
            return
        tokens: dict[str, int] = {}

        def spell(text: str) -> str:
            parts = []
            for name, type_id in layout_pieces(text):
                if name.startswith("$"):
                    parts.append(f"{name}:{type_id}")
                else:
                    token = str(getattr(self, name + "_token"))
                    tokens[token] = getattr(self, name + "_token_id")
                    parts.append(f"{token}:{type_id}")
            return " ".join(parts)

        single, pair = spell(layout[0]), spell(layout[1])
        self._tokenizer.post_processor = processors.TemplateProcessing(single=single, pair=pair,
                                                                       special_tokens=list(tokens.items()))

    # --- tokens and text as the slow tokenizer gives them

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        """The tokens of a text; an unknown piece shows the text it stands for, as SentencePiece shows it."""
        encoding = self.encode_plus(text, pair, add_special_tokens=add_special_tokens, **kwargs)
        tokens = encoding.tokens()
        if not self._from_files or not encoding.encodings:
            return tokens
        unk = self._tokenizer.token_to_id(str(self.unk_token)) if self.unk_token is not None else None
        found = encoding.encodings[0]
        for i, (index, (start, end), seq) in enumerate(zip(found.ids, found.offsets, found.sequence_ids)):
            source = text if seq == 0 else pair
            if index == unk and end > start and isinstance(source, str):
                tokens[i] = source[start:end]
        return tokens

    def _tokens_to_text(self, tokens: list[str]) -> str:
        """Most families: SentencePiece's decoding between special tokens, a space before each special token that
        follows text, the whole stripped."""
        return self._join_around_specials(tokens, space_before=True, strip=True)

    def _join_around_specials(self, tokens: list[str], space_before: bool, strip: bool) -> str:
        specials = set(self.all_special_tokens)
        out, run, after_special = "", [], False
        for token in tokens:
            if token in specials:
                if space_before and not after_special:
                    out += " "
                out += self._pieces_text(run) + token
                run, after_special = [], True
            else:
                run.append(token)
                after_special = False
        out += self._pieces_text(run)
        return out.strip() if strip else out

    def _plain_join(self, tokens: list[str]) -> str:
        """XLM-R-like families: the pieces joined, "▁" as spaces, stripped."""
        return "".join(tokens).replace(SPIECE_UNDERLINE, " ").strip()

    # --- variants of the Rust tokenizer, for the inputs one pass cannot express

    def _variant(self, name: str, change) -> Tokenizer:
        """A copy of the backend changed by `change(copy)`, without truncation or padding; rebuilt when tokens
        were added since."""
        cache = self.__dict__.setdefault("_variants", {})
        key = (name, len(self))
        if key not in cache:
            copy = Tokenizer.from_str(self._tokenizer.to_str())
            copy.no_truncation()
            copy.no_padding()
            change(copy)
            cache.clear() if len(cache) > 8 else None
            cache[key] = copy
        return cache[key]

    def _truncated(self, encoding, n_added: int):
        """Truncate a built encoding as the backend's truncation settings say (leaving room for `n_added` tokens)."""
        settings = self._tokenizer.truncation
        if settings:
            encoding.truncate(max(settings["max_length"] - n_added, 0), stride=settings["stride"],
                              direction=settings["direction"])
        return encoding


def _prepend_first_chunk(backend: Tokenizer) -> None:
    """The dummy prefix before every piece of text (used for inputs with no added token, where that equals
    "before the first piece")."""
    parts = [backend.normalizer] if backend.normalizer is not None else []
    backend.normalizer = normalizers.Sequence(parts + [normalizers.Prepend(SPIECE_UNDERLINE)])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme="never",
                                                     split=json.loads(backend.pre_tokenizer.__getstate__())["split"])


def _no_prefix(backend: Tokenizer) -> None:
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme="never",
                                                     split=json.loads(backend.pre_tokenizer.__getstate__())["split"])


def _fairseq_vocabulary(proto, head: list[str], offset: int, tail: list[str]) -> tuple[list[tuple[str, float]], int]:
    """The layout of the fairseq-trained models: `head` tokens first, each piece of the model at its id + `offset`
    (the model's own <s>, </s>, <unk> land on the head's), then `tail` (language codes, <mask>)."""
    size = len(proto.pieces) + offset
    slots: list = [None] * size
    for i, token in enumerate(head):
        slots[i] = (token, 0.0)
    for index, piece in enumerate(proto.pieces):
        if piece.piece in head:
            continue
        if index + offset < len(head):
            raise ValueError(f"the SentencePiece model's piece {index} ({piece.piece!r}) falls on the special tokens "
                             f"{head}; this is not the model this tokenizer expects")
        slots[index + offset] = (piece.piece, piece.score)
    low = min((p.score for p in proto.pieces), default=0.0)
    slots = [s if s is not None else (f"<unused_{i}>", low) for i, s in enumerate(slots)]
    vocab = slots + [(token, 0.0) for token in tail]
    return vocab, head.index("<unk>")


# ------------------------------------------------------------------------------------------ XLM-R and kin

class XLMRobertaTokenizerFast(_SentencePieceTokenizerFast):
    """XLM-RoBERTa's tokenizer: a SentencePiece model behind fairseq's four special tokens, <mask> last."""

    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(_SPECIALS_ROBERTA)
    _template = _ROBERTA_LAYOUT
    _mask_lstrip = True

    def _vocabulary(self, proto, files, kwargs):
        return _fairseq_vocabulary(proto, ["<s>", "<pad>", "</s>", "<unk>"], 1, ["<mask>"])

    def _tokens_to_text(self, tokens):
        return self._plain_join(tokens)


class CamembertTokenizerFast(XLMRobertaTokenizerFast):
    """CamemBERT's tokenizer: XLM-R's layout with three unused special tokens, the model's pieces shifted by 4."""

    _defaults = dict(_SPECIALS_ROBERTA, additional_special_tokens=["<s>NOTUSED", "</s>NOTUSED", "<unk>NOTUSED"])

    def _vocabulary(self, proto, files, kwargs):
        return _fairseq_vocabulary(proto, ["<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>", "<unk>NOTUSED"], 4,
                                   ["<mask>"])

    @property
    def vocab_size(self) -> int:
        """As the reference's slow class counts it: the model's pieces (the ids run 4 further)."""
        return len(self._proto.pieces) if self._from_files else super().vocab_size

    def _tokens_to_text(self, tokens):
        return self._join_around_specials(tokens, space_before=True, strip=True)


class BarthezTokenizerFast(_SentencePieceTokenizerFast):
    """BARThez's tokenizer: a SentencePiece model holding fairseq's special tokens, <mask> after it."""

    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "tokenizer_file": TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(_SPECIALS_ROBERTA)
    _template = _ROBERTA_LAYOUT
    _mask_lstrip = True


class AlbertTokenizerFast(_SentencePieceTokenizerFast):
    """ALBERT's tokenizer: spaces squeezed, `` and '' as ", accents removed and lowercased (by default) before the
    SentencePiece model."""

    _defaults = dict(do_lower_case=True, remove_space=True, keep_accents=False, bos_token="[CLS]",
                     eos_token="[SEP]", unk_token="<unk>", sep_token="[SEP]", pad_token="<pad>", cls_token="[CLS]",
                     mask_token="[MASK]")
    _template = _BERT_LAYOUT
    _mask_lstrip = True

    def _vocabulary(self, proto, files, kwargs):
        """The model's pieces; those ending in a digit and a comma ("▁1,") are made unlikely: the slow ALBERT
        splits such a piece into the number's pieces and the comma."""
        vocab = [(piece, score - 100.0 if len(piece) > 1 and piece[-1] == "," and piece[-2].isdigit() else score)
                 for piece, score in model_pieces(proto)]
        return vocab, proto.trainer_spec.unk_id

    def _extra_normalizers(self, kwargs):
        steps = []
        if kwargs["remove_space"]:
            steps += [normalizers.Replace(Regex(r"\s+"), " "), normalizers.Replace(Regex(r"\A | \z"), "")]
        steps += [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
        if not kwargs["keep_accents"]:  # NFKD, then the characters with a combining class go (the slow one's rule)
            steps += [normalizers.NFKD(), normalizers.Replace(Regex(_combining_characters()), "")]
        if kwargs["do_lower_case"]:
            steps += [normalizers.Lowercase()]
        return tuple(steps)


@functools.cache
def _combining_characters() -> str:
    """A regex class of the characters whose canonical combining class is not 0 (e.g. accents, but not the
    variation selectors that tokenizers' StripAccents also removes)."""
    import unicodedata

    ranges, start, last = [], None, None
    for code in range(0x300, sys.maxunicode + 1):
        if unicodedata.combining(chr(code)):
            if start is None:
                start = code
            elif code != last + 1:
                ranges.append((start, last))
                start = code
            last = code
    ranges.append((start, last))
    return "[" + "".join(f"\\x{{{a:X}}}" + (f"-\\x{{{b:X}}}" if b > a else "") for a, b in ranges) + "]"


class _AddedTokensAlone:
    """Decoding as the reference's slow XLNet and BigBird tokenizers do: every added token, special ones too (but
    the model's user-defined pieces), stands apart from the text around it."""

    def _standalone_tokens(self) -> set[str]:
        return {t.content for i, t in self.added_tokens_decoder.items() if t.special or i >= self.vocab_size}


class XLNetTokenizerFast(_AddedTokensAlone, AlbertTokenizerFast):
    """XLNet's tokenizer: ALBERT's normalization (cased by default) and pieces, the special tokens after the text
    (`<sep> <cls>`, <cls> of token type 2), padding on the left with token type 3."""

    padding_side = "left"
    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    _spaces_between_special_tokens = False  # (decoded text runs straight into and out of special tokens)
    _defaults = dict(do_lower_case=False, remove_space=True, keep_accents=False, bos_token="<s>", eos_token="</s>",
                     unk_token="<unk>", sep_token="<sep>", pad_token="<pad>", cls_token="<cls>",
                     mask_token="<mask>", additional_special_tokens=["<eop>", "<eod>"])
    _template = ("$A sep cls:2", "$A sep $B:1 sep:1 cls:2")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pad_token_type_id = 3

    def _tokens_to_text(self, tokens):
        return self._plain_join(tokens)


class CpmTokenizerFast(XLNetTokenizerFast):
    """CPM's tokenizer: XLNet's over Chinese words. Each text is cut into words by jieba (`rjieba`, the Rust port
    the reference uses), whose spaces and newlines become U+2582 and U+2583, joined by spaces; decoding drops the
    spaces and turns those two back. (The reference's slow CpmTokenizer, and so `CpmTokenizer` here, skips the word
    cut; its fast one takes single texts only, and so does this one.)"""

    padding_side = "right"
    _cuts_words = True
    _TRANSLATION = str.maketrans(" \n", "\u2582\u2583")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self._cuts_words:
            try:
                import rjieba
            except ModuleNotFoundError as error:
                raise ModuleNotFoundError("CpmTokenizerFast cuts Chinese text into words with the `rjieba` package: "
                                          "pip install rjieba (or pip install 'henkan[zh]').") from error
            self._cut = rjieba.cut

    def _words(self, text: str) -> str:
        return " ".join(word.translate(self._TRANSLATION) for word in self._cut(text, False))

    def _encode(self, batch: list, batched: bool, **kwargs):
        if self._cuts_words:
            if kwargs.get("is_split_into_words") or any(not isinstance(item, str) for item in batch):
                raise TypeError("CpmTokenizerFast cuts single texts into words: it takes neither text pairs nor "
                                "pre-split words (nor does the reference's). Use CpmTokenizer, which skips the cut, "
                                "for those.")
            batch = [self._words(item) for item in batch]
        return super()._encode(batch, batched, **kwargs)

    def decode(self, token_ids, *args, **kwargs) -> str:
        text = super().decode(token_ids, *args, **kwargs)
        return text.replace(" ", "").replace("\u2582", " ").replace("\u2583", "\n")

    def batch_decode(self, sequences, *args, **kwargs) -> list[str]:
        return [self.decode(ids, *args, **kwargs) for ids in sequences]

    def _save_model_files(self, directory, legacy_format, filename_prefix):
        if not self._cuts_words and legacy_format is None:
            legacy_format = True  # (a tokenizer.json would load in the reference as its word-cutting fast tokenizer)
        return super()._save_model_files(directory, legacy_format, filename_prefix)


class BigBirdTokenizerFast(_AddedTokensAlone, _SentencePieceTokenizerFast):
    """BigBird's tokenizer: the SentencePiece model's pieces with BERT's layout of [CLS] and [SEP]; decoded text has
    no space before [MASK] and [SEP]."""

    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>", sep_token="[SEP]",
                     mask_token="[MASK]", cls_token="[CLS]")
    _template = _BERT_LAYOUT
    _mask_lstrip = True
    _keeps_empty_texts = True

    def _slow_decode(self, ids: list[int], skip_special_tokens: bool, spaces: bool) -> str:
        text = super()._slow_decode(ids, skip_special_tokens, spaces)
        return re.sub(r" (\[(MASK|SEP)\])", r"\1", text) if spaces else text


class DebertaV2TokenizerFast(_SentencePieceTokenizerFast):
    """DeBERTa-v2/v3's tokenizer: the SentencePiece model's pieces and ids (lowercased first with
    `do_lower_case`), BERT's special tokens and layout."""

    vocab_files_names = {"vocab_file": "spm.model", "tokenizer_file": TOKENIZER_FILE}
    _defaults = dict(do_lower_case=False, split_by_punct=False, bos_token="[CLS]", eos_token="[SEP]",
                     unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
    _template = _BERT_LAYOUT

    def _extra_normalizers(self, kwargs):
        if kwargs["split_by_punct"]:
            raise NotImplementedError("split_by_punct=True (each punctuation mark encoded as a word of its own) is "
                                      "not supported by henkan's DebertaV2Tokenizer; the released DeBERTa-v2/v3 "
                                      "tokenizers use split_by_punct=False.")
        return (normalizers.Lowercase(),) if kwargs["do_lower_case"] else ()


class DebertaV2Tokenizer(DebertaV2TokenizerFast, PreTrainedTokenizer):
    """The name of DeBERTa-v2's SentencePiece tokenizer, served by the Rust one."""


class BertGenerationTokenizer(_SentencePieceTokenizerFast, PreTrainedTokenizer):
    """BERT-Generation's SentencePiece tokenizer: no special tokens around the text."""

    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", sep_token="<::::>")

    def _tokens_to_text(self, tokens):
        return self._join_around_specials(tokens, space_before=False, strip=True)


class PegasusTokenizerFast(_SentencePieceTokenizerFast):
    """Pegasus's tokenizer: 103 ids before the model's pieces (<pad>, </s>, <mask_1>, <mask_2>, <unk_2> ...
    <unk_102>), </s> after the text."""

    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(pad_token="<pad>", eos_token="</s>", unk_token="<unk>", mask_token="<mask_2>",
                     mask_token_sent="<mask_1>", additional_special_tokens=None, offset=103)
    _template = ("$A eos", "$A $B eos")

    def __init__(self, *args, **kwargs):
        offset = kwargs.get("offset", 103)
        sent = kwargs.get("mask_token_sent", "<mask_1>")
        extra = kwargs.get("additional_special_tokens")
        if extra is None:
            extra = ([sent] if sent is not None else []) + [f"<unk_{i}>" for i in range(2, offset)]
        else:
            if not isinstance(extra, list):
                raise TypeError(f"additional_special_tokens should be a list, not {type(extra).__name__}")
            extra = list(extra) if sent is None or sent in [str(t) for t in extra] else [sent, *extra]
            extra += [f"<unk_{i}>" for i in range(len(extra), offset - 1)]
            if len({str(t) for t in extra}) != len(extra):
                raise ValueError(f"additional_special_tokens has a token twice (a wrongly shifted <unk_x>?): {extra}")
        kwargs["additional_special_tokens"] = extra
        super().__init__(*args, **kwargs)

    def _vocabulary(self, proto, files, kwargs):
        head = [str(kwargs["pad_token"]), str(kwargs["eos_token"])]
        if kwargs.get("mask_token_sent") is not None:
            head += [str(kwargs["mask_token_sent"]), str(kwargs["mask_token"])]
        head += [f"<unk_{i}>" for i in range(2, kwargs["offset"])]
        pieces = model_pieces(proto)
        vocab = [(token, 0.0) for token in head] + pieces[2:]
        unk = str(kwargs["unk_token"])
        return vocab, next(i for i, (piece, _) in enumerate(vocab) if piece == unk)

    def _prepare_backend(self, backend, kwargs):
        """Words split at whitespace first, as the reference's fast Pegasus tokenizer does (same pieces: no piece
        spans a "▁" and the character map makes all whitespace spaces; each "▁" then points at its word)."""
        state = json.loads(backend.pre_tokenizer.__getstate__())
        spec = self._proto.normalizer_spec
        if state.get("split") and spec.precompiled_charsmap and spec.remove_extra_whitespaces:
            # the same text, with repeated spaces as one "▁" that points at the last of them
            backend.normalizer = normalizers.Sequence([
                normalizers.Precompiled(spec.precompiled_charsmap), normalizers.Replace(Regex(r"[ \u2581]+\z"), ""),
                normalizers.Replace(Regex(" {2,}"), SPIECE_UNDERLINE)])
            backend.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.WhitespaceSplit(),
                pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme=state["prepend_scheme"])])

    def _tokens_to_text(self, tokens):
        return self._join_around_specials(tokens, space_before=False, strip=True)

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        """1 for the special tokens but <unk> (which the reference counts as text), and the </s> it adds."""
        special = set(self.all_special_ids) - {self.unk_token_id}
        marks = [int(i in special) for i in token_ids_0 + (token_ids_1 or [])]
        return marks if already_has_special_tokens else marks + [1]

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        return [0] * len(token_ids_0) + [1] * len(token_ids_1 or [])


# ---------------------------------------------------------------------------------------------------- T5


class T5TokenizerFast(_SentencePieceTokenizerFast):
    """T5's tokenizer: </s> after the text, and `extra_ids` sentinels <extra_id_0> ... at the end of the ids
    (<extra_id_0> last)."""

    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=100,
                     additional_special_tokens=None, legacy=None, add_prefix_space=True)
    _template = ("$A eos", "$A eos $B eos")

    def __init__(self, *args, **kwargs):
        extra_ids = kwargs.get("extra_ids", 100)
        extra = kwargs.get("additional_special_tokens")
        if extra is None:
            extra = [f"<extra_id_{i}>" for i in range(extra_ids)]
        else:
            sentinels = [t for t in extra if "<extra_id_" in str(t)]
            if not sentinels:
                extra = list(extra) + [f"<extra_id_{i}>" for i in range(extra_ids)]
            elif extra_ids > 0 and extra_ids != len(sentinels):
                raise ValueError(f"Both extra_ids ({extra_ids}) and additional_special_tokens ({extra}) are given to "
                                 f"{type(self).__name__}: additional_special_tokens must then hold the {extra_ids} "
                                 "<extra_id_N> sentinels.")
        kwargs["additional_special_tokens"] = extra
        super().__init__(*args, **kwargs)

    def _dummy_prefix(self, kwargs):
        if kwargs.get("legacy") is None:
            logger.warning(_LEGACY_WARNING.format(cls=type(self).__name__))
            kwargs["legacy"] = True
        if kwargs["legacy"]:
            return "always"
        return "first" if kwargs.get("add_prefix_space", True) else "never"

    def _decoder_strips_first(self, kwargs):
        return None if kwargs["legacy"] else False

    def _prepare_backend(self, backend, kwargs):
        sentinels = [str(t) for t in kwargs["additional_special_tokens"] if "<extra_id_" in str(t)]
        # the sentinels count down from the end: <extra_id_0> has the highest id
        backend.add_tokens([AddedToken(t, lstrip=True, rstrip=True, normalized=False, special=True)
                            for t in reversed(sentinels) if backend.token_to_id(t) is None])

    def get_sentinel_tokens(self) -> list[str]:
        return [t for t in self.additional_special_tokens if t.startswith("<extra_id_")]

    def get_sentinel_token_ids(self) -> list[int]:
        return [self.convert_tokens_to_ids(t) for t in self.get_sentinel_tokens()]

    def _tokens_to_text(self, tokens):
        if tokens and tokens[0].startswith(SPIECE_UNDERLINE) and self.init_kwargs.get("add_prefix_space", True):
            tokens[0] = tokens[0][1:]
        return self._join_around_specials(tokens, space_before=True, strip=True)


class MT5TokenizerFast(T5TokenizerFast):
    """mT5's tokenizer: T5's."""


# ------------------------------------------------------------------------------------- Llama and Code Llama


class LlamaTokenizerFast(_SentencePieceTokenizerFast, _DecoderTokenizerFast):
    """Llama's (and Mistral's) SentencePiece tokenizer: <s> before the text (`add_bos_token`), </s> after it when
    `add_eos_token`; pads on the left, as batched generation needs."""

    vocab_files_names = {"vocab_file": "tokenizer.model", "tokenizer_file": TOKENIZER_FILE}
    padding_side = "left"
    _defaults = dict(unk_token="<unk>", bos_token="<s>", eos_token="</s>", add_bos_token=True, add_eos_token=False)
    _slow_defaults = dict(legacy=None, add_prefix_space=True)

    @property
    def _template(self) -> tuple[str, str]:
        """BOS before each sequence and EOS after it, as `add_bos_token` / `add_eos_token` say."""
        bos = ["bos"] if self.init_kwargs.get("add_bos_token", True) else []
        eos = ["eos"] if self.init_kwargs.get("add_eos_token", False) else []
        first = " ".join([*bos, "$A", *eos])
        return first, first + " " + " ".join(f"{piece}:1" for piece in [*bos, "$B", *eos])

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        """One type id per given token, 0 then 1, as the reference's fast Llama tokenizer (its BOS is not counted);
        built from the model file, the slow one's (0 for the first sequence with its BOS/EOS, 1 for the second)."""
        if self._from_files:
            return super(_DecoderTokenizerFast, self).create_token_type_ids_from_sequences(token_ids_0, token_ids_1)
        return [0] * len(token_ids_0) + [1] * len(token_ids_1 or [])

    def _dummy_prefix(self, kwargs):
        if kwargs.get("legacy") is None:
            logger.warning(_LEGACY_WARNING.format(cls=type(self).__name__))
            kwargs["legacy"] = True
        if kwargs["legacy"]:
            return "always"
        return "first" if kwargs.get("add_prefix_space", True) else "never"

    def _decoder_strips_first(self, kwargs):
        return None if kwargs["legacy"] else False

    @property
    def _legacy(self) -> bool:
        return self.init_kwargs.get("legacy") is not False

    def _encode_batch(self, batch, add_special_tokens, is_split_into_words):
        """With legacy=False, the reference puts "▁" before the text even when it starts with spaces (which the
        Rust pre-tokenizer then skips); such texts, when they hold no added token, get it through a variant."""
        if not self._from_files or self._legacy or is_split_into_words or \
                self._proto.normalizer_spec.remove_extra_whitespaces or \
                not self.init_kwargs.get("add_prefix_space", True):
            return super()._encode_batch(batch, add_special_tokens, is_split_into_words)
        added = [t for t in self.get_added_vocab()]
        custom = {}
        for i, item in enumerate(batch):
            texts = item if isinstance(item, (tuple, list)) else (item,)
            if any(t[:1] in (" ", SPIECE_UNDERLINE) for t in texts if t) and \
                    not any(token in t for t in texts if t for token in added):
                custom[i] = self._spaced_start(texts, add_special_tokens)
        if not custom:
            return super()._encode_batch(batch, add_special_tokens, is_split_into_words)
        return self._encode_mixed(batch, custom, add_special_tokens, is_split_into_words)

    def _spaced_start(self, texts, add_special_tokens):
        def make():
            variant = self._variant("prepend", _prepend_first_chunk)
            if self._tokenizer.truncation:
                variant.enable_truncation(**{k: v for k, v in self._tokenizer.truncation.items()})
            encoding = variant.encode(*texts, add_special_tokens=add_special_tokens)
            variant.no_truncation()
            return encoding
        return make

    def _tokens_to_text(self, tokens):
        add_prefix_space = self.init_kwargs.get("add_prefix_space", True)
        if tokens and tokens[0].startswith(SPIECE_UNDERLINE) and add_prefix_space:
            tokens[0] = tokens[0][1:]
        specials = set(self.all_special_tokens)
        out, run, after_special = "", [], False
        for i, token in enumerate(tokens):
            if token in specials:
                if not after_special and i != 0 and self._legacy:
                    out += " "
                out += self._pieces_text(run) + token
                run, after_special = [], True
            else:
                if after_special and i == 1 and add_prefix_space and not token.startswith(SPIECE_UNDERLINE):
                    out += " "
                run.append(token)
                after_special = False
        return out + self._pieces_text(run)


class CodeLlamaTokenizerFast(LlamaTokenizerFast):
    """Code Llama's tokenizer: Llama's (legacy=False), and infilling: a prompt holding `fill_token` ("<FILL_ME>"),
    or a `suffix=`, is encoded "▁<PRE> prefix ▁<SUF> suffix ▁<MID>" (with `suffix_first=True`:
    "▁<PRE> ▁<SUF> suffix ▁<MID> prefix")."""

    _defaults = dict(unk_token="<unk>", bos_token="<s>", eos_token="</s>", add_bos_token=True, add_eos_token=False,
                     prefix_token="▁<PRE>", middle_token="▁<MID>", suffix_token="▁<SUF>", eot_token="▁<EOT>",
                     fill_token="<FILL_ME>", suffix_first=False)
    _slow_defaults = dict(legacy=False, add_prefix_space=True)

    def __init__(self, *args, **kwargs):
        extra = list(kwargs.get("additional_special_tokens") or [])
        for key in ("prefix_token", "middle_token", "suffix_token", "eot_token"):
            token = kwargs.get(key, self._defaults[key])
            if token is not None and str(token) not in [str(t) for t in extra]:
                extra.append(token)
        kwargs["additional_special_tokens"] = extra
        kwargs["legacy"] = False
        super().__init__(*args, **kwargs)

    def _dummy_prefix(self, kwargs):
        return "first"

    def _decoder_strips_first(self, kwargs):
        return False

    @property
    def prefix_id(self) -> int | None:
        return None if self.prefix_token is None else self.convert_tokens_to_ids(self.prefix_token)

    @property
    def middle_id(self) -> int | None:
        return None if self.middle_token is None else self.convert_tokens_to_ids(self.middle_token)

    @property
    def suffix_id(self) -> int | None:
        return None if self.suffix_token is None else self.convert_tokens_to_ids(self.suffix_token)

    @property
    def eot_id(self) -> int | None:
        return None if self.eot_token is None else self.convert_tokens_to_ids(self.eot_token)

    def _encode(self, batch, batched, **kwargs):
        infill = (kwargs.pop("suffix", None), kwargs.pop("suffix_first", False))
        self._infill_call = infill
        try:
            return super()._encode(batch, batched, **kwargs)
        finally:
            self._infill_call = (None, False)

    def _encode_batch(self, batch, add_special_tokens, is_split_into_words):
        suffix, suffix_first = getattr(self, "_infill_call", (None, False))
        custom = {}
        if not is_split_into_words:
            for i, item in enumerate(batch):
                if isinstance(item, str) and (suffix is not None or (self.fill_token and self.fill_token in item)):
                    prefix, end = (item, suffix) if suffix is not None else item.split(self.fill_token)
                    if end:  # an empty suffix encodes the prefix alone
                        custom[i] = self._infill(prefix, end, suffix_first, add_special_tokens)
                    else:
                        batch = list(batch)
                        batch[i] = prefix
        if not custom:
            return super()._encode_batch(batch, add_special_tokens, is_split_into_words)
        return self._encode_mixed(batch, custom, add_special_tokens, is_split_into_words)

    def _infill(self, prefix: str, suffix: str, suffix_first: bool, add_special_tokens: bool):
        if None in (self.prefix_id, self.middle_id, self.suffix_id):
            raise ValueError(f"The input holds {self.fill_token} (or a suffix) for infilling, but this tokenizer "
                             "has no prefix, middle and suffix tokens, so the model does not support infilling.")

        def make():
            head = self._variant("plain", lambda backend: None).encode(prefix, add_special_tokens=False)
            tail = self._variant("no-prefix", _no_prefix).encode(suffix, add_special_tokens=False)
            pre, mid, suf = (f"{t}:0" for t in (self.prefix_token, self.middle_token, self.suffix_token))
            layout = f"{pre} {suf} $B:0 {mid} $A:0" if suffix_first else f"{pre} $A:0 {suf} $B:0 {mid}"
            marks = processors.TemplateProcessing(
                single="$A:0", pair=layout,
                special_tokens=[(self.prefix_token, self.prefix_id), (self.middle_token, self.middle_id),
                                (self.suffix_token, self.suffix_id)])
            encoding = marks.process(head, tail, add_special_tokens=True)
            ends = self._tokenizer.post_processor
            n_added = ends.num_special_tokens_to_add(False) if ends is not None and add_special_tokens else 0
            encoding = self._truncated(encoding, n_added)
            return ends.process(encoding, add_special_tokens=add_special_tokens) if ends is not None else encoding
        return make

    def _tokens_to_text(self, tokens):
        if tokens and tokens[0].startswith(SPIECE_UNDERLINE):
            tokens[0] = tokens[0][1:]
        return self._join_around_specials(tokens, space_before=False, strip=False)

    def _backend_to_save(self) -> Tokenizer:
        """The reference's fast Code Llama tokenizer builds its infilling inputs for a tokenizer.json that puts
        "▁" before every piece of text (in the normalizer); built from the model file, henkan writes that one."""
        if not self._from_files or self._proto.normalizer_spec.remove_extra_whitespaces:
            return self._tokenizer
        backend = Tokenizer.from_str(self._tokenizer.to_str())
        backend.normalizer = normalizers.Sequence([normalizers.Prepend(SPIECE_UNDERLINE),
                                                   normalizers.Replace(" ", SPIECE_UNDERLINE)])
        backend.pre_tokenizer = None
        return backend


class GemmaTokenizerFast(LlamaTokenizerFast):
    _defaults = dict(unk_token="<unk>", bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                     add_bos_token=True, add_eos_token=False)


# ------------------------------------------------------------------------------------------ mBART, mBART-50

MBART_LANGUAGE_CODES = (
    "ar_AR cs_CZ de_DE en_XX es_XX et_EE fi_FI fr_XX gu_IN hi_IN it_IT ja_XX kk_KZ ko_KR lt_LT lv_LV my_MM ne_NP "
    "nl_XX ro_RO ru_RU si_LK tr_TR vi_VN zh_CN"
).split()
MBART50_LANGUAGE_CODES = MBART_LANGUAGE_CODES + (
    "af_ZA az_AZ bn_IN fa_IR he_IL hr_HR id_ID ka_GE km_KH mk_MK ml_IN mn_MN mr_IN pl_PL ps_AF pt_XX sv_SE sw_KE "
    "ta_IN te_IN th_TH tl_XX uk_UA ur_PK xh_ZA gl_ES sl_SI"
).split()


class MBartTokenizerFast(XLMRobertaTokenizerFast):
    """mBART's tokenizer: XLM-R's ids with the language codes after the model's pieces, and the text laid out
    "X </s> src_lang" (labels: "X </s> tgt_lang")."""

    _language_codes = MBART_LANGUAGE_CODES
    _defaults = dict(_SPECIALS_ROBERTA, src_lang=None, tgt_lang=None)
    _mask_lstrip = True

    def __init__(self, *args, **kwargs):
        extra = [t for t in (kwargs.get("additional_special_tokens") or []) if str(t) not in self._language_codes]
        kwargs["additional_special_tokens"] = [*self._language_codes, *extra]
        self._lang = None
        super().__init__(*args, **kwargs)
        self._src_lang = self.init_kwargs.get("src_lang") or "en_XX"
        self.tgt_lang = self.init_kwargs.get("tgt_lang")
        self.set_src_lang_special_tokens(self._src_lang)

    def _vocabulary(self, proto, files, kwargs):
        return _fairseq_vocabulary(proto, ["<s>", "<pad>", "</s>", "<unk>"], 1, [*self._language_codes, "<mask>"])

    @property
    def lang_code_to_id(self) -> dict[str, int]:
        return {code: self.convert_tokens_to_ids(code) for code in self._language_codes}

    @property
    def id_to_lang_code(self) -> dict[int, str]:
        return {i: code for code, i in self.lang_code_to_id.items()}

    @property
    def src_lang(self) -> str:
        return self._src_lang

    @src_lang.setter
    def src_lang(self, code: str) -> None:
        self._check_code(code, "src_lang")
        self._src_lang = code
        self.set_src_lang_special_tokens(code)

    def _check_code(self, code, name: str) -> None:
        if code not in self._language_codes:
            raise ValueError(f"{name}={code!r} is not a language code of {type(self).__name__}; use one of "
                             f"{', '.join(self._language_codes)}.")

    @property
    def cur_lang_token(self) -> str:
        return self._lang

    @property
    def cur_lang_token_id(self) -> int:
        return self.convert_tokens_to_ids(self._lang)

    @property
    def cur_lang_code(self) -> int:
        return self.cur_lang_token_id

    @property
    def cur_lang_code_id(self) -> int:
        return self.cur_lang_token_id

    _lang_layout = ("$A eos cur_lang", "$A $B eos cur_lang")

    @property
    def _template(self):
        return self._lang_layout if self._lang is not None else _ROBERTA_LAYOUT

    @property
    def prefix_tokens(self) -> list[int]:
        return [self.cur_lang_token_id] if self._lang_layout[0].startswith("cur_lang") else []

    @property
    def suffix_tokens(self) -> list[int]:
        ends = self._lang_layout[0].split("$A")[1].split()
        return [getattr(self, name + "_token_id") for name in ends]

    def _set_lang(self, code, name: str) -> None:
        self._check_code(code, name)
        if code != self._lang:
            self._lang = code
            self.update_post_processor()
            self._backend_state = None

    def set_src_lang_special_tokens(self, src_lang: str) -> None:
        """Lay out what follows as sources in `src_lang`."""
        self._set_lang(src_lang, "src_lang")

    def set_tgt_lang_special_tokens(self, tgt_lang: str) -> None:
        """Lay out what follows as targets in `tgt_lang`."""
        self._set_lang(tgt_lang, "tgt_lang")

    def _switch_to_input_mode(self) -> None:
        self.set_src_lang_special_tokens(self.src_lang)

    def _switch_to_target_mode(self) -> None:
        if self.tgt_lang is None:
            raise ValueError(f"{type(self).__name__} has no tgt_lang to encode targets with; set tokenizer.tgt_lang "
                             f"(one of {', '.join(self._language_codes)}).")
        self.set_tgt_lang_special_tokens(self.tgt_lang)

    def _build_translation_inputs(self, raw_inputs, return_tensors, src_lang, tgt_lang, **extra_kwargs):
        """What the translation pipeline feeds the model: the sources, and the target language as forced BOS."""
        if src_lang is None or tgt_lang is None:
            raise ValueError("Translation requires a `src_lang` and a `tgt_lang` for this model")
        self.src_lang = src_lang
        inputs = self(raw_inputs, add_special_tokens=True, return_tensors=return_tensors, **extra_kwargs)
        inputs["forced_bos_token_id"] = self.convert_tokens_to_ids(tgt_lang)
        return inputs

    def build_inputs_with_special_tokens(self, token_ids_0, token_ids_1=None):
        return self.prefix_tokens + token_ids_0 + (token_ids_1 or []) + self.suffix_tokens

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        if already_has_special_tokens:
            return super().get_special_tokens_mask(token_ids_0, token_ids_1, True)
        return [1] * len(self.prefix_tokens) + [0] * (len(token_ids_0) + len(token_ids_1 or [])) + \
            [1] * len(self.suffix_tokens)

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        """Zeros, as many as the reference's (which counts XLM-R's layout)."""
        return [0] * (len(token_ids_0) + 2 + (len(token_ids_1) + 2 if token_ids_1 is not None else 0))


class MBart50TokenizerFast(MBartTokenizerFast):
    """mBART-50's tokenizer: 52 language codes, and the text laid out "src_lang X </s>"."""

    _language_codes = MBART50_LANGUAGE_CODES
    _defaults = dict(_SPECIALS_ROBERTA, bos_token=None, src_lang=None, tgt_lang=None)
    _lang_layout = ("cur_lang $A eos", "cur_lang $A $B eos")

    def _tokens_to_text(self, tokens):
        return self._join_around_specials(tokens, space_before=True, strip=True)

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        """As the reference's slow class counts them (which knows no language code): 0 for the first sequence
        with one <s> and </s>, 1 for the second with one </s>."""
        first = [0] * (len(token_ids_0) + 2)
        return first if token_ids_1 is None else first + [1] * (len(token_ids_1) + 1)


# ---------------------------------------------------------------------- families with their own vocabulary file


class _OwnVocabulary(_SentencePieceTokenizerFast):
    """Families whose ids come from a vocabulary file and not from the SentencePiece model (Marian's vocab.json,
    BARTpho's dict.txt): the model segments the text, then each piece takes the file's id, or the unknown id.

    The Rust model holds the file's tokens at their ids (those the SentencePiece model lacks as placeholders it
    never produces) and, after them, the model's pieces the file lacks; those report the unknown id.
    """

    def _own_vocabulary(self, proto, ids: dict[str, int], keep: set[str], unk: str):
        """The Rust vocabulary for the ids `ids` (tokens in `keep` keep their string, e.g. the special tokens), the
        unknown id, and the numbers the ids are mapped with (also made the current ones)."""
        scores = {p.piece: p.score for p in proto.pieces if p.type in (1, 4)}  # normal and user-defined pieces
        low = min(scores.values(), default=0.0)
        alphabet = {char for piece in scores for char in piece}
        vocab: list = [None] * (max(ids.values()) + 1 if ids else 0)
        for token, index in ids.items():
            if token in scores:
                vocab[index] = (token, scores[token])
            elif token in keep:
                vocab[index] = (token, low)
            elif len(token) == 1 and token not in alphabet:
                # a character the model does not know: the slow tokenizer looks its (unknown) piece up by its text
                vocab[index] = (token, low - 20.0)
        vocab = [v if v is not None else (f"\ue000{i}\ue000", low) for i, v in enumerate(vocab)]
        foreign = [(piece, score) for piece, score in scores.items() if piece not in ids]
        self._side = {"ids": dict(ids), "tokens": {i: t for t, i in ids.items()}, "size": len(vocab),
                      "foreign": len(foreign), "unk": ids[unk]}
        return vocab + foreign, ids[unk]

    @property
    def vocab_size(self) -> int:
        return self._side["size"] if self._from_files else super().vocab_size

    def __len__(self) -> int:
        if not self._from_files:
            return super().__len__()
        return self._tokenizer.get_vocab_size(with_added_tokens=True) - self._side["foreign"]

    def _map_ids(self, ids: list[int], side: dict | None = None) -> list[int]:
        if not self._from_files:
            return ids
        side = side or self._side
        size, foreign, unk = side["size"], side["foreign"], side["unk"]
        return [i if i < size else unk if i < size + foreign else i - foreign for i in ids]

    def _rust_id(self, index: int) -> int:
        return index + self._side["foreign"] if index >= self._side["size"] else index

    def get_vocab(self) -> dict[str, int]:
        if not self._from_files:
            return super().get_vocab()
        return {**self._side["ids"], **self.get_added_vocab()}

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        found = super().added_tokens_decoder
        if not self._from_files:
            return found
        return dict(zip(self._map_ids(list(found)), found.values()))

    def convert_tokens_to_ids(self, tokens):
        """Added tokens first (with the ids they were given), then the vocabulary file of the current side."""
        if not self._from_files:
            return super().convert_tokens_to_ids(tokens)
        if isinstance(tokens, str):
            added = self._added_ids()
            if tokens in added:
                return added[tokens]
            if tokens in self._side["ids"]:
                return self._side["ids"][tokens]
            index = self._tokenizer.token_to_id(tokens)
            return self.unk_token_id if index is None else self._map_ids([index])[0]
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def _id_to_token(self, index: int) -> str:
        if index in self._side["tokens"]:
            return self._side["tokens"][index]
        token = self._tokenizer.id_to_token(self._rust_id(index))
        return str(self.unk_token) if token is None else token

    def _added_ids(self) -> dict[str, int]:
        """The added tokens with the ids they got on the source side (the reference keeps those in target mode)."""
        backend = self.__dict__.get("_source_backend", self._tokenizer)
        side = self.__dict__.get("_source_side", self._side)
        key = backend.get_vocab_size(with_added_tokens=True)
        cached = self.__dict__.get("_added_source_ids")
        if cached is None or cached[0] != key:
            found = backend.get_added_tokens_decoder()
            cached = (key, dict(zip((t.content for t in found.values()), self._map_ids(list(found), side))))
            self.__dict__["_added_source_ids"] = cached
        return cached[1]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        if not self._from_files:
            return super().convert_ids_to_tokens(ids, skip_special_tokens)
        added = {i: t for t, i in self._added_ids().items()}
        if isinstance(ids, int) or getattr(ids, "ndim", None) == 0:
            return added.get(int(ids)) or self._id_to_token(int(ids))
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [added[i] if i in added else self._id_to_token(i) for i in _to_ids(ids) if i not in skip]


class BartphoTokenizer(_OwnVocabulary, PreTrainedTokenizer):
    """BARTpho's tokenizer: the multilingual SentencePiece model of XLM-R segments the text; the ids are those of
    the reduced monolingual vocabulary (dict.txt), behind fairseq's special tokens; other pieces are unknown."""

    vocab_files_names = {"vocab_file": "sentencepiece.bpe.model", "monolingual_vocab_file": "dict.txt",
                         "tokenizer_file": TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(_SPECIALS_ROBERTA)
    _template = _ROBERTA_LAYOUT
    _mask_lstrip = True

    def _vocabulary(self, proto, files, kwargs):
        ids: dict[str, int] = {}
        for key in ("bos_token", "pad_token", "eos_token", "unk_token", "sep_token", "cls_token"):
            ids.setdefault(str(kwargs[key]), len(ids))
        self.monolingual_vocab_file = files["monolingual_vocab_file"]
        with open(files["monolingual_vocab_file"], encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    ids.setdefault(line.strip().split()[0], len(ids))
        ids.setdefault(str(kwargs["mask_token"]), len(ids))
        return self._own_vocabulary(proto, ids, {str(kwargs[k]) for k in ("bos_token", "pad_token", "eos_token",
                                                                          "unk_token", "mask_token")},
                                    str(kwargs["unk_token"]))

    def _tokens_to_text(self, tokens):
        return self._plain_join(tokens)


class MarianTokenizer(_OwnVocabulary, PreTrainedTokenizer):
    """Marian's tokenizer (Helsinki-NLP/opus-mt-*): a SentencePiece model per side (source.spm, target.spm) and
    the ids of vocab.json (or a vocabulary per side with `separate_vocabs=True`); </s> after the text. A leading
    language code (">>fr<<") is kept as one token. Targets (`text_target=`, `as_target_tokenizer()`) are
    segmented with the target model."""

    vocab_files_names = {"source_spm": "source.spm", "target_spm": "target.spm", "vocab": "vocab.json",
                         "target_vocab_file": "target_vocab.json", "tokenizer_file": TOKENIZER_FILE}
    _optional_files = ("target_vocab_file",)
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(unk_token="<unk>", eos_token="</s>", pad_token="<pad>", model_max_length=512,
                     source_lang=None, target_lang=None, separate_vocabs=False)
    _template = ("$A eos", "$A $B eos")

    def _build_backend(self, files, kwargs):
        with open(files["vocab"], encoding="utf-8") as f:
            vocab = json.load(f)
        for key in ("unk_token", "pad_token"):
            if str(kwargs[key]) not in vocab:
                raise ValueError(f"{files['vocab']} has no {kwargs[key]!r} ({key}); is it the vocab.json of this "
                                 "Marian model?")
        self.spm_files = [files["source_spm"], files["target_spm"]]
        target_vocab = vocab
        if kwargs.get("separate_vocabs"):
            if not files.get("target_vocab_file"):
                raise ValueError("separate_vocabs=True needs target_vocab_file= (target_vocab.json).")
            with open(files["target_vocab_file"], encoding="utf-8") as f:
                target_vocab = json.load(f)
        self.encoder, self.target_encoder = vocab, target_vocab
        self.supported_language_codes = [] if kwargs.get("separate_vocabs") else \
            [t for t in vocab if t.startswith(">>") and t.endswith("<<")]
        keep = {str(kwargs[k]) for k in ("unk_token", "eos_token", "pad_token")}
        target_proto = read_model(files["target_spm"])
        pieces, unk_id = self._own_vocabulary(target_proto, target_vocab, keep, str(kwargs["unk_token"]))
        self._target_backend, self._target_side = build_backend(target_proto, pieces, unk_id, user_defined=False), \
            self._side
        self._proto = read_model(files["source_spm"])
        pieces, unk_id = self._own_vocabulary(self._proto, vocab, keep, str(kwargs["unk_token"]))
        self._source_backend, self._source_side = build_backend(self._proto, pieces, unk_id, user_defined=False), \
            self._side
        self._pieces_text = PieceDecoder(target_proto)
        self._source_pieces_text = PieceDecoder(self._proto)
        return self._source_backend

    def _id_to_token(self, index: int) -> str:
        """Ids that are no added token are read in the target vocabulary when the sides have their own (they are
        what the model generates)."""
        if self._from_files and self.init_kwargs.get("separate_vocabs"):
            return self._target_side["tokens"].get(index, str(self.unk_token))
        return super()._id_to_token(index)

    def _switch_to_input_mode(self) -> None:
        if self._from_files and self._tokenizer is not self._source_backend:
            self._use_side(self._source_backend, self._source_side)

    def _switch_to_target_mode(self) -> None:
        if self._from_files and self._tokenizer is not self._target_backend:
            self._sync_added(self._target_backend)
            self._use_side(self._target_backend, self._target_side)

    def _use_side(self, backend: Tokenizer, side: dict) -> None:
        self._tokenizer, self._side = backend, side
        self._backend_state = None
        self.update_post_processor()

    def _sync_added(self, backend: Tokenizer) -> None:
        """Give the target side the added tokens of the source side."""
        present = {t.content for t in backend.get_added_tokens_decoder().values()}
        missing = [t for _, t in sorted(self._source_backend.get_added_tokens_decoder().items())
                   if t.content not in present]
        if missing:
            backend.add_tokens(missing)

    def _encode_batch(self, batch, add_special_tokens, is_split_into_words):
        """A language code at the start of a text (">>fr<< ...") is one token, the rest goes to the model."""
        if not self._from_files or is_split_into_words:
            return super()._encode_batch(batch, add_special_tokens, is_split_into_words)
        custom = {}
        for i, item in enumerate(batch):
            if isinstance(item, str) and item.startswith(">>") and item.find("<<") != -1:
                custom[i] = self._with_code(item, add_special_tokens)
        if not custom:
            return super()._encode_batch(batch, add_special_tokens, is_split_into_words)
        return self._encode_mixed(batch, custom, add_special_tokens, is_split_into_words)

    def _with_code(self, text: str, add_special_tokens: bool):
        end = text.find("<<") + 2
        code, rest = text[:end], text[end:]

        def make():
            plain = self._variant("plain", lambda backend: None)
            head = processors.TemplateProcessing(single=f"{code}:0 $A:0", pair="$A $B",
                                                 special_tokens=[(code, self._rust_id(self.convert_tokens_to_ids(
                                                     code)))])
            encoding = head.process(plain.encode(rest, add_special_tokens=False), add_special_tokens=True)
            ends = self._tokenizer.post_processor
            n_added = ends.num_special_tokens_to_add(False) if add_special_tokens else 0
            return ends.process(self._truncated(encoding, n_added), add_special_tokens=add_special_tokens)
        return make

    def _variant(self, name, change):
        return super()._variant(name + ("-target" if self._tokenizer is not self._source_backend else ""), change)

    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        added = super().add_tokens(new_tokens, special_tokens)
        if self._from_files:
            self._sync_added(self._source_backend if self._tokenizer is self._target_backend
                             else self._target_backend)
        return added

    def decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None, **kwargs):
        """Targets are decoded with the target model (`use_source_tokenizer=True`: the source model)."""
        self._decode_with_source = kwargs.pop("use_source_tokenizer", False)
        return super().decode(token_ids, skip_special_tokens, clean_up_tokenization_spaces, **kwargs)

    def _tokens_to_text(self, tokens):
        pieces_text = self._source_pieces_text if getattr(self, "_decode_with_source", False) else self._pieces_text
        specials = set(self.all_special_tokens)
        out, run = "", []
        for token in tokens:
            if token in specials:
                out += pieces_text(run) + token + " "
                run = []
            else:
                run.append(token)
        out += pieces_text(run)
        return out.replace(SPIECE_UNDERLINE, " ").strip()

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False):
        """1 for the special tokens but <unk> (which the reference counts as text), and the </s> it adds."""
        special = set(self.all_special_ids) - {self.unk_token_id}
        marks = [int(i in special) for i in token_ids_0 + (token_ids_1 or [])]
        return marks if already_has_special_tokens else marks + [1]

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 1

    def create_token_type_ids_from_sequences(self, token_ids_0, token_ids_1=None):
        return [0] * len(token_ids_0) + [1] * len(token_ids_1 or [])

    def get_src_vocab(self) -> dict[str, int]:
        return {**self.encoder, **self.get_added_vocab()}

    def get_tgt_vocab(self) -> dict[str, int]:
        return {**self.target_encoder, **self.get_added_vocab()}


# ------------------------------------------------------------------------------------- the slow class names


def _slow(fast: type, doc: str) -> type:
    return type(fast.__name__[:-4], (fast, PreTrainedTokenizer), {"__doc__": doc, "__module__": __name__})


XLMRobertaTokenizer = _slow(XLMRobertaTokenizerFast, "XLM-R's SentencePiece tokenizer, served by the Rust one.")
CamembertTokenizer = _slow(CamembertTokenizerFast, "CamemBERT's SentencePiece tokenizer, served by the Rust one.")
BarthezTokenizer = _slow(BarthezTokenizerFast, "BARThez's SentencePiece tokenizer, served by the Rust one.")
AlbertTokenizer = _slow(AlbertTokenizerFast, "ALBERT's SentencePiece tokenizer, served by the Rust one.")
PegasusTokenizer = _slow(PegasusTokenizerFast, "Pegasus's SentencePiece tokenizer, served by the Rust one.")
T5Tokenizer = _slow(T5TokenizerFast, "T5's SentencePiece tokenizer, served by the Rust one.")
MT5Tokenizer = _slow(MT5TokenizerFast, "mT5's SentencePiece tokenizer (T5's), served by the Rust one.")
LlamaTokenizer = _slow(LlamaTokenizerFast, "Llama's SentencePiece tokenizer, served by the Rust one (padding on the "
                                           "right, as the reference's slow one; its fast one pads on the left).")
CodeLlamaTokenizer = _slow(CodeLlamaTokenizerFast, "Code Llama's SentencePiece tokenizer, served by the Rust one.")
GemmaTokenizer = _slow(GemmaTokenizerFast, "Gemma's SentencePiece tokenizer, served by the Rust one.")
for _slow_class in (LlamaTokenizer, CodeLlamaTokenizer, GemmaTokenizer):  # the slow ones pad on the right
    _slow_class.padding_side = "right"
del _slow_class
MBartTokenizer = _slow(MBartTokenizerFast, "mBART's SentencePiece tokenizer, served by the Rust one.")
MBart50Tokenizer = _slow(MBart50TokenizerFast, "mBART-50's SentencePiece tokenizer, served by the Rust one.")
BigBirdTokenizer = _slow(BigBirdTokenizerFast, "BigBird's SentencePiece tokenizer, served by the Rust one.")
XLNetTokenizer = _slow(XLNetTokenizerFast, "XLNet's SentencePiece tokenizer, served by the Rust one.")
CpmTokenizer = _slow(CpmTokenizerFast, "CPM's SentencePiece tokenizer without the word cut (as the reference's slow "
                                       "CpmTokenizer), served by the Rust one.")
CpmTokenizer._cuts_words = False

__all__ = [
    "XLMRobertaTokenizerFast", "XLMRobertaTokenizer", "CamembertTokenizerFast", "CamembertTokenizer",
    "BarthezTokenizerFast", "BarthezTokenizer", "AlbertTokenizerFast", "AlbertTokenizer", "BertGenerationTokenizer",
    "PegasusTokenizerFast", "PegasusTokenizer", "T5TokenizerFast", "T5Tokenizer", "MT5TokenizerFast",
    "MT5Tokenizer", "LlamaTokenizerFast", "LlamaTokenizer", "CodeLlamaTokenizerFast", "CodeLlamaTokenizer",
    "GemmaTokenizerFast", "GemmaTokenizer", "MBartTokenizerFast", "MBartTokenizer", "MBart50TokenizerFast",
    "MBart50Tokenizer", "BartphoTokenizer", "MarianTokenizer", "DebertaV2TokenizerFast", "DebertaV2Tokenizer",
    "XLNetTokenizerFast", "XLNetTokenizer", "CpmTokenizerFast", "CpmTokenizer", "BigBirdTokenizerFast",
    "BigBirdTokenizer",
]
