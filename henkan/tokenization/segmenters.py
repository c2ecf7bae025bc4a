"""Tokenizers whose words are found by a Python segmenter before the vocabulary is applied: BERT-Japanese (MeCab
through `fugashi`, with the `unidic-lite` or `ipadic` dictionary).

The segmenter runs inside the Rust tokenizer as a custom pre-tokenizer, so added tokens, offsets, padding and
truncation work as for every other tokenizer. Such a tokenizer cannot be written to tokenizer.json (the reference
has no fast class for these models either): it is saved as its vocabulary file and tokenizer_config.json.
"""

from __future__ import annotations

import os

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers.pre_tokenizers import PreTokenizer

from .base import PreTrainedTokenizer
from .families import _BERT_LAYOUT, _SlowDecoding, _template_processor

_MECAB_DICTIONARIES = {"unidic_lite": "unidic-lite", "ipadic": "ipadic", "unidic": "unidic"}


def _require(module: str, package: str, purpose: str):
    try:
        return __import__(module)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"{purpose} needs the `{package}` package: pip install {package} (or pip install "
                                  f"'henkan[ja]').") from error


def mecab_tagger(mecab_dic: str | None = "unidic_lite", mecab_option: str | None = None):
    """A fugashi tagger over the named dictionary package (or, with mecab_dic=None, the system MeCab's, chosen by
    `mecab_option`)."""
    fugashi = _require("fugashi", "fugashi", "Splitting Japanese text into words with MeCab")
    option = mecab_option or ""
    if mecab_dic is not None:
        if mecab_dic not in _MECAB_DICTIONARIES:
            raise ValueError(f"mecab_dic must be one of {sorted(_MECAB_DICTIONARIES)} or None, not {mecab_dic!r}.")
        package = _MECAB_DICTIONARIES[mecab_dic]
        folder = _require(mecab_dic, package, f"MeCab's {mecab_dic} dictionary").DICDIR
        if not os.path.isdir(folder):
            raise RuntimeError(f"The {package} package is installed but its dictionary is not at {folder}; for "
                               f"unidic run `python -m unidic download`.")
        option = f'-d "{folder}" -r "{os.path.join(folder, "mecabrc")}" ' + option
    return fugashi.GenericTagger(option)


class _MecabWords:
    """Custom pre-tokenizer: MeCab's words (their surfaces: whitespace goes), lowercased if asked, each cut into
    characters if asked."""

    def __init__(self, tagger, lowercase: bool, characters: bool):
        self.tagger, self.lowercase, self.characters = tagger, lowercase, characters

    def _words(self, _, normalized):
        text, pieces, position = str(normalized), [], 0
        for word in self.tagger(text):
            start = text.index(word.surface, position)
            position = start + len(word.surface)
            if self.characters:
                pieces += [normalized[i:i + 1] for i in range(start, position)]
            else:
                pieces.append(normalized[start:position])
        if self.lowercase:
            for piece in pieces:
                piece.lowercase()
        return pieces

    def pre_tokenize(self, pretokenized):
        pretokenized.split(self._words)


class BertJapaneseTokenizer(_SlowDecoding, PreTrainedTokenizer):
    """BERT's tokenizer for Japanese: words from MeCab (`word_tokenizer_type="mecab"`, text NFKC-normalised
    first) or BERT's basic splitting (`"basic"`, no CJK splitting), then WordPiece (`subword_tokenizer_type=
    "wordpiece"`) or one token per character (`"character"`) over vocab.txt."""

    vocab_files_names = {"vocab_file": "vocab.txt", "spm_file": "spiece.model"}
    _optional_files = ("spm_file",)
    _defaults = dict(do_lower_case=False, do_word_tokenize=True, do_subword_tokenize=True, word_tokenizer_type="basic",
                     subword_tokenizer_type="wordpiece", never_split=None, unk_token="[UNK]", sep_token="[SEP]",
                     pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", mecab_kwargs=None,
                     sudachi_kwargs=None, jumanpp_kwargs=None)
    _template = _BERT_LAYOUT
    _post_processor = classmethod(_template_processor)
    _files_first = True
    _copies_files = True

    def _build_backend(self, files: dict, kwargs: dict) -> Tokenizer:
        words, subwords = kwargs["word_tokenizer_type"], kwargs["subword_tokenizer_type"]
        if subwords not in ("wordpiece", "character"):
            raise NotImplementedError(f"subword_tokenizer_type={subwords!r} is not supported by henkan's "
                                      f"BertJapaneseTokenizer (it has 'wordpiece' and 'character').")
        if kwargs["do_word_tokenize"] and words not in ("basic", "mecab"):
            raise NotImplementedError(f"word_tokenizer_type={words!r} is not supported by henkan's "
                                      f"BertJapaneseTokenizer (it has 'mecab' and 'basic').")
        with open(files["vocab_file"], encoding="utf-8") as f:
            vocab = {line.rstrip("\n"): index for index, line in enumerate(f)}
        backend = Tokenizer(models.WordPiece(vocab, unk_token=str(kwargs["unk_token"]), max_input_chars_per_word=100))
        lowercase = kwargs["do_lower_case"]
        characters = kwargs["do_subword_tokenize"] and subwords == "character"
        if not kwargs["do_word_tokenize"]:
            backend.pre_tokenizer = pre_tokenizers.Split(Regex(".") if characters else Regex(r"(?s).+"), "isolated")
        elif words == "mecab":
            options = dict(kwargs["mecab_kwargs"] or {})
            if options.pop("normalize_text", True):
                backend.normalizer = normalizers.NFKC()
            tagger = mecab_tagger(options.pop("mecab_dic", "unidic_lite"), options.pop("mecab_option", None))
            if options:
                raise TypeError(f"mecab_kwargs has unknown keys {sorted(options)}; MeCab takes mecab_dic, "
                                f"mecab_option and normalize_text.")
            backend.pre_tokenizer = PreTokenizer.custom(_MecabWords(tagger, lowercase, characters))
        else:
            backend.normalizer = normalizers.Sequence([
                normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=None,
                                           lowercase=lowercase), normalizers.NFC()])
            split = [pre_tokenizers.BertPreTokenizer()]
            if characters:
                split.append(pre_tokenizers.Split(Regex("."), "isolated"))
            backend.pre_tokenizer = pre_tokenizers.Sequence(split)
        if characters:
            backend.normalizer = normalizers.Sequence([n for n in (backend.normalizer, normalizers.NFKC()) if n])
        backend.decoder = decoders.WordPiece(prefix="##")
        backend.post_processor = self._post_processor(backend, kwargs)
        self._characters = characters
        return backend

    def _tokens_to_text(self, tokens: list[str]) -> str:
        return " ".join(tokens).replace(" ##", "").strip()

    def _save_model_files(self, directory, legacy_format, filename_prefix):
        if legacy_format is False:
            raise ValueError("BertJapaneseTokenizer has no tokenizer.json form (its word splitter is MeCab); save "
                             "it with legacy_format=None.")
        return list(self.save_vocabulary(directory, filename_prefix=filename_prefix))


__all__ = ["BertJapaneseTokenizer"]
