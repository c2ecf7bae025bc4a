"""BERT's tokenizer in its two steps, for code that uses them directly: `BasicTokenizer` (clean the text, lowercase
and strip accents, split on whitespace and punctuation, and around CJK characters) and `WordpieceTokenizer` (each
word into the longest vocabulary pieces, "##" marking a piece that continues a word).

BERT's tokenizer classes do these steps in the Rust library; these plain-Python versions give the same pieces.
"""

from __future__ import annotations

import unicodedata

# the CJK Unified Ideographs blocks (and their extensions and compatibility forms) that BERT splits one by one;
# Hangul, Hiragana and Katakana are written with spaces and are not among them
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def _is_punctuation(char: str) -> bool:
    """Unicode punctuation, and every ASCII character that is neither a letter, a digit nor a space ($, ^, `...)."""
    code = ord(char)
    return 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126 \
        or unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return any(low <= code <= high for low, high in _CJK)


class BasicTokenizer:
    """Split text into words and punctuation as BERT does before WordPiece.

    `never_split` tokens are kept whole (and not lowercased); `strip_accents` defaults to following
    `do_lower_case`; `do_split_on_punc=False` keeps punctuation attached to words.
    """

    def __init__(self, do_lower_case: bool = True, never_split=None, tokenize_chinese_chars: bool = True,
                 strip_accents: bool | None = None, do_split_on_punc: bool = True):
        self.do_lower_case = do_lower_case
        self.never_split = set(never_split or ())
        self.tokenize_chinese_chars = tokenize_chinese_chars
        self.strip_accents = strip_accents
        self.do_split_on_punc = do_split_on_punc

    def tokenize(self, text: str, never_split=None) -> list[str]:
        keep = self.never_split | set(never_split or ())
        text = "".join(" " if _is_whitespace(c) else c for c in text
                       if not (c in "\x00\ufffd" or _is_control(c)))
        if self.tokenize_chinese_chars:
            text = "".join(f" {c} " if _is_cjk(ord(c)) else c for c in text)
        words = []
        for word in unicodedata.normalize("NFC", text).split():
            if word not in keep:
                if self.do_lower_case:
                    word = word.lower()
                if self.strip_accents if self.strip_accents is not None else self.do_lower_case:
                    word = "".join(c for c in unicodedata.normalize("NFD", word)
                                   if unicodedata.category(c) != "Mn")
            words.extend(self._split_on_punctuation(word, keep))
        return " ".join(words).split()

    def _split_on_punctuation(self, word: str, keep: set) -> list[str]:
        if not self.do_split_on_punc or word in keep:
            return [word]
        pieces, current = [], ""
        for char in word:
            if _is_punctuation(char):
                if current:
                    pieces.append(current)
                pieces.append(char)
                current = ""
            else:
                current += char
        return pieces + [current] if current else pieces


class WordpieceTokenizer:
    """Split each whitespace-separated word into the longest pieces of `vocab` (greedily, from the left); a word
    with no such split, or longer than `max_input_chars_per_word`, becomes `unk_token`."""

    def __init__(self, vocab, unk_token: str, max_input_chars_per_word: int = 100):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize(self, text: str) -> list[str]:
        out = []
        for word in text.split():
            out.extend(self._pieces(word))
        return out

    def _pieces(self, word: str) -> list[str]:
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(piece)
                    start = end
                    break
            else:
                return [self.unk_token]
        return pieces
