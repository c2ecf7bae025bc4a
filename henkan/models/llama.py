"""Llama and the decoders built like it: pre-norm layers with rotary positions, grouped-query attention and a gated
MLP. Code Llama checkpoints are Llama ones. The others are config classes plus renamed classes over this code, each
config naming its `Layout` and answering a few questions (biases, windows, activation...):

| family   | norms                          | differs from Llama by                                                    |
| Mistral  | RMSNorm                        | a sliding attention window on every layer                                |
| Qwen2    | RMSNorm                        | q/k/v biases; a window on the layers from `max_window_layers` on         |
| Phi-3    | RMSNorm                        | fused `qkv_proj` and `gate_up_proj`; partial rotary; LongRoPE with the   |
|          |                                | trained length at top level; an optional window on every layer           |
| Gemma    | RMSNorm of 1 + weight          | embeddings x sqrt(hidden_size); tanh-GELU; tied head                     |
| Gemma 2  | RMSNorm of 1 + weight, also    | tanh soft-capping of attention scores and of the logits; sliding and     |
|          | after attention and the MLP    | full layers alternating; scores scaled by query_pre_attn_scalar          |
| Mixtral  | RMSNorm                        | a sparse mixture of experts for the MLP (router logits, auxiliary loss)  |
| StableLM | LayerNorm                      | partial rotary; optional q/k biases, per-head q/k LayerNorms (StableLM   |
|          |                                | 2) and parallel attention + MLP                                          |
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..causal import CausalLM, DecoderSpanHead, LastTokenClassification, RotaryAttention, RotaryDecoder
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import (GatedMLP, PerHeadLayerNorm, RMSNorm, RotaryEmbedding, SparseMoE, linear_layer,
                      load_balancing_loss, project)
from ..modeling import PreTrainedModel
from ..outputs import declare_output

MoeModelOutputWithPast = declare_output("MoeModelOutputWithPast", "last_hidden_state", "past_key_values",
                                        "hidden_states", "attentions", "router_logits", module=__name__)
MoeCausalLMOutputWithPast = declare_output("MoeCausalLMOutputWithPast", "loss", "aux_loss", "logits",
                                           "past_key_values", "hidden_states", "attentions", "router_logits",
                                           module=__name__)


@dataclass(frozen=True)
class Layout:
    """How a family arranges the shared blocks (see the module docstring)."""

    norm: str = "rms"  # "rms", "rms+1" (Gemma: zero-centred weights), "layer" (LayerNorm with bias)
    fused: bool = False  # one qkv_proj and one gate_up_proj (Phi-3)
    sandwich: bool = False  # norms after attention and after the MLP too (Gemma 2)
    scaled_embeddings: bool = False  # embeddings x sqrt(hidden_size) (Gemma)
    experts: bool = False  # a sparse mixture of experts as the MLP (Mixtral)


class LlamaConfig(PretrainedConfig):
    model_type = "llama"
    keys_to_ignore_at_inference = ["past_key_values"]
    layout = Layout()
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

    # what the shared code asks of each family
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

    def _mlp_activation(self) -> str:
        return self.hidden_act

    def _attention_scaling(self, head_dim: int) -> float:
        return head_dim ** -0.5

    def _norm_eps(self) -> float:
        return self.rms_norm_eps

    def _residual_dropout(self) -> tuple[float, float]:
        """Dropout on the attention's and on the MLP's output before they join the residual stream."""
        return 0.0, 0.0


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
        _check_layer_types(self)

    def _attention_biases(self):
        return True, False


def _check_layer_types(config) -> None:
    if len(config.layer_types) != config.num_hidden_layers:
        raise ValueError(f"layer_types has {len(config.layer_types)} entries but the model has "
                         f"{config.num_hidden_layers} layers.")


class Phi3Config(LlamaConfig):
    model_type = "phi3"
    mirrors_rope_type = False  # (its rope_scaling keeps the older "type" key alone, as the reference's does)
    layout = Layout(fused=True)
    defaults = dict(vocab_size=32064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=None, resid_pdrop=0.0, embd_pdrop=0.0,
                    attention_dropout=0.0, hidden_act="silu", max_position_embeddings=4096,
                    original_max_position_embeddings=4096, initializer_range=0.02, rms_norm_eps=1e-5, use_cache=True,
                    tie_word_embeddings=False, rope_theta=10000.0, rope_scaling=None, partial_rotary_factor=1.0,
                    bos_token_id=1, eos_token_id=32000, pad_token_id=32000, sliding_window=None)

    def __init__(self, *args, **kwargs):
        PretrainedConfig.__init__(self, *args, **kwargs)
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        scaling = self.rope_scaling
        if scaling is None:
            return
        if not isinstance(scaling, dict):
            raise ValueError(f"rope_scaling must be a dict with `type`, `short_factor` and `long_factor`, got "
                             f"{scaling!r}.")
        if scaling.get("type") in ("su", "yarn"):  # the names of LongRoPE in early Phi-3 configs
            scaling["type"] = "longrope"
        if scaling.get("type", scaling.get("rope_type")) != "longrope":
            raise ValueError(f"Phi-3's rope_scaling type must be 'longrope', got {scaling!r}.")
        half = int(self.hidden_size // self.num_attention_heads * self.partial_rotary_factor) // 2
        for key in ("short_factor", "long_factor"):
            factors = scaling.get(key)
            if not isinstance(factors, list) or len(factors) != half or \
                    not all(isinstance(x, (int, float)) for x in factors):
                raise ValueError(f"rope_scaling's {key} must be a list of {half} numbers (half the rotary dims), "
                                 f"got {factors!r}.")

    def _attention_biases(self):
        return False, False

    def _residual_dropout(self):
        return self.resid_pdrop, self.resid_pdrop


class GemmaConfig(LlamaConfig):
    model_type = "gemma"
    layout = Layout(norm="rms+1", scaled_embeddings=True)
    defaults = dict(vocab_size=256000, hidden_size=3072, intermediate_size=24576, num_hidden_layers=28,
                    num_attention_heads=16, num_key_value_heads=16, head_dim=256, hidden_act="gelu_pytorch_tanh",
                    hidden_activation=None, max_position_embeddings=8192, initializer_range=0.02, rms_norm_eps=1e-6,
                    use_cache=True, pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True,
                    rope_theta=10000.0, attention_bias=False, attention_dropout=0.0)

    def __init__(self, *args, **kwargs):
        PretrainedConfig.__init__(self, *args, **kwargs)


class Gemma2Config(GemmaConfig):
    model_type = "gemma2"
    layout = Layout(norm="rms+1", sandwich=True, scaled_embeddings=True)
    defaults = dict(vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
                    num_attention_heads=8, num_key_value_heads=4, head_dim=256, hidden_activation="gelu_pytorch_tanh",
                    max_position_embeddings=8192, initializer_range=0.02, rms_norm_eps=1e-6, use_cache=True,
                    pad_token_id=0, eos_token_id=1, bos_token_id=2, tie_word_embeddings=True, rope_theta=10000.0,
                    attention_bias=False, attention_dropout=0.0, query_pre_attn_scalar=256, sliding_window=4096,
                    layer_types=None, final_logit_softcapping=30.0, attn_logit_softcapping=50.0)

    def __init__(self, *args, **kwargs):
        PretrainedConfig.__init__(self, *args, **kwargs)
        if self.layer_types is None:  # sliding, full, sliding, ...
            self.layer_types = ["sliding_attention" if (i + 1) % 2 else "full_attention"
                                for i in range(self.num_hidden_layers)]
        _check_layer_types(self)

    def _mlp_activation(self):
        return self.hidden_activation

    def _attention_scaling(self, head_dim):
        return self.query_pre_attn_scalar ** -0.5


class MixtralConfig(LlamaConfig):
    model_type = "mixtral"
    layout = Layout(experts=True)
    defaults = dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=8, head_dim=None, hidden_act="silu",
                    max_position_embeddings=4096 * 32, initializer_range=0.02, rms_norm_eps=1e-5, use_cache=True,
                    pad_token_id=None, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False,
                    rope_theta=1e6, sliding_window=None, attention_dropout=0.0, num_experts_per_tok=2,
                    num_local_experts=8, output_router_logits=False, router_aux_loss_coef=0.001,
                    router_jitter_noise=0.0)

    def __init__(self, *args, **kwargs):
        PretrainedConfig.__init__(self, *args, **kwargs)
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if not 0 < self.num_experts_per_tok <= self.num_local_experts:
            raise ValueError(f"num_experts_per_tok ({self.num_experts_per_tok}) must be between 1 and "
                             f"num_local_experts ({self.num_local_experts}): each token is routed to that many of "
                             f"the experts.")

    def _attention_biases(self):
        return False, False


class StableLmConfig(LlamaConfig):
    model_type = "stablelm"
    layout = Layout(norm="layer")
    defaults = dict(vocab_size=50304, intermediate_size=6912, hidden_size=2560, num_hidden_layers=32,
                    num_attention_heads=32, num_key_value_heads=32, hidden_act="silu", max_position_embeddings=4096,
                    initializer_range=0.02, layer_norm_eps=1e-5, use_cache=True, tie_word_embeddings=False,
                    rope_theta=10000, rope_scaling=None, use_qkv_bias=False, qk_layernorm=False,
                    use_parallel_residual=False, hidden_dropout=0.0, attention_dropout=0.0,
                    partial_rotary_factor=0.25, bos_token_id=0, eos_token_id=0)

    def __init__(self, *args, **kwargs):
        PretrainedConfig.__init__(self, *args, **kwargs)

    def _attention_biases(self):
        return self.use_qkv_bias, False

    def _norm_eps(self):
        return self.layer_norm_eps

    def _residual_dropout(self):
        return 0.0, self.hidden_dropout


def _head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _norm(config) -> nn.Module:
    kind, size, eps = config.layout.norm, config.hidden_size, config._norm_eps()
    if kind == "layer":
        return nn.LayerNorm(size, eps=eps)
    return RMSNorm(size, eps=eps, offset=kind == "rms+1")


class LlamaAttention(RotaryAttention):
    shared_input = (("q_proj", "k_proj", "v_proj"),)  # (see layers.project)

    def __init__(self, config, layer_idx: int, window: int | None):
        super().__init__()
        self.layer_idx, self.window = layer_idx, window
        self.head_dim = _head_dim(config)
        self.scaling = config._attention_scaling(self.head_dim)
        self.softcap = getattr(config, "attn_logit_softcapping", None)
        self.dropout = config.attention_dropout
        heads, kv_heads, hidden = config.num_attention_heads, config.num_key_value_heads, config.hidden_size
        self.q_size, self.kv_size = heads * self.head_dim, kv_heads * self.head_dim
        qkv_bias, o_bias = config._attention_biases()
        if config.layout.fused:
            self.qkv_proj = linear_layer(hidden, self.q_size + 2 * self.kv_size, bias=qkv_bias)
        else:
            self.q_proj = linear_layer(hidden, self.q_size, bias=qkv_bias)
            self.k_proj = linear_layer(hidden, self.kv_size, bias=qkv_bias)
            self.v_proj = linear_layer(hidden, self.kv_size, bias=qkv_bias)
        self.o_proj = linear_layer(self.q_size, hidden, bias=o_bias)
        if getattr(config, "qk_layernorm", False):
            self.q_layernorm = PerHeadLayerNorm(self.head_dim, heads, eps=config._norm_eps())
            self.k_layernorm = PerHeadLayerNorm(self.head_dim, kv_heads, eps=config._norm_eps())
            self.heads_normed = True
        self.fused = config.layout.fused

    def norm_heads(self, q, k):
        return self.q_layernorm(q), self.k_layernorm(k)

    def forward(self, x, step):
        if self.fused:
            q, k, v = self.qkv_proj(x).split((self.q_size, self.kv_size, self.kv_size), dim=-1)
        else:
            q, k, v = project(x, self.q_proj, self.k_proj, self.v_proj)
        out, weights = self.attend(q, k, v, step)
        return self.o_proj(out), weights


class LlamaDecoderLayer(nn.Module):
    def __init__(self, config, layer_idx: int, window: int | None = None):
        super().__init__()
        layout = config.layout
        hidden = config.hidden_size
        self.self_attn = LlamaAttention(config, layer_idx, window)
        if layout.experts:
            self.block_sparse_moe = SparseMoE(hidden, config.intermediate_size, config.num_local_experts,
                                              config.num_experts_per_tok, config.hidden_act,
                                              config.router_jitter_noise)
        else:
            self.mlp = GatedMLP(hidden, config.intermediate_size, config._mlp_activation(),
                                bias=getattr(config, "mlp_bias", False), fused=layout.fused)
        self.input_layernorm = _norm(config)
        self.parallel = getattr(config, "use_parallel_residual", False)
        if not self.parallel:
            self.post_attention_layernorm = _norm(config)
        self.sandwich = layout.sandwich
        if self.sandwich:
            self.pre_feedforward_layernorm = _norm(config)
            self.post_feedforward_layernorm = _norm(config)
        self.attn_dropout, self.mlp_dropout = config._residual_dropout()

    def feed_forward(self, x, step):
        if "block_sparse_moe" not in self._modules:
            return self.mlp(x)
        x, router_logits = self.block_sparse_moe(x)
        if step.router_logits is not None:
            step.router_logits.append(router_logits)
        return x

    def forward(self, x, step):
        normed = self.input_layernorm(x)
        attn, weights = self.self_attn(normed, step)
        if self.parallel:
            return x + attn + self._drop(self.feed_forward(normed, step), self.mlp_dropout), weights
        if self.sandwich:
            attn = self.post_attention_layernorm(attn)
        x = x + self._drop(attn, self.attn_dropout)
        h = self.feed_forward((self.pre_feedforward_layernorm if self.sandwich else self.post_attention_layernorm)(x),
                              step)
        if self.sandwich:
            h = self.post_feedforward_layernorm(h)
        return x + self._drop(h, self.mlp_dropout), weights

    def _drop(self, x, p: float):
        return F.dropout(x, p, True) if p and self.training else x


class LlamaPreTrainedModel(PreTrainedModel):
    config_class = LlamaConfig
    base_model_prefix = "model"
    input_embeddings_path = "embed_tokens"
    _no_split_modules = ["LlamaDecoderLayer"]
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, RMSNorm):
            (nn.init.zeros_ if module.offset else nn.init.ones_)(module.weight)

    def _explain_mismatch(self, key: str, shape: tuple) -> str:
        if not key.endswith("qkv_proj.weight"):
            return ""
        config = self.config
        head_dim = _head_dim(config)
        return (f" (the fused q/k/v rows: {config.num_attention_heads} query heads + 2 x "
                f"{config.num_key_value_heads} key/value heads, {head_dim} dims each, by the config; the checkpoint's "
                f"{shape[0]} rows do not split that way: check num_attention_heads, num_key_value_heads and head_dim "
                f"in config.json)")


class LlamaModel(RotaryDecoder, LlamaPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.vocab_size = config.vocab_size
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        windows = config._layer_windows()
        self.layers = nn.ModuleList(LlamaDecoderLayer(config, i, windows[i]) for i in range(config.num_hidden_layers))
        self.norm = _norm(config)
        rotary_dim = int(_head_dim(config) * getattr(config, "partial_rotary_factor", 1.0))
        self.rotary_emb = RotaryEmbedding(rotary_dim, config.rope_theta, config.max_position_embeddings,
                                          getattr(config, "rope_scaling", None),
                                          getattr(config, "original_max_position_embeddings", None))
        self.post_init()

    def embed(self, input_ids):
        x = self.embed_tokens(input_ids)
        if self.config.layout.scaled_embeddings:  # (the factor rounded to the dtype, as the reference does)
            x = x * torch.tensor(math.sqrt(self.config.hidden_size), dtype=x.dtype)
        return x

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, **kwargs):
        return self.decode(locals())


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


def _renamed(prefix: str, config_class: type, qa_prefix: str = "model", model: tuple = (),
             lm: tuple = ()) -> tuple[type, ...]:
    """The Llama classes under another name and config class (same weights layout, same `model.` prefix; the
    question-answering head's base model under `qa_prefix`); `model` and `lm` are mixins put first in the bases of
    the base model and of the causal LM."""
    def make(suffix, bases, **attrs):
        return type(prefix + suffix, bases, {"config_class": config_class, "__module__": __name__, **attrs})

    pretrained = make("PreTrainedModel", (LlamaPreTrainedModel,))
    base = make("Model", (*model, pretrained, LlamaModel))
    causal_lm = make("ForCausalLM", (*lm, LlamaForCausalLM, pretrained), base_model_class=base)
    classifier = make("ForSequenceClassification", (LlamaForSequenceClassification, pretrained),
                      base_model_class=base)
    tokens = make("ForTokenClassification", (LlamaForTokenClassification, pretrained), base_model_class=base)
    answers = make("ForQuestionAnswering", (LlamaForQuestionAnswering, pretrained), base_model_class=base,
                   base_model_prefix=qa_prefix)
    return pretrained, base, causal_lm, classifier, tokens, answers


class _LongRoPEHead:
    """Phi-3's LongRoPE switches to its long factors once the sequence outgrows the trained length, and the keys
    cached before then were rotated with the short ones: `generate` recomputes the whole sequence at that step (the
    reference's way), then goes on with the cache."""

    def _cache_invalid_after(self) -> int | None:
        config = self.config
        return config.original_max_position_embeddings if config.rope_scaling else None


class _SoftcappedHead:
    """Gemma 2's logits, squashed to (-final_logit_softcapping, final_logit_softcapping) by tanh."""

    def head(self, hidden):
        logits = self.lm_head(hidden)
        cap = self.config.final_logit_softcapping
        return logits if cap is None else torch.tanh(logits / cap) * cap


class _RouterLogitsModel:
    """A mixture-of-experts base model: with `output_router_logits` its output carries each layer's router logits."""

    output_class = MoeModelOutputWithPast

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                output_router_logits=None, return_dict=None, cache_position=None, **kwargs):
        return self.decode(locals())


class _RouterLogitsHead:
    """Mixtral's head: with `output_router_logits` the output carries each layer's router logits and the auxiliary
    load-balancing loss, which joins the LM loss weighted by `router_aux_loss_coef`."""

    output_class = MoeCausalLMOutputWithPast
    base_inputs = LlamaForCausalLM.base_inputs + ("output_router_logits",)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                output_router_logits=None, return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())

    def extra_outputs(self, outputs, arguments: dict, loss):
        router_logits = outputs.get("router_logits")
        if router_logits is None:
            return loss, {}
        config = self.config
        aux = load_balancing_loss(router_logits, config.num_local_experts, config.num_experts_per_tok,
                                  arguments.get("attention_mask"))
        if loss is not None:
            loss = loss + config.router_aux_loss_coef * aux.to(loss.device)
        return loss, {"aux_loss": aux, "router_logits": router_logits}


(MistralPreTrainedModel, MistralModel, MistralForCausalLM, MistralForSequenceClassification,
 MistralForTokenClassification, MistralForQuestionAnswering) = _renamed("Mistral", MistralConfig)
(Qwen2PreTrainedModel, Qwen2Model, Qwen2ForCausalLM, Qwen2ForSequenceClassification, Qwen2ForTokenClassification,
 Qwen2ForQuestionAnswering) = _renamed("Qwen2", Qwen2Config, "transformer")
(Phi3PreTrainedModel, Phi3Model, Phi3ForCausalLM, Phi3ForSequenceClassification, Phi3ForTokenClassification,
 _) = _renamed("Phi3", Phi3Config, lm=(_LongRoPEHead,))
(GemmaPreTrainedModel, GemmaModel, GemmaForCausalLM, GemmaForSequenceClassification, GemmaForTokenClassification,
 _) = _renamed("Gemma", GemmaConfig)
(Gemma2PreTrainedModel, Gemma2Model, Gemma2ForCausalLM, Gemma2ForSequenceClassification,
 Gemma2ForTokenClassification, _) = _renamed("Gemma2", Gemma2Config, lm=(_SoftcappedHead,))
(MixtralPreTrainedModel, MixtralModel, MixtralForCausalLM, MixtralForSequenceClassification,
 MixtralForTokenClassification, MixtralForQuestionAnswering) = _renamed(
    "Mixtral", MixtralConfig, model=(_RouterLogitsModel,), lm=(_RouterLogitsHead,))
(StableLmPreTrainedModel, StableLmModel, StableLmForCausalLM, StableLmForSequenceClassification,
 StableLmForTokenClassification, _) = _renamed("StableLm", StableLmConfig)
del _
