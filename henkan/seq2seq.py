"""What every encoder-decoder family shares: the decoder's view of the encoder (`Cross`), the label shift, the base
model's encode-then-decode forward, and the task heads (conditional generation, sequence classification and
question answering on the decoder's output).

A family's base model keeps `encoder` and `decoder` modules (the decoder built on `causal.start` with
`encoder_hidden_states`, whose step then carries a `Cross`) and its forward returns `encode_decode(self, locals())`.
Its heads subclass `Seq2SeqLM`, `Seq2SeqClassification` or `Seq2SeqQuestionAnswering` with its `...PreTrainedModel`,
and either hold the base model under `base_model_prefix` (`base_model_class`) or, where the checkpoints keep the
encoder and decoder at the top (T5's layout), are the base model themselves (`base_model_class = None`, the head also
subclassing the family's `EncoderDecoderBase`, whose `build_encoder_decoder` makes the parts).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .cache import EncoderDecoderCache
from .causal import reject_unknown
from .heads import classification_loss, span_loss
from .layers import check_inputs, class_targets, linear_layer, padding_mask
from .logging import get_logger
from .outputs import (BaseModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput, Seq2SeqQuestionAnsweringModelOutput,
                      Seq2SeqSequenceClassifierOutput)

logger = get_logger(__name__)


def shift_tokens_right(input_ids: torch.Tensor, pad_token_id: int | None,
                       decoder_start_token_id: int | None) -> torch.Tensor:
    """Decoder inputs for teacher forcing: `decoder_start_token_id`, then the labels without their last token, with
    ignored positions (-100) replaced by the pad token."""
    if decoder_start_token_id is None:
        raise ValueError("config.decoder_start_token_id is not set, so labels cannot be shifted into decoder inputs. "
                         "Set it on the model config (the token the decoder starts from: BART uses its </s>, T5 its "
                         "pad token), or pass decoder_input_ids.")
    if pad_token_id is None:
        raise ValueError("config.pad_token_id is not set, so ignored label positions (-100) cannot be replaced in "
                         "the decoder inputs. Set pad_token_id on the model config.")
    shifted = input_ids.new_empty(input_ids.shape)
    shifted[..., 1:] = input_ids[..., :-1]
    shifted[..., 0] = decoder_start_token_id
    return shifted.masked_fill_(shifted == -100, pad_token_id)


class Cross:
    """The encoder output a decoder attends to: its states, their padding mask (additive, or None when nothing is
    padded), and the cache that keeps each layer's cross-attention keys and values after their first computation.
    The decoder's cross-attention weights are collected on `attentions`, its per-layer head masks on `head_masks`."""

    def __init__(self, states: torch.Tensor, attention_mask: torch.Tensor | None, cache):
        self.states = states
        self.mask = padding_mask(attention_mask, states.dtype)
        self.cache = cache if isinstance(cache, EncoderDecoderCache) else None
        self.attentions = None
        self.head_masks = None

    def kv(self, layer_idx: int, project):
        """Layer `layer_idx`'s keys and values of the encoder states: from the cache, or `project(states)` (then
        cached)."""
        cache = self.cache
        if cache is not None and cache.is_updated.get(layer_idx):
            layer = cache.cross_attention_cache.layers[layer_idx]
            return layer.k, layer.v
        k, v = project(self.states)
        if cache is not None:
            cache.store_cross(layer_idx, k, v)
        return k, v

    def head_mask(self, layer_idx: int):
        return None if self.head_masks is None else self.head_masks[layer_idx]


def as_encoder_output(encoder_outputs) -> BaseModelOutput:
    """Encoder outputs given as a tuple (last hidden state[, hidden states[, attentions]]) as a BaseModelOutput."""
    if isinstance(encoder_outputs, BaseModelOutput):
        return encoder_outputs
    if isinstance(encoder_outputs, torch.Tensor):
        return BaseModelOutput(last_hidden_state=encoder_outputs)
    if isinstance(encoder_outputs, dict):
        return BaseModelOutput(**{k: encoder_outputs.get(k) for k in ("last_hidden_state", "hidden_states",
                                                                     "attentions")})
    if not isinstance(encoder_outputs, (tuple, list)) or not encoder_outputs:
        raise TypeError(f"encoder_outputs should be the encoder's output (a BaseModelOutput, or a tuple whose first "
                        f"element is the last hidden state), not {type(encoder_outputs).__name__}.")
    return BaseModelOutput(last_hidden_state=encoder_outputs[0],
                           hidden_states=encoder_outputs[1] if len(encoder_outputs) > 1 else None,
                           attentions=encoder_outputs[2] if len(encoder_outputs) > 2 else None)


def check_encoder_inputs(config, arguments: dict) -> None:
    """The encoder's inputs checked (kind, shape, mask) before anything is derived from them, e.g. decoder inputs
    shifted from `input_ids`; skipped when `encoder_outputs` are given or the encoder reads other inputs (speech
    features). (Ids are range-checked by the encoder.)"""
    if arguments.get("encoder_outputs") is None and (arguments.get("input_ids") is not None
                                                     or arguments.get("inputs_embeds") is not None):
        check_inputs(config, arguments.get("input_ids"), arguments.get("inputs_embeds"), check_ids=False,
                     attention_mask=arguments.get("attention_mask"))


def shift_into_decoder(arguments: dict, shift) -> None:
    """Without decoder inputs among a forward's `arguments`, give the decoder `shift(input_ids)`."""
    if arguments.get("decoder_input_ids") is not None or arguments.get("decoder_inputs_embeds") is not None:
        return
    if arguments.get("input_ids") is None:
        raise ValueError("Without decoder_input_ids or decoder_inputs_embeds, the decoder reads input_ids shifted "
                         "right, so input_ids cannot be None. Pass input_ids or decoder_input_ids.")
    arguments["decoder_input_ids"] = shift(arguments["input_ids"])


_ENCODER_INPUTS = ("input_ids", "input_features", "attention_mask", "head_mask", "inputs_embeds")
_DECODER_INPUTS = {"decoder_input_ids": "input_ids", "decoder_attention_mask": "attention_mask",
                   "decoder_head_mask": "head_mask", "cross_attn_head_mask": "cross_attn_head_mask",
                   "past_key_values": "past_key_values", "decoder_inputs_embeds": "inputs_embeds",
                   "use_cache": "use_cache", "cache_position": "cache_position",
                   "decoder_position_ids": "position_ids"}


class EncoderDecoderBase:
    """The forward of an encoder-decoder's base model: encode (unless `encoder_outputs` are given), then decode with
    cross-attention to the encoder's last hidden state.

    `shift_inputs_when_no_decoder_inputs`: BART's way of denoising: without decoder inputs, the decoder reads the
    encoder's input shifted right."""

    shift_inputs_when_no_decoder_inputs = False
    encoder_mask_reaches_decoder = True  # False: `attention_mask` is the encoder's own (Whisper's frames)

    def get_encoder(self):
        return self.encoder

    def get_decoder(self):
        return self.decoder

    def shift_right(self, input_ids: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(input_ids, self.config.pad_token_id, self.config.decoder_start_token_id)

    def encode_decode(self, arguments: dict):
        arguments = dict(arguments)
        arguments.pop("self", None)
        reject_unknown(self, arguments.pop("kwargs", None) or {})
        config = self.config
        output_attentions = arguments.get("output_attentions")
        output_hidden_states = arguments.get("output_hidden_states")
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = arguments.get("return_dict")
        return_dict = config.use_return_dict if return_dict is None else return_dict
        check_encoder_inputs(config, arguments)
        if self.shift_inputs_when_no_decoder_inputs:
            shift_into_decoder(arguments, self.shift_right)
        elif arguments.get("decoder_input_ids") is None and arguments.get("decoder_inputs_embeds") is None:
            raise ValueError(f"{type(self).__name__} needs decoder inputs: pass decoder_input_ids or "
                             f"decoder_inputs_embeds (or labels to the ...ForConditionalGeneration model, which "
                             f"shifts them into decoder inputs).")
        encoder_outputs = arguments.get("encoder_outputs")
        if encoder_outputs is None:
            inputs = {k: arguments[k] for k in _ENCODER_INPUTS if arguments.get(k) is not None}
            encoder_outputs = self.encoder(**inputs, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=True)
        else:
            encoder_outputs = as_encoder_output(encoder_outputs)
        decoder_inputs = {name: arguments[key] for key, name in _DECODER_INPUTS.items()
                          if arguments.get(key) is not None}
        decoder_outputs = self.decoder(**decoder_inputs, encoder_hidden_states=encoder_outputs[0],
                                       encoder_attention_mask=arguments.get("attention_mask")
                                       if self.encoder_mask_reaches_decoder else None,
                                       output_attentions=output_attentions,
                                       output_hidden_states=output_hidden_states, return_dict=True)
        out = Seq2SeqModelOutput(
            last_hidden_state=decoder_outputs.last_hidden_state, past_key_values=decoder_outputs.past_key_values,
            decoder_hidden_states=decoder_outputs.hidden_states, decoder_attentions=decoder_outputs.attentions,
            cross_attentions=decoder_outputs.cross_attentions,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions)
        return out if return_dict else out.to_tuple()


def _decoder_fields(outputs) -> dict:
    return {name: getattr(outputs, name) for name in (
        "past_key_values", "decoder_hidden_states", "decoder_attentions", "cross_attentions",
        "encoder_last_hidden_state", "encoder_hidden_states", "encoder_attentions")}


_BASE_ARGUMENTS = ("input_ids", "input_features", "attention_mask", "decoder_input_ids", "decoder_attention_mask", "head_mask",
                   "decoder_head_mask", "cross_attn_head_mask", "encoder_outputs", "past_key_values",
                   "inputs_embeds", "decoder_inputs_embeds", "use_cache", "output_attentions",
                   "output_hidden_states", "cache_position", "decoder_position_ids")


class Seq2SeqHead:
    """What the heads share: the base model (under `base_model_prefix`, or the head itself when `base_model_class` is
    None), the call into it, the return convention.

    `shift_inputs_when_no_decoder_inputs`: without decoder inputs the head gives the decoder `input_ids` shifted right
    (T5's classification and QA heads; BART's base model does it itself)."""

    base_model_class: type = None
    shift_inputs_when_no_decoder_inputs = False

    def build_base(self, config) -> None:
        if self.base_model_class is None:
            self.build_encoder_decoder(config)
        else:
            setattr(self, self.base_model_prefix, self.base_model_class(config))

    def get_encoder(self):
        return self.encoder if self.base_model is self else self.base_model.get_encoder()

    def get_decoder(self):
        return self.decoder if self.base_model is self else self.base_model.get_decoder()

    def run_base(self, arguments: dict, **overrides):
        inputs = {k: arguments[k] for k in _BASE_ARGUMENTS if arguments.get(k) is not None}
        inputs.update(overrides)
        base = self.base_model
        if self.shift_inputs_when_no_decoder_inputs:
            check_encoder_inputs(self.config, inputs)
            shift_into_decoder(inputs, base.shift_right)
        if base is self:
            return self.encode_decode({**inputs, "return_dict": True})
        return base(**inputs, return_dict=True)

    def _returned(self, arguments: dict, result):
        return_dict = arguments.get("return_dict")
        return result if (self.config.use_return_dict if return_dict is None else return_dict) else result.to_tuple()


class Seq2SeqLM(Seq2SeqHead):
    """Conditional generation: `lm_head` on the decoder's output (plus `final_logits_bias` where the family has
    one); with `labels`, the decoder reads them shifted right and the loss is their cross-entropy (-100 ignored).

    Families define `forward` with their own signature, returning `self.lm_forward(locals())`."""

    output_class = Seq2SeqLMOutput
    has_final_logits_bias = False  # families whose checkpoints carry a `final_logits_bias` buffer
    labels_turn_off_cache = True  # BART's way; T5 keeps returning the cache when given labels
    head_name = "lm_head"  # the output projection's checkpoint name (Whisper: proj_out)
    target_positions = "max_position_embeddings"  # the config key limiting the labels' length, if it has one
    _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config):
        super().__init__(config)
        self.build_base(config)
        vocab = self.output_vocab_size(config)
        setattr(self, self.head_name, linear_layer(config.d_model, vocab, bias=False))
        if self.has_final_logits_bias:
            self.register_buffer("final_logits_bias", torch.zeros((1, vocab)))
        self.post_init()

    @staticmethod
    def output_vocab_size(config) -> int:
        return config.vocab_size

    def get_output_embeddings(self):
        return getattr(self, self.head_name)

    def set_output_embeddings(self, new_embeddings):
        setattr(self, self.head_name, new_embeddings)

    def resize_token_embeddings(self, new_num_tokens=None, pad_to_multiple_of=None, mean_resizing: bool = True):
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        if self.has_final_logits_bias:
            n, old = embeddings.num_embeddings, self.final_logits_bias
            bias = old.new_zeros((1, n))
            bias[:, :min(n, old.shape[1])] = old[:, :n]
            self.register_buffer("final_logits_bias", bias)
        return embeddings

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.get_output_embeddings()(hidden)
        if self.has_final_logits_bias:
            logits = logits + self.final_logits_bias.to(logits.device)
        return logits

    def lm_forward(self, arguments: dict):
        arguments = dict(arguments)
        arguments.pop("self", None)
        reject_unknown(self, arguments.pop("kwargs", None) or {})
        labels = arguments.get("labels")
        if labels is not None:
            vocab = getattr(self.config, "decoder_vocab_size", None) or self.config.vocab_size
            class_targets(labels, vocab, "vocab_size")
            limit = getattr(self.config, self.target_positions, None)
            if limit is not None and labels.shape[-1] > limit:
                raise ValueError(f"labels have {labels.shape[-1]} tokens but the decoder has positions for {limit} "
                                 f"only ({self.target_positions}). Truncate the targets: tokenizer(text_target=..., "
                                 f"truncation=True, max_length={limit}).")
            if self.labels_turn_off_cache:
                if arguments.get("use_cache"):
                    logger.warning("The `use_cache` argument is changed to `False` since `labels` is provided.")
                arguments["use_cache"] = False
            if arguments.get("decoder_input_ids") is None and arguments.get("decoder_inputs_embeds") is None:
                arguments["decoder_input_ids"] = self.prepare_decoder_input_ids_from_labels(labels)
        outputs = self.run_base(arguments)
        logits = self.logits(outputs.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                   labels.to(logits.device).reshape(-1)).to(logits.dtype)
        return self._returned(arguments, self.output_class(loss=loss, logits=logits, **_decoder_fields(outputs)))


class Seq2SeqClassificationHead(nn.Module):
    """`classification_head`: dropout, dense, tanh, dropout, out_proj."""

    def __init__(self, hidden: int, inner: int, num_labels: int, dropout: float):
        super().__init__()
        self.dense = linear_layer(hidden, inner)
        self.dropout = nn.Dropout(p=dropout)
        self.out_proj = linear_layer(inner, num_labels)

    def forward(self, x):
        return self.out_proj(self.dropout(torch.tanh(self.dense(self.dropout(x)))))


class Seq2SeqClassification(Seq2SeqHead):
    """Sequence classification from the decoder's state at the last end-of-sequence token of each input (every row
    must hold the same number of them, as BART's pretraining arranged)."""

    def __init__(self, config):
        super().__init__(config)
        self.build_base(config)
        self.classification_head = Seq2SeqClassificationHead(config.d_model, config.d_model, config.num_labels,
                                                             config.classifier_dropout)
        self.post_init()

    def classify(self, arguments: dict):
        arguments = dict(arguments)
        arguments.pop("self", None)
        reject_unknown(self, arguments.pop("kwargs", None) or {})
        input_ids, labels = arguments.get("input_ids"), arguments.get("labels")
        if input_ids is None:
            raise NotImplementedError(f"{type(self).__name__} finds each row's last </s> in input_ids, so it cannot "
                                      f"take inputs_embeds alone; pass input_ids.")
        if labels is not None:
            arguments["use_cache"] = False
        outputs = self.run_base(arguments)
        hidden = outputs.last_hidden_state
        eos = input_ids.eq(self.config.eos_token_id).to(hidden.device)
        counts = eos.sum(1)
        if len(torch.unique_consecutive(counts)) > 1 or int(counts[0]) == 0:
            raise ValueError(f"All examples must have the same number of <eos> tokens (at least one; eos_token_id="
                             f"{self.config.eos_token_id}); found {counts.tolist()}. Encode the texts with the "
                             f"model's tokenizer, which ends each with </s>.")
        sentence = hidden[eos, :].view(hidden.shape[0], -1, hidden.shape[-1])[:, -1, :]
        logits = self.classification_head(sentence)
        loss = classification_loss(logits, labels.to(logits.device), self.config) if labels is not None else None
        return self._returned(arguments, Seq2SeqSequenceClassifierOutput(loss=loss, logits=logits,
                                                                         **_decoder_fields(outputs)))


class Seq2SeqQuestionAnswering(Seq2SeqHead):
    """Extractive question answering: start and end logits from the decoder's output."""

    def __init__(self, config):
        super().__init__(config)
        config.num_labels = 2
        self.num_labels = config.num_labels
        self.build_base(config)
        self.qa_outputs = linear_layer(config.hidden_size, config.num_labels)
        self.post_init()

    def answer(self, arguments: dict):
        arguments = dict(arguments)
        arguments.pop("self", None)
        reject_unknown(self, arguments.pop("kwargs", None) or {})
        start_positions, end_positions = arguments.get("start_positions"), arguments.get("end_positions")
        if start_positions is not None and end_positions is not None:
            arguments["use_cache"] = False
        outputs = self.run_base(arguments)
        start_logits, end_logits = (t.squeeze(-1).contiguous()
                                    for t in self.qa_outputs(outputs.last_hidden_state).split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions.to(start_logits.device),
                             end_positions.to(end_logits.device))
        return self._returned(arguments, Seq2SeqQuestionAnsweringModelOutput(
            loss=loss, start_logits=start_logits, end_logits=end_logits, **_decoder_fields(outputs)))
