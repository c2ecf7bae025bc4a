"""T5 and mT5: encoder-decoders with relative position buckets instead of position embeddings, an RMS norm before
every sub-block, no scaling of attention scores and no biases.

- v1.0 (`feed_forward_proj="relu"`): a ReLU feed-forward; the LM head is tied to the embeddings and reads the decoder
  output scaled by d_model**-0.5.
- v1.1, Flan-T5 and mT5 (`"gated-gelu"`): a gated feed-forward (`wi_0`, `wi_1`) and an untied head.
- ByT5 checkpoints are T5 ones (model_type "t5") over a byte vocabulary.

mT5's classes are the T5 ones under its names and config class.

The first layer of each stack holds the relative-position table (`block.0.layer.0.SelfAttention.
relative_attention_bias`). The stack turns it into one bias per forward (bidirectional buckets in the encoder, causal
ones in the decoder; with a cache only the new query rows), folds the padding/causal mask into it, and every layer
adds that same bias to its scores (`step.bias`). Cross-attention has no position bias, only the encoder's padding.
"""

from __future__ import annotations

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import Step
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..heads import ForTokenClassification
from ..layers import (CausalMasks, Holder, RMSNorm, activation, causal_attention, check_inputs, compiling,
                      linear_layer, padding_mask, per_layer_head_mask, relative_position_bucket)
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPastAndCrossAttentions
from ..seq2seq import (EncoderDecoderBase, Seq2SeqClassification, Seq2SeqClassificationHead, Seq2SeqLM,
                       Seq2SeqQuestionAnswering)


def feed_forward_kind(feed_forward_proj) -> tuple[str, bool]:
    """(activation name, gated?) of a `feed_forward_proj` such as "relu" or "gated-gelu" ("gated-gelu" means the
    tanh approximation, "gelu_new")."""
    parts = feed_forward_proj.split("-") if isinstance(feed_forward_proj, str) else None
    if parts is None or len(parts) > 2 or (len(parts) == 2 and parts[0] != "gated"):
        raise ValueError(f"feed_forward_proj={feed_forward_proj!r} is not a feed-forward T5 knows. Write the "
                         f"activation of the dense layer, e.g. 'relu' (T5 v1.0), or 'gated-' and an activation, e.g. "
                         f"'gated-gelu' (T5 v1.1, Flan-T5, mT5).")
    return ("gelu_new" if feed_forward_proj == "gated-gelu" else parts[-1]), parts[0] == "gated"


_ATTRIBUTE_MAP = {"hidden_size": "d_model", "num_attention_heads": "num_heads", "num_hidden_layers": "num_layers",
                  "head_dim": "d_kv"}
_SHAPE = dict(d_model=512, d_kv=64)
_POSITIONS = dict(relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
                  layer_norm_epsilon=1e-6, initializer_factor=1.0)


class T5Config(PretrainedConfig):
    model_type = "t5"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = _ATTRIBUTE_MAP
    defaults = dict(vocab_size=32128, **_SHAPE, d_ff=2048, num_layers=6, num_decoder_layers=None, num_heads=8,
                    **_POSITIONS, feed_forward_proj="relu", is_encoder_decoder=True, use_cache=True, pad_token_id=0,
                    eos_token_id=1, classifier_dropout=0.0)

    def __init__(self, *args, **kwargs):
        # derived from feed_forward_proj, unless config.json says otherwise (it wins, as in the reference)
        stated = {key: kwargs.pop(key) for key in ("dense_act_fn", "is_gated_act") if key in kwargs}
        # the decoder copies the encoder's layer count as given by `num_layers`, not by its alias num_hidden_layers
        # (which the reference reads later)
        layers = args[4] if len(args) > 4 else kwargs.get("num_layers", self.defaults["num_layers"])
        super().__init__(*args, **kwargs)
        if self.num_decoder_layers is None:
            self.num_decoder_layers = layers
        self.dense_act_fn, self.is_gated_act = feed_forward_kind(self.feed_forward_proj)
        for key, value in stated.items():
            setattr(self, key, value)


class MT5Config(T5Config):
    model_type = "mt5"
    defaults = dict(vocab_size=250112, **_SHAPE, d_ff=1024, num_layers=8, num_decoder_layers=None, num_heads=6,
                    **_POSITIONS, feed_forward_proj="gated-gelu", is_encoder_decoder=True, use_cache=True,
                    tokenizer_class="T5Tokenizer", tie_word_embeddings=False, pad_token_id=0, eos_token_id=1,
                    decoder_start_token_id=0, classifier_dropout=0.0)


# layers ---------------------------------------------------------------------------------------------------------


class T5Attention(nn.Module):
    """Attention with `q`, `k`, `v`, `o` projections (num_heads * d_kv wide, no biases) and unscaled scores; the
    first self-attention of a stack also holds the relative-position table. `bias` is the additive bias and mask
    the stack computed; with `cross` (a seq2seq.Cross) it attends to the encoder's output."""

    def __init__(self, config, has_relative_attention_bias: bool = False, layer_idx: int | None = None):
        super().__init__()
        self.n_heads, self.key_value_proj_dim = config.num_heads, config.d_kv
        self.inner_dim = self.n_heads * self.key_value_proj_dim
        self.layer_idx, self.dropout = layer_idx, config.dropout_rate
        self.has_relative_attention_bias = has_relative_attention_bias
        d = config.d_model
        self.q = linear_layer(d, self.inner_dim, bias=False)
        self.k = linear_layer(d, self.inner_dim, bias=False)
        self.v = linear_layer(d, self.inner_dim, bias=False)
        self.o = linear_layer(self.inner_dim, d, bias=False)
        if has_relative_attention_bias:
            self.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, self.n_heads)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:  # [batch, 1, heads * dim] already is [batch, heads, 1, dim] in memory
            return x.view(x.shape[0], self.n_heads, 1, self.key_value_proj_dim)
        return x.view(x.shape[0], x.shape[1], self.n_heads, self.key_value_proj_dim).transpose(1, 2)

    def project_kv(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._heads(self.k(states)), self._heads(self.v(states))

    def forward(self, x, bias, step: Step, cross=None, head_mask=None):
        q = self._heads(self.q(x))
        if cross is not None:
            k, v = cross.kv(self.layer_idx, self.project_kv)
        else:
            k, v = self.project_kv(x)
            if step.cache is not None:
                k, v = step.cache.update(k, v, self.layer_idx, {"cache_position": step.cache_position})
        out, weights = causal_attention(q, k, v, bias, scaling=1.0, dropout=self.dropout if self.training else 0.0,
                                        need_weights=step.output_attentions, head_mask=head_mask)
        return self.o(out), weights


def _into(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """`x` in the dtype of `layer`'s weight: `wo` stays float32 in float16 models (T5PreTrainedModel.
    _keep_in_fp32_modules), and its float32 output then carries on in the residual stream."""
    weight = layer.weight
    return x if x.dtype is weight.dtype or not weight.is_floating_point() else x.to(weight.dtype)


class T5LayerNorm(RMSNorm):
    """T5's RMS norm: after a float32 `wo` in a float16 model, it brings the residual stream back to float16."""

    half_weight_sets_dtype = True


class T5DenseActDense(nn.Module):
    """wo(act(wi(x)))."""

    def __init__(self, config):
        super().__init__()
        self.wi = linear_layer(config.d_model, config.d_ff, bias=False)
        self.wo = linear_layer(config.d_ff, config.d_model, bias=False)
        self.act = activation(config.dense_act_fn)
        self.dropout = config.dropout_rate

    def forward(self, x):
        h = self.act(self.wi(x))
        return self.wo(_into(F.dropout(h, self.dropout, True) if self.training else h, self.wo))


class T5DenseGatedActDense(nn.Module):
    """wo(act(wi_0(x)) * wi_1(x))."""

    def __init__(self, config):
        super().__init__()
        self.wi_0 = linear_layer(config.d_model, config.d_ff, bias=False)
        self.wi_1 = linear_layer(config.d_model, config.d_ff, bias=False)
        self.wo = linear_layer(config.d_ff, config.d_model, bias=False)
        self.act = activation(config.dense_act_fn)
        self.dropout = config.dropout_rate

    def forward(self, x):
        h = self.act(self.wi_0(x)) * self.wi_1(x)
        return self.wo(_into(F.dropout(h, self.dropout, True) if self.training else h, self.wo))


def _clamped(x: torch.Tensor) -> torch.Tensor:
    """float16 activations kept finite (T5's large activations overflow it), as the reference does."""
    if x.dtype != torch.float16:
        return x
    top = torch.finfo(torch.float16).max
    limit = torch.where(torch.isinf(x).any(), top - 1000, top)
    return torch.clamp(x, min=-limit, max=limit)


class T5Block(nn.Module):
    """One layer: `layer[0]` self-attention, in the decoder `layer[1]` cross-attention, then the feed-forward; each
    normed before and added to the residual."""

    def __init__(self, config, has_relative_attention_bias: bool = False, layer_idx: int | None = None):
        super().__init__()
        d, eps = config.d_model, config.layer_norm_epsilon
        self.layer_idx, self.dropout = layer_idx, config.dropout_rate
        parts = [Holder(SelfAttention=T5Attention(config, has_relative_attention_bias, layer_idx),
                        layer_norm=T5LayerNorm(d, eps))]
        if config.is_decoder:
            parts.append(Holder(EncDecAttention=T5Attention(config, False, layer_idx), layer_norm=T5LayerNorm(d, eps)))
        mlp = T5DenseGatedActDense(config) if config.is_gated_act else T5DenseActDense(config)
        parts.append(Holder(DenseReluDense=mlp, layer_norm=T5LayerNorm(d, eps)))
        self.layer = nn.ModuleList(parts)

    def _add(self, x, out):
        return _clamped(x + (F.dropout(out, self.dropout, True) if self.training else out))

    def forward(self, x, step: Step):
        attention, *cross_attention, feed_forward = self.layer._modules.values()
        head_mask = step.extra[self.layer_idx] if step.extra is not None else None
        out, weights = attention.SelfAttention(attention.layer_norm(x), step.bias, step, head_mask=head_mask)
        x = self._add(x, out)
        cross = step.cross
        if cross is not None:
            attention = cross_attention[0]
            out, cross_weights = attention.EncDecAttention(attention.layer_norm(x), cross.mask, step, cross=cross,
                                                           head_mask=cross.head_mask(self.layer_idx))
            x = self._add(x, out)
            weights = (weights, cross_weights)
        return self._add(x, feed_forward.DenseReluDense(feed_forward.layer_norm(x))), weights


# models ---------------------------------------------------------------------------------------------------------


class T5PreTrainedModel(PreTrainedModel):
    config_class = T5Config
    base_model_prefix = "transformer"
    input_embeddings_path = "shared"
    _no_split_modules = ["T5Block"]
    _keep_in_fp32_modules = ["wo"]
    _rows_share_encoder_states = True  # beams read their input's encoder states (see layers.causal_attention)
    # old checkpoints carry a cross-attention position table that no layer uses
    _keys_to_ignore_on_load_unexpected = [r"decoder\.block\.0\.layer\.1\.EncDecAttention\.relative_attention_bias"]

    def classifier_dropout(self, config) -> float:
        return config.classifier_dropout

    def _init_weights(self, module):
        """Mesh TensorFlow's initialisation: unit-variance embeddings, projections scaled by their fan-in."""
        factor, config = self.config.initializer_factor, self.config
        d, d_ff, inner = config.d_model, config.d_ff, config.num_heads * config.d_kv

        def normal(linear, std):
            nn.init.normal_(linear.weight, std=factor * std)
            if getattr(linear, "bias", None) is not None:
                nn.init.zeros_(linear.bias)

        if isinstance(module, RMSNorm):
            nn.init.constant_(module.weight, factor)
        elif isinstance(module, T5Attention):
            normal(module.q, (d * config.d_kv) ** -0.5)
            normal(module.k, d ** -0.5)
            normal(module.v, d ** -0.5)
            normal(module.o, inner ** -0.5)
            if module.has_relative_attention_bias:
                normal(module.relative_attention_bias, d ** -0.5)
        elif isinstance(module, (T5DenseActDense, T5DenseGatedActDense)):
            for name in ("wi", "wi_0", "wi_1"):
                if hasattr(module, name):
                    normal(getattr(module, name), d ** -0.5)
            normal(module.wo, d_ff ** -0.5)
        elif isinstance(module, Seq2SeqClassificationHead):
            normal(module.dense, d ** -0.5)
            normal(module.out_proj, d ** -0.5)
        elif isinstance(module, T5PreTrainedModel) and not isinstance(module, T5Stack):
            if hasattr(module, "shared"):
                normal(module.shared, 1.0)
            if hasattr(module, "lm_head") and not config.tie_word_embeddings:
                normal(module.lm_head, 1.0)
            if hasattr(module, "qa_outputs"):
                normal(module.qa_outputs, d ** -0.5)
            if hasattr(module, "classifier"):
                normal(module.classifier, 1.0)
        elif isinstance(module, (nn.Linear, nn.Embedding)):  # a head the checkpoint lacked, initialised alone
            normal(module, 1.0)


def _stack_config(config, decoder: bool):
    """The config of the encoder or decoder stack (a copy: the decoder's layer count is num_decoder_layers)."""
    config = copy.deepcopy(config)
    config.is_decoder, config.tie_encoder_decoder = decoder, False
    if decoder:
        config.num_layers = config.num_decoder_layers
    else:
        config.use_cache = False
    return config


class T5Stack(T5PreTrainedModel):
    """The encoder (`config.is_decoder` False) or the decoder stack: token embeddings, `block`s sharing one position
    bias, `final_layer_norm`. (Built inside a model; call post_init() to initialise one made on its own.)"""

    input_embeddings_path = "embed_tokens"

    def __init__(self, config, embed_tokens: nn.Embedding | None = None):
        super().__init__(config)
        self.embed_tokens = embed_tokens
        self.is_decoder = config.is_decoder
        self.block = nn.ModuleList(T5Block(config, i == 0, i) for i in range(config.num_layers))
        self.final_layer_norm = T5LayerNorm(config.d_model, eps=config.layer_norm_epsilon)

    def position_bias(self, query_positions: torch.Tensor, key_length: int) -> torch.Tensor:
        """[1, heads, queries, keys]: the first layer's table read at the bucket of each query/key distance."""
        config = self.config
        keys = torch.arange(key_length, dtype=torch.long, device=query_positions.device)
        buckets = relative_position_bucket(keys[None, :] - query_positions[:, None], not self.is_decoder,
                                           config.relative_attention_num_buckets,
                                           config.relative_attention_max_distance)
        return self.block[0].layer[0].SelfAttention.relative_attention_bias(buckets).permute(2, 0, 1)[None]

    def _decode_bias(self, key_length: int) -> torch.Tensor:
        """The position bias of one new token after key_length - 1 cached ones, sliced from the bias of the longest
        row computed so far, which is kept until the table's weights change: decode steps compute no buckets."""
        weight = self.block[0].layer[0].SelfAttention.relative_attention_bias.weight
        version = (weight.data_ptr(), weight._version, weight.device, weight.dtype)
        kept = self.__dict__.get("_last_row_bias")
        if kept is None or kept[0] != version or kept[1].shape[-1] < key_length:
            size = max(64, 2 * key_length)
            row = self.position_bias(torch.tensor([size - 1], device=weight.device), size)
            kept = self._last_row_bias = (version, row)
        return kept[1][..., kept[1].shape[-1] - key_length:]

    def _bias(self, attention_mask, step: Step, length: int, dtype) -> torch.Tensor | None:
        """The position bias plus the mask (causal and padding in the decoder, padding in the encoder)."""
        if self.is_decoder:
            masks = CausalMasks(attention_mask, step.cache_position, length, causal.kv_length(step, length), dtype,
                                step.past_length)
            mask, is_causal = masks()
            if is_causal:  # the bias rules out SDPA's causal flag: the mask is spelled out
                mask, _ = masks(always=True)
            key_length = masks.kv_length
        else:
            mask, key_length = padding_mask(attention_mask, dtype), length
        if not len(self.block):
            return mask
        table = self.block[0].layer[0].SelfAttention.relative_attention_bias.weight
        if (self.is_decoder and length == 1 and masks.dense and not compiling()
                and not (torch.is_grad_enabled() and table.requires_grad)):
            bias = self._decode_bias(key_length)
        else:
            bias = self.position_bias(step.cache_position, key_length)
        bias = bias.to(dtype)
        return bias if mask is None else bias + mask

    def forward(self, input_ids=None, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                inputs_embeds=None, head_mask=None, cross_attn_head_mask=None, past_key_values=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        config = self.config
        if self.is_decoder:
            step, _, length = causal.start(
                self, input_ids, inputs_embeds, past_key_values, cache_position, kwargs, use_cache=use_cache,
                output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                return_dict=return_dict, encoder_hidden_states=encoder_hidden_states,
                encoder_attention_mask=encoder_attention_mask, attention_mask=attention_mask)
        else:
            causal.reject_unknown(self, kwargs)
            output_attentions, output_hidden_states, _, return_dict = causal.flags(
                config, output_attentions, output_hidden_states, False, return_dict)
            _, length = check_inputs(config, input_ids, inputs_embeds, attention_mask=attention_mask)
            device = (input_ids if input_ids is not None else inputs_embeds).device
            step = Step(cache=None, cache_position=torch.arange(length, device=device), past_length=0,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                        return_dict=return_dict)
        if inputs_embeds is None:
            if self.embed_tokens is None:
                raise ValueError("This T5 stack has no token embeddings: build it with embed_tokens=, or pass "
                                 "inputs_embeds.")
            inputs_embeds = self.embed_tokens(input_ids)
        step.bias = self._bias(attention_mask, step, length, inputs_embeds.dtype)
        if head_mask is not None:
            step.extra = per_layer_head_mask(head_mask, len(self.block), inputs_embeds.dtype)
        if step.cross is not None and cross_attn_head_mask is not None:
            step.cross.head_masks = per_layer_head_mask(cross_attn_head_mask, len(self.block), inputs_embeds.dtype)
        x = F.dropout(inputs_embeds, config.dropout_rate, True) if self.training else inputs_embeds
        x, hidden_states, attentions = causal.run_layers(self, self.block, x, step)
        x = self.final_layer_norm(x)
        if self.training:
            x = F.dropout(x, config.dropout_rate, True)
        return causal.finish(step, x, hidden_states, attentions, BaseModelOutputWithPastAndCrossAttentions)


_HEAD_MASK_NOTICE = ("head_mask now masks the encoder only; the decoder's heads are masked by decoder_head_mask. "
                     "Without one, the decoder takes head_mask too (deprecated: pass decoder_head_mask, e.g. "
                     "torch.ones(num_layers, num_heads) to mask nothing in the decoder).")


class T5EncoderDecoder(EncoderDecoderBase):
    """T5's encoder and decoder over one `shared` embedding, and their forward (the decoder's head mask defaults to
    the encoder's when both stacks have as many layers)."""

    def build_encoder_decoder(self, config) -> None:
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(_stack_config(config, decoder=False), self.shared)
        self.decoder = T5Stack(_stack_config(config, decoder=True), self.shared)

    def get_input_embeddings(self):
        return self.shared

    def set_input_embeddings(self, value) -> None:
        self.shared = self.encoder.embed_tokens = self.decoder.embed_tokens = value

    def encode_decode(self, arguments: dict):
        config = self.config
        if (arguments.get("head_mask") is not None and arguments.get("decoder_head_mask") is None
                and config.num_layers == config.num_decoder_layers):
            warnings.warn(_HEAD_MASK_NOTICE, FutureWarning, stacklevel=3)
            arguments = {**arguments, "decoder_head_mask": arguments["head_mask"]}
        return super().encode_decode(arguments)


class T5Model(T5EncoderDecoder, T5PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.build_encoder_decoder(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        return self.encode_decode(locals())


class T5ForConditionalGeneration(GenerationMixin, Seq2SeqLM, T5EncoderDecoder, T5PreTrainedModel):
    """The LM head on the decoder (keys at the top: `shared`, `encoder`, `decoder`, `lm_head`). A tied head reads
    the decoder output scaled by d_model**-0.5."""

    base_model_class = None
    labels_turn_off_cache = False

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.config.tie_word_embeddings:
            hidden = hidden * self.config.d_model ** -0.5
        return self.lm_head(hidden)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        return self.lm_forward(locals())


class T5EncoderModel(T5PreTrainedModel):
    """The encoder alone (keys `shared`, `encoder`); a full checkpoint's decoder is left out. Like the reference,
    it marks its config as no encoder-decoder and without cache."""

    _keys_to_ignore_on_load_unexpected = T5PreTrainedModel._keys_to_ignore_on_load_unexpected + [r"decoder"]

    def __init__(self, config, add_pooling_layer: bool = False):  # no pooler; the flag is accepted for the heads
        super().__init__(config)
        config.use_cache, config.is_encoder_decoder = False, False
        self.shared = nn.Embedding(config.vocab_size, config.d_model)
        self.encoder = T5Stack(config, self.shared)
        self.post_init()

    def set_input_embeddings(self, value) -> None:
        self.shared = self.encoder.embed_tokens = value

    def get_encoder(self):
        return self.encoder

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, head_mask=head_mask,
                            inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                            output_hidden_states=output_hidden_states, return_dict=return_dict, **kwargs)


class T5ForSequenceClassification(Seq2SeqClassification, T5PreTrainedModel):
    """Classification from the decoder's state at the last </s>; without decoder inputs the decoder reads input_ids
    shifted right."""

    base_model_class = T5Model
    shift_inputs_when_no_decoder_inputs = True

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                inputs_embeds=None, decoder_inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return self.classify(locals())


class T5ForTokenClassification(ForTokenClassification, T5PreTrainedModel):
    base_model_class = T5EncoderModel


class T5ForQuestionAnswering(Seq2SeqQuestionAnswering, T5EncoderDecoder, T5PreTrainedModel):
    """Span logits from the decoder's output (keys at the top, as in T5ForConditionalGeneration); without decoder
    inputs the decoder reads input_ids shifted right."""

    base_model_class = None
    shift_inputs_when_no_decoder_inputs = True

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                start_positions=None, end_positions=None, inputs_embeds=None, decoder_inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        return self.answer(locals())


def _renamed(prefix: str, config_class: type) -> dict[str, type]:
    """The T5 classes under another name and config class (same code, same keys)."""
    def make(suffix, bases, **attrs):
        return type(prefix + suffix, bases, {"config_class": config_class, "__module__": __name__, **attrs})

    pretrained = make("PreTrainedModel", (T5PreTrainedModel,))
    made = {"PreTrainedModel": pretrained}
    for suffix in ("Model", "ForConditionalGeneration", "EncoderModel", "ForQuestionAnswering"):
        made[suffix] = make(suffix, (globals()["T5" + suffix], pretrained))
    made["ForSequenceClassification"] = make("ForSequenceClassification", (T5ForSequenceClassification, pretrained),
                                             base_model_class=made["Model"])
    made["ForTokenClassification"] = make("ForTokenClassification", (T5ForTokenClassification, pretrained),
                                          base_model_class=made["EncoderModel"])
    return {cls.__name__: cls for cls in made.values()}


globals().update(_renamed("MT5", MT5Config))
