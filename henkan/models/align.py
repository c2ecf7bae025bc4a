"""ALIGN: an EfficientNet image tower and a BERT text tower trained contrastively on noisy alt-text. The text
[CLS] state is projected (with bias) into the space of the image tower's pooled features; similarities are divided
by a learned `temperature`, and the loss smooths its labels by 0.1.

The EfficientNet tower: a strided stem convolution, then blocks of (1x1 expansion, depthwise convolution,
squeeze-and-excitation, 1x1 projection), widths and repeats scaled by `width_coefficient` / `depth_coefficient`;
the residual joins stride-1 blocks after the first of each stage. Pooling averages (or maxes) the last map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..layers import activation, linear_layer
from ..outputs import declare_output
from ..vision import check_pixels
from .bert import BertModel
from .clip import CLIPConfig, CLIPPreTrainedModel

AlignOutput = declare_output("AlignOutput", "loss", "logits_per_image", "logits_per_text", "text_embeds",
                             "image_embeds", "text_model_output", "vision_model_output", module=__name__)
BaseModelOutputWithPoolingAndNoAttention = declare_output(
    "BaseModelOutputWithPoolingAndNoAttention", "last_hidden_state", "pooler_output", "hidden_states",
    module=__name__)


class AlignTextConfig(PretrainedConfig):
    model_type = "align_text_model"
    base_config_key = "text_config"
    defaults = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                    initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0, position_embedding_type="absolute",
                    use_cache=True)


class AlignVisionConfig(PretrainedConfig):
    model_type = "align_vision_model"
    base_config_key = "vision_config"
    defaults = dict(num_channels=3, image_size=600, width_coefficient=2.0, depth_coefficient=3.1, depth_divisor=8,
                    kernel_sizes=[3, 3, 5, 3, 5, 5, 3], in_channels=[32, 16, 24, 40, 80, 112, 192],
                    out_channels=[16, 24, 40, 80, 112, 192, 320], depthwise_padding=[], strides=[1, 2, 2, 2, 1, 2, 1],
                    num_block_repeats=[1, 2, 2, 3, 3, 4, 1], expand_ratios=[1, 6, 6, 6, 6, 6, 6],
                    squeeze_expansion_ratio=0.25, hidden_act="swish", hidden_dim=2560, pooling_type="mean",
                    initializer_range=0.02, batch_norm_eps=0.001, batch_norm_momentum=0.99, drop_connect_rate=0.2)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stages = {name: len(getattr(self, name)) for name in ("kernel_sizes", "in_channels", "out_channels",
                                                               "strides", "num_block_repeats", "expand_ratios")}
        if len(set(stages.values())) != 1:
            raise ValueError(f"The stage lists of an EfficientNet config describe one stage per entry and must have "
                             f"the same length; got {stages}.")
        if self.pooling_type not in ("mean", "max"):
            raise ValueError(f"pooling_type is 'mean' or 'max', not {self.pooling_type!r}.")
        self.num_hidden_layers = sum(self.num_block_repeats) * 4


class AlignConfig(CLIPConfig):
    model_type = "align"
    text_config_class, vision_config_class = AlignTextConfig, AlignVisionConfig
    defaults = dict(projection_dim=640, temperature_init_value=1.0, initializer_range=0.02)


# the EfficientNet tower ----------------------------------------------------------------------------------------


def round_filters(config, channels: int) -> int:
    """`channels` scaled by the width coefficient, rounded to a multiple of depth_divisor (never 10% down)."""
    divisor = config.depth_divisor
    channels *= config.width_coefficient
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * channels else rounded)


def _batch_norm(config, channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=config.batch_norm_eps, momentum=config.batch_norm_momentum)


class AlignVisionEmbeddings(nn.Module):
    """The stem: pad right and bottom by one, a stride-2 3x3 convolution, batch norm, activation."""

    def __init__(self, config):
        super().__init__()
        self.out_dim = round_filters(config, 32)
        self.convolution = nn.Conv2d(config.num_channels, self.out_dim, kernel_size=3, stride=2, bias=False)
        self.batchnorm = _batch_norm(config, self.out_dim)
        self.activation = activation(config.hidden_act)

    def forward(self, pixel_values):
        return self.activation(self.batchnorm(self.convolution(F.pad(pixel_values, (0, 1, 0, 1)))))


class _ConvNorm(nn.Module):
    """A bias-free convolution, batch norm and (optionally) the activation, under one block phase's names."""

    def __init__(self, config, names: tuple[str, str, str | None], conv: nn.Conv2d, channels: int):
        super().__init__()
        self.names = names
        setattr(self, names[0], conv)
        setattr(self, names[1], _batch_norm(config, channels))
        if names[2]:
            setattr(self, names[2], activation(config.hidden_act))

    def forward(self, x):
        x = getattr(self, self.names[1])(getattr(self, self.names[0])(x))
        return getattr(self, self.names[2])(x) if self.names[2] else x


class AlignVisionDepthwiseLayer(_ConvNorm):
    """The depthwise convolution: strided ones pad first (right/bottom-heavy unless the block is listed in
    config.depthwise_padding), others keep the size."""

    def __init__(self, config, channels: int, stride: int, kernel: int, adjust_padding: bool):
        conv = nn.Conv2d(channels, channels, kernel, stride=stride, groups=channels, bias=False,
                         padding="valid" if stride == 2 else "same")
        super().__init__(config, ("depthwise_conv", "depthwise_norm", "depthwise_act"), conv, channels)
        half = kernel // 2
        self.pad = (half - 1, half, half - 1, half) if adjust_padding else (half, half, half, half)
        self.stride = stride

    def forward(self, x):
        return super().forward(F.pad(x, self.pad) if self.stride == 2 else x)


class AlignVisionSqueezeExciteLayer(nn.Module):
    def __init__(self, config, in_dim: int, expand_dim: int, expand: bool):
        super().__init__()
        dim = expand_dim if expand else in_dim
        reduced = max(1, int(in_dim * config.squeeze_expansion_ratio))
        self.reduce = nn.Conv2d(dim, reduced, kernel_size=1)
        self.expand = nn.Conv2d(reduced, dim, kernel_size=1)
        self.act_reduce = activation(config.hidden_act)

    def forward(self, x):
        scale = self.expand(self.act_reduce(self.reduce(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(scale)


class AlignVisionBlock(nn.Module):
    def __init__(self, config, in_dim: int, out_dim: int, stride: int, expand_ratio: int, kernel: int,
                 drop_rate: float, first: bool, adjust_padding: bool):
        super().__init__()
        wide = in_dim * expand_ratio
        self.expand_ratio = expand_ratio
        if expand_ratio != 1:
            self.expansion = _ConvNorm(config, ("expand_conv", "expand_bn", "expand_act"),
                                       nn.Conv2d(in_dim, wide, kernel_size=1, bias=False), wide)
        self.depthwise_conv = AlignVisionDepthwiseLayer(config, wide, stride, kernel, adjust_padding)
        self.squeeze_excite = AlignVisionSqueezeExciteLayer(config, in_dim, wide, expand_ratio != 1)
        self.projection = _ConvNorm(config, ("project_conv", "project_bn", None),
                                    nn.Conv2d(wide, out_dim, kernel_size=1, bias=False), out_dim)
        self.residual = stride == 1 and not first
        self.drop_rate = drop_rate

    def forward(self, x):
        y = self.expansion(x) if self.expand_ratio != 1 else x
        y = self.projection(self.squeeze_excite(self.depthwise_conv(y)))
        if self.residual:
            y = F.dropout(y, self.drop_rate, self.training) + x
        return y


class AlignVisionEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        repeats = [int(math.ceil(config.depth_coefficient * n)) for n in config.num_block_repeats]
        total, blocks = sum(repeats), []
        for stage, count in enumerate(repeats):
            in_dim = round_filters(config, config.in_channels[stage])
            out_dim = round_filters(config, config.out_channels[stage])
            for j in range(count):
                index = len(blocks)
                blocks.append(AlignVisionBlock(
                    config, in_dim if j == 0 else out_dim, out_dim, config.strides[stage] if j == 0 else 1,
                    config.expand_ratios[stage], config.kernel_sizes[stage], config.drop_connect_rate * index / total,
                    first=j == 0, adjust_padding=index not in config.depthwise_padding))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x, output_hidden_states: bool = False):
        states = (x,) if output_hidden_states else None
        for block in self.blocks:
            x = block(x)
            if output_hidden_states:
                states += (x,)
        return x, states


# models --------------------------------------------------------------------------------------------------------


class AlignPreTrainedModel(CLIPPreTrainedModel):
    config_class = AlignConfig
    base_model_prefix = "align"
    _no_split_modules = ["AlignTextLayer", "AlignVisionBlock"]

    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        else:
            super()._init_weights(module)


class AlignTextModel(BertModel):
    """The BERT text tower."""

    config_class = AlignTextConfig


class AlignVisionModel(AlignPreTrainedModel):
    config_class = AlignVisionConfig
    main_input_name = "pixel_values"

    def __init__(self, config):
        super().__init__(config)
        self.embeddings = AlignVisionEmbeddings(config)
        self.encoder = AlignVisionEncoder(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.convolution

    def forward(self, pixel_values=None, output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        _, output_hidden_states, return_dict = self._flags(False, output_hidden_states, return_dict)
        check_pixels(pixel_values, self.config.num_channels, (3, 3))
        x, states = self.encoder(self.embeddings(pixel_values), output_hidden_states)
        pooled = x.mean(dim=(2, 3)) if self.config.pooling_type == "mean" else x.amax(dim=(2, 3))
        out = BaseModelOutputWithPoolingAndNoAttention(last_hidden_state=x, pooler_output=pooled,
                                                       hidden_states=states)
        return out if return_dict else out.to_tuple()


class AlignModel(AlignPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        text, vision = config.text_config, config.vision_config
        if not isinstance(text, AlignTextConfig) or not isinstance(vision, AlignVisionConfig):
            raise TypeError("config.text_config and config.vision_config must be an AlignTextConfig and an "
                            "AlignVisionConfig.")
        self.projection_dim = config.projection_dim
        self.text_model = AlignTextModel(text)
        self.vision_model = AlignVisionModel(vision)
        self.text_projection = linear_layer(text.hidden_size, config.projection_dim)
        self.temperature = nn.Parameter(torch.tensor(config.temperature_init_value))
        self.post_init()

    def get_input_embeddings(self):
        return self.text_model.embeddings.word_embeddings

    def get_text_features(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                          head_mask=None, inputs_embeds=None, output_attentions=None, output_hidden_states=None,
                          return_dict=None) -> torch.Tensor:
        """The texts' embeddings in the shared space (not normalised): the projected [CLS] state."""
        out = self.text_model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                              position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                              return_dict=True)
        return self.text_projection(out.last_hidden_state[:, 0, :])

    def get_image_features(self, pixel_values=None, output_hidden_states=None, return_dict=None) -> torch.Tensor:
        """The images' pooled features (the shared space; not normalised)."""
        return self.vision_model(pixel_values, return_dict=True).pooler_output

    def forward(self, input_ids=None, pixel_values=None, attention_mask=None, token_type_ids=None, position_ids=None,
                head_mask=None, inputs_embeds=None, return_loss=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        output_attentions, output_hidden_states, return_dict = self._flags(output_attentions, output_hidden_states,
                                                                           return_dict)
        vision = self.vision_model(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        text = self.text_model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                               position_ids=position_ids, head_mask=head_mask, inputs_embeds=inputs_embeds,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                               return_dict=True)
        image_embeds = vision.pooler_output
        text_embeds = self.text_projection(text.last_hidden_state[:, 0, :])
        image_embeds = image_embeds / image_embeds.norm(p=2, dim=-1, keepdim=True)
        text_embeds = text_embeds / text_embeds.norm(p=2, dim=-1, keepdim=True)
        logits_per_text = text_embeds @ image_embeds.t() / self.temperature
        logits_per_image = logits_per_text.t()
        loss = None
        if return_loss:
            targets = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
            loss = (F.cross_entropy(logits_per_text, targets, label_smoothing=0.1) +
                    F.cross_entropy(logits_per_image, targets, label_smoothing=0.1)) / 2.0
        out = AlignOutput(loss=loss, logits_per_image=logits_per_image, logits_per_text=logits_per_text,
                          text_embeds=text_embeds, image_embeds=image_embeds, text_model_output=text,
                          vision_model_output=vision)
        return out if return_dict else out.to_tuple()
