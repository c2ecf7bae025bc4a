"""BART, and the encoder-decoders built on its layout: mBART, Marian, Pegasus, Blenderbot and Blenderbot-Small.

All six are one transformer encoder-decoder with `q_proj/k_proj/v_proj/out_proj` attention, `fc1/fc2` feed-forwards
and LayerNorms; they differ only in where the norms go and how positions are embedded. Each config class names its
`Layout`; the code below reads it:

| family          | norms     | positions                 | layernorm_embedding      | norm after the last layer |
| BART            | post-norm | learned, table offset 2   | on token + position      | -                         |
| mBART           | pre-norm  | learned, table offset 2   | on token + position      | layer_norm                |
| Marian          | post-norm | sinusoidal                | -                        | -                         |
| Pegasus         | pre-norm  | sinusoidal                | -                        | layer_norm                |
| Blenderbot      | pre-norm  | learned                   | -                        | layer_norm                |
| Blenderbot-Small| post-norm | learned                   | encoder: token + position; decoder: token only | -   |

(Blenderbot-Small's decoder also leaves its token embeddings unscaled whatever `scale_embedding` says.)

mBART has no single decoder start token: labels are shifted with each row's last token (its language code) first.
Marian may keep separate encoder and decoder vocabularies (`share_encoder_decoder_embeddings=False`).
BigBird-Pegasus (models/bigbird_pegasus.py) brings its own encoder (`BartModel.encoder_class`) and takes the decoder
and heads from here under its layout.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import CausalLM
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import (Attention, CausalMasks, activation, check_inputs, linear_layer, padding_mask,
                      per_layer_head_mask, run_layers)
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutput, BaseModelOutputWithPastAndCrossAttentions, CausalLMOutputWithCrossAttentions
from ..seq2seq import EncoderDecoderBase, Seq2SeqClassification, Seq2SeqLM, Seq2SeqQuestionAnswering


@dataclass(frozen=True)
class Layout:
    """How a family arranges the shared blocks (see the module docstring)."""

    pre_norm: bool = False
    positions: str = "learned"  # "learned", "offset" (a learned table whose first two rows are never used), "sinusoidal"
    embedding_norm: str = ""  # "", "both" (token + position embeddings), "tokens-in-decoder" (Blenderbot-Small)
    final_norm: str = ""  # the name of the norm after the last layer, if any
    scaled_embedding_module: bool = False  # the token embedding applies sqrt(d_model) itself (BART's way)
    decoder_scales_embeddings: bool = True  # False: the decoder ignores scale_embedding (Blenderbot-Small)
    attention_bias: str = ""  # the config key that says whether attention projections have biases ("": they do)
    key_bias: bool = True  # False: k_proj has no bias whatever the other projections have (Whisper)
    target_positions: str = "max_position_embeddings"  # the config key sizing the decoder's position table


_ATTRIBUTE_MAP = {"num_attention_heads": "encoder_attention_heads", "hidden_size": "d_model"}
_SHAPE = dict(encoder_layers=12, encoder_ffn_dim=4096, encoder_attention_heads=16, decoder_layers=12,
              decoder_ffn_dim=4096, decoder_attention_heads=16, encoder_layerdrop=0.0, decoder_layerdrop=0.0)
_TRAINING = dict(activation_function="gelu", d_model=1024, dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
                 init_std=0.02)


class _BartLikeConfig(PretrainedConfig):
    attribute_map = _ATTRIBUTE_MAP
    multiples = (("d_model", "encoder_attention_heads"), ("d_model", "decoder_attention_heads"))
    layout = Layout()
    default_num_labels = None

    def __init__(self, *args, **kwargs):
        if self.default_num_labels is not None and "id2label" not in kwargs:
            kwargs.setdefault("num_labels", self.default_num_labels)
        if kwargs.pop("force_bos_token_to_be_generated", False) and kwargs.get("forced_bos_token_id") is None:
            kwargs["forced_bos_token_id"] = kwargs.get("bos_token_id", self.defaults.get("bos_token_id"))
        given_layers = "num_hidden_layers" in kwargs
        super().__init__(*args, **kwargs)
        if not given_layers:
            self.num_hidden_layers = self.encoder_layers


class BartConfig(_BartLikeConfig):
    model_type = "bart"
    keys_to_ignore_at_inference = ["past_key_values"]
    layout = Layout(positions="offset", embedding_norm="both", scaled_embedding_module=True)
    default_num_labels = 3
    defaults = dict(vocab_size=50265, max_position_embeddings=1024, **_SHAPE, **_TRAINING, classifier_dropout=0.0,
                    scale_embedding=False, use_cache=True, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                    is_encoder_decoder=True, decoder_start_token_id=2, forced_eos_token_id=2)


class MBartConfig(_BartLikeConfig):
    model_type = "mbart"
    keys_to_ignore_at_inference = ["past_key_values"]
    layout = Layout(pre_norm=True, positions="offset", embedding_norm="both", final_norm="layer_norm",
                    scaled_embedding_module=True)
    defaults = dict(vocab_size=50265, max_position_embeddings=1024, **_SHAPE, use_cache=True, is_encoder_decoder=True,
                    **_TRAINING, classifier_dropout=0.0, scale_embedding=False, pad_token_id=1, bos_token_id=0,
                    eos_token_id=2, forced_eos_token_id=2)


class MarianConfig(_BartLikeConfig):
    model_type = "marian"
    keys_to_ignore_at_inference = ["past_key_values"]
    layout = Layout(positions="sinusoidal")
    defaults = dict(vocab_size=58101, decoder_vocab_size=None, max_position_embeddings=1024, **_SHAPE, use_cache=True,
                    is_encoder_decoder=True, **_TRAINING, decoder_start_token_id=58100, scale_embedding=False,
                    pad_token_id=58100, eos_token_id=0, forced_eos_token_id=0, share_encoder_decoder_embeddings=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.decoder_vocab_size is None:
            self.decoder_vocab_size = self.vocab_size


class PegasusConfig(_BartLikeConfig):
    model_type = "pegasus"
    keys_to_ignore_at_inference = ["past_key_values"]
    layout = Layout(pre_norm=True, positions="sinusoidal", final_norm="layer_norm")
    defaults = dict(vocab_size=50265, max_position_embeddings=1024, **_SHAPE, use_cache=True, is_encoder_decoder=True,
                    **_TRAINING, decoder_start_token_id=0, scale_embedding=False, pad_token_id=0, eos_token_id=1,
                    forced_eos_token_id=1)


class BlenderbotConfig(_BartLikeConfig):
    model_type = "blenderbot"
    keys_to_ignore_at_inference = ["past_key_values"]
    layout = Layout(pre_norm=True, final_norm="layer_norm", scaled_embedding_module=True)
    defaults = dict(vocab_size=8008, max_position_embeddings=128, **dict(
        _SHAPE, encoder_layers=2, encoder_ffn_dim=10240, encoder_attention_heads=32, decoder_layers=24,
        decoder_ffn_dim=10240, decoder_attention_heads=32), use_cache=True, is_encoder_decoder=True,
        **dict(_TRAINING, d_model=2560), decoder_start_token_id=1, scale_embedding=False, pad_token_id=0,
        bos_token_id=1, eos_token_id=2, encoder_no_repeat_ngram_size=3, forced_eos_token_id=2)


class BlenderbotSmallConfig(_BartLikeConfig):
    model_type = "blenderbot-small"
    keys_to_ignore_at_inference = ["past_key_values"]
    layout = Layout(embedding_norm="tokens-in-decoder", decoder_scales_embeddings=False)
    defaults = dict(vocab_size=50265, max_position_embeddings=512, **dict(
        _SHAPE, encoder_layers=8, encoder_ffn_dim=2048, decoder_layers=8, decoder_ffn_dim=2048), use_cache=True,
        is_encoder_decoder=True, **dict(_TRAINING, d_model=512), decoder_start_token_id=1, scale_embedding=False,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, forced_eos_token_id=2)


# embeddings ---------------------------------------------------------------------------------------------------------


class ScaledEmbedding(nn.Embedding):
    """Token embeddings multiplied by `embed_scale` (sqrt(d_model) when the config says `scale_embedding`)."""

    kept_on_resize = ("embed_scale",)

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 embed_scale: float = 1.0, **kwargs):
        super().__init__(num_embeddings, embedding_dim, padding_idx, **kwargs)
        self.embed_scale = embed_scale

    def forward(self, input_ids):
        return super().forward(input_ids) * self.embed_scale


class LearnedPositions(nn.Embedding):
    """A learned table of position embeddings; BART's tables start `offset` (2) rows in."""

    def __init__(self, num_positions: int, dim: int, offset: int = 0):
        super().__init__(num_positions + offset, dim)
        self.offset = offset

    def forward(self, position_ids):
        return super().forward(position_ids + self.offset)


class SinusoidalPositions(nn.Embedding):
    """Fixed sin/cos position embeddings (sines in the first half of each vector, cosines in the second), stored as a
    frozen parameter as in the checkpoints that carry them, and recomputed when they don't."""

    def __init__(self, num_positions: int, dim: int):
        super().__init__(num_positions, dim)
        self.weight.requires_grad_(False)

    def reset_parameters(self) -> None:
        positions, dim = self.weight.shape
        if self.weight.is_meta:
            return
        rates = 10000.0 ** (-2 * (torch.arange(dim, dtype=torch.float64) // 2) / dim)
        angles = torch.arange(positions, dtype=torch.float64)[:, None] * rates
        half = (dim + 1) // 2
        with torch.no_grad():
            self.weight[:, :half] = angles[:, 0::2].sin().to(self.weight.dtype)
            self.weight[:, half:] = angles[:, 1::2].cos().to(self.weight.dtype)

    @torch.no_grad()
    def forward(self, position_ids):
        return super().forward(position_ids)


def _token_embedding(config, vocab_size: int) -> nn.Embedding:
    scale = math.sqrt(config.d_model) if config.scale_embedding else 1.0
    if config.layout.scaled_embedding_module:
        return ScaledEmbedding(vocab_size, config.d_model, config.pad_token_id, embed_scale=scale)
    return nn.Embedding(vocab_size, config.d_model, config.pad_token_id)


def _positions(config, count: int) -> nn.Embedding:
    kind = config.layout.positions
    if kind == "sinusoidal":
        return SinusoidalPositions(count, config.d_model)
    return LearnedPositions(count, config.d_model, offset=2 if kind == "offset" else 0)


def _attention(config, heads: int, layer_idx: int | None) -> Attention:
    key = config.layout.attention_bias
    bias = bool(getattr(config, key)) if key else True
    return Attention(config.d_model, heads, layer_idx=layer_idx, dropout=config.attention_dropout, bias=bias,
                     key_bias=bias and config.layout.key_bias)


def _embed(part, input_ids, inputs_embeds, decoder: bool = False):
    """Token embeddings, scaled as the family scales them (inside the module, or here)."""
    if inputs_embeds is not None:
        return inputs_embeds
    x = part.embed_tokens(input_ids)
    layout = part.config.layout
    if not layout.scaled_embedding_module and part.config.scale_embedding and (
            layout.decoder_scales_embeddings or not decoder):
        x = x * math.sqrt(part.config.d_model)
    return x


# layers ---------------------------------------------------------------------------------------------------------


class _FeedForward(nn.Module):
    """fc1 -> activation -> fc2, and the residual/norm arrangement every sub-block of the layer shares."""

    def _init_common(self, config, ffn_dim: int) -> None:
        d = config.d_model
        self.fc1 = linear_layer(d, ffn_dim)
        self.fc2 = linear_layer(ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.act = activation(config.activation_function)
        self.pre_norm = config.layout.pre_norm
        self.dropout, self.activation_dropout = config.dropout, config.activation_dropout

    def _residual(self, x, norm: nn.LayerNorm, block):
        """x + block(x), normed before the block (pre-norm) or after the sum (post-norm); `block` returns
        (output, extra), extra handed back."""
        out, extra = block(norm(x) if self.pre_norm else x)
        x = x + F.dropout(out, self.dropout, self.training)
        return (x if self.pre_norm else norm(x)), extra

    def _mlp(self, x):
        h = F.dropout(self.act(self.fc1(x)), self.activation_dropout, self.training)
        return self.fc2(h), None


class BartEncoderLayer(_FeedForward):
    def __init__(self, config, layer_idx: int | None = None):
        super().__init__()
        self.self_attn = _attention(config, config.encoder_attention_heads, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self._init_common(config, config.encoder_ffn_dim)

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        x, weights = self._residual(x, self.self_attn_layer_norm, lambda h: self.self_attn(
            h, mask, need_weights=output_attentions, head_mask=head_mask))
        x, _ = self._residual(x, self.final_layer_norm, self._mlp)
        return x, weights


class BartDecoderLayer(_FeedForward):
    def __init__(self, config, layer_idx: int | None = None):
        super().__init__()
        heads, d = config.decoder_attention_heads, config.d_model
        self.layer_idx = layer_idx
        self.self_attn = _attention(config, heads, layer_idx)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = _attention(config, heads, layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self._init_common(config, config.decoder_ffn_dim)

    def forward(self, x, step):
        mask, is_causal = step.masks()
        head_mask = step.extra[self.layer_idx] if step.extra is not None else None
        x, weights = self._residual(x, self.self_attn_layer_norm, lambda h: self.self_attn(
            h, mask, cache=step.cache, cache_position=step.cache_position, is_causal=is_causal,
            need_weights=step.output_attentions, head_mask=head_mask))
        cross = step.cross
        if cross is not None:
            x, cross_weights = self._residual(x, self.encoder_attn_layer_norm, lambda h: self.encoder_attn(
                h, cross.mask, cross=cross, need_weights=step.output_attentions,
                head_mask=cross.head_mask(self.layer_idx)))
            weights = (weights, cross_weights)
        x, _ = self._residual(x, self.final_layer_norm, self._mlp)
        return x, weights


# models ---------------------------------------------------------------------------------------------------------


class BartPreTrainedModel(PreTrainedModel):
    config_class = BartConfig
    base_model_prefix = "model"
    _rows_share_encoder_states = True
    _no_split_modules = ["BartEncoderLayer", "BartDecoderLayer"]
    _keys_to_ignore_on_load_unexpected = [r"encoder\.version", r"decoder\.version"]

    def _init_weights(self, module):
        if isinstance(module, SinusoidalPositions):
            module.reset_parameters()
        else:
            super()._init_weights(module)  # (with config.init_std)


def _norm_stack(part, config) -> None:
    """The LayerNorms a family puts around its layer stack."""
    d = config.d_model
    if config.layout.embedding_norm:
        part.layernorm_embedding = nn.LayerNorm(d)
    if config.layout.final_norm:
        setattr(part, config.layout.final_norm, nn.LayerNorm(d))


def _final_norm(part, x, hidden_states):
    """Apply the norm after the last layer; the last of the collected hidden states is the normed one."""
    name = part.config.layout.final_norm
    if not name:
        return x, hidden_states
    x = getattr(part, name)(x)
    return x, (hidden_states[:-1] + (x,) if hidden_states is not None else None)


class BartEncoder(BartPreTrainedModel):
    """The encoder stack: token and position embeddings, then `encoder_layers` layers. (Built inside a model;
    call post_init() to initialise one made on its own.)"""

    input_embeddings_path = "embed_tokens"
    layer_class = BartEncoderLayer

    def __init__(self, config, embed_tokens: nn.Embedding | None = None):
        super().__init__(config)
        self.embed_tokens = embed_tokens if embed_tokens is not None else _token_embedding(config, config.vocab_size)
        self.embed_positions = _positions(config, config.max_position_embeddings)
        self.layers = nn.ModuleList(self.layer_class(config, i) for i in range(config.encoder_layers))
        _norm_stack(self, config)

    def layer_inputs(self, x, attention_mask):
        """The states and the mask the layers take (a family's encoder may pad the states to its liking; the last
        hidden state is cut back to the input's length)."""
        return x, padding_mask(attention_mask, x.dtype)

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        config = self.config
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            config, output_attentions, output_hidden_states, False, return_dict)
        _, length = check_inputs(config, input_ids, inputs_embeds, max_length=config.max_position_embeddings,
                                 attention_mask=attention_mask)
        _check_head_mask(head_mask, config.encoder_layers, "head_mask")
        x = _embed(self, input_ids, inputs_embeds)
        x = x + self.embed_positions(torch.arange(length, device=x.device)).to(x.dtype)
        if config.layout.embedding_norm:
            x = self.layernorm_embedding(x)
        x = F.dropout(x, config.dropout, self.training)
        x, mask = self.layer_inputs(x, attention_mask)
        x, hidden_states, attentions = run_layers(
            self, self.layers, x, mask=mask, head_mask=head_mask, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, layerdrop=config.encoder_layerdrop)
        x, hidden_states = _final_norm(self, x, hidden_states)
        out = BaseModelOutput(last_hidden_state=x[:, :length], hidden_states=hidden_states, attentions=attentions)
        return out if return_dict else out.to_tuple()


class BartDecoder(BartPreTrainedModel):
    """The decoder stack: causal self-attention (cached), cross-attention to the encoder's output when given."""

    input_embeddings_path = "embed_tokens"

    def __init__(self, config, embed_tokens: nn.Embedding | None = None):
        super().__init__(config)
        self.embed_tokens = embed_tokens if embed_tokens is not None else _token_embedding(
            config, getattr(config, "decoder_vocab_size", None) or config.vocab_size)
        self.max_positions = getattr(config, config.layout.target_positions)
        self.embed_positions = _positions(config, self.max_positions)
        self.layers = nn.ModuleList(BartDecoderLayer(config, i) for i in range(config.decoder_layers))
        _norm_stack(self, config)

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                head_mask=None, cross_attn_head_mask=None, past_key_values=None, inputs_embeds=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None,
                position_ids=None, **kwargs):
        config = self.config
        step, _, length = causal.start(
            self, input_ids, inputs_embeds, past_key_values, cache_position, kwargs, use_cache=use_cache,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=return_dict,
            max_positions=self.max_positions, position_ids=position_ids, encoder_hidden_states=encoder_hidden_states,
            encoder_attention_mask=encoder_attention_mask, attention_mask=attention_mask)
        _check_head_mask(head_mask, config.decoder_layers, "head_mask")
        _check_head_mask(cross_attn_head_mask, config.decoder_layers, "cross_attn_head_mask")
        x = _embed(self, input_ids, inputs_embeds, decoder=True)
        positions = self.embed_positions(step.cache_position if position_ids is None else position_ids).to(x.dtype)
        if config.layout.embedding_norm == "tokens-in-decoder":
            x = self.layernorm_embedding(x) + positions
        else:
            x = x + positions
            if config.layout.embedding_norm:
                x = self.layernorm_embedding(x)
        x = F.dropout(x, config.dropout, self.training)
        step.masks = CausalMasks(attention_mask, step.cache_position, length, causal.kv_length(step, length), x.dtype,
                                 step.past_length)
        if head_mask is not None:
            step.extra = per_layer_head_mask(head_mask, config.decoder_layers, x.dtype)
        if step.cross is not None and cross_attn_head_mask is not None:
            step.cross.head_masks = per_layer_head_mask(cross_attn_head_mask, config.decoder_layers, x.dtype)
        x, hidden_states, attentions = causal.run_layers(self, self.layers, x, step, config.decoder_layerdrop)
        name = config.layout.final_norm
        return causal.finish(step, getattr(self, name)(x) if name else x, hidden_states, attentions,
                             BaseModelOutputWithPastAndCrossAttentions)


def _check_head_mask(head_mask, layers: int, name: str) -> None:
    if head_mask is not None and head_mask.dim() == 2 and head_mask.shape[0] != layers:
        raise ValueError(f"The `{name}` should be specified for {layers} layers, but it is for {head_mask.shape[0]}.")


class BartModel(EncoderDecoderBase, BartPreTrainedModel):
    shift_inputs_when_no_decoder_inputs = True
    encoder_class = BartEncoder  # a family with its own encoder (BigBird-Pegasus) names it here

    def __init__(self, config):
        super().__init__(config)
        shared = getattr(config, "share_encoder_decoder_embeddings", True)
        self.shared = _token_embedding(config, config.vocab_size) if shared else None
        self.encoder = self.encoder_class(config, self.shared)
        self.decoder = BartDecoder(config, self.shared)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.embed_tokens

    def set_input_embeddings(self, value):
        if self.shared is not None:
            self.shared = self.encoder.embed_tokens = self.decoder.embed_tokens = value
        else:
            self.encoder.embed_tokens = value

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        return self.encode_decode(locals())


class BartForConditionalGeneration(GenerationMixin, Seq2SeqLM, BartPreTrainedModel):
    base_model_class = BartModel
    has_final_logits_bias = True
    _keys_to_ignore_on_load_missing = [r"final_logits_bias"]

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        return self.lm_forward(locals())


class BartForSequenceClassification(Seq2SeqClassification, BartPreTrainedModel):
    base_model_class = BartModel

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return self.classify(locals())


class BartForQuestionAnswering(Seq2SeqQuestionAnswering, BartPreTrainedModel):
    base_model_class = BartModel

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                start_positions=None, end_positions=None, inputs_embeds=None, decoder_inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        return self.answer(locals())


class BartDecoderWrapper(BartPreTrainedModel):
    """The decoder alone under `model.decoder` (the checkpoint layout of the ...ForCausalLM classes)."""

    input_embeddings_path = "decoder.embed_tokens"

    def __init__(self, config):
        super().__init__(config)
        self.decoder = BartDecoder(config)

    def forward(self, *args, **kwargs):
        return self.decoder(*args, **kwargs)


class BartForCausalLM(GenerationMixin, CausalLM, BartPreTrainedModel):
    """The decoder as a language model (optionally attending to an encoder's states). Its loss compares position t
    with labels[t]: the caller shifts the labels, as for the reference's BART-family ...ForCausalLM."""

    base_model_class = BartDecoderWrapper
    output_class = CausalLMOutputWithCrossAttentions
    shifts_labels = False
    base_inputs = ("input_ids", "attention_mask", "encoder_hidden_states", "encoder_attention_mask", "head_mask",
                   "cross_attn_head_mask", "past_key_values", "inputs_embeds", "use_cache", "output_attentions",
                   "output_hidden_states", "cache_position")

    def __init__(self, config):
        config = copy.deepcopy(config)
        config.is_decoder, config.is_encoder_decoder = True, False
        super().__init__(config)

    def get_decoder(self):
        return self.base_model.decoder

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                head_mask=None, cross_attn_head_mask=None, past_key_values=None, inputs_embeds=None, labels=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


# the other families: the same classes under their names and config classes ----------------------------------------

def _family(prefix: str, config_class: type, heads: tuple[str, ...], module: str = __name__,
            pretrained: type | None = None, **overrides) -> dict[str, type]:
    """The BART classes renamed for a family: `{class name: class}` for its PreTrainedModel, Model and `heads`
    (suffixes of the Bart classes), as classes of `module`; `overrides` maps a suffix to extra class attributes.
    A family that builds modules of its own on its PreTrainedModel passes that class as `pretrained`."""
    def make(name, bases, **attrs):
        return type(name, bases, {"config_class": config_class, "__module__": module, **attrs})

    if pretrained is None:
        pretrained = make(prefix + "PreTrainedModel", (BartPreTrainedModel,),
                          _no_split_modules=[f"{prefix}EncoderLayer", f"{prefix}DecoderLayer"])
    made = {"PreTrainedModel": pretrained}
    made["Model"] = make(prefix + "Model", (BartModel, pretrained), **overrides.get("Model", {}))
    made["DecoderWrapper"] = make(prefix + "DecoderWrapper", (BartDecoderWrapper, pretrained))
    for suffix in heads:
        base = made["DecoderWrapper"] if suffix == "ForCausalLM" else made["Model"]
        name = overrides.get(suffix, {}).pop("__name__", prefix + suffix)
        made[suffix] = make(name, (globals()["Bart" + suffix], pretrained), base_model_class=base,
                            **overrides.get(suffix, {}))
    return {cls.__name__: cls for cls in made.values()}


def _mbart_shift(input_ids: torch.Tensor, pad_token_id: int | None) -> torch.Tensor:
    """mBART's decoder inputs: each row's last non-pad token (its language code) first, then the row shifted."""
    if pad_token_id is None:
        raise ValueError("config.pad_token_id is not set, so ignored label positions (-100) cannot be replaced in "
                         "the decoder inputs. Set pad_token_id on the model config.")
    ids = input_ids.masked_fill(input_ids == -100, pad_token_id)
    last = (ids.ne(pad_token_id).sum(dim=1) - 1).unsqueeze(-1)
    start = ids.gather(1, last).squeeze(-1)
    shifted = torch.empty_like(ids)
    shifted[:, 1:] = ids[:, :-1]
    shifted[:, 0] = start
    return shifted


class _MBartShift:
    def shift_right(self, input_ids):
        return _mbart_shift(input_ids, self.config.pad_token_id)

    def prepare_decoder_input_ids_from_labels(self, labels):
        return _mbart_shift(labels, self.config.pad_token_id)


_LM_HEADS = ("ForConditionalGeneration", "ForCausalLM")
_ALL_HEADS = ("ForConditionalGeneration", "ForSequenceClassification", "ForQuestionAnswering", "ForCausalLM")

globals().update(_family("MBart", MBartConfig, _ALL_HEADS, Model={"shift_right": _MBartShift.shift_right},
                         ForConditionalGeneration={"prepare_decoder_input_ids_from_labels":
                                                   _MBartShift.prepare_decoder_input_ids_from_labels}))
globals().update(_family("Pegasus", PegasusConfig, _LM_HEADS, Model={"shift_inputs_when_no_decoder_inputs": False}))
globals().update(_family("Blenderbot", BlenderbotConfig, _LM_HEADS,
                         Model={"shift_inputs_when_no_decoder_inputs": False}))
globals().update(_family("BlenderbotSmall", BlenderbotSmallConfig, _LM_HEADS,
                         Model={"shift_inputs_when_no_decoder_inputs": False}))


class _MarianLM:
    """Marian's head predicts the decoder vocabulary, tied to the decoder's embeddings; its position tables are
    not saved (they are recomputed)."""

    _keys_to_ignore_on_load_missing = [r"final_logits_bias", r"embed_positions\.weight"]
    _keys_to_ignore_on_save = [r"model\.encoder\.embed_positions\.weight", r"model\.decoder\.embed_positions\.weight"]

    @staticmethod
    def output_vocab_size(config) -> int:
        return config.vocab_size if config.share_encoder_decoder_embeddings else config.decoder_vocab_size

    def tie_weights(self) -> None:
        if getattr(self.config, "tie_word_embeddings", True):
            self.lm_head.weight = self.get_decoder().embed_tokens.weight


globals().update(_family("Marian", MarianConfig, _LM_HEADS, Model={"shift_inputs_when_no_decoder_inputs": False},
                         ForConditionalGeneration={"__name__": "MarianMTModel",
                                                   **{k: v for k, v in vars(_MarianLM).items()
                                                      if not k.startswith("__")}}))
