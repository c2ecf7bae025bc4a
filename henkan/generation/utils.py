"""`GenerationMixin.generate()`: one implementation of greedy search, sampling and beam search for every family.

The decode loop is built for speed: the processors that are active are chosen once, tokens are written into a
preallocated buffer, the attention mask and position ids are advanced without rebuilding them, sampling happens on
the device, the end-of-sequence check is one tensor operation per step, and only the last position's logits are
computed (`logits_to_keep=1`).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import warnings
from typing import Callable, Optional

import torch
from torch.nn import functional as F

from ..cache import EncoderDecoderCache
from ..logging import get_logger
from ..outputs import declare_output
from .configuration_utils import (
    STATIC_CACHE_IMPLEMENTATIONS,
    CompileConfig,
    GenerationConfig,
    GenerationMode,
)
from .logits_process import (
    EncoderNoRepeatNGramLogitsProcessor,
    EncoderRepetitionPenaltyLogitsProcessor,
    EpsilonLogitsWarper,
    EtaLogitsWarper,
    ExponentialDecayLengthPenalty,
    ForcedBOSTokenLogitsProcessor,
    ForcedEOSTokenLogitsProcessor,
    HammingDiversityLogitsProcessor,
    InfNanRemoveLogitsProcessor,
    LogitNormalization,
    LogitsProcessorList,
    MinLengthLogitsProcessor,
    MinNewTokensLengthLogitsProcessor,
    MinPLogitsWarper,
    NoBadWordsLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    PrefixConstrainedLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    SequenceBiasLogitsProcessor,
    SuppressTokensAtBeginLogitsProcessor,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
)
from .stopping_criteria import (
    EosTokenCriteria,
    MaxLengthCriteria,
    MaxTimeCriteria,
    StoppingCriteria,
    StoppingCriteriaList,
    StopStringCriteria,
)

logger = get_logger(__name__)

# keyword arguments every model accepts through `generate()` even when `forward` does not name them
_ALWAYS_ACCEPTED = frozenset({"num_items_in_batch", "output_hidden_states", "cu_seq_lens_k", "output_router_logits",
                              "max_length_q", "output_attentions", "max_length_k", "cu_seq_lens_q", "use_cache"})


# ---------------------------------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------------------------------
_ENC_DEC = ("encoder_attentions", "encoder_hidden_states", "decoder_attentions", "cross_attentions",
            "decoder_hidden_states", "past_key_values")
GenerateDecoderOnlyOutput = declare_output(
    "GenerateDecoderOnlyOutput", "sequences", "scores", "logits", "attentions", "hidden_states", "past_key_values",
    doc="What `generate(..., return_dict_in_generate=True)` returns for decoder-only models without beams: "
        "`sequences` [batch*num_return_sequences, length]; `scores` (processed) and `logits` (raw), one "
        "[batch, vocab] tensor per generated token; the model's `attentions`/`hidden_states` per step; the cache.",
    module=__name__)
GenerateEncoderDecoderOutput = declare_output(
    "GenerateEncoderDecoderOutput", "sequences", "scores", "logits", *_ENC_DEC,
    doc="Like GenerateDecoderOnlyOutput, for encoder-decoder models (encoder and cross-attention outputs added).",
    module=__name__)
GenerateBeamDecoderOnlyOutput = declare_output(
    "GenerateBeamDecoderOnlyOutput", "sequences", "sequences_scores", "scores", "logits", "beam_indices",
    "attentions", "hidden_states", "past_key_values",
    doc="What beam methods return for decoder-only models: adds `sequences_scores` (the final, length-penalised "
        "score of each returned sequence; with output_scores=True) and `beam_indices` (the beam of each token).",
    module=__name__)
GenerateBeamEncoderDecoderOutput = declare_output(
    "GenerateBeamEncoderDecoderOutput", "sequences", "sequences_scores", "scores", "logits", "beam_indices",
    *_ENC_DEC, doc="Like GenerateBeamDecoderOnlyOutput, for encoder-decoder models.", module=__name__)

# the names the 4.x line used before the outputs were unified
GreedySearchDecoderOnlyOutput = SampleDecoderOnlyOutput = ContrastiveSearchDecoderOnlyOutput = \
    GenerateDecoderOnlyOutput
GreedySearchEncoderDecoderOutput = SampleEncoderDecoderOutput = ContrastiveSearchEncoderDecoderOutput = \
    GenerateEncoderDecoderOutput
BeamSearchDecoderOnlyOutput = BeamSampleDecoderOnlyOutput = GenerateBeamDecoderOnlyOutput
BeamSearchEncoderDecoderOutput = BeamSampleEncoderDecoderOutput = GenerateBeamEncoderDecoderOutput


# ---------------------------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------------------------
_SIGNATURES: dict = {}


def _parameters(function) -> tuple[frozenset, bool]:
    """(named parameters, takes **kwargs) of a function or bound method, cached."""
    key = getattr(function, "__func__", function)
    found = _SIGNATURES.get(key)
    if found is None:
        params = inspect.signature(function).parameters.values()
        found = (frozenset(p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)),
                 any(p.kind == p.VAR_KEYWORD for p in params))
        _SIGNATURES[key] = found
    return found


def _token_list(value) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        return value.reshape(-1).tolist()
    if isinstance(value, int):
        return [value]
    return list(value)


def _int_or_none(value) -> int | None:
    if isinstance(value, torch.Tensor):
        return int(value.reshape(-1)[0])
    if isinstance(value, (list, tuple)):
        return int(value[0]) if value else None
    return value


class _Kept:
    """What `return_dict_in_generate` asked to keep, one entry per step: tuples, or None when not asked for."""

    def __init__(self, config, encoder_decoder: bool = False):
        want = config.return_dict_in_generate
        self.encoder_decoder = encoder_decoder
        self.scores = () if want and config.output_scores else None
        self.logits = () if want and config.output_logits else None
        self.attentions = () if want and config.output_attentions else None
        self.cross_attentions = () if want and config.output_attentions else None
        self.hidden_states = () if want and config.output_hidden_states else None

    def model_step(self, out) -> None:
        """Keep a forward's attentions and hidden states (the decoder's, for an encoder-decoder)."""
        decoder = self.encoder_decoder
        if self.attentions is not None:
            self.attentions += (out.decoder_attentions if decoder else out.attentions,)
            if decoder:
                self.cross_attentions += (out.cross_attentions,)
        if self.hidden_states is not None:
            self.hidden_states += (out.decoder_hidden_states if decoder else out.hidden_states,)

    def add(self, scores=None, logits=None, copy: bool = False) -> None:
        """Keep this step's processed scores and raw logits (copies when the caller reuses the tensors)."""
        if self.scores is not None and scores is not None:
            self.scores += (scores.clone() if copy else scores,)
        if self.logits is not None and logits is not None:
            self.logits += (logits.clone() if copy else logits,)


class _Buffer:
    """A [rows, capacity] tensor filled left to right; grows when full (only when no max length bounds it)."""

    def __init__(self, initial: torch.Tensor, capacity: int, fill):
        rows, length = initial.shape
        self.data = initial.new_full((rows, max(capacity, length)), fill)
        self.data[:, :length] = initial
        self.length = length
        self.fill = fill

    def append(self, column: torch.Tensor) -> None:
        if self.length == self.data.shape[1]:
            more = self.data.new_full((self.data.shape[0], max(16, self.length)), self.fill)
            self.data = torch.cat([self.data, more], dim=1)
        self.data[:, self.length] = column
        self.length += 1

    @property
    def view(self) -> torch.Tensor:
        return self.data[:, : self.length]


class _Stepper:
    """Builds the forward arguments of each step and runs the model.

    Owns the cache, the attention mask (None when there is no padding: the model then needs no mask), the next
    position ids and the number of positions already in the cache. `prefill` runs the prompt; `step` feeds one new
    token per row. For an encoder-decoder these are the decoder's (`decoder_input_ids`, `decoder_attention_mask`),
    and the encoder's output and mask go unchanged to every step.
    """

    def __init__(self, model, input_ids, model_kwargs: dict, capacity: int):
        self.model = model
        names, _ = _parameters(model.forward)
        self.names = names
        self.encoder_decoder = model._is_encoder_decoder
        prefix = "decoder_" if self.encoder_decoder else ""
        self.ids_name, self.mask_name = prefix + "input_ids", prefix + "attention_mask"
        self.embeds_name, self.positions_name = prefix + "inputs_embeds", prefix + "position_ids"
        self.cache = model_kwargs.pop("past_key_values", None)
        self.inputs_embeds = model_kwargs.pop(self.embeds_name, None)
        self.use_cache = bool(model_kwargs.pop("use_cache", True)) or self.inputs_embeds is not None
        mask = model_kwargs.pop(self.mask_name, None)
        self.token_type_ids = model_kwargs.pop("token_type_ids", None) if not self.encoder_decoder else None
        self.user_position_ids = model_kwargs.pop(self.positions_name, None)
        model_kwargs.pop("cache_position", None)
        model_kwargs.pop("logits_to_keep", None)
        self.extra = model_kwargs  # passed unchanged at every step
        rows = input_ids.shape[0]
        device = input_ids.device
        self.device = device
        # positions the prompt occupies (the embeddings when given, else the ids)
        self.prompt_positions = self.inputs_embeds.shape[1] if self.inputs_embeds is not None else input_ids.shape[1]
        self.mask = None
        if mask is not None:
            if mask.shape[0] != rows:
                raise ValueError(f"attention_mask has {mask.shape[0]} rows but input_ids has {rows}.")
            if not bool(mask.all()):
                self.mask = _Buffer(mask.to(torch.long), capacity + mask.shape[1], 1)
            self.next_position = mask.long().sum(-1, keepdim=True)
            positions = mask.long().cumsum(-1) - 1
            positions.masked_fill_(mask == 0, 1)
            self.prompt_position_ids = positions
        else:
            self.next_position = torch.full((rows, 1), self.prompt_positions, dtype=torch.long, device=device)
            self.prompt_position_ids = torch.arange(self.prompt_positions, device=device).expand(rows, -1)
        self.static = self.cache is not None and getattr(self.cache, "is_compileable", False)
        self.past = 0
        if self.cache is not None and not self.static and hasattr(self.cache, "get_seq_length"):
            self.past = int(self.cache.get_seq_length())
        self.seen = self.past  # positions held by the cache
        self.custom_prepare = type(model).prepare_inputs_for_generation is not \
            GenerationMixin.prepare_inputs_for_generation
        # a model whose cached keys go stale once the sequence passes a length (Phi-3's LongRoPE switching factors)
        self.recompute_at = model._cache_invalid_after() if self.use_cache else None
        self.needs_sequences = self.custom_prepare or not self.use_cache or self.recompute_at is not None
        self.pass_return_dict = "return_dict" in names
        self.pass_logits_to_keep = "logits_to_keep" in names
        self.pass_position_ids = self.positions_name in names and model._positions_from_mask
        self.pass_cache_position = "cache_position" in names
        self.forward = model.__call__
        self.compiled = None

    def _finish(self, kwargs: dict) -> dict:
        if self.pass_return_dict:
            kwargs["return_dict"] = True
        if self.pass_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        kwargs.update(self.extra)
        return kwargs

    def _full_mask(self, rows: int, length: int):
        if self.mask is not None:
            return self.mask.view
        return torch.ones(rows, length, dtype=torch.long, device=self.device)

    def prefill(self, input_ids: torch.Tensor):
        past, full = self.past, self.prompt_positions
        kwargs: dict = {"use_cache": self.use_cache}
        if self.cache is not None:
            kwargs["past_key_values"] = self.cache
        if self.custom_prepare:
            return self._run_custom(input_ids, torch.arange(past, full, device=self.device), kwargs,
                                    self._full_mask(input_ids.shape[0], full), first=True)
        if self.inputs_embeds is not None:
            kwargs[self.embeds_name] = self.inputs_embeds[:, past:]
        else:
            kwargs[self.ids_name] = input_ids[:, past:]
        if self.mask is not None:
            kwargs[self.mask_name] = self.mask.view
        if self.pass_position_ids:
            positions = self.user_position_ids if self.user_position_ids is not None else self.prompt_position_ids
            kwargs[self.positions_name] = positions[:, past:]
        if self.pass_cache_position:
            kwargs["cache_position"] = torch.arange(past, full, device=self.device)
        if self.token_type_ids is not None:
            kwargs["token_type_ids"] = self.token_type_ids[:, past:]
        out = self.forward(**self._finish(kwargs))
        self._after(out, full - past)
        return out

    def step(self, new_tokens: torch.Tensor, sequences: torch.Tensor | None = None):
        """Feed `new_tokens` ([rows]); `sequences` (all ids so far, [rows, length]) is needed only when
        `needs_sequences` (a model with its own prepare_inputs_for_generation, or no cache)."""
        if self.mask is not None:
            self.mask.append(1)
        if self.token_type_ids is not None:
            self.token_type_ids = torch.cat([self.token_type_ids, self.token_type_ids[:, -1:]], dim=-1)
        position = self.next_position
        self.next_position = position + 1
        kwargs: dict = {"use_cache": self.use_cache}
        if self.custom_prepare or not self.use_cache:
            if self.cache is not None:
                kwargs["past_key_values"] = self.cache
            length = sequences.shape[1]
            positions = torch.arange(self.seen, self.seen + 1, device=self.device) if self.use_cache else \
                torch.arange(length, device=self.device)
            total = self.seen + 1 if self.use_cache else length
            return self._run_custom(sequences, positions, kwargs, self._full_mask(sequences.shape[0], total))
        if self.seen == self.recompute_at:
            return self._recompute(sequences)
        kwargs["past_key_values"] = self.cache
        kwargs[self.ids_name] = new_tokens[:, None]
        if self.mask is not None:
            # a static cache gets the whole buffer (positions ahead are hidden by causality): one shape for every
            # step, so a compiled step is not recompiled as the sequence grows
            kwargs[self.mask_name] = self.mask.data if self.static else self.mask.view
        if self.pass_position_ids:
            kwargs[self.positions_name] = position
        if self.pass_cache_position:
            kwargs["cache_position"] = torch.full((1,), self.seen, dtype=torch.long, device=self.device)
        if self.token_type_ids is not None:
            kwargs["token_type_ids"] = self.token_type_ids[:, -1:]
        out = (self.compiled or self.forward)(**self._finish(kwargs))
        self._after(out, 1)
        return out

    def _recompute(self, sequences):
        """Run the whole sequence again into an emptied cache (`recompute_at`), as a prefill would."""
        self.cache.reset() if self.static else self.cache.crop(0)
        rows, length = sequences.shape
        mask = self._full_mask(rows, length)
        kwargs = {"use_cache": True, "past_key_values": self.cache, self.ids_name: sequences}
        if self.mask is not None:
            kwargs[self.mask_name] = mask
        if self.pass_position_ids:
            positions = mask.long().cumsum(-1) - 1
            kwargs[self.positions_name] = positions.masked_fill_(mask == 0, 1)
        if self.pass_cache_position:
            kwargs["cache_position"] = torch.arange(length, device=self.device)
        self.seen = 0
        out = self.forward(**self._finish(kwargs))
        self._after(out, length)
        return out

    def _run_custom(self, sequences, cache_position, kwargs, mask, first: bool = False):
        """The reference's way: `prepare_inputs_for_generation(all ids, cache, mask, cache_position, ...)`."""
        extra = dict(self.extra)
        if self.token_type_ids is not None:
            extra["token_type_ids"] = self.token_type_ids
        if self.inputs_embeds is not None:
            extra[self.embeds_name] = self.inputs_embeds
        if first and self.user_position_ids is not None:
            extra[self.positions_name] = self.user_position_ids
        extra[self.mask_name] = mask
        inputs = self.model.prepare_inputs_for_generation(sequences.contiguous(), cache_position=cache_position,
                                                          **kwargs, **extra)
        if self.pass_logits_to_keep and "logits_to_keep" not in inputs:
            inputs["logits_to_keep"] = 1
        if self.pass_return_dict:
            inputs["return_dict"] = True
        out = self.forward(**inputs)
        self._after(out, cache_position.shape[0] if self.use_cache else 0)
        return out

    def _after(self, out, fed: int) -> None:
        self.seen += fed
        if self.use_cache:
            cache = getattr(out, "past_key_values", None)
            if cache is not None:
                self.cache = cache

    def reorder(self, beam_idx: torch.Tensor) -> None:
        """Follow the beams: row i of the cache becomes row beam_idx[i] (always a row of the same input)."""
        if self.cache is None:
            return
        if isinstance(self.cache, EncoderDecoderCache):
            # the cross-attention states of the beams of one input are equal: only the decoder's own move
            self.cache.self_attention_cache.reorder_cache(beam_idx)
        elif hasattr(self.model, "_reorder_cache"):
            self.cache = self.model._reorder_cache(self.cache, beam_idx)
        elif hasattr(self.cache, "reorder_cache"):
            self.cache.reorder_cache(beam_idx)
        else:
            self.cache = tuple(tuple(t.index_select(0, beam_idx.to(t.device)) for t in layer) for layer in self.cache)


# ---------------------------------------------------------------------------------------------------------------
# the mixin
# ---------------------------------------------------------------------------------------------------------------
class GenerationMixin:
    """Adds `generate()` to a model whose forward returns `.logits` (and `.past_key_values` with `use_cache`)."""

    _is_stateful = False
    # how many of the logits' columns are tokens to generate (None: all of them; CPM-Ant's head also scores the
    # embedding rows of its prompt slots, which are no tokens)
    _generated_vocab_size: int | None = None
    # an encoder-decoder's decoder_input_ids get the start token put first unless a row begins with it (False: the
    # family's decoder prompts are complete as given, e.g. Whisper's previous-text prompts)
    _prepend_decoder_start = True
    # a decoder-only model gets position_ids counted over the attention mask (False: the family's reference passes
    # none during generation, so a left-padded row's positions start at the padding: CTRL)
    _positions_from_mask = True

    # ---------------------------------------------------------------------------------------------------------
    def _cache_invalid_after(self) -> int | None:
        """The cached length after which the cache no longer holds what the model would compute (None: never)."""
        return None

    def prepare_inputs_for_generation(self, input_ids: torch.LongTensor, past_key_values=None, attention_mask=None,
                                      inputs_embeds=None, cache_position=None, **kwargs) -> dict:
        """The forward arguments for one step: the uncached part of `input_ids`, positions from the attention mask,
        the cache; other keyword arguments are passed through. Models may override it; `generate` then calls it
        at every step. For an encoder-decoder, `input_ids` are the decoder's and become `decoder_input_ids`;
        `attention_mask` (the encoder's) and `encoder_outputs` pass through."""
        if self._is_encoder_decoder:
            if past_key_values is not None and cache_position is not None:
                input_ids = input_ids[:, -cache_position.shape[0]:]
            inputs = {"decoder_input_ids": input_ids.clone(memory_format=torch.contiguous_format),
                      "past_key_values": past_key_values, "attention_mask": attention_mask,
                      "cache_position": cache_position}
            for key, value in kwargs.items():
                inputs.setdefault(key, value)
            inputs.pop("labels", None)
            return inputs
        inputs: dict = {"cache_position": cache_position}
        if past_key_values is not None:
            inputs["past_key_values"] = past_key_values
            if cache_position is not None:
                new = cache_position.shape[0]
                if inputs_embeds is not None and input_ids.shape[1] == 0:
                    inputs_embeds = inputs_embeds[:, -new:]
                elif inputs_embeds is not None or (new and int(cache_position[-1]) >= input_ids.shape[1]):
                    input_ids = input_ids[:, -new:]
                elif input_ids.shape[1] != new:
                    input_ids = input_ids[:, cache_position]
        if inputs_embeds is not None and cache_position is not None and len(cache_position) == inputs_embeds.shape[1]:
            inputs["input_ids"] = None
            inputs["inputs_embeds"] = inputs_embeds
        else:
            inputs["input_ids"] = input_ids.clone(memory_format=torch.contiguous_format)
            inputs["inputs_embeds"] = None
        names, _ = _parameters(self.forward)
        if attention_mask is not None and kwargs.get("position_ids") is None and "position_ids" in names:
            positions = attention_mask.long().cumsum(-1) - 1
            positions.masked_fill_(attention_mask == 0, 1)
            kwargs["position_ids"] = positions
        current = inputs["inputs_embeds"].shape[1] if inputs["inputs_embeds"] is not None else \
            inputs["input_ids"].shape[1]
        for name in ("position_ids", "token_type_ids"):
            value = kwargs.get(name)
            if value is not None:
                if past_key_values is not None:
                    value = value[:, -current:].clone(memory_format=torch.contiguous_format)
                inputs[name] = value
        if attention_mask is not None:
            inputs["attention_mask"] = attention_mask
        for key, value in kwargs.items():
            inputs.setdefault(key, value)
        inputs.pop("labels", None)
        return inputs

    # ---------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, inputs: Optional[torch.Tensor] = None, generation_config: Optional[GenerationConfig] = None,
                 logits_processor: Optional[LogitsProcessorList] = None,
                 stopping_criteria: Optional[StoppingCriteriaList] = None,
                 prefix_allowed_tokens_fn: Optional[Callable[[int, torch.Tensor], list]] = None,
                 synced_gpus: Optional[bool] = None, assistant_model=None, streamer=None,
                 negative_prompt_ids: Optional[torch.Tensor] = None,
                 negative_prompt_attention_mask: Optional[torch.Tensor] = None, **kwargs):
        """Generate token ids after `inputs` (or `input_ids=`), by the strategy the generation config selects.

        Settings come from `generation_config` (default: the model's), overridden by keyword arguments that are
        generation settings (`max_new_tokens=`, `do_sample=`, `num_beams=`, ...); the remaining keyword arguments
        go to the model (`attention_mask=`, ...). Pass `tokenizer=` for `stop_strings`. Returns the sequences
        (prompt included) or, with `return_dict_in_generate=True`, a `Generate*Output`.
        """
        tokenizer = kwargs.pop("tokenizer", None)
        kwargs.pop("assistant_tokenizer", None)
        use_model_defaults = kwargs.pop("use_model_defaults", None)
        kwargs.pop("trust_remote_code", None)
        if kwargs.pop("custom_generate", None) is not None:
            raise NotImplementedError("custom_generate (generation code from the Hub) is not supported: henkan never "
                                      "runs downloaded code.")
        if assistant_model is not None:
            raise NotImplementedError("Assisted generation (assistant_model=) is not supported by henkan yet.")
        if negative_prompt_ids is not None or negative_prompt_attention_mask is not None:
            raise NotImplementedError("negative_prompt_ids (classifier-free guidance) is not supported by henkan yet.")

        config, model_kwargs = self._prepare_generation_config(generation_config, use_model_defaults, **kwargs)
        mode = config.get_generation_mode(assistant_model)
        self._check_supported(mode, config)
        self._validate_model_kwargs(model_kwargs)
        if streamer is not None and mode in (GenerationMode.BEAM_SEARCH, GenerationMode.BEAM_SAMPLE,
                                             GenerationMode.GROUP_BEAM_SEARCH):
            raise ValueError("`streamer` cannot be used with beam search (yet!). Make sure that `num_beams` is set "
                             "to 1.")
        logits_processor = logits_processor if logits_processor is not None else LogitsProcessorList()
        stopping_criteria = stopping_criteria if stopping_criteria is not None else StoppingCriteriaList()

        # inputs ----------------------------------------------------------------------------------------------
        has_mask = model_kwargs.get("attention_mask") is not None
        eos, pad = self._prepare_special_tokens(config, has_mask)
        encoder_input_ids = None
        if self._is_encoder_decoder:
            input_ids, encoder_input_ids, model_kwargs = self._prepare_encoder_decoder(inputs, config, model_kwargs,
                                                                                       eos, pad)
        else:
            input_ids, model_kwargs = self._prepare_inputs(inputs, config, model_kwargs)
            embeds_only = "inputs_embeds" in model_kwargs and input_ids.shape[1] == 0
            if pad is not None and input_ids.shape[0] > 1 and input_ids.shape[1] > 0 and \
                    bool((input_ids[:, -1] == pad).any()):
                logger.warning("A decoder-only architecture is being used, but right-padding was detected! For "
                               "correct generation results, please set `padding_side='left'` when initializing the "
                               "tokenizer.")
            if not has_mask and "attention_mask" in _parameters(self.forward)[0] and not embeds_only:
                model_kwargs["attention_mask"] = _infer_attention_mask(input_ids, pad, eos)
            encoder_input_ids = input_ids
        if has_mask and model_kwargs["attention_mask"].dim() > 2:
            raise ValueError("`attention_mask` passed to `generate` must be 2D.")
        batch_size = input_ids.shape[0]
        device = input_ids.device

        expand = max(config.num_beams, config.num_return_sequences)
        if expand > 1:
            input_ids = input_ids.repeat_interleave(expand, dim=0)
            # the decoder's cross-attention may read each input's encoder states once for all its rows
            # (an encoder-decoder whose cross-attention takes encoder states with fewer rows than the decoder's,
            # each serving consecutive rows (layers.causal_attention), sets `_rows_share_encoder_states`)
            shared = self._is_encoder_decoder and getattr(self, "_rows_share_encoder_states", False)
            for key, value in model_kwargs.items():
                if isinstance(value, torch.Tensor) and key != "cache_position" and not (
                        shared and key == "attention_mask"):
                    model_kwargs[key] = value.repeat_interleave(expand, dim=0)
            if "encoder_outputs" in model_kwargs and not shared:
                encoder = model_kwargs["encoder_outputs"]
                model_kwargs["encoder_outputs"] = type(encoder)(**{
                    **encoder, "last_hidden_state": encoder.last_hidden_state.repeat_interleave(expand, dim=0)})
        if streamer is not None:
            streamer.put(input_ids.cpu())

        # lengths ---------------------------------------------------------------------------------------------
        input_len = input_ids.shape[1]
        prompt_len = model_kwargs["inputs_embeds"].shape[1] if "inputs_embeds" in model_kwargs else input_len
        has_default_max = kwargs.get("max_length") is None and config.max_length is not None
        has_default_min = kwargs.get("min_length") is None and config.min_length is not None
        self._prepare_generated_length(config, has_default_max, has_default_min, input_len, prompt_len,
                                       "inputs_embeds" in model_kwargs)
        self._validate_generated_length(config, input_len, has_default_max)

        # cache -----------------------------------------------------------------------------------------------
        # the loop runs in inference mode (no autograd bookkeeping on any op: a tenth of a small model's decode step)
        # unless tensors it creates outlive the call: in a cache the caller passed in, or asks back
        inference = model_kwargs.get("past_key_values") is None and not config.return_dict_in_generate
        self._prepare_cache(config, model_kwargs, mode, batch_size * expand,
                            prompt_len if prompt_len != input_len else 0)

        # processors and criteria -----------------------------------------------------------------------------
        processors = self._get_logits_processor(config, input_len, prefix_allowed_tokens_fn, logits_processor,
                                                device, eos, encoder_input_ids)
        criteria, native = self._get_stopping_criteria(config, stopping_criteria, tokenizer, eos)
        model_kwargs["use_cache"] = config.use_cache

        # (not inference_mode(False): that turns gradients back on)
        with torch.inference_mode() if inference else contextlib.nullcontext():
            if mode in (GenerationMode.GREEDY_SEARCH, GenerationMode.SAMPLE):
                result = self._decode(input_ids, processors, native, config, model_kwargs, streamer, pad)
            elif mode == GenerationMode.GROUP_BEAM_SEARCH:
                result = self._group_beam_search(input_ids, processors, criteria, config, model_kwargs, eos, pad)
            else:
                result = self._beam_search(input_ids, processors, native, config, model_kwargs, eos, pad)
        if inference:  # (the sequences as a normal tensor: one the caller may train on or write to)
            result = result.clone()

        if config.return_legacy_cache is True and hasattr(result, "past_key_values") \
                and hasattr(result.past_key_values, "to_legacy_cache"):
            result.past_key_values = result.past_key_values.to_legacy_cache()
        return result

    # ---------------------------------------------------------------------------------------------------------
    # preparation
    # ---------------------------------------------------------------------------------------------------------
    def _default_generation_config(self) -> GenerationConfig:
        config = getattr(self, "generation_config", None)
        if config is None:
            config = GenerationConfig.from_model_config(self.config)
            self.generation_config = config
        return config

    def _prepare_generation_config(self, generation_config, use_model_defaults=None, **kwargs):
        model_default = self._default_generation_config()
        if generation_config is None:
            if model_default._from_model_config and \
                    getattr(model_default, "_original_object_hash", None) == hash(model_default) and \
                    _has_generation_settings(self.config):
                refreshed = GenerationConfig.from_model_config(self.config)
                if refreshed != model_default:
                    warnings.warn("You have modified the pretrained model configuration to control generation. This "
                                  "is a deprecated strategy to control generation and will be removed in v5. Please "
                                  "use and modify the model generation configuration (see https://huggingface.co/docs/"
                                  "transformers/generation_strategies#default-text-generation-configuration )",
                                  UserWarning)
                    self.generation_config = model_default = refreshed
            config = copy.deepcopy(model_default)
            if config.cache_implementation == "hybrid":
                config.cache_implementation = None
        else:
            if not isinstance(generation_config, GenerationConfig):
                raise TypeError(f"generation_config must be a GenerationConfig, not "
                                f"{type(generation_config).__name__}.")
            config = copy.deepcopy(generation_config)
            if use_model_defaults is True or (use_model_defaults is None and _version_at_least(
                    getattr(model_default, "transformers_version", None), (4, 50))):
                defaults = GenerationConfig()
                changed = {}
                for key, model_value in model_default.__dict__.items():
                    if key.startswith("_") or key == "transformers_version":
                        continue
                    if key == "cache_implementation" and model_value == "hybrid":
                        continue
                    global_value = getattr(defaults, key, None)
                    if getattr(config, key, None) == global_value and model_value != global_value:
                        changed[key] = model_value
                        setattr(config, key, model_value)
                if config.temperature == 0.0:
                    config.do_sample = False
                if use_model_defaults is None and changed:
                    logger.warning_once(f"`generation_config` default values have been modified to match "
                                        f"model-specific defaults: {changed}. If this is not desired, please set "
                                        f"these values explicitly.")
            else:
                for name in ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id"):
                    if getattr(config, name) is None:
                        setattr(config, name, getattr(model_default, name))
        model_kwargs = config.update(**kwargs)
        if config.output_attentions:
            model_kwargs["output_attentions"] = True
        if config.output_hidden_states:
            model_kwargs["output_hidden_states"] = True
        return config, model_kwargs

    def _check_supported(self, mode: GenerationMode, config: GenerationConfig) -> None:
        unsupported = {
            GenerationMode.CONTRASTIVE_SEARCH: "Contrastive search (penalty_alpha=)",
            GenerationMode.DOLA_GENERATION: "DoLa decoding (dola_layers=)",
            GenerationMode.CONSTRAINED_BEAM_SEARCH: "Constrained beam search (constraints=, force_words_ids=)",
            GenerationMode.ASSISTED_GENERATION: "Assisted generation (prompt_lookup_num_tokens=, "
                                                "assistant_early_exit=)",
        }
        if mode in unsupported:
            raise NotImplementedError(f"{unsupported[mode]} is not supported by henkan. Use greedy search, sampling, "
                                      f"beam search, beam sampling or diverse (group) beam search.")
        for name, what in (("guidance_scale", "classifier-free guidance"), ("watermarking_config", "watermarking")):
            value = getattr(config, name)
            if value is not None and not (name == "guidance_scale" and value == 1):
                raise NotImplementedError(f"`{name}` ({what}) is not supported by henkan yet.")
        if config.token_healing:
            raise NotImplementedError("`token_healing` is not supported by henkan yet.")
        if config.low_memory:
            raise ValueError("`low_memory=True` is not supported by beam search; unset it.")
        if mode == GenerationMode.GROUP_BEAM_SEARCH:
            prefix = ("`diversity_penalty` is not 0.0 or `num_beam_groups` is not 1, triggering group beam search. In "
                      "this generation mode, ")
            if config.num_beams % config.num_beam_groups != 0:
                raise ValueError(prefix + "`num_beams` should be divisible by `num_beam_groups`")
            if not config.diversity_penalty:
                raise ValueError(prefix + "`diversity_penalty` should be greater than `0.0`, otherwise your groups "
                                          "will be identical.")
        if mode == GenerationMode.BEAM_SAMPLE and config.num_beam_groups > 1:
            raise ValueError("Diverse (group) beam search does not sample: set `do_sample=False`.")

    def _validate_model_kwargs(self, model_kwargs: dict) -> None:
        allowed, var_kw = _parameters(self.prepare_inputs_for_generation)
        if var_kw or "model_kwargs" in allowed:
            allowed = allowed | _parameters(self.forward)[0]
        allowed = allowed | _ALWAYS_ACCEPTED
        if self._is_encoder_decoder:  # what the encoder takes, and the decoder's arguments with a decoder_ prefix
            for getter, prefix in (("get_encoder", ""), ("get_decoder", "decoder_")):
                part = getattr(self, getter, lambda: None)()
                if part is not None:
                    allowed = allowed | {prefix + name for name in _parameters(part.forward)[0]}
        unused = [k for k, v in model_kwargs.items() if v is not None and k not in allowed]
        if unused:
            raise ValueError(f"The following `model_kwargs` are not used by the model: {unused} (note: typos in the "
                             f"generate arguments will also show up in this list)")

    def _prepare_inputs(self, inputs, config: GenerationConfig, model_kwargs: dict):
        name = getattr(self, "main_input_name", "input_ids")
        model_kwargs = {k: v for k, v in model_kwargs.items() if v is not None or k != name}
        from_kwargs = model_kwargs.pop(name, None)
        if from_kwargs is not None and inputs is not None:
            raise ValueError(f"`inputs` were passed alongside `{name}`, which is not allowed. Pass one of them.")
        inputs = inputs if inputs is not None else from_kwargs
        if "inputs_embeds" in model_kwargs:
            if model_kwargs["inputs_embeds"] is None:
                model_kwargs.pop("inputs_embeds")
            else:
                if "inputs_embeds" not in _parameters(self.forward)[0]:
                    raise ValueError(f"You passed `inputs_embeds` to `.generate()`, but {type(self).__name__}.forward "
                                     f"does not accept `inputs_embeds`.")
                embeds = model_kwargs["inputs_embeds"]
                if inputs is None:
                    inputs = torch.ones((embeds.shape[0], 0), dtype=torch.long, device=embeds.device)
                return self._check_input_ids(inputs, allow_empty=True), model_kwargs
        if inputs is None:
            if config.bos_token_id is None:
                raise ValueError("`bos_token_id` has to be defined when no `input_ids` are provided.")
            batch = next((v.shape[0] for v in model_kwargs.values() if isinstance(v, torch.Tensor)), 1)
            inputs = torch.full((batch, 1), _int_or_none(config.bos_token_id), dtype=torch.long, device=self.device)
        return self._check_input_ids(inputs), model_kwargs

    def _prepare_encoder_decoder(self, inputs, config: GenerationConfig, model_kwargs: dict, eos, pad):
        """Encode once (unless `encoder_outputs` are given) and find where the decoder starts: `decoder_input_ids`
        (with the start token put first when none of them begins with it) or the start token alone. Returns
        (decoder ids, the encoder's input ids, model kwargs now holding `encoder_outputs`)."""
        from ..seq2seq import as_encoder_output

        name = getattr(self, "main_input_name", "input_ids")
        given = model_kwargs.pop(name, None)
        if given is not None and inputs is not None:
            raise ValueError(f"`inputs` were passed alongside `{name}`, which is not allowed. Pass one of them.")
        inputs = inputs if inputs is not None else given
        embeds = model_kwargs.pop("inputs_embeds", None)
        encoder_outputs = model_kwargs.get("encoder_outputs")
        if encoder_outputs is None:
            if inputs is None and embeds is None:
                raise ValueError(f"{type(self).__name__} is an encoder-decoder: generate() needs what the encoder "
                                 f"reads (`{name}`, `inputs_embeds` or precomputed `encoder_outputs`).")
            if name == "input_ids" and inputs is not None:
                inputs = self._check_input_ids(inputs)
                if model_kwargs.get("attention_mask") is None:
                    model_kwargs["attention_mask"] = _infer_attention_mask(inputs, pad, eos)
            encoder = self.get_encoder()
            names, var_kw = _parameters(encoder.forward)
            encoder_kwargs = {k: v for k, v in model_kwargs.items() if v is not None and (var_kw or k in names)
                              and not k.startswith(("decoder_", "cross_attn")) and k not in (
                                  "use_cache", "past_key_values", "cache_position", "encoder_outputs")}
            encoder_kwargs[name if inputs is not None else "inputs_embeds"] = inputs if inputs is not None else embeds
            encoder_outputs = encoder(**encoder_kwargs, return_dict=True)
        else:
            encoder_outputs = as_encoder_output(encoder_outputs)
        model_kwargs["encoder_outputs"] = encoder_outputs
        batch = encoder_outputs.last_hidden_state.shape[0]
        if inputs is None or name != "input_ids":  # (as the reference: no encoder ids to compare n-grams with)
            inputs = torch.full((batch, encoder_outputs.last_hidden_state.shape[1]), -100, dtype=torch.long,
                                device=encoder_outputs.last_hidden_state.device)

        start = config.decoder_start_token_id
        if start is None:
            start = config.bos_token_id
        if start is None:
            raise ValueError("`decoder_start_token_id` or `bos_token_id` has to be defined for encoder-decoder "
                             "generation. Set model.generation_config.decoder_start_token_id (or pass "
                             "decoder_start_token_id= to generate()).")
        starts = torch.as_tensor(start, dtype=torch.long, device=inputs.device).reshape(-1, 1)
        if starts.shape[0] not in (1, batch):
            raise ValueError(f"`decoder_start_token_id` has {starts.shape[0]} ids but the batch has {batch} rows.")
        starts = starts.expand(batch, 1)
        vocab = getattr(self.config, "vocab_size", None)
        if vocab is not None and bool(((starts < 0) | (starts >= vocab)).any()):
            raise ValueError(f"`decoder_start_token_id` {starts[:, 0].tolist()} lies outside the vocabulary "
                             f"[0, {vocab}).")
        decoder_ids = model_kwargs.pop("decoder_input_ids", None)
        if decoder_ids is None:
            decoder_ids = starts
        else:
            decoder_ids = self._check_input_ids(decoder_ids, allow_empty=True)
            if self._prepend_decoder_start and (
                    decoder_ids.shape[1] == 0 or bool((decoder_ids[:, 0] != starts[:, 0]).all())):
                decoder_ids = torch.cat([starts, decoder_ids], dim=-1)
                mask = model_kwargs.get("decoder_attention_mask")
                if mask is not None:
                    model_kwargs["decoder_attention_mask"] = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=-1)
        return decoder_ids, inputs, model_kwargs

    @staticmethod
    def _check_input_ids(input_ids, allow_empty: bool = False) -> torch.Tensor:
        if not isinstance(input_ids, torch.Tensor):
            raise TypeError(f"input_ids must be a torch.LongTensor of shape [batch, length], not "
                            f"{type(input_ids).__name__}. Use the tokenizer with return_tensors=\"pt\".")
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape [batch, length], got {list(input_ids.shape)}"
                             + (" (add a batch dimension: input_ids[None])" if input_ids.dim() == 1 else "") + ".")
        if input_ids.is_floating_point():
            raise TypeError(f"input_ids must hold integer token ids, not {input_ids.dtype}.")
        if input_ids.shape[1] == 0 and not allow_empty:
            raise ValueError("input_ids is empty (0 tokens): there is nothing to continue from. Pass at least one "
                             "token (e.g. the BOS token), or call generate() without input_ids to start from "
                             "`bos_token_id`.")
        if input_ids.shape[0] == 0:
            raise ValueError("input_ids has a batch size of 0.")
        return input_ids.long()

    def _prepare_special_tokens(self, config: GenerationConfig, has_mask: bool):
        eos = _token_list(config.eos_token_id)
        pad = _int_or_none(config.pad_token_id)
        if eos is not None and len(eos) == 0:
            eos = None
        if pad is None and eos is not None:
            if not has_mask:
                logger.warning("The attention mask and the pad token id were not set. As a consequence, you may "
                               "observe unexpected behavior. Please pass your input's `attention_mask` to obtain "
                               "reliable results.")
            pad = eos[0]
            logger.warning(f"Setting `pad_token_id` to `eos_token_id`:{pad} for open-end generation.")
        if eos is not None and pad in eos and not has_mask:
            logger.warning_once("The attention mask is not set and cannot be inferred from input because pad token is "
                                "same as eos token. As a consequence, you may observe unexpected behavior. Please pass "
                                "your input's `attention_mask` to obtain reliable results.")
        if eos is not None:
            if any(not isinstance(t, int) or t < 0 for t in eos):
                logger.warning(f"`eos_token_id` should consist of positive integers, but is {eos}. Your generation "
                               f"will not stop until the maximum length is reached. Depending on other flags, it may "
                               f"even crash.")
            vocab = getattr(self.config, "vocab_size", None)
            if vocab is not None and any(isinstance(t, int) and t >= vocab for t in eos):
                logger.warning_once(f"`eos_token_id` {eos} holds ids outside the vocabulary (size {vocab}); such a "
                                    f"token is never generated, so only the others (or the maximum length) can end "
                                    f"a sequence.")
        return eos, pad

    def _prepare_generated_length(self, config, has_default_max, has_default_min, input_len, prompt_len, has_embeds):
        if config.max_new_tokens is not None:
            if not has_default_max and config.max_length is not None:
                logger.warning(f"Both `max_new_tokens` (={config.max_new_tokens}) and `max_length`(="
                               f"{config.max_length}) seem to have been set. `max_new_tokens` will take precedence. "
                               f"Please refer to the documentation for more information. "
                               f"(https://huggingface.co/docs/transformers/main/en/main_classes/text_generation)")
            config.max_length = config.max_new_tokens + input_len
        elif has_embeds and input_len != prompt_len:
            config.max_length -= prompt_len
        elif has_default_max and config.max_length == 20:
            config.max_length = config.max_length + input_len
            limit = getattr(self.config, "max_position_embeddings", None)
            if limit is not None:
                config.max_length = min(config.max_length, limit)
        if config.max_length is None:
            raise ValueError("Set `max_new_tokens` (or `max_length`): generation needs a length limit.")
        if config.min_new_tokens is not None:
            if not has_default_min:
                logger.warning(f"Both `min_new_tokens` (={config.min_new_tokens}) and `min_length`(="
                               f"{config.min_length}) seem to have been set. `min_new_tokens` will take precedence. "
                               f"Please refer to the documentation for more information. "
                               f"(https://huggingface.co/docs/transformers/main/en/main_classes/text_generation)")
            config.min_length = config.min_new_tokens + input_len
        elif has_embeds and input_len != prompt_len:
            config.min_length = max(config.min_length - prompt_len, 0)

    def _validate_generated_length(self, config, input_len, has_default_max) -> None:
        if has_default_max and config.max_new_tokens is None and config.max_length == 20:
            warnings.warn(f"Using the model-agnostic default `max_length` (={config.max_length}) to control the "
                          f"generation length. We recommend setting `max_new_tokens` to control the maximum length "
                          f"of the generation.", UserWarning)
        if input_len >= config.max_length:
            raise ValueError(f"Input length of input_ids is {input_len}, but `max_length` is set to "
                             f"{config.max_length}. This can lead to unexpected behavior. You should consider "
                             f"increasing `max_length` or, better yet, setting `max_new_tokens`.")
        suffix = (" Generation will stop at the defined maximum length. You should decrease the minimum length "
                  "and/or increase the maximum length.")
        if has_default_max:
            suffix += f" Note that `max_length` is set to {config.max_length}, its default value."
        if config.min_length is not None and config.min_length > config.max_length:
            warnings.warn(f"Unfeasible length constraints: `min_length` ({config.min_length}) is larger than the "
                          f"maximum possible length ({config.max_length})." + suffix, UserWarning)
        if config.min_new_tokens is not None and config.min_new_tokens + input_len > config.max_length:
            warnings.warn(f"Unfeasible length constraints: `min_new_tokens` ({config.min_new_tokens}), when added to "
                          f"the prompt length ({input_len}), is larger than the maximum possible length "
                          f"({config.max_length})." + suffix, UserWarning)

    def _prepare_cache(self, config, model_kwargs, mode, rows: int, extra_positions: int = 0) -> None:
        user_cache = model_kwargs.get("past_key_values")
        if user_cache is not None:
            if config.cache_implementation is not None:
                raise ValueError("Passing both `cache_implementation` (used to initialize certain caches) and "
                                 "`past_key_values` (a Cache object) is unsupported. Please use only one of the two.")
            if isinstance(user_cache, (tuple, list)):
                from ..cache import DynamicCache

                model_kwargs["past_key_values"] = DynamicCache.from_legacy_cache(user_cache)
            return
        if config.use_cache is False:
            return
        implementation = config.cache_implementation
        if implementation is None or implementation in ("dynamic", "dynamic_full"):
            return  # the model creates its DynamicCache at the first step
        if implementation in STATIC_CACHE_IMPLEMENTATIONS or implementation in (
                "sliding_window", "hybrid", "hybrid_chunked"):
            model_kwargs["past_key_values"] = self._static_cache(rows, config.max_length - 1 + extra_positions)
            return
        raise NotImplementedError(f"cache_implementation={implementation!r} is not supported by henkan; use "
                                  f"\"dynamic\" (the default) or \"static\".")

    def _static_cache(self, rows: int, length: int):
        from ..cache import StaticCache

        cache = getattr(self, "_cache", None)
        if isinstance(cache, StaticCache) and cache.max_batch_size == rows and cache.max_cache_len >= length \
                and cache.dtype == self.dtype:
            cache.reset()
            return cache
        cache = StaticCache(config=self.config, max_batch_size=rows, max_cache_len=length, device=self.device,
                            dtype=self.dtype)
        self._cache = cache
        return cache

    def _get_logits_processor(self, config, input_len, prefix_allowed_tokens_fn, custom, device, eos,
                              encoder_input_ids=None):
        p = LogitsProcessorList()
        if config.sequence_bias is not None:
            p.append(SequenceBiasLogitsProcessor(sequence_bias=config.sequence_bias))
        if config.num_beam_groups > 1 and config.diversity_penalty is not None and config.diversity_penalty > 0.0:
            p.append(HammingDiversityLogitsProcessor(diversity_penalty=config.diversity_penalty,
                                                     num_beams=config.num_beams,
                                                     num_beam_groups=config.num_beam_groups))
        encoder_ids = encoder_input_ids if encoder_input_ids is not None and encoder_input_ids.shape[-1] else None
        for setting, wanted in (("encoder_repetition_penalty", config.encoder_repetition_penalty not in (None, 1.0)),
                                ("encoder_no_repeat_ngram_size", bool(config.encoder_no_repeat_ngram_size))):
            if wanted and encoder_ids is None:
                warnings.warn(f"Passing `{setting}` requires some form of `input_ids` to be passed to `generate`, "
                              f"ignoring the argument.", UserWarning)
        if encoder_ids is not None and config.encoder_repetition_penalty not in (None, 1.0):
            p.append(EncoderRepetitionPenaltyLogitsProcessor(config.encoder_repetition_penalty, encoder_ids))
        if config.repetition_penalty is not None and config.repetition_penalty != 1.0:
            p.append(RepetitionPenaltyLogitsProcessor(penalty=config.repetition_penalty))
        if config.no_repeat_ngram_size is not None and config.no_repeat_ngram_size > 0:
            p.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
        if encoder_ids is not None and config.encoder_no_repeat_ngram_size:
            p.append(EncoderNoRepeatNGramLogitsProcessor(config.encoder_no_repeat_ngram_size, encoder_ids))
        if config.bad_words_ids is not None:
            p.append(NoBadWordsLogitsProcessor(config.bad_words_ids, eos))
        if config.min_length is not None and eos is not None and config.min_length > 0:
            p.append(MinLengthLogitsProcessor(config.min_length, eos, device=device))
        if config.min_new_tokens is not None and eos is not None and config.min_new_tokens > 0:
            p.append(MinNewTokensLengthLogitsProcessor(input_len, config.min_new_tokens, eos, device=device))
        if prefix_allowed_tokens_fn is not None:
            p.append(PrefixConstrainedLogitsProcessor(prefix_allowed_tokens_fn,
                                                      config.num_beams // max(1, config.num_beam_groups)))
        vocab = getattr(self.config, "vocab_size", None)
        for name in ("forced_bos_token_id", "forced_eos_token_id"):
            forced = _token_list(getattr(config, name))
            if forced and vocab is not None and any(not 0 <= int(t) < vocab for t in forced):
                raise ValueError(f"`{name}`={getattr(config, name)} lies outside the vocabulary [0, {vocab}): no "
                                 f"such token can be generated. Use the tokenizer's id for it (e.g. "
                                 f"tokenizer.convert_tokens_to_ids(...) or tokenizer.lang_code_to_id[...]).")
        if config.forced_bos_token_id is not None:
            p.append(ForcedBOSTokenLogitsProcessor(config.forced_bos_token_id))
        if config.forced_eos_token_id is not None:
            p.append(ForcedEOSTokenLogitsProcessor(config.max_length, config.forced_eos_token_id, device=device))
        if config.remove_invalid_values is True:
            p.append(InfNanRemoveLogitsProcessor())
        if config.exponential_decay_length_penalty is not None:
            p.append(ExponentialDecayLengthPenalty(config.exponential_decay_length_penalty, eos, input_len))
        if config.suppress_tokens is not None:
            p.append(SuppressTokensLogitsProcessor(config.suppress_tokens, device=device))
        if config.begin_suppress_tokens is not None:
            begin = input_len if (input_len > 1 or config.forced_bos_token_id is None) else input_len + 1
            p.append(SuppressTokensAtBeginLogitsProcessor(config.begin_suppress_tokens, begin, device=device))
        p = _merge(p, custom)
        if config.do_sample:
            if config.num_beams > 1:
                keep = len(eos) + 1 if eos is not None else 2
            else:
                keep = 1
            if config.temperature is not None and config.temperature != 1.0:
                p.append(TemperatureLogitsWarper(config.temperature))
            if config.top_k is not None and config.top_k != 0:
                p.append(TopKLogitsWarper(top_k=config.top_k, min_tokens_to_keep=keep))
            if config.top_p is not None and config.top_p < 1.0:
                p.append(TopPLogitsWarper(top_p=config.top_p, min_tokens_to_keep=keep))
            if config.min_p is not None:
                p.append(MinPLogitsWarper(min_p=config.min_p, min_tokens_to_keep=keep))
            if config.typical_p is not None and config.typical_p < 1.0:
                p.append(TypicalLogitsWarper(mass=config.typical_p, min_tokens_to_keep=keep))
            if config.epsilon_cutoff is not None and 0.0 < config.epsilon_cutoff < 1.0:
                p.append(EpsilonLogitsWarper(epsilon=config.epsilon_cutoff, min_tokens_to_keep=keep))
            if config.eta_cutoff is not None and 0.0 < config.eta_cutoff < 1.0:
                p.append(EtaLogitsWarper(epsilon=config.eta_cutoff, min_tokens_to_keep=keep, device=device))
        if config.renormalize_logits is True:
            p.append(LogitNormalization())
        return p

    def _get_stopping_criteria(self, config, custom, tokenizer, eos):
        """The criteria list (as the reference builds it) and the ones the loop checks natively."""
        c = StoppingCriteriaList()
        native_max = native_eos = None
        if config.max_length is not None:
            native_max = MaxLengthCriteria(max_length=config.max_length,
                                           max_position_embeddings=getattr(self.config, "max_position_embeddings",
                                                                           None))
            c.append(native_max)
        if config.max_time is not None:
            c.append(MaxTimeCriteria(max_time=config.max_time))
        if config.stop_strings is not None:
            if tokenizer is None:
                raise ValueError("There are one or more stop strings, either in the arguments to `generate` or in the "
                                 "model's generation config, but we could not locate a tokenizer. When generating "
                                 "with stop strings, you must pass the model's tokenizer to the `tokenizer` argument "
                                 "of `generate`.")
            c.append(StopStringCriteria(stop_strings=config.stop_strings, tokenizer=tokenizer))
        if eos is not None:
            native_eos = EosTokenCriteria(eos_token_id=eos)
            c.append(native_eos)
        c = _merge(c, custom)
        native = {"max": native_max if any(x is native_max for x in c) else None,
                  "eos": native_eos if any(x is native_eos for x in c) else None,
                  "extra": [x for x in c if x is not native_max and x is not native_eos],
                  "pads": any(hasattr(x, "eos_token_id") for x in c)}
        return c, native

    # ---------------------------------------------------------------------------------------------------------
    # greedy search and sampling
    # ---------------------------------------------------------------------------------------------------------
    def _decode(self, input_ids, processors, native, config, model_kwargs, streamer, pad):
        rows, start = input_ids.shape
        device = input_ids.device
        max_length = native["max"].max_length if native["max"] is not None else None
        capacity = max_length if max_length is not None else start + 64
        want = config.return_dict_in_generate
        kept = _Kept(config, self._is_encoder_decoder)
        do_sample = config.do_sample
        extra = native["extra"]
        pads = native["pads"]
        if pads and pad is None:
            raise ValueError("An end-of-sequence stopping criterion is set but no `pad_token_id` (nor "
                             "`eos_token_id`) to fill finished rows with; set `pad_token_id`.")
        pad_t = torch.tensor(pad if pad is not None else 0, dtype=torch.long, device=device)
        eos_t = torch.tensor(native["eos"].eos_token_id.tolist(), dtype=torch.long, device=device) \
            if native["eos"] is not None else None
        position_limit = getattr(native["max"], "max_position_embeddings", None) if native["max"] else None
        has_processors = len(processors) > 0
        # the token buffer is handed out as a view; code outside henkan gets a contiguous copy, like the reference
        own = __name__.rsplit(".", 1)[0]
        copy_ids = any(not type(x).__module__.startswith(own) for x in (*processors, *extra))

        stepper = _Stepper(self, input_ids, model_kwargs, capacity)
        self._maybe_compile(stepper, config)
        buffer = _Buffer(input_ids, capacity, pad if pad is not None else 0)
        unfinished = torch.ones(rows, dtype=torch.bool, device=device)
        out = stepper.prefill(input_ids)
        while True:
            logits = out.logits[:, -1, :self._generated_vocab_size].to(copy=True, dtype=torch.float32, device=device)
            kept.model_step(out)
            del out
            so_far = buffer.view.contiguous() if copy_ids else buffer.view
            next_scores = processors(so_far, logits) if has_processors else logits
            kept.add(scores=next_scores, logits=logits)
            if do_sample:
                tokens = torch.multinomial(F.softmax(next_scores, dim=-1), num_samples=1).squeeze(1)
            else:
                tokens = torch.argmax(next_scores, dim=-1)
            if pads:
                tokens = torch.where(unfinished, tokens, pad_t)
            buffer.append(tokens)
            length = buffer.length
            if streamer is not None:
                streamer.put(tokens.cpu())
            if eos_t is not None:
                unfinished &= ~torch.isin(tokens, eos_t)
            if extra:
                so_far = buffer.view.contiguous() if copy_ids else buffer.view
                for criterion in extra:
                    unfinished &= ~criterion(so_far, kept.scores)
            if position_limit is not None and length > position_limit and (max_length is None or length < max_length):
                logger.warning_once(
                    "This is a friendly reminder - the current text generation call has exceeded the model's "
                    f"predefined maximum length ({position_limit}). Depending on the model, you may observe "
                    "exceptions, performance degradation, or nothing at all.")
                position_limit = None
            if (max_length is not None and length >= max_length) or not bool(unfinished.any()):
                break
            out = stepper.step(tokens, buffer.view)
        if streamer is not None:
            streamer.end()
        sequences = buffer.view.contiguous()
        if not want:
            return sequences
        return self._output(False, model_kwargs, kept, stepper, sequences=sequences)

    def _maybe_compile(self, stepper: _Stepper, config: GenerationConfig) -> None:
        """Compile the decode step when a static cache is used and compilation is asked for (or on CUDA)."""
        if not stepper.static or config.disable_compile or stepper.custom_prepare:
            return
        on_cuda = self.device.type == "cuda"
        compile_config = config.compile_config
        if compile_config is None and not on_cuda:
            return
        compile_config = compile_config or CompileConfig()
        compiled = getattr(self, "_henkan_compiled", None)
        key = (compile_config.fullgraph, compile_config.dynamic, compile_config.backend,
               compile_config.mode if on_cuda else "default")
        if compiled is None or compiled[0] != key:
            options = dict(fullgraph=compile_config.fullgraph, dynamic=compile_config.dynamic,
                           backend=compile_config.backend)
            if compile_config.options:
                options["options"] = compile_config.options
            elif on_cuda:
                options["mode"] = compile_config.mode
            compiled = (key, torch.compile(self.__call__, **options))
            self._henkan_compiled = compiled
        stepper.compiled = compiled[1]

    # ---------------------------------------------------------------------------------------------------------
    # beam search and beam sampling
    # ---------------------------------------------------------------------------------------------------------
    def _beam_search(self, input_ids, processors, native, config, model_kwargs, eos, pad):
        rows, prompt = input_ids.shape
        device = input_ids.device
        beams = config.num_beams
        batch = rows // beams
        max_length = config.max_length
        early_stopping = config.early_stopping
        length_penalty = config.length_penalty
        do_sample = config.do_sample
        want = config.return_dict_in_generate
        kept = _Kept(config, self._is_encoder_decoder)

        eos_t = torch.tensor(eos, dtype=torch.long, device=device) if eos is not None else None
        n_eos = len(eos) if eos is not None else 0
        keep = max(2, 1 + n_eos) * beams
        is_top = torch.arange(keep, device=device) < beams
        # what fills the unused tail of shorter beams: the reference's choice
        fill = ((pad if pad else eos[0]) if eos is not None else -1)
        use_eos = native["eos"] is not None
        extra = native["extra"]

        running = torch.full((batch, beams, max_length), fill, dtype=torch.long, device=device)
        running[:, :, :prompt] = input_ids.view(batch, beams, prompt)
        finished = running.clone()
        running_scores = torch.zeros((batch, beams), dtype=torch.float, device=device)
        running_scores[:, 1:] = -1e9
        finished_scores = torch.full((batch, beams), -1e9, dtype=torch.float, device=device)
        is_finished = torch.zeros((batch, beams), dtype=torch.bool, device=device)
        may_improve = torch.ones((batch, 1), dtype=torch.bool, device=device)
        running_origin = torch.full((batch, beams, max_length - prompt), -1, dtype=torch.int32, device=device)
        finished_origin = running_origin.clone()
        batch_offset = (torch.arange(batch, device=device) * beams).view(-1, 1)

        stepper = _Stepper(self, input_ids, model_kwargs, max_length)
        out = stepper.prefill(input_ids)
        cur = prompt
        has_processors = len(processors) > 0
        while True:
            logits = out.logits[:, -1, :self._generated_vocab_size].to(copy=True, dtype=torch.float32, device=device)
            kept.model_step(out)
            del out
            log_probs = F.log_softmax(logits, dim=-1)
            if has_processors:
                log_probs = processors(running[:, :, :cur].reshape(rows, cur), log_probs)
            kept.add(logits=logits, scores=log_probs, copy=True)
            vocab = log_probs.shape[-1]
            total = (log_probs.view(batch, beams, vocab) + running_scores[:, :, None]).view(batch, beams * vocab)

            # the best `keep` continuations over all beams
            if do_sample:
                picked = torch.multinomial(F.softmax(total, dim=-1), num_samples=keep)
                cand_scores = torch.gather(total, 1, picked)
            else:
                cand_scores, picked = torch.topk(total, k=keep)
            source = picked // vocab
            cand_tokens = picked % vocab
            cand = torch.take_along_dim(running, source[:, :, None], dim=1)
            cand[:, :, cur] = cand_tokens
            cand_origin = torch.take_along_dim(running_origin, source[:, :, None], dim=1)
            cand_origin[:, :, cur - prompt] = (source + batch_offset).to(torch.int32)

            # which continuations end here
            hits = torch.zeros((batch, keep), dtype=torch.bool, device=device)
            if cur + 1 >= max_length:  # (also the end of the buffers when a custom MaxLengthCriteria is given)
                hits[:] = True
            if use_eos:
                hits |= torch.isin(cand_tokens, eos_t)
            if extra:
                flat_cand = cand[:, :, : cur + 1].reshape(batch * keep, cur + 1)
                for criterion in extra:
                    hits |= criterion(flat_cand, kept.scores).view(batch, keep)

            # beams that keep running: the best `beams` continuations that did not end
            alive_scores = cand_scores + hits.to(torch.float32) * -1.0e9
            chosen = torch.topk(alive_scores, k=beams).indices
            running = torch.take_along_dim(cand, chosen[:, :, None], dim=1)
            running_scores = torch.take_along_dim(alive_scores, chosen, dim=1)
            running_origin = torch.take_along_dim(cand_origin, chosen[:, :, None], dim=1)

            # finished hypotheses: merge the ones that just ended (among the top `beams`) with the kept ones
            ended = hits & is_top[None, :]
            end_scores = cand_scores / ((cur + 1 - prompt) ** length_penalty)
            full = torch.all(is_finished, dim=-1, keepdim=True) & (early_stopping is True)
            end_scores += full.to(torch.float32) * -1.0e9
            end_scores += (~may_improve).to(torch.float32) * -1.0e9
            end_scores += (~ended) * -1.0e9
            merged_scores = torch.cat((finished_scores, end_scores), dim=1)
            best = torch.topk(merged_scores, k=beams).indices
            finished = torch.take_along_dim(torch.cat((finished, cand), dim=1), best[:, :, None], dim=1)
            finished_scores = torch.take_along_dim(merged_scores, best, dim=1)
            finished_origin = torch.take_along_dim(torch.cat((finished_origin, cand_origin), dim=1), best[:, :, None],
                                                   dim=1)
            is_finished = torch.take_along_dim(torch.cat((is_finished, ended), dim=1), best, dim=1)

            cur += 1
            # can a running beam still beat the worst finished one?
            if early_stopping == "never" and length_penalty > 0.0:
                best_len = max_length - prompt
            else:
                best_len = cur - prompt
            best_running = running_scores[:, :1] / (best_len ** length_penalty)
            worst_finished = torch.where(is_finished, torch.min(finished_scores, dim=1, keepdim=True)[0], -1.0e9)
            may_improve = may_improve & torch.any(best_running > worst_finished, dim=-1, keepdim=True)
            go_on = torch.any(may_improve) & ~(torch.all(is_finished) & (early_stopping is True)) & ~torch.all(hits)
            if not bool(go_on):
                break
            stepper.reorder(running_origin[:, :, cur - 1 - prompt].reshape(-1).to(torch.long))
            out = stepper.step(running[:, :, cur - 1].reshape(rows),
                               running[:, :, :cur].reshape(rows, cur) if stepper.needs_sequences else None)

        returned = config.num_return_sequences
        sequences = finished[:, :returned].reshape(batch * returned, max_length)
        sequence_scores = finished_scores[:, :returned].reshape(-1)
        origin = finished_origin[:, :returned].reshape(batch * returned, -1)
        generated = int((origin >= 0).sum(dim=1).max())
        sequences = sequences[:, : prompt + generated]
        origin = origin[:, :generated]
        if not want:
            return sequences
        return self._output(True, model_kwargs, kept, stepper, sequences=sequences, beam_indices=origin,
                            sequences_scores=sequence_scores if kept.scores is not None else None)

    # ---------------------------------------------------------------------------------------------------------
    # diverse (group) beam search
    # ---------------------------------------------------------------------------------------------------------
    def _group_beam_search(self, input_ids, processors, criteria, config, model_kwargs, eos, pad):
        rows, prompt = input_ids.shape
        device = input_ids.device
        beams = config.num_beams
        groups = config.num_beam_groups
        size = beams // groups
        batch = rows // beams
        want = config.return_dict_in_generate
        kept = _Kept(config, self._is_encoder_decoder)
        n_eos = len(eos) if eos is not None else 0
        eos_set = set(eos) if eos is not None else set()
        hyps = [_Hypotheses(size, config.length_penalty, config.early_stopping, config.max_length)
                for _ in range(batch * groups)]
        done = [False] * (batch * groups)
        # the beams each row came from, per group (kept only when scores are returned, as the reference does)
        history = [[() for _ in range(size * batch)] for _ in range(groups)] if kept.scores is not None else None
        beam_scores = torch.full((batch, beams), -1e9, dtype=torch.float, device=device)
        beam_scores[:, ::size] = 0
        beam_scores = beam_scores.view(-1)
        group_rows = [torch.tensor([b * beams + j for b in range(batch) for j in range(g * size, (g + 1) * size)],
                                   dtype=torch.long, device=device) for g in range(groups)]
        sequences = input_ids
        stepper = _Stepper(self, input_ids, model_kwargs, config.max_length)
        out = stepper.prefill(input_ids)
        while True:
            current = torch.zeros(rows, dtype=sequences.dtype, device=device)
            reorder = torch.zeros(rows, dtype=torch.long, device=device)
            last_logits = out.logits[:, -1, :self._generated_vocab_size]
            processed = torch.zeros_like(last_logits) if kept.scores is not None else None
            kept.add(logits=last_logits.to(device=device), copy=True)
            kept.model_step(out)
            for g in range(groups):
                idx = group_rows[g]
                group_ids = sequences[idx]
                log_probs = F.log_softmax(last_logits[idx].to(dtype=torch.float32, device=device), dim=-1)
                vocab = log_probs.shape[-1]
                log_probs = processors(group_ids, log_probs, current_tokens=current, beam_group_idx=g)
                total = log_probs + beam_scores[idx].unsqueeze(-1)
                if kept.scores is not None:
                    processed[idx] = log_probs
                total = total.view(batch, size * vocab)
                top_scores, top_ids = torch.topk(total, max(2, 1 + n_eos) * size, dim=1, largest=True, sorted=True)
                source = torch.div(top_ids, vocab, rounding_mode="floor")
                tokens = top_ids % vocab
                flat_history = sum(history, []) if history is not None else None
                next_scores, next_tokens, next_rows = self._group_step(
                    hyps, done, group_ids, top_scores, tokens, source, g, groups, size, batch, eos_set, pad,
                    flat_history, prompt, eos)
                beam_scores[idx] = next_scores
                if history is not None:
                    chosen = next_rows.tolist()
                    history[g] = [history[g][r] + (r,) for r in chosen]
                sequences[idx] = group_ids[next_rows]
                group_ids = torch.cat([group_ids[next_rows], next_tokens.unsqueeze(-1)], dim=-1)
                current[idx] = group_ids[:, -1]
                reorder[idx] = beams * torch.div(next_rows, size, rounding_mode="floor") + g * size + next_rows % size
            kept.add(scores=processed)
            sequences = torch.cat([sequences, current.unsqueeze(-1)], dim=-1)
            del out
            stepper.reorder(reorder)
            if all(done) or bool(criteria(sequences, kept.scores).all()):
                break
            out = stepper.step(current, sequences)
        final_history = sum(history, []) if history is not None else None
        result = _finalize_hypotheses(hyps, done, sequences, beam_scores, config.num_return_sequences, groups, size,
                                      pad, eos, criteria.max_length, final_history, prompt)
        seqs, seq_scores, origin = result
        if not want:
            return seqs
        return self._output(True, model_kwargs, kept, stepper, sequences=seqs, beam_indices=origin,
                            sequences_scores=seq_scores if kept.scores is not None else None)

    def _output(self, beams: bool, model_kwargs: dict, kept: _Kept, stepper, **fields):
        """The Generate*Output of a finished search: `fields` (sequences, beam scores...) and what was kept."""
        fields.update(scores=kept.scores, logits=kept.logits, past_key_values=stepper.cache)
        if not self._is_encoder_decoder:
            cls = GenerateBeamDecoderOnlyOutput if beams else GenerateDecoderOnlyOutput
            return cls(attentions=kept.attentions, hidden_states=kept.hidden_states, **fields)
        cls = GenerateBeamEncoderDecoderOutput if beams else GenerateEncoderDecoderOutput
        encoder = model_kwargs.get("encoder_outputs")
        return cls(encoder_attentions=getattr(encoder, "attentions", None),
                   encoder_hidden_states=getattr(encoder, "hidden_states", None),
                   decoder_attentions=kept.attentions, cross_attentions=kept.cross_attentions,
                   decoder_hidden_states=kept.hidden_states, **fields)

    @property
    def _is_encoder_decoder(self) -> bool:
        return bool(getattr(self.config, "is_encoder_decoder", False))

    @staticmethod
    def _group_step(hyps, done, group_ids, top_scores, tokens, source, g, groups, size, batch, eos_set, pad,
                    history, prompt, eos):
        """Move finished continuations of one group into its hypotheses; pick the `size` that go on."""
        device = group_ids.device
        next_scores = torch.zeros((batch, size), dtype=top_scores.dtype, device=device)
        next_tokens = torch.zeros((batch, size), dtype=tokens.dtype, device=device)
        next_rows = torch.zeros((batch, size), dtype=source.dtype, device=device)
        length = group_ids.shape[-1] + 1
        tokens_l, scores_l, source_l = tokens.tolist(), top_scores.tolist(), source.tolist()
        for b in range(batch):
            key = b * groups + g
            if done[key]:
                if eos is None or pad is None:
                    raise ValueError("Generated beams >= num_beams -> eos_token_id and pad_token have to be defined")
                next_tokens[b, :] = pad
                continue
            filled = 0
            for rank, (token, score, src) in enumerate(zip(tokens_l[b], scores_l[b], source_l[b])):
                row = b * size + src
                if token in eos_set:
                    if rank >= size:
                        continue
                    origin = history[row] + (row,) if history is not None else None
                    hyps[key].add(group_ids[row].clone(), top_scores[b, rank].item(), origin, length - prompt)
                else:
                    next_scores[b, filled] = top_scores[b, rank]
                    next_tokens[b, filled] = token
                    next_rows[b, filled] = row
                    filled += 1
                if filled == size:
                    break
            if filled < size:
                raise ValueError(f"At most {size} tokens in {tokens[b]} can be equal to `eos_token_id: {eos}`. Make "
                                 f"sure {tokens[b]} are corrected.")
            done[key] = done[key] or hyps[key].is_done(top_scores[b].max().item(), length, prompt)
        return next_scores.view(-1), next_tokens.view(-1), next_rows.view(-1)

    # ---------------------------------------------------------------------------------------------------------
    def compute_transition_scores(self, sequences: torch.Tensor, scores: tuple, beam_indices=None,
                                  normalize_logits: bool = False) -> torch.Tensor:
        """The score of each generated token: [batch*num_return_sequences, generated length].

        `scores` is the `scores` of a `generate(..., return_dict_in_generate=True, output_scores=True)` output; for
        beam methods also pass its `beam_indices`. `normalize_logits=True` log-softmaxes the scores first. Tokens
        after a beam ended get 0.
        """
        steps = len(scores)
        vocab = scores[0].shape[-1]
        if beam_indices is None:
            beam_indices = torch.arange(scores[0].shape[0], device=sequences.device).view(-1, 1).expand(-1, steps)
        table = torch.stack(scores).reshape(steps, -1).transpose(0, 1)  # [rows * vocab, steps]
        if normalize_logits:
            table = table.reshape(-1, vocab, steps).log_softmax(dim=1).reshape(-1, steps)
        unused = beam_indices < 0
        longest = int((~unused).long().sum(-1).max())
        beam_indices = beam_indices[:, :longest].clone()
        unused = unused[:, :longest]
        beam_indices[unused] = 0
        rows = sequences[:, sequences.shape[-1] - longest:] + beam_indices * vocab
        transition = table.gather(0, rows.to(table.device))
        transition[unused] = 0
        return transition


# ---------------------------------------------------------------------------------------------------------------
class _Hypotheses:
    """The best finished sequences of one (batch item, beam group), kept sorted by length-penalised score."""

    def __init__(self, size: int, length_penalty: float, early_stopping, max_length: int | None):
        self.size = size
        self.length_penalty = length_penalty
        self.early_stopping = early_stopping
        self.max_length = max_length
        self.beams: list = []
        self.worst_score = 1e9

    def __len__(self) -> int:
        return len(self.beams)

    def add(self, tokens, sum_logprobs: float, origin=None, generated_len: int | None = None) -> None:
        length = generated_len if generated_len is not None else tokens.shape[-1]
        score = sum_logprobs / (length ** self.length_penalty)
        if len(self.beams) < self.size or score > self.worst_score:
            self.beams.append((score, tokens, origin))
            if len(self.beams) > self.size:
                ranked = sorted((s, i) for i, (s, _, _) in enumerate(self.beams))
                del self.beams[ranked[0][1]]
                self.worst_score = ranked[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_logprobs: float, cur_len: int, prompt: int) -> bool:
        if len(self.beams) < self.size:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping is False or self.length_penalty <= 0.0:
            best = best_sum_logprobs / (cur_len - prompt) ** self.length_penalty
        else:
            if self.max_length <= prompt:
                raise ValueError("max_length is not larger than decoder prompt length")
            best = best_sum_logprobs / (self.max_length - prompt) ** self.length_penalty
        return self.worst_score >= best


def _finalize_hypotheses(hyps, done, sequences, beam_scores, returned, groups, size, pad, eos, max_length,
                         history, prompt):
    batch = len(hyps) // groups
    for key, hyp in enumerate(hyps):
        if done[key]:
            continue
        for j in range(size):
            row = key * size + j
            origin = history[row] if history is not None else None
            hyp.add(sequences[row], beam_scores[row].item(), origin, sequences.shape[-1] - prompt)
    lengths, best, origins = [], [], []
    best_scores = torch.zeros(batch * returned, device=sequences.device, dtype=torch.float32)
    for b in range(batch):
        candidates = [beam for hyp in hyps[b * groups:(b + 1) * groups] for beam in hyp.beams]
        ranked = sorted(candidates, key=lambda x: x[0])
        for j in range(returned):
            score, tokens, origin = ranked.pop()
            lengths.append(len(tokens))
            best.append(tokens)
            origins.append(origin)
            best_scores[b * returned + j] = score
    width = max(lengths) + 1
    width = min(width, max_length) if max_length is not None else width
    if min(lengths) != max(lengths) and pad is None:
        raise ValueError("`pad_token_id` has to be defined")
    decoded = sequences.new_full((batch * returned, width), pad if pad is not None else 0)
    indices = None
    if origins and origins[0] is not None:
        indices = sequences.new_full((batch * returned, width), -1)
    for i, tokens in enumerate(best):
        decoded[i, : lengths[i]] = tokens
        if indices is not None:
            indices[i, : len(origins[i])] = torch.tensor(origins[i], dtype=indices.dtype)
        if lengths[i] < width:
            decoded[i, lengths[i]] = eos[0]
    return decoded, best_scores, indices


def _merge(defaults: list, custom: list) -> list:
    """The default processors/criteria with the user's: a user object replaces a default one of the same type;
    the others are appended."""
    if not custom:
        return defaults
    out = type(defaults)()
    for item in defaults:
        replacement = next((c for c in custom if type(c) is type(item)), None)
        if replacement is not None:
            kind = "stopping criteria" if isinstance(replacement, StoppingCriteria) else "logits processor"
            logger.warning_once(f"A custom {kind} of type {type(replacement)} has been passed to `.generate()`, but "
                                f"it was also created in `.generate()`, given its parameterization. The custom "
                                f"{type(replacement)} will take precedence. Please check the docstring of "
                                f"{type(replacement)} to see related `.generate()` flags.")
            out.append(replacement)
        else:
            out.append(item)
    for c in custom:
        if c not in out:
            out.append(c)
    return out


def _infer_attention_mask(input_ids: torch.Tensor, pad: int | None, eos: list | None) -> torch.Tensor:
    ones = torch.ones(input_ids.shape[:2], dtype=torch.long, device=input_ids.device)
    if pad is None:
        return ones
    if eos is not None and pad in eos:
        return ones
    if not bool((input_ids == pad).any()):
        return ones
    return input_ids.ne(pad).long()


def _has_generation_settings(model_config) -> bool:
    """Whether a model config sets a generation setting to something else than its default."""
    defaults = GenerationConfig()
    for key in ("max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
                "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
                "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
                "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
                "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
                "suppress_tokens", "begin_suppress_tokens"):
        value = getattr(model_config, key, None)
        if value is not None and value != getattr(defaults, key):
            return True
    return False


def _version_at_least(version, minimum: tuple) -> bool:
    if not version:
        return False
    parts = []
    for piece in str(version).split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts) >= minimum


__all__ = [
    "GenerationMixin", "GenerateDecoderOnlyOutput", "GenerateEncoderDecoderOutput", "GenerateBeamDecoderOnlyOutput",
    "GenerateBeamEncoderDecoderOutput", "GreedySearchDecoderOnlyOutput", "SampleDecoderOnlyOutput",
    "ContrastiveSearchDecoderOnlyOutput", "GreedySearchEncoderDecoderOutput", "SampleEncoderDecoderOutput",
    "ContrastiveSearchEncoderDecoderOutput", "BeamSearchDecoderOnlyOutput", "BeamSampleDecoderOnlyOutput",
    "BeamSearchEncoderDecoderOutput", "BeamSampleEncoderDecoderOutput",
]
