"""Phi (phi-1, phi-1.5, phi-2): attention and a plain GELU MLP side by side on one LayerNorm, partial rotary
positions (`partial_rotary_factor` of each head), biases everywhere including the LM head, and optionally a
LayerNorm over each head's queries and keys (`qk_layernorm`, one shared by all heads)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..causal import CausalLM, DecoderSpanHead, LastTokenClassification, RotaryAttention, RotaryDecoder
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import FeedForward, RotaryEmbedding, linear_layer, project, rope_type
from ..modeling import PreTrainedModel


class PhiConfig(PretrainedConfig):
    model_type = "phi"
    keys_to_ignore_at_inference = ["past_key_values"]
    defaults = dict(vocab_size=51200, hidden_size=2048, intermediate_size=8192, num_hidden_layers=24,
                    num_attention_heads=32, num_key_value_heads=None, resid_pdrop=0.0, embd_pdrop=0.0,
                    attention_dropout=0.0, hidden_act="gelu_new", max_position_embeddings=2048,
                    initializer_range=0.02, layer_norm_eps=1e-5, use_cache=True, tie_word_embeddings=False,
                    rope_theta=10000.0, rope_scaling=None, partial_rotary_factor=0.5, qk_layernorm=False,
                    bos_token_id=1, eos_token_id=2)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.rope_scaling is not None:
            if "type" in self.rope_scaling:
                self.rope_scaling["rope_type"] = self.rope_scaling["type"]
            rope_type(self.rope_scaling)


class PhiAttention(RotaryAttention):
    shared_input = (("q_proj", "k_proj", "v_proj"),)  # (see layers.project)

    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden, heads, kv_heads = config.hidden_size, config.num_attention_heads, config.num_key_value_heads
        self.layer_idx, self.head_dim = layer_idx, hidden // heads
        self.scaling = self.head_dim ** -0.5
        self.dropout = config.attention_dropout
        self.q_proj = linear_layer(hidden, heads * self.head_dim)
        self.k_proj = linear_layer(hidden, kv_heads * self.head_dim)
        self.v_proj = linear_layer(hidden, kv_heads * self.head_dim)
        self.dense = linear_layer(heads * self.head_dim, hidden)
        if config.qk_layernorm:
            self.q_layernorm = nn.LayerNorm(self.head_dim, eps=config.layer_norm_eps)
            self.k_layernorm = nn.LayerNorm(self.head_dim, eps=config.layer_norm_eps)
            self.heads_normed = True

    def norm_heads(self, q, k):
        return self.q_layernorm(q), self.k_layernorm(k)

    def forward(self, x, step):
        out, weights = self.attend(*project(x, self.q_proj, self.k_proj, self.v_proj), step)
        return self.dense(out), weights


class PhiDecoderLayer(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.self_attn = PhiAttention(config, layer_idx)
        self.mlp = FeedForward(config.hidden_size, config.intermediate_size, config.hidden_act)
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = config.resid_pdrop

    def forward(self, x, step):
        normed = self.input_layernorm(x)
        attn, weights = self.self_attn(normed, step)
        mlp = self.mlp(normed)
        if self.training and self.dropout:
            attn, mlp = F.dropout(attn, self.dropout, True), F.dropout(mlp, self.dropout, True)
        return attn + mlp + x, weights


class PhiPreTrainedModel(PreTrainedModel):
    config_class = PhiConfig
    base_model_prefix = "model"
    input_embeddings_path = "embed_tokens"
    _no_split_modules = ["PhiDecoderLayer"]


class PhiModel(RotaryDecoder, PhiPreTrainedModel):
    norm_name = "final_layernorm"

    def __init__(self, config):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id)
        self.embed_dropout = nn.Dropout(config.embd_pdrop)
        self.layers = nn.ModuleList(PhiDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        head_dim = config.hidden_size // config.num_attention_heads
        self.rotary_emb = RotaryEmbedding(int(head_dim * config.partial_rotary_factor), config.rope_theta,
                                          config.max_position_embeddings, config.rope_scaling)
        self.post_init()

    def embed(self, input_ids):
        return self.embed_dropout(self.embed_tokens(input_ids))

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, **kwargs):
        return self.decode(locals())


class PhiForCausalLM(GenerationMixin, CausalLM, PhiPreTrainedModel):
    base_model_class = PhiModel
    lm_head_bias = True

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


class PhiForSequenceClassification(LastTokenClassification, PhiPreTrainedModel):
    base_model_class = PhiModel

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        return self.classify(locals())


class PhiForTokenClassification(DecoderSpanHead, PhiPreTrainedModel):
    base_model_class = PhiModel

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        return self.classify_tokens(locals())
