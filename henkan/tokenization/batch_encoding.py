"""What a tokenizer call returns (`BatchEncoding`), and the option enums of tokenizer calls.

`BatchEncoding` is a dict of model inputs that also maps tokens back to words and characters through the Rust
`tokenizers.Encoding`s it was built from, and turns its values into PyTorch or NumPy arrays.
"""

from __future__ import annotations

import warnings
from collections import UserDict
from typing import NamedTuple

from tokenizers import Encoding

from ..logging import get_logger
from ..utils import ExplicitEnum, PaddingStrategy, TensorType  # noqa: F401 (re-exported)

logger = get_logger(__name__)


class TruncationStrategy(ExplicitEnum):
    ONLY_FIRST = "only_first"
    ONLY_SECOND = "only_second"
    LONGEST_FIRST = "longest_first"
    DO_NOT_TRUNCATE = "do_not_truncate"


class CharSpan(NamedTuple):
    """Characters `start` (included) to `end` (excluded) of the original string."""

    start: int
    end: int


class TokenSpan(NamedTuple):
    """Tokens `start` (included) to `end` (excluded) of an encoded sequence."""

    start: int
    end: int


# ------------------------------------------------------------------------------------------------ BatchEncoding


class BatchEncoding(UserDict):
    """What a tokenizer call returns: a dict of model inputs (`input_ids`, `attention_mask`, ...) that also maps
    tokens back to words and characters through the Rust encodings it was built from.

    Keys read as attributes (`enc.input_ids`); an integer index gives the `tokenizers.Encoding` of that sample.
    """

    def __init__(self, data=None, encoding=None, tensor_type=None, prepend_batch_axis=False, n_sequences=None):
        super().__init__(data)
        if isinstance(encoding, Encoding):
            encoding = [encoding]
        self._encodings = encoding
        if n_sequences is None and encoding:
            n_sequences = encoding[0].n_sequences
        self._n_sequences = n_sequences
        self.convert_to_tensors(tensor_type=tensor_type, prepend_batch_axis=prepend_batch_axis)

    @property
    def n_sequences(self) -> int | None:
        """1 for single sequences, 2 for pairs, None when unknown."""
        return self._n_sequences

    @property
    def is_fast(self) -> bool:
        return self._encodings is not None

    @property
    def encodings(self) -> list[Encoding] | None:
        return self._encodings

    def __getitem__(self, item):
        if isinstance(item, str):
            return self.data[item]
        if self._encodings is not None:
            return self._encodings[item]
        if isinstance(item, slice):
            return {key: value[item] for key, value in self.data.items()}
        raise KeyError(
            "Invalid key. Only three types of key are available: "
            "(1) string, (2) integers for backend Encoding, and (3) slices for data subsetting."
        )

    def __getattr__(self, item: str):
        data = self.__dict__.get("data")
        if data is not None and item in data:
            return data[item]
        raise AttributeError(f"'BatchEncoding' object has no attribute '{item}'")

    def __getstate__(self):
        return {"data": self.data, "encodings": self._encodings}

    def __setstate__(self, state):
        self.data = state.get("data", {})
        self._encodings = state.get("encodings")
        self._n_sequences = self._encodings[0].n_sequences if self._encodings else None

    # --- the token <-> word <-> character maps, all read from the Rust encodings

    def _encoding(self, what: str, batch_index: int) -> Encoding:
        if not self._encodings:
            raise ValueError(f"{what}() is only available on the output of a tokenizer call (it needs the encodings).")
        return self._encodings[batch_index]

    @staticmethod
    def _split(first: int, second: int | None) -> tuple[int, int]:
        """`f(index)` addresses sample 0; `f(batch_index, index)` any sample."""
        return (0, first) if second is None else (first, second)

    def tokens(self, batch_index: int = 0) -> list[str]:
        return self._encoding("tokens", batch_index).tokens

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding("sequence_ids", batch_index).sequence_ids

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        return self._encoding("word_ids", batch_index).word_ids

    def words(self, batch_index: int = 0) -> list[int | None]:
        warnings.warn("`BatchEncoding.words()` is deprecated; use `BatchEncoding.word_ids()`.", FutureWarning)
        return self.word_ids(batch_index)

    def _token(self, what: str, batch_or_token_index: int, token_index: int | None):
        batch, token = self._split(batch_or_token_index, token_index)
        encoding = self._encoding(what, batch)
        return encoding, token + len(encoding) if token < 0 else token

    def token_to_sequence(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        encoding, token = self._token("token_to_sequence", batch_or_token_index, token_index)
        return encoding.token_to_sequence(token)

    def token_to_word(self, batch_or_token_index: int, token_index: int | None = None) -> int | None:
        encoding, token = self._token("token_to_word", batch_or_token_index, token_index)
        return encoding.token_to_word(token)

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None) -> CharSpan | None:
        encoding, token = self._token("token_to_chars", batch_or_token_index, token_index)
        span = encoding.token_to_chars(token)
        return CharSpan(*span) if span is not None else None

    def word_to_tokens(self, batch_or_word_index: int, word_index: int | None = None,
                       sequence_index: int = 0) -> TokenSpan | None:
        batch, word = self._split(batch_or_word_index, word_index)
        span = self._encoding("word_to_tokens", batch).word_to_tokens(word, sequence_index)
        return TokenSpan(*span) if span is not None else None

    def word_to_chars(self, batch_or_word_index: int, word_index: int | None = None,
                      sequence_index: int = 0) -> CharSpan:
        batch, word = self._split(batch_or_word_index, word_index)
        return CharSpan(*self._encoding("word_to_chars", batch).word_to_chars(word, sequence_index))

    def char_to_token(self, batch_or_char_index: int, char_index: int | None = None,
                      sequence_index: int = 0) -> int | None:
        batch, char = self._split(batch_or_char_index, char_index)
        return self._encoding("char_to_token", batch).char_to_token(char, sequence_index)

    def char_to_word(self, batch_or_char_index: int, char_index: int | None = None,
                     sequence_index: int = 0) -> int | None:
        batch, char = self._split(batch_or_char_index, char_index)
        return self._encoding("char_to_word", batch).char_to_word(char, sequence_index)

    # --- tensors

    def convert_to_tensors(self, tensor_type: str | TensorType | None = None, prepend_batch_axis: bool = False):
        """Turn every value into a PyTorch ("pt") or NumPy ("np") array, in place; returns self."""
        if tensor_type is None:
            return self
        as_tensor, is_tensor = _tensor_functions(TensorType(tensor_type))
        for key, value in self.items():
            if prepend_batch_axis:
                value = [value]
            if is_tensor(value):
                continue
            try:
                self[key] = as_tensor(value)
            except Exception as e:
                raise ValueError(
                    "Unable to create tensor, you should probably activate truncation and/or padding with "
                    "'padding=True' 'truncation=True' to have batched tensors with the same length. Perhaps your "
                    f"features (`{key}` in this case) have excessive nesting (inputs type `list` where type `int` "
                    "is expected)."
                ) from e
        return self

    def to(self, device, *, non_blocking: bool = False) -> BatchEncoding:
        """Move the tensors to `device` (a string, an index or a `torch.device`); other values stay as they are."""
        import torch

        if isinstance(device, (str, int, torch.device)):
            self.data = {
                k: v.to(device=device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v
                for k, v in self.data.items()
            }
        else:
            logger.warning(f"Attempting to cast a BatchEncoding to type {device}. This is not supported.")
        return self


def _tensor_functions(tensor_type: TensorType):
    """(as_tensor, is_tensor) for PyTorch or NumPy; the other frameworks are not part of henkan."""
    import numpy as np

    if tensor_type == TensorType.PYTORCH:
        import torch

        def as_torch(value):
            if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
                return torch.from_numpy(np.array(value))
            array = np.asarray(value)  # (far faster than torch.tensor on nested lists)
            if array.dtype.kind in "iu" or array.size == 0:
                return torch.from_numpy(array.astype(np.int64, copy=False))
            return torch.tensor(value)  # floats become float32, as the reference's are

        return as_torch, torch.is_tensor
    if tensor_type == TensorType.NUMPY:
        def as_numpy(value):
            if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
                if len({len(v) for v in value}) > 1:  # ragged: an array of arrays, as the reference does
                    ragged = np.empty(len(value), dtype=object)
                    ragged[:] = [np.asarray(v) for v in value]
                    return ragged
            array = np.asarray(value)
            return array.astype(np.int64) if array.size == 0 else array

        return as_numpy, lambda value: isinstance(value, np.ndarray)
    raise ValueError(f"henkan returns PyTorch ('pt') or NumPy ('np') tensors, not {tensor_type.value!r}.")
