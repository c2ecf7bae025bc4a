"""GPT-Neo: GPT-2's pre-LayerNorm layout with learned positions, linear q/k/v projections (no biases), unscaled
attention scores, and layers alternating between global attention and local attention over the last `window_size`
tokens (`attention_types`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import (GPT2StyleCausalLM, GPT2StyleQuestionAnswering, GPT2StyleSequenceClassification,
                      GPT2StyleTokenClassification)
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import CausalMasks, FeedForward, causal_attention, linear_layer, per_layer_head_mask, project
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPast


class GPTNeoConfig(PretrainedConfig):
    model_type = "gpt_neo"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {"num_attention_heads": "num_heads", "num_hidden_layers": "num_layers"}
    defaults = dict(vocab_size=50257, max_position_embeddings=2048, hidden_size=2048, num_layers=24,
                    attention_types=[[["global", "local"], 12]], num_heads=16, intermediate_size=None,
                    window_size=256, activation_function="gelu_new", resid_dropout=0.0, embed_dropout=0.0,
                    attention_dropout=0.0, classifier_dropout=0.1, layer_norm_epsilon=1e-5, initializer_range=0.02,
                    use_cache=True, bos_token_id=50256, eos_token_id=50256)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attention_layers = [kind for kinds, times in self.attention_types for _ in range(times) for kind in kinds]
        if len(self.attention_layers) != self.num_layers:
            raise ValueError(f"attention_types gives {len(self.attention_layers)} layers ({self.attention_types}) "
                             f"but num_layers is {self.num_layers}: make them agree.")
        unknown = sorted(set(self.attention_layers) - {"global", "local"})
        if unknown:
            raise ValueError(f"attention_types may only name 'global' and 'local' layers, not {unknown}.")


class GPTNeoSelfAttention(nn.Module):
    shared_input = (("q_proj", "k_proj", "v_proj"),)  # (see layers.project)

    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden = config.hidden_size
        self.layer_idx, self.num_heads = layer_idx, config.num_heads
        self.head_dim = hidden // self.num_heads
        if self.head_dim * self.num_heads != hidden:
            raise ValueError(f"hidden_size ({hidden}) must be divisible by num_heads ({self.num_heads}).")
        self.window = config.window_size if config.attention_layers[layer_idx] == "local" else None
        self.k_proj = linear_layer(hidden, hidden, bias=False)
        self.v_proj = linear_layer(hidden, hidden, bias=False)
        self.q_proj = linear_layer(hidden, hidden, bias=False)
        self.out_proj = linear_layer(hidden, hidden, bias=True)
        self.attn_dropout, self.resid_dropout = config.attention_dropout, config.resid_dropout

    def _heads(self, t):
        return t.view(t.shape[0], t.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x, step, head_mask=None):
        q, k, v = map(self._heads, project(x, self.q_proj, self.k_proj, self.v_proj))
        if step.cache is not None:
            k, v = step.cache.update(k, v, self.layer_idx, {"cache_position": step.cache_position})
        mask, is_causal = step.masks(self.window)
        out, weights = causal_attention(q, k, v, mask, scaling=1.0, is_causal=is_causal,
                                        dropout=self.attn_dropout if self.training else 0.0,
                                        need_weights=step.output_attentions, head_mask=head_mask)
        return F.dropout(self.out_proj(out), self.resid_dropout, self.training), weights


class GPTNeoAttention(nn.Module):
    """The checkpoint's extra level (`attn.attention.q_proj`)."""

    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.attention = GPTNeoSelfAttention(config, layer_idx)

    def forward(self, x, step, head_mask=None):
        return self.attention(x, step, head_mask)


class GPTNeoBlock(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.ln_1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.attn = GPTNeoAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        inner = config.intermediate_size if config.intermediate_size is not None else 4 * config.hidden_size
        self.mlp = FeedForward(config.hidden_size, inner, config.activation_function, names=("c_fc", "c_proj"),
                               dropout=config.resid_dropout)

    def forward(self, x, step):
        head_mask = step.extra[self.layer_idx] if step.extra is not None else None
        attn, weights = self.attn(self.ln_1(x), step, head_mask)
        x = x + attn
        return x + self.mlp(self.ln_2(x)), weights


class GPTNeoPreTrainedModel(PreTrainedModel):
    config_class = GPTNeoConfig
    base_model_prefix = "transformer"
    input_embeddings_path = "wte"
    _no_split_modules = ["GPTNeoBlock"]
    _keys_to_ignore_on_load_unexpected = [r"attn\.attention\.(masked_)?bias$"]


class GPTNeoModel(GPTNeoPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.hidden_size)
        self.wpe = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.drop = nn.Dropout(config.embed_dropout)
        self.h = nn.ModuleList(GPTNeoBlock(config, i) for i in range(config.num_layers))
        self.ln_f = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.post_init()

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        config = self.config
        step, batch, length = causal.start(self, input_ids, inputs_embeds, past_key_values, cache_position, kwargs,
                                           use_cache=use_cache, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=return_dict,
                                           max_positions=config.max_position_embeddings, position_ids=position_ids)
        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)
        if position_ids is None:
            position_ids = step.cache_position[None]
        x = inputs_embeds + self.wpe(position_ids)
        if token_type_ids is not None:
            x = x + self.wte(token_type_ids.view(-1, length))
        x = self.drop(x)
        step.masks = CausalMasks(attention_mask, step.cache_position, length, causal.kv_length(step, length),
                                 x.dtype, step.past_length, layout=step.layout)
        if step.masks.attention_mask is not None and length > 1:
            step.masks = _padded_masks(step, config.window_size)
        if head_mask is not None:
            step.extra = per_layer_head_mask(head_mask, config.num_layers, x.dtype)
        x, hidden_states, attentions = causal.run_layers(self, self.h, x, step)
        return causal.finish(step, self.ln_f(x), hidden_states, attentions, BaseModelOutputWithPast)


def _padded_masks(step, window: int):
    """GPT-Neo masks twice, by causality (and the local window) and then by the padding and causality again: a
    padding query, which has no real key, spreads its attention over the keys before it, not over every key as one
    mask would. Only those rows change, so this runs only when there is padding."""
    full, _ = step.masks(always=True)
    minimum = torch.finfo(full.dtype).min
    queries, keys = step.cache_position[:, None], torch.arange(full.shape[-1], device=full.device)[None]
    masks = {}
    for size in (None, window):
        allowed = (keys <= queries) if size is None else (keys <= queries) & (keys > queries - size)
        masks[size] = full + torch.zeros((), dtype=full.dtype, device=full.device).masked_fill(~allowed, minimum)
    return lambda layer_window=None, always=False: (masks[layer_window], False)


_INPUTS = ("input_ids", "past_key_values", "attention_mask", "token_type_ids", "position_ids", "head_mask",
           "inputs_embeds", "use_cache", "output_attentions", "output_hidden_states", "cache_position")


class GPTNeoForCausalLM(GenerationMixin, GPT2StyleCausalLM, GPTNeoPreTrainedModel):
    base_model_class = GPTNeoModel
    base_inputs = _INPUTS


class GPTNeoForSequenceClassification(GPT2StyleSequenceClassification, GPTNeoPreTrainedModel):
    base_model_class = GPTNeoModel
    base_inputs = _INPUTS


class GPTNeoForTokenClassification(GPT2StyleTokenClassification, GPTNeoPreTrainedModel):
    base_model_class = GPTNeoModel
    base_inputs = _INPUTS


class GPTNeoForQuestionAnswering(GPT2StyleQuestionAnswering, GPTNeoPreTrainedModel):
    base_model_class = GPTNeoModel
    base_inputs = _INPUTS
