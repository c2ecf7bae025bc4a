"""BiT (Big Transfer): a ResNet v2 whose convolutions standardize their weights and whose normalizations are
GroupNorms. A 7x7 stride-2 stem and a 3x3 max pool, then stages of bottleneck blocks, pre-activation (BiT's own)
or post-activation (`layer_type="bottleneck"`, ViT-hybrid's); TensorFlow's "SAME" padding where the config asks for
it. The pooled output is the spatial mean of the last (normalized) map, kept as [batch, channels, 1, 1].
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig
from ..layers import Holder, activation, linear_layer
from ..outputs import BaseModelOutputWithPoolingAndNoAttention
from ..vision import ForImageClassification, VisionPreTrainedModel, align_stages, check_pixels, depth_rates, drop_path

LAYER_TYPES = ("preactivation", "bottleneck")
PADDINGS = ("SAME", "VALID")


class BitConfig(PretrainedConfig):
    model_type = "bit"
    defaults = dict(num_channels=3, embedding_size=64, hidden_sizes=[256, 512, 1024, 2048], depths=[3, 4, 6, 3],
                    layer_type="preactivation", hidden_act="relu", global_padding=None, num_groups=32,
                    drop_path_rate=0.0, embedding_dynamic_padding=False, output_stride=32, width_factor=1,
                    out_features=None, out_indices=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.layer_type not in LAYER_TYPES:
            raise ValueError(f"layer_type={self.layer_type} is not one of {','.join(LAYER_TYPES)}")
        if self.global_padding is not None:
            if str(self.global_padding).upper() not in PADDINGS:
                raise ValueError(f"Padding strategy {self.global_padding} not supported; use one of {PADDINGS} or "
                                 f"None (symmetric padding).")
            self.global_padding = self.global_padding.upper()
        align_stages(self, len(self.depths))


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Total padding TensorFlow's "SAME" adds along a side of `size` pixels."""
    return max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


def pad_same(x, kernel, stride, dilation):
    """`x` padded with zeros as TensorFlow's "SAME" does (the odd pixel at the bottom/right)."""
    height = same_padding(x.shape[-2], kernel[0], stride[0], dilation[0])
    width = same_padding(x.shape[-1], kernel[1], stride[1], dilation[1])
    if height or width:
        x = F.pad(x, [width // 2, width - width // 2, height // 2, height - height // 2])
    return x


class WeightStandardizedConv2d(nn.Conv2d):
    """A convolution whose kernel is standardized (zero mean, unit variance per output channel) when applied.
    `padding`: None (symmetric), "SAME" (static when it can be, else computed per input) or "VALID"."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding="SAME", dilation=1, groups=1,
                 eps=1e-6):
        self.dynamic = False
        symmetric = ((stride - 1) + dilation * (kernel_size - 1)) // 2
        if padding == "VALID":
            symmetric = 0
        elif padding == "SAME" and not (stride == 1 and (dilation * (kernel_size - 1)) % 2 == 0):
            symmetric, self.dynamic = 0, True
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=symmetric,
                         dilation=dilation, groups=groups, bias=False)
        self.eps = eps

    def forward(self, x):
        if self.dynamic:
            x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, training=True,
                              momentum=0.0, eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class GroupNormActivation(nn.GroupNorm):
    """GroupNorm (config.num_groups groups), then the config's activation unless `apply_activation` is false."""

    def __init__(self, config, num_channels: int, apply_activation: bool = True):
        super().__init__(config.num_groups, num_channels, eps=1e-5)
        self.act = activation(config.hidden_act) if apply_activation else None

    def forward(self, x):
        x = super().forward(x)
        return x if self.act is None else self.act(x)


def make_div(value, divisor: int = 8) -> int:
    """`value` rounded to a multiple of `divisor` (never down by more than 10%)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class BitLayer(nn.Module):
    """A bottleneck block: 1x1, 3x3 (strided), 1x1 weight-standardized convolutions, each with a GroupNorm; the
    first block of a stage has a `downsample` projection of the shortcut. Pre-activation blocks normalize before
    each convolution (the shortcut projection reads the first normalized input); post-activation blocks after, with
    the activation applied after the sum."""

    def __init__(self, config, in_channels, out_channels, stride, dilation, first_dilation, drop_path_rate, first):
        super().__init__()
        self.preact = config.layer_type == "preactivation"
        padding, mid = config.global_padding, make_div(out_channels * 0.25)
        if first:
            self.downsample = Holder(conv=WeightStandardizedConv2d(in_channels, out_channels, 1, stride=stride,
                                                                   eps=1e-8, padding=padding),
                                     norm=nn.Identity() if self.preact else
                                     GroupNormActivation(config, out_channels, apply_activation=False))
        else:
            self.downsample = None
        conv2 = dict(stride=stride, eps=1e-8, padding=padding)
        if not self.preact:  # (pre-activation blocks take no dilation)
            conv2["dilation"] = first_dilation
        self.conv1 = WeightStandardizedConv2d(in_channels, mid, 1, eps=1e-8, padding=padding)
        self.conv2 = WeightStandardizedConv2d(mid, mid, 3, **conv2)
        self.conv3 = WeightStandardizedConv2d(mid, out_channels, 1, eps=1e-8, padding=padding)
        if self.preact:
            self.norm1 = GroupNormActivation(config, in_channels)
            self.norm2 = GroupNormActivation(config, mid)
            self.norm3 = GroupNormActivation(config, mid)
        else:
            self.norm1 = GroupNormActivation(config, mid)
            self.norm2 = GroupNormActivation(config, mid)
            self.norm3 = GroupNormActivation(config, out_channels, apply_activation=False)
            self.act = activation(config.hidden_act)
        self.drop_path_rate = drop_path_rate

    def _shortcut(self, x):
        return x if self.downsample is None else self.downsample.norm(self.downsample.conv(x))

    def forward(self, x):
        if self.preact:
            normed = self.norm1(x)
            shortcut = x if self.downsample is None else self._shortcut(normed)
            y = self.conv3(self.norm3(self.conv2(self.norm2(self.conv1(normed)))))
            return drop_path(y, self.drop_path_rate, self.training) + shortcut
        y = self.norm3(self.conv3(self.norm2(self.conv2(self.norm1(self.conv1(x))))))
        return self.act(drop_path(y, self.drop_path_rate, self.training) + self._shortcut(x))


class BitMaxPool(nn.Module):
    """The stem's 3x3 stride-2 max pool, with TensorFlow's "SAME" zero padding when `dynamic`."""

    def __init__(self, dynamic: bool):
        super().__init__()
        self.dynamic = dynamic

    def forward(self, x):
        if self.dynamic:
            x = pad_same(x, (3, 3), (2, 2), (1, 1))
        return F.max_pool2d(x, 3, 2)


class BitPreTrainedModel(VisionPreTrainedModel):
    config_class = BitConfig
    base_model_prefix = "bit"

    def get_input_embeddings(self):
        return self.base_model.embedder.convolution


class BitModel(BitPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        preact = config.layer_type == "preactivation"
        self.embedder = Holder(
            convolution=WeightStandardizedConv2d(config.num_channels, config.embedding_size, 7, stride=2, eps=1e-8,
                                                 padding=config.global_padding),
            norm=nn.Identity() if preact else GroupNormActivation(config, config.embedding_size),
            pooler=BitMaxPool(config.embedding_dynamic_padding))
        self.stem_padding = 0 if config.global_padding == "SAME" else 1
        stages, channels, stride_so_far, dilation = [], config.embedding_size, 4, 1
        for i, (depth, size, rates) in enumerate(zip(config.depths, config.hidden_sizes,
                                                     depth_rates(config.drop_path_rate, config.depths))):
            out_channels, stride = make_div(size * config.width_factor), 1 if i == 0 else 2
            if stride_so_far >= config.output_stride:
                dilation, stride = dilation * stride, 1
            first_dilation = 1 if dilation in (1, 2) else 2
            layers = []
            for j, rate in enumerate(rates):
                layers.append(BitLayer(config, channels, out_channels, stride if j == 0 else 1, dilation,
                                       first_dilation if j == 0 else dilation, rate, first=j == 0))
                channels = out_channels
            stages.append(Holder(layers=nn.Sequential(*layers)))
            stride_so_far *= stride
        self.encoder = Holder(stages=nn.ModuleList(stages))
        self.norm = GroupNormActivation(config, config.hidden_sizes[-1]) if preact else nn.Identity()
        self.post_init()

    def forward(self, pixel_values=None, output_hidden_states=None, return_dict=None):
        config = self.config
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        check_pixels(pixel_values, config.num_channels)
        stem = self.embedder
        x = stem.convolution(pixel_values.to(stem.convolution.weight.dtype))
        if self.stem_padding:
            x = F.pad(x, (1, 1, 1, 1))
        x = stem.pooler(stem.norm(x))
        hidden_states = (x,) if output_hidden_states else None
        for stage in self.encoder.stages:
            x = stage.layers(x)
            if output_hidden_states:
                hidden_states += (x,)
        x = self.norm(x)
        out = BaseModelOutputWithPoolingAndNoAttention(last_hidden_state=x, pooler_output=x.mean((-2, -1),
                                                                                                 keepdim=True),
                                                       hidden_states=hidden_states)
        return out if (config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


class BitForImageClassification(ForImageClassification, BitPreTrainedModel):
    """`classifier`: a flatten and a linear layer on the pooled map."""

    base_model_class = BitModel

    def build_head(self, config):
        self.classifier = nn.Sequential(nn.Flatten(), linear_layer(config.hidden_sizes[-1], config.num_labels)
                                        if config.num_labels > 0 else nn.Identity())
