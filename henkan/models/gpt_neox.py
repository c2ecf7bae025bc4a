"""GPT-NeoX (Pythia, and the Japanese GPT-NeoX checkpoints): a pre-LayerNorm decoder with partial rotary positions
(`rotary_pct` of each head) and one `query_key_value` projection laid out per head ([heads, (q, k, v), head_dim]).
Attention and MLP run side by side on the input (`use_parallel_residual`, the default), or one after the other."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from ..causal import (CausalLM, GPT2StyleQuestionAnswering, GPT2StyleTokenClassification, LastTokenClassification,
                      RotaryAttention, RotaryDecoder)
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import FeedForward, RotaryEmbedding, linear_layer, rope_type
from ..modeling import PreTrainedModel


class GPTNeoXConfig(PretrainedConfig):
    model_type = "gpt_neox"
    keys_to_ignore_at_inference = ["past_key_values"]
    defaults = dict(vocab_size=50432, hidden_size=6144, num_hidden_layers=44, num_attention_heads=64,
                    intermediate_size=24576, hidden_act="gelu", rotary_pct=0.25, rotary_emb_base=10000,
                    attention_dropout=0.0, hidden_dropout=0.0, classifier_dropout=0.1, max_position_embeddings=2048,
                    initializer_range=0.02, layer_norm_eps=1e-5, use_cache=True, bos_token_id=0, eos_token_id=2,
                    tie_word_embeddings=False, use_parallel_residual=True, rope_scaling=None, attention_bias=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.partial_rotary_factor = self.rotary_pct
        self.rope_theta = self.rotary_emb_base
        if self.rope_scaling is not None:
            if "type" in self.rope_scaling:
                self.rope_scaling["rope_type"] = self.rope_scaling["type"]
            rope_type(self.rope_scaling)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                             f"({self.num_attention_heads}).")


class GPTNeoXAttention(RotaryAttention):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden, heads = config.hidden_size, config.num_attention_heads
        self.layer_idx, self.head_dim = layer_idx, hidden // heads
        self.scaling = self.head_dim ** -0.5
        self.dropout = config.attention_dropout
        self.query_key_value = linear_layer(hidden, 3 * hidden, bias=config.attention_bias)
        self.dense = linear_layer(hidden, hidden, bias=config.attention_bias)

    def forward(self, x, step):
        q, k, v = self.query_key_value(x).view(*x.shape[:2], -1, 3 * self.head_dim).chunk(3, dim=-1)
        out, weights = self.attend(q, k, v, step)
        return self.dense(out), weights


class GPTNeoXLayer(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden, eps = config.hidden_size, config.layer_norm_eps
        self.use_parallel_residual = config.use_parallel_residual
        self.input_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.post_attention_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.attention = GPTNeoXAttention(config, layer_idx)
        self.mlp = FeedForward(config.hidden_size, config.intermediate_size, config.hidden_act,
                               names=("dense_h_to_4h", "dense_4h_to_h"))
        self.dropout = config.hidden_dropout

    def forward(self, x, step):
        attn, weights = self.attention(self.input_layernorm(x), step)
        attn = F.dropout(attn, self.dropout, self.training)
        if self.use_parallel_residual:
            mlp = self.mlp(self.post_attention_layernorm(x))
            return F.dropout(mlp, self.dropout, self.training) + attn + x, weights
        attn = attn + x
        return F.dropout(self.mlp(self.post_attention_layernorm(attn)), self.dropout, self.training) + attn, weights


class GPTNeoXPreTrainedModel(PreTrainedModel):
    config_class = GPTNeoXConfig
    base_model_prefix = "gpt_neox"
    input_embeddings_path = "embed_in"
    _no_split_modules = ["GPTNeoXLayer"]
    _keys_to_ignore_on_load_unexpected = [r"attention\.(masked_)?bias$", r"attention\.rotary_emb\.inv_freq$"]


class GPTNeoXModel(RotaryDecoder, GPTNeoXPreTrainedModel):
    embedding_name, norm_name = "embed_in", "final_layer_norm"

    def __init__(self, config):
        super().__init__(config)
        self.embed_in = nn.Embedding(config.vocab_size, config.hidden_size)
        self.emb_dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(GPTNeoXLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        head_dim = config.hidden_size // config.num_attention_heads
        self.rotary_emb = RotaryEmbedding(int(head_dim * config.rotary_pct), config.rotary_emb_base,
                                          config.max_position_embeddings, config.rope_scaling)
        self.post_init()

    def embed(self, input_ids):
        return self.emb_dropout(self.embed_in(input_ids))

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, past_key_values=None,
                inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, **kwargs):
        return self.decode(locals())


_INPUTS = CausalLM.base_inputs + ("head_mask",)


class GPTNeoXForCausalLM(GenerationMixin, CausalLM, GPTNeoXPreTrainedModel):
    base_model_class = GPTNeoXModel
    base_inputs = _INPUTS
    _tied_weights_keys = ["embed_out.weight"]

    def build_head(self, config) -> None:
        self.embed_out = linear_layer(config.hidden_size, config.vocab_size, bias=False)

    def head(self, hidden):
        return self.embed_out(hidden)

    def get_output_embeddings(self):
        return self.embed_out

    def set_output_embeddings(self, new_embeddings):
        self.embed_out = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, head_mask=None,
                past_key_values=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


class GPTNeoXForSequenceClassification(LastTokenClassification, GPTNeoXPreTrainedModel):
    base_model_class = GPTNeoXModel
    base_inputs = _INPUTS

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None, head_mask=None,
                past_key_values=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        return self.classify(locals())


class GPTNeoXForTokenClassification(GPT2StyleTokenClassification, GPTNeoXPreTrainedModel):
    """(`token_type_ids` is accepted and unused, as in the reference: the base model has no token types.)"""

    base_model_class = GPTNeoXModel
    base_inputs = _INPUTS


class GPTNeoXForQuestionAnswering(GPT2StyleQuestionAnswering, GPTNeoXPreTrainedModel):
    """(`token_type_ids` is accepted and unused, as in the reference.)"""

    base_model_class = GPTNeoXModel
    base_inputs = _INPUTS
