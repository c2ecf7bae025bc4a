"""BEiT and Data2Vec-Vision: ViT's pre-LayerNorm encoder with layer scales, a key projection without bias, relative
position biases (one table per layer, or one shared by all) instead of (or besides) absolute positions, and mean
pooling of the patch states. Heads: image classification, BEiT's masked image modeling (visual-token logits of the
masked patches), and semantic segmentation (four encoder levels resized into a feature pyramid, a UperNet decoder
and an auxiliary FCN head).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig
from ..layers import Holder, linear_layer
from ..outputs import MaskedLMOutput, SemanticSegmenterOutput, declare_output
from ..vision import (ForPatchImageClassification, PatchEncoder, PatchTokenEmbeddings, VisionLayer, VisionPreTrainedModel,
                      align_stages, depth_rates, pair, window_position_index)

BeitModelOutputWithPooling = declare_output(
    "BeitModelOutputWithPooling", "last_hidden_state", "pooler_output", "hidden_states", "attentions",
    module=__name__, doc="BEiT's base output; `pooler_output` is the mean patch state (or the class token's).")

_BEIT_DEFAULTS = dict(
    hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.02,
    layer_norm_eps=1e-12, image_size=224, patch_size=16, num_channels=3, use_mask_token=False,
    use_absolute_position_embeddings=False, use_relative_position_bias=False, use_shared_relative_position_bias=False,
    layer_scale_init_value=0.1, drop_path_rate=0.1, use_mean_pooling=True, pool_scales=[1, 2, 3, 6],
    use_auxiliary_head=True, auxiliary_loss_weight=0.4, auxiliary_channels=256, auxiliary_num_convs=1,
    auxiliary_concat_input=False, semantic_loss_ignore_index=255)


class BeitConfig(PretrainedConfig):
    model_type = "beit"
    defaults = dict(vocab_size=8192, **_BEIT_DEFAULTS, out_features=None, out_indices=None, add_fpn=False,
                    reshape_hidden_states=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        align_stages(self, self.num_hidden_layers)


class Data2VecVisionConfig(PretrainedConfig):
    model_type = "data2vec-vision"
    defaults = dict(_BEIT_DEFAULTS, out_indices=[3, 5, 7, 11])


@functools.lru_cache(maxsize=16)
@torch.inference_mode(False)  # (cached: a tensor made under inference mode could not be used with autograd later)
def relative_position_index(grid: tuple[int, int]) -> torch.Tensor:
    """[n + 1, n + 1] indices into a relative position table for the class token and a grid of n patches: the
    (2h - 1)(2w - 1) patch-to-patch offsets, then class-to-patch, patch-to-class and class-to-class."""
    height, width = grid
    distances = (2 * height - 1) * (2 * width - 1)
    index = torch.empty((height * width + 1,) * 2, dtype=torch.long)
    index[1:, 1:] = window_position_index(grid)
    index[0, :] = distances
    index[:, 0] = distances + 1
    index[0, 0] = distances + 2
    return index


class RelativePositionBias(nn.Module):
    """`relative_position_bias_table`: a learned bias per head for each offset between two patches of the
    pretraining grid, and for the class token's three relations. `forward(grid)` gives the additive attention bias
    [1, heads, n + 1, n + 1] of another grid, the offset table resized bilinearly to it."""

    def __init__(self, config, grid: tuple[int, int]):
        super().__init__()
        self.grid = grid
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * grid[0] - 1) * (2 * grid[1] - 1) + 3, config.num_attention_heads))

    def forward(self, grid: tuple[int, int]) -> torch.Tensor:
        table = self.relative_position_bias_table
        if grid != self.grid:
            old = (2 * self.grid[0] - 1, 2 * self.grid[1] - 1)
            new = (2 * grid[0] - 1, 2 * grid[1] - 1)
            # (the reference lays the pretraining offsets out as width x height before resizing to height x width)
            offsets = table[:-3].reshape(1, old[1], old[0], -1).permute(0, 3, 1, 2)
            offsets = F.interpolate(offsets, size=new, mode="bilinear")
            table = torch.cat([offsets.permute(0, 2, 3, 1).reshape(new[0] * new[1], -1), table[-3:]])
        index = relative_position_index(grid).to(table.device)
        return table[index].permute(2, 0, 1).unsqueeze(0)


class BeitPreTrainedModel(VisionPreTrainedModel):
    config_class = BeitConfig
    base_model_prefix = "beit"
    _keys_to_ignore_on_load_unexpected = [r".*relative_position_index.*"]


class BeitEmbeddings(PatchTokenEmbeddings):
    fixed_size = False


class BeitPooler(nn.Module):
    """With config.use_mean_pooling, `layernorm` of the mean patch state; otherwise the class token's state."""

    def __init__(self, config):
        super().__init__()
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.use_mean_pooling \
            else None

    def forward(self, hidden):
        return hidden[:, 0] if self.layernorm is None else self.layernorm(hidden[:, 1:].mean(1))


class BeitModel(PatchEncoder, BeitPreTrainedModel):
    output_class = BeitModelOutputWithPooling

    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = BeitEmbeddings(config)
        grid = self.embeddings.patch_embeddings.patch_shape
        rates = depth_rates(config.drop_path_rate, [config.num_hidden_layers])[0]
        layers = []
        for rate in rates:
            layer = VisionLayer(config, key_bias=False, drop_path_rate=rate)
            if config.use_relative_position_bias:
                layer.attention.attention.add_module("relative_position_bias", RelativePositionBias(config, grid))
            layers.append(layer)
        self.encoder = Holder(layer=nn.ModuleList(layers))
        if config.use_shared_relative_position_bias:
            self.encoder.add_module("relative_position_bias", RelativePositionBias(config, grid))
        self.layernorm = nn.Identity() if config.use_mean_pooling else nn.LayerNorm(config.hidden_size,
                                                                                    eps=config.layer_norm_eps)
        self.pooler = BeitPooler(config) if add_pooling_layer else None
        self.post_init()

    def attention_bias(self, pixel_values) -> list | torch.Tensor | None:
        """Each layer's relative position bias for the image's patch grid (shared table plus the layer's own),
        computed once per forward."""
        patch = self.embeddings.patch_embeddings.patch_size
        grid = (pixel_values.shape[-2] // patch[0], pixel_values.shape[-1] // patch[1])
        shared = getattr(self.encoder, "relative_position_bias", None)
        shared = None if shared is None else shared(grid)
        if not self.config.use_relative_position_bias:
            return shared
        own = [layer.attention.attention.relative_position_bias(grid) for layer in self.encoder.layer]
        return own if shared is None else [bias + shared for bias in own]


class BeitForImageClassification(ForPatchImageClassification, BeitPreTrainedModel):
    """A linear classifier on the pooled output (the mean patch state, normalised)."""

    base_model_class = BeitModel


class BeitForMaskedImageModeling(BeitPreTrainedModel):
    """BEiT pretraining: `lm_head` predicts each patch's visual token (a VQ-VAE codebook id, config.vocab_size of
    them) from the `layernorm`-ed patch states; the loss is the cross-entropy on the masked patches."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.beit = BeitModel(config, add_pooling_layer=False)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.lm_head = linear_layer(config.hidden_size, config.vocab_size)
        self.post_init()

    def get_output_embeddings(self):
        return None

    def forward(self, pixel_values=None, bool_masked_pos=None, head_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, interpolate_pos_encoding=None, return_dict=None):
        outputs = self.beit(pixel_values, bool_masked_pos=bool_masked_pos, head_mask=head_mask,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                            return_dict=True)
        logits = self.lm_head(self.layernorm(outputs.last_hidden_state)[:, 1:])
        loss = None
        if labels is not None:
            if bool_masked_pos is None:
                raise ValueError("labels (the visual tokens of the masked patches) need bool_masked_pos, which says "
                                 "which patches they belong to.")
            loss = F.cross_entropy(logits[bool_masked_pos], labels)
        out = MaskedLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                             attentions=outputs.attentions)
        return out if (self.config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


# semantic segmentation ---------------------------------------------------------------------------------------------


class ConvModule(nn.Module):
    """`conv` (no bias), `bn` (BatchNorm) and a ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=False, dilation=dilation)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _resize(x, size):
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class UperHead(nn.Module):
    """UperNet's decoder: a pyramid pooling module on the coarsest level (`psp_modules`, `bottleneck`), a top-down
    feature pyramid (`lateral_convs`, `fpn_convs`), all levels resized to the finest and fused
    (`fpn_bottleneck`), then a 1x1 `classifier`."""

    def __init__(self, config):
        super().__init__()
        width, levels, scales = config.hidden_size, 4, config.pool_scales
        self.psp_modules = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d(scale), ConvModule(width, width, 1))
                                         for scale in scales)
        self.bottleneck = ConvModule(width * (1 + len(scales)), width, 3, padding=1)
        self.lateral_convs = nn.ModuleList(ConvModule(width, width, 1) for _ in range(levels - 1))
        self.fpn_convs = nn.ModuleList(ConvModule(width, width, 3, padding=1) for _ in range(levels - 1))
        self.fpn_bottleneck = ConvModule(levels * width, width, 3, padding=1)
        self.classifier = nn.Conv2d(width, config.num_labels, kernel_size=1)

    def forward(self, features):
        top = features[-1]
        pooled = [_resize(block(top), top.shape[2:]) for block in self.psp_modules]
        laterals = [conv(f) for conv, f in zip(self.lateral_convs, features)]
        laterals.append(self.bottleneck(torch.cat([top] + pooled, dim=1)))
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + _resize(laterals[i], laterals[i - 1].shape[2:])
        outs = [conv(lateral) for conv, lateral in zip(self.fpn_convs, laterals)] + [laterals[-1]]
        size = outs[0].shape[2:]
        outs = [outs[0]] + [_resize(out, size) for out in outs[1:]]
        return self.classifier(self.fpn_bottleneck(torch.cat(outs, dim=1)))


class FCNHead(nn.Module):
    """The auxiliary head: `convs` (config.auxiliary_num_convs 3x3 ConvModules) on the third pyramid level,
    optionally `conv_cat` of their output with the input, then a 1x1 `classifier`."""

    def __init__(self, config, in_index: int = 2):
        super().__init__()
        width, channels = config.hidden_size, config.auxiliary_channels
        self.in_index, self.concat_input = in_index, config.auxiliary_concat_input
        convs = [ConvModule(width if i == 0 else channels, channels, 3, padding=1)
                 for i in range(config.auxiliary_num_convs)]
        self.convs = nn.Sequential(*convs) if convs else nn.Identity()
        if self.concat_input:
            self.conv_cat = ConvModule(width + channels, channels, 3, padding=1)
        self.classifier = nn.Conv2d(channels, config.num_labels, kernel_size=1)

    def forward(self, features):
        x = features[self.in_index]
        out = self.convs(x)
        if self.concat_input:
            out = self.conv_cat(torch.cat([x, out], dim=1))
        return self.classifier(out)


class BeitForSemanticSegmentation(BeitPreTrainedModel):
    """Per-pixel class logits at a quarter of the image's resolution: the patch states of the four layers of
    config.out_indices become maps at 4x, 2x, 1x and 1/2x the patch grid (`fpn1`..`fpn4`), decoded by UperNet
    (`decode_head`); `auxiliary_head` adds a weighted FCN loss while training."""

    base_model_class = BeitModel

    def __init__(self, config):
        super().__init__(config)
        if len(config.out_indices) != 4:
            raise ValueError(f"{type(self).__name__} requires config.out_indices to be a list of 4 integers, "
                             f"specifying which features to use from the backbone (got {config.out_indices}). One "
                             f"can use [3, 5, 7, 11] in case of a base-sized architecture.")
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, self.base_model_class(config, add_pooling_layer=False))
        h = config.hidden_size
        self.fpn1 = nn.Sequential(nn.ConvTranspose2d(h, h, kernel_size=2, stride=2), nn.BatchNorm2d(h), nn.GELU(),
                                  nn.ConvTranspose2d(h, h, kernel_size=2, stride=2))
        self.fpn2 = nn.Sequential(nn.ConvTranspose2d(h, h, kernel_size=2, stride=2))
        self.fpn3 = nn.Identity()
        self.fpn4 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.decode_head = UperHead(config)
        self.auxiliary_head = FCNHead(config) if config.use_auxiliary_head else None
        self.post_init()

    def forward(self, pixel_values=None, head_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, interpolate_pos_encoding=None, return_dict=None):
        config = self.config
        if labels is not None and config.num_labels == 1:
            raise ValueError("The number of labels should be greater than one")
        outputs = self.base_model(pixel_values, head_mask=head_mask, output_attentions=output_attentions,
                                  output_hidden_states=True, return_dict=True)
        side = pair(config.image_size)[0] // pair(config.patch_size)[0]
        batch = pixel_values.shape[0]
        levels = [state for i, state in enumerate(outputs.hidden_states) if i + 1 in config.out_indices]
        levels = [state[:, 1:].permute(0, 2, 1).reshape(batch, -1, side, side) for state in levels]
        features = [fpn(level) for fpn, level in zip((self.fpn1, self.fpn2, self.fpn3, self.fpn4), levels)]
        logits = self.decode_head(features)
        loss = None
        if labels is not None:
            size = labels.shape[-2:]
            loss = F.cross_entropy(_resize(logits, size), labels, ignore_index=config.semantic_loss_ignore_index)
            if self.auxiliary_head is not None:
                auxiliary = _resize(self.auxiliary_head(features), size)
                loss = loss + config.auxiliary_loss_weight * F.cross_entropy(
                    auxiliary, labels, ignore_index=config.semantic_loss_ignore_index)
        if output_hidden_states is None:
            output_hidden_states = config.output_hidden_states
        out = SemanticSegmenterOutput(loss=loss, logits=logits,
                                      hidden_states=outputs.hidden_states if output_hidden_states else None,
                                      attentions=outputs.attentions)
        return out if (config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


# Data2Vec-Vision: BEiT's network under its own names ----------------------------------------------------------------


class Data2VecVisionPreTrainedModel(BeitPreTrainedModel):
    config_class = Data2VecVisionConfig
    base_model_prefix = "data2vec_vision"


class Data2VecVisionModel(Data2VecVisionPreTrainedModel, BeitModel):
    def __init__(self, config, add_pooling_layer: bool = False):  # (no pooler unless asked, unlike BEiT)
        super().__init__(config, add_pooling_layer)


class Data2VecVisionForImageClassification(ForPatchImageClassification, Data2VecVisionPreTrainedModel):
    base_model_class = Data2VecVisionModel
    base_model_kwargs = {"add_pooling_layer": True}


class Data2VecVisionForSemanticSegmentation(Data2VecVisionPreTrainedModel, BeitForSemanticSegmentation):
    base_model_class = Data2VecVisionModel
