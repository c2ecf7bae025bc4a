"""Tokenizers whose words are found by a Python segmenter before the vocabulary is applied: BERT-Japanese (MeCab
through `fugashi`, with the `unidic-lite` or `ipadic` dictionary), BERTweet (tweet normalisation through
`nltk`'s TweetTokenizer and `emoji`, then fastBPE-style subwords), BioGPT (Moses' English tokenizer through
`sacremoses`, then BPE), CTRL (BPE over the whitespace-separated words) and CPM-Ant (jieba's Chinese words through
`rjieba`, then the longest vocabulary entries).

The BPE of BERTweet, BioGPT and CTRL runs in the Python pre-tokenizer, not in the `tokenizers` BPE model: that
model needs every merge's result in the vocabulary, while these fastBPE-made vocabularies are pruned by frequency
(the pieces a merge passes through may be missing; the reference merges by spelling and maps a missing final piece
to <unk>), and `tokenize()` must spell an unknown piece as the reference does, not as <unk>. The vocabulary lookup
is then a WordLevel model over the spelled pieces.

The segmenter runs inside the Rust tokenizer as a custom normalizer / pre-tokenizer, so added tokens, offsets,
padding and truncation work as for every other tokenizer. Such a tokenizer cannot be written to tokenizer.json (the
reference has no fast class for these models either): it is saved as its vocabulary files and tokenizer_config.json.
"""

from __future__ import annotations

import importlib
import os
import re

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers.normalizers import Normalizer
from tokenizers.pre_tokenizers import PreTokenizer

from .base import PreTrainedTokenizer
from .families import _BERT_LAYOUT, _ROBERTA_LAYOUT, _SPECIALS_ROBERTA, _SlowDecoding, _template_processor

_MECAB_DICTIONARIES = {"unidic_lite": "unidic-lite", "ipadic": "ipadic", "unidic": "unidic"}


def _require(module: str, package: str, purpose: str, extra: str = "ja"):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(f"{purpose} needs the `{package}` package: pip install {package} (or pip install "
                                  f"'henkan[{extra}]').") from error


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


class _CustomBackend:
    """Saving for the tokenizers whose Rust tokenizer runs Python code: the vocabulary files only."""

    _files_first = True
    _copies_files = True

    def _save_model_files(self, directory, legacy_format, filename_prefix):
        if legacy_format is False:
            raise ValueError(f"{type(self).__name__} has no tokenizer.json form (its words come from Python code); "
                             f"save it with legacy_format=None.")
        return list(self.save_vocabulary(directory, filename_prefix=filename_prefix))


class BertJapaneseTokenizer(_CustomBackend, _SlowDecoding, PreTrainedTokenizer):
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


# ---------------------------------------------------------------------------------------------------- BERTweet

_EMOJI_SEQUENCE = re.compile("[\u200d\U0001F1E6-\U0001F1FF\U0001F3FB-\U0001F3FF\U000E0000-\U000E007F]")
_CONTRACTIONS = (("cannot ", "can not "), ("n't ", " n't "), ("n 't ", " n't "), ("ca n't", "can't"),
                 ("ai n't", "ain't"), ("'m ", " 'm "), ("'re ", " 're "), ("'s ", " 's "), ("'ll ", " 'll "),
                 ("'d ", " 'd "), ("'ve ", " 've "), (" p . m .", "  p.m."), (" p . m ", " p.m "),
                 (" a . m .", " a.m."), (" a . m ", " a.m "))
_TWEET_PUNCTUATION = {"’": "'", "…": "..."}


class _TweetNormalizer:
    """Custom normalizer: BERTweet's normalisation of a tweet. Words as NLTK's TweetTokenizer finds them (emoji
    sequences - flags, skin tones, joined emoji - cut back into single characters, as the TweetTokenizer BERTweet
    was trained with did), user mentions -> @USER, links -> HTTPURL, single characters -> their emoji name
    (`emoji.demojize`), contractions split, joined by single spaces. The result replaces the whole text (offsets
    then span the whole text)."""

    def __init__(self):
        tweet_tokenizer = _require("nltk.tokenize", "nltk", "BERTweet's tweet normalization",
                                   "tweets").TweetTokenizer
        self.words = tweet_tokenizer().tokenize
        try:
            from emoji import demojize
        except ModuleNotFoundError:
            demojize = None  # (the reference then keeps emoji as they are, and warns)
        self.demojize = demojize

    def _word(self, word: str) -> str:
        if word.startswith("@"):
            return "@USER"
        if word.lower().startswith(("http", "www")):
            return "HTTPURL"
        if len(word) == 1:
            if word in _TWEET_PUNCTUATION:
                return _TWEET_PUNCTUATION[word]
            return self.demojize(word) if self.demojize is not None else word
        return word

    def normalize_text(self, text: str) -> str:
        for mark, plain in _TWEET_PUNCTUATION.items():
            text = text.replace(mark, plain)
        words = []
        for word in self.words(text):
            words += list(word) if len(word) > 1 and _EMOJI_SEQUENCE.search(word) else [word]
        text = " ".join(self._word(word) for word in words)
        for before, after in _CONTRACTIONS:
            text = text.replace(before, after)
        return " ".join(text.split())

    def normalize(self, normalized):
        text = normalized.normalized
        if text:
            normalized.replace(text, self.normalize_text(text))


class _WordBPE:
    """Custom pre-tokenizer: words are the runs of non-space (with a newline that follows), each cut into the
    pieces of byte-pair merges by rank ("</w>" marking the end of the word during the merges); pieces before the
    last are spelled with "@@" after them, as the vocabulary writes them (or, with `word_end`, the last piece with
    "</w>" after it and the others as they are: BioGPT's vocabulary)."""

    def __init__(self, ranks: dict[tuple[str, str], int], word_end: bool = False):
        self.ranks, self.cache, self.word_end = ranks, {}, word_end
        self.record = None  # a list while `tokenize` wants the pieces as spelled (unknown ones included)

    def pieces(self, word: str) -> list[str]:
        if word in self.cache:
            return self.cache[word]
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            pairs = {(a, b) for a, b in zip(symbols, symbols[1:])}
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        symbols[-1] = symbols[-1][:-len("</w>")]
        self.cache[word] = symbols
        return symbols

    def _split(self, _, normalized):
        text, out = str(normalized), []
        for match in re.finditer(r"\S+\n?", text):
            start = match.start()
            pieces = self.pieces(match.group())
            for k, piece in enumerate(pieces):
                part = normalized[start:start + len(piece)]
                if self.word_end and k == len(pieces) - 1:
                    part.append("</w>")
                elif not self.word_end and k < len(pieces) - 1:
                    part.append("@@")
                out.append(part)
                start += len(piece)
        if self.record is not None:
            self.record += [str(part) for part in out]
        return out

    def pre_tokenize(self, pretokenized):
        pretokenized.split(self._split)


class _SpelledPieces:
    """`tokenize` of the tokenizers whose pieces come from `_WordBPE` (`self._words`): the tokens as the reference
    spells them, a piece outside the vocabulary showing itself instead of <unk>."""

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        self._words.record = pieces = []
        try:
            encoding = self.encode_plus(text, pair, add_special_tokens=add_special_tokens, **kwargs)
        finally:
            self._words.record = None
        tokens = encoding.tokens()
        if not encoding.encodings:
            return tokens
        found = encoding.encodings[0]
        vocab, unk, out = self._tokenizer.get_vocab(with_added_tokens=False), str(self.unk_token), []
        # added tokens never reach the pre-tokenizer: the pieces are the other tokens, in order (an <unk> written
        # in the text is the added token, one standing for a piece is not)
        for token, sequence, (start, end) in zip(tokens, found.sequence_ids, found.offsets):
            source = text if sequence == 0 else pair
            written = isinstance(source, str) and source[start:end] == unk
            if pieces and (pieces[0] == token or (token == unk and not written and pieces[0] not in vocab)):
                token = pieces.pop(0)
            out.append(token)
        return out


def _read_merges(path: str, lines: slice, fields: slice) -> dict[tuple[str, ...], int]:
    """Merge ranks from a merges file: the `lines` of it (a header skipped, the empty last line dropped), each
    pair taken from the `fields` of its whitespace-split line."""
    with open(path, encoding="utf-8") as f:
        merges = [tuple(line.split()[fields]) for line in f.read().split("\n")[lines]]
    return dict(zip(merges, range(len(merges))))


def _read_vocab_json(path: str) -> dict[str, int]:
    import json

    with open(path, encoding="utf-8") as f:
        vocab = json.load(f)
    if not isinstance(vocab, dict) or not all(isinstance(i, int) for i in vocab.values()):
        raise ValueError(f"{path} should be a JSON object mapping each token to its id.")
    return vocab


class BertweetTokenizer(_SpelledPieces, _CustomBackend, _SlowDecoding, PreTrainedTokenizer):
    """BERTweet's tokenizer: fastBPE subwords (vocab.txt of "token count" lines after <s> <pad> </s> <unk>, and
    bpe.codes of merges) over the words of the text; with `normalization=True`, the tweet is normalised first
    (needs `nltk`, and `emoji` for emoji names)."""

    vocab_files_names = {"vocab_file": "vocab.txt", "merges_file": "bpe.codes"}
    _defaults = dict(normalization=False, **_SPECIALS_ROBERTA)
    _template = _ROBERTA_LAYOUT
    _post_processor = classmethod(_template_processor)

    def _build_backend(self, files: dict, kwargs: dict) -> Tokenizer:
        vocab = {str(kwargs[k]): i for i, k in enumerate(("bos_token", "pad_token", "eos_token", "unk_token"))}
        with open(files["vocab_file"], encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                cut = line.rfind(" ")
                if cut == -1:
                    raise ValueError(f"{files['vocab_file']} line {number}: expected '<token> <count>', got "
                                     f"{line!r}.")
                vocab[line[:cut]] = len(vocab)
        backend = Tokenizer(models.WordLevel(vocab, unk_token=str(kwargs["unk_token"])))
        if kwargs["normalization"]:
            backend.normalizer = Normalizer.custom(_TweetNormalizer())
        self._words = _WordBPE(_read_merges(files["merges_file"], slice(None, -1), slice(None, -1)))
        backend.pre_tokenizer = PreTokenizer.custom(self._words)
        backend.post_processor = self._post_processor(backend, kwargs)
        return backend

    def _tokens_to_text(self, tokens: list[str]) -> str:
        return " ".join(tokens).replace("@@ ", "").strip()


# ---------------------------------------------------------------------------------------------------- BioGPT

_MOSES_ESCAPES = {"&amp;": "&", "&#124;": "|", "&lt;": "<", "&gt;": ">", "&apos;": "'", "&quot;": '"',
                  "&#91;": "[", "&#93;": "]"}
_MOSES_ESCAPED = re.compile("|".join(map(re.escape, _MOSES_ESCAPES)))


def _moses_source(word: str) -> str:
    """The text a Moses token stands for ("@-@" is a dash it split off, entities are escaped characters)."""
    return "-" if word == "@-@" else _MOSES_ESCAPED.sub(lambda m: _MOSES_ESCAPES[m.group()], word)


class _MosesWords:
    """Custom pre-tokenizer: the words of Moses' English tokenizer (`aggressive_dash_splits`, XML characters
    escaped), each the piece of the text it comes from, spelled as Moses spells it; then each word cut into its
    BPE pieces (`bpe`, a `_WordBPE`)."""

    def __init__(self, moses, bpe: _WordBPE):
        self.moses, self.bpe = moses, bpe

    def _split(self, _, normalized):
        text = str(normalized)
        words = self.moses.tokenize(text, aggressive_dash_splits=True, return_str=False, escape=True)
        pieces, position = [], 0
        for word in words:
            source = _moses_source(word)
            start = text.find(source, position)
            if start < 0:  # (Moses changed the text beyond escaping: the words replace it, offsets span it all)
                normalized.replace(text, " ".join(words))
                pieces = normalized.split(" ", "removed")
                break
            piece = normalized[start:start + len(source)]
            if source != word:
                piece.replace(source, word)
            pieces.append(piece)
            position = start + len(source)
        return [part for piece in pieces for part in self.bpe._split(None, piece)]

    def pre_tokenize(self, pretokenized):
        pretokenized.split(self._split)


class BioGptTokenizer(_SpelledPieces, _CustomBackend, _SlowDecoding, PreTrainedTokenizer):
    """BioGPT's tokenizer (fairseq's): Moses' English tokenization (needs `sacremoses`), then BPE over each word
    with the last piece marked "</w>" (vocab.json + merges.txt). A sequence is `</s> X`, a pair `</s> A </s> B`;
    decoding undoes the BPE and detokenizes with Moses."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt"}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(unk_token="<unk>", bos_token="<s>", eos_token="</s>", sep_token="</s>", pad_token="<pad>")
    _template = ("sep $A", "sep $A sep:1 $B:1")
    _post_processor = classmethod(_template_processor)

    def _build_backend(self, files: dict, kwargs: dict) -> Tokenizer:
        sacremoses = _require("sacremoses", "sacremoses", "BioGptTokenizer's Moses tokenization", "moses")
        self._moses_detokenizer = sacremoses.MosesDetokenizer(lang="en")
        backend = Tokenizer(models.WordLevel(_read_vocab_json(files["vocab_file"]), unk_token=str(kwargs["unk_token"])))
        self._words = _WordBPE(_read_merges(files["merges_file"], slice(None, -1), slice(None, 2)), word_end=True)
        backend.pre_tokenizer = PreTokenizer.custom(_MosesWords(sacremoses.MosesTokenizer(lang="en"), self._words))
        backend.post_processor = self._post_processor(backend, kwargs)
        return backend

    def _tokens_to_text(self, tokens: list[str]) -> str:
        words = "".join(t.replace(" ", "").replace("</w>", " ") for t in tokens).split()
        return self._moses_detokenizer.detokenize(words)


# ---------------------------------------------------------------------------------------------------- CTRL

# the control codes that start CTRL's prompts, and their ids in its vocabulary
CONTROL_CODES = {
    "Pregnancy": 168629, "Christianity": 7675, "Explain": 106423, "Fitness": 63440, "Saving": 63163, "Ask": 27171,
    "Ass": 95985, "Joke": 163509, "Questions": 45622, "Thoughts": 49605, "Retail": 52342, "Feminism": 164338,
    "Writing": 11992, "Atheism": 192263, "Netflix": 48616, "Computing": 39639, "Opinion": 43213, "Alone": 44967,
    "Funny": 58917, "Gaming": 40358, "Human": 4088, "India": 1331, "Joker": 77138, "Diet": 36206, "Legal": 11859,
    "Norman": 4939, "Tip": 72689, "Weight": 52343, "Movies": 46273, "Running": 23425, "Science": 2090,
    "Horror": 37793, "Confession": 60572, "Finance": 12250, "Politics": 16360, "Scary": 191985, "Support": 12654,
    "Technologies": 32516, "Teenage": 66160, "Event": 32769, "Learned": 67460, "Notion": 182770,
    "Wikipedia": 37583, "Books": 6665, "Extract": 76050, "Confessions": 102701, "Conspiracy": 75932,
    "Links": 63674, "Narcissus": 150425, "Relationship": 54766, "Relationships": 134796, "Reviews": 41671,
    "News": 4256, "Translation": 26820, "multilingual": 128406,
}


class CTRLTokenizer(_SpelledPieces, _CustomBackend, _SlowDecoding, PreTrainedTokenizer):
    """CTRL's tokenizer: BPE over the whitespace-separated words (a newline stays with the word before it), the
    pieces before a word's last spelled with "@@" (vocab.json + merges.txt); no special tokens around the text. A
    prompt starts with one of the `control_codes` (a word of the vocabulary)."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt"}
    control_codes = CONTROL_CODES
    _defaults = dict(unk_token="<unk>")
    _template = ("$A", "$A $B:1")
    _post_processor = classmethod(_template_processor)

    def _build_backend(self, files: dict, kwargs: dict) -> Tokenizer:
        backend = Tokenizer(models.WordLevel(_read_vocab_json(files["vocab_file"]), unk_token=str(kwargs["unk_token"])))
        self._words = _WordBPE(_read_merges(files["merges_file"], slice(1, -1), slice(None)))
        backend.pre_tokenizer = PreTokenizer.custom(self._words)
        backend.post_processor = self._post_processor(backend, kwargs)
        return backend

    _tokens_to_text = BertweetTokenizer._tokens_to_text


# ---------------------------------------------------------------------------------------------------- CPM-Ant


class _LongestPieces:
    """Custom pre-tokenizer: the words jieba cuts the text into (its dictionary only, no HMM, as the reference
    cuts), each cut from the left into the longest entries of the vocabulary; a character that begins none stands
    alone (and becomes the unknown token), as does a word longer than `longest_word` characters."""

    longest_word = 200

    def __init__(self, cut, vocab: dict[str, int]):
        self.cut, self.vocab = cut, vocab

    def _pieces(self, _, normalized):
        text, out, position = str(normalized), [], 0
        for word in self.cut(text, False):
            start = text.index(word, position)
            position = start + len(word)
            if len(word) > self.longest_word:
                out.append(normalized[start:position])
                continue
            i = 0
            while i < len(word):
                end = next((end for end in range(len(word), i, -1) if word[i:end] in self.vocab), i + 1)
                out.append(normalized[start + i:start + end])
                i = end
        return out

    def pre_tokenize(self, pretokenized):
        pretokenized.split(self._pieces)


class CpmAntTokenizer(_CustomBackend, _SlowDecoding, PreTrainedTokenizer):
    """CPM-Ant's tokenizer: jieba's words (`rjieba`, the Rust port the reference uses), each split into the longest
    entries of vocab.txt, whose `space_token` and `line_token` lines stand for " " and "\n". `<s>` starts every
    sequence (and the second of a pair); padding goes on the left. Decoding joins the tokens as they are, leaving out
    padding, `<s>` and `</s>`."""

    vocab_files_names = {"vocab_file": "vocab.txt"}
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "left"
    _defaults = dict(bod_token="<d>", eod_token="</d>", bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                     unk_token="<unk>", line_token="</n>", space_token="</_>")
    _template = ("bos $A", "bos $A bos $B")
    _post_processor = classmethod(_template_processor)

    def _build_backend(self, files: dict, kwargs: dict) -> Tokenizer:
        cut = _require("rjieba", "rjieba", "CpmAntTokenizer's Chinese word cut (jieba)", extra="zh").cut
        path = files["vocab_file"]
        with open(path, encoding="utf-8") as f:
            vocab = {line.rstrip("\n"): index for index, line in enumerate(f)}
        for char, name in ((" ", "space_token"), ("\n", "line_token")):
            token = str(kwargs[name])
            if token not in vocab:
                raise ValueError(f"{path} has no line {token!r}, the {name} that stands for {char!r}; pass "
                                 f"{name}= with the entry the vocabulary uses.")
            vocab[char] = vocab.pop(token)
        backend = Tokenizer(models.WordLevel(vocab, unk_token=str(kwargs["unk_token"])))
        backend.pre_tokenizer = PreTokenizer.custom(_LongestPieces(cut, vocab))
        backend.post_processor = self._post_processor(backend, kwargs)
        return backend

    @property
    def bod_token_id(self) -> int:
        return self.convert_tokens_to_ids(self.bod_token)

    @property
    def eod_token_id(self) -> int:
        return self.convert_tokens_to_ids(self.eod_token)

    @property
    def newline_id(self) -> int:
        return self.convert_tokens_to_ids("\n")

    def decode(self, token_ids, *args, **kwargs) -> str:
        if hasattr(token_ids, "tolist"):
            token_ids = token_ids.tolist()
        if isinstance(token_ids, (list, tuple)):  # (negative ids, e.g. -100 label padding, are left out too)
            dropped = {self.pad_token_id, self.eos_token_id, self.bos_token_id}
            token_ids = [i for i in token_ids if not (isinstance(i, int) and (i < 0 or i in dropped))]
        return super().decode(token_ids, *args, **kwargs)

    def _id_to_token(self, index: int) -> str:
        token = self._tokenizer.id_to_token(index)
        return str(self.unk_token) if token is None else token

    def _tokens_to_text(self, tokens: list[str]) -> str:
        return "".join(tokens)


__all__ = ["BertJapaneseTokenizer", "BertweetTokenizer", "BioGptTokenizer", "CTRLTokenizer", "CpmAntTokenizer"]
