"""Stopping criteria: `criterion(input_ids, scores) -> BoolTensor[batch]`, True where a row is done."""

from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from copy import deepcopy

import torch

from ..logging import get_logger

logger = get_logger(__name__)


class StoppingCriteria:
    """Base class. Subclasses return a bool tensor of shape [batch]: True means that row stops."""

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        raise NotImplementedError("StoppingCriteria needs to be subclassed")


class MaxLengthCriteria(StoppingCriteria):
    """Stop when the sequence (prompt included) holds `max_length` tokens."""

    def __init__(self, max_length: int, max_position_embeddings: int | None = None):
        self.max_length = max_length
        self.max_position_embeddings = max_position_embeddings

    def __call__(self, input_ids, scores, **kwargs):
        length = input_ids.shape[1]
        done = length >= self.max_length
        if self.max_position_embeddings is not None and not done and length > self.max_position_embeddings:
            logger.warning_once(
                "This is a friendly reminder - the current text generation call has exceeded the model's predefined "
                f"maximum length ({self.max_position_embeddings}). Depending on the model, you may observe "
                "exceptions, performance degradation, or nothing at all.")
        return torch.full((input_ids.shape[0],), done, device=input_ids.device, dtype=torch.bool)


class MaxTimeCriteria(StoppingCriteria):
    """Stop once `max_time` seconds have passed since `initial_timestamp` (default: construction time)."""

    def __init__(self, max_time: float, initial_timestamp: float | None = None):
        self.max_time = max_time
        self.initial_timestamp = time.time() if initial_timestamp is None else initial_timestamp

    def __call__(self, input_ids, scores, **kwargs):
        done = time.time() - self.initial_timestamp > self.max_time
        return torch.full((input_ids.shape[0],), done, device=input_ids.device, dtype=torch.bool)


class EosTokenCriteria(StoppingCriteria):
    """Stop a row when its last token is one of `eos_token_id`."""

    def __init__(self, eos_token_id):
        if not isinstance(eos_token_id, torch.Tensor):
            eos_token_id = torch.tensor([eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id))
        self.eos_token_id = eos_token_id

    def __call__(self, input_ids, scores, **kwargs):
        self.eos_token_id = self.eos_token_id.to(input_ids.device)
        return torch.isin(input_ids[:, -1], self.eos_token_id)


# Token strings of recently used vocabularies, so that building a StopStringCriteria per call stays cheap.
_VOCAB_STRINGS: "OrderedDict[tuple, tuple]" = OrderedDict()


class StopStringCriteria(StoppingCriteria):
    """Stop when the generated text ends with one of `stop_strings`.

    A stop string counts when it is covered by the last tokens and ends inside the last token, whatever the
    tokenisation (a stop string "Paris" stops after tokens "Par" "is", or after a single token " Paris,").
    Token texts are taken from `tokenizer` once; each step looks at the last few token ids only.
    """

    def __init__(self, tokenizer, stop_strings):
        if isinstance(stop_strings, str):
            stop_strings = [stop_strings]
        self.stop_strings = tuple(stop_strings)
        if not self.stop_strings or any(not isinstance(s, str) or not s for s in self.stop_strings):
            raise ValueError(f"`stop_strings` must be a string or a list of non-empty strings, not {stop_strings!r}.")
        self.token_strings = _token_strings(tokenizer)
        self.maximum_token_len = max(len(s) for s in self.stop_strings)
        self.num_stop_strings = len(self.stop_strings)
        if not any(self._can_end(s) for s in self.stop_strings):
            raise ValueError("Stop string preprocessing was unable to identify tokens matching one or more of the "
                             "supplied stop string(s). This is most often caused by the stop strings containing "
                             "unusual characters that are not in the tokenizer vocabulary.")

    def _can_end(self, stop: str) -> bool:
        return any(_end_overlaps(text, stop) for text in self.token_strings.values())

    def _row_matches(self, ids: list) -> bool:
        texts = self.token_strings
        last = texts.get(ids[-1], "")  # an id outside the vocabulary (padding) matches nothing
        for stop in self.stop_strings:
            # how much of the stop string (from its start) is still to be found before the last token
            pending = _end_overlaps(last, stop)
            if 0 in pending:
                return True
            for token in reversed(ids[:-1]):
                text = texts.get(token)
                if not pending or text is None:
                    break
                still = set()
                for need in pending:
                    if len(text) >= need:
                        if text.endswith(stop[:need]):
                            return True
                    elif stop[:need].endswith(text):
                        still.add(need - len(text))
                pending = still
        return False

    def __call__(self, input_ids, scores, **kwargs):
        rows = input_ids[:, -self.maximum_token_len:].tolist()
        done = [bool(row) and self._row_matches(row) for row in rows]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def _end_overlaps(text: str, stop: str) -> set:
    """Where the stop string can end inside `text`: for each end position, how many leading characters of `stop`
    remain to be matched by earlier tokens (0: the stop string lies inside `text`)."""
    out = set()
    for end in range(1, len(text) + 1):
        covered = min(end, len(stop))
        if text[end - covered:end] == stop[len(stop) - covered:]:
            out.add(len(stop) - covered)
    return out


def _token_strings(tokenizer) -> dict:
    """token id -> the text the token adds when it follows other text (no leading-space tricks)."""
    vocab = tokenizer.get_vocab()
    key = (id(tokenizer), len(vocab))
    cached = _VOCAB_STRINGS.get(key)
    if cached is not None:
        _VOCAB_STRINGS.move_to_end(key)
        return cached[1]
    anchor = "abcdef"
    base_ids = tokenizer(anchor, add_special_tokens=False)["input_ids"]
    base_tokens = tokenizer.convert_ids_to_tokens(base_ids)
    out = {}
    for token, index in vocab.items():
        text = tokenizer.convert_tokens_to_string(list(base_tokens) + [token])
        at = text.find(anchor)
        out[index] = text[at + len(anchor):] if at >= 0 else text
    _VOCAB_STRINGS[key] = (tokenizer, out)  # the tokenizer is kept so that its id is not reused while cached
    if len(_VOCAB_STRINGS) > 8:
        _VOCAB_STRINGS.popitem(last=False)
    return out


class StoppingCriteriaList(list):
    """A list of criteria; a row stops when any of them says so."""

    def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for criterion in self:
            done = done | criterion(input_ids, scores, **kwargs)
        return done

    @property
    def max_length(self) -> int | None:
        for criterion in self:
            if isinstance(criterion, MaxLengthCriteria):
                return criterion.max_length
        return None


def validate_stopping_criteria(stopping_criteria: StoppingCriteriaList, max_length: int) -> StoppingCriteriaList:
    found = stopping_criteria.max_length
    out = deepcopy(stopping_criteria)
    if found is not None and found != max_length:
        warnings.warn("You set different `max_length` for stopping criteria and `max_length` parameter", UserWarning)
    elif found is None:
        out.append(MaxLengthCriteria(max_length=max_length))
    return out


__all__ = ["StoppingCriteria", "StoppingCriteriaList", "MaxLengthCriteria", "MaxTimeCriteria", "EosTokenCriteria",
           "StopStringCriteria", "validate_stopping_criteria"]
