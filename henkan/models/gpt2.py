"""GPT-2: a pre-LayerNorm decoder with learned positions and Conv1D projections (weights stored [in, out], the
checkpoint layout, kept as is). The LM head is tied to the token embeddings."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import (CausalLM, GPT2StyleQuestionAnswering, GPT2StyleSequenceClassification,
                      GPT2StyleTokenClassification, causal_lm_loss, reject_unknown)
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import (CausalMasks, Conv1D, FeedForward, activation, causal_attention, check_tensor, class_targets,
                      linear_layer, per_layer_head_mask)
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPastAndCrossAttentions, CausalLMOutputWithCrossAttentions, declare_output


class GPT2Config(PretrainedConfig):
    model_type = "gpt2"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {"hidden_size": "n_embd", "max_position_embeddings": "n_positions",
                     "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}
    defaults = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12, n_inner=None,
                    activation_function="gelu_new", resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
                    layer_norm_epsilon=1e-5, initializer_range=0.02, summary_type="cls_index", summary_use_proj=True,
                    summary_activation=None, summary_proj_to_labels=True, summary_first_dropout=0.1,
                    scale_attn_weights=True, use_cache=True, bos_token_id=50256, eos_token_id=50256,
                    scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False)
    multiples = (("hidden_size", "num_attention_heads"),)


class GPT2Attention(nn.Module):
    """Causal self-attention (`c_attn` projects queries, keys and values at once), or with `is_cross_attention`
    attention to an encoder's output (`q_attn` projects the queries, `c_attn` the encoder's keys and values)."""

    def __init__(self, config, layer_idx: int, is_cross_attention: bool = False):
        super().__init__()
        hidden = config.hidden_size
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_dim = hidden // self.num_heads
        if self.head_dim * self.num_heads != hidden:
            raise ValueError(f"`embed_dim` must be divisible by num_heads (got `embed_dim`: {hidden} and "
                             f"`num_heads`: {self.num_heads}).")
        self.scaling = (1 / math.sqrt(self.head_dim) if config.scale_attn_weights else 1.0)
        if config.scale_attn_by_inverse_layer_idx:
            self.scaling /= layer_idx + 1
        self.upcast = config.reorder_and_upcast_attn
        self.is_cross_attention = is_cross_attention
        if is_cross_attention:
            self.c_attn = Conv1D(2 * hidden, hidden)
            self.q_attn = Conv1D(hidden, hidden)
        else:
            self.c_attn = Conv1D(3 * hidden, hidden)
        self.c_proj = Conv1D(hidden, hidden)
        self.attn_dropout, self.resid_dropout = config.attn_pdrop, config.resid_pdrop

    def _heads(self, t):
        return t.view(t.shape[0], t.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def project_kv(self, states):
        k, v = self.c_attn(states).split(states.shape[-1], dim=2)
        return self._heads(k), self._heads(v)

    def forward(self, x, step, head_mask=None):
        if self.is_cross_attention:
            q = self._heads(self.q_attn(x))
            k, v = step.cross.kv(self.layer_idx, self.project_kv)
            mask, is_causal = step.cross.mask, False
        else:
            q, k, v = (self._heads(t) for t in self.c_attn(x).split(x.shape[-1], dim=2))
            if step.cache is not None:
                k, v = step.cache.update(k, v, self.layer_idx, {"cache_position": step.cache_position})
            mask, is_causal = step.masks()
        out, weights = causal_attention(q, k, v, mask, scaling=self.scaling, is_causal=is_causal,
                                        dropout=self.attn_dropout if self.training else 0.0,
                                        need_weights=step.output_attentions, head_mask=head_mask,
                                        softmax_dtype=torch.float32 if self.upcast else None)
        return F.dropout(self.c_proj(out), self.resid_dropout, self.training), weights


def _conv1d(in_features: int, out_features: int, bias: bool = True) -> Conv1D:
    return Conv1D(out_features, in_features)


class GPT2Block(nn.Module):
    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden, eps = config.hidden_size, config.layer_norm_epsilon
        self.layer_idx = layer_idx
        self.ln_1 = nn.LayerNorm(hidden, eps=eps)
        self.attn = GPT2Attention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(hidden, eps=eps)
        if config.add_cross_attention:
            self.crossattention = GPT2Attention(config, layer_idx, is_cross_attention=True)
            self.ln_cross_attn = nn.LayerNorm(hidden, eps=eps)
        inner = config.n_inner if config.n_inner is not None else 4 * hidden
        self.mlp = FeedForward(hidden, inner, config.activation_function, names=("c_fc", "c_proj"),
                               dropout=config.resid_pdrop, project=_conv1d)

    def forward(self, x, step):
        head_mask = step.extra[self.layer_idx] if step.extra is not None else None
        attn, weights = self.attn(self.ln_1(x), step, head_mask)
        x = x + attn
        if step.cross is not None:  # (the reference masks the cross-attention heads with the same head mask)
            attn, cross_weights = self.crossattention(self.ln_cross_attn(x), step, head_mask)
            x = x + attn
            weights = (weights, cross_weights)
        return x + self.mlp(self.ln_2(x)), weights


class GPT2PreTrainedModel(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    _rows_share_encoder_states = True  # (as a decoder: see EncoderDecoderModel)
    input_embeddings_path = "wte"
    _no_split_modules = ["GPT2Block"]

    def _init_weights(self, module):
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, Conv1D):
            nn.init.normal_(module.weight, std=std)
            nn.init.zeros_(module.bias)
        if isinstance(module, (GPT2Attention, FeedForward)):  # residual projections: scaled by depth
            nn.init.normal_(module.c_proj.weight, std=std / math.sqrt(2 * self.config.n_layer))


class GPT2Model(GPT2PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.has_cross_attention = bool(config.add_cross_attention)
        self.embed_dim = config.hidden_size
        self.wte = nn.Embedding(config.vocab_size, self.embed_dim)
        self.wpe = nn.Embedding(config.max_position_embeddings, self.embed_dim)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(GPT2Block(config, i) for i in range(config.num_hidden_layers))
        self.ln_f = nn.LayerNorm(self.embed_dim, eps=config.layer_norm_epsilon)
        self.post_init()

    def masks(self, step, attention_mask, length: int, dtype):
        """The self-attention masks of this forward (`step.masks`)."""
        return CausalMasks(attention_mask, step.cache_position, length, causal.kv_length(step, length), dtype,
                           step.past_length, stacked=True, layout=step.layout)

    def forward(self, input_ids=None, past_key_values=None, cache_position=None, attention_mask=None,
                token_type_ids=None, position_ids=None, head_mask=None, inputs_embeds=None,
                encoder_hidden_states=None, encoder_attention_mask=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        config = self.config
        if encoder_hidden_states is not None and not self.has_cross_attention:
            raise ValueError("encoder_hidden_states were given, but this GPT-2 was built without cross-attention "
                             "layers. Build it with add_cross_attention=True, as "
                             "EncoderDecoderModel.from_encoder_decoder_pretrained does for its decoder.")
        step, batch, length = causal.start(self, input_ids, inputs_embeds, past_key_values, cache_position, kwargs,
                                           use_cache=use_cache, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=return_dict,
                                           max_positions=config.n_positions, position_ids=position_ids,
                                           encoder_hidden_states=encoder_hidden_states,
                                           encoder_attention_mask=encoder_attention_mask,
                                           attention_mask=attention_mask, token_type_ids=token_type_ids)
        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)
        if position_ids is None:
            position_ids = step.cache_position[None]
        x = inputs_embeds + self.wpe(position_ids)
        if token_type_ids is not None:
            x = x + self.wte(token_type_ids.view(-1, length))
        x = self.drop(x)
        step.masks = self.masks(step, attention_mask, length, x.dtype)
        if head_mask is not None:
            step.extra = per_layer_head_mask(head_mask, config.n_layer, x.dtype)
        x, hidden_states, attentions = causal.run_layers(self, self.h, x, step)
        return causal.finish(step, self.ln_f(x), hidden_states, attentions, BaseModelOutputWithPastAndCrossAttentions)


_GPT2_INPUTS = ("input_ids", "past_key_values", "cache_position", "attention_mask", "token_type_ids", "position_ids",
                "head_mask", "inputs_embeds", "encoder_hidden_states", "encoder_attention_mask", "use_cache",
                "output_attentions", "output_hidden_states")


class GPT2LMHeadModel(GenerationMixin, CausalLM, GPT2PreTrainedModel):
    base_model_class = GPT2Model
    output_class = CausalLMOutputWithCrossAttentions
    base_inputs = _GPT2_INPUTS

    def forward(self, input_ids=None, past_key_values=None, cache_position=None, attention_mask=None,
                token_type_ids=None, position_ids=None, head_mask=None, inputs_embeds=None,
                encoder_hidden_states=None, encoder_attention_mask=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


class GPT2ForSequenceClassification(GPT2StyleSequenceClassification, GPT2PreTrainedModel):
    base_model_class = GPT2Model
    base_inputs = _GPT2_INPUTS


class GPT2ForTokenClassification(GPT2StyleTokenClassification, GPT2PreTrainedModel):
    base_model_class = GPT2Model
    base_inputs = _GPT2_INPUTS


class GPT2ForQuestionAnswering(GPT2StyleQuestionAnswering, GPT2PreTrainedModel):
    base_model_class = GPT2Model
    base_inputs = _GPT2_INPUTS


GPT2DoubleHeadsModelOutput = declare_output("GPT2DoubleHeadsModelOutput", "loss", "mc_loss", "logits", "mc_logits",
                                            "past_key_values", "hidden_states", "attentions", module=__name__)


class GPT2SequenceSummary(nn.Module):
    """One vector per sequence (`summary_type`: the token at `cls_index` (default: the last), the first, the last
    or the mean), then dropout, the projection `summary` (to `num_labels` or hidden_size, if `summary_use_proj`),
    the activation and dropout, as configured."""

    def __init__(self, config):
        super().__init__()
        self.summary_type = config.summary_type
        if self.summary_type not in ("cls_index", "last", "first", "mean"):
            raise NotImplementedError(f"summary_type={self.summary_type!r} is not supported; henkan knows "
                                      f"'cls_index', 'last', 'first' and 'mean'.")
        size = config.num_labels if config.summary_proj_to_labels and config.num_labels > 0 else config.hidden_size
        self.summary = linear_layer(config.hidden_size, size) if config.summary_use_proj else nn.Identity()
        self.activation = activation(config.summary_activation) if config.summary_activation else nn.Identity()
        self.first_dropout = nn.Dropout(config.summary_first_dropout or 0.0)
        self.last_dropout = nn.Dropout(getattr(config, "summary_last_dropout", 0.0) or 0.0)

    def forward(self, hidden, cls_index=None):
        if self.summary_type == "first":
            out = hidden[..., 0, :]
        elif self.summary_type == "mean":
            out = hidden.mean(dim=-2)
        elif self.summary_type == "last" or cls_index is None:
            out = hidden[..., -1, :]
        else:
            index = cls_index[..., None, None].expand(*cls_index.shape, 1, hidden.shape[-1])
            out = hidden.gather(-2, index).squeeze(-2)
        return self.last_dropout(self.activation(self.summary(self.first_dropout(out))))


class GPT2DoubleHeadsModel(GPT2LMHeadModel):
    """GPT-2 over several choices at once ([batch, choices, sequence]): the LM head on every token and a
    multiple-choice score from the token at `mc_token_ids` of each choice (`multiple_choice_head`)."""

    def __init__(self, config):
        config.num_labels = 1  # (as the reference: one score per choice)
        super().__init__(config)

    def build_head(self, config) -> None:
        super().build_head(config)
        self.multiple_choice_head = GPT2SequenceSummary(config)

    def forward(self, input_ids=None, past_key_values=None, cache_position=None, attention_mask=None,
                token_type_ids=None, position_ids=None, head_mask=None, inputs_embeds=None, mc_token_ids=None,
                labels=None, mc_labels=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        reject_unknown(self, kwargs)
        given = input_ids if input_ids is not None else inputs_embeds
        check_tensor("input_ids" if input_ids is not None else "inputs_embeds", given)
        rows = given.shape[:-1] if input_ids is not None else given.shape[:-2]

        def flat(t, trailing=1):
            return None if t is None else t.reshape(-1, *t.shape[t.dim() - trailing:])

        outputs = self.transformer(
            input_ids=flat(input_ids), attention_mask=flat(attention_mask), token_type_ids=flat(token_type_ids),
            position_ids=flat(position_ids), inputs_embeds=flat(inputs_embeds, 2), past_key_values=past_key_values,
            cache_position=cache_position, head_mask=head_mask, use_cache=use_cache,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states, return_dict=True)
        hidden = outputs.last_hidden_state.reshape(*rows, *outputs.last_hidden_state.shape[-2:])
        logits = self.lm_head(hidden)
        mc_logits = self.multiple_choice_head(hidden, mc_token_ids).squeeze(-1)
        mc_loss = loss = None
        if mc_labels is not None:
            mc_loss = F.cross_entropy(mc_logits.view(-1, mc_logits.shape[-1]),
                                      class_targets(mc_labels, mc_logits.shape[-1], "choices").view(-1))
        if labels is not None:
            loss = causal_lm_loss(logits, class_targets(labels, self.config.vocab_size, "vocab_size"))
        result = GPT2DoubleHeadsModelOutput(loss=loss, mc_loss=mc_loss, logits=logits, mc_logits=mc_logits,
                                            past_key_values=outputs.past_key_values,
                                            hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return result if (self.config.use_return_dict if return_dict is None else return_dict) else result.to_tuple()
