"""BERT: a post-LayerNorm transformer encoder with token-type embeddings and a tanh pooler."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig
from ..heads import (ForMaskedLM, ForMultipleChoice, ForQuestionAnswering, ForSequenceClassification,
                     ForTokenClassification)
from ..layers import Holder, activation, attend, check_inputs, encoder_mask, linear_layer, run_layers
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPoolingAndCrossAttentions


class BertConfig(PretrainedConfig):
    model_type = "bert"
    defaults = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                    initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0,
                    position_embedding_type="absolute", use_cache=True, classifier_dropout=None)


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    input_embeddings_path = "embeddings.word_embeddings"

    def classifier_dropout(self, config) -> float:
        return config.hidden_dropout_prob if config.classifier_dropout is None else config.classifier_dropout


class BertEmbeddings(nn.Module):
    def __init__(self, config, width: int | None = None):  # width: ALBERT embeds narrower than hidden_size
        super().__init__()
        if config.position_embedding_type != "absolute":
            raise NotImplementedError(f"position_embedding_type={config.position_embedding_type!r} is not "
                                      f"supported; henkan's {config.model_type} uses absolute positions.")
        width = config.hidden_size if width is None else width
        self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, width)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, width)
        self.LayerNorm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.dropout = config.hidden_dropout_prob
        self.position_offset = 0  # positions the table reserves before the first token

    def positions(self, input_ids, inputs_embeds, length: int) -> torch.Tensor:
        device = (input_ids if input_ids is not None else inputs_embeds).device
        return torch.arange(length, device=device)[None]

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:
            position_ids = self.positions(input_ids, inputs_embeds, inputs_embeds.shape[1])
        x = inputs_embeds + self.position_embeddings(position_ids)
        if token_type_ids is None:
            x = x + self.token_type_embeddings.weight[0]
        else:
            x = x + self.token_type_embeddings(token_type_ids)
        return F.dropout(self.LayerNorm(x), self.dropout, self.training)


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        h, eps = config.hidden_size, config.layer_norm_eps
        self.attention = Holder(
            self=Holder(query=linear_layer(h, h), key=linear_layer(h, h), value=linear_layer(h, h)),
            output=Holder(dense=linear_layer(h, h), LayerNorm=nn.LayerNorm(h, eps=eps)))
        self.intermediate = Holder(dense=linear_layer(h, config.intermediate_size))
        self.output = Holder(dense=linear_layer(config.intermediate_size, h), LayerNorm=nn.LayerNorm(h, eps=eps))
        self.act = activation(config.hidden_act)
        self.heads = config.num_attention_heads
        self.dropout, self.attention_dropout = config.hidden_dropout_prob, config.attention_probs_dropout_prob

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        attn, out = self.attention.self, self.attention.output
        context, weights = attend(attn.query(x), attn.key(x), attn.value(x), mask, self.heads,
                                  self.attention_dropout if self.training else 0.0, output_attentions, head_mask)
        x = out.LayerNorm(F.dropout(out.dense(context), self.dropout, self.training) + x)
        h = self.act(self.intermediate.dense(x))
        x = self.output.LayerNorm(F.dropout(self.output.dense(h), self.dropout, self.training) + x)
        return x, weights


class BertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = linear_layer(config.hidden_size, config.hidden_size)

    def forward(self, hidden):
        return torch.tanh(self.dense(hidden[:, 0]))


class BertModel(BertPreTrainedModel):
    embeddings_class = BertEmbeddings

    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = self.embeddings_class(config)
        self.encoder = Holder(layer=nn.ModuleList(BertLayer(config) for _ in range(config.num_hidden_layers)))
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        config = self.config
        check_inputs(config, input_ids, inputs_embeds,
                     max_length=config.max_position_embeddings - self.embeddings.position_offset)
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        x = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                            inputs_embeds=inputs_embeds)
        x, hidden_states, attentions = run_layers(
            self, self.encoder.layer, x, mask=encoder_mask(config, attention_mask, x.dtype), head_mask=head_mask,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        pooled = self.pooler(x) if self.pooler is not None else None
        out = BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=x, pooler_output=pooled,
                                                           hidden_states=hidden_states, attentions=attentions)
        return out if (config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


class BertLMHead(nn.Module):
    """`cls.predictions`: transform, then a decoder tied to the word embeddings, with its own bias."""

    def __init__(self, config):
        super().__init__()
        h = config.hidden_size
        self.transform = Holder(dense=linear_layer(h, h), LayerNorm=nn.LayerNorm(h, eps=config.layer_norm_eps))
        self.act = activation(config.hidden_act)
        self.decoder = linear_layer(h, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden):
        t = self.transform
        return self.decoder(t.LayerNorm(self.act(t.dense(hidden))))


class BertForSequenceClassification(ForSequenceClassification, BertPreTrainedModel):
    base_model_class = BertModel


class BertForTokenClassification(ForTokenClassification, BertPreTrainedModel):
    base_model_class = BertModel


class BertForQuestionAnswering(ForQuestionAnswering, BertPreTrainedModel):
    base_model_class = BertModel


class BertForMultipleChoice(ForMultipleChoice, BertPreTrainedModel):
    base_model_class = BertModel


class BertForMaskedLM(ForMaskedLM, BertPreTrainedModel):
    base_model_class = BertModel
    _tied_weights_keys = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]

    def build_head(self, config):
        self.cls = Holder(predictions=BertLMHead(config))

    def head(self, outputs):
        return self.cls.predictions(outputs.last_hidden_state)

    def get_output_embeddings(self):
        return self.cls.predictions.decoder
