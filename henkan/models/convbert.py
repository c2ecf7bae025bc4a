"""ConvBERT: BERT whose self-attention gives half its heads to span-based dynamic convolution.

With H = num_attention_heads // head_ratio heads of size d = hidden_size / H / 2, a layer's context is H attention
heads followed by H convolution heads. A convolution head mixes each token's `conv_kernel_size` neighbours
(`conv_out_layer` of them) with weights softmaxed from the token's query times a separable convolution of the
keys' input (`key_conv_attn_layer`); padding is not masked there, as in the reference. `num_groups` > 1 makes the
feed-forward projections grouped (`GroupedLinearLayer`). Embeddings are `embedding_size` wide, projected to
hidden_size (`embeddings_project`) when that differs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..heads import (ForMaskedLM, ForMultipleChoice, ForQuestionAnswering, ForSequenceClassification,
                     ForTokenClassification)
from ..layers import Holder, activation, attend, check_inputs, linear_layer, padding_mask, run_layers
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutput
from .bert import BertEmbeddings, BertLayer
from .roberta import HiddenActClassification


class ConvBertConfig(PretrainedConfig):
    model_type = "convbert"
    defaults = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                    initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                    embedding_size=768, head_ratio=2, conv_kernel_size=9, num_groups=1, classifier_dropout=None)


class ConvBertPreTrainedModel(PreTrainedModel):
    config_class = ConvBertConfig
    base_model_prefix = "convbert"
    input_embeddings_path = "embeddings.word_embeddings"

    def classifier_dropout(self, config) -> float:
        return config.hidden_dropout_prob if config.classifier_dropout is None else config.classifier_dropout


class SeparableConv1D(nn.Module):
    """A depthwise convolution over the sequence, then a pointwise one, plus a bias."""

    def __init__(self, width: int, out: int, kernel_size: int):
        super().__init__()
        self.depthwise = nn.Conv1d(width, width, kernel_size, groups=width, padding=kernel_size // 2, bias=False)
        self.pointwise = nn.Conv1d(width, out, 1, bias=False)
        self.bias = nn.Parameter(torch.zeros(out, 1))

    def forward(self, x):  # [batch, seq, width] -> [batch, seq, out]
        return (self.pointwise(self.depthwise(x.transpose(1, 2))) + self.bias).transpose(1, 2)


class GroupedLinearLayer(nn.Module):
    """A linear map applied to `num_groups` slices of the features, each with its own [in/G, out/G] weight."""

    def __init__(self, input_size: int, output_size: int, num_groups: int):
        super().__init__()
        self.num_groups = num_groups
        self.weight = nn.Parameter(torch.empty(num_groups, input_size // num_groups, output_size // num_groups))
        self.bias = nn.Parameter(torch.zeros(output_size))

    def forward(self, x):
        groups = x.reshape(-1, self.num_groups, x.shape[-1] // self.num_groups).transpose(0, 1)
        out = (groups @ self.weight).transpose(0, 1)
        return out.reshape(*x.shape[:-1], -1) + self.bias


class ConvBertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        h = config.hidden_size
        heads = config.num_attention_heads // config.head_ratio
        self.heads = max(heads, 1)
        if h % self.heads:
            raise ValueError(f"hidden_size ({h}) must be a multiple of num_attention_heads // head_ratio "
                             f"({self.heads}).")
        self.head_dim = h // self.heads // 2
        width = self.heads * self.head_dim
        self.kernel = config.conv_kernel_size
        self.query, self.key, self.value = (linear_layer(h, width) for _ in range(3))
        self.key_conv_attn_layer = SeparableConv1D(h, width, self.kernel)
        self.conv_kernel_layer = linear_layer(width, self.heads * self.kernel)
        self.conv_out_layer = linear_layer(h, width)
        self.dropout = config.attention_probs_dropout_prob

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        batch, length = x.shape[:2]
        q = self.query(x)
        context, weights = attend(q, self.key(x), self.value(x), mask, self.heads,
                                  self.dropout if self.training else 0.0, output_attentions, head_mask)
        # each token's kernel over its neighbours, one per head, from its query and the convolved keys
        kernels = self.conv_kernel_layer(self.key_conv_attn_layer(x) * q)
        kernels = kernels.view(batch, length, self.heads, self.kernel, 1).softmax(dim=-2)
        half = (self.kernel - 1) // 2
        values = F.pad(self.conv_out_layer(x), (0, 0, half, self.kernel - 1 - half))
        windows = values.unfold(1, self.kernel, 1)  # [batch, seq, width, kernel]
        conv = (windows.view(batch, length, self.heads, self.head_dim, self.kernel) @ kernels).squeeze(-1)
        context = torch.cat([context.view(batch, length, self.heads, self.head_dim), conv], dim=2)
        return context.flatten(2), weights


class ConvBertLayer(BertLayer):
    """BERT's post-LayerNorm layer around ConvBERT's mixed attention (grouped feed-forward with num_groups > 1)."""

    def __init__(self, config, layer_idx: int | None = None):
        super().__init__(config, layer_idx)
        self.attention.self = ConvBertSelfAttention(config)
        if config.num_groups > 1:
            h, inner, groups = config.hidden_size, config.intermediate_size, config.num_groups
            self.intermediate.dense = GroupedLinearLayer(h, inner, groups)
            self.output.dense = GroupedLinearLayer(inner, h, groups)

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        context, weights = self.attention.self(x, mask, head_mask, output_attentions)
        x = self._residual(self.attention.output, context, x)
        return self._feed_forward(x), weights


class ConvBertModel(ConvBertPreTrainedModel):
    def __init__(self, config, add_pooling_layer: bool = True):  # (no pooler: the argument is accepted for heads)
        super().__init__(config)
        self.embeddings = BertEmbeddings(config, width=config.embedding_size)
        if config.embedding_size != config.hidden_size:
            self.embeddings_project = linear_layer(config.embedding_size, config.hidden_size)
        self.encoder = Holder(layer=nn.ModuleList(ConvBertLayer(config, i) for i in range(config.num_hidden_layers)))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        config = self.config
        check_inputs(config, input_ids, inputs_embeds, max_length=config.max_position_embeddings)
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            config, output_attentions, output_hidden_states, False, return_dict)
        x = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                            inputs_embeds=inputs_embeds)
        if hasattr(self, "embeddings_project"):
            x = self.embeddings_project(x)
        x, hidden_states, attentions = run_layers(
            self, self.encoder.layer, x, mask=padding_mask(attention_mask, x.dtype), head_mask=head_mask,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        out = BaseModelOutput(last_hidden_state=x, hidden_states=hidden_states, attentions=attentions)
        return out if return_dict else out.to_tuple()


class _ConvBertHead:
    base_model_class = ConvBertModel
    uses_pooler = False


class ConvBertForMaskedLM(_ConvBertHead, ForMaskedLM, ConvBertPreTrainedModel):
    """`generator_predictions` (dense to embedding_size, GELU, LayerNorm), then `generator_lm_head`, tied to the
    word embeddings, with its own bias."""

    _tied_weights_keys = ["generator_lm_head.weight"]

    def build_head(self, config):
        e = config.embedding_size
        self.generator_predictions = Holder(dense=linear_layer(config.hidden_size, e),
                                            LayerNorm=nn.LayerNorm(e, eps=config.layer_norm_eps))
        self.generator_lm_head = linear_layer(e, config.vocab_size)
        self.act = activation("gelu")

    def head(self, outputs):
        p = self.generator_predictions
        return self.generator_lm_head(p.LayerNorm(self.act(p.dense(outputs.last_hidden_state))))

    def get_output_embeddings(self):
        return self.generator_lm_head


class ConvBertForSequenceClassification(HiddenActClassification, _ConvBertHead, ForSequenceClassification,
                                        ConvBertPreTrainedModel):
    pass


class ConvBertForMultipleChoice(_ConvBertHead, ForMultipleChoice, ConvBertPreTrainedModel):
    """Each choice is summarised by its last token (the reference's `sequence_summary` with ConvBERT's config:
    no projection, activation or dropout), then scored by `classifier`."""

    def build_head(self, config):
        if getattr(config, "summary_type", "last") != "last" or getattr(config, "summary_use_proj", False) or \
                getattr(config, "summary_activation", None):
            raise NotImplementedError("ConvBertForMultipleChoice supports the default sequence summary only (the "
                                      "last token, no projection or activation).")
        self.classifier = linear_layer(config.hidden_size, 1)

    def head(self, outputs):
        return self.classifier(outputs.last_hidden_state[:, -1])


class ConvBertForTokenClassification(_ConvBertHead, ForTokenClassification, ConvBertPreTrainedModel):
    pass


class ConvBertForQuestionAnswering(_ConvBertHead, ForQuestionAnswering, ConvBertPreTrainedModel):
    pass
