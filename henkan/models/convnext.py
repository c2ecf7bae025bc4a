"""ConvNeXt and ConvNeXt V2: a pure convolutional network in four stages. A patchify stem (a strided convolution
and a LayerNorm), then per stage a downsampling (LayerNorm and a 2x2 strided convolution) and residual blocks of a
7x7 depthwise convolution, a LayerNorm and a pointwise MLP (V1: scaled by a learned layer scale; V2: with Global
Response Normalization inside the MLP). The pooled output is the LayerNorm of the spatial mean of the last map.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..layers import Holder, activation, linear_layer
from ..outputs import BaseModelOutputWithPoolingAndNoAttention
from ..vision import (ChannelsFirstLayerNorm, ForImageClassification, VisionPreTrainedModel, align_stages,
                      check_pixels, depth_rates, drop_path)


class ConvNextConfig(PretrainedConfig):
    model_type = "convnext"
    defaults = dict(num_channels=3, patch_size=4, num_stages=4, hidden_sizes=None, depths=None, hidden_act="gelu",
                    initializer_range=0.02, layer_norm_eps=1e-12, layer_scale_init_value=1e-6, drop_path_rate=0.0,
                    image_size=224, out_features=None, out_indices=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.hidden_sizes is None:
            self.hidden_sizes = [96, 192, 384, 768]
        if self.depths is None:
            self.depths = [3, 3, 9, 3]
        if not len(self.hidden_sizes) == len(self.depths) == self.num_stages:
            raise ValueError(f"A {self.model_type} config needs one hidden size and one depth per stage: num_stages "
                             f"is {self.num_stages}, hidden_sizes {self.hidden_sizes}, depths {self.depths}.")
        align_stages(self, len(self.depths))


class ConvNextV2Config(ConvNextConfig):
    model_type = "convnextv2"
    defaults = {k: v for k, v in ConvNextConfig.defaults.items() if k != "layer_scale_init_value"}


class GRN(nn.Module):
    """Global Response Normalization of a channels-last map: each channel's L2 norm over the image, relative to the
    mean over channels, rescales the features (`weight`, `bias`; the identity at zero)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, 1, dim))
        self.bias = nn.Parameter(torch.zeros(1, 1, 1, dim))

    def forward(self, x):
        norms = torch.linalg.vector_norm(x, ord=2, dim=(1, 2), keepdim=True)
        return self.weight * (x * (norms / (norms.mean(dim=-1, keepdim=True) + 1e-6))) + self.bias + x


class ConvNextLayer(nn.Module):
    """The residual block: `dwconv`, `layernorm`, `pwconv1`, activation (V2: `grn`), `pwconv2` (V1: times
    `layer_scale_parameter`)."""

    def __init__(self, config, dim: int, drop_path_rate: float = 0.0, grn: bool = False):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.layernorm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = linear_layer(dim, 4 * dim)
        self.act = activation(config.hidden_act)
        self.grn = GRN(4 * dim) if grn else None
        self.pwconv2 = linear_layer(4 * dim, dim)
        scale = 0.0 if grn else config.layer_scale_init_value
        self.layer_scale_parameter = nn.Parameter(scale * torch.ones(dim)) if scale > 0 else None
        self.drop_path_rate = drop_path_rate

    def forward(self, x):
        y = self.act(self.pwconv1(self.layernorm(self.dwconv(x).permute(0, 2, 3, 1))))
        if self.grn is not None:
            y = self.grn(y)
        y = self.pwconv2(y)
        if self.layer_scale_parameter is not None:
            y = self.layer_scale_parameter * y
        return x + drop_path(y.permute(0, 3, 1, 2), self.drop_path_rate, self.training)


class ConvNextPreTrainedModel(VisionPreTrainedModel):
    config_class = ConvNextConfig
    base_model_prefix = "convnext"
    grn = False

    def get_input_embeddings(self):
        return self.base_model.embeddings.patch_embeddings


class ConvNextModel(ConvNextPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        sizes = config.hidden_sizes
        self.embeddings = Holder(
            patch_embeddings=nn.Conv2d(config.num_channels, sizes[0], kernel_size=config.patch_size,
                                       stride=config.patch_size),
            layernorm=ChannelsFirstLayerNorm(sizes[0], eps=1e-6))
        stages = []
        for i, (depth, rates) in enumerate(zip(config.depths, depth_rates(config.drop_path_rate, config.depths))):
            down = [] if i == 0 else [ChannelsFirstLayerNorm(sizes[i - 1], eps=1e-6),
                                      nn.Conv2d(sizes[i - 1], sizes[i], kernel_size=2, stride=2)]
            stages.append(Holder(downsampling_layer=nn.ModuleList(down), layers=nn.ModuleList(
                ConvNextLayer(config, sizes[i], rate, grn=self.grn) for rate in rates)))
        self.encoder = Holder(stages=nn.ModuleList(stages))
        self.layernorm = nn.LayerNorm(sizes[-1], eps=config.layer_norm_eps)
        self.post_init()

    def forward(self, pixel_values=None, output_hidden_states=None, return_dict=None):
        config = self.config
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        conv = self.embeddings.patch_embeddings
        check_pixels(pixel_values, config.num_channels, conv.kernel_size)
        x = self.embeddings.layernorm(conv(pixel_values.to(conv.weight.dtype)))
        hidden_states = (x,) if output_hidden_states else None
        for stage in self.encoder.stages:
            for module in stage.downsampling_layer:
                x = module(x)
            for layer in stage.layers:
                x = layer(x)
            if output_hidden_states:
                hidden_states += (x,)
        out = BaseModelOutputWithPoolingAndNoAttention(last_hidden_state=x, pooler_output=self.layernorm(
            x.mean([-2, -1])), hidden_states=hidden_states)
        return out if (config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


class ConvNextForImageClassification(ForImageClassification, ConvNextPreTrainedModel):
    base_model_class = ConvNextModel


class ConvNextV2PreTrainedModel(ConvNextPreTrainedModel):
    config_class = ConvNextV2Config
    base_model_prefix = "convnextv2"
    grn = True


class ConvNextV2Model(ConvNextV2PreTrainedModel, ConvNextModel):
    pass


class ConvNextV2ForImageClassification(ForImageClassification, ConvNextV2PreTrainedModel):
    base_model_class = ConvNextV2Model
