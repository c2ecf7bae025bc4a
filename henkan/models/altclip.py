"""AltCLIP: CLIP's vision tower and contrastive objective with a multilingual XLM-R text tower. The text states are
LayerNormed (`pre_LN`), mapped to `project_dim` (`transformation`), and the first token's is projected."""

from __future__ import annotations

from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..layers import linear_layer
from ..outputs import declare_output
from .clip import CLIPConfig, CLIPModel, CLIPPreTrainedModel, CLIPVisionConfig, CLIPVisionModel
from .roberta import RobertaModel

AltCLIPOutput = declare_output("AltCLIPOutput", "loss", "logits_per_image", "logits_per_text", "text_embeds",
                               "image_embeds", "text_model_output", "vision_model_output", module=__name__)
BaseModelOutputWithPoolingAndProjection = declare_output(
    "BaseModelOutputWithPoolingAndProjection", "last_hidden_state", "pooler_output", "hidden_states", "attentions",
    "projection_state", module=__name__)


class AltCLIPTextConfig(PretrainedConfig):
    model_type = "altclip_text_model"
    base_config_key = "text_config"
    defaults = dict(vocab_size=250002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                    intermediate_size=4096, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=514, type_vocab_size=1,
                    initializer_range=0.02, initializer_factor=0.02, layer_norm_eps=1e-05, pad_token_id=1,
                    bos_token_id=0, eos_token_id=2, position_embedding_type="absolute", use_cache=True,
                    project_dim=768)


class AltCLIPVisionConfig(CLIPVisionConfig):
    model_type = "altclip_vision_model"


class AltCLIPConfig(CLIPConfig):
    model_type = "altclip"
    text_config_class, vision_config_class = AltCLIPTextConfig, AltCLIPVisionConfig
    defaults = dict(CLIPConfig.defaults, projection_dim=768)


class AltCLIPPreTrainedModel(CLIPPreTrainedModel):
    config_class = AltCLIPConfig
    base_model_prefix = "altclip"


class AltCLIPTextModel(AltCLIPPreTrainedModel):
    config_class = AltCLIPTextConfig

    def __init__(self, config):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=False)
        self.transformation = linear_layer(config.hidden_size, config.project_dim)
        self.pre_LN = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self):
        return self.roberta.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.roberta.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        out = self.roberta(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                           position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                           output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                           return_dict=True)
        projected = self.transformation(self.pre_LN(out.last_hidden_state))
        result = BaseModelOutputWithPoolingAndProjection(last_hidden_state=projected, pooler_output=projected[:, 0],
                                                         hidden_states=out.hidden_states, attentions=out.attentions)
        return result if (self.config.use_return_dict if return_dict is None else return_dict) else result.to_tuple()


class AltCLIPVisionModel(CLIPVisionModel):
    config_class = AltCLIPVisionConfig


class AltCLIPModel(CLIPModel, AltCLIPPreTrainedModel):
    output_class = AltCLIPOutput

    @staticmethod
    def build_text_tower(config):
        return AltCLIPTextModel(config)

    @staticmethod
    def text_width(config) -> int:
        return config.project_dim

    def get_input_embeddings(self):
        return self.text_model.get_input_embeddings()

    def _text(self, output_attentions=False, output_hidden_states=False, **inputs):
        return self.text_model(**inputs, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True)

    def get_text_features(self, input_ids=None, attention_mask=None, position_ids=None, token_type_ids=None,
                          output_attentions=None, output_hidden_states=None, return_dict=None):
        """The texts' embeddings in the shared space (not normalised)."""
        out = self._text(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         token_type_ids=token_type_ids)
        return self.text_projection(self.pooled_text(out))

    def forward(self, input_ids=None, pixel_values=None, attention_mask=None, position_ids=None, token_type_ids=None,
                return_loss=None, output_attentions=None, output_hidden_states=None, interpolate_pos_encoding=False,
                return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        return self.contrast(dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                  position_ids=position_ids), pixel_values, return_loss, output_attentions,
                             output_hidden_states, interpolate_pos_encoding, return_dict)
