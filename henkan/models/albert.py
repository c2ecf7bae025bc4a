"""ALBERT: BERT with narrow factorised embeddings and a few layer groups whose weights are reused across depth."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig
from ..heads import (ForMaskedLM, ForMultipleChoice, ForQuestionAnswering, ForSequenceClassification,
                     ForTokenClassification)
from ..layers import (Holder, LMPredictionHead, activation, attend, check_inputs, encoder_mask, linear_layer,
                      per_layer_head_mask, run_layers)
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPooling
from .bert import BertEmbeddings


class AlbertConfig(PretrainedConfig):
    model_type = "albert"
    defaults = dict(vocab_size=30000, embedding_size=128, hidden_size=4096, num_hidden_layers=12,
                    num_hidden_groups=1, num_attention_heads=64, intermediate_size=16384, inner_group_num=1,
                    hidden_act="gelu_new", hidden_dropout_prob=0, attention_probs_dropout_prob=0,
                    max_position_embeddings=512, type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12,
                    classifier_dropout_prob=0.1, position_embedding_type="absolute", pad_token_id=0,
                    bos_token_id=2, eos_token_id=3)
    multiples = (("hidden_size", "num_attention_heads"),)


class AlbertPreTrainedModel(PreTrainedModel):
    config_class = AlbertConfig
    base_model_prefix = "albert"
    input_embeddings_path = "embeddings.word_embeddings"

    def classifier_dropout(self, config) -> float:
        value = config.classifier_dropout_prob
        return config.hidden_dropout_prob if value is None else value


class AlbertEmbeddings(BertEmbeddings):
    def __init__(self, config):
        super().__init__(config, width=config.embedding_size)


class AlbertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        h, eps = config.hidden_size, config.layer_norm_eps
        self.full_layer_layer_norm = nn.LayerNorm(h, eps=eps)
        self.attention = Holder(query=linear_layer(h, h), key=linear_layer(h, h), value=linear_layer(h, h),
                                dense=linear_layer(h, h), LayerNorm=nn.LayerNorm(h, eps=eps))
        self.ffn = linear_layer(h, config.intermediate_size)
        self.ffn_output = linear_layer(config.intermediate_size, h)
        self.act = activation(config.hidden_act)
        self.heads = config.num_attention_heads
        self.dropout, self.attention_dropout = config.hidden_dropout_prob, config.attention_probs_dropout_prob

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        a = self.attention
        context, weights = attend(a.query(x), a.key(x), a.value(x), mask, self.heads,
                                  self.attention_dropout if self.training else 0.0, output_attentions, head_mask)
        x = a.LayerNorm(x + F.dropout(a.dense(context), self.dropout, self.training))
        return self.full_layer_layer_norm(self.ffn_output(self.act(self.ffn(x))) + x), weights  # no FFN dropout


class AlbertLayerGroup(nn.Module):
    """`inner_group_num` layers run in a row; returns the attentions of each."""

    def __init__(self, config):
        super().__init__()
        self.albert_layers = nn.ModuleList(AlbertLayer(config) for _ in range(config.inner_group_num))

    def forward(self, x, mask, head_masks, output_attentions=False):
        weights = ()
        for layer, head_mask in zip(self.albert_layers, head_masks):
            x, w = layer(x, mask, head_mask, output_attentions)
            weights += (w,)
        return x, weights


class AlbertModel(AlbertPreTrainedModel):
    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = AlbertEmbeddings(config)
        self.encoder = Holder(
            embedding_hidden_mapping_in=linear_layer(config.embedding_size, config.hidden_size),
            albert_layer_groups=nn.ModuleList(AlbertLayerGroup(config) for _ in range(config.num_hidden_groups)))
        self.pooler = linear_layer(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.post_init()

    def _schedule(self, head_mask, dtype) -> tuple[list, list]:
        """The group each of the `num_hidden_layers` steps runs, and the head masks of its inner layers.

        Step i runs group int(i / (layers / groups)); inner layer j of group g takes row g * (layers // groups) + j
        of the per-layer head mask, as the reference indexes it."""
        n, groups, inner = self.config.num_hidden_layers, self.config.num_hidden_groups, self.config.inner_group_num
        per_group = int(n / groups)
        masks = per_layer_head_mask(head_mask, n, dtype)
        chosen = [int(i / (n / groups)) for i in range(n)]
        steps = [self.encoder.albert_layer_groups[g] for g in chosen]
        step_masks = [[masks[k] if k < n else None for k in range(g * per_group, g * per_group + inner)]
                      for g in chosen]
        return steps, step_masks

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        config = self.config
        check_inputs(config, input_ids, inputs_embeds, max_length=config.max_position_embeddings,
                     attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids)
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        x = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                            inputs_embeds=inputs_embeds)
        x = self.encoder.embedding_hidden_mapping_in(x)
        steps, step_masks = self._schedule(head_mask, x.dtype)
        x, hidden_states, attentions = run_layers(
            self, steps, x, mask=encoder_mask(config, attention_mask, x.dtype), head_mask=step_masks,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        if attentions is not None:  # one per inner layer application
            attentions = tuple(w for step in attentions for w in step)
        pooled = torch.tanh(self.pooler(x[:, 0])) if self.pooler is not None else None
        out = BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=pooled, hidden_states=hidden_states,
                                         attentions=attentions)
        return out if (config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


class AlbertMLMHead(LMPredictionHead):
    """`predictions`: hidden -> embedding_size, activation, LayerNorm, then a decoder tied to the word embeddings."""

    def __init__(self, config):
        e = config.embedding_size
        super().__init__(e, config.vocab_size)
        self.LayerNorm = nn.LayerNorm(e, eps=config.layer_norm_eps)
        self.dense = linear_layer(config.hidden_size, e)
        self.act = activation(config.hidden_act)

    def forward(self, hidden):
        return self.decoder(self.LayerNorm(self.act(self.dense(hidden))))


class _AlbertHead:
    base_model_class = AlbertModel


class AlbertForSequenceClassification(_AlbertHead, ForSequenceClassification, AlbertPreTrainedModel):
    pass


class AlbertForTokenClassification(_AlbertHead, ForTokenClassification, AlbertPreTrainedModel):
    pass


class AlbertForQuestionAnswering(_AlbertHead, ForQuestionAnswering, AlbertPreTrainedModel):
    pass


class AlbertForMultipleChoice(_AlbertHead, ForMultipleChoice, AlbertPreTrainedModel):
    pass


class AlbertForMaskedLM(_AlbertHead, ForMaskedLM, AlbertPreTrainedModel):
    _tied_weights_keys = ["predictions.decoder.weight", "predictions.decoder.bias"]

    def build_head(self, config):
        self.predictions = AlbertMLMHead(config)

    def head(self, outputs):
        return self.predictions(outputs.last_hidden_state)

    def get_output_embeddings(self):
        return self.predictions.decoder
