"""CTRL: a pre-LayerNorm decoder with fixed sinusoidal positions (sines of the even frequencies, then cosines of the
odd ones) and token embeddings scaled by sqrt(n_embd). Its masks are additive numbers, not -inf: -1e4 on future
keys and the dtype's minimum on padding (so a padding query attends to the real keys after it, as in the
reference). Positions count from the cache start whatever the padding, as the reference's `generate` does. The LM
head, with a bias, is tied to the token embeddings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import GPT2StyleCausalLM, GPT2StyleSequenceClassification
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import causal_attention, linear_layer, per_layer_head_mask
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPast, SequenceClassifierOutput


class CTRLConfig(PretrainedConfig):
    model_type = "ctrl"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {"max_position_embeddings": "n_positions", "hidden_size": "n_embd",
                     "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}
    defaults = dict(vocab_size=246534, n_positions=256, n_embd=1280, dff=8192, n_layer=48, n_head=16,
                    resid_pdrop=0.1, embd_pdrop=0.1, layer_norm_epsilon=1e-6, initializer_range=0.02, use_cache=True)
    multiples = (("n_embd", "n_head"),)


def sinusoidal_positions(count: int, dim: int, device=None) -> torch.Tensor:
    """[count, dim] position table: sin(p * rate_i) for the even i, then cos(p * rate_i) for the odd i, with
    rate_i = 10000^(-2 floor(i/2) / dim), computed in float32 as the reference computes it."""
    index = torch.arange(dim, device=device).float()[None]
    angles = torch.arange(count, device=device).float()[:, None] * (1 / torch.pow(10000, (2 * (index // 2)) / dim))
    return torch.cat([angles[:, 0::2].sin(), angles[:, 1::2].cos()], dim=-1)


class MultiHeadAttention(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden = config.n_embd
        self.num_heads, self.layer_idx = config.n_head, layer_idx
        self.depth = hidden // self.num_heads
        self.Wq = linear_layer(hidden, hidden)
        self.Wk = linear_layer(hidden, hidden)
        self.Wv = linear_layer(hidden, hidden)
        self.dense = linear_layer(hidden, hidden)

    def forward(self, x, step, head_mask=None):
        batch, length = x.shape[:2]
        q, k, v = (t.view(batch, length, self.num_heads, self.depth).transpose(1, 2)
                   for t in (self.Wq(x), self.Wk(x), self.Wv(x)))
        if step.cache is not None:
            k, v = step.cache.update(k, v, self.layer_idx, {"cache_position": step.cache_position})
        out, weights = causal_attention(q, k, v, step.bias, scaling=1 / math.sqrt(self.depth),
                                        need_weights=step.output_attentions, head_mask=head_mask)
        return self.dense(out), weights


class EncoderLayer(nn.Module):
    """(The reference's name for CTRL's decoder layer.)"""

    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden = config.n_embd
        self.layer_idx = layer_idx
        self.multi_head_attention = MultiHeadAttention(config, layer_idx)
        self.ffn = nn.Sequential(linear_layer(hidden, config.dff), nn.ReLU(), linear_layer(config.dff, hidden))
        self.layernorm1 = nn.LayerNorm(hidden, eps=1e-6)
        self.layernorm2 = nn.LayerNorm(hidden, eps=1e-6)
        self.dropout = config.resid_pdrop

    def forward(self, x, step):
        head_mask = step.extra[self.layer_idx] if step.extra is not None else None
        attn, weights = self.multi_head_attention(self.layernorm1(x), step, head_mask)
        x = x + F.dropout(attn, self.dropout, self.training)
        return x + F.dropout(self.ffn(self.layernorm2(x)), self.dropout, self.training), weights


class CTRLPreTrainedModel(PreTrainedModel):
    config_class = CTRLConfig
    base_model_prefix = "transformer"
    input_embeddings_path = "w"
    _no_split_modules = ["EncoderLayer"]


def _mask(attention_mask, cache_position, kv_length: int, dtype) -> torch.Tensor:
    """The additive mask [batch or 1, 1, q_len, kv_len]: -1e4 on future keys, the dtype's minimum on padding. (A
    static cache's slots past the mask are future keys.)"""
    keys = torch.arange(kv_length, device=cache_position.device)
    mask = (keys[None] > cache_position[:, None]).to(dtype) * -1e4
    if attention_mask is not None:
        attention_mask = attention_mask[:, :kv_length]
        attention_mask = F.pad(attention_mask, (0, kv_length - attention_mask.shape[1]), value=1)
        padding = (1.0 - attention_mask[:, None, None].to(dtype)) * torch.finfo(dtype).min
        return mask + padding
    return mask[None, None]


class CTRLModel(CTRLPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.w = nn.Embedding(config.vocab_size, config.n_embd)
        self.dropout = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(EncoderLayer(config, i) for i in range(config.n_layer))
        self.layernorm = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self._positions = None
        self.post_init()

    def positions(self, position_ids) -> torch.Tensor:
        table = self._positions
        if table is None or table.device != position_ids.device:
            table = self._positions = sinusoidal_positions(self.config.n_positions, self.config.n_embd,
                                                           position_ids.device)
        return table[position_ids]

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        config = self.config
        step, batch, length = causal.start(self, input_ids, inputs_embeds, past_key_values, cache_position, kwargs,
                                           use_cache=use_cache, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=return_dict,
                                           max_positions=config.n_positions, position_ids=position_ids,
                                           attention_mask=attention_mask, token_type_ids=token_type_ids)
        scale = math.sqrt(config.n_embd)
        if inputs_embeds is None:
            inputs_embeds = self.w(input_ids)
        if position_ids is None:
            position_ids = step.cache_position[None]
        x = inputs_embeds * scale + self.positions(position_ids).to(inputs_embeds.dtype)
        if token_type_ids is not None:
            x = x + self.w(token_type_ids.view(-1, length)) * scale
        x = self.dropout(x)
        step.bias = _mask(attention_mask, step.cache_position, causal.kv_length(step, length), x.dtype)
        if head_mask is not None:
            step.extra = per_layer_head_mask(head_mask, config.n_layer, x.dtype)
        x, hidden_states, attentions = causal.run_layers(self, self.h, x, step)
        return causal.finish(step, self.layernorm(x), hidden_states, attentions, BaseModelOutputWithPast)


_INPUTS = ("input_ids", "past_key_values", "attention_mask", "token_type_ids", "position_ids", "head_mask",
           "inputs_embeds", "use_cache", "output_attentions", "output_hidden_states", "cache_position")


class CTRLLMHeadModel(GenerationMixin, GPT2StyleCausalLM, CTRLPreTrainedModel):
    base_model_class = CTRLModel
    base_inputs = _INPUTS
    lm_head_bias = True
    _positions_from_mask = False  # (the reference's generate passes no position_ids: padding shifts positions)


class CTRLForSequenceClassification(GPT2StyleSequenceClassification, CTRLPreTrainedModel):
    base_model_class = CTRLModel
    base_inputs = _INPUTS
    classifier_name = "classifier"
    output_class = SequenceClassifierOutput
