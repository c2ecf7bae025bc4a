"""Chinese-CLIP: CLIP's vision tower and contrastive objective with a BERT text tower, whose [CLS] state is
projected into the shared space."""

from __future__ import annotations

from .. import causal
from ..config import PretrainedConfig
from ..outputs import declare_output
from .bert import BertModel
from .clip import CLIPConfig, CLIPModel, CLIPPreTrainedModel, CLIPVisionConfig, CLIPVisionModel

ChineseCLIPOutput = declare_output("ChineseCLIPOutput", "loss", "logits_per_image", "logits_per_text", "text_embeds",
                                   "image_embeds", "text_model_output", "vision_model_output", module=__name__)


class ChineseCLIPTextConfig(PretrainedConfig):
    model_type = "chinese_clip_text_model"
    base_config_key = "text_config"
    defaults = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                    initializer_range=0.02, initializer_factor=1.0, layer_norm_eps=1e-12, pad_token_id=0,
                    position_embedding_type="absolute", use_cache=True)


class ChineseCLIPVisionConfig(CLIPVisionConfig):
    model_type = "chinese_clip_vision_model"


class ChineseCLIPConfig(CLIPConfig):
    model_type = "chinese_clip"
    text_config_class, vision_config_class = ChineseCLIPTextConfig, ChineseCLIPVisionConfig


class ChineseCLIPPreTrainedModel(CLIPPreTrainedModel):
    config_class = ChineseCLIPConfig
    base_model_prefix = "chinese_clip"


class ChineseCLIPTextModel(BertModel):
    """The BERT text tower (with its pooler when used on its own)."""

    config_class = ChineseCLIPTextConfig


class ChineseCLIPVisionModel(CLIPVisionModel):
    config_class = ChineseCLIPVisionConfig


class ChineseCLIPModel(CLIPModel, ChineseCLIPPreTrainedModel):
    output_class = ChineseCLIPOutput

    @staticmethod
    def build_text_tower(config):
        return ChineseCLIPTextModel(config, add_pooling_layer=False)

    def get_input_embeddings(self):
        return self.text_model.embeddings.word_embeddings

    def _text(self, output_attentions=False, output_hidden_states=False, **inputs):
        return self.text_model(**inputs, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True)

    @staticmethod
    def pooled_text(out):
        # ([CLS]: the reference 4.57's get_text_features reads the missing pooler and fails; 5.x reads [CLS])
        return out.last_hidden_state[:, 0, :]

    def get_text_features(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                          output_attentions=None, output_hidden_states=None, return_dict=None):
        """The texts' embeddings in the shared space (not normalised)."""
        out = self._text(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         position_ids=position_ids)
        return self.text_projection(self.pooled_text(out))

    def forward(self, input_ids=None, pixel_values=None, attention_mask=None, token_type_ids=None, position_ids=None,
                return_loss=None, output_attentions=None, output_hidden_states=None, interpolate_pos_encoding=False,
                return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        return self.contrast(dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                  position_ids=position_ids), pixel_values, return_loss, output_attentions,
                             output_hidden_states, interpolate_pos_encoding, return_dict)

