"""Logits processors: functions of (tokens so far, next-token scores) -> new scores, applied at each step.

Every class takes the constructor arguments users know from the reference library and gives the same scores.
Processors never change their input in place; each returns a new tensor (or the input, when it has nothing to do).
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

import torch

from ..logging import get_logger

logger = get_logger(__name__)

_NEG_INF = float("-inf")


def _token_tensor(ids, device="cpu") -> torch.Tensor:
    """A 1-D long tensor of token ids from an int, a list or a tensor."""
    if isinstance(ids, torch.Tensor):
        return ids.reshape(-1)
    if isinstance(ids, int):
        ids = [ids]
    return torch.tensor(list(ids), device=device, dtype=torch.long)


class _VocabMask:
    """A boolean [vocab] mask of some token ids, built once per (vocab size, device)."""

    def __init__(self, ids: torch.Tensor):
        self.ids = ids
        self._key = None
        self._mask = None

    def __call__(self, scores: torch.Tensor) -> torch.Tensor:
        key = (scores.shape[-1], scores.device)
        if key != self._key:
            mask = torch.zeros(scores.shape[-1], dtype=torch.bool, device=scores.device)
            ids = self.ids.to(scores.device)
            ids = ids[(ids >= 0) & (ids < scores.shape[-1])]
            mask[ids] = True
            self._key, self._mask = key, mask
        return self._mask


class LogitsProcessor:
    """Base class: `processor(input_ids, scores) -> scores`, with input_ids [batch, len] and scores [batch, vocab]."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        raise NotImplementedError(f"{type(self).__name__} is an abstract class. Only classes inheriting this class "
                                  f"can be called.")


LogitsWarper = LogitsProcessor  # the name the 4.x line used for the sampling-only processors


class LogitsProcessorList(list):
    """A list of processors applied in order. Processors whose `__call__` takes more than (input_ids, scores) get
    the extra keyword arguments passed to the list."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.FloatTensor:
        for processor in self:
            extra = _extra_arguments(processor)
            if extra:
                missing = [name for name in extra if name not in kwargs]
                if missing:
                    raise ValueError(f"Make sure that all the required parameters: {['input_ids', 'scores', *extra]} "
                                     f"for {type(processor)} are passed to the logits processor.")
                scores = processor(input_ids, scores, **kwargs)
            else:
                scores = processor(input_ids, scores)
        return scores


def _extra_arguments(processor) -> tuple:
    """Names of the parameters of `processor.__call__` after (input_ids, scores), cached per class."""
    cls = type(processor)
    cached = cls.__dict__.get("_henkan_extra_args")
    if cached is None:
        params = [p for p in inspect.signature(processor.__call__).parameters.values()
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        cached = tuple(p.name for p in params[2:])
        try:
            setattr(cls, "_henkan_extra_args", cached)
        except (TypeError, AttributeError):
            pass
    return cached


def _check_min_tokens(min_tokens_to_keep) -> None:
    if not isinstance(min_tokens_to_keep, int) or min_tokens_to_keep < 1:
        raise ValueError(f"`min_tokens_to_keep` has to be a positive integer, but is {min_tokens_to_keep}")


# ---------------------------------------------------------------------------------------------------------------
# sampling-only processors (the old "warpers")
# ---------------------------------------------------------------------------------------------------------------
class TemperatureLogitsWarper(LogitsProcessor):
    """Divide the scores by `temperature` (>1 flattens the distribution, <1 sharpens it)."""

    def __init__(self, temperature: float):
        if not isinstance(temperature, float) or not temperature > 0:
            message = (f"`temperature` (={temperature}) has to be a strictly positive float, otherwise your next "
                       f"token scores will be invalid.")
            if isinstance(temperature, float) and temperature == 0.0:
                message += " If you're looking for greedy decoding strategies, set `do_sample=False`."
            raise ValueError(message)
        self.temperature = temperature

    def __call__(self, input_ids, scores):
        return scores / self.temperature


class TopKLogitsWarper(LogitsProcessor):
    """Keep the `top_k` highest scores (ties with the k-th kept too); the rest get `filter_value`."""

    def __init__(self, top_k: int, filter_value: float = _NEG_INF, min_tokens_to_keep: int = 1):
        if not isinstance(top_k, int) or top_k <= 0:
            raise ValueError(f"`top_k` has to be a strictly positive integer, but is {top_k}")
        self.top_k = max(top_k, min_tokens_to_keep)
        self.filter_value = filter_value

    def __call__(self, input_ids, scores):
        k = min(self.top_k, scores.shape[-1])
        kth = torch.topk(scores, k).values[..., -1:]
        return scores.masked_fill(scores < kth, self.filter_value)


class TopPLogitsWarper(LogitsProcessor):
    """Nucleus filtering: keep the smallest set of most likely tokens whose probabilities add up to `top_p`."""

    def __init__(self, top_p: float, filter_value: float = _NEG_INF, min_tokens_to_keep: int = 1):
        top_p = float(top_p)
        if top_p < 0 or top_p > 1.0:
            raise ValueError(f"`top_p` has to be a float > 0 and < 1, but is {top_p}")
        _check_min_tokens(min_tokens_to_keep)
        self.top_p = top_p
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        ascending, order = torch.sort(scores, descending=False)
        mass_below = ascending.softmax(dim=-1).cumsum(dim=-1)
        drop = mass_below <= (1 - self.top_p)
        drop[..., -self.min_tokens_to_keep:] = False
        drop = drop.scatter(1, order, drop)
        return scores.masked_fill(drop, self.filter_value)


class MinPLogitsWarper(LogitsProcessor):
    """Keep tokens whose probability is at least `min_p` times the probability of the most likely token."""

    def __init__(self, min_p: float, filter_value: float = _NEG_INF, min_tokens_to_keep: int = 1):
        if not 0 <= min_p <= 1.0:
            raise ValueError(f"`min_p` has to be a float in the [0, 1] interval, but is {min_p}")
        _check_min_tokens(min_tokens_to_keep)
        self.min_p = min_p
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        probs = torch.softmax(scores, dim=-1)
        threshold = self.min_p * probs.max(dim=-1, keepdim=True).values
        drop = probs < threshold
        order = torch.argsort(scores, descending=True, dim=-1)
        drop_sorted = torch.gather(drop, -1, order)
        drop_sorted[..., : self.min_tokens_to_keep] = False
        drop = drop_sorted.scatter(1, order, drop_sorted)
        return scores.masked_fill(drop, self.filter_value)


class TypicalLogitsWarper(LogitsProcessor):
    """Locally typical sampling: keep the tokens whose surprisal is closest to the entropy, up to `mass`."""

    def __init__(self, mass: float = 0.9, filter_value: float = _NEG_INF, min_tokens_to_keep: int = 1):
        mass = float(mass)
        if not 0 < mass < 1:
            raise ValueError(f"`typical_p` has to be a float > 0 and < 1, but is {mass}")
        _check_min_tokens(min_tokens_to_keep)
        self.filter_value = filter_value
        self.mass = mass
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        logp = torch.nn.functional.log_softmax(scores, dim=-1)
        entropy = -(logp * torch.exp(logp)).nansum(-1, keepdim=True)
        distance = torch.abs(-logp - entropy)
        sorted_distance, order = torch.sort(distance, descending=False)
        cumulative = scores.gather(-1, order).softmax(dim=-1).cumsum(dim=-1)
        last = (cumulative < self.mass).sum(dim=1).clamp_(max=sorted_distance.shape[-1] - 1)
        drop_sorted = sorted_distance > sorted_distance.gather(1, last.view(-1, 1))
        drop_sorted[..., : self.min_tokens_to_keep] = False
        drop = drop_sorted.scatter(1, order, drop_sorted)
        return scores.masked_fill(drop, self.filter_value)


class EpsilonLogitsWarper(LogitsProcessor):
    """Epsilon sampling: drop tokens with probability below `epsilon` (keeping `min_tokens_to_keep` best)."""

    def __init__(self, epsilon: float, filter_value: float = _NEG_INF, min_tokens_to_keep: int = 1):
        epsilon = float(epsilon)
        if epsilon <= 0 or epsilon >= 1:
            raise ValueError(f"`epsilon_cutoff` has to be a float > 0 and < 1, but is {epsilon}")
        min_tokens_to_keep = int(min_tokens_to_keep)
        if min_tokens_to_keep < 1:
            raise ValueError(f"`min_tokens_to_keep` has to be a strictly positive integer, but is {min_tokens_to_keep}")
        self.epsilon = epsilon
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        drop = scores.softmax(dim=-1) < self.epsilon
        k = min(self.min_tokens_to_keep, scores.shape[-1])
        drop &= scores < torch.topk(scores, k).values[..., -1:]
        return scores.masked_fill(drop, self.filter_value)


class EtaLogitsWarper(LogitsProcessor):
    """Eta sampling: an entropy-dependent probability cutoff, min(epsilon, sqrt(epsilon) * exp(-entropy))."""

    def __init__(self, epsilon: float, filter_value: float = _NEG_INF, min_tokens_to_keep: int = 1,
                 device: str = "cpu"):
        epsilon = float(epsilon)
        if epsilon <= 0 or epsilon >= 1:
            raise ValueError(f"`eta_cutoff` has to be a float > 0 and < 1, but is {epsilon}")
        min_tokens_to_keep = int(min_tokens_to_keep)
        if min_tokens_to_keep < 1:
            raise ValueError(f"`min_tokens_to_keep` has to be a strictly positive integer, but is {min_tokens_to_keep}")
        self.epsilon = torch.tensor(epsilon, device=device)
        self.filter_value = filter_value
        self.min_tokens_to_keep = min_tokens_to_keep

    def __call__(self, input_ids, scores):
        probs = scores.softmax(dim=-1)
        entropy = torch.distributions.Categorical(logits=scores).entropy()
        epsilon = self.epsilon.to(scores.device)
        eta = torch.min(epsilon, torch.sqrt(epsilon) * torch.exp(-entropy))[..., None]
        drop = probs < eta
        k = min(self.min_tokens_to_keep, scores.shape[-1])
        drop &= scores < torch.topk(scores, k).values[..., -1:]
        return scores.masked_fill(drop, self.filter_value)


# ---------------------------------------------------------------------------------------------------------------
# processors used by every strategy
# ---------------------------------------------------------------------------------------------------------------
class RepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Make tokens already in the sequence less likely: positive scores are divided by `penalty`, negative ones
    multiplied (the CTRL rule). The first `prompt_ignore_length` tokens are not counted."""

    def __init__(self, penalty: float, prompt_ignore_length: int | None = None):
        if not isinstance(penalty, float) or not penalty > 0:
            raise ValueError(f"`penalty` has to be a strictly positive float, but is {penalty}")
        if prompt_ignore_length is not None and (not isinstance(prompt_ignore_length, int) or prompt_ignore_length < 0):
            raise ValueError(f"`prompt_ignore_length` has to be a positive integer, but is {prompt_ignore_length}")
        self.penalty = penalty
        self.prompt_ignore_length = prompt_ignore_length

    def __call__(self, input_ids, scores):
        if self.prompt_ignore_length:
            input_ids = input_ids[:, self.prompt_ignore_length:]
        if input_ids.dim() == 1:
            input_ids = input_ids.unsqueeze(1)
        seen = torch.gather(scores, 1, input_ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return scores.scatter(1, input_ids, seen)


class NoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Forbid any token that would repeat an n-gram (of `ngram_size` tokens) already in the sequence."""

    def __init__(self, ngram_size: int):
        if not isinstance(ngram_size, int) or ngram_size <= 0:
            raise ValueError(f"`ngram_size` has to be a strictly positive integer, but is {ngram_size}")
        self.ngram_size = ngram_size

    def __call__(self, input_ids, scores):
        return scores.masked_fill(_repeated_ngram_mask(input_ids, self.ngram_size, scores.shape[-1]), _NEG_INF)


def _repeated_ngram_mask(input_ids: torch.Tensor, n: int, vocab: int) -> torch.Tensor:
    """[batch, vocab] True where the token would complete an n-gram already present in the row."""
    batch, length = input_ids.shape
    banned = torch.zeros(batch, vocab, dtype=torch.bool, device=input_ids.device)
    if length + 1 < n or length < n:
        return banned
    windows = input_ids.unfold(1, n, 1)  # [batch, length - n + 1, n]
    if n == 1:
        hit = torch.ones(windows.shape[:2], dtype=torch.bool, device=input_ids.device)
    else:
        tail = input_ids[:, length - n + 1:]
        hit = (windows[:, :, :-1] == tail[:, None, :]).all(-1)
    targets = windows[:, :, -1].clamp(0, vocab - 1)
    counts = torch.zeros(batch, vocab, dtype=torch.int32, device=input_ids.device)
    counts.scatter_add_(1, targets, hit.to(torch.int32))
    return counts > 0


def _expanded(encoder_input_ids: torch.Tensor, rows: int) -> torch.Tensor:
    """The encoder ids of each of `rows` hypotheses (beams and returned sequences follow their input's row)."""
    return encoder_input_ids.repeat_interleave(rows // encoder_input_ids.shape[0], dim=0)


class EncoderRepetitionPenaltyLogitsProcessor(LogitsProcessor):
    """Make tokens of the encoder's input more likely (penalty > 1) or less likely (< 1): the inverse of the
    repetition penalty, applied to the source tokens (a hallucination guard for summarisation)."""

    def __init__(self, penalty: float, encoder_input_ids: torch.LongTensor):
        if not isinstance(penalty, float) or not penalty > 0:
            raise ValueError(f"`penalty` has to be a strictly positive float, but is {penalty}")
        self.penalty = 1 / penalty
        self.encoder_input_ids = encoder_input_ids if encoder_input_ids.dim() == 2 else encoder_input_ids[None]

    def __call__(self, input_ids, scores):
        ids = _expanded(self.encoder_input_ids.to(scores.device), scores.shape[0])
        seen = torch.gather(scores, 1, ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return scores.scatter(1, ids, seen)


class EncoderNoRepeatNGramLogitsProcessor(LogitsProcessor):
    """Forbid any token that would copy an n-gram (of `encoder_ngram_size` tokens) of the encoder's input: the last
    n - 1 generated tokens followed by it must not appear there."""

    def __init__(self, encoder_ngram_size: int, encoder_input_ids: torch.LongTensor):
        if not isinstance(encoder_ngram_size, int) or encoder_ngram_size <= 0:
            raise ValueError(f"`encoder_ngram_size` has to be a strictly positive integer, but is {encoder_ngram_size}")
        self.ngram_size = encoder_ngram_size
        self.encoder_input_ids = encoder_input_ids if encoder_input_ids.dim() == 2 else encoder_input_ids[None]

    def __call__(self, input_ids, scores):
        n, vocab = self.ngram_size, scores.shape[-1]
        rows, length = input_ids.shape
        source = self.encoder_input_ids.to(scores.device)
        if length < n - 1 or source.shape[1] < n:
            return scores
        windows = _expanded(source.unfold(1, n, 1), rows)  # [rows, windows, n]
        if n == 1:
            hit = torch.ones(windows.shape[:2], dtype=torch.bool, device=scores.device)
        else:
            hit = (windows[:, :, :-1] == input_ids[:, None, length - n + 1:]).all(-1)
        targets = windows[:, :, -1]
        valid = (targets >= 0) & (targets < vocab)
        counts = torch.zeros(rows, vocab, dtype=torch.int32, device=scores.device)
        counts.scatter_add_(1, targets.clamp(0, vocab - 1), (hit & valid).to(torch.int32))
        return scores.masked_fill(counts > 0, _NEG_INF)


class SequenceBiasLogitsProcessor(LogitsProcessor):
    """Add a bias to a token when the tokens before it match a given sequence.

    `sequence_bias` is a dict {tuple of token ids: bias} or a list of [list of token ids, bias] pairs. A sequence
    of one token biases that token always; a longer one biases its last token when the sequence ends with the rest.
    """

    def __init__(self, sequence_bias):
        self.sequence_bias = sequence_bias
        self._validate_arguments()
        if isinstance(self.sequence_bias, list):
            self.sequence_bias = {tuple(ids): bias for ids, bias in self.sequence_bias}
        self._prepared_for = None

    def _validate_arguments(self) -> None:
        bias = self.sequence_bias
        if not isinstance(bias, (dict, list)) or len(bias) == 0:
            raise ValueError(f"`sequence_bias` has to be a non-empty dictionary, or non-empty list of lists but is "
                             f"{bias}.")
        if isinstance(bias, dict):
            if any(not isinstance(ids, tuple) for ids in bias):
                raise ValueError(f"`sequence_bias` has to be a dict with tuples as keys, but is {bias}.")
            if any(len(ids) == 0 or any(not _is_token_id(t) for t in ids) for ids in bias):
                raise ValueError(f"Each key in `sequence_bias` has to be a non-empty tuple of positive integers, but "
                                 f"is {bias}.")
            if any(not isinstance(value, float) for value in bias.values()):
                raise ValueError(f"`sequence_bias` has to be a dict with floats as values, but is {bias}.")
        else:
            def valid(pair):
                return (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], list)
                        and all(_is_token_id(t) and t > 0 for t in pair[0]) and isinstance(pair[1], float))
            if any(not valid(pair) for pair in bias):
                raise ValueError(f"Each element in `sequence_bias` has to be a non-empty list of lists of positive "
                                 f"integers and float, but is {bias}.")

    def _prepare(self, scores: torch.Tensor) -> None:
        vocab = scores.shape[-1]
        too_big = [t for ids in self.sequence_bias for t in ids if t >= vocab]
        if too_big:
            raise ValueError(f"The model vocabulary size is {vocab}, but the following tokens were being biased: "
                             f"{too_big}")
        device = scores.device
        single = torch.zeros(vocab, dtype=torch.float, device=device)
        singles = [(ids[0], b) for ids, b in self.sequence_bias.items() if len(ids) == 1]
        if singles:
            single[[t for t, _ in singles]] = torch.tensor([b for _, b in singles], device=device)
        groups: dict[int, list] = {}
        for ids, b in self.sequence_bias.items():
            if len(ids) > 1:
                groups.setdefault(len(ids), []).append((ids, b))
        self._single = single
        self._groups = [(n, torch.tensor([ids[:-1] for ids, _ in items], dtype=torch.long, device=device),
                         torch.tensor([ids[-1] for ids, _ in items], dtype=torch.long, device=device),
                         torch.tensor([b for _, b in items], dtype=torch.float, device=device))
                        for n, items in sorted(groups.items())]
        self._prepared_for = (vocab, device)

    def __call__(self, input_ids, scores):
        if self._prepared_for != (scores.shape[-1], scores.device):
            self._prepare(scores)
        bias = self._single.expand_as(scores).clone() if self._groups else self._single
        for n, prefixes, last, values in self._groups:
            if n > input_ids.shape[1]:
                continue
            tail = input_ids[:, input_ids.shape[1] - n + 1:]
            match = (tail[:, None, :] == prefixes[None]).all(-1)  # [batch, sequences]
            add = torch.where(match, values, torch.zeros((), device=values.device))
            bias.index_add_(1, last, add)
        return scores + bias


def _is_token_id(t) -> bool:
    try:
        import numpy as np
        integer = (int, np.integer)
    except ImportError:  # pragma: no cover
        integer = (int,)
    return isinstance(t, integer) and not isinstance(t, bool) and t >= 0


class NoBadWordsLogitsProcessor(SequenceBiasLogitsProcessor):
    """Forbid token sequences: `bad_words_ids` is a list of token-id lists (a single EOS token is never banned)."""

    def __init__(self, bad_words_ids: list, eos_token_id=None):
        self.bad_word_ids = bad_words_ids
        if not isinstance(bad_words_ids, list) or len(bad_words_ids) == 0:
            raise ValueError(f"`bad_words_ids` has to be a non-empty list, but is {bad_words_ids}.")
        if any(not isinstance(ids, list) for ids in bad_words_ids):
            raise ValueError(f"`bad_words_ids` has to be a list of lists, but is {bad_words_ids}.")
        if any(any(not _is_token_id(t) for t in ids) for ids in bad_words_ids):
            raise ValueError(f"Each list in `bad_words_ids` has to be a list of positive integers, but is "
                             f"{bad_words_ids}.")
        if eos_token_id is not None:
            eos = _token_tensor(eos_token_id).tolist()
            bad_words_ids = [ids for ids in bad_words_ids if not (len(ids) == 1 and ids[0] in eos)]
        super().__init__({tuple(ids): _NEG_INF for ids in bad_words_ids})

    def _validate_arguments(self) -> None:
        if not isinstance(self.sequence_bias, dict):
            super()._validate_arguments()


class MinLengthLogitsProcessor(LogitsProcessor):
    """Forbid EOS while the whole sequence (prompt included) is shorter than `min_length`."""

    def __init__(self, min_length: int, eos_token_id, device: str = "cpu"):
        if not isinstance(min_length, int) or min_length < 0:
            raise ValueError(f"`min_length` has to be a non-negative integer, but is {min_length}")
        self.min_length = min_length
        self.eos_token_id = _token_tensor(eos_token_id, device)
        self._mask = _VocabMask(self.eos_token_id)

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] >= self.min_length:
            return scores
        return torch.where(self._mask(scores), _NEG_INF, scores)


class MinNewTokensLengthLogitsProcessor(LogitsProcessor):
    """Forbid EOS until `min_new_tokens` tokens follow the first `prompt_length_to_skip` tokens."""

    def __init__(self, prompt_length_to_skip: int, min_new_tokens: int, eos_token_id, device: str = "cpu"):
        for name, value in (("prompt_length_to_skip", prompt_length_to_skip), ("min_new_tokens", min_new_tokens)):
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` has to be a positive integer, but is {value}")
        self.prompt_length_to_skip = prompt_length_to_skip
        self.min_new_tokens = min_new_tokens
        self.eos_token_id = _token_tensor(eos_token_id, device)
        self._mask = _VocabMask(self.eos_token_id)

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] - self.prompt_length_to_skip >= self.min_new_tokens:
            return scores
        return torch.where(self._mask(scores), _NEG_INF, scores)


class ForcedBOSTokenLogitsProcessor(LogitsProcessor):
    """Force `bos_token_id` as the first generated token (when the sequence holds exactly one token)."""

    def __init__(self, bos_token_id: int):
        self.bos_token_id = bos_token_id

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != 1:
            return scores
        forced = torch.full_like(scores, _NEG_INF)
        forced[:, self.bos_token_id] = 0
        return forced


class ForcedEOSTokenLogitsProcessor(LogitsProcessor):
    """Force an EOS token as the last token when `max_length` is reached."""

    def __init__(self, max_length: int, eos_token_id, device: str = "cpu"):
        self.max_length = max_length
        self.eos_token_id = _token_tensor(eos_token_id, device)
        if torch.is_floating_point(self.eos_token_id) or (self.eos_token_id < 0).any():
            raise ValueError(f"`eos_token_id` has to be a list of positive integers, but is {self.eos_token_id}")

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.max_length - 1:
            return scores
        forced = torch.full_like(scores, _NEG_INF)
        forced[:, self.eos_token_id.to(scores.device)] = 0
        return forced


class SuppressTokensLogitsProcessor(LogitsProcessor):
    """Never generate the tokens in `suppress_tokens`."""

    def __init__(self, suppress_tokens, device: str = "cpu"):
        self.suppress_tokens = torch.tensor(list(suppress_tokens), device=device, dtype=torch.long)
        self._mask = _VocabMask(self.suppress_tokens)

    def __call__(self, input_ids, scores):
        return torch.where(self._mask(scores), _NEG_INF, scores)


class SuppressTokensAtBeginLogitsProcessor(LogitsProcessor):
    """Forbid `begin_suppress_tokens` at the step where the sequence length equals `begin_index`."""

    def __init__(self, begin_suppress_tokens, begin_index, device: str = "cpu"):
        self.begin_suppress_tokens = torch.tensor(list(begin_suppress_tokens), device=device, dtype=torch.long)
        self.begin_index = begin_index
        self._mask = _VocabMask(self.begin_suppress_tokens)

    def set_begin_index(self, begin_index) -> None:
        self.begin_index = begin_index

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] != self.begin_index:
            return scores
        return torch.where(self._mask(scores), _NEG_INF, scores)


class WhisperTimeStampLogitsProcessor(LogitsProcessor):
    """Whisper's timestamp grammar over the tokens generated after `begin_index`: timestamps come in pairs (a lone
    one only right before the end), never go back in time, the first token is a timestamp no later than
    `max_initial_timestamp_index` steps, and a timestamp is forced whenever the timestamps together are likelier
    than the best text token. Timestamp tokens are the ids after `no_timestamps_token_id`."""

    def __init__(self, generate_config, begin_index: int, _detect_timestamp_from_logprob: bool | None = None):
        self.no_timestamps_token_id = generate_config.no_timestamps_token_id
        self.timestamp_begin = self.no_timestamps_token_id + 1
        eos = generate_config.eos_token_id if generate_config.eos_token_id is not None else \
            generate_config.bos_token_id
        self.eos_token_id = eos[0] if isinstance(eos, (list, tuple)) else eos
        self._detect_timestamp_from_logprob = _detect_timestamp_from_logprob if \
            _detect_timestamp_from_logprob is not None else \
            getattr(generate_config, "_detect_timestamp_from_logprob", True)
        self.begin_index = begin_index
        self.max_initial_timestamp_index = getattr(generate_config, "max_initial_timestamp_index", None)

    def set_begin_index(self, begin_index) -> None:
        self.begin_index = begin_index

    def __call__(self, input_ids, scores):
        first = self.timestamp_begin
        scores = scores.clone()
        scores[:, self.no_timestamps_token_id] = _NEG_INF
        for k, row in enumerate(input_ids[:, self.begin_index:].tolist()):
            last_is_stamp = len(row) >= 1 and row[-1] >= first
            pair_before = len(row) < 2 or row[-2] >= first
            if last_is_stamp:
                if pair_before:  # a pair just closed: text (or the end) comes next
                    scores[k, first:] = _NEG_INF
                else:  # an open pair: close it (or end)
                    scores[k, :self.eos_token_id] = _NEG_INF
            stamps = [t for t in row if t >= first]
            if stamps:  # time never goes back; a closed pair is not reopened at its own time
                floor = stamps[-1] if last_is_stamp and not pair_before else stamps[-1] + 1
                scores[k, first:floor] = _NEG_INF
        if input_ids.shape[1] == self.begin_index:
            scores[:, :first] = _NEG_INF
            if self.max_initial_timestamp_index is not None:
                scores[:, first + self.max_initial_timestamp_index + 1:] = _NEG_INF
        if self._detect_timestamp_from_logprob:
            logprobs = torch.log_softmax(scores.float(), dim=-1)
            stamps_win = logprobs[:, first:].logsumexp(dim=-1) > logprobs[:, :first].max(dim=-1).values
            scores[stamps_win, :first] = _NEG_INF
        return scores


class ExponentialDecayLengthPenalty(LogitsProcessor):
    """Raise the EOS score exponentially once `start_index` tokens were generated:
    `exponential_decay_length_penalty=(start_index, decay_factor)`."""

    def __init__(self, exponential_decay_length_penalty: tuple, eos_token_id, input_ids_seq_length: int):
        self.regulation_start = exponential_decay_length_penalty[0] + input_ids_seq_length
        self.regulation_factor = exponential_decay_length_penalty[1]
        self.eos_token_id = _token_tensor(eos_token_id)
        if torch.is_floating_point(self.eos_token_id) or (self.eos_token_id < 0).any():
            raise ValueError(f"`eos_token_id` has to be a list of positive integers, but is {self.eos_token_id}")

    def __call__(self, input_ids, scores):
        steps = input_ids.shape[-1] - self.regulation_start
        if steps <= 0:
            return scores
        eos = self.eos_token_id.to(scores.device)
        boost = torch.zeros_like(scores)
        boost[:, eos] = torch.abs(scores[:, eos]) * (pow(self.regulation_factor, steps) - 1)
        return scores + boost


class HammingDiversityLogitsProcessor(LogitsProcessor):
    """Diverse beam search: lower the scores of tokens that earlier beam groups picked at this step.

    Called with the tokens chosen so far at this step (`current_tokens`, [batch * num_beams]) and the index of the
    group being scored (`beam_group_idx`); `scores` holds that group's rows only.
    """

    def __init__(self, diversity_penalty: float, num_beams: int, num_beam_groups: int):
        if not isinstance(diversity_penalty, float) or not diversity_penalty > 0.0:
            raise ValueError("`diversity_penalty` should be a float strictly larger than 0.")
        if not isinstance(num_beams, int) or num_beams < 2:
            raise ValueError("`num_beams` should be an integer strictly larger than 1.")
        if not isinstance(num_beam_groups, int) or num_beam_groups < 2:
            raise ValueError("`num_beam_groups` should be an integer strictly larger than 1.")
        if num_beam_groups > num_beams:
            raise ValueError("`beam_groups` has to be smaller or equal to `num_beams`.")
        self._diversity_penalty = diversity_penalty
        self._num_beams = num_beams
        self._num_sub_beams = num_beams // num_beam_groups

    def __call__(self, input_ids, scores, current_tokens, beam_group_idx):
        start = beam_group_idx * self._num_sub_beams
        if start == 0:
            return scores
        end = min(start + self._num_sub_beams, self._num_beams)
        group_size = end - start
        batch = current_tokens.shape[0] // self._num_beams
        vocab = scores.shape[-1]
        earlier = current_tokens.view(batch, self._num_beams)[:, :start].to(scores.device)
        counts = torch.zeros(batch, vocab, dtype=scores.dtype, device=scores.device)
        counts.scatter_add_(1, earlier, torch.ones_like(earlier, dtype=scores.dtype))
        penalty = (self._diversity_penalty * counts).repeat_interleave(group_size, dim=0)
        out = scores.clone()
        rows = min(out.shape[0], penalty.shape[0])
        out[:rows] -= penalty[:rows]
        return out


class PrefixConstrainedLogitsProcessor(LogitsProcessor):
    """Allow only the tokens `prefix_allowed_tokens_fn(batch_id, tokens_so_far)` returns."""

    def __init__(self, prefix_allowed_tokens_fn: Callable[[int, torch.Tensor], list], num_beams: int):
        self._prefix_allowed_tokens_fn = prefix_allowed_tokens_fn
        self._num_beams = num_beams

    def __call__(self, input_ids, scores):
        mask = torch.full_like(scores, -math.inf)
        for row in range(input_ids.shape[0]):
            batch_id = row // self._num_beams
            allowed = self._prefix_allowed_tokens_fn(batch_id, input_ids[row])
            if len(allowed) == 0:
                raise ValueError(f"`prefix_allowed_tokens_fn` returned an empty list for batch ID {batch_id}. This "
                                 f"means that the constraint is unsatisfiable. Please check your implementation of "
                                 f"`prefix_allowed_tokens_fn` ")
            mask[row, allowed] = 0
        return scores + mask


class InfNanRemoveLogitsProcessor(LogitsProcessor):
    """Replace NaN by 0 and +/-inf by the largest/smallest finite value of the dtype."""

    def __call__(self, input_ids, scores):
        info = torch.finfo(scores.dtype)
        out = torch.where(scores != scores, 0.0, scores)
        out = torch.where(scores == float("inf"), info.max, out)
        return torch.where(scores == _NEG_INF, info.min, out)


class LogitNormalization(LogitsProcessor):
    """Log-softmax the scores (used last, so beam scores stay log-probabilities after the other processors)."""

    def __call__(self, input_ids, scores):
        return scores.log_softmax(dim=-1)


__all__ = [
    "LogitsProcessor", "LogitsWarper", "LogitsProcessorList", "TemperatureLogitsWarper", "TopKLogitsWarper",
    "TopPLogitsWarper", "MinPLogitsWarper", "TypicalLogitsWarper", "EpsilonLogitsWarper", "EtaLogitsWarper",
    "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor", "SequenceBiasLogitsProcessor",
    "NoBadWordsLogitsProcessor", "MinLengthLogitsProcessor", "MinNewTokensLengthLogitsProcessor",
    "ForcedBOSTokenLogitsProcessor", "ForcedEOSTokenLogitsProcessor", "SuppressTokensLogitsProcessor",
    "SuppressTokensAtBeginLogitsProcessor", "ExponentialDecayLengthPenalty", "HammingDiversityLogitsProcessor",
    "PrefixConstrainedLogitsProcessor", "InfNanRemoveLogitsProcessor", "LogitNormalization",
    "EncoderRepetitionPenaltyLogitsProcessor", "EncoderNoRepeatNGramLogitsProcessor",
]
