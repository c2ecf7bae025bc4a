"""The batching engine: one model step at a time over every active request (continuous batching).

A thread runs the loop. Each turn it takes in the new requests and cancellations, runs at most one prefill forward
(a chunk of one long prompt, or several short prompts packed into one row), then one decode step over every
request that is generating. A request joins the decoding batch as soon as its prompt is in the cache and leaves it
the step it finishes, is cancelled or its client goes away; its slot is free for the next one at once.

The keys and values live in a `SlotCache` sized by `max_batch_size` x `max_model_len`, allocated once. Decoding
sequences occupy slots 0..n-1 (when one leaves, the last one moves into its slot), so each decode step runs over a
contiguous block of the cache; a prompt being prefilled in chunks sits in slot n.

Sampling reuses `generate()`'s pieces: each request gets the logits processors and warpers `generate()` would build
from the model's generation config and the request's settings, and its own random generator, so a greedy request
yields exactly `generate()`'s tokens and a seeded one `torch.manual_seed(seed); generate(do_sample=True)`'s.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from ..cache import SlotCache
from ..generation.configuration_utils import GenerationConfig
from ..generation.logits_process import LogitsProcessor, LogitsProcessorList
from ..logging import get_logger

logger = get_logger(__name__)

__all__ = ["Engine", "SamplingParams", "Choice", "Overloaded", "ContextLengthError"]


class Overloaded(RuntimeError):
    """Too many requests are waiting for a slot; the client should retry later."""


class ContextLengthError(ValueError):
    """The prompt (and the tokens asked for) do not fit in the context the server was started with."""


@dataclass
class SamplingParams:
    """One request's generation settings, in the OpenAI API's terms. `temperature`, `top_p` and `top_k` left as
    None take the model's generation config where it samples, else the OpenAI defaults (1.0, 1.0, none);
    temperature 0 is greedy."""

    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict | None = None
    seed: int | None = None
    stop: list = field(default_factory=list)
    n: int = 1
    logprobs: int | None = None  # None: no log-probabilities; k: the chosen token's and the top k


@dataclass
class Choice:
    """What one choice of a request produced in one engine step."""

    index: int
    token_id: int
    text: str  # the new text (held back while it may be the start of a stop string or an unfinished character)
    # with log-probabilities: (the token's text, its log-probability, [(token id, text, log-probability), ...] of the
    # most likely tokens); a token's text is what it adds to the decoded text (spaces included)
    logprob: tuple | None
    finish_reason: str | None  # "stop", "length", or None while generating


class PenaltyProcessor(LogitsProcessor):
    """OpenAI's presence and frequency penalties: each token's logit drops by `frequency` times the number of
    times it was generated so far, and by `presence` if it was generated at all (the prompt does not count)."""

    def __init__(self, presence: float, frequency: float, prompt_length: int):
        self.presence, self.frequency, self.prompt_length = presence, frequency, prompt_length

    def __call__(self, input_ids, scores):
        generated = input_ids[:, self.prompt_length:]
        counts = torch.zeros_like(scores).scatter_add_(1, generated, torch.ones_like(generated, dtype=scores.dtype))
        return scores - counts * self.frequency - (counts > 0).to(scores.dtype) * self.presence


class Request:
    """A submitted request: its prompt, settings and choices. `emit(list[Choice] | Exception)` is called from the
    engine's thread after every step that produced something for it."""

    def __init__(self, prompt: list[int], params: SamplingParams, emit: Callable):
        self.prompt, self.params, self.emit = prompt, params, emit
        self.cancelled = False
        self.unfinished = params.n
        self.generator = None
        self.processors = None
        self.do_sample = False


class _Sequence:
    """One choice being generated, in one slot."""

    def __init__(self, request: Request, index: int, slot: int, engine: "Engine"):
        self.request, self.index, self.slot = request, index, slot
        self.generated: list[int] = []
        self.pending = None  # the last token, fed at the next decode step
        self.sent = 0  # characters of text already emitted
        self.text = ""  # the text so far, cut at a stop string
        self.decoded = ""  # the text of every generated token
        params = request.params
        self.plain = not request.do_sample and not request.processors
        self.ids = None
        if request.processors:
            prompt = torch.tensor(request.prompt, dtype=torch.long, device=engine.device)
            self.ids = torch.empty((1, len(request.prompt) + params.max_tokens), dtype=torch.long,
                                   device=engine.device)
            self.ids[0, : prompt.shape[0]] = prompt
        self.stops = [s for s in params.stop if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1


class Engine:
    """Continuous batching over a causal LM: `submit` requests from any thread, results come back through each
    request's `emit`. `start()` runs the loop in a thread; `stop()` ends it.

    `max_batch_size` sequences decode at once (the slots of the cache), each at most `max_model_len` tokens long
    (prompt + generated). Prompts are prefilled at most `prefill_chunk` tokens per step, so a long prompt does not
    stall the requests that are decoding. When every slot is taken and `max_waiting` more choices wait for one,
    `submit` raises `Overloaded`.
    """

    def __init__(self, model, tokenizer, *, max_batch_size: int = 16, max_model_len: int | None = None,
                 prefill_chunk: int = 512, max_waiting: int | None = None):
        from ..generation.utils import _parameters

        names, _ = _parameters(model.forward)
        if not {"position_ids", "logits_to_keep", "past_key_values"} <= names or model.config.is_encoder_decoder:
            raise ValueError(f"{type(model).__name__} cannot be served: the server needs a decoder-only causal LM "
                             f"whose forward takes position_ids, past_key_values and logits_to_keep.")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, not {max_batch_size}.")
        if prefill_chunk < 1:
            raise ValueError(f"prefill_chunk must be at least 1, not {prefill_chunk}.")
        self.model = model.eval()
        self.tokenizer = tokenizer
        config = model.config
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        if max_model_len is None:
            max_model_len = min(limit or 2048, 2048)
        if max_model_len < 2:
            raise ValueError(f"max_model_len must be at least 2, not {max_model_len}.")
        if limit is not None and max_model_len > limit:
            raise ValueError(f"max_model_len ({max_model_len}) exceeds the model's {limit} positions "
                             f"(max_position_embeddings).")
        self.max_model_len, self.max_batch_size, self.prefill_chunk = max_model_len, max_batch_size, prefill_chunk
        self.max_waiting = 4 * max_batch_size if max_waiting is None else max_waiting
        self.device = model.device
        self.cache = SlotCache(config, max_batch_size, max_model_len, device=self.device, dtype=model.dtype)
        generation = getattr(model, "generation_config", None) or GenerationConfig.from_model_config(config)
        self.generation_config = generation
        self._model_samples = bool(generation.do_sample)
        self._model_top_k = "top_k" in generation.to_diff_dict()
        eos = generation.eos_token_id
        self.eos = set([eos] if isinstance(eos, int) else (eos or []))
        self._lock = threading.Condition()
        self._inbox: deque[Request] = deque()
        self._waiting: deque[Request] = deque()
        self._rows: list[_Sequence] = []
        self._filling: Request | None = None
        self._pending = 0  # requests submitted and not yet admitted
        self._load = 0  # choices submitted and not yet finished
        self._thread = None
        self._stopping = False
        self.served = self.cancelled = 0

    # ---------------------------------------------------------------------------------------------------------
    # the public side (any thread)
    # ---------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="henkan-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join()

    def submit(self, prompt: list[int], params: SamplingParams, emit: Callable) -> Request:
        """Queue a request; raises ContextLengthError, ValueError (bad settings) or Overloaded."""
        if not prompt:
            raise ValueError("The prompt is empty: there is nothing to continue from.")
        if params.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, not {params.max_tokens}.")
        if len(prompt) >= self.max_model_len:
            raise ContextLengthError(f"This model's maximum context length is {self.max_model_len} tokens; the "
                                     f"prompt has {len(prompt)} tokens, which leaves no room to generate. Shorten "
                                     f"the prompt (or start the server with a larger --max-model-len).")
        if len(prompt) + params.max_tokens > self.max_model_len:
            raise ContextLengthError(f"This model's maximum context length is {self.max_model_len} tokens; the "
                                     f"prompt has {len(prompt)} tokens and {params.max_tokens} more were asked for. "
                                     f"Lower max_tokens to at most {self.max_model_len - len(prompt)} or shorten the "
                                     f"prompt.")
        if not 1 <= params.n <= self.max_batch_size:
            raise ValueError(f"n must be between 1 and {self.max_batch_size} (the server's --max-batch-size), not "
                             f"{params.n}.")
        request = Request(list(prompt), params, emit)
        self._configure(request)
        with self._lock:
            if self._load + params.n > self.max_batch_size + self.max_waiting:
                raise Overloaded(f"The server is busy: every one of its {self.max_batch_size} slots is taken and "
                                 f"{self._pending} requests wait for one. Retry shortly.")
            self._pending += 1
            self._load += params.n
            self._inbox.append(request)
            self._lock.notify()
        return request

    def cancel(self, request: Request) -> None:
        """Stop a request (its client went away): its slots are freed at the next step."""
        with self._lock:
            request.cancelled = True
            self._lock.notify()

    def stats(self) -> dict:
        """Counts for monitoring: `active` choices submitted and not finished, `running` decoding ones, `waiting`
        requests not yet admitted, free slots, requests served and cancelled so far."""
        return {"active": self._load, "running": len(self._rows), "waiting": self._pending,
                "filling": self._filling is not None,
                "free_slots": self.max_batch_size - len(self._rows) - (self._filling.params.n if self._filling
                                                                        else 0),
                "served": self.served, "cancelled": self.cancelled}

    def _configure(self, request: Request) -> None:
        """The processors and warpers `generate()` would use for these settings, and the random generator."""
        p = request.params
        config = copy.deepcopy(self.generation_config)
        samples = self._model_samples
        temperature = p.temperature if p.temperature is not None else (
            (config.temperature if config.temperature is not None else 1.0) if samples else 1.0)
        do_sample = temperature > 0
        settings = dict(do_sample=do_sample, max_new_tokens=p.max_tokens, max_length=len(request.prompt) + p.max_tokens)
        if do_sample:
            settings.update(temperature=temperature,
                            top_p=p.top_p if p.top_p is not None else (config.top_p if samples else 1.0),
                            top_k=p.top_k if p.top_k is not None else (config.top_k if samples and self._model_top_k
                                                                       else 0))
            if p.min_p is not None:
                settings["min_p"] = p.min_p
        else:  # greedy: the sampling settings are unused (neutral values, so that the config does not warn)
            settings.update(temperature=1.0, top_p=1.0, top_k=50, min_p=None, typical_p=1.0, epsilon_cutoff=0.0,
                            eta_cutoff=0.0)
        if p.repetition_penalty is not None:
            settings["repetition_penalty"] = p.repetition_penalty
        if p.logit_bias:
            vocab = self.model.config.vocab_size
            wrong = [t for t in p.logit_bias if not 0 <= t < vocab]
            if wrong:
                raise ValueError(f"logit_bias names token ids outside the vocabulary [0, {vocab}): {wrong[:5]}.")
            settings["sequence_bias"] = {(t,): float(b) for t, b in p.logit_bias.items()}
        config.update(**settings)
        eos = sorted(self.eos) or None
        processors = self.model._get_logits_processor(config, len(request.prompt), None, LogitsProcessorList(),
                                                      self.device, eos)
        if p.presence_penalty or p.frequency_penalty:
            processors.insert(0, PenaltyProcessor(p.presence_penalty, p.frequency_penalty, len(request.prompt)))
        request.processors = processors or None
        request.do_sample = do_sample
        if do_sample:
            request.generator = torch.Generator(device=self.device)
            if p.seed is not None:
                request.generator.manual_seed(p.seed)
            else:
                request.generator.seed()

    # ---------------------------------------------------------------------------------------------------------
    # the loop (the engine's thread)
    # ---------------------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        # (inference mode: no autograd bookkeeping per op; what leaves this thread is Python numbers and text, and the
        # slot cache, made outside it, stays a normal tensor written in place)
        with torch.inference_mode():
            while True:
                with self._lock:
                    while not (self._stopping or self._inbox or self._waiting or self._rows or self._filling):
                        self._lock.wait()
                    if self._stopping:
                        return
                    self._waiting.extend(self._inbox)
                    self._inbox.clear()
                try:
                    self._drop_cancelled()
                    self._prefill()
                    if self._rows:
                        self._decode()
                except Exception as e:  # a failed step fails the requests in it; the server goes on
                    logger.error(f"engine step failed: {type(e).__name__}: {e}")
                    self._fail_all(e)

    def _admitted(self, request: Request) -> None:
        with self._lock:
            self._pending -= 1

    def _release(self, request: Request) -> None:
        with self._lock:
            self._load -= request.params.n

    def _drop_cancelled(self) -> None:
        if any(r.cancelled for r in self._waiting):
            for request in [r for r in self._waiting if r.cancelled]:
                self._waiting.remove(request)
                self._admitted(request)
                self._release(request)
                self.cancelled += 1
        if self._filling is not None and self._filling.cancelled:
            self.cache.free(len(self._rows))
            self._release(self._filling)
            self._filling = None
            self.cancelled += 1
        gone = [s for s in self._rows if s.request.cancelled]
        if gone:
            self._remove(gone)

    def _fail_all(self, error: Exception) -> None:
        requests = {id(s.request): s.request for s in self._rows}
        if self._filling is not None:
            requests[id(self._filling)] = self._filling
        self._remove(list(self._rows))
        if self._filling is not None:
            self.cache.free(len(self._rows))
            self._release(self._filling)
            self._filling = None
        for request in requests.values():
            request.emit(error)

    def _forward(self, ids: torch.Tensor, mask=None, positions=None, keep=1) -> torch.Tensor:
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=self.cache,
                         use_cache=True, logits_to_keep=keep, return_dict=True)
        return out.logits

    def _prefill(self) -> None:
        """One prefill forward: the next chunk of the long prompt being filled, or the waiting prompts that fit in
        `prefill_chunk` tokens (and in the free slots), packed into one row."""
        if self._filling is not None:
            self._fill_chunk()
            return
        free = self.max_batch_size - len(self._rows)
        budget = self.prefill_chunk
        group: list[Request] = []
        while self._waiting:
            request = self._waiting[0]
            size = len(request.prompt)
            if request.params.n > free or (group and size > budget):
                break
            self._waiting.popleft()
            self._admitted(request)
            if size > budget:  # a long prompt: prefilled a chunk per step
                self._filling = request
                self._fill_chunk()
                return
            group.append(request)
            free -= request.params.n
            budget -= size
        if not group:
            return
        device = self.device
        base = len(self._rows)
        if len(group) == 1:
            self.cache.plan_prefill(base, len(group[0].prompt))
            logits = self._forward(torch.tensor([group[0].prompt], device=device))[:, -1]
        else:
            slots, at = [], base
            for request in group:
                slots.append(at)
                at += request.params.n
            positions, last = self.cache.plan_packed(slots, [len(r.prompt) for r in group])
            ids = torch.tensor([t for r in group for t in r.prompt], device=device)[None]
            logits = self._forward(ids, positions=positions, keep=last)[0]
        self._begin(group, logits)

    def _fill_chunk(self) -> None:
        request = self._filling
        slot = len(self._rows)
        start = self.cache.lengths[slot]
        take = min(self.prefill_chunk, len(request.prompt) - start)
        self.cache.plan_prefill(slot, take)
        logits = self._forward(torch.tensor([request.prompt[start:start + take]], device=self.device))[:, -1]
        if start + take == len(request.prompt):
            self._filling = None
            self._begin([request], logits)

    def _begin(self, requests: list[Request], logits: torch.Tensor) -> None:
        """Requests whose prompts are in the cache (each in the slot after the decoding ones) join the decoding
        rows, one row per choice, and take their first token from `logits` (one row per request)."""
        new, rows = [], []
        for request, row in zip(requests, logits):
            slot = len(self._rows)
            for index in range(request.params.n):
                if index:
                    self.cache.copy_slot(slot, slot + index)
                sequence = _Sequence(request, index, slot + index, self)
                self._rows.append(sequence)
                new.append(sequence)
                rows.append(row)
        self._step(new, torch.stack(rows))

    def _decode(self) -> None:
        rows = self._rows
        mask, positions = self.cache.plan_decode(len(rows))
        ids = torch.tensor([s.pending for s in rows], device=self.device)[:, None]
        self._step(list(rows), self._forward(ids, mask, positions)[:, -1])

    def _step(self, sequences: list[_Sequence], logits: torch.Tensor) -> None:
        """Choose each sequence's next token from its logits row, report it, retire the finished sequences."""
        logits = logits.float()
        tokens = logits.argmax(-1)
        for i, s in enumerate(sequences):
            if s.plain:
                continue
            request = s.request
            scores = logits[i:i + 1]
            if request.processors:
                scores = request.processors(s.ids[:, : len(request.prompt) + len(s.generated)], scores.clone())
            if request.do_sample:
                tokens[i] = torch.multinomial(F.softmax(scores, dim=-1), num_samples=1,
                                              generator=request.generator)[0, 0]
            else:
                tokens[i] = scores.argmax(-1)[0]
        chosen = tokens.tolist()
        reports: dict[int, tuple[Request, list]] = {}
        finished = []
        for i, (s, token) in enumerate(zip(sequences, chosen)):
            values = None
            if s.request.params.logprobs is not None:
                values = torch.log_softmax(logits[i], dim=-1)
            choice = self._advance(s, token, values)
            reports.setdefault(id(s.request), (s.request, []))[1].append(choice)
            if choice.finish_reason is not None:
                finished.append(s)
        for request, choices in reports.values():
            if not request.cancelled:
                request.emit(choices)
        if finished:
            self._remove(finished)

    def _token_text(self, previous: int | None, token: int) -> str:
        """What `token` adds to the text after `previous` (decoding it alone would lose a leading space)."""
        if previous is None:
            return self.tokenizer.decode([token])
        head = self.tokenizer.decode([previous])
        both = self.tokenizer.decode([previous, token])
        return both[len(head):] if both.startswith(head) else self.tokenizer.decode([token])

    def _advance(self, s: _Sequence, token: int, logprobs: torch.Tensor | None) -> Choice:
        """Append `token` to a sequence: its new text (stop strings and unfinished characters held back) and
        whether it is done; with `logprobs` (the step's log-softmax), the token's and the top ones'."""
        previous = s.generated[-1] if s.generated else None
        decoded = s.decoded
        s.generated.append(token)
        s.pending = token
        if s.ids is not None:
            s.ids[0, len(s.request.prompt) + len(s.generated) - 1] = token
        params = s.request.params
        finish = None
        if token in self.eos:
            finish = "stop"
        else:
            text = s.decoded = self.tokenizer.decode(s.generated, skip_special_tokens=True)
            if s.stops:
                start = max(0, len(s.text) - s.hold)
                hits = [at for at in (text.find(stop, start) for stop in s.stops) if at >= 0]
                if hits:
                    text, finish = text[:min(hits)], "stop"
            s.text = text
        if finish is None and len(s.generated) >= params.max_tokens:
            finish = "length"
        end = len(s.text)
        if finish is None:  # hold back an unfinished character, and a tail that may grow into a stop string
            visible = s.text.rstrip("\ufffd")
            end = len(visible)
            for stop in s.stops:
                cut = next((c for c in range(min(len(stop) - 1, len(visible)), 0, -1)
                            if visible.endswith(stop[:c])), 0)
                end = min(end, len(visible) - cut)
        end = max(end, s.sent)
        delta, s.sent = s.text[s.sent:end], end
        logprob = None
        if logprobs is not None:
            own = s.decoded[len(decoded):] if s.decoded != decoded and s.decoded.startswith(decoded) else \
                self.tokenizer.decode([token])
            k = params.logprobs
            top = logprobs.topk(k) if k else None
            logprob = (own, float(logprobs[token]), [] if top is None else [
                (t, self._token_text(previous, t), v) for t, v in zip(top.indices.tolist(), top.values.tolist())])
        return Choice(s.index, token, delta, logprob, finish)

    def _remove(self, sequences: list[_Sequence]) -> None:
        """Retire sequences: each freed slot takes the last decoding row, so rows stay 0..n-1; a prompt being
        filled moves down behind them."""
        filling_at = len(self._rows)
        for s in sorted(sequences, key=lambda s: -s.slot):
            last = len(self._rows) - 1
            if s.slot != last:
                moved = self._rows[last]
                self.cache.copy_slot(last, s.slot)
                moved.slot = s.slot
                self._rows[s.slot] = moved
            self._rows.pop()
            self.cache.free(last)
            request = s.request
            request.unfinished -= 1
            if request.unfinished == 0:  # counted before its load is released: an idle engine has counted it
                if request.cancelled:
                    self.cancelled += 1
                else:
                    self.served += 1
                self._release(request)
        if self._filling is not None and filling_at != len(self._rows):
            self.cache.copy_slot(filling_at, len(self._rows))
            self.cache.free(filling_at)
