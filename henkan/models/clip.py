"""CLIP: a text transformer and a vision transformer trained to put an image and its caption at the same point of a
shared space (zero-shot image classification: the caption with the closest embedding wins).

Both towers are pre-norm transformers with `self_attn` (q/k/v/out_proj), `layer_norm1/2` and `mlp.fc1/fc2`. The text
tower reads token and learned position embeddings under a causal mask and pools the end-of-text token's state;
the vision tower reads a class token and image patches, LayerNorms them before the layers (`pre_layrnorm`, the
checkpoints' spelling) and pools the normed class token. Linear projections without bias map both into the
shared space, where similarities are scaled by the learned temperature `logit_scale`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..heads import classification_loss
from ..layers import Attention, FeedForward, linear_layer, padding_mask, run_layers
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPooling, ImageClassifierOutput, declare_output
from ..vision import check_pixels, interpolate_positions, pair

CLIPOutput = declare_output("CLIPOutput", "loss", "logits_per_image", "logits_per_text", "text_embeds",
                            "image_embeds", "text_model_output", "vision_model_output", module=__name__)
CLIPTextModelOutput = declare_output("CLIPTextModelOutput", "text_embeds", "last_hidden_state", "hidden_states",
                                     "attentions", module=__name__)
CLIPVisionModelOutput = declare_output("CLIPVisionModelOutput", "image_embeds", "last_hidden_state", "hidden_states",
                                       "attentions", module=__name__)


class CLIPTextConfig(PretrainedConfig):
    model_type = "clip_text_model"
    base_config_key = "text_config"
    defaults = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, projection_dim=512,
                    num_hidden_layers=12, num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu",
                    layer_norm_eps=1e-5, attention_dropout=0.0, initializer_range=0.02, initializer_factor=1.0,
                    pad_token_id=1, bos_token_id=49406, eos_token_id=49407)


class CLIPVisionConfig(PretrainedConfig):
    model_type = "clip_vision_model"
    base_config_key = "vision_config"
    defaults = dict(hidden_size=768, intermediate_size=3072, projection_dim=512, num_hidden_layers=12,
                    num_attention_heads=12, num_channels=3, image_size=224, patch_size=32, hidden_act="quick_gelu",
                    layer_norm_eps=1e-5, attention_dropout=0.0, initializer_range=0.02, initializer_factor=1.0)


class CLIPConfig(PretrainedConfig):
    """`text_config` and `vision_config` (each a config or its dict), and the shared space's `projection_dim`."""

    model_type = "clip"
    text_config_class, vision_config_class = CLIPTextConfig, CLIPVisionConfig
    defaults = dict(projection_dim=512, logit_scale_init_value=2.6592, initializer_factor=1.0)

    def __init__(self, text_config=None, vision_config=None, **kwargs):
        kwargs.pop("text_config_dict", None)
        kwargs.pop("vision_config_dict", None)
        super().__init__(**kwargs)
        self.text_config = self._part(self.text_config_class, text_config)
        self.vision_config = self._part(self.vision_config_class, vision_config)

    @staticmethod
    def _part(config_class, value) -> PretrainedConfig:
        if value is None:
            return config_class()
        if isinstance(value, PretrainedConfig):
            return config_class(**value.to_dict())
        if not isinstance(value, dict):
            raise TypeError(f"A {config_class.base_config_key} is a {config_class.__name__} or its dict, not "
                            f"{type(value).__name__}.")
        return config_class(**value)

    @classmethod
    def from_text_vision_configs(cls, text_config, vision_config, **kwargs):
        return cls(text_config=text_config.to_dict(), vision_config=vision_config.to_dict(), **kwargs)


# the towers ----------------------------------------------------------------------------------------------------


class CLIPEncoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        width = config.hidden_size
        self.self_attn = Attention(width, config.num_attention_heads, dropout=config.attention_dropout)
        self.layer_norm1 = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.mlp = FeedForward(config.hidden_size, config.intermediate_size, config.hidden_act)
        self.layer_norm2 = nn.LayerNorm(width, eps=config.layer_norm_eps)

    def forward(self, x, mask=None, head_mask=None, output_attentions=False):
        attended, weights = self.self_attn(self.layer_norm1(x), mask, need_weights=output_attentions)
        x = x + attended
        return x + self.mlp(self.layer_norm2(x)), weights


class CLIPEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layers = nn.ModuleList(CLIPEncoderLayer(config) for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, x, mask=None, output_attentions=False, output_hidden_states=False):
        return run_layers(self, self.layers, x, mask=mask, output_attentions=output_attentions,
                          output_hidden_states=output_hidden_states)


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embedding = nn.Embedding(config.max_position_embeddings, config.hidden_size)

    def forward(self, input_ids=None, position_ids=None, inputs_embeds=None):
        length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        limit = self.position_embedding.num_embeddings
        if length > limit:
            raise ValueError(f"Sequence length must be less than max_position_embeddings (got `sequence length`: "
                             f"{length} and max_position_embeddings: {limit}); tokenize with truncation=True.")
        x = self.token_embedding(input_ids) if inputs_embeds is None else inputs_embeds
        if position_ids is None:
            position_ids = torch.arange(length, device=x.device)[None]
        return x + self.position_embedding(position_ids)


class CLIPTextTransformer(nn.Module):
    """Embeddings, the causal encoder, a final LayerNorm; pooled at each row's end-of-text token."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = CLIPTextEmbeddings(config)
        self.encoder = CLIPEncoder(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.eos_token_id = config.eos_token_id

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=False,
                output_hidden_states=False):
        if input_ids is None:
            raise ValueError("You have to specify input_ids (the tokenizer's output).")
        x = self.embeddings(input_ids=input_ids, position_ids=position_ids)
        length = x.shape[1]
        mask = torch.full((length, length), torch.finfo(x.dtype).min, dtype=x.dtype, device=x.device).triu(1)
        mask = mask[None, None]
        padding = padding_mask(attention_mask, x.dtype) if attention_mask is not None else None
        if padding is not None:
            mask = (mask + padding).clamp(min=torch.finfo(x.dtype).min)
        x, hidden_states, attentions = self.encoder(x, mask, output_attentions, output_hidden_states)
        x = self.final_layer_norm(x)
        rows = torch.arange(x.shape[0], device=x.device)
        if self.eos_token_id == 2:  # checkpoints made before eos_token_id was set: the highest id is end-of-text
            ends = input_ids.to(torch.int).argmax(dim=-1)
        else:
            ends = (input_ids == self.eos_token_id).int().argmax(dim=-1)
        return BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=x[rows, ends.to(x.device)],
                                          hidden_states=hidden_states, attentions=attentions)


class CLIPVisionEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.image_size, self.patch_size = pair(config.image_size)[0], pair(config.patch_size)[0]
        self.class_embedding = nn.Parameter(torch.randn(config.hidden_size))
        self.patch_embedding = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=self.patch_size,
                                         stride=self.patch_size, bias=False)
        self.num_patches = (self.image_size // self.patch_size) ** 2
        self.num_positions = self.num_patches + 1
        self.position_embedding = nn.Embedding(self.num_positions, config.hidden_size)

    def forward(self, pixel_values, interpolate_pos_encoding: bool = False):
        check_pixels(pixel_values, self.config.num_channels, (self.patch_size, self.patch_size))
        height, width = pixel_values.shape[-2:]
        if not interpolate_pos_encoding and (height != self.image_size or width != self.image_size):
            raise ValueError(f"Input image size ({height}*{width}) doesn't match model ({self.image_size}*"
                             f"{self.image_size}): resize with the model's image processor, or pass "
                             f"interpolate_pos_encoding=True.")
        patches = self.patch_embedding(pixel_values.to(self.patch_embedding.weight.dtype))
        grid = tuple(patches.shape[-2:])
        patches = patches.flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(patches.shape[0], 1, -1), patches], dim=1)
        table = self.position_embedding.weight[None]
        if interpolate_pos_encoding:
            table = interpolate_positions(table, 1, grid, height == width)
        return x + table


class CLIPVisionTransformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embeddings = CLIPVisionEmbeddings(config)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = CLIPEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixel_values=None, output_attentions=False, output_hidden_states=False,
                interpolate_pos_encoding=False):
        x = self.pre_layrnorm(self.embeddings(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding))
        x, hidden_states, attentions = self.encoder(x, None, output_attentions, output_hidden_states)
        return BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=self.post_layernorm(x[:, 0]),
                                          hidden_states=hidden_states, attentions=attentions)


# models --------------------------------------------------------------------------------------------------------


class CLIPPreTrainedModel(PreTrainedModel):
    config_class = CLIPConfig
    base_model_prefix = "clip"
    supports_gradient_checkpointing = True
    _no_split_modules = ["CLIPEncoderLayer", "CLIPTextEmbeddings", "CLIPVisionEmbeddings"]

    def _init_weights(self, module):
        std = getattr(self.config, "initializer_range", 0.02) * self.config.initializer_factor
        if isinstance(module, CLIPVisionEmbeddings):
            nn.init.normal_(module.class_embedding, std=module.class_embedding.shape[0] ** -0.5 * std)
            nn.init.normal_(module.patch_embedding.weight, std=std)
            nn.init.normal_(module.position_embedding.weight, std=std)
        else:
            super()._init_weights(module)

    def _flags(self, output_attentions, output_hidden_states, return_dict):
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return output_attentions, output_hidden_states, config.use_return_dict if return_dict is None else return_dict


def _vision_part(config):
    return config.vision_config if hasattr(config, "vision_config") else config


class CLIPTextModel(CLIPPreTrainedModel):
    config_class = CLIPTextConfig
    _no_split_modules = ["CLIPTextEmbeddings", "CLIPEncoderLayer"]

    def __init__(self, config):
        super().__init__(config)
        self.text_model = CLIPTextTransformer(config)
        self.build_projection(config)
        self.post_init()

    def build_projection(self, config) -> None:
        """The projection into the shared space, in the classes that have one."""

    def get_input_embeddings(self):
        return self.text_model.embeddings.token_embedding

    def set_input_embeddings(self, value):
        self.text_model.embeddings.token_embedding = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        output_attentions, output_hidden_states, return_dict = self._flags(output_attentions, output_hidden_states,
                                                                           return_dict)
        out = self.text_model(input_ids, attention_mask, position_ids, output_attentions, output_hidden_states)
        return out if return_dict else out.to_tuple()


class CLIPVisionModel(CLIPPreTrainedModel):
    config_class = CLIPVisionConfig
    main_input_name = "pixel_values"
    _no_split_modules = ["CLIPEncoderLayer"]

    def __init__(self, config):
        super().__init__(config)
        self.vision_model = CLIPVisionTransformer(config)
        self.build_projection(config)
        self.post_init()

    def build_projection(self, config) -> None:
        """The projection into the shared space, in the classes that have one."""

    def get_input_embeddings(self):
        return self.vision_model.embeddings.patch_embedding

    def forward(self, pixel_values=None, output_attentions=None, output_hidden_states=None,
                interpolate_pos_encoding=False, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        output_attentions, output_hidden_states, return_dict = self._flags(output_attentions, output_hidden_states,
                                                                           return_dict)
        out = self.vision_model(pixel_values, output_attentions, output_hidden_states, interpolate_pos_encoding)
        return out if return_dict else out.to_tuple()


class CLIPModel(CLIPPreTrainedModel):
    """Both towers and their projections: `get_text_features`, `get_image_features`, and the scaled similarities of
    every text with every image (`logits_per_image` [images, texts], `logits_per_text`)."""

    output_class = CLIPOutput

    def __init__(self, config):
        super().__init__(config)
        text, vision = config.text_config, config.vision_config
        if not isinstance(text, config.text_config_class) or not isinstance(vision, config.vision_config_class):
            raise TypeError(f"config.text_config and config.vision_config must be a "
                            f"{config.text_config_class.__name__} and a {config.vision_config_class.__name__}.")
        self.projection_dim = config.projection_dim
        self.text_model = self.build_text_tower(text)
        self.vision_model = CLIPVisionTransformer(vision)
        self.visual_projection = linear_layer(vision.hidden_size, config.projection_dim, bias=False)
        self.text_projection = linear_layer(self.text_width(text), config.projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(config.logit_scale_init_value))
        self.post_init()

    @staticmethod
    def build_text_tower(config) -> nn.Module:
        return CLIPTextTransformer(config)

    @staticmethod
    def text_width(config) -> int:
        """The width of the pooled text state the projection reads."""
        return config.hidden_size

    def get_input_embeddings(self):
        return self.text_model.embeddings.token_embedding

    def _text(self, output_attentions=False, output_hidden_states=False, **inputs):
        """The text tower's output; its `pooler_output` is what the text projection reads. (The families on CLIP's
        vision tower bring their own text towers and override this.)"""
        return self.text_model(inputs.get("input_ids"), inputs.get("attention_mask"), inputs.get("position_ids"),
                               output_attentions, output_hidden_states)

    def get_text_features(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=None,
                          output_hidden_states=None, return_dict=None) -> torch.Tensor:
        """The texts' embeddings in the shared space (not normalised)."""
        out = self._text(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)
        return self.text_projection(self.pooled_text(out))

    @staticmethod
    def pooled_text(out) -> torch.Tensor:
        """The text state the projection reads."""
        return out.pooler_output

    def get_image_features(self, pixel_values=None, output_attentions=None, output_hidden_states=None,
                           interpolate_pos_encoding=False, return_dict=None) -> torch.Tensor:
        """The images' embeddings in the shared space (not normalised)."""
        out = self.vision_model(pixel_values, False, False, interpolate_pos_encoding)
        return self.visual_projection(out.pooler_output)

    def forward(self, input_ids=None, pixel_values=None, attention_mask=None, position_ids=None, return_loss=None,
                output_attentions=None, output_hidden_states=None, interpolate_pos_encoding=False, return_dict=None,
                **kwargs):
        causal.reject_unknown(self, kwargs)
        return self.contrast(dict(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids),
                             pixel_values, return_loss, output_attentions, output_hidden_states,
                             interpolate_pos_encoding, return_dict)

    def contrast(self, text_inputs: dict, pixel_values, return_loss, output_attentions, output_hidden_states,
                 interpolate_pos_encoding, return_dict):
        """Both towers, the normalised embeddings, every text's scaled similarity with every image."""
        output_attentions, output_hidden_states, return_dict = self._flags(output_attentions, output_hidden_states,
                                                                           return_dict)
        vision = self.vision_model(pixel_values, output_attentions, output_hidden_states, interpolate_pos_encoding)
        text = self._text(output_attentions, output_hidden_states, **text_inputs)
        image_embeds = self.visual_projection(vision.pooler_output)
        text_embeds = self.text_projection(self.pooled_text(text))
        image_embeds = image_embeds / image_embeds.norm(p=2, dim=-1, keepdim=True)
        text_embeds = text_embeds / text_embeds.norm(p=2, dim=-1, keepdim=True)
        logits_per_text = text_embeds @ image_embeds.t().to(text_embeds.device) * \
            self.logit_scale.exp().to(text_embeds.device)
        logits_per_image = logits_per_text.t()
        loss = contrastive_loss(logits_per_text) if return_loss else None
        out = self.output_class(loss=loss, logits_per_image=logits_per_image, logits_per_text=logits_per_text,
                                text_embeds=text_embeds, image_embeds=image_embeds, text_model_output=text,
                                vision_model_output=vision)
        return out if return_dict else out.to_tuple()


def contrastive_loss(logits_per_text: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric loss: each text should pick its own image, and each image its own text."""
    targets = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
    return (F.cross_entropy(logits_per_text, targets) + F.cross_entropy(logits_per_text.t(), targets)) / 2.0


class CLIPTextModelWithProjection(CLIPTextModel):
    def build_projection(self, config) -> None:
        self.text_projection = linear_layer(config.hidden_size, config.projection_dim, bias=False)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        text = super().forward(input_ids, attention_mask, position_ids, output_attentions, output_hidden_states,
                               return_dict=True, **kwargs)
        out = CLIPTextModelOutput(text_embeds=self.text_projection(text.pooler_output),
                                  last_hidden_state=text.last_hidden_state, hidden_states=text.hidden_states,
                                  attentions=text.attentions)
        return out if self._flags(None, None, return_dict)[2] else out.to_tuple()


class CLIPVisionModelWithProjection(CLIPVisionModel):
    def build_projection(self, config) -> None:
        self.visual_projection = linear_layer(config.hidden_size, config.projection_dim, bias=False)

    def forward(self, pixel_values=None, output_attentions=None, output_hidden_states=None,
                interpolate_pos_encoding=False, return_dict=None, **kwargs):
        vision = super().forward(pixel_values, output_attentions, output_hidden_states, interpolate_pos_encoding,
                                 return_dict=True, **kwargs)
        out = CLIPVisionModelOutput(image_embeds=self.visual_projection(vision.pooler_output),
                                    last_hidden_state=vision.last_hidden_state, hidden_states=vision.hidden_states,
                                    attentions=vision.attentions)
        return out if self._flags(None, None, return_dict)[2] else out.to_tuple()


class CLIPForImageClassification(CLIPPreTrainedModel):
    """A classifier over the vision tower's averaged patch states."""

    main_input_name = "pixel_values"

    def __init__(self, config):
        super().__init__(config)
        vision = _vision_part(config)
        self.num_labels = config.num_labels
        self.vision_model = CLIPVisionTransformer(vision)
        self.classifier = linear_layer(vision.hidden_size, config.num_labels) if config.num_labels > 0 else \
            nn.Identity()
        self.post_init()

    def forward(self, pixel_values=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        output_attentions, output_hidden_states, return_dict = self._flags(output_attentions, output_hidden_states,
                                                                           return_dict)
        vision = self.vision_model(pixel_values, output_attentions, output_hidden_states)
        logits = self.classifier(vision.last_hidden_state[:, 1:, :].mean(dim=1))
        loss = classification_loss(logits, labels.to(logits.device), self.config) if labels is not None else None
        out = ImageClassifierOutput(loss=loss, logits=logits, hidden_states=vision.hidden_states,
                                    attentions=vision.attentions)
        return out if return_dict else out.to_tuple()
