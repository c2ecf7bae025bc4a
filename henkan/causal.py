"""What every decoder family shares above its layers: checking inputs, preparing the cache and positions, running
the layer stack, and the task heads (causal LM, last-token sequence classification).

A family's base model calls `start()` (inputs checked, cache ready, cache positions known), builds its per-forward
state (masks, rotary angles, ALiBi), then `run_layers()`, then `finish()`. Its heads subclass `CausalLM` or
`LastTokenClassification` together with its `...PreTrainedModel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .cache import Cache, DynamicCache, EncoderDecoderCache
from .heads import classification_loss, span_loss
from .layers import (CausalMasks, apply_rotary, causal_attention, check_inputs, class_targets, linear_layer,
                     per_layer_head_mask)
from .logging import get_logger
from .outputs import (BaseModelOutputWithPast, CausalLMOutputWithPast, QuestionAnsweringModelOutput,
                      SequenceClassifierOutputWithPast, TokenClassifierOutput)

logger = get_logger(__name__)


@dataclass
class Step:
    """The state of one forward pass that every layer reads."""

    cache: Cache | None
    cache_position: torch.Tensor
    past_length: int | None  # None when it is not known without reading a static cache
    output_attentions: bool = False
    output_hidden_states: bool = False
    use_cache: bool = False
    return_dict: bool = True
    masks: Any = None
    rotary: Any = None
    extra: Any = None
    cross: Any = None  # a seq2seq.Cross when the decoder attends to an encoder's output
    bias: Any = None  # an additive attention bias every layer shares (T5's relative positions, mask folded in)
    layout: Any = None  # how a SlotCache's sequences sit in this forward (layers.RowLayout), for the masks
    router_logits: Any = None  # a list the mixture-of-experts layers append to, when they are asked for


def prepare_cache(past_key_values, use_cache: bool, cross: bool = False) -> Cache | None:
    """The cache to use: the one given, a legacy tuple of (keys, values) per layer converted, or a new one. With
    `cross` (a decoder attending to an encoder) it is an EncoderDecoderCache, whose cross-attention part is filled
    at the first step."""
    if past_key_values is None:
        if not use_cache:
            return None
        return EncoderDecoderCache(DynamicCache(), DynamicCache()) if cross else DynamicCache()
    if isinstance(past_key_values, Cache):
        if cross and not isinstance(past_key_values, EncoderDecoderCache):
            return EncoderDecoderCache(past_key_values, DynamicCache())
        return past_key_values
    if isinstance(past_key_values, (tuple, list)):
        legacy = EncoderDecoderCache if cross or any(len(layer) > 2 for layer in past_key_values) else DynamicCache
        return legacy.from_legacy_cache(past_key_values)
    raise TypeError(f"past_key_values should be a Cache (e.g. DynamicCache()) or a tuple of (keys, values) per "
                    f"layer, not {type(past_key_values).__name__}.")


def start(model, input_ids, inputs_embeds, past_key_values, cache_position, kwargs: dict, *, use_cache,
          output_attentions, output_hidden_states, return_dict, max_positions: int | None = None,
          position_ids=None, encoder_hidden_states=None, encoder_attention_mask=None, attention_mask=None,
          token_type_ids=None) -> tuple[Step, int, int]:
    """Check the inputs (unknown keyword arguments included), settle the per-call flags (the config's by default),
    and set up the cache and cache positions. Returns (step, batch, new tokens).

    `max_positions` is the family's hard limit on positions (a learned position table), checked when positions are
    known without reading tensors. With `encoder_hidden_states` (a decoder with cross-attention) the step carries
    them, with their padding mask, as `step.cross`."""
    config = model.config
    cache, output_attentions, output_hidden_states, use_cache, return_dict = settle(
        model, kwargs, past_key_values, use_cache, output_attentions, output_hidden_states, return_dict,
        cross=encoder_hidden_states is not None)
    past = None
    # the fill of any cache but a static one (that one would be read from its buffer: a host sync)
    if cache is not None and (cache_position is None or not cache.is_compileable):
        past = cache.get_seq_length()
    elif cache is None:
        past = 0
    # a decode step feeds back the model's own prediction: its ids are not read back to be range-checked (past
    # None: a static cache of unknown fill, i.e. generation)
    decode = isinstance(input_ids, torch.Tensor) and input_ids.shape[-1] == 1 and past != 0
    batch, length = check_inputs(config, input_ids, inputs_embeds, check_ids=not decode, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids, position_ids=position_ids, past_length=past)
    if cache_position is None:
        cache_position = torch.arange(past, past + length,
                                      device=(input_ids if input_ids is not None else inputs_embeds).device)
    if max_positions is not None and position_ids is None and past is not None and past + length > max_positions:
        raise ValueError(f"The sequence reaches {past + length} tokens (cache included) but this model has "
                         f"positions for {max_positions} only (max_position_embeddings). Truncate the input "
                         f"(tokenizer(..., truncation=True, max_length={max_positions})) or generate fewer tokens.")
    step = Step(cache=cache, cache_position=cache_position, past_length=past, output_attentions=output_attentions,
                output_hidden_states=output_hidden_states, use_cache=use_cache, return_dict=return_dict,
                layout=None if cache is None else cache.layout)
    if encoder_hidden_states is not None:
        from .seq2seq import Cross

        step.cross = Cross(encoder_hidden_states, encoder_attention_mask, cache)
    return step, batch, length


def settle(model, kwargs: dict, past_key_values, use_cache, output_attentions, output_hidden_states, return_dict,
           cross: bool = False) -> tuple[Cache | None, bool, bool, bool, bool]:
    """The first part of `start`, for a family that finds its positions itself: unknown keyword arguments refused,
    the per-call flags settled (no cache while training with gradient checkpointing), the cache ready. Returns
    (cache, output_attentions, output_hidden_states, use_cache, return_dict)."""
    reject_unknown(model, kwargs)
    output_attentions, output_hidden_states, use_cache, return_dict = flags(
        model.config, output_attentions, output_hidden_states, use_cache, return_dict)
    if model.gradient_checkpointing and model.training and use_cache:
        logger.warning_once("`use_cache=True` is incompatible with gradient checkpointing. Setting `use_cache=False`.")
        use_cache = False
    cache = prepare_cache(past_key_values, use_cache, cross=cross)
    return cache, output_attentions, output_hidden_states, use_cache, return_dict


def kv_length(step: Step, length: int) -> int:
    """How many keys attention sees this pass (the static cache's full length, or past + new)."""
    if step.cache is None:
        return length
    return step.cache.get_mask_sizes(step.cache_position)[0]


def run_layers(model, layers, hidden, step: Step, layerdrop: float = 0.0):
    """Run `layers` (each `layer(hidden, step) -> (hidden, attention weights)`), collecting what was asked for;
    activations are checkpointed when gradient checkpointing is on and the model trains. While training, each layer
    is skipped with probability `layerdrop`.

    With cross-attention (`step.cross`), a layer's weights are the pair (self-attention, cross-attention); the
    cross-attention ones are collected on `step.cross.attentions`."""
    output_hidden_states = step.output_hidden_states
    all_hidden = () if output_hidden_states else None
    all_attn = () if step.output_attentions else None
    all_cross = () if step.output_attentions and step.cross is not None else None
    use_checkpoint = model.gradient_checkpointing and model.training
    for layer in layers:
        if output_hidden_states:
            all_hidden += (hidden,)
        if layerdrop and model.training and torch.rand([]) < layerdrop:
            continue
        if use_checkpoint:
            hidden, weights = checkpoint(layer, hidden, step,
                                         **getattr(model, "_checkpoint_kwargs", {"use_reentrant": False}))
        else:
            hidden, weights = layer(hidden, step)
        if all_cross is not None:
            weights, cross_weights = weights
            all_cross += (cross_weights,)
        if step.output_attentions:
            all_attn += (weights,)
    if all_cross is not None:
        step.cross.attentions = all_cross
    return hidden, all_hidden, all_attn


def finish(step: Step, x, hidden_states, attentions, output_class, collected=None, **fields):
    """The end of a decoder's base forward: the final (normed) hidden state joins the collected ones (or
    `collected`, for a family that collects the state before its final norm); the output (with `fields` the family
    adds, such as BERT's pooler output)."""
    if hidden_states is not None:
        hidden_states += (x if collected is None else collected,)
    cross = {} if step.cross is None else {"cross_attentions": step.cross.attentions}
    out = output_class(last_hidden_state=x, past_key_values=step.cache if step.use_cache else None,
                       hidden_states=hidden_states, attentions=attentions, **cross, **fields)
    return out if step.return_dict else out.to_tuple()


class RotaryAttention(nn.Module):
    """What the self-attention of the rotary decoders does once its projections gave the queries, keys and values
    ([batch, seq, heads * head_dim] each, or already [batch, seq, heads, head_dim]): split the heads, norm them (`q_norm`/`k_norm`, if the family has them),
    rotate them by the positions' angles (`step.rotary`: the first dims only when the tables are narrower than a
    head), append to the cache, and attend under the layer's mask (its sliding `window`, if any).

    A family's attention sets `layer_idx`, `head_dim`, `scaling`, `dropout`, `window` and `softcap`, builds its own
    projections and calls `attend`; one whose heads are normed before the rotation overrides `norm_heads`."""

    window = softcap = None
    heads_normed = False
    dropout = 0.0
    softmax_dtype = torch.float32

    def attend(self, q, k, v, step: Step):
        batch, length = q.shape[:2]
        if q.dim() == 4:  # already split: [batch, seq, heads, dim]
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        elif length == 1:  # [batch, 1, heads * dim] already is [batch, heads, 1, dim] in memory
            shape = (batch, -1, 1, self.head_dim)
            q, k, v = q.view(shape), k.view(shape), v.view(shape)
        else:
            shape = (batch, length, -1, self.head_dim)
            q, k, v = q.view(shape).transpose(1, 2), k.view(shape).transpose(1, 2), v.view(shape).transpose(1, 2)
        if self.heads_normed:
            q, k = self.norm_heads(q, k)
        if step.rotary is not None:
            cos, sin = step.rotary
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if step.cache is not None:
            k, v = step.cache.update(k, v, self.layer_idx, {"cache_position": step.cache_position})
        extra = step.extra or {}
        mask, is_causal = (step.bias, False) if step.bias is not None else step.masks(self.window)
        head_mask = extra["head_mask"][self.layer_idx] if "head_mask" in extra else None
        return causal_attention(q, k, v, mask, scaling=self.scaling, is_causal=is_causal,
                                dropout=self.dropout if self.training else 0.0, need_weights=step.output_attentions,
                                head_mask=head_mask, softcap=self.softcap, softmax_dtype=self.softmax_dtype)

    def norm_heads(self, q, k):
        """The queries and keys [batch, heads, seq, head_dim] normed (when `heads_normed`)."""
        return q, k


class RotaryDecoder:
    """The base-model forward of the rotary decoders (Llama and its relatives, Phi, GPT-NeoX, Falcon): embeddings,
    the rotary tables of the positions, the masks, the layers, the final norm.

    A family names its token embedding (`embedding_name`), final norm (`norm_name`) and layer list (`layers_name`),
    keeps a `rotary_emb` (a layers.RotaryEmbedding, or None) and defines `forward` with its own signature,
    returning `self.decode(locals())`. `embed` and `prepare` are its hooks for what it adds (Gemma's scaled
    embeddings, Falcon's ALiBi)."""

    embedding_name = "embed_tokens"
    norm_name = "norm"
    layers_name = "layers"
    output_class = BaseModelOutputWithPast
    stacked_mask = False  # see layers.causal_mask

    def embed(self, input_ids):
        return getattr(self, self.embedding_name)(input_ids)

    def prepare(self, step: Step, x, attention_mask, head_mask) -> None:
        """Per-forward state the layers read beyond masks and angles: by default the per-layer `head_mask`, if one is
        given, in the dict `step.extra`; a family may set `step.bias`, which replaces the masks (ALiBi added to them)."""
        if head_mask is not None:
            step.extra = {"head_mask": per_layer_head_mask(head_mask, self.config.num_hidden_layers, x.dtype)}

    def decode(self, arguments: dict):
        step, batch, length = start(
            self, arguments.get("input_ids"), arguments.get("inputs_embeds"), arguments.get("past_key_values"),
            arguments.get("cache_position"), arguments.get("kwargs") or {}, use_cache=arguments.get("use_cache"),
            output_attentions=arguments.get("output_attentions"),
            output_hidden_states=arguments.get("output_hidden_states"), return_dict=arguments.get("return_dict"),
            attention_mask=arguments.get("attention_mask"), position_ids=arguments.get("position_ids"))
        x = arguments.get("inputs_embeds")
        if x is None:
            x = self.embed(arguments["input_ids"])
        position_ids = arguments.get("position_ids")
        if position_ids is None:
            position_ids = step.cache_position[None]
        if self.rotary_emb is not None:
            cos, sin = self.rotary_emb(position_ids, x.dtype)
            step.rotary = cos[:, None], sin[:, None]
        attention_mask = arguments.get("attention_mask")
        step.masks = CausalMasks(attention_mask, step.cache_position, length, kv_length(step, length), x.dtype,
                                 step.past_length, stacked=self.stacked_mask, layout=step.layout)
        self.prepare(step, x, attention_mask, arguments.get("head_mask"))
        if "output_router_logits" in arguments:
            wanted = arguments["output_router_logits"]
            if wanted if wanted is not None else self.config.output_router_logits:
                step.router_logits = []
        x, hidden_states, attentions = run_layers(self, getattr(self, self.layers_name), x, step)
        extra = {"router_logits": tuple(step.router_logits)} if step.router_logits is not None else {}
        return finish(step, getattr(self, self.norm_name)(x), hidden_states, attentions, self.output_class, **extra)


def reject_unknown(model, kwargs: dict) -> None:
    """A forward's **kwargs may only carry what trainers pass along (`num_items_in_batch`); anything else is a
    mistake the caller should hear about."""
    unknown = sorted(set(kwargs) - {"num_items_in_batch"})
    if unknown:
        raise TypeError(f"{type(model).__name__}.forward() got unexpected keyword argument(s): {', '.join(unknown)}")


def flags(config, output_attentions, output_hidden_states, use_cache, return_dict) -> tuple[bool, bool, bool, bool]:
    """The per-call flags, defaulting to the config's."""
    return (config.output_attentions if output_attentions is None else output_attentions,
            config.output_hidden_states if output_hidden_states is None else output_hidden_states,
            getattr(config, "use_cache", True) if use_cache is None else use_cache,
            config.use_return_dict if return_dict is None else return_dict)


def causal_lm_loss(logits, labels, num_items_in_batch=None, ignore_index: int = -100,
                   shift: bool = True) -> torch.Tensor:
    """Next-token cross-entropy (in float32): position t predicts labels[t + 1] (labels[t] without `shift`: labels
    already aligned with the logits); `ignore_index` labels do not count. With `num_items_in_batch` the summed loss
    is divided by it (token-normalised gradient accumulation)."""
    logits = logits.float()
    if shift:
        labels = F.pad(labels, (0, 1), value=ignore_index)[..., 1:]
    targets = labels.reshape(-1).to(logits.device)
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets, ignore_index=ignore_index,
                           reduction=reduction)
    if num_items_in_batch is not None:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    return loss


def _base_inputs(arguments: dict, names) -> dict:
    return {name: arguments[name] for name in names if name in arguments}


class CausalLM:
    """A language-modelling head over a decoder: `lm_head` on the last hidden states, the shifted LM loss.

    Families set `base_model_class` (built under `base_model_prefix`, with `base_model_kwargs`) and `base_inputs`
    (the forward arguments their base model takes), and define `forward` with their own signature, returning
    `self.lm_forward(locals())`. A family whose head is more than one linear layer (BERT's `cls.predictions`)
    overrides `build_head`, `head` and the output-embedding accessors."""

    base_model_class: type = None
    base_model_kwargs: dict = {}
    output_class = CausalLMOutputWithPast
    shifts_labels = True  # position t predicts labels[t + 1]; False: labels[t] (the BART family's decoders)
    lm_head_bias = False
    logits_in_float32 = False
    base_inputs = ("input_ids", "attention_mask", "position_ids", "past_key_values", "inputs_embeds", "use_cache",
                   "output_attentions", "output_hidden_states", "cache_position")
    head_input_size = "hidden_size"  # the config field giving the width of the base model's output
    _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config):
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.base_model_class(config, **self.base_model_kwargs))
        self.vocab_size = config.vocab_size
        self.build_head(config)
        self.post_init()

    def build_head(self, config) -> None:
        self.lm_head = linear_layer(getattr(config, self.head_input_size), config.vocab_size, bias=self.lm_head_bias)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden)

    def extra_outputs(self, outputs, arguments: dict, loss) -> tuple:
        """(the loss, the fields a family adds to its output from its base model's): none by default."""
        return loss, {}

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, new_embeddings):
        self.lm_head = new_embeddings

    def get_decoder(self):
        return self.base_model

    def set_decoder(self, decoder):
        setattr(self, self.base_model_prefix, decoder)

    def lm_forward(self, arguments: dict):
        arguments.pop("self", None)
        extra = arguments.pop("kwargs", None) or {}
        reject_unknown(self, extra)
        num_items = extra.get("num_items_in_batch")
        if arguments.get("labels") is not None:
            class_targets(arguments["labels"], self.config.vocab_size, "vocab_size")
        outputs = self.base_model(**_base_inputs(arguments, self.base_inputs), return_dict=True)
        hidden = outputs.last_hidden_state
        keep = arguments.get("logits_to_keep", 0)
        if isinstance(keep, int):
            hidden = hidden[:, -keep:] if keep else hidden
        else:
            hidden = hidden[:, keep]
        logits = self.head(hidden)
        if self.logits_in_float32:
            logits = logits.float()
        loss = None
        labels = arguments.get("labels")
        if labels is not None:
            loss = causal_lm_loss(logits, labels, num_items, shift=self.shifts_labels)
            if self.logits_in_float32:
                loss = loss.to(outputs.last_hidden_state.dtype)
        loss, fields = self.extra_outputs(outputs, arguments, loss)
        if "cross_attentions" in outputs:
            fields["cross_attentions"] = outputs.cross_attentions
        result = self.output_class(loss=loss, logits=logits, past_key_values=outputs.past_key_values,
                                   hidden_states=outputs.hidden_states, attentions=outputs.attentions, **fields)
        return_dict = arguments.get("return_dict")
        return result if (self.config.use_return_dict if return_dict is None else return_dict) else result.to_tuple()


class LastTokenClassification:
    """Sequence classification over a decoder: `score` (or the family's `classifier_name`) on the hidden state of
    each row's last non-padding token (the last token when there is no pad_token_id, or with inputs_embeds)."""

    base_model_class: type = None
    base_inputs = CausalLM.base_inputs
    head_input_size = CausalLM.head_input_size
    classifier_name = "score"
    output_class = SequenceClassifierOutputWithPast  # (CTRL's has no past_key_values)

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, self.base_model_class(config))
        setattr(self, self.classifier_name,
                linear_layer(getattr(config, self.head_input_size), config.num_labels, bias=False))
        self.post_init()

    def classify(self, arguments: dict):
        arguments.pop("self", None)
        reject_unknown(self, arguments.pop("kwargs", None) or {})
        outputs = self.base_model(**_base_inputs(arguments, self.base_inputs), return_dict=True)
        hidden = outputs.last_hidden_state
        input_ids = arguments.get("input_ids")
        batch = hidden.shape[0]
        pad = self.config.pad_token_id
        if pad is None and batch != 1:
            raise ValueError("Cannot handle batch sizes > 1 if no padding token is defined.")
        if pad is None:
            last = torch.full((batch,), -1, dtype=torch.long, device=hidden.device)
        elif input_ids is not None:
            real = (input_ids != pad).to(hidden.device, torch.int32)
            last = (torch.arange(input_ids.shape[-1], device=hidden.device, dtype=torch.int32) * real).argmax(-1)
        else:
            logger.warning_once(f"{type(self).__name__} will not detect padding tokens in `inputs_embeds`. Results "
                                f"may be unexpected if using padding tokens in conjunction with `inputs_embeds.`")
            last = torch.full((batch,), -1, dtype=torch.long, device=hidden.device)
        logits = getattr(self, self.classifier_name)(hidden[torch.arange(batch, device=hidden.device), last])
        labels = arguments.get("labels")
        loss = classification_loss(logits, labels.to(logits.device), self.config) if labels is not None else None
        fields = dict(loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        if "past_key_values" in self.output_class.__dataclass_fields__:
            fields["past_key_values"] = outputs.past_key_values
        result = self.output_class(**fields)
        return_dict = arguments.get("return_dict")
        return result if (self.config.use_return_dict if return_dict is None else return_dict) else result.to_tuple()


class DecoderSpanHead:
    """Per-token heads over a decoder (the reference's layouts): token classification (`dropout`, then `score` in the
    Llama family or `classifier` in GPT-2's and BLOOM's, set by `classifier_name`) and extractive question answering
    (`qa_outputs` to start/end logits). Families set `base_model_class` and `base_inputs` and define `forward`
    returning `self.classify_tokens(locals())` or `self.answer_span(locals())`."""

    base_model_class: type = None
    base_inputs = CausalLM.base_inputs
    head_input_size = CausalLM.head_input_size
    classifier_name = "score"
    answers_spans = False  # True: the question-answering head
    masks_padding_labels = False  # True: labels where attention_mask is 0 do not count (BioGPT's way)

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, self.base_model_class(config))
        width = getattr(config, self.head_input_size)
        if self.answers_spans:
            self.qa_outputs = linear_layer(width, 2)
        else:
            dropout = next((getattr(config, name) for name in ("classifier_dropout", "hidden_dropout",
                                                               "hidden_dropout_prob")
                            if getattr(config, name, None) is not None), 0.1)
            self.dropout = torch.nn.Dropout(dropout)
            setattr(self, self.classifier_name, linear_layer(width, config.num_labels))
        self.post_init()

    def _run(self, arguments: dict):
        arguments.pop("self", None)
        reject_unknown(self, arguments.pop("kwargs", None) or {})
        return self.base_model(**_base_inputs(arguments, self.base_inputs), return_dict=True)

    def _returned(self, arguments: dict, result):
        return_dict = arguments.get("return_dict")
        return result if (self.config.use_return_dict if return_dict is None else return_dict) else result.to_tuple()

    def classify_tokens(self, arguments: dict):
        labels = arguments.get("labels")
        if labels is not None:
            class_targets(labels, self.num_labels)
        outputs = self._run(arguments)
        logits = getattr(self, self.classifier_name)(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            labels = labels.to(logits.device)
            mask = arguments.get("attention_mask")
            if self.masks_padding_labels and mask is not None:
                labels = labels.masked_fill(mask.to(labels.device) != 1, -100)
            loss = F.cross_entropy(logits.reshape(-1, self.num_labels), labels.reshape(-1))
        return self._returned(arguments, TokenClassifierOutput(loss=loss, logits=logits,
                                                               hidden_states=outputs.hidden_states,
                                                               attentions=outputs.attentions))

    def answer_span(self, arguments: dict):
        outputs = self._run(arguments)
        start_logits, end_logits = self.qa_outputs(outputs.last_hidden_state).split(1, dim=-1)
        start_logits, end_logits = start_logits.squeeze(-1).contiguous(), end_logits.squeeze(-1).contiguous()
        start, end = arguments.get("start_positions"), arguments.get("end_positions")
        loss = None
        if start is not None and end is not None:
            loss = span_loss(start_logits, end_logits, start.to(start_logits.device), end.to(end_logits.device))
        return self._returned(arguments, QuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions))


# The heads with GPT-2's argument lists, which GPT-Neo, GPT-NeoX, GPT-J and CTRL keep too: a family sets only
# `base_model_class` and `base_inputs`.
class GPT2StyleCausalLM(CausalLM):
    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None,
                logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


class GPT2StyleSequenceClassification(LastTokenClassification):
    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        return self.classify(locals())


class GPT2StyleTokenClassification(DecoderSpanHead):
    classifier_name = "classifier"

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        return self.classify_tokens(locals())


class GPT2StyleQuestionAnswering(DecoderSpanHead):
    answers_spans = True

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return self.answer_span(locals())
