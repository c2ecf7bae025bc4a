"""Tokenizers: the reference's tokenizer API on top of the Rust `tokenizers` library.

Every tokenizer here is backed by a `tokenizers.Tokenizer` (the "fast" kind). The names of the reference's
pure-Python tokenizers (`PreTrainedTokenizer`, `BertTokenizer`, ...) are served by the same implementation: they
produce the same ids, so code written for either kind runs unchanged.

This module holds what every tokenizer does: special tokens, encoding with padding and truncation, decoding and
`pad`. Calls return a `BatchEncoding` (.batch_encoding); folders are read and written by the mixin of .files;
the model tokenizers are in .families and `AutoTokenizer` in .auto.
"""

from __future__ import annotations

import contextlib
import copy
import json
import operator
import os
import warnings
from collections.abc import Mapping
from typing import Any

from tokenizers import AddedToken, Encoding, Tokenizer
from tokenizers import __version__ as tokenizers_version

from ..logging import get_logger
from .batch_encoding import BatchEncoding, PaddingStrategy, TruncationStrategy
from .chat import ChatTemplateMixin, normalize_chat_template
from .files import TOKENIZER_FILE, TokenizerFilesMixin, parse_added_tokens

logger = get_logger(__name__)

VERY_LARGE_INTEGER = int(1e30)  # model_max_length when a tokenizer declares none
LARGE_INTEGER = int(1e20)
SPECIAL_TOKENS_ATTRIBUTES = [
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
    "additional_special_tokens",
]


def _as_lists(value):
    """Tensors and arrays, also inside lists, as (nested) Python lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return [_as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def _to_ids(token_ids, name: str = "token_ids") -> list[int]:
    """Token ids given as an int, a list, a NumPy array or a tensor, as a list of ints. Anything but non-negative
    integers (floats, strings, nested lists, -100 label padding) is refused, naming its position."""
    if hasattr(token_ids, "tolist"):
        token_ids = token_ids.tolist()
    if not isinstance(token_ids, (list, tuple)):
        token_ids = [token_ids]
        name = f"{name} (one id)"
    try:
        ids = [operator.index(i) for i in token_ids]
    except TypeError:
        at, value = next((i, v) for i, v in enumerate(token_ids) if not hasattr(v, "__index__"))
        hint = " (decode takes one sequence: use batch_decode for a batch)" if isinstance(value, (list, tuple)) \
            else ": convert them with int() or tensor.long()"
        raise TypeError(f"{name} must be integer token ids, but {name}[{at}] is {value!r} "
                        f"({type(value).__name__}){hint}.") from None
    if ids and min(ids) < 0:
        at = next(i for i, v in enumerate(ids) if v < 0)
        hint = " (-100 marks label positions the loss ignores: replace it with tokenizer.pad_token_id first)" \
            if ids[at] == -100 else ""
        raise ValueError(f"{name}[{at}] is {ids[at]}: token ids are never negative{hint}.")
    if ids and max(ids) >= 2**32:
        at = next(i for i, v in enumerate(ids) if v >= 2**32)
        raise ValueError(f"{name}[{at}] is {ids[at]}, larger than any vocabulary (ids are 32-bit).")
    return ids


def _check_length(name: str, value, allow_none: bool = True, minimum: int = 0):
    """An integer option (max_length, stride, ...) as an int; a clear error for anything else."""
    if value is None and allow_none:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        number = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{' or None' if allow_none else ''}, got {value!r}.")
    return number


def _bad_text(value, name: str, words: bool) -> Exception | None:
    """Why `value` (an item of a call's input) cannot be tokenized, as the error to raise; None if it can."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return ValueError(
                f"{name} holds a lone surrogate (U+{ord(value[e.start]):04X} at character {e.start}), which is not "
                "valid Unicode text. Decode the source bytes with errors='replace', or drop those characters.")
        return None
    if words and isinstance(value, (list, tuple)):
        return next((e for j, w in enumerate(value) if (e := _bad_text(w, f"{name}[{j}]", False))), None)
    expected = "a string or a list of words" if words else "a string"
    return TypeError(f"{name} must be {expected}, got {type(value).__name__} ({str(value)[:40]!r}).")


# --------------------------------------------------------------------------------------------- special tokens


def _special_token(name: str) -> property:
    def get(self):
        value = self._special_tokens_map[name]
        if value is None and self.verbose:
            logger.error(f"Using {name}, but it is not set yet.")
        return None if value is None else str(value)

    def set_(self, value):
        if value is not None and not isinstance(value, (str, AddedToken)):
            raise ValueError(f"Cannot set a non-string value as the {name}")
        self._special_tokens_map[name] = value

    return property(get, set_, doc=f"The {name.replace('_', ' ')}, or None when the tokenizer has none.")


def _special_token_id(name: str) -> property:
    def get(self):
        token = getattr(self, name)
        return None if token is None else self.convert_tokens_to_ids(token)

    def set_(self, value):
        setattr(self, name, None if value is None else self.convert_ids_to_tokens(value))

    return property(get, set_, doc=f"The id of the {name.replace('_', ' ')}, or None.")


class _SpecialTokens:
    """The special-token attributes (`pad_token`, `pad_token_id`, ...), kept in `self._special_tokens_map`.

    `bos_token` ... `mask_token` and their `_id` twins are properties set up below the class.
    """

    SPECIAL_TOKENS_ATTRIBUTES = SPECIAL_TOKENS_ATTRIBUTES

    @property
    def additional_special_tokens(self) -> list[str]:
        return [str(t) for t in self._special_tokens_map["additional_special_tokens"]]

    @additional_special_tokens.setter
    def additional_special_tokens(self, value):
        if value is not None and not all(isinstance(t, (str, AddedToken)) for t in value):
            raise ValueError("additional_special_tokens must all be str or AddedToken")
        self._special_tokens_map["additional_special_tokens"] = list(value or [])

    @property
    def additional_special_tokens_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.additional_special_tokens)

    @additional_special_tokens_ids.setter
    def additional_special_tokens_ids(self, ids):
        self.additional_special_tokens = [self.convert_ids_to_tokens(i) for i in ids]

    def __getattr__(self, name: str):
        """Named extra special tokens from `extra_special_tokens` (e.g. `image_token`, `image_token_id`)."""
        extras = self.__dict__.get("_special_tokens_map", {})
        if name in extras and name not in SPECIAL_TOKENS_ATTRIBUTES:
            return None if extras[name] is None else str(extras[name])
        if name.endswith("_id") and name[:-3] in extras and name[:-3] not in SPECIAL_TOKENS_ATTRIBUTES:
            return self.convert_tokens_to_ids(str(extras[name[:-3]]))
        raise AttributeError(f"{type(self).__name__} has no attribute {name}")

    @property
    def pad_token_type_id(self) -> int:
        return self._pad_token_type_id

    @property
    def special_tokens_map(self) -> dict[str, str | list[str]]:
        """The special tokens that are set, as strings, by attribute name."""
        return {name: str(v) if name != "additional_special_tokens" else [str(t) for t in v]
                for name, v in self.special_tokens_map_extended.items()}

    @property
    def special_tokens_map_extended(self) -> dict[str, Any]:
        """Like `special_tokens_map`, keeping `AddedToken` values."""
        return {name: value for name, value in self._special_tokens_map.items() if value}

    @property
    def all_special_tokens_extended(self) -> list[str | AddedToken]:
        seen, tokens = set(), []
        for value in self.special_tokens_map_extended.values():
            for token in value if isinstance(value, (list, tuple)) else [value]:
                if str(token) not in seen:
                    seen.add(str(token))
                    tokens.append(token)
        return tokens

    @property
    def all_special_tokens(self) -> list[str]:
        return [str(t) for t in self.all_special_tokens_extended]

    @property
    def all_special_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    def add_special_tokens(self, special_tokens_dict: dict, replace_additional_special_tokens: bool = True) -> int:
        """Set special tokens (keys of SPECIAL_TOKENS_ATTRIBUTES) and add those the vocabulary lacks.

        Returns how many tokens were added to the vocabulary (resize the model's embeddings to `len(tokenizer)`).
        """
        to_add = []
        for key, value in (special_tokens_dict or {}).items():
            if key not in SPECIAL_TOKENS_ATTRIBUTES:
                raise ValueError(f"Key {key} is not a special token")
            if key == "additional_special_tokens":
                if not isinstance(value, (list, tuple)) or not all(isinstance(t, (str, AddedToken)) for t in value):
                    raise ValueError(f"Tokens {value} for key {key} should all be str or AddedToken instances")
                new = [_as_special(t) for t in value]
                if not replace_additional_special_tokens:
                    new = [t for t in new if str(t) not in self.additional_special_tokens]
                if replace_additional_special_tokens and new:
                    self._special_tokens_map[key] = list(new)
                else:
                    self._special_tokens_map[key].extend(new)
                to_add += new
            else:
                if not isinstance(value, (str, AddedToken)):
                    raise ValueError(f"Token {value} for key {key} should be a str or an AddedToken instance")
                value = _as_special(value)
                setattr(self, key, value)
                if value not in to_add:
                    to_add.append(value)
        return self.add_tokens(to_add, special_tokens=True) if to_add else 0


for _name in SPECIAL_TOKENS_ATTRIBUTES[:-1]:
    setattr(_SpecialTokens, _name, _special_token(_name))
    setattr(_SpecialTokens, _name + "_id", _special_token_id(_name))
del _name


def _as_special(token: str | AddedToken) -> AddedToken:
    if isinstance(token, AddedToken):
        return token
    return AddedToken(token, rstrip=False, lstrip=False, normalized=False, special=True)


# ---------------------------------------------------------------------------------------------- the tokenizer

_CALL_DEFAULTS = dict(
    add_special_tokens=True, padding=False, truncation=None, max_length=None, stride=0, is_split_into_words=False,
    pad_to_multiple_of=None, padding_side=None, return_tensors=None, return_token_type_ids=None,
    return_attention_mask=None, return_overflowing_tokens=False, return_special_tokens_mask=False,
    return_offsets_mapping=False, return_length=False, verbose=True,
)
_INVALID_TEXT = (
    "text input must be of type `str` (single example), `list[str]` (batch or single pretokenized example) "
    "or `list[list[str]]` (batch of pretokenized examples)."
)


def _is_custom(part) -> bool:
    """Whether a Rust tokenizer component wraps Python code (a custom pre-tokenizer: it has no saved state)."""
    try:
        part.__getstate__()
    except Exception:  # noqa: BLE001 - the Rust side raises a bare Exception for custom components
        return True
    return False


def layout_pieces(layout: str) -> list[tuple[str, int]]:
    """A special-token layout as (name, type id) pairs: "cls $A sep:1" -> [("cls", 0), ("$A", 0), ("sep", 1)]."""
    return [(name, int(type_id or 0)) for name, _, type_id in (piece.partition(":") for piece in layout.split())]


def _is_text_input(t) -> bool:
    if isinstance(t, str):
        return True
    if isinstance(t, (list, tuple)):
        return not t or isinstance(t[0], str) or (
            isinstance(t[0], (list, tuple)) and (not t[0] or isinstance(t[0][0], str)))
    return False


def _read_tokenizer_file(path: str) -> Tokenizer:
    """The Rust tokenizer of a tokenizer.json; a file it cannot read is an OSError naming the file."""
    try:
        return Tokenizer.from_file(path)
    except Exception as e:  # the Rust library raises plain Exceptions ("data did not match any variant ...")
        problem = "does not exist" if not os.path.isfile(path) else f"is not a tokenizer.json the `tokenizers` " \
            f"library (version {tokenizers_version}) can read: {e}"
        raise OSError(f"{path} {problem}. Re-save the tokenizer with save_pretrained(), or re-download it; a file "
                      "written by a newer `tokenizers` may need that version.") from e


def _longest_first_cuts(first: int, second: int, remove: int) -> tuple[int, int]:
    """How many tokens 'longest_first' truncation takes from each of a pair, as the reference's slow tokenizers do:
    the longer sequence is cut down to the shorter one, then both evenly, the second losing the odd token."""
    gap = min(abs(second - first), remove)
    rest = remove - gap
    cut_first = gap + rest // 2 if first > second else rest // 2
    return cut_first, remove - cut_first


def _find_bad_text(batch: list, batched: bool, words: bool) -> Exception | None:
    """The error naming the first item of an encode call's batch that cannot be tokenized (None if all can): the
    Rust tokenizer's own error names neither the item nor the problem."""
    for i, item in enumerate(batch):
        texts = item if isinstance(item, tuple) else (item,)
        for name, text in zip(("text", "text_pair"), texts):
            bad = _bad_text(text, f"{name}[{i}]" if batched else name, words)
            if bad is not None:
                return bad
    return None


class PreTrainedTokenizerBase(ChatTemplateMixin, TokenizerFilesMixin, _SpecialTokens):
    """What every tokenizer shares: settings, special tokens, padding/truncation options, loading and saving.

    The encoding itself is done by `PreTrainedTokenizerFast`, the only implementation.
    """

    vocab_files_names: dict[str, str] = {}
    model_input_names: list[str] = ["input_ids", "token_type_ids", "attention_mask"]
    padding_side: str = "right"
    truncation_side: str = "right"

    def __init__(self, **kwargs):
        for key in kwargs:
            if callable(getattr(type(self), key, None)):
                raise AttributeError(f"{key} conflicts with the method {key} in {type(self).__name__}")
        self.init_inputs = ()
        self.init_kwargs = copy.deepcopy(kwargs)
        self.name_or_path = kwargs.pop("name_or_path", "")
        self._processor_class = kwargs.pop("processor_class", None)
        model_max_length = kwargs.pop("model_max_length", kwargs.pop("max_len", None))
        if model_max_length is not None and (isinstance(model_max_length, bool) or
                                             not isinstance(model_max_length, (int, float)) or model_max_length < 0):
            raise ValueError(f"model_max_length must be a positive integer (the longest input the model takes), "
                             f"got {model_max_length!r}; leave it out for no limit.")
        self.model_max_length = model_max_length if model_max_length is not None else VERY_LARGE_INTEGER
        self.padding_side = kwargs.pop("padding_side", self.padding_side)
        self.truncation_side = kwargs.pop("truncation_side", self.truncation_side)
        for side in ("padding_side", "truncation_side"):
            if getattr(self, side) not in ("right", "left"):
                raise ValueError(f"{side} should be 'right' or 'left', not {getattr(self, side)!r}")
        self.model_input_names = kwargs.pop("model_input_names", self.model_input_names)
        self.clean_up_tokenization_spaces = kwargs.pop("clean_up_tokenization_spaces", False)
        self.split_special_tokens = kwargs.pop("split_special_tokens", False)
        self.chat_template = normalize_chat_template(kwargs.pop("chat_template", None))
        self.verbose = kwargs.pop("verbose", False)
        self.deprecation_warnings: dict[str, bool] = {}  # which once-per-tokenizer warnings were given
        self._in_target_context_manager = False
        self._pad_token_type_id = 0
        self._special_tokens_map: dict[str, Any] = dict.fromkeys(SPECIAL_TOKENS_ATTRIBUTES)
        self._special_tokens_map["additional_special_tokens"] = []
        for key in SPECIAL_TOKENS_ATTRIBUTES:
            value = kwargs.get(key)
            if value is None:
                continue
            if key == "additional_special_tokens":
                self.additional_special_tokens = value
            elif not isinstance(value, (str, AddedToken)):
                raise TypeError(f"Special token {key} has to be either str or AddedToken but got: {type(value)}")
            else:
                setattr(self, key, value)
        extra = kwargs.pop("extra_special_tokens", None) or {}
        if isinstance(extra, (list, tuple)):  # 5.x spelling of additional_special_tokens
            self.additional_special_tokens = self._special_tokens_map["additional_special_tokens"] + [
                t for t in extra if str(t) not in self.additional_special_tokens]
            extra = {}
        self.extra_special_tokens = dict(extra)
        self._special_tokens_map.update(extra)

    def _set_processor_class(self, processor_class: str) -> None:
        """Record the processor this tokenizer is part of (saved as `processor_class`)."""
        self._processor_class = processor_class

    def _warn_once(self, key: str, message: str, advice: bool = False) -> None:
        if not self.deprecation_warnings.get(key):
            (logger.warning_advice if advice else logger.warning)(message)
            self.deprecation_warnings[key] = True

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def __repr__(self) -> str:
        added = "\n\t".join(f"{k}: {v!r}," for k, v in self.added_tokens_decoder.items())
        return (
            f"{type(self).__name__}(name_or_path='{self.name_or_path}', vocab_size={self.vocab_size}, "
            f"model_max_length={self.model_max_length}, is_fast={self.is_fast}, padding_side='{self.padding_side}', "
            f"truncation_side='{self.truncation_side}', special_tokens={self.special_tokens_map}, "
            f"clean_up_tokenization_spaces={self.clean_up_tokenization_spaces}, added_tokens_decoder={{\n\t"
            f"{added}\n}}\n)"
        )

    # --- padding and truncation options

    def _get_padding_truncation_strategies(self, padding=False, truncation=None, max_length=None,
                                           pad_to_multiple_of=None, verbose=True):
        """Resolve the user's padding/truncation options into (PaddingStrategy, TruncationStrategy, max_length)."""
        max_length = _check_length("max_length", max_length)
        pad_to_multiple_of = _check_length("pad_to_multiple_of", pad_to_multiple_of, minimum=1)
        if max_length is not None and padding is False and truncation is None:
            if verbose:
                self._warn_once(
                    "Truncation-not-explicitly-activated",
                    "Truncation was not explicitly activated but `max_length` is provided a specific value, please "
                    "use `truncation=True` to explicitly truncate examples to max length. Defaulting to "
                    "'longest_first' truncation strategy. If you encode pairs of sequences (GLUE-style) with the "
                    "tokenizer you can select this strategy more precisely by providing a specific strategy to "
                    "`truncation`.",
                )
            truncation = "longest_first"
        if padding is True:
            if verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
                warnings.warn(
                    "`max_length` is ignored when `padding`=`True` and there is no truncation strategy. To pad to "
                    "max length, use `padding='max_length'`."
                )
            padding_strategy = PaddingStrategy.LONGEST
        else:
            padding_strategy = PaddingStrategy.DO_NOT_PAD if padding is False else PaddingStrategy(padding)
        if truncation is True:
            truncation_strategy = TruncationStrategy.LONGEST_FIRST
        elif truncation is None or truncation is False:
            truncation_strategy = TruncationStrategy.DO_NOT_TRUNCATE
        else:
            truncation_strategy = TruncationStrategy(truncation)

        if max_length is None:
            no_limit = self.model_max_length > LARGE_INTEGER
            if padding_strategy == PaddingStrategy.MAX_LENGTH:
                if no_limit:
                    if verbose:
                        self._warn_once(
                            "Asking-to-pad-to-max_length",
                            "Asking to pad to max_length but no maximum length is provided and the model has no "
                            "predefined maximum length. Default to no padding.",
                        )
                    padding_strategy = PaddingStrategy.DO_NOT_PAD
                else:
                    max_length = _check_length("model_max_length", self.model_max_length, False)
            if truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE:
                if no_limit:
                    if verbose:
                        self._warn_once(
                            "Asking-to-truncate-to-max_length",
                            "Asking to truncate to max_length but no maximum length is provided and the model has "
                            "no predefined maximum length. Default to no truncation.",
                        )
                    truncation_strategy = TruncationStrategy.DO_NOT_TRUNCATE
                else:
                    max_length = _check_length("model_max_length", self.model_max_length, False)

        if padding_strategy != PaddingStrategy.DO_NOT_PAD and (self.pad_token is None or self.pad_token_id < 0):
            raise ValueError(
                "Asking to pad but the tokenizer does not have a padding token. Please select a token to use as "
                "`pad_token` `(tokenizer.pad_token = tokenizer.eos_token e.g.)` or add a new pad token via "
                "`tokenizer.add_special_tokens({'pad_token': '[PAD]'})`."
            )
        if (truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and padding_strategy != PaddingStrategy.DO_NOT_PAD
                and pad_to_multiple_of is not None and max_length is not None and max_length % pad_to_multiple_of):
            raise ValueError(
                "Truncation and padding are both activated but truncation length "
                f"({max_length}) is not a multiple of pad_to_multiple_of ({pad_to_multiple_of})."
            )
        return padding_strategy, truncation_strategy, max_length

    # --- ids that are already tokens

    def prepare_for_model(self, ids: list[int], pair_ids: list[int] | None = None, add_special_tokens: bool = True,
                          padding=False, truncation=None, max_length: int | None = None, stride: int = 0,
                          pad_to_multiple_of: int | None = None, padding_side: str | None = None,
                          return_tensors=None, return_token_type_ids: bool | None = None,
                          return_attention_mask: bool | None = None, return_overflowing_tokens: bool = False,
                          return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                          return_length: bool = False, verbose: bool = True, prepend_batch_axis: bool = False,
                          **kwargs) -> BatchEncoding:
        """Make model inputs of token ids (and a pair's): truncate, add the special tokens, pad, as a call does
        with text (offsets cannot be returned: ids carry none)."""
        if return_offsets_mapping:
            raise NotImplementedError("return_offset_mapping is not available when using Python tokenizers. To use "
                                      "this feature, change your tokenizer to one deriving from "
                                      "transformers.PreTrainedTokenizerFast.")
        ids = _to_ids(ids, "ids")
        pair_ids = None if pair_ids is None else _to_ids(pair_ids, "pair_ids")
        padding, truncation, max_length = self._get_padding_truncation_strategies(
            padding, truncation, max_length, pad_to_multiple_of, verbose)
        if return_token_type_ids and not add_special_tokens:
            raise ValueError("Asking to return token_type_ids while setting add_special_tokens to False results in "
                             "an undefined behavior. Please set add_special_tokens to True or set "
                             "return_token_type_ids to None.")
        if return_overflowing_tokens and truncation == TruncationStrategy.LONGEST_FIRST and pair_ids is not None:
            raise ValueError("Not possible to return overflowing tokens for pair of sequences with the "
                             "`longest_first`. Please select another truncation strategy than `longest_first`, for "
                             "instance `only_second` or `only_first`.")
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        total = len(ids) + len(pair_ids or []) + (
            self.num_special_tokens_to_add(pair=pair_ids is not None) if add_special_tokens else 0)
        encoded: dict[str, Any] = {}
        if truncation != TruncationStrategy.DO_NOT_TRUNCATE and max_length and total > max_length:
            ids, pair_ids, overflowing = self.truncate_sequences(ids, pair_ids, num_tokens_to_remove=total - max_length,
                                                                 truncation_strategy=truncation, stride=stride)
            if return_overflowing_tokens:
                encoded["overflowing_tokens"] = overflowing
                encoded["num_truncated_tokens"] = total - max_length
        if add_special_tokens:
            sequence = self.build_inputs_with_special_tokens(ids, pair_ids)
            type_ids = self.create_token_type_ids_from_sequences(ids, pair_ids)
        else:
            sequence = ids + (pair_ids or [])
            type_ids = [0] * len(sequence)
        encoded["input_ids"] = sequence
        if return_token_type_ids:
            encoded["token_type_ids"] = type_ids
        if return_special_tokens_mask:
            encoded["special_tokens_mask"] = self.get_special_tokens_mask(ids, pair_ids) if add_special_tokens \
                else [0] * len(sequence)
        if max_length is None and verbose:
            self._warn_if_too_long([sequence])
        if padding != PaddingStrategy.DO_NOT_PAD or return_attention_mask:
            encoded = self.pad(encoded, padding=padding.value, max_length=max_length,
                               pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
                               return_attention_mask=return_attention_mask)
        if return_length:
            encoded["length"] = len(encoded["input_ids"])
        return BatchEncoding(dict(encoded), tensor_type=return_tensors, prepend_batch_axis=prepend_batch_axis)

    def truncate_sequences(self, ids: list[int], pair_ids: list[int] | None = None, num_tokens_to_remove: int = 0,
                           truncation_strategy="longest_first", stride: int = 0):
        """Remove `num_tokens_to_remove` ids per the strategy; returns (ids, pair_ids, overflowing ids), the
        overflowing ones with `stride` ids of context (none for a pair cut 'longest_first')."""
        if num_tokens_to_remove <= 0:
            return ids, pair_ids, []
        strategy = TruncationStrategy(truncation_strategy) if not isinstance(truncation_strategy, bool) else (
            TruncationStrategy.LONGEST_FIRST if truncation_strategy else TruncationStrategy.DO_NOT_TRUNCATE)
        left = self.truncation_side == "left"
        if self.truncation_side not in ("left", "right"):
            raise ValueError(f"invalid truncation strategy:{self.truncation_side}")

        def cut(seq: list[int], which: str, other: str):
            if len(seq) <= num_tokens_to_remove:
                logger.error(f"We need to remove {num_tokens_to_remove} to truncate the input but the {which} "
                             f"sequence has a length {len(seq)}. Please select another truncation strategy than "
                             f"{strategy}, for instance 'longest_first' or '{other}'.")
                return seq, []
            window = min(len(seq), stride + num_tokens_to_remove)
            if left:
                return seq[num_tokens_to_remove:], seq[:window]
            return seq[:-num_tokens_to_remove], seq[-window:]

        if strategy == TruncationStrategy.ONLY_FIRST or (
                strategy == TruncationStrategy.LONGEST_FIRST and pair_ids is None):
            if strategy == TruncationStrategy.LONGEST_FIRST and len(ids) <= num_tokens_to_remove:
                logger.error(f"We need to remove {num_tokens_to_remove} to truncate the input but the first sequence "
                             f"has a length {len(ids)}. ")
                return ids, pair_ids, []
            ids, overflowing = cut(ids, "first", "only_second")
            return ids, pair_ids, overflowing
        if strategy == TruncationStrategy.LONGEST_FIRST:
            logger.warning("Be aware, overflowing tokens are not returned for the setting you have chosen, i.e. "
                           "sequence pairs with the 'longest_first' truncation strategy. So the returned list will "
                           "always be empty even if some tokens have been removed.")
            cut_first, cut_second = _longest_first_cuts(len(ids), len(pair_ids), num_tokens_to_remove)
            if left:
                return ids[cut_first:], pair_ids[cut_second:], []
            return ids[:len(ids) - cut_first], pair_ids[:len(pair_ids) - cut_second], []
        if strategy == TruncationStrategy.ONLY_SECOND and pair_ids is not None:
            pair_ids, overflowing = cut(pair_ids, "second", "only_first")
            return ids, pair_ids, overflowing
        return ids, pair_ids, []

    # --- pad

    def pad(self, encoded_inputs, padding=True, max_length=None, pad_to_multiple_of=None, padding_side=None,
            return_attention_mask=None, return_tensors=None, verbose=True) -> BatchEncoding:
        """Pad already-encoded inputs (a dict of lists, or a list of dicts as data collators hold them)."""
        if type(self).__name__.endswith("Fast") and verbose:
            self._warn_once(
                "Asking-to-pad-a-fast-tokenizer",
                f"You're using a {type(self).__name__} tokenizer. Please note that with a fast tokenizer, using the "
                "`__call__` method is faster than using a method to encode the text followed by a call to the `pad` "
                "method to get a padded encoding.",
                advice=True,
            )
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0]}
        main = self.model_input_names[0]
        if main not in encoded_inputs:
            raise ValueError(
                "You should supply an encoding or a list of encodings to this method that includes "
                f"{main}, but you provided {list(encoded_inputs.keys())}"
            )
        required = encoded_inputs[main]
        if required is None or len(required) == 0:
            if return_attention_mask:
                encoded_inputs["attention_mask"] = []
            return encoded_inputs
        first = next((row[0] for row in required if len(row)), None) if isinstance(required[0], (list, tuple)) \
            else required[0]
        if first is not None and not isinstance(first, (int, list, tuple)):  # tensors or arrays
            if return_tensors is None:
                return_tensors = "np" if type(first).__module__.startswith("numpy") else "pt"
            encoded_inputs = {key: _as_lists(value) for key, value in encoded_inputs.items()}
        else:
            encoded_inputs = dict(encoded_inputs)
        padding_strategy, _, max_length = self._get_padding_truncation_strategies(
            padding=padding, max_length=max_length, verbose=verbose)

        required = encoded_inputs[main]
        if required and not isinstance(required[0], (list, tuple)):
            padded = self._pad(encoded_inputs, max_length, padding_strategy, pad_to_multiple_of, padding_side,
                               return_attention_mask)
            return BatchEncoding(padded, tensor_type=return_tensors)
        if any(len(v) != len(required) for v in encoded_inputs.values()):
            raise ValueError("Some items in the output dictionary have a different batch size than others.")
        if padding_strategy == PaddingStrategy.LONGEST:
            max_length = max(len(row) for row in required)
            padding_strategy = PaddingStrategy.MAX_LENGTH
        batch: dict[str, list] = {}
        for i in range(len(required)):
            row = self._pad({k: v[i] for k, v in encoded_inputs.items()}, max_length, padding_strategy,
                            pad_to_multiple_of, padding_side, return_attention_mask)
            for key, value in row.items():
                batch.setdefault(key, []).append(value)
        return BatchEncoding(batch, tensor_type=return_tensors)

    def _pad(self, encoded: dict, max_length, padding_strategy, pad_to_multiple_of, padding_side,
             return_attention_mask) -> dict:
        """Pad one example (a dict of flat lists)."""
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        main = self.model_input_names[0]
        length = len(encoded[main])
        if padding_strategy == PaddingStrategy.LONGEST:
            max_length = length
        if max_length is not None and pad_to_multiple_of is not None and max_length % pad_to_multiple_of:
            max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
        if return_attention_mask and "attention_mask" not in encoded:
            encoded["attention_mask"] = [1] * length
        if padding_strategy == PaddingStrategy.DO_NOT_PAD or length == max_length:
            return encoded
        side = padding_side or self.padding_side
        if side not in ("right", "left"):
            raise ValueError(f"Invalid padding strategy:{side}")
        n = max_length - length
        fills = {main: self.pad_token_id, "attention_mask": 0, "token_type_ids": self.pad_token_type_id,
                 "special_tokens_mask": 1}
        for key, fill in fills.items():
            if key in encoded and (key != "attention_mask" or return_attention_mask):
                encoded[key] = list(encoded[key]) + [fill] * n if side == "right" else [fill] * n + list(encoded[key])
        return encoded


class PreTrainedTokenizerFast(PreTrainedTokenizerBase):
    """A tokenizer backed by a `tokenizers.Tokenizer`; the base of every tokenizer class in henkan.

    Build it from `tokenizer_object=` (a `tokenizers.Tokenizer`, copied), `tokenizer_file=` (a tokenizer.json),
    or, for the model classes that know how, from vocabulary files (`vocab_file=`, `merges_file=`).

    Subclasses declare, as class attributes:
    - `_defaults`: the init arguments a model's tokenizer starts from (special tokens, options);
    - `_slow_defaults`: the extra defaults of the reference's pure-Python class, used by the slow names and
      when building from vocabulary files (as the reference converts its slow tokenizer then);
    - `_template`: where the special tokens go, as (single, pair) layouts such as ("cls $A sep",
      "cls $A sep $B:1 sep:1"), names being special-token attributes and ":1" a token type id;
    - `_build_backend`: a method (files, kwargs) -> tokenizers.Tokenizer building from vocabulary files (the
      files named by `vocab_files_names`, all needed but those in `_optional_files`);
    - `_files_first`: the slow names build from the vocabulary files even when a tokenizer.json is there, as the
      reference's SentencePiece tokenizers do (their outputs differ from the converted tokenizer.json's);
    - `_backend_options`: {component: {state key: init argument}}, settings of the Rust components that follow
      the init arguments (e.g. BERT's lowercasing);
    - `_mask_lstrip`: a mask token given as a string swallows the space before it.
    """

    vocab_files_names = {"tokenizer_file": TOKENIZER_FILE}
    _defaults: dict[str, Any] = {}
    _slow_defaults: dict[str, Any] = {}
    _template: tuple[str, str] | None = None
    _build_backend = None
    _optional_files: tuple[str, ...] = ()
    _files_first = False
    _backend_options: dict[str, dict[str, str]] = {}
    _mask_lstrip = False
    _words_need_prefix_space = False  # byte-level BPE encodes pre-split words only with add_prefix_space=True

    def __init__(self, *args, **kwargs):
        file_keys = [key for key in self.vocab_files_names if key != "tokenizer_file"]
        if len(args) > len(file_keys):
            raise TypeError(f"{type(self).__name__} takes the files {file_keys} positionally, got {len(args)} values")
        for key, value in zip(file_keys, args):
            kwargs.setdefault(key, value)
        tokenizer_object = kwargs.pop("tokenizer_object", None)
        tokenizer_file = kwargs.pop("tokenizer_file", None)
        files = {key: kwargs.pop(key, None) for key in file_keys}
        added_tokens_decoder = parse_added_tokens(kwargs.pop("added_tokens_decoder", None) or {},
                                                  "the added_tokens_decoder argument")
        for key in ("from_slow", "__slow_tokenizer", "gguf_file"):
            kwargs.pop(key, None)
        from_vocab = tokenizer_object is None and tokenizer_file is None
        slow = from_vocab or isinstance(self, PreTrainedTokenizer)
        kwargs = {**copy.deepcopy(self._defaults), **(copy.deepcopy(self._slow_defaults) if slow else {}), **kwargs}
        if self._mask_lstrip and isinstance(kwargs.get("mask_token"), str):
            kwargs["mask_token"] = AddedToken(kwargs["mask_token"], lstrip=True, rstrip=False, normalized=False,
                                              special=True)
        self.vocab_file = files.get("vocab_file")
        self._source_files = {key: os.fspath(path) for key, path in files.items() if path}
        have_files = all(files[key] for key in file_keys if key not in self._optional_files)
        if tokenizer_file is not None and have_files and self._files_first and isinstance(self, PreTrainedTokenizer):
            tokenizer_file = None
        self._from_files = False  # built from the model's vocabulary files (not from a tokenizer.json)

        if tokenizer_object is not None:
            if not isinstance(tokenizer_object, Tokenizer):
                raise TypeError(f"tokenizer_object must be a tokenizers.Tokenizer, got "
                                f"{type(tokenizer_object).__name__}.")
            backend = copy.deepcopy(tokenizer_object)
        elif tokenizer_file is not None:
            backend = _read_tokenizer_file(os.fspath(tokenizer_file))
        elif self._build_backend is not None and have_files:
            backend = self._build_backend(files, kwargs)
            self._from_files = True
        elif self._build_backend is None and any(files.values()):
            raise ValueError(
                f"henkan cannot build a {type(self).__name__} from {sorted(f for f in files.values() if f)} (a "
                "SentencePiece model); it needs the tokenizer.json the reference saves next to it."
            )
        else:
            from_files = " or " + " and ".join(f"{key}=" for key in file_keys) if self._build_backend else ""
            raise ValueError(f"{type(self).__name__} needs a tokenizer: pass tokenizer_object= (a "
                             f"tokenizers.Tokenizer) or tokenizer_file= (a tokenizer.json){from_files}.")
        self._tokenizer = backend
        # a tokenizer.json saved with truncation/padding on lends its settings as defaults, as in the reference
        if backend.truncation:
            settings = backend.truncation
            for key, setting in (("max_length", "max_length"), ("truncation_side", "direction"),
                                 ("stride", "stride"), ("truncation_strategy", "strategy")):
                kwargs.setdefault(key, settings[setting])
        if backend.padding:
            settings = backend.padding
            for key, setting in (("pad_token", "pad_token"), ("pad_token_type_id", "pad_type_id"),
                                 ("padding_side", "direction"), ("max_length", "length"),
                                 ("pad_to_multiple_of", "pad_to_multiple_of")):
                kwargs.setdefault(key, settings[setting])
        self._backend_state = None  # the truncation/padding last set on the backend (None: unknown)

        super().__init__(**kwargs)
        self.add_prefix_space = kwargs.get("add_prefix_space", False)
        for key in self._defaults:
            if key not in SPECIAL_TOKENS_ATTRIBUTES:
                setattr(self, key, kwargs[key])
        self._register_added_tokens(added_tokens_decoder)
        self._sync_backend({"pre_tokenizer": {"add_prefix_space": "add_prefix_space"}, **self._backend_options})

    def _register_added_tokens(self, added_tokens_decoder: dict[int, AddedToken]) -> None:
        """Add to the backend the saved added tokens and the special tokens it does not have yet."""
        present = {repr(t) for t in self.added_tokens_decoder.values()}
        to_add = [t for _, t in sorted(added_tokens_decoder.items()) if repr(t) not in present]
        known = set(self.get_added_vocab()) | {str(t) for t in to_add}
        to_add += [t for t in self.all_special_tokens_extended
                   if (isinstance(t, AddedToken) or t not in known) and t not in to_add]
        specials = set(self.all_special_tokens)
        tokens = []
        for token in to_add:
            if isinstance(token, str):
                token = AddedToken(token, special=token in specials)
            else:
                token.special = token.special or str(token) in specials
            tokens.append(token)
        if tokens:
            self._tokenizer.add_tokens(self._for_backend(tokens))

    def _sync_backend(self, options: dict[str, dict[str, str]]) -> None:
        """Make the backend's components follow the init arguments (e.g. lowercasing) where they differ."""
        for component, keys in options.items():
            part = getattr(self._tokenizer, component)
            if part is None or _is_custom(part):
                continue
            state = json.loads(part.__getstate__())
            changes = {key: getattr(self, arg) for key, arg in keys.items()
                       if key in state and state[key] != getattr(self, arg)}
            if changes:
                part.__setstate__(json.dumps({**state, **changes}).encode())
                setattr(self._tokenizer, component, part)

    # --- vocabulary

    @property
    def is_fast(self) -> bool:
        return True

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    @property
    def vocab_size(self) -> int:
        """The size of the base vocabulary, without added tokens."""
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def vocab(self) -> dict[str, int]:
        return self.get_vocab()

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return dict(sorted(self._tokenizer.get_added_tokens_decoder().items()))

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return self.get_added_vocab()

    def get_added_vocab(self) -> dict[str, int]:
        return {token.content: index for index, token in self.added_tokens_decoder.items()}

    @property
    def backend_tokenizer(self) -> Tokenizer:
        """The Rust tokenizer. Changing its truncation or padding directly is noticed at the next call."""
        self._backend_state = None
        return self._tokenizer

    @property
    def decoder(self):
        return self._tokenizer.decoder

    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        """Add tokens (str or AddedToken) the vocabulary lacks; returns how many were added."""
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        if special_tokens:
            return self._tokenizer.add_special_tokens(self._for_backend(list(new_tokens), special=True))
        return self._tokenizer.add_tokens(self._for_backend(list(new_tokens)))

    def _for_backend(self, tokens: list, special: bool = False) -> list:
        """The tokens to add to the Rust tokenizer (a family may change how they match)."""
        return tokens

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self._tokenizer.num_special_tokens_to_add(pair)

    def convert_tokens_to_ids(self, tokens):
        """One token to its id, or a list of tokens to ids; unknown tokens give the unk token's id."""
        if isinstance(tokens, str):
            index = self._tokenizer.token_to_id(tokens)
            return self.unk_token_id if index is None else index
        return [self.convert_tokens_to_ids(token) for token in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        """One id to its token, or a list of ids to tokens (None for ids outside the vocabulary)."""
        if isinstance(ids, int) or getattr(ids, "ndim", None) == 0:
            return self._tokenizer.id_to_token(int(ids))
        skip = set(self.all_special_ids) if skip_special_tokens else ()
        return [self._tokenizer.id_to_token(i) for i in _to_ids(ids) if i not in skip]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        decoder = self._tokenizer.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    # --- training

    def train_new_from_iterator(self, text_iterator, vocab_size: int, length: int | None = None,
                                new_special_tokens: list | None = None, special_tokens_map: dict | None = None,
                                **kwargs):
        """A tokenizer of the same kind (normalizer, pre-tokenizer, model type, special tokens and their layout)
        with a vocabulary of `vocab_size` learned from `text_iterator` (texts, or batches of texts).

        `special_tokens_map` renames special tokens ({old: new}); `new_special_tokens` adds some; other keyword
        arguments go to the `tokenizers` trainer (e.g. `min_frequency`, `show_progress`)."""
        from tokenizers import trainers
        from tokenizers.pre_tokenizers import ByteLevel

        _check_length("vocab_size", vocab_size, allow_none=False, minimum=1)
        renamed = special_tokens_map or {}
        state = json.loads(self._tokenizer.to_str())
        added, post = state.pop("added_tokens"), state.pop("post_processor")
        model = state["model"]
        kind = model["type"]
        if kind == "BPE":
            model["vocab"], model["merges"] = {}, []
            for option in ("continuing_subword_prefix", "end_of_word_suffix"):
                if model.get(option) is not None:
                    kwargs[option] = model[option]
        elif kind == "Unigram":
            unk = model["vocab"][model["unk_id"]][0] if model.get("unk_id") is not None else None
            if unk is not None:
                model["unk_id"], model["vocab"] = 0, [[renamed.get(unk, unk), 0.0]]
                kwargs.setdefault("unk_token", renamed.get(unk, unk))
        elif kind in ("WordLevel", "WordPiece"):
            model["vocab"] = {}
        else:
            raise ValueError(f"train_new_from_iterator trains BPE, Unigram, WordLevel and WordPiece tokenizers; this "
                             f"one's model is {kind}.")
        if model.get("unk_token") in renamed:
            model["unk_token"] = renamed[model["unk_token"]]
        backend = Tokenizer.from_str(json.dumps(state))
        specials = []
        for token in added:
            if token.get("special") or kind == "Unigram":
                fields = {k: v for k, v in token.items() if k not in ("id", "special")}
                fields["content"] = renamed.get(fields["content"], fields["content"])
                specials.append(AddedToken(**fields))
        specials += list(new_special_tokens or [])
        pre = state.get("pre_tokenizer") or {}
        if kind == "BPE" and "ByteLevel" in {pre.get("type"), *(p.get("type") for p in pre.get("pretokenizers", []))}:
            kwargs["initial_alphabet"] = ByteLevel.alphabet()
        trainer = {"BPE": trainers.BpeTrainer, "Unigram": trainers.UnigramTrainer, "WordLevel": trainers.WordLevelTrainer,
                   "WordPiece": trainers.WordPieceTrainer}[kind](vocab_size=vocab_size, special_tokens=specials,
                                                                 **kwargs)
        backend.train_from_iterator(text_iterator, length=length, trainer=trainer)
        if post is not None:
            backend = self._trained_post_processor(backend, post, renamed)
        init = copy.deepcopy(self.init_kwargs)
        for name in SPECIAL_TOKENS_ATTRIBUTES[:-1]:
            value = self._special_tokens_map.get(name)
            if value is None:
                continue
            content = renamed.get(str(value), str(value))
            init[name] = AddedToken(content, single_word=value.single_word, lstrip=value.lstrip, rstrip=value.rstrip,
                                    normalized=value.normalized, special=True) \
                if isinstance(value, AddedToken) else content
        init["additional_special_tokens"] = self.additional_special_tokens + list(new_special_tokens or [])
        for key in ("tokenizer_object", "tokenizer_file", "added_tokens_decoder", *self.vocab_files_names):
            init.pop(key, None)
        return type(self)(tokenizer_object=backend, **init)

    @staticmethod
    def _trained_post_processor(backend: Tokenizer, post: dict, renamed: dict) -> Tokenizer:
        """The post-processor of the tokenizer that was retrained, with its special tokens' new ids."""
        def new_id(token: str) -> int:
            index = backend.token_to_id(token)
            if index is None:
                raise ValueError(f"The post-processor adds the token {token!r}, which the trained vocabulary lacks; "
                                 "pass it in new_special_tokens, or rename it with special_tokens_map.")
            return index

        for entry in (post.get("special_tokens") or {}).values():
            entry["tokens"] = [renamed.get(t, t) for t in entry["tokens"]]
            entry["ids"] = [new_id(t) for t in entry["tokens"]]
        for key in ("cls", "sep"):
            if key in post:
                token = renamed.get(post[key][0], post[key][0])
                post[key] = [token, new_id(token)]
        state = json.loads(backend.to_str())
        state["post_processor"] = post
        return Tokenizer.from_str(json.dumps(state))

    # --- special-token layout

    def _layout(self, ids_0: list[int], ids_1: list[int] | None):
        """(id, is_special, type_id) for each position of the sequence(s) with special tokens, per `_template`."""
        for name, type_id in layout_pieces(self._template[0 if ids_1 is None else 1]):
            if name in ("$A", "$B"):
                yield from ((i, 0, type_id) for i in (ids_0 if name == "$A" else ids_1))
            else:
                yield getattr(self, name + "_token_id"), 1, type_id

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        if self._template is None:
            return token_ids_0 + (token_ids_1 or [])
        return [i for i, _, _ in self._layout(token_ids_0, token_ids_1)]

    def get_special_tokens_mask(self, token_ids_0: list[int], token_ids_1: list[int] | None = None,
                                already_has_special_tokens: bool = False) -> list[int]:
        """1 where a special token is (or would be added), 0 elsewhere."""
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise ValueError("token_ids_1 must be None when the ids already have their special tokens.")
            special = set(self.all_special_ids)
            return [1 if i in special else 0 for i in token_ids_0]
        if self._template is None:
            return [0] * (len(token_ids_0) + len(token_ids_1 or []))
        return [s for _, s, _ in self._layout(token_ids_0, token_ids_1)]

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        if self._template is not None:
            return [t for _, _, t in self._layout(token_ids_0, token_ids_1)]
        cls, sep = int(self.cls_token_id is not None), int(self.sep_token_id is not None)
        first = [0] * (cls + len(token_ids_0) + sep)
        return first if token_ids_1 is None else first + [1] * (len(token_ids_1) + sep)

    # --- encoding

    def __call__(self, text=None, text_pair=None, text_target=None, text_pair_target=None,
                 add_special_tokens: bool = True, padding=False, truncation=None, max_length: int | None = None,
                 stride: int = 0, is_split_into_words: bool = False, pad_to_multiple_of: int | None = None,
                 padding_side: str | None = None, return_tensors=None, return_token_type_ids: bool | None = None,
                 return_attention_mask: bool | None = None, return_overflowing_tokens: bool = False,
                 return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                 return_length: bool = False, verbose: bool = True, **kwargs) -> BatchEncoding:
        """Tokenize a text, a pair, a batch of texts or a batch of pairs (and `text_target` into `labels`)."""
        options = dict(
            add_special_tokens=add_special_tokens, padding=padding, truncation=truncation, max_length=max_length,
            stride=stride, is_split_into_words=is_split_into_words, pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side, return_tensors=return_tensors, return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask, return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask, return_offsets_mapping=return_offsets_mapping,
            return_length=return_length, verbose=verbose, **kwargs,
        )
        if text is None and text_target is None:
            raise ValueError("You need to specify either `text` or `text_target`.")
        encodings = targets = None
        if text is not None:
            if not self._in_target_context_manager:
                self._switch_to_input_mode()
            encodings = self._call_one(text, text_pair, options)
        if text_target is not None:
            self._switch_to_target_mode()
            try:
                targets = self._call_one(text_target, text_pair_target, options)
            finally:
                self._switch_to_input_mode()
        if targets is None or encodings is None:
            return encodings if targets is None else targets
        encodings["labels"] = targets["input_ids"]
        return encodings

    # --- source and target modes (seq2seq tokenizers whose labels are encoded differently, e.g. mBART, Marian)

    def _switch_to_input_mode(self) -> None:
        """Encode what follows as model inputs (sources)."""

    def _switch_to_target_mode(self) -> None:
        """Encode what follows as labels (targets)."""

    @contextlib.contextmanager
    def as_target_tokenizer(self):
        """Within the block, the tokenizer encodes targets (labels), as `text_target=` does."""
        warnings.warn(
            "`as_target_tokenizer` is deprecated and will be removed in v5 of Transformers. You can tokenize your "
            "labels by using the argument `text_target` of the regular `__call__` method (either in the same call as "
            "your input texts if you use the same keyword arguments, or in a separate call."
        )
        self._switch_to_target_mode()
        self._in_target_context_manager = True
        try:
            yield
        finally:
            self._in_target_context_manager = False
            self._switch_to_input_mode()

    def _call_one(self, text, text_pair, options: dict) -> BatchEncoding:
        if not _is_text_input(text) or (text_pair is not None and not _is_text_input(text_pair)):
            raise ValueError(_INVALID_TEXT)
        if options.get("is_split_into_words"):
            batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
        else:
            batched = isinstance(text, (list, tuple))
        if not batched:
            return self.encode_plus(text, text_pair, **options)
        if isinstance(text_pair, str):
            raise TypeError(
                "when tokenizing batches of text, `text_pair` must be a list or tuple with the same length as `text`."
            )
        if text_pair is not None and len(text) != len(text_pair):
            raise ValueError(
                f"batch length of `text`: {len(text)} does not match batch length of `text_pair`: {len(text_pair)}."
            )
        return self.batch_encode_plus(list(zip(text, text_pair)) if text_pair is not None else text, **options)

    def encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        """Tokenize one text or pair; the keyword arguments are those of `__call__`."""
        return self._encode([(text, text_pair)] if text_pair else [text], batched=False, **kwargs)

    def batch_encode_plus(self, batch_text_or_text_pairs, **kwargs) -> BatchEncoding:
        """Tokenize a list of texts or of (text, pair) tuples; the keyword arguments are those of `__call__`."""
        if not isinstance(batch_text_or_text_pairs, (list, tuple)):
            raise TypeError(
                f"batch_text_or_text_pairs has to be a list or a tuple (got {type(batch_text_or_text_pairs)})")
        return self._encode(batch_text_or_text_pairs, batched=True, **kwargs)

    def encode(self, text, text_pair=None, add_special_tokens: bool = True, padding=False, truncation=None,
               max_length: int | None = None, stride: int = 0, padding_side: str | None = None, return_tensors=None,
               **kwargs) -> list[int]:
        """The token ids of a text (or pair)."""
        return self.encode_plus(text, text_pair, add_special_tokens=add_special_tokens, padding=padding,
                                truncation=truncation, max_length=max_length, stride=stride,
                                padding_side=padding_side, return_tensors=return_tensors, **kwargs)["input_ids"]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        """The tokens (strings) of a text (or pair)."""
        return self.encode_plus(text, pair, add_special_tokens=add_special_tokens, **kwargs).tokens()

    def _encode(self, batch: list, batched: bool, **kwargs) -> BatchEncoding:
        """Encode `batch` with the Rust batch encoder, and lay the results out as the reference does."""
        split_special_tokens = kwargs.pop("split_special_tokens", self.split_special_tokens)
        unknown = {k: kwargs.pop(k) for k in list(kwargs) if k not in _CALL_DEFAULTS}
        if unknown:
            logger.warning(f"Keyword arguments {unknown} not recognized.")
        opts = {**_CALL_DEFAULTS, **kwargs}
        padding, truncation, max_length = self._get_padding_truncation_strategies(
            opts["padding"], opts["truncation"], opts["max_length"], opts["pad_to_multiple_of"], opts["verbose"])
        if opts["is_split_into_words"] and self._words_need_prefix_space and not self.add_prefix_space:
            raise ValueError(f"You need to instantiate {type(self).__name__} with add_prefix_space=True to use it "
                             "with pretokenized inputs.")
        stride = _check_length("stride", opts["stride"], allow_none=False)
        self._set_backend_state(padding, truncation, max_length, stride, opts["pad_to_multiple_of"],
                                opts["padding_side"], split_special_tokens)
        try:
            encodings = self._encode_batch(batch, opts["add_special_tokens"], opts["is_split_into_words"])
        except Exception as e:  # the Rust tokenizer's errors are plain Exceptions
            bad = _find_bad_text(batch, batched, opts["is_split_into_words"])
            if bad is not None:
                raise bad from None
            if not (self._slow_mode and "Truncation error" in str(e)):
                raise
            encodings = self._encode_leniently(batch, opts["add_special_tokens"], opts["is_split_into_words"])

        overflow = opts["return_overflowing_tokens"]
        if overflow:  # each window of a long sequence becomes a row
            sample_of = [i for i, e in enumerate(encodings) for _ in range(1 + len(e.overflowing))]
            encodings = [part for e in encodings for part in (e, *e.overflowing)]
        data = {"input_ids": [e.ids for e in encodings]}
        if self._map_ids is not None:
            data["input_ids"] = [self._map_ids(ids) for ids in data["input_ids"]]
        for key, asked, field in (("token_type_ids", opts["return_token_type_ids"], "type_ids"),
                                  ("attention_mask", opts["return_attention_mask"], "attention_mask"),
                                  ("special_tokens_mask", opts["return_special_tokens_mask"], "special_tokens_mask"),
                                  ("offset_mapping", opts["return_offsets_mapping"], "offsets")):
            if asked or (asked is None and key in self.model_input_names):
                data[key] = [getattr(e, field) for e in encodings]
        if opts["return_length"]:
            data["length"] = [sum(e.attention_mask) if self._slow_mode else len(e.ids) for e in encodings]
        if overflow:
            data["overflow_to_sample_mapping"] = sample_of
        if max_length is None and opts["verbose"]:
            self._warn_if_too_long(data["input_ids"])
        if not batched and opts["return_tensors"] is None and not overflow:
            data = {k: v[0] if v and isinstance(v[0], list) else v for k, v in data.items()}
            return BatchEncoding(data, encodings)
        return BatchEncoding(data, encodings, tensor_type=opts["return_tensors"])

    _map_ids = None  # a family whose Rust vocabulary differs from its ids maps the Rust ids (list -> list)

    def _encode_batch(self, batch: list, add_special_tokens: bool, is_split_into_words: bool) -> list:
        """The Rust encodings of a batch, with the backend's truncation and padding. Families override this for
        inputs the Rust pipeline cannot take in one pass (and build those with `_encode_mixed`)."""
        settings = self._tokenizer.truncation
        if self._slow_mode and settings and settings["strategy"] == "longest_first":
            pairs = {i: self._slow_pair(item, add_special_tokens, is_split_into_words, settings)
                     for i, item in enumerate(batch) if isinstance(item, tuple) and item[1] is not None}
            if pairs:
                return self._encode_mixed(batch, pairs, add_special_tokens, is_split_into_words)
        return self._tokenizer.encode_batch(batch, add_special_tokens=add_special_tokens,
                                            is_pretokenized=is_split_into_words)

    def _slow_pair(self, pair: tuple, add_special_tokens: bool, is_split_into_words: bool, settings: dict):
        """A pair truncated 'longest_first' as the slow tokenizers do: the longer sequence is cut down to the
        shorter one, then both evenly, the second losing the odd token (the Rust tokenizer gives it the first)."""
        def make():
            self._tokenizer.no_truncation()
            try:
                first, second = (self._tokenizer.encode(text, add_special_tokens=False,
                                                        is_pretokenized=is_split_into_words) for text in pair)
            finally:
                self._tokenizer.enable_truncation(**settings)
            post = self._tokenizer.post_processor
            n_added = post.num_special_tokens_to_add(True) if post is not None and add_special_tokens else 0
            remove = len(first) + len(second) + n_added - settings["max_length"]
            if remove > 0:
                for encoding, cut in zip((first, second), _longest_first_cuts(len(first), len(second), remove)):
                    if cut:
                        encoding.truncate(max(len(encoding) - cut, 0), direction=settings["direction"])
            if post is None:
                return Encoding.merge([first, second], growing_offsets=False)
            return post.process(first, second, add_special_tokens=add_special_tokens)
        return make

    def _encode_mixed(self, batch: list, custom: dict, add_special_tokens: bool, is_split_into_words: bool) -> list:
        """Encode a batch in which the items `custom` maps (index -> function returning an Encoding, truncated and
        with its special tokens) are built by the family; all items are then padded together as the call asks."""
        padding = self._tokenizer.padding
        if padding:
            self._tokenizer.no_padding()
            self._backend_state = None
        others = [i for i in range(len(batch)) if i not in custom]
        encoded = dict(zip(others, self._tokenizer.encode_batch(
            [batch[i] for i in others], add_special_tokens=add_special_tokens, is_pretokenized=is_split_into_words)))
        encoded.update({i: make() for i, make in custom.items()})
        encodings = [encoded[i] for i in range(len(batch))]
        if padding:
            length = padding["length"] or max((len(e.ids) for e in encodings), default=0)
            multiple = padding["pad_to_multiple_of"]
            if multiple and length % multiple:
                length += multiple - length % multiple
            for e in encodings:
                e.pad(length, direction=padding["direction"], pad_id=padding["pad_id"],
                      pad_type_id=padding["pad_type_id"], pad_token=padding["pad_token"])
        return encodings

    # whether to behave as the reference's slow tokenizers where they differ from its fast ones: a sequence that
    # cannot be truncated as asked is logged and kept whole, `length` counts the tokens before padding
    _slow_mode = False

    def _encode_leniently(self, batch: list, add_special_tokens: bool, is_split_into_words: bool) -> list:
        """Encode each item with truncation; one that cannot be truncated as asked is logged and kept whole."""
        settings = self._tokenizer.truncation

        def one(item):
            def make():
                self._tokenizer.enable_truncation(**settings)
                try:
                    return self._tokenizer.encode(*(item if isinstance(item, tuple) else (item,)),
                                                  add_special_tokens=add_special_tokens,
                                                  is_pretokenized=is_split_into_words)
                except Exception as e:
                    if "Truncation error" not in str(e):
                        raise
                    logger.error(f"The sequences cannot be truncated to {settings['max_length']} tokens with "
                                 f"truncation='{settings['strategy']}': the sequence to cut is too short. Use "
                                 "another truncation strategy, e.g. 'longest_first'. They are left whole.")
                    self._tokenizer.no_truncation()
                    return self._tokenizer.encode(*(item if isinstance(item, tuple) else (item,)),
                                                  add_special_tokens=add_special_tokens,
                                                  is_pretokenized=is_split_into_words)
            return make

        try:
            return self._encode_mixed(batch, {i: one(item) for i, item in enumerate(batch)}, add_special_tokens,
                                      is_split_into_words)
        finally:
            self._backend_state = None

    def _warn_if_too_long(self, input_ids: list[list[int]]) -> None:
        limit = self.model_max_length
        longer = next((len(ids) for ids in input_ids if len(ids) > limit), None) if limit else None
        if longer is not None:
            self._warn_once(
                "sequence-length-is-longer-than-the-specified-maximum",
                "Token indices sequence length is longer than the specified maximum sequence length for this model "
                f"({longer} > {limit}). Running this sequence through the model will result in indexing errors",
            )

    def _set_backend_state(self, padding, truncation, max_length, stride, pad_to_multiple_of, padding_side,
                           split_special_tokens) -> None:
        """Configure the Rust tokenizer's truncation and padding for a call, only when they change."""
        trunc = None if truncation == TruncationStrategy.DO_NOT_TRUNCATE else (
            max_length, stride, truncation.value, self.truncation_side)
        pad = None if padding == PaddingStrategy.DO_NOT_PAD else (
            max_length if padding == PaddingStrategy.MAX_LENGTH else None, padding_side or self.padding_side,
            self.pad_token_id, self.pad_token, self.pad_token_type_id, pad_to_multiple_of)
        state = (trunc, pad, split_special_tokens)
        if state == self._backend_state:
            return
        old_trunc, old_pad, _ = self._backend_state or ("unknown", "unknown", None)
        if trunc != old_trunc:
            if trunc is None:
                self._tokenizer.no_truncation()
            else:
                self._tokenizer.enable_truncation(trunc[0], stride=trunc[1], strategy=trunc[2], direction=trunc[3])
        if pad != old_pad:
            if pad is None:
                self._tokenizer.no_padding()
            else:
                self._tokenizer.enable_padding(length=pad[0], direction=pad[1], pad_id=pad[2], pad_token=pad[3],
                                               pad_type_id=pad[4], pad_to_multiple_of=pad[5])
        self._tokenizer.encode_special_tokens = split_special_tokens
        self._backend_state = state

    # --- decoding

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               **kwargs) -> str:
        """The text of token ids (an int, a list, an array or a tensor).

        Ids the vocabulary does not have are left out, as the reference does, with a warning (once per tokenizer)
        naming them: a model whose embedding matrix is larger than its tokenizer's vocabulary can produce them."""
        ids = self._known_ids(_to_ids(token_ids))
        text = self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
        return self._clean_up(text, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs) -> list[str]:
        """The texts of a batch of id sequences (see `decode`)."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        ids = [self._known_ids(_to_ids(s, f"sequences[{i}]")) for i, s in enumerate(sequences)]
        texts = self._tokenizer.decode_batch(ids, skip_special_tokens=skip_special_tokens)
        return [self._clean_up(text, clean_up_tokenization_spaces) for text in texts]

    def _known_ids(self, ids: list[int]) -> list[int]:
        """`ids`, after warning about those the backend has no token for (the backend drops them silently)."""
        size = self._tokenizer.get_vocab_size(with_added_tokens=True)
        if ids and max(ids) >= size:
            unknown = sorted({i for i in ids if i >= size and self._tokenizer.id_to_token(i) is None})
            if unknown:
                self._warn_once("decode-unknown-ids",
                                f"decode: the token ids {unknown[:8]}{' ...' if len(unknown) > 8 else ''} are not in "
                                f"the vocabulary of this tokenizer (ids 0-{size - 1}) and are left out of the text.")
        return ids

    def _clean_up(self, text: str, clean_up: bool | None) -> str:
        if clean_up if clean_up is not None else self.clean_up_tokenization_spaces:
            return self.clean_up_tokenization(text)
        return text

    @staticmethod
    def clean_up_tokenization(out_string: str) -> str:
        """Remove the spaces a word-by-word decode leaves before punctuation and English contractions."""
        for spaced, joined in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                               (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
            out_string = out_string.replace(spaced, joined)
        return out_string


class PreTrainedTokenizer(PreTrainedTokenizerFast):
    """The reference's pure-Python base class name. In henkan it is served by the Rust-backed implementation,
    which gives the same ids; classes with the slow names (`BertTokenizer`, ...) derive from it."""
