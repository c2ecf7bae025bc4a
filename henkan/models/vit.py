"""ViT and DeiT: a pre-LayerNorm transformer encoder over image patches, with a class token (DeiT adds a
distillation token), learned absolute positions (bicubically resized with `interpolate_pos_encoding`), a final
LayerNorm and a tanh pooler. Heads: image classification, DeiT's classification with its distillation head, and
SimMIM masked image modeling (a 1x1 convolution and a pixel shuffle back to pixels).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig
from ..layers import Holder
from ..outputs import MaskedImageModelingOutput, declare_output
from ..vision import (ForPatchImageClassification, PatchEncoder, PatchTokenEmbeddings, Pooler, VisionLayer, VisionPreTrainedModel,
                      classifier_layer)


class ViTConfig(PretrainedConfig):
    model_type = "vit"
    defaults = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                    hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                    initializer_range=0.02, layer_norm_eps=1e-12, image_size=224, patch_size=16, num_channels=3,
                    qkv_bias=True, encoder_stride=16, pooler_output_size=None, pooler_act="tanh")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.pooler_output_size:
            self.pooler_output_size = self.hidden_size


class DeiTConfig(ViTConfig):
    model_type = "deit"


class ViTPreTrainedModel(VisionPreTrainedModel):
    config_class = ViTConfig
    base_model_prefix = "vit"


class ViTModel(PatchEncoder, ViTPreTrainedModel):
    embeddings_class = PatchTokenEmbeddings

    def __init__(self, config, add_pooling_layer: bool = True, use_mask_token: bool = False):
        super().__init__(config)
        self.embeddings = self.embeddings_class(config, use_mask_token=use_mask_token)
        self.encoder = Holder(layer=nn.ModuleList(VisionLayer(config) for _ in range(config.num_hidden_layers)))
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pooler = Pooler(config) if add_pooling_layer else None
        self.post_init()


class ViTForImageClassification(ForPatchImageClassification, ViTPreTrainedModel):
    """A linear classifier on the class token's final state."""

    base_model_class = ViTModel
    base_model_kwargs = {"add_pooling_layer": False}
    reads_first_token = True

    def features(self, outputs):
        return outputs.last_hidden_state[:, 0]


class ViTForMaskedImageModeling(ViTPreTrainedModel):
    """SimMIM: the patch states back to pixels (`decoder`: a 1x1 convolution to encoder_stride^2 * channels, then a
    pixel shuffle); the loss is the mean L1 error on the masked patches' pixels."""

    base_model_class = ViTModel
    prefix_tokens = 1  # states before the patches' (the class token)

    def __init__(self, config):
        super().__init__(config)
        setattr(self, self.base_model_prefix,
                self.base_model_class(config, add_pooling_layer=False, use_mask_token=True))
        self.decoder = nn.Sequential(
            nn.Conv2d(config.hidden_size, config.encoder_stride ** 2 * config.num_channels, kernel_size=1),
            nn.PixelShuffle(config.encoder_stride))
        self.post_init()

    def patch_states(self, hidden):
        return hidden[:, self.prefix_tokens:]

    def forward(self, pixel_values=None, bool_masked_pos=None, head_mask=None, output_attentions=None,
                output_hidden_states=None, interpolate_pos_encoding=None, return_dict=None):
        config = self.config
        if bool_masked_pos is not None and config.patch_size != config.encoder_stride:
            raise ValueError(f"When `bool_masked_pos` is provided, `patch_size` must be equal to `encoder_stride` to "
                             f"ensure that the reconstructed image has the same dimensions as the input. Got "
                             f"`patch_size` = {config.patch_size} and `encoder_stride` = {config.encoder_stride}.")
        outputs = self.base_model(pixel_values, bool_masked_pos=bool_masked_pos, head_mask=head_mask,
                                  output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                  interpolate_pos_encoding=interpolate_pos_encoding, return_dict=True)
        states = self.patch_states(outputs.last_hidden_state)
        batch, length, width = states.shape
        side = math.isqrt(length)
        if side * side != length:
            raise ValueError(f"Masked image modeling rebuilds a square patch grid, but the image gave {length} "
                             f"patches; use square images.")
        reconstruction = self.decoder(states.transpose(1, 2).reshape(batch, width, side, side))
        loss = None
        if bool_masked_pos is not None:
            size = config.image_size // config.patch_size
            mask = (bool_masked_pos.reshape(-1, size, size).repeat_interleave(config.patch_size, 1)
                    .repeat_interleave(config.patch_size, 2).unsqueeze(1).contiguous())
            error = F.l1_loss(pixel_values, reconstruction, reduction="none")
            loss = (error * mask).sum() / (mask.sum() + 1e-5) / config.num_channels
        out = MaskedImageModelingOutput(loss=loss, reconstruction=reconstruction,
                                        hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return out if (config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


# DeiT ---------------------------------------------------------------------------------------------------------------


class DeiTPreTrainedModel(VisionPreTrainedModel):
    config_class = DeiTConfig
    base_model_prefix = "deit"


class DeiTEmbeddings(PatchTokenEmbeddings):
    distillation = True


class DeiTModel(DeiTPreTrainedModel, ViTModel):
    embeddings_class = DeiTEmbeddings


class DeiTForImageClassification(ForPatchImageClassification, DeiTPreTrainedModel):
    """A linear classifier on the class token's final state (the distillation token is not used)."""

    base_model_class = DeiTModel
    base_model_kwargs = {"add_pooling_layer": False}
    reads_first_token = True

    def features(self, outputs):
        return outputs.last_hidden_state[:, 0]


DeiTForImageClassificationWithTeacherOutput = declare_output(
    "DeiTForImageClassificationWithTeacherOutput", "logits", "cls_logits", "distillation_logits", "hidden_states",
    "attentions", module=__name__,
    doc="DeiT's two heads: `cls_logits` (class token), `distillation_logits` (distillation token), their mean.")


class DeiTForImageClassificationWithTeacher(DeiTPreTrainedModel):
    """Inference with both heads: `cls_classifier` on the class token, `distillation_classifier` on the
    distillation token; the logits are their mean."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.deit = DeiTModel(config, add_pooling_layer=False)
        self.cls_classifier = classifier_layer(config.hidden_size, config.num_labels)
        self.distillation_classifier = classifier_layer(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, pixel_values=None, head_mask=None, output_attentions=None, output_hidden_states=None,
                interpolate_pos_encoding=None, return_dict=None):
        outputs = self.deit(pixel_values, head_mask=head_mask, output_attentions=output_attentions,
                            output_hidden_states=output_hidden_states,
                            interpolate_pos_encoding=interpolate_pos_encoding, return_dict=True)
        states = outputs.last_hidden_state
        cls_logits = self.cls_classifier(states[:, 0])
        distillation_logits = self.distillation_classifier(states[:, 1])
        out = DeiTForImageClassificationWithTeacherOutput(
            logits=(cls_logits + distillation_logits) / 2, cls_logits=cls_logits,
            distillation_logits=distillation_logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions)
        return out if (self.config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


class DeiTForMaskedImageModeling(DeiTPreTrainedModel, ViTForMaskedImageModeling):
    base_model_class = DeiTModel

    def patch_states(self, hidden):
        # (the reference drops the first and the last state, keeping the distillation token and one patch short)
        return hidden[:, 1:-1]
