"""Llama, and Mistral and Qwen2 on it: pre-RMSNorm decoders with rotary positions, grouped-query attention and a
gated SiLU MLP. Code Llama checkpoints are Llama ones.

Mistral adds a sliding attention window on every layer, Qwen2 biases on the q/k/v projections and (optionally) a
window on the layers from `max_window_layers` on. Both are config classes plus renamed classes over this code.
"""

from __future__ import annotations

from torch import nn

from .. import causal
from ..causal import CausalLM, DecoderSpanHead, LastTokenClassification
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import (CausalMasks, GatedMLP, RMSNorm, RotaryEmbedding, apply_rotary, causal_attention, linear_layer)
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPast


class LlamaConfig(PretrainedConfig):
    model_type = "llama"
    keys_to_ignore_at_inference = ["past_key_values"]
    defaults = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=None, hidden_act="silu", max_position_embeddings=2048,
                    initializer_range=0.02, rms_norm_eps=1e-6, use_cache=True, pad_token_id=None, bos_token_id=1,
                    eos_token_id=2, pretraining_tp=1, tie_word_embeddings=False, rope_theta=10000.0,
                    rope_scaling=None, attention_bias=False, attention_dropout=0.0, mlp_bias=False, head_dim=None)
    multiples = (("num_attention_heads", "num_key_value_heads"),)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None:
            self.head_dim = self.hidden_size // self.num_attention_heads

    def _attention_biases(self) -> tuple[bool, bool]:
        """(bias on q/k/v, bias on o_proj)."""
        return self.attention_bias, self.attention_bias

    def _layer_windows(self) -> list:
        """The sliding window of each layer (None: full attention)."""
        window = getattr(self, "sliding_window", None)
        types = getattr(self, "layer_types", None)
        if types:
            return [window if kind == "sliding_attention" else None for kind in types]
        return [window] * self.num_hidden_layers


class MistralConfig(LlamaConfig):
    model_type = "mistral"
    defaults = dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, head_dim=None, hidden_act="silu",
                    max_position_embeddings=4096 * 32, initializer_range=0.02, rms_norm_eps=1e-6, use_cache=True,
                    pad_token_id=None, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False, rope_theta=10000.0,
                    sliding_window=4096, attention_dropout=0.0)

    def __init__(self, *args, **kwargs):
        PretrainedConfig.__init__(self, *args, **kwargs)
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads

    def _attention_biases(self):
        return False, False


class Qwen2Config(LlamaConfig):
    model_type = "qwen2"
    defaults = dict(vocab_size=151936, hidden_size=4096, intermediate_size=22016, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=32, hidden_act="silu", max_position_embeddings=32768,
                    initializer_range=0.02, rms_norm_eps=1e-6, use_cache=True, tie_word_embeddings=False,
                    rope_theta=10000.0, rope_scaling=None, use_sliding_window=False, sliding_window=4096,
                    max_window_layers=28, layer_types=None, attention_dropout=0.0)

    def __init__(self, *args, **kwargs):
        PretrainedConfig.__init__(self, *args, **kwargs)
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if not self.use_sliding_window:
            self.sliding_window = None
        if self.layer_types is None:
            self.layer_types = ["sliding_attention" if self.sliding_window is not None and i >= self.max_window_layers
                                else "full_attention" for i in range(self.num_hidden_layers)]
        if len(self.layer_types) != self.num_hidden_layers:
            raise ValueError(f"layer_types has {len(self.layer_types)} entries but the model has "
                             f"{self.num_hidden_layers} layers.")

    def _attention_biases(self):
        return True, False


def _head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


class LlamaAttention(nn.Module):
    def __init__(self, config, layer_idx: int, window: int | None):
        super().__init__()
        self.layer_idx, self.window = layer_idx, window
        self.head_dim = _head_dim(config)
        self.scaling = self.head_dim ** -0.5
        self.dropout = config.attention_dropout
        heads, kv_heads, hidden = config.num_attention_heads, config.num_key_value_heads, config.hidden_size
        qkv_bias, o_bias = config._attention_biases()
        self.q_proj = linear_layer(hidden, heads * self.head_dim, bias=qkv_bias)
        self.k_proj = linear_layer(hidden, kv_heads * self.head_dim, bias=qkv_bias)
        self.v_proj = linear_layer(hidden, kv_heads * self.head_dim, bias=qkv_bias)
        self.o_proj = linear_layer(heads * self.head_dim, hidden, bias=o_bias)

    def forward(self, x, step):
        batch, length, _ = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if length == 1:  # [batch, 1, heads * dim] already is [batch, heads, 1, dim] in memory
            shape = (batch, -1, 1, self.head_dim)
            q, k, v = q.view(shape), k.view(shape), v.view(shape)
        else:
            shape = (batch, length, -1, self.head_dim)
            q, k, v = q.view(shape).transpose(1, 2), k.view(shape).transpose(1, 2), v.view(shape).transpose(1, 2)
        cos, sin = step.rotary
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if step.cache is not None:
            k, v = step.cache.update(k, v, self.layer_idx, {"cache_position": step.cache_position, "sin": sin,
                                                             "cos": cos})
        mask, is_causal = step.masks(self.window)
        out, weights = causal_attention(q, k, v, mask, scaling=self.scaling, is_causal=is_causal,
                                        dropout=self.dropout if self.training else 0.0,
                                        need_weights=step.output_attentions)
        return self.o_proj(out), weights


class LlamaDecoderLayer(nn.Module):
    def __init__(self, config, layer_idx: int, window: int | None = None):
        super().__init__()
        self.self_attn = LlamaAttention(config, layer_idx, window)
        self.mlp = GatedMLP(config.hidden_size, config.intermediate_size, config.hidden_act,
                            bias=getattr(config, "mlp_bias", False))
        self.input_layernorm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, x, step):
        attn, weights = self.self_attn(self.input_layernorm(x), step)
        x = x + attn
        return x + self.mlp(self.post_attention_layernorm(x)), weights


class LlamaPreTrainedModel(PreTrainedModel):
    config_class = LlamaConfig
    base_model_prefix = "model"
    input_embeddings_path = "embed_tokens"
    _no_split_modules = ["LlamaDecoderLayer"]
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)


class LlamaModel(LlamaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.vocab_size = config.vocab_size
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        windows = config._layer_windows() if hasattr(config, "_layer_windows") else [None] * config.num_hidden_layers
        self.layers = nn.ModuleList(LlamaDecoderLayer(config, i, windows[i]) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        rotary_dim = int(_head_dim(config) * getattr(config, "partial_rotary_factor", 1.0))
        self.rotary_emb = RotaryEmbedding(rotary_dim, config.rope_theta, config.max_position_embeddings,
                                          getattr(config, "rope_scaling", None),
                                          getattr(config, "original_max_position_embeddings", None))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, **kwargs):
        step, batch, length = causal.start(self, input_ids, inputs_embeds, past_key_values, cache_position, kwargs,
                                           use_cache=use_cache, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=return_dict,
                                           attention_mask=attention_mask, position_ids=position_ids)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if position_ids is None:
            position_ids = step.cache_position[None]
        cos, sin = self.rotary_emb(position_ids, inputs_embeds.dtype)
        step.rotary = cos[:, None], sin[:, None]
        step.masks = CausalMasks(attention_mask, step.cache_position, length, causal.kv_length(step, length),
                                 inputs_embeds.dtype, step.past_length, layout=step.layout)
        x, hidden_states, attentions = causal.run_layers(self, self.layers, inputs_embeds, step)
        return causal.finish(step, self.norm(x), hidden_states, attentions, BaseModelOutputWithPast)


class LlamaForCausalLM(GenerationMixin, CausalLM, LlamaPreTrainedModel):
    base_model_class = LlamaModel

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


class LlamaForSequenceClassification(LastTokenClassification, LlamaPreTrainedModel):
    base_model_class = LlamaModel

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        return self.classify(locals())


class LlamaForTokenClassification(DecoderSpanHead, LlamaPreTrainedModel):
    base_model_class = LlamaModel

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        return self.classify_tokens(locals())


class LlamaForQuestionAnswering(DecoderSpanHead, LlamaPreTrainedModel):
    base_model_class = LlamaModel
    base_model_prefix = "transformer"  # (the reference's name for this head's base model)
    answers_spans = True

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return self.answer_span(locals())


def _renamed(prefix: str, config_class: type, qa_prefix: str) -> tuple[type, ...]:
    """The Llama classes under another name and config class (same weights layout; the question-answering head's
    base model is under `qa_prefix`)."""
    def make(name, bases, **attrs):
        return type(name, bases, {"config_class": config_class, "__module__": __name__, **attrs})

    pretrained = make(prefix + "PreTrainedModel", (LlamaPreTrainedModel,))
    base = make(prefix + "Model", (pretrained, LlamaModel))
    heads = [make(prefix + suffix, (head, pretrained), base_model_class=base, **extra) for suffix, head, extra in (
        ("ForCausalLM", LlamaForCausalLM, {}), ("ForSequenceClassification", LlamaForSequenceClassification, {}),
        ("ForTokenClassification", LlamaForTokenClassification, {}),
        ("ForQuestionAnswering", LlamaForQuestionAnswering, {"base_model_prefix": qa_prefix}))]
    return (pretrained, base, *heads)


(MistralPreTrainedModel, MistralModel, MistralForCausalLM, MistralForSequenceClassification,
 MistralForTokenClassification, MistralForQuestionAnswering) = _renamed("Mistral", MistralConfig, "model")
(Qwen2PreTrainedModel, Qwen2Model, Qwen2ForCausalLM, Qwen2ForSequenceClassification, Qwen2ForTokenClassification,
 Qwen2ForQuestionAnswering) = _renamed("Qwen2", Qwen2Config, "transformer")
