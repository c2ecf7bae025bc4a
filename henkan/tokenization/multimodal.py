"""The tokenizers of the image-text and speech families: CLIP's (lower-cased byte-level BPE with end-of-word
markers), Wav2Vec2's CTC tokenizer (one token per character, CTC decoding with character and word offsets) and
Whisper's (GPT-2's byte-level BPE with task, language and timestamp tokens).

(The other families of those groups use BERT's, RoBERTa's and XLM-RoBERTa's tokenizers.)
"""

from __future__ import annotations

import json
import os
import re
from itertools import groupby

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from ..logging import get_logger
from ..models.whisper_languages import LANGUAGES, TO_LANGUAGE_CODE
from .base import PreTrainedTokenizer, PreTrainedTokenizerFast, _to_ids
from .batch_encoding import BatchEncoding
from .families import build_byte_level_bpe
from .files import TOKENIZER_FILE

logger = get_logger(__name__)

# ------------------------------------------------------------------------------------------------------------ CLIP


def build_clip_bpe(cls, files: dict, kwargs: dict) -> Tokenizer:
    """CLIP's BPE from vocab.json + merges.txt: whitespace runs collapsed and text lower-cased, split into letters,
    digits and other runs, byte-level, words ending in "</w>"."""
    model = models.BPE.from_file(files["vocab_file"], files["merges_file"], dropout=None, continuing_subword_prefix="",
                                 end_of_word_suffix="</w>", fuse_unk=False, unk_token=str(kwargs["unk_token"]))
    backend = Tokenizer(model)
    backend.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                               normalizers.Lowercase()])
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"), behavior="removed",
                             invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = cls._post_processor(backend, kwargs)
    return backend


class CLIPTokenizerFast(PreTrainedTokenizerFast):
    """CLIP's tokenizer: <|startoftext|> text <|endoftext|>; decoding turns the end-of-word markers into spaces."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "tokenizer_file": TOKENIZER_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(unk_token="<|endoftext|>", bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                     pad_token="<|endoftext|>")
    _slow_defaults = dict(errors="replace")
    _build_backend = classmethod(build_clip_bpe)

    @classmethod
    def _post_processor(cls, backend: Tokenizer, kwargs: dict):
        eos, bos = str(kwargs["eos_token"]), str(kwargs["bos_token"])
        return processors.RobertaProcessing((eos, backend.token_to_id(eos)), (bos, backend.token_to_id(bos)),
                                            add_prefix_space=False, trim_offsets=False)

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               **kwargs) -> str:
        text = self._tokenizer.decode(_to_ids(token_ids), skip_special_tokens=skip_special_tokens)
        return self._clean_up(text.replace("</w>", " ").strip(), clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs) -> list[str]:
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in sequences]


class CLIPTokenizer(CLIPTokenizerFast, PreTrainedTokenizer):
    """The reference's pure-Python name for CLIP's tokenizer."""


# --------------------------------------------------------------------------------------------------- Wav2Vec2 CTC


def build_ctc_characters(cls, files: dict, kwargs: dict) -> Tokenizer:
    """One token per character from vocab.json (`target_lang` picks a language of a nested vocabulary); spaces
    become the word delimiter and, with `do_lower_case`, letters are upper-cased (the vocabulary's case)."""
    with open(files["vocab_file"], encoding="utf-8") as f:
        vocab = json.load(f)
    target_lang = kwargs.get("target_lang")
    if target_lang is not None:
        if target_lang not in vocab:
            raise ValueError(f"target_lang {target_lang!r} is not in {files['vocab_file']}: it has "
                             f"{', '.join(sorted(vocab))}.")
        vocab = vocab[target_lang]
    unk = str(kwargs["unk_token"])
    backend = Tokenizer(models.WordLevel({**vocab}, unk_token=unk))
    steps = [normalizers.Replace(" ", str(kwargs["word_delimiter_token"]))]
    if kwargs.get("do_lower_case"):
        steps += [normalizers.Replace(c.lower(), c) for c in vocab if len(c) == 1 and c.lower() != c
                  and len(c.lower()) == 1]
    backend.normalizer = normalizers.Sequence(steps)
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    return backend


class Wav2Vec2CTCTokenizer(PreTrainedTokenizer):
    """Wav2Vec2's CTC tokenizer over a character vocabulary (vocab.json). Decoding merges repeated tokens
    (`group_tokens`), drops the CTC blank (the pad token), turns the word delimiter "|" into a space and, with
    `output_char_offsets` / `output_word_offsets`, says which logit frames each character and word came from."""

    vocab_files_names = {"vocab_file": "vocab.json"}
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                     word_delimiter_token="|", replace_word_delimiter_char=" ", do_lower_case=False, target_lang=None)
    _build_backend = classmethod(build_ctc_characters)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.vocab_file is not None:
            with open(self.vocab_file, encoding="utf-8") as f:
                self._vocab_json = json.load(f)
        else:
            self._vocab_json = self._tokenizer.get_vocab(with_added_tokens=False)
        self.encoder = self.vocab[self.target_lang] if self.target_lang is not None else self.vocab
        self._id_to_char = {v: k for k, v in self.encoder.items()}
        multi_char = [t for t in self.encoder if len(t) > 1 and t not in self.get_added_vocab()]
        if multi_char:
            self.add_tokens([AddedToken(t, rstrip=True, lstrip=True, normalized=False) for t in multi_char])

    @property
    def vocab(self) -> dict:
        """vocab.json as read (per language when nested)."""
        return self._vocab_json

    @property
    def word_delimiter_token_id(self) -> int | None:
        return None if self.word_delimiter_token is None else self.convert_tokens_to_ids(self.word_delimiter_token)

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_char)

    def get_vocab(self) -> dict[str, int]:
        return {**self.encoder, **self.get_added_vocab()}

    def _save_model_files(self, directory: str, legacy_format, filename_prefix):
        return super()._save_model_files(directory, True, filename_prefix)  # vocab.json: what the reference reads

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "vocab.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(self.vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return (path,)

    # --- CTC decoding

    def convert_tokens_to_string(self, tokens: list[str], group_tokens: bool = True,
                                 spaces_between_special_tokens: bool = False, output_char_offsets: bool = False,
                                 output_word_offsets: bool = False) -> dict:
        """{"text", "char_offsets", "word_offsets"} of CTC output tokens (one per logit frame)."""
        if not tokens:
            return {"text": "", "char_offsets": [], "word_offsets": []}
        if group_tokens:
            runs = [(token, len(list(run))) for token, run in groupby(tokens)]
        else:
            runs = [(token, 1) for token in tokens]
        blank, delimiter = self.pad_token, self.word_delimiter_token
        chars = [self.replace_word_delimiter_char if t == delimiter else t for t, _ in runs if t != blank]
        char_offsets = word_offsets = None
        if output_char_offsets or output_word_offsets:
            char_offsets, end = [], 0
            for token, count in runs:
                if token != blank:
                    char_offsets.append({"char": None, "start_offset": end, "end_offset": end + count})
                end += count
            for offset, char in zip(char_offsets, chars):
                offset["char"] = char
            if output_word_offsets:
                word_offsets = self._get_word_offsets(char_offsets, self.replace_word_delimiter_char)
            if not output_char_offsets:
                char_offsets = None
        text = (" " if spaces_between_special_tokens else "").join(chars).strip()
        if self.do_lower_case:
            text = text.lower()
        return {"text": text, "char_offsets": char_offsets, "word_offsets": word_offsets}

    @staticmethod
    def _get_word_offsets(offsets: list[dict], word_delimiter_char: str = " ") -> list[dict]:
        """Words (runs of characters between delimiters) with the frames they span."""
        words, current = [], None
        for offset in offsets:
            if offset["char"] == word_delimiter_char:
                if current is not None:
                    words.append(current)
                current = None
            elif current is None:
                current = {"word": offset["char"], "start_offset": offset["start_offset"],
                           "end_offset": offset["end_offset"]}
            else:
                current["word"] += offset["char"]
                current["end_offset"] = offset["end_offset"]
        if current is not None:
            words.append(current)
        return words

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               output_char_offsets: bool = False, output_word_offsets: bool = False, group_tokens: bool = True,
               spaces_between_special_tokens: bool = False, **kwargs):
        """The text of CTC output ids (or, with offsets asked for, a Wav2Vec2CTCTokenizerOutput)."""
        ids = _to_ids(token_ids)
        skipped = set(self.all_special_ids) if skip_special_tokens else set()
        tokens = [self._id_to_char[i] if i in self._id_to_char else self._added_content(i) for i in ids
                  if i not in skipped]
        if skip_special_tokens:
            specials = set(self.all_special_tokens) - {self.pad_token}
            tokens = [t for t in tokens if t not in specials]
        result = self.convert_tokens_to_string(tokens, group_tokens=group_tokens,
                                               spaces_between_special_tokens=spaces_between_special_tokens,
                                               output_char_offsets=output_char_offsets,
                                               output_word_offsets=output_word_offsets)
        text = self._clean_up(result["text"], clean_up_tokenization_spaces)
        if output_char_offsets or output_word_offsets:
            return Wav2Vec2CTCTokenizerOutput(text=text, char_offsets=result["char_offsets"],
                                              word_offsets=result["word_offsets"])
        return text

    def _added_content(self, index: int) -> str:
        token = self.added_tokens_decoder.get(index)
        return token.content if token is not None else str(self.unk_token)

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, output_char_offsets: bool = False,
                     output_word_offsets: bool = False, **kwargs):
        decoded = [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces, output_char_offsets,
                               output_word_offsets, **kwargs) for s in sequences]
        if output_char_offsets or output_word_offsets:
            return Wav2Vec2CTCTokenizerOutput({k: [d[k] for d in decoded] for k in decoded[0]})
        return decoded


class Wav2Vec2CTCTokenizerOutput(dict):
    """`text`, `char_offsets` and `word_offsets` of a CTC decode: attributes, and keys for those that are set."""

    _fields = ("text", "char_offsets", "word_offsets")

    def __init__(self, data=None, **kwargs):
        super().__init__({k: v for k, v in {**(data or {}), **kwargs}.items() if v is not None})

    def __getattr__(self, name):
        if name in self._fields:
            return self.get(name)
        raise AttributeError(name)


# --------------------------------------------------------------------------------------------------------- Whisper

TASK_IDS = ["translate", "transcribe"]
_TIMESTAMP = re.compile(r"<\|(\d+\.\d+)\|>")


def language_code(language: str) -> str:
    """The code of a Whisper language given by name ("english"), code ("en") or token ("<|en|>")."""
    language = language.lower()
    if language.startswith("<|") and language.endswith("|>"):
        language = language[2:-2]
    if language in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[language]
    if language in LANGUAGES:
        return language
    choices = list(TO_LANGUAGE_CODE.values()) if len(language) == 2 else list(TO_LANGUAGE_CODE)
    raise ValueError(f"Unsupported language: {language}. Language should be one of: {choices}.")


class WhisperTokenizerFast(PreTrainedTokenizerFast):
    """Whisper's tokenizer: GPT-2's byte-level BPE; calls lay out <|startoftranscript|> [language] [task]
    [<|notimestamps|>] text <|endoftext|> (`set_prefix_tokens` chooses); decoding drops timestamp tokens, or
    renders them (`decode_with_timestamps`), or returns timed segments (`output_offsets`)."""

    vocab_files_names = {"vocab_file": "vocab.json", "merges_file": "merges.txt", "normalizer_file": "normalizer.json",
                         "tokenizer_file": TOKENIZER_FILE}
    _optional_files = ("normalizer_file",)
    model_input_names = ["input_ids", "attention_mask"]
    _defaults = dict(unk_token="<|endoftext|>", bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                     add_prefix_space=False, language=None, task=None, predict_timestamps=False)
    _slow_defaults = dict(errors="replace")
    _build_backend = classmethod(build_byte_level_bpe)
    _words_need_prefix_space = True

    @classmethod
    def _post_processor(cls, backend: Tokenizer, kwargs: dict):
        return processors.ByteLevel(trim_offsets=False)  # the prefix is laid out once the special tokens exist

    def __init__(self, *args, normalizer_file=None, **kwargs):
        for key in ("unk_token", "bos_token", "eos_token"):
            value = kwargs.get(key, self._defaults[key])
            if isinstance(value, str):
                kwargs[key] = AddedToken(value, lstrip=False, rstrip=False, normalized=False, special=True)
        super().__init__(*args, **kwargs)
        self.add_bos_token = kwargs.get("add_bos_token", False)
        self.english_spelling_normalizer = None
        if normalizer_file is not None:
            with open(normalizer_file, encoding="utf-8") as f:
                self.english_spelling_normalizer = json.load(f)
        if self._from_files and self.convert_tokens_to_ids("<|startoftranscript|>") != self.unk_token_id:
            self.set_prefix_tokens()

    # --- the prefix

    def _id(self, token: str) -> int:
        index = self._tokenizer.token_to_id(token)
        if index is None:
            raise ValueError(f"{type(self).__name__} has no {token} token: its vocabulary is not Whisper's.")
        return index

    @property
    def prefix_tokens(self) -> list[int]:
        """<|startoftranscript|>, then the language, task and <|notimestamps|> tokens the settings ask for."""
        start = self._id("<|startoftranscript|>")
        prefix = [start]
        if self.language is not None:
            self.language = self.language.lower()
            prefix.append(start + 1 + list(LANGUAGES).index(language_code(self.language)))
        if self.task is not None:
            if self.task not in TASK_IDS:
                raise ValueError(f"Unsupported task: {self.task}. Task should be in: {TASK_IDS}")
            prefix.append(self._id(f"<|{self.task}|>"))
        if not self.predict_timestamps:
            prefix.append(self._id("<|notimestamps|>"))
        return prefix

    def set_prefix_tokens(self, language: str | None = None, task: str | None = None,
                          predict_timestamps: bool | None = None) -> None:
        """Change the language / task / timestamp tokens that calls put before the text (checked first, so a bad
        value leaves the tokenizer as it was)."""
        if language is not None:
            language_code(language)
        if task is not None and task not in TASK_IDS:
            raise ValueError(f"Unsupported task: {task}. Task should be in: {TASK_IDS}")
        self.language = language if language is not None else self.language
        self.task = task if task is not None else self.task
        if predict_timestamps is not None:
            self.predict_timestamps = predict_timestamps
        ids = self.prefix_tokens
        names = self.convert_ids_to_tokens(ids)
        eos = str(self.eos_token)
        prefix = " ".join(f"{name}:0" for name in names)
        self._tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{prefix} $A:0 {eos}:0", pair=f"{prefix} $A:0 $B:1 {eos}:1",
            special_tokens=[(eos, self.eos_token_id), *zip(names, ids)])

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        return self.prefix_tokens + token_ids_0 + (token_ids_1 or []) + [self.eos_token_id]

    def get_special_tokens_mask(self, token_ids_0: list[int], token_ids_1: list[int] | None = None,
                                already_has_special_tokens: bool = False) -> list[int]:
        if already_has_special_tokens:
            return super().get_special_tokens_mask(token_ids_0, token_ids_1, already_has_special_tokens=True)
        return [1] * len(self.prefix_tokens) + [0] * (len(token_ids_0) + len(token_ids_1 or [])) + [1]

    def get_decoder_prompt_ids(self, task=None, language=None, no_timestamps: bool = True) -> list[tuple[int, int]]:
        """(position, token) pairs forcing the language / task / timestamp tokens after <|startoftranscript|>."""
        self.set_prefix_tokens(task=task, language=language, predict_timestamps=not no_timestamps)
        return [(rank + 1, token) for rank, token in enumerate(self.prefix_tokens[1:])]

    def get_prompt_ids(self, text: str, return_tensors="np"):
        """<|startofprev|> and the text's tokens: a prompt to condition generation on."""
        encoding = self("<|startofprev|>", " " + text.strip(), add_special_tokens=False)
        first_special = min(self.all_special_ids)
        bad = next((i for i in encoding["input_ids"][1:] if i >= first_special), None)
        if bad is not None:
            raise ValueError("Encountered text in the prompt corresponding to disallowed special token: "
                             f"{self.convert_ids_to_tokens(bad)}.")
        return BatchEncoding({"input_ids": encoding["input_ids"]}, tensor_type=return_tensors)["input_ids"]

    # --- timestamps

    @property
    def timestamp_begin(self) -> int:
        """The id of <|0.00|> (timestamp tokens follow <|notimestamps|>)."""
        return self._id("<|notimestamps|>") + 1

    def timestamp_ids(self, time_precision: float = 0.02) -> list[int]:
        return self.convert_tokens_to_ids([f"<|{i * time_precision:.2f}|>" for i in range(1501)])

    def _strip_prompt(self, token_ids: list[int]) -> list[int]:
        """Without a leading <|startofprev|> prompt (everything before <|startoftranscript|>)."""
        if token_ids and token_ids[0] == self._tokenizer.token_to_id("<|startofprev|>"):
            start = self._tokenizer.token_to_id("<|startoftranscript|>")
            return token_ids[token_ids.index(start):] if start in token_ids else []
        return token_ids

    def _segments(self, token_ids: list[int], time_precision: float, segment_size: int):
        """Yield ("time", seconds) and ("text", ids) in order; a timestamp lower than the one before starts a new
        window (of `segment_size` positions after a lone ending timestamp, else after the last segment's end)."""
        begin = self.timestamp_begin
        offset, last, before_last = 0.0, 0.0, 0.0
        for i, token in enumerate(token_ids):
            if token < begin:
                yield "text", token
                continue
            time = (token - begin) * time_precision
            if time < last:
                single_ending = i >= 2 and not (token_ids[i - 1] >= begin and token_ids[i - 2] >= begin)
                if single_ending:
                    offset += time_precision * segment_size
                else:
                    yield "undo", None
                    last = before_last
                    offset += before_last
            before_last, last = last, time
            yield "time", time + offset

    def _decode_with_timestamps(self, token_ids: list[int], skip_special_tokens: bool = False,
                                time_precision: float = 0.02, segment_size: int = 1500) -> str:
        parts: list = [[]]
        for kind, value in self._segments(token_ids, time_precision, segment_size):
            if kind == "text":
                parts[-1].append(value)
            elif kind == "undo":
                parts = parts[:-2]
            else:
                parts += [f"<|{value:.2f}|>", []]
        return "".join(p if isinstance(p, str) else self.decode(p, skip_special_tokens=skip_special_tokens)
                       for p in parts)

    def _compute_offsets(self, token_ids, time_precision: float = 0.02, segment_size: int = 1500) -> list[dict]:
        """[{"text", "timestamp": (start, end)}] of the segments between pairs of timestamp tokens."""
        ids = _to_ids(token_ids)
        begin = self.timestamp_begin
        stamps = [i for i, t in enumerate(ids) if t >= begin]
        ends = [i + 1 for i in range(len(ids) - 1) if ids[i] >= begin and ids[i + 1] >= begin]
        if not ends and len(stamps) <= 1:
            return []
        if stamps[-1] + 1 not in ends:
            ends.append(stamps[-1] + 1)
        offsets, start, last_end, shift = [], stamps[0], 0, 0
        for end in ends:
            piece = ids[start:end]
            if len(piece) > 1:
                first_pos, last_pos = piece[0] - begin, piece[-1] - begin
                if first_pos < last_end:
                    single_ending = start >= 2 and not (ids[start - 2] >= begin and ids[start - 1] >= begin)
                    shift += segment_size if single_ending else last_end
                last_end = last_pos
                text = _TIMESTAMP.sub("", self._tokenizer.decode(piece, skip_special_tokens=False))
                offsets.append({"text": text, "timestamp": ((first_pos + shift) * time_precision,
                                                            (last_pos + shift) * time_precision)})
            start = end
        return offsets

    # --- decoding

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               output_offsets: bool = False, time_precision: float = 0.02, decode_with_timestamps: bool = False,
               normalize: bool = False, basic_normalize: bool = False, remove_diacritics: bool = False, **kwargs):
        """The text of generated ids: timestamps removed (or rendered, `decode_with_timestamps`), a leading prompt
        dropped with `skip_special_tokens`; `output_offsets=True` returns {"text", "offsets"}."""
        if normalize or basic_normalize:
            raise NotImplementedError("Whisper's English/basic text normalizers are not part of henkan; decode "
                                      "without normalize=/basic_normalize= and normalize the text yourself.")
        ids = _to_ids(token_ids)
        filtered = self._strip_prompt(ids) if skip_special_tokens else ids
        if decode_with_timestamps:
            text = self._decode_with_timestamps(filtered, skip_special_tokens, time_precision)
        else:
            text = _TIMESTAMP.sub("", super().decode(filtered, skip_special_tokens, clean_up_tokenization_spaces))
        if output_offsets:
            return {"text": text, "offsets": self._compute_offsets(ids, time_precision)}
        return text

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs) -> list:
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces, **kwargs) for s in sequences]

    def _decode_asr(self, model_outputs, *, return_timestamps, return_language, time_precision):
        return decode_asr(self, model_outputs, return_timestamps=return_timestamps, return_language=return_language,
                          time_precision=time_precision)

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        files = list(super().save_vocabulary(save_directory, filename_prefix))
        if self.english_spelling_normalizer is not None:
            path = os.path.join(save_directory, (filename_prefix + "-" if filename_prefix else "") + "normalizer.json")
            with open(path, "w", encoding="utf-8") as f:
                f.write(json.dumps(self.english_spelling_normalizer, indent=2, sort_keys=True, ensure_ascii=False)
                        + "\n")
            files.append(path)
        return tuple(files)


class WhisperTokenizer(WhisperTokenizerFast, PreTrainedTokenizer):
    """The reference's pure-Python name for Whisper's tokenizer."""


__all__ = ["CLIPTokenizer", "CLIPTokenizerFast", "Wav2Vec2CTCTokenizer", "Wav2Vec2CTCTokenizerOutput",
           "WhisperTokenizer", "WhisperTokenizerFast"]


# ---------------------------------------------------------------------------- Whisper: stitching chunked outputs


def merge_overlapping(sequences: list[list[int]], times: list[list] | None = None):
    """One token sequence from chunks whose ends overlap: each next chunk is aligned with the text so far where
    the most tokens agree (more than one; a longer overlap wins ties by a hair), and both are cut at the middle of
    the overlap. With `times` (each token's (start, end), per chunk), tokens agree only if the earlier chunk's
    time is not after the later's, and the merged times are returned too."""
    left, merged = list(sequences[0]), []
    left_times, merged_times = (list(times[0]), []) if times else (None, None)
    for n, right in enumerate(sequences[1:], start=1):
        best, cut = 0.0, (len(left), len(left), 0, 0)
        for shift in range(1, len(left) + len(right)):
            l_start, l_stop = max(0, len(left) - shift), min(len(left), len(left) + len(right) - shift)
            r_start, r_stop = max(0, shift - len(left)), min(len(right), shift)
            matches = sum(1 for a in range(l_stop - l_start) if left[l_start + a] == right[r_start + a] and
                          (not times or left_times[l_start + a] <= times[n][r_start + a]))
            score = matches / shift + shift / 10000.0
            if matches > 1 and score > best:
                best, cut = score, (l_start, l_stop, r_start, r_stop)
        merged += left[:(cut[0] + cut[1]) // 2]
        left = list(right[(cut[2] + cut[3]) // 2:])
        if times:
            merged_times += left_times[:(cut[0] + cut[1]) // 2]
            left_times = list(times[n][(cut[2] + cut[3]) // 2:])
    if times is None:
        return merged + left
    return merged + left, (merged_times + left_times if times else [])


_PREPENDED, _APPENDED = "\"'“¡¿([{-", "\"'.。,，!！?？:：”)]}、"
_NO_SPACES = {"chinese", "japanese", "thai", "lao", "myanmar", "cantonese"}


def _words(tokenizer, tokens: list[int], language: str | None) -> list[tuple[str, list[int]]]:
    """(word, token positions) of text tokens: pieces that decode to whole characters, joined into words at spaces
    and punctuation (in languages written without spaces each character piece is a word), with opening punctuation
    moved onto the next word and closing punctuation onto the one before."""
    pieces, start, text_so_far = [], 0, ""
    full = tokenizer.decode(tokens, decode_with_timestamps=True)
    for end in range(1, len(tokens) + 1):
        text = tokenizer.decode(tokens[start:end], decode_with_timestamps=True)
        broken = text.find("\ufffd")
        if broken < 0 or full[len(text_so_far) + broken] == "\ufffd":  # whole characters (or a real U+FFFD)
            pieces.append((text, list(range(start, end))))
            text_so_far += text
            start = end
    language = language or tokenizer.language or "english"
    if language in _NO_SPACES:
        words = pieces
    else:
        words = []
        for text, positions in pieces:
            joins = not (tokens[positions[0]] >= tokenizer.eos_token_id or text.startswith(" ") or
                         text.strip() in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
            if joins and words:
                words[-1] = (words[-1][0] + text, words[-1][1] + positions)
            else:
                words.append((text, positions))
    words = [list(w) for w in words]
    after = len(words) - 1
    for i in range(len(words) - 2, -1, -1):  # opening punctuation joins the word after it
        if words[i][0].startswith(" ") and words[i][0].strip() in _PREPENDED:
            words[after] = [words[i][0] + words[after][0], words[i][1] + words[after][1]]
            words[i] = ["", []]
        else:
            after = i
    kept = 0
    for j in range(1, len(words)):  # closing punctuation joins the word before it
        if not words[kept][0].endswith(" ") and words[j][0] in _APPENDED:
            words[kept] = [words[kept][0] + words[j][0], words[kept][1] + words[j][1]]
            words[j] = ["", []]
        else:
            kept = j
    return [(text, positions) for text, positions in words if text and positions]


def decode_asr(tokenizer, model_outputs, *, return_timestamps, return_language, time_precision: float,
               segment_size: int = 1500):
    """(text, {"chunks": [...]}) of Whisper's generations over the windows of a long recording, as the ASR
    pipeline returns them: windows (with their `stride` = (length, left, right) in seconds) are stitched where
    they overlap, timestamps are shifted to the recording's time, and a new chunk starts at each segment end (or,
    without timestamps, at each change of language). With return_timestamps="word" (outputs carrying each
    token's `token_timestamps`), the chunks are the words, each spanning its tokens' times."""
    by_word = return_timestamps == "word"
    begin = tokenizer.timestamp_begin
    specials = set(tokenizer.all_special_ids)
    chunks, language = [], None

    def new_chunk():
        return {"language": language, "timestamp": [None, None], "text": ""}

    def close(chunk, pending, pending_times):
        """Stitch the chunk's pieces, and with words, their token times into the chunk's words."""
        ids, times = merge_overlapping(pending, pending_times if by_word else [])
        chunk["text"] = tokenizer.decode(ids)
        if by_word:
            chunk["words"] = [{"text": text, "timestamp": (times[p[0]][0], times[p[-1]][1]),
                               **({"language": language} if return_language else {})}
                              for text, p in _words(tokenizer, ids, language)]
        chunks.append(chunk)

    chunk, pending, pending_times, time_offset, skip = new_chunk(), [], [], 0.0, False
    for output in model_outputs:
        ids = tokenizer._strip_prompt(_to_ids(output["tokens"][0]))
        if by_word and "token_timestamps" not in output:
            raise ValueError("return_timestamps='word' needs each output's `token_timestamps` (from "
                             "generate(..., return_token_timestamps=True)) next to its `tokens`.")
        token_times = output["token_timestamps"][0].tolist() if by_word else None
        last_timestamp, first_timestamp = None, begin
        latest, before_latest, window_shift = 0.0, 0.0, 0.0
        if "stride" in output:
            chunk_len, stride_left, stride_right = output["stride"]
            time_offset -= stride_left
            right_stride_start = chunk_len - stride_right
            if stride_left:
                first_timestamp = stride_left / time_precision + begin
            if stride_right:  # the last timestamp before the right stride ends what this window keeps
                for token in reversed(ids):
                    if token >= begin:
                        if last_timestamp is not None and (token - begin) * time_precision < right_stride_start:
                            break
                        last_timestamp = token
        current, current_times = [], []
        for i, token in enumerate(ids):
            if token in specials:
                code = tokenizer.decode([token])[2:-2]
                if code in LANGUAGES:
                    name = LANGUAGES[code]
                    if language and name != language and not return_timestamps:
                        pending.append(current)
                        chunk["text"] = tokenizer.decode(merge_overlapping(pending))
                        chunks.append(chunk)
                        pending, current = [], []
                        chunk = new_chunk()
                    chunk["language"] = language = name
            elif token >= begin:
                stamp = float((token - begin) * time_precision)
                if stamp < latest:  # a new 30 s window inside the generation
                    single_ending = i >= 2 and not (ids[i - 1] >= begin and ids[i - 2] >= begin)
                    if single_ending:
                        window_shift += time_precision * segment_size
                    else:
                        latest = before_latest
                        window_shift += before_latest
                before_latest, latest = latest, stamp
                time = round((token - begin) * time_precision + time_offset + window_shift, 2)
                if last_timestamp and token >= last_timestamp:
                    skip = True
                elif skip or (pending and token < first_timestamp):
                    skip = False
                elif chunk["timestamp"][0] is None:
                    chunk["timestamp"][0] = time
                elif time != chunk["timestamp"][0]:
                    chunk["timestamp"][1] = time
                    pending.append(current)
                    pending_times.append(current_times)
                    close(chunk, pending, pending_times)
                    pending, current, pending_times, current_times = [], [], [], []
                    chunk = new_chunk()
            else:
                current.append(token)
                if by_word:  # (the window's times, indexed as the generated tokens, moved to the recording's)
                    start = token_times[i - 1] if i else 0.0
                    current_times.append((round(start + time_offset, 2), round(token_times[i] + time_offset, 2)))
        if "stride" in output:
            time_offset += chunk_len - stride_right
        if current:
            pending.append(current)
            pending_times.append(current_times)
        elif not any(pending):
            chunk, pending, pending_times = new_chunk(), [], []
    if pending:
        if return_timestamps:
            logger.warning("Whisper did not predict an ending timestamp, which can happen if audio is cut off in the "
                           "middle of a word. Also make sure WhisperTimeStampLogitsProcessor was used during "
                           "generation.")
        close(chunk, pending, pending_times)
    text = "".join(c["text"] for c in chunks)
    if not (return_timestamps or return_language):
        return text, {}
    for c in chunks:
        if return_timestamps:
            c["timestamp"] = tuple(c["timestamp"])
        else:
            c.pop("timestamp")
        if not return_language:
            c.pop("language")
    if by_word:
        return text, {"chunks": [word for c in chunks for word in c["words"]]}
    return text, {"chunks": chunks}
