"""RoBERTa, and XLM-RoBERTa, CamemBERT and Data2Vec-Text on it: BERT's encoder with padding-aware positions and its
own heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..heads import (ForMaskedLM, ForMultipleChoice, ForQuestionAnswering, ForSequenceClassification,
                     ForTokenClassification)
from ..layers import LMPredictionHead, activation, linear_layer
from .bert import BertConfig, BertEmbeddings, BertLMHeadModel, BertModel, BertPreTrainedModel


class RobertaConfig(BertConfig):
    model_type = "roberta"
    defaults = {**BertConfig.defaults, "vocab_size": 50265, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}


class XLMRobertaConfig(RobertaConfig):
    model_type = "xlm-roberta"
    defaults = {**RobertaConfig.defaults, "vocab_size": 30522}  # the reference's default, kept for equal configs


class CamembertConfig(XLMRobertaConfig):
    model_type = "camembert"


class Data2VecTextConfig(XLMRobertaConfig):
    model_type = "data2vec-text"


class RobertaEmbeddings(BertEmbeddings):
    """Positions count real tokens only, starting after the padding index; padding keeps the padding position."""

    def __init__(self, config):
        super().__init__(config)
        self.padding_idx = config.pad_token_id
        self.position_offset = config.pad_token_id + 1
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size,
                                                padding_idx=self.padding_idx)

    def positions(self, input_ids, inputs_embeds, length: int, past=None) -> torch.Tensor:
        if input_ids is None:  # (with a cache too: the reference does not shift positions of embeddings)
            return torch.arange(self.position_offset, length + self.position_offset,
                                device=inputs_embeds.device)[None].expand(inputs_embeds.shape[0], -1)
        real = input_ids.ne(self.padding_idx).int()
        counts = torch.cumsum(real, dim=1).int()
        return (counts if past is None else counts + past) * real + self.padding_idx


class RobertaPreTrainedModel(BertPreTrainedModel):
    config_class = RobertaConfig
    base_model_prefix = "roberta"


class RobertaModel(RobertaPreTrainedModel, BertModel):
    embeddings_class = RobertaEmbeddings


class RobertaClassificationHead(nn.Module):
    """Sentence-level head on the first token: dense, tanh (BigBird: its hidden_act), then the projection to
    labels."""

    def __init__(self, config, dropout: float, act=torch.tanh):
        super().__init__()
        self.dense = linear_layer(config.hidden_size, config.hidden_size)
        self.out_proj = linear_layer(config.hidden_size, config.num_labels)
        self.dropout, self.act = dropout, act

    def forward(self, hidden):
        x = F.dropout(hidden[:, 0], self.dropout, self.training)
        x = F.dropout(self.act(self.dense(x)), self.dropout, self.training)
        return self.out_proj(x)


class HiddenActClassification:
    """The sequence-classification head of BigBird and ConvBERT: RoBERTa's, with the config's hidden_act for tanh."""

    def build_head(self, config):
        self.num_labels = config.num_labels
        self.classifier = RobertaClassificationHead(config, self.classifier_dropout(config),
                                                    activation(config.hidden_act))

    def head(self, outputs):
        return self.classifier(outputs.last_hidden_state)


class RobertaLMHead(LMPredictionHead):
    def __init__(self, config):
        super().__init__(config.hidden_size, config.vocab_size)
        self.dense = linear_layer(config.hidden_size, config.hidden_size)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.act = activation("gelu")

    def forward(self, hidden):
        return self.decoder(self.layer_norm(self.act(self.dense(hidden))))


class RobertaForSequenceClassification(ForSequenceClassification, RobertaPreTrainedModel):
    base_model_class = RobertaModel
    uses_pooler = False

    def build_head(self, config):
        self.num_labels = config.num_labels
        self.classifier = RobertaClassificationHead(config, self.classifier_dropout(config))

    def head(self, outputs):
        return self.classifier(outputs.last_hidden_state)


class RobertaForTokenClassification(ForTokenClassification, RobertaPreTrainedModel):
    base_model_class = RobertaModel


class RobertaForQuestionAnswering(ForQuestionAnswering, RobertaPreTrainedModel):
    base_model_class = RobertaModel


class RobertaForMultipleChoice(ForMultipleChoice, RobertaPreTrainedModel):
    base_model_class = RobertaModel


class RobertaForMaskedLM(ForMaskedLM, RobertaPreTrainedModel):
    base_model_class = RobertaModel
    _tied_weights_keys = ["lm_head.decoder.weight", "lm_head.decoder.bias"]

    def build_head(self, config):
        self.lm_head = RobertaLMHead(config)

    def head(self, outputs):
        return self.lm_head(outputs.last_hidden_state)

    def get_output_embeddings(self):
        return self.lm_head.decoder


class RobertaForCausalLM(RobertaPreTrainedModel, BertLMHeadModel):
    """RoBERTa as a left-to-right language model (`is_decoder=True`), e.g. the decoder of a roberta2roberta
    EncoderDecoderModel: BERT's decoder with RoBERTa's positions and `lm_head`."""

    base_model_class = RobertaModel
    _tied_weights_keys = ["lm_head.decoder.weight", "lm_head.decoder.bias"]

    def build_head(self, config) -> None:
        self.lm_head = RobertaLMHead(config)

    def lm_head_module(self) -> nn.Module:
        return self.lm_head

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, labels=None,
                past_key_values=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, logits_to_keep=0, **kwargs):
        if labels is not None:
            use_cache = False
        return self.lm_forward(locals())


_ROBERTA_CLASSES = (RobertaPreTrainedModel, RobertaModel, RobertaForSequenceClassification,
                    RobertaForTokenClassification, RobertaForQuestionAnswering, RobertaForMultipleChoice,
                    RobertaForMaskedLM, RobertaForCausalLM)


def _renamed(prefix: str, config_class: type, base_model_prefix: str = "roberta") -> tuple[type, ...]:
    """The RoBERTa classes under another name and config class (same weights layout, the base model under
    `base_model_prefix`)."""
    pretrained = type(prefix + "PreTrainedModel", (RobertaPreTrainedModel,),
                      {"config_class": config_class, "base_model_prefix": base_model_prefix, "__module__": __name__})
    base = type(prefix + "Model", (pretrained, RobertaModel), {"__module__": __name__})
    heads = tuple(type(prefix + cls.__name__.removeprefix("Roberta"), (cls,),
                       {"config_class": config_class, "base_model_class": base, "base_model_prefix": base_model_prefix,
                        "__module__": __name__})
                  for cls in _ROBERTA_CLASSES[2:])
    return (pretrained, base, *heads)


(XLMRobertaPreTrainedModel, XLMRobertaModel, XLMRobertaForSequenceClassification, XLMRobertaForTokenClassification,
 XLMRobertaForQuestionAnswering, XLMRobertaForMultipleChoice, XLMRobertaForMaskedLM,
 XLMRobertaForCausalLM) = _renamed("XLMRoberta", XLMRobertaConfig)
(CamembertPreTrainedModel, CamembertModel, CamembertForSequenceClassification, CamembertForTokenClassification,
 CamembertForQuestionAnswering, CamembertForMultipleChoice, CamembertForMaskedLM,
 CamembertForCausalLM) = _renamed("Camembert", CamembertConfig)
(Data2VecTextPreTrainedModel, Data2VecTextModel, Data2VecTextForSequenceClassification,
 Data2VecTextForTokenClassification, Data2VecTextForQuestionAnswering, Data2VecTextForMultipleChoice,
 Data2VecTextForMaskedLM, Data2VecTextForCausalLM) = _renamed("Data2VecText", Data2VecTextConfig, "data2vec_text")
