"""BLOOM: a pre-LayerNorm decoder without position embeddings; attention is biased by ALiBi (a per-head linear
penalty on distance). The embeddings are LayerNorm-ed, q/k/v come from one fused projection laid out per head as
[heads, 3, head_dim], and the LM head is tied to the embeddings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import CausalLM, DecoderSpanHead, LastTokenClassification
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import CausalMasks, causal_attention, linear_layer, per_layer_head_mask
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPastAndCrossAttentions, CausalLMOutputWithCrossAttentions


class BloomConfig(PretrainedConfig):
    model_type = "bloom"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {"num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}
    defaults = dict(vocab_size=250880, hidden_size=64, n_layer=2, n_head=8, layer_norm_epsilon=1e-5,
                    initializer_range=0.02, use_cache=True, bos_token_id=1, eos_token_id=2,
                    apply_residual_connection_post_layernorm=False, hidden_dropout=0.0, attention_dropout=0.0,
                    pretraining_tp=1, slow_but_exact=False)
    multiples = (("hidden_size", "num_attention_heads"),)

    def __init__(self, *args, **kwargs):
        n_embed = kwargs.pop("n_embed", None)  # the older name of hidden_size
        if n_embed is not None:
            kwargs["hidden_size"] = n_embed
        super().__init__(*args, **kwargs)


def alibi_slopes(heads: int, device=None) -> torch.Tensor:
    """ALiBi's per-head slopes: a geometric sequence for the largest power of two <= heads, then every other slope
    of the sequence for twice as many heads to fill the rest."""
    closest = 2 ** math.floor(math.log2(heads))
    base = torch.tensor(2 ** (-(2 ** -(math.log2(closest) - 3))), device=device, dtype=torch.float32)
    slopes = torch.pow(base, torch.arange(1, 1 + closest, device=device, dtype=torch.int32))
    if closest != heads:
        extra = torch.tensor(2 ** (-(2 ** -(math.log2(2 * closest) - 3))), device=device, dtype=torch.float32)
        count = min(closest, heads - closest)
        slopes = torch.cat([slopes, torch.pow(extra, torch.arange(1, 1 + 2 * count, 2, device=device,
                                                                  dtype=torch.int32))])
    return slopes


def alibi_bias(attention_mask: torch.Tensor, heads: int, dtype) -> torch.Tensor:
    """[batch, heads, 1, keys]: slope x the key's index among the row's real tokens (softmax ignores the offset)."""
    positions = ((attention_mask.cumsum(dim=-1) - 1) * attention_mask)[:, None, :]
    return (alibi_slopes(heads, attention_mask.device)[:, None] * positions).to(dtype)[:, :, None, :]


def bloom_gelu(x):
    return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


class BloomAttention(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden = config.hidden_size
        self.layer_idx = layer_idx
        self.num_heads = config.n_head
        self.head_dim = hidden // self.num_heads
        if self.head_dim * self.num_heads != hidden:
            raise ValueError(f"`hidden_size` must be divisible by num_heads (got `hidden_size`: {hidden} and "
                             f"`num_heads`: {self.num_heads}).")
        self.scaling = 1.0 / math.sqrt(self.head_dim)
        self.query_key_value = linear_layer(hidden, 3 * hidden, bias=True)
        self.dense = linear_layer(hidden, hidden)
        self.attention_dropout, self.hidden_dropout = config.attention_dropout, config.hidden_dropout

    def forward(self, x, residual, step, head_mask=None):
        batch, length, _ = x.shape
        fused = self.query_key_value(x).view(batch, length, self.num_heads, 3, self.head_dim)
        q, k, v = (fused[..., i, :].transpose(1, 2) for i in range(3))
        if step.cache is not None:
            k, v = step.cache.update(k, v, self.layer_idx, {"cache_position": step.cache_position})
        out, weights = causal_attention(q, k, v, step.extra[0], scaling=self.scaling,
                                        dropout=self.attention_dropout if self.training else 0.0,
                                        need_weights=step.output_attentions, head_mask=head_mask)
        return residual + F.dropout(self.dense(out), self.hidden_dropout, self.training), weights


class BloomMLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        hidden = config.hidden_size
        self.dense_h_to_4h = linear_layer(hidden, 4 * hidden)
        self.dense_4h_to_h = linear_layer(4 * hidden, hidden)
        self.hidden_dropout = config.hidden_dropout

    def forward(self, x, residual):
        return residual + F.dropout(self.dense_4h_to_h(bloom_gelu(self.dense_h_to_4h(x))), self.hidden_dropout,
                                    self.training)


class BloomBlock(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden, eps = config.hidden_size, config.layer_norm_epsilon
        self.layer_idx = layer_idx
        self.input_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.self_attention = BloomAttention(config, layer_idx)
        self.post_attention_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.mlp = BloomMLP(config)
        self.post_norm_residual = config.apply_residual_connection_post_layernorm

    def forward(self, x, step):
        normed = self.input_layernorm(x)
        head_mask = step.extra[1][self.layer_idx]
        x, weights = self.self_attention(normed, normed if self.post_norm_residual else x, step, head_mask)
        normed = self.post_attention_layernorm(x)
        return self.mlp(normed, normed if self.post_norm_residual else x), weights


class BloomPreTrainedModel(PreTrainedModel):
    config_class = BloomConfig
    base_model_prefix = "transformer"
    input_embeddings_path = "word_embeddings"
    _no_split_modules = ["BloomBlock"]


class BloomModel(BloomPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed_dim = config.hidden_size
        self.num_heads = config.n_head
        self.word_embeddings = nn.Embedding(config.vocab_size, self.embed_dim)
        self.word_embeddings_layernorm = nn.LayerNorm(self.embed_dim, eps=config.layer_norm_epsilon)
        self.h = nn.ModuleList(BloomBlock(config, i) for i in range(config.num_hidden_layers))
        self.ln_f = nn.LayerNorm(self.embed_dim, eps=config.layer_norm_epsilon)
        self.post_init()

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, head_mask=None, inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, position_ids=None, **kwargs):
        config = self.config
        step, batch, length = causal.start(self, input_ids, inputs_embeds, past_key_values, cache_position, kwargs,
                                           use_cache=use_cache, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=return_dict,
                                           attention_mask=attention_mask, position_ids=position_ids)
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        x = self.word_embeddings_layernorm(inputs_embeds)
        kv_length = causal.kv_length(step, length)
        if attention_mask is None:
            if step.past_length is None:
                raise ValueError("BLOOM needs the attention_mask (ALiBi positions) when cache_position is given "
                                 "with a static cache.")
            attention_mask = torch.ones((batch, step.past_length + length), device=x.device)
        masks = CausalMasks(attention_mask, step.cache_position, length, kv_length, x.dtype, step.past_length,
                            layout=step.layout)
        mask, _ = masks(always=True)
        alibi = alibi_bias(attention_mask, self.num_heads, x.dtype)
        if alibi.shape[-1] < kv_length:  # a static cache's unwritten tail, masked anyway
            alibi = F.pad(alibi, (0, kv_length - alibi.shape[-1]))
        step.extra = (alibi[..., :kv_length] + mask, per_layer_head_mask(head_mask, config.n_layer, x.dtype))
        x, hidden_states, attentions = causal.run_layers(self, self.h, x, step)
        return causal.finish(step, self.ln_f(x), hidden_states, attentions, BaseModelOutputWithPastAndCrossAttentions)


_BLOOM_INPUTS = ("input_ids", "past_key_values", "attention_mask", "head_mask", "inputs_embeds", "use_cache",
                 "output_attentions", "output_hidden_states", "cache_position")


class BloomForCausalLM(GenerationMixin, CausalLM, BloomPreTrainedModel):
    base_model_class = BloomModel
    output_class = CausalLMOutputWithCrossAttentions
    base_inputs = _BLOOM_INPUTS

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, head_mask=None, inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, position_ids=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


class BloomForSequenceClassification(LastTokenClassification, BloomPreTrainedModel):
    base_model_class = BloomModel
    base_inputs = _BLOOM_INPUTS

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, head_mask=None, inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                position_ids=None, **kwargs):
        return self.classify(locals())


class BloomForTokenClassification(DecoderSpanHead, BloomPreTrainedModel):
    base_model_class = BloomModel
    base_inputs = _BLOOM_INPUTS
    classifier_name = "classifier"

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, head_mask=None, inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        return self.classify_tokens(locals())


class BloomForQuestionAnswering(DecoderSpanHead, BloomPreTrainedModel):
    base_model_class = BloomModel
    base_inputs = _BLOOM_INPUTS
    answers_spans = True

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                start_positions=None, end_positions=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        return self.answer_span(locals())
