"""CPM-Ant (OpenBMB's Chinese language model): pre-norm blocks with RMS norms, a GELU-gated feed-forward, and no
position embeddings. Positions and segments enter as an attention bias read from one table: a relative-position
bucket for a query and key of the same segment, a (query segment, key segment) entry otherwise.

Every forward puts the embeddings of `prompt_length` prompt slots (rows past the vocabulary in `input_embedding`)
before the text, in segment 0; text tokens are segment 2. The token id 0 counts as padding: a row's valid tokens
are its last (number of non-zero ids) positions, as left padding leaves them. Attention is bidirectional over the
prompt slots and the valid tokens; the `attention_mask` argument is ignored, as in the reference.

The forward takes the *whole* sequence so far; with a cache it runs only the positions the cache lacks (a decode
step: the last token, attending to the cached keys). Without a cache every position attends to every other, so
generating with and without the cache gives different (both the reference's) tokens. The LM head is tied to the
whole embedding (4.57's checkpoint layout); its logits score the prompt slots too, which `generate` leaves out, as
the reference 5.x does (4.57 could generate them, and crashed in beam search and in cached decoding)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..cache import DynamicCache
from ..causal import CausalLM, Step
from ..config import COUNT, EPSILON, NUMBER, PROBABILITY, SIZE, PretrainedConfig, integer
from ..generation.utils import GenerationMixin
from ..layers import Holder, RMSNorm, activation, causal_attention, check_inputs, linear_layer, relative_position_bucket
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPast

TEXT_SEGMENT = 2  # the segment of every text token (the prompt slots are segment 0, and so is padding)


class CpmAntConfig(PretrainedConfig):
    model_type = "cpmant"
    defaults = dict(vocab_size=30720, hidden_size=4096, num_attention_heads=32, dim_head=128, dim_ff=10240,
                    num_hidden_layers=48, dropout_p=0.0, position_bias_num_buckets=512,
                    position_bias_max_distance=2048, eps=1e-6, init_std=1.0, prompt_types=32, prompt_length=32,
                    segment_types=32, use_cache=True)
    # the prompt slots are those of type 2, and text tokens segment 2: both tables need at least 3 rows of them
    fields = dict(dim_head=SIZE, dim_ff=SIZE, dropout_p=PROBABILITY.or_none, position_bias_num_buckets=integer(4),
                  position_bias_max_distance=SIZE, eps=EPSILON, init_std=NUMBER, prompt_types=integer(3),
                  prompt_length=COUNT, segment_types=integer(3))


class CpmAntSegmentPositionEmbedding(nn.Module):
    """The attention bias table: `num_buckets` relative-position rows, then one row per (query segment, key
    segment) pair, each holding a value per head. The reference reads it without gradient (the table is not trained
    through the model); so does henkan."""

    def __init__(self, config):
        super().__init__()
        self.num_buckets = config.position_bias_num_buckets
        self.max_distance = config.position_bias_max_distance
        self.num_segments = config.segment_types
        self.relative_attention_bias = nn.Parameter(
            torch.empty(config.segment_types ** 2 + self.num_buckets, config.num_attention_heads))

    def forward(self, segments: torch.Tensor, past: int) -> torch.Tensor:
        """[batch, heads, queries, keys]: the bias of the queries at positions past.. over all keys, from the
        segments [batch, keys] of every position."""
        positions = torch.arange(segments.shape[1], device=segments.device)
        distance = relative_position_bucket(positions[None, :] - positions[past:, None], True, self.num_buckets,
                                            self.max_distance)
        query, key = segments[:, past:, None], segments[:, None, :]
        buckets = torch.where(query == key, distance, self.num_buckets + query * self.num_segments + key)
        return F.embedding(buckets, self.relative_attention_bias.detach()).permute(0, 3, 1, 2)


class CpmAntAttention(nn.Module):
    """Multi-head attention with `project_q/k/v` and `attention_out` (no biases) under the shared bias of
    `step.bias`; queries at padding positions give zeros (`step.extra`: [batch, queries, 1], 1 where valid)."""

    def __init__(self, config, layer_idx: int):
        super().__init__()
        self.heads, self.dim_head, self.layer_idx = config.num_attention_heads, config.dim_head, layer_idx
        self.dropout = config.dropout_p or 0.0
        inner = self.heads * self.dim_head
        self.project_q = linear_layer(config.hidden_size, inner, bias=False)
        self.project_k = linear_layer(config.hidden_size, inner, bias=False)
        self.project_v = linear_layer(config.hidden_size, inner, bias=False)
        self.attention_out = linear_layer(inner, config.hidden_size, bias=False)

    def forward(self, x, step: Step):
        shape = (x.shape[0], x.shape[1], self.heads, self.dim_head)
        q, k, v = (p(x).view(shape).transpose(1, 2) for p in (self.project_q, self.project_k, self.project_v))
        if step.cache is not None:
            k, v = step.cache.update(k, v, self.layer_idx, {"cache_position": step.cache_position})
        out, weights = causal_attention(q, k, v, step.bias, scaling=self.dim_head ** -0.5,
                                        dropout=self.dropout if self.training else 0.0,
                                        need_weights=step.output_attentions, softmax_dtype=None)
        valid = step.extra
        if weights is not None:
            weights = weights * valid[:, None]
        return self.attention_out(out * valid), weights


class CpmAntTransformerBlock(nn.Module):
    """x + attention(norm(x)), then x + w_out(gelu(w_0(norm(x))) * w_1(norm(x))), with the reference's module
    names (`self_att.self_attention`, `ffn.ffn.w_in.w_0`, ...)."""

    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden, eps = config.hidden_size, config.eps
        self.self_att = Holder(layernorm_before_attention=RMSNorm(hidden, eps),
                               self_attention=CpmAntAttention(config, layer_idx))
        gate = Holder(w_0=linear_layer(hidden, config.dim_ff, bias=False),
                      w_1=linear_layer(hidden, config.dim_ff, bias=False))
        self.ffn = Holder(layernorm_before_ffn=RMSNorm(hidden, eps),
                          ffn=Holder(w_in=gate, w_out=linear_layer(config.dim_ff, hidden, bias=False)))
        self.act = activation("gelu")
        self.dropout = config.dropout_p or 0.0

    def forward(self, x, step: Step):
        attention = self.self_att
        h, weights = attention.self_attention(attention.layernorm_before_attention(x), step)
        x = x + F.dropout(h, self.dropout, self.training)
        ffn = self.ffn.ffn
        h = self.ffn.layernorm_before_ffn(x)
        h = self.act(ffn.w_in.w_0(h)) * ffn.w_in.w_1(h)
        h = ffn.w_out(F.dropout(h, self.dropout, self.training))
        return x + F.dropout(h, self.dropout, self.training), weights


class CpmAntEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layers = nn.ModuleList(CpmAntTransformerBlock(config, i) for i in range(config.num_hidden_layers))
        self.output_layernorm = RMSNorm(config.hidden_size, config.eps)


class CpmAntPreTrainedModel(PreTrainedModel):
    config_class = CpmAntConfig
    base_model_prefix = "cpmant"
    _no_split_modules = ["CpmAntTransformerBlock"]

    def _init_weights(self, module):
        super()._init_weights(module)  # (linear and embedding weights from N(0, init_std))
        if isinstance(module, CpmAntSegmentPositionEmbedding):
            nn.init.normal_(module.relative_attention_bias, std=self.config.init_std)


class CpmAntModel(CpmAntPreTrainedModel):
    input_embeddings_path = "input_embedding"

    def __init__(self, config):
        super().__init__(config)
        self.encoder = CpmAntEncoder(config)
        self.segment_embedding = nn.Embedding(config.segment_types, config.hidden_size)
        self.input_embedding = nn.Embedding(config.vocab_size + config.prompt_types * config.prompt_length,
                                            config.hidden_size)
        self.position_bias = CpmAntSegmentPositionEmbedding(config)
        self.post_init()

    def forward(self, input_ids=None, output_attentions=None, output_hidden_states=None, past_key_values=None,
                use_cache=None, return_dict=None, cache_position=None, attention_mask=None, **kwargs):
        """`input_ids`: the whole sequence so far (see the module docstring); `attention_mask` and `cache_position`
        are accepted and not used (padding is id 0; the cache knows its length). With a cache and more than one new
        position, each gets its own segment's embedding (the reference adds the last one's to all of them; its
        generation feeds one new position at a time, where the two agree)."""
        config = self.config
        cache, output_attentions, output_hidden_states, use_cache, return_dict = causal.settle(
            self, kwargs, past_key_values, use_cache, output_attentions, output_hidden_states, return_dict)
        if cache is not None and not isinstance(cache, DynamicCache):
            raise NotImplementedError(f"CPM-Ant decodes with a DynamicCache only, not a {type(cache).__name__} (its "
                                      f"prompt slots and attention bias do not fit a fixed-size cache); drop "
                                      f"cache_implementation= or pass past_key_values=DynamicCache().")
        past = cache.get_seq_length() if cache is not None else 0
        batch, length = check_inputs(config, input_ids, None, check_ids=past == 0)
        prompt = config.prompt_length
        total = prompt + length
        if past >= total:
            raise ValueError(f"CPM-Ant's forward takes the whole sequence so far (the cache holds its first {past} "
                             f"positions, {prompt} prompt slots included), but input_ids has {length} tokens: "
                             f"nothing is new. Pass all the ids, the new ones last.")
        device = input_ids.device
        text = input_ids != 0
        valid = torch.arange(length - 1, -1, -1, device=device) < text.sum(-1, keepdim=True)
        valid = F.pad(valid, (prompt, 0), value=True)
        segments = F.pad(text.long() * TEXT_SEGMENT, (prompt, 0))
        slots = torch.arange(prompt, device=device) + config.vocab_size + 2 * prompt
        ids = torch.cat([slots[past:].expand(batch, -1), input_ids], 1) if past < prompt \
            else input_ids[:, past - prompt:]
        x = self.input_embedding(ids) + self.segment_embedding(segments[:, past:])
        step = Step(cache=cache, cache_position=torch.arange(past, total, device=device), past_length=past,
                    output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                    use_cache=use_cache, return_dict=return_dict)
        bias = self.position_bias(segments, past).to(x.dtype)
        step.bias = bias.masked_fill(~valid[:, None, None, :], torch.finfo(x.dtype).min)
        step.extra = valid[:, past:, None].to(x.dtype)
        x, hidden_states, attentions = causal.run_layers(self, self.encoder.layers, x, step)
        x = self.encoder.output_layernorm(x)
        if past == 0 and prompt:  # what the prompt slots computed is not returned
            x = x[:, prompt:]
            if hidden_states is not None:
                hidden_states = tuple(h[:, prompt:] for h in hidden_states)
            if attentions is not None:
                attentions = tuple(a[:, :, prompt:, prompt:] for a in attentions)
        return causal.finish(step, x, hidden_states, attentions, BaseModelOutputWithPast)


class CpmAntForCausalLM(GenerationMixin, CausalLM, CpmAntPreTrainedModel):
    """The LM head over CpmAntModel. Labels are aligned with the logits (position t scores labels[t]), as in the
    reference, which does not shift them."""

    base_model_class = CpmAntModel
    base_inputs = ("input_ids", "past_key_values", "use_cache", "output_attentions", "output_hidden_states",
                   "cache_position", "attention_mask")
    shifts_labels = False
    _tied_weights_keys = ["lm_head.weight"]

    @property
    def _generated_vocab_size(self) -> int:
        return self.config.vocab_size

    def _explain_mismatch(self, key: str, shape: tuple) -> str:
        if key == "lm_head.weight" and shape[0] == self.config.vocab_size:
            return (" (the untied head of transformers 5.x, which saves vocab_size rows; 4.57 and the Hub's "
                    "checkpoints tie the head to the whole input_embedding, as henkan does: with "
                    "ignore_mismatched_sizes=True the tied head is used and this tensor is not)")
        return ""

    def build_head(self, config) -> None:
        self.lm_head = linear_layer(config.hidden_size, config.vocab_size + config.prompt_types * config.prompt_length,
                                    bias=False)

    def forward(self, input_ids=None, past_key_values=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, labels=None, return_dict=None, attention_mask=None, cache_position=None,
                logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())

    def prepare_inputs_for_generation(self, input_ids, past_key_values=None, attention_mask=None, use_cache=None,
                                      cache_position=None, **kwargs) -> dict:
        """Every step gets the whole sequence: the forward runs what the cache lacks of it."""
        kwargs.pop("labels", None)
        return {**kwargs, "input_ids": input_ids, "past_key_values": past_key_values, "use_cache": use_cache,
                "attention_mask": attention_mask}


__all__ = ["CpmAntConfig", "CpmAntModel", "CpmAntForCausalLM", "CpmAntPreTrainedModel"]
