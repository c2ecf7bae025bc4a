"""Falcon: a decoder with one fused `query_key_value` projection, rotary positions (or ALiBi, as Falcon-RW), and
attention and MLP side by side. Three layouts of the fused projection:

| layout                                   | rows of query_key_value, in order                                    |
| new_decoder_architecture (40B, 180B, 11B)| per key/value head: its group of query heads, then its key, its value |
| multi_query (7B)                         | every query head, then one key and one value head                     |
| neither (RW)                             | per head: query, key, value                                           |

The new architecture norms the attention's and the MLP's inputs apart (`ln_attn`, `ln_mlp`) unless
`num_ln_in_parallel_attn` is 1; the old one shares `input_layernorm`, or with `parallel_attn=False` runs attention
then MLP with a `post_attention_layernorm` between."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..causal import CausalLM, DecoderSpanHead, LastTokenClassification, RotaryAttention, RotaryDecoder
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import FeedForward, RotaryEmbedding, linear_layer, per_layer_head_mask, rope_type
from ..modeling import PreTrainedModel
from .bloom import alibi_with_mask


class FalconConfig(PretrainedConfig):
    model_type = "falcon"
    keys_to_ignore_at_inference = ["past_key_values"]
    defaults = dict(vocab_size=65024, hidden_size=4544, num_hidden_layers=32, num_attention_heads=71,
                    num_ln_in_parallel_attn=None, layer_norm_epsilon=1e-5, initializer_range=0.02, use_cache=True,
                    hidden_dropout=0.0, attention_dropout=0.0, num_kv_heads=None, alibi=False,
                    new_decoder_architecture=False, multi_query=True, parallel_attn=True, bias=False,
                    max_position_embeddings=2048, rope_theta=10000.0, rope_scaling=None, bos_token_id=11,
                    eos_token_id=11, ffn_hidden_size=None, activation="gelu")

    def __init__(self, *args, **kwargs):
        if "n_embed" in kwargs:  # the name in early Falcon configs
            kwargs["hidden_size"] = kwargs.pop("n_embed")
        super().__init__(*args, **kwargs)
        if self.num_kv_heads is None:
            self.num_kv_heads = self.num_attention_heads
        if self.ffn_hidden_size is None:
            self.ffn_hidden_size = self.hidden_size * 4
        if self.rope_scaling is not None:
            rope_type(self.rope_scaling)

    @property
    def head_dim(self):
        return self.hidden_size // self.num_attention_heads

    @property
    def rotary(self):
        return not self.alibi

    @property
    def num_key_value_heads(self):
        """The key/value heads each layer caches."""
        return self.num_kv_heads if self.new_decoder_architecture or not self.multi_query else 1


class FalconAttention(RotaryAttention):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden, heads = config.hidden_size, config.num_attention_heads
        self.layer_idx, self.head_dim, self.num_heads = layer_idx, hidden // heads, heads
        if self.head_dim * heads != hidden:
            raise ValueError(f"hidden_size ({hidden}) must be divisible by num_attention_heads ({heads}).")
        self.scaling = 1.0 / math.sqrt(self.head_dim)
        self.dropout = config.attention_dropout
        self.layout = ("new" if config.new_decoder_architecture else "multi_query" if config.multi_query
                       else "per_head")
        self.num_kv_heads = config.num_kv_heads if self.layout != "multi_query" else 1
        if self.layout == "new" and heads % self.num_kv_heads:
            raise ValueError(f"num_attention_heads ({heads}) must be a multiple of num_kv_heads "
                             f"({self.num_kv_heads}): each key/value head serves a whole group of query heads.")
        rows = {"new": (2 * self.num_kv_heads + heads) * self.head_dim, "multi_query": hidden + 2 * self.head_dim,
                "per_head": 3 * hidden}[self.layout]
        self.query_key_value = linear_layer(hidden, rows, bias=config.bias)
        self.dense = linear_layer(hidden, hidden, bias=config.bias)

    def forward(self, x, step):
        batch, length = x.shape[:2]
        fused = self.query_key_value(x)
        if self.layout == "new":
            fused = fused.view(batch, length, self.num_kv_heads, -1, self.head_dim)
            q, k, v = fused[:, :, :, :-2].flatten(2, 3), fused[:, :, :, -2], fused[:, :, :, -1]
        elif self.layout == "multi_query":
            fused = fused.view(batch, length, -1, self.head_dim)
            q, k, v = fused[:, :, :-2], fused[:, :, -2:-1], fused[:, :, -1:]
        else:
            fused = fused.view(batch, length, self.num_heads, 3, self.head_dim)
            q, k, v = fused[..., 0, :], fused[..., 1, :], fused[..., 2, :]
        out, weights = self.attend(q, k, v, step)
        return self.dense(out), weights


class FalconDecoderLayer(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden, eps = config.hidden_size, config.layer_norm_epsilon
        self.self_attention = FalconAttention(config, layer_idx)
        self.mlp = FeedForward(config.hidden_size, config.ffn_hidden_size, config.activation, bias=config.bias,
                               names=("dense_h_to_4h", "dense_4h_to_h"))
        self.new = config.new_decoder_architecture
        self.two_norms = config.parallel_attn and (config.num_ln_in_parallel_attn or (2 if self.new else 1)) == 2
        self.parallel = self.new or config.parallel_attn
        if self.two_norms:
            self.ln_attn = nn.LayerNorm(hidden, eps=eps)
            self.ln_mlp = nn.LayerNorm(hidden, eps=eps)
        else:
            self.input_layernorm = nn.LayerNorm(hidden, eps=eps)
            if not config.parallel_attn:
                self.post_attention_layernorm = nn.LayerNorm(hidden, eps=eps)
        self.attention_dropout, self.hidden_dropout = config.attention_dropout, config.hidden_dropout

    def forward(self, x, step):
        normed = self.ln_attn(x) if self.two_norms else self.input_layernorm(x)
        attn, weights = self.self_attention(normed, step)
        if self.two_norms:
            mlp_in = self.ln_mlp(x)
        elif self.parallel:
            mlp_in = normed
        else:
            x = x + F.dropout(attn, self.attention_dropout, self.training)
            mlp_in = self.post_attention_layernorm(x)
        out = self.mlp(mlp_in)
        if self.parallel:
            out = out + attn
        return x + F.dropout(out, self.hidden_dropout, self.training), weights


class FalconPreTrainedModel(PreTrainedModel):
    config_class = FalconConfig
    base_model_prefix = "transformer"
    input_embeddings_path = "word_embeddings"
    _no_split_modules = ["FalconDecoderLayer"]


class FalconModel(RotaryDecoder, FalconPreTrainedModel):
    embedding_name, norm_name, layers_name = "word_embeddings", "ln_f", "h"

    def __init__(self, config):
        super().__init__(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.h = nn.ModuleList(FalconDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.ln_f = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_epsilon)
        self.rotary_emb = None if config.alibi else RotaryEmbedding(
            config.head_dim, config.rope_theta, config.max_position_embeddings, config.rope_scaling)
        self.post_init()

    def prepare(self, step, x, attention_mask, head_mask) -> None:
        if head_mask is not None:
            step.extra = {"head_mask": per_layer_head_mask(head_mask, self.config.num_hidden_layers, x.dtype)}
        if self.config.alibi:  # scaled like the scores, (q.k + alibi) / sqrt(head_dim); slopes x positions in bf16
            step.bias = alibi_with_mask(step, attention_mask, x.shape[0], x.shape[1], self.config.num_attention_heads,
                                        x, scale=1.0 / math.sqrt(self.config.head_dim),
                                        slope_dtype=torch.bfloat16)

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, position_ids=None, head_mask=None,
                inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, **kwargs):
        return self.decode(locals())


_INPUTS = CausalLM.base_inputs + ("head_mask",)


class FalconForCausalLM(GenerationMixin, CausalLM, FalconPreTrainedModel):
    base_model_class = FalconModel
    base_inputs = _INPUTS

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


class FalconForSequenceClassification(LastTokenClassification, FalconPreTrainedModel):
    base_model_class = FalconModel
    base_inputs = _INPUTS

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, head_mask=None, inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        return self.classify(locals())


class FalconForTokenClassification(DecoderSpanHead, FalconPreTrainedModel):
    base_model_class = FalconModel
    base_inputs = _INPUTS
    classifier_name = "classifier"

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, head_mask=None, inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        return self.classify_tokens(locals())


class FalconForQuestionAnswering(DecoderSpanHead, FalconPreTrainedModel):
    base_model_class = FalconModel
    base_inputs = _INPUTS
    answers_spans = True

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None, start_positions=None,
                end_positions=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        return self.answer_span(locals())
