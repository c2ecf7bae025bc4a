"""DiNAT (Dilated Neighborhood Attention Transformer): a hierarchical transformer on a [batch, height, width,
channels] map. Each pixel attends to its kernel_size x kernel_size neighbourhood (every `dilation`-th pixel, the
window shifted inwards at the borders) with a learned relative position bias; layers alternate dilations to mix
local and sparse global context. Stages are joined by strided-convolution downsamplers; the pooled output is the mean
of the final LayerNorm-ed map.

Neighbourhood attention is written here in plain PyTorch (gathering each pixel's neighbours once per layer), with
the semantics of NATTEN's `natten2dqkrpb` / `natten2dav`; NATTEN's releases that have those functions do not
build for the PyTorch henkan targets.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig
from ..layers import Holder, linear_layer
from ..outputs import declare_output
from ..vision import (ForImageClassification, StageLayer, VisionPreTrainedModel, align_stages, check_pixels,
                      depth_rates, drop_path)

_FIELDS = ("hidden_states", "attentions", "reshaped_hidden_states")
DinatModelOutput = declare_output(
    "DinatModelOutput", "last_hidden_state", "pooler_output", *_FIELDS, module=__name__,
    doc="DiNAT's output; `reshaped_hidden_states` are the hidden states as [batch, channels, height, width].")
DinatImageClassifierOutput = declare_output("DinatImageClassifierOutput", "loss", "logits", *_FIELDS,
                                            module=__name__, doc="DiNAT's classification output.")


class DinatConfig(PretrainedConfig):
    model_type = "dinat"
    attribute_map = {"num_attention_heads": "num_heads", "num_hidden_layers": "num_layers"}
    defaults = dict(patch_size=4, num_channels=3, embed_dim=64, depths=[3, 4, 6, 5], num_heads=[2, 4, 8, 16],
                    kernel_size=7, dilations=[[1, 8, 1], [1, 4, 1, 4], [1, 2, 1, 2, 1, 2], [1, 1, 1, 1, 1]],
                    mlp_ratio=3.0, qkv_bias=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                    drop_path_rate=0.1, hidden_act="gelu", initializer_range=0.02, layer_norm_eps=1e-5,
                    layer_scale_init_value=0.0, out_features=None, out_indices=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.num_layers = len(self.depths)
        self.hidden_size = int(self.embed_dim * 2 ** (len(self.depths) - 1))  # the last stage's width
        if self.patch_size != 4:
            raise ValueError(f"Dinat only supports patch size of 4 at the moment (config.patch_size is "
                             f"{self.patch_size}).")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"Neighbourhood attention needs an odd kernel_size (got {self.kernel_size}).")
        for depth, dilations in zip(self.depths, self.dilations):
            if len(dilations) < depth:
                raise ValueError(f"config.dilations needs one dilation per layer of each stage: depths "
                                 f"{self.depths}, dilations {self.dilations}.")
        align_stages(self, len(self.depths))


@functools.lru_cache(maxsize=64)
@torch.inference_mode(False)  # (cached: a tensor made under inference mode could not be used with autograd later)
def neighbours(length: int, kernel: int, dilation: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Along one axis of `length` pixels: [length, kernel] positions each pixel attends to, and their indices into
    the relative position bias (kernel - 1 + offset in dilated steps). A pixel's neighbours are the pixels of its
    residue class modulo `dilation`, kernel of them centred on it, the window shifted inwards at the borders."""
    index = torch.arange(length)
    residue, step = index % dilation, index // dilation
    class_length = (length - residue + dilation - 1) // dilation
    start = torch.minimum((step - kernel // 2).clamp(min=0), class_length - kernel)
    steps = start[:, None] + torch.arange(kernel)
    return residue[:, None] + steps * dilation, steps - step[:, None] + kernel - 1


def neighborhood_attention(q, k, v, rpb, kernel: int, dilation: int, dropout: float = 0.0):
    """Attention of each pixel of [batch, heads, height, width, head_dim] maps over its dilated neighbourhood
    (`q` already scaled), plus the bias `rpb` [heads, 2k - 1, 2k - 1]. Returns the context (same shape as `q`) and
    the weights [batch, heads, height, width, kernel * kernel]."""
    height, width = q.shape[2:4]
    rows, row_bias = (t.to(q.device) for t in neighbours(height, kernel, dilation))
    cols, col_bias = (t.to(q.device) for t in neighbours(width, kernel, dilation))
    rows, cols = rows[:, None, :, None], cols[None, :, None, :]
    scores = torch.einsum("bnhwd,bnhwxyd->bnhwxy", q, k[:, :, rows, cols])
    scores = scores + rpb[:, row_bias[:, None, :, None], col_bias[None, :, None, :]]
    weights = F.dropout(scores.flatten(-2).softmax(-1), dropout)
    context = torch.einsum("bnhwxy,bnhwxyd->bnhwd", weights.unflatten(-1, (kernel, kernel)), v[:, :, rows, cols])
    return context, weights


class NeighborhoodAttention(nn.Module):
    """`query`, `key`, `value` and the relative position bias `rpb` of one layer."""

    def __init__(self, config, dim: int, num_heads: int, dilation: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"The hidden size ({dim}) is not a multiple of the number of attention heads "
                             f"({num_heads})")
        self.heads, self.head_dim = num_heads, dim // num_heads
        self.kernel_size, self.dilation = config.kernel_size, dilation
        self.rpb = nn.Parameter(torch.zeros(num_heads, 2 * self.kernel_size - 1, 2 * self.kernel_size - 1))
        self.query = linear_layer(dim, dim, bias=config.qkv_bias)
        self.key = linear_layer(dim, dim, bias=config.qkv_bias)
        self.value = linear_layer(dim, dim, bias=config.qkv_bias)
        self.dropout = config.attention_probs_dropout_prob

    def _heads(self, x):
        return x.unflatten(-1, (self.heads, self.head_dim)).permute(0, 3, 1, 2, 4)

    def forward(self, x):
        q = self._heads(self.query(x)) * self.head_dim ** -0.5
        context, weights = neighborhood_attention(q, self._heads(self.key(x)), self._heads(self.value(x)), self.rpb,
                                                  self.kernel_size, self.dilation,
                                                  self.dropout if self.training else 0.0)
        return context.permute(0, 2, 3, 1, 4).flatten(-2), weights


class DinatLayer(StageLayer):
    """Neighbourhood attention and the MLP, each branch scaled by `layer_scale_parameters` when the config has layer
    scales. Maps smaller than the dilated window are zero-padded (bottom, right) for the attention."""

    def __init__(self, config, dim: int, num_heads: int, dilation: int, drop_path_rate: float):
        super().__init__(config, dim, NeighborhoodAttention(config, dim, num_heads, dilation), drop_path_rate)
        self.window = config.kernel_size * dilation
        scale = config.layer_scale_init_value
        self.layer_scale_parameters = nn.Parameter(scale * torch.ones(2, dim)) if scale > 0 else None

    def _branch(self, y, which: int):
        if self.layer_scale_parameters is not None:
            y = self.layer_scale_parameters[which] * y
        return drop_path(y, self.drop_path_rate, self.training)

    def forward(self, x):
        height, width = x.shape[1:3]
        h = self.layernorm_before(x)
        pad_h, pad_w = max(0, self.window - height), max(0, self.window - width)
        if pad_h or pad_w:
            h = F.pad(h, (0, 0, 0, pad_w, 0, pad_h))
        context, weights = self.attention.self(h)
        x = x + self._branch(self.attention_output(context)[:, :height, :width], 0)
        return x + self._branch(self.feed_forward(x), 1), weights


class DinatPreTrainedModel(VisionPreTrainedModel):
    config_class = DinatConfig
    base_model_prefix = "dinat"

    def get_input_embeddings(self):
        return self.base_model.embeddings.patch_embeddings


class DinatModel(DinatPreTrainedModel):
    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__(config)
        e = config.embed_dim
        self.num_features = config.hidden_size
        self.embeddings = Holder(
            patch_embeddings=Holder(projection=nn.Sequential(
                nn.Conv2d(config.num_channels, e // 2, kernel_size=3, stride=2, padding=1),
                nn.Conv2d(e // 2, e, kernel_size=3, stride=2, padding=1))),
            norm=nn.LayerNorm(e))
        levels = []
        for i, (depth, rates) in enumerate(zip(config.depths, depth_rates(config.drop_path_rate, config.depths))):
            dim = e * 2 ** i
            level = Holder(layers=nn.ModuleList(
                DinatLayer(config, dim, config.num_heads[i], config.dilations[i][j], rates[j]) for j in range(depth)))
            if i < len(config.depths) - 1:
                level.add_module("downsample", Holder(
                    reduction=nn.Conv2d(dim, 2 * dim, kernel_size=3, stride=2, padding=1, bias=False),
                    norm=nn.LayerNorm(2 * dim)))
            levels.append(level)
        self.encoder = Holder(levels=nn.ModuleList(levels))
        self.layernorm = nn.LayerNorm(self.num_features, eps=config.layer_norm_eps)
        self.has_pooler = add_pooling_layer
        self.post_init()

    def forward(self, pixel_values=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        config = self.config
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        check_pixels(pixel_values, config.num_channels)
        projection = self.embeddings.patch_embeddings.projection
        x = projection(pixel_values.to(projection[0].weight.dtype)).permute(0, 2, 3, 1)
        x = F.dropout(self.embeddings.norm(x), config.hidden_dropout_prob, self.training)
        hidden_states = (x,) if output_hidden_states else None
        attentions = () if output_attentions else None
        for level in self.encoder.levels:
            for layer in level.layers:
                x, weights = layer(x)
            if output_attentions:
                attentions += (weights,)
            down = getattr(level, "downsample", None)
            if down is not None:
                x = down.norm(down.reduction(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
            if output_hidden_states:
                hidden_states += (x,)
        x = self.layernorm(x)
        out = DinatModelOutput(
            last_hidden_state=x, pooler_output=x.flatten(1, 2).mean(1) if self.has_pooler else None,
            hidden_states=hidden_states, attentions=attentions,
            reshaped_hidden_states=None if hidden_states is None else tuple(h.permute(0, 3, 1, 2)
                                                                             for h in hidden_states))
        return out if (config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


class DinatForImageClassification(ForImageClassification, DinatPreTrainedModel):
    base_model_class = DinatModel
    output_class = DinatImageClassifierOutput

    def forward(self, pixel_values=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        return self.classify(locals())
