"""GPT-J and CodeGen: decoders with attention and MLP side by side on one LayerNorm, partial interleaved rotary
positions on the first `rotary_dim` dims of each head, and attention scores in float32. GPT-J projects q, k and v
apart; CodeGen from one projection laid out for 4-way model parallelism: [4 shards, (q, v, k), heads / 4,
head_dim]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import GPT2StyleCausalLM, GPT2StyleQuestionAnswering, GPT2StyleSequenceClassification
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import (CausalMasks, FeedForward, RotaryEmbedding, apply_rotary, causal_attention, linear_layer,
                      per_layer_head_mask, project)
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPast

_SHARDS = 4  # the model-parallel split the fused projection was trained with


class GPTJConfig(PretrainedConfig):
    model_type = "gptj"
    attribute_map = {"max_position_embeddings": "n_positions", "hidden_size": "n_embd",
                     "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}
    defaults = dict(vocab_size=50400, n_positions=2048, n_embd=4096, n_layer=28, n_head=16, rotary_dim=64,
                    n_inner=None, activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                    layer_norm_epsilon=1e-5, initializer_range=0.02, use_cache=True, bos_token_id=50256,
                    eos_token_id=50256, tie_word_embeddings=False)


class CodeGenConfig(PretrainedConfig):
    model_type = "codegen"
    attribute_map = {"max_position_embeddings": "n_positions", "hidden_size": "n_embd",
                     "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}
    defaults = dict(vocab_size=50400, n_positions=2048, n_ctx=2048, n_embd=4096, n_layer=28, n_head=16,
                    rotary_dim=64, n_inner=None, activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0,
                    attn_pdrop=0.0, layer_norm_epsilon=1e-5, initializer_range=0.02, use_cache=True,
                    bos_token_id=50256, eos_token_id=50256, tie_word_embeddings=False)
    multiples = (("hidden_size", "num_attention_heads"),)


class CodeGenAttention(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden = config.hidden_size
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_dim = hidden // self.num_heads
        if self.head_dim * self.num_heads != hidden or self.num_heads % _SHARDS:
            raise ValueError(f"CodeGen needs hidden_size divisible by the number of heads and heads divisible by "
                             f"{_SHARDS} (got {hidden} and {self.num_heads}).")
        self.scaling = 1.0 / float(torch.tensor(self.head_dim, dtype=torch.float32, device="cpu").sqrt())
        self.rotary_dim = config.rotary_dim or self.head_dim
        self.qkv_proj = linear_layer(hidden, 3 * hidden, bias=False)
        self.out_proj = linear_layer(hidden, hidden, bias=False)
        self.attn_dropout, self.resid_dropout = config.attn_pdrop, config.resid_pdrop

    def qkv(self, x):
        """Queries, keys and values [batch, seq, heads, head_dim]."""
        batch, length, _ = x.shape
        shards = self.qkv_proj(x).view(batch, length, _SHARDS, 3, self.num_heads // _SHARDS, self.head_dim)
        q, v, k = (shards[:, :, :, i].reshape(batch, length, self.num_heads, self.head_dim) for i in range(3))
        return q, k, v

    def forward(self, x, step, head_mask=None):
        q, k, v = self.qkv(x)
        cos, sin = step.rotary  # float32, [batch, seq, 1, rotary_dim]
        r = self.rotary_dim
        q = torch.cat((apply_rotary(q[..., :r], cos, sin, interleaved=True), q[..., r:].float()), dim=-1)
        k = torch.cat((apply_rotary(k[..., :r], cos, sin, interleaved=True), k[..., r:].float()), dim=-1)
        q, k, v = q.transpose(1, 2), k.to(x.dtype).transpose(1, 2), v.transpose(1, 2)
        if step.cache is not None:
            k, v = step.cache.update(k, v, self.layer_idx, {"cache_position": step.cache_position,
                                                             "partial_rotation_size": r})
        mask, is_causal = step.masks()
        out, weights = causal_attention(q, k.float(), v.float(), mask if mask is None else mask.float(),
                                        scaling=self.scaling, is_causal=is_causal,
                                        dropout=self.attn_dropout if self.training else 0.0,
                                        need_weights=step.output_attentions, head_mask=head_mask)
        out = self.out_proj(out.to(x.dtype))
        return F.dropout(out, self.resid_dropout, self.training), weights


class GPTJAttention(CodeGenAttention):
    shared_input = (("q_proj", "k_proj", "v_proj"),)  # (see layers.project)

    def __init__(self, config, layer_idx: int):
        nn.Module.__init__(self)
        hidden = config.hidden_size
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_dim = hidden // self.num_heads
        if self.head_dim * self.num_heads != hidden:
            raise ValueError(f"hidden_size ({hidden}) must be divisible by the number of heads ({self.num_heads}).")
        self.scaling = 1.0 / float(torch.tensor(self.head_dim, dtype=torch.float32, device="cpu").sqrt())
        self.rotary_dim = config.rotary_dim or self.head_dim
        self.k_proj = linear_layer(hidden, hidden, bias=False)
        self.v_proj = linear_layer(hidden, hidden, bias=False)
        self.q_proj = linear_layer(hidden, hidden, bias=False)
        self.out_proj = linear_layer(hidden, hidden, bias=False)
        self.attn_dropout, self.resid_dropout = config.attn_pdrop, config.resid_pdrop

    def qkv(self, x):
        shape = (*x.shape[:2], self.num_heads, self.head_dim)
        return tuple(t.view(shape) for t in project(x, self.q_proj, self.k_proj, self.v_proj))


class CodeGenBlock(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = (GPTJAttention if config.model_type == "gptj" else CodeGenAttention)(config, layer_idx)
        self.mlp = FeedForward(config.n_embd, config.n_inner if config.n_inner is not None else 4 * config.n_embd,
                               config.activation_function, names=("fc_in", "fc_out"), dropout=config.resid_pdrop)

    def forward(self, x, step):
        normed = self.ln_1(x)
        attn, weights = self.attn(normed, step, step.extra[self.layer_idx])
        return attn + self.mlp(normed) + x, weights


class CodeGenPreTrainedModel(PreTrainedModel):
    config_class = CodeGenConfig
    base_model_prefix = "transformer"
    input_embeddings_path = "wte"
    _no_split_modules = ["CodeGenBlock"]
    _keys_to_ignore_on_load_unexpected = [r"attn\.causal_mask$"]


class CodeGenModel(CodeGenPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed_dim = config.n_embd
        self.vocab_size = config.vocab_size
        self.wte = nn.Embedding(config.vocab_size, self.embed_dim)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(CodeGenBlock(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(self.embed_dim, eps=config.layer_norm_epsilon)
        head_dim = self.embed_dim // config.num_attention_heads
        self.rotary = RotaryEmbedding(config.rotary_dim or head_dim, 10000.0, config.n_positions)
        self.post_init()

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        config = self.config
        step, batch, length = causal.start(self, input_ids, inputs_embeds, past_key_values, cache_position, kwargs,
                                           use_cache=use_cache, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=return_dict,
                                           max_positions=config.n_positions, position_ids=position_ids,
                                           attention_mask=attention_mask)
        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)
        if position_ids is None:
            position_ids = step.cache_position[None]
        cos, sin = self.rotary(position_ids, torch.float32, interleaved=True)
        step.rotary = cos[:, :, None], sin[:, :, None]
        x = inputs_embeds
        if token_type_ids is not None:
            x = x + self.wte(token_type_ids.view(-1, length))
        x = self.drop(x)
        step.masks = CausalMasks(attention_mask, step.cache_position, length, causal.kv_length(step, length),
                                 torch.float32, step.past_length, layout=step.layout)
        step.extra = per_layer_head_mask(head_mask, config.n_layer, torch.float32)
        x, hidden_states, attentions = causal.run_layers(self, self.h, x, step)
        return causal.finish(step, self.ln_f(x), hidden_states, attentions, BaseModelOutputWithPast)


class CodeGenForCausalLM(GenerationMixin, GPT2StyleCausalLM, CodeGenPreTrainedModel):
    base_model_class = CodeGenModel
    lm_head_bias = True
    logits_in_float32 = True
    base_inputs = ("input_ids", "past_key_values", "attention_mask", "token_type_ids", "position_ids", "head_mask",
                   "inputs_embeds", "use_cache", "output_attentions", "output_hidden_states", "cache_position")


_GPTJ_INPUTS = CodeGenForCausalLM.base_inputs


class GPTJPreTrainedModel(CodeGenPreTrainedModel):
    config_class = GPTJConfig
    _no_split_modules = ["CodeGenBlock"]
    _keys_to_ignore_on_load_unexpected = [r"attn\.(masked_)?bias$"]


class GPTJModel(GPTJPreTrainedModel, CodeGenModel):
    pass


class GPTJForCausalLM(GPTJPreTrainedModel, CodeGenForCausalLM):
    base_model_class = GPTJModel


class GPTJForSequenceClassification(GPT2StyleSequenceClassification, GPTJPreTrainedModel):
    base_model_class = GPTJModel
    base_inputs = _GPTJ_INPUTS


class GPTJForQuestionAnswering(GPT2StyleQuestionAnswering, GPTJPreTrainedModel):
    base_model_class = GPTJModel
    base_inputs = _GPTJ_INPUTS
