"""Shared blocks of the vision families: pixel checks, patch embeddings and their position tables, the pre-norm
transformer layer of ViT/DeiT/BEiT, stochastic depth, channels-first LayerNorm, and the image-classification head.

A family's base model takes `pixel_values` [batch, channels, height, width]; its heads subclass
`ForImageClassification` (or `ForPatchImageClassification` for the ViT-style signature) with their PreTrainedModel.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from . import causal
from .heads import classification_loss
from .layers import Holder, activation, attend, first_token_only, linear_act, linear_layer, run_layers
from .modeling import PreTrainedModel
from .outputs import BaseModelOutputWithPooling, ImageClassifierOutput, ImageClassifierOutputWithNoAttention


def pair(value) -> tuple[int, int]:
    """(height, width) from an int or a two-item sequence (config.json's image_size / patch_size forms)."""
    return (int(value[0]), int(value[1])) if isinstance(value, (list, tuple)) else (int(value), int(value))


def check_pixels(pixel_values, num_channels: int, min_size: tuple[int, int] = (1, 1)) -> None:
    """Clear errors for pixel inputs that the convolutions would reject obscurely: none, no batch dimension, another
    channel count than the config's, an image smaller than the model's first stride."""
    if pixel_values is None:
        raise ValueError("You have to specify pixel_values: the image processor's output, e.g. "
                         "image_processor(images, return_tensors='pt').pixel_values.")
    if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 4:
        shape = list(pixel_values.shape) if hasattr(pixel_values, "shape") else type(pixel_values).__name__
        raise ValueError(f"pixel_values should be a [batch, channels, height, width] tensor, got {shape}; add a "
                         f"batch dimension (pixel_values[None]) or use the image processor with return_tensors='pt'.")
    channels, height, width = pixel_values.shape[1:]
    if channels != num_channels:
        raise ValueError(f"Make sure that the channel dimension of the pixel values match with the one set in the "
                         f"configuration: the model takes {num_channels} channels (config.num_channels) but "
                         f"pixel_values have {channels}. Convert the images (e.g. image.convert('RGB')), or let the "
                         f"image processor do it.")
    if height < min_size[0] or width < min_size[1]:
        raise ValueError(f"pixel_values of {height}x{width} pixels are smaller than this model's smallest input "
                         f"({min_size[0]}x{min_size[1]}); resize the images, e.g. with the image processor.")


def align_stages(config, num_stages: int) -> None:
    """A backbone-style config's `stage_names` ("stem", "stage1", ...) and its `out_features` / `out_indices` made
    to agree (either given fixes the other; neither: the last stage), as config.json spells them."""
    config.stage_names = ["stem"] + [f"stage{i}" for i in range(1, num_stages + 1)]
    features, indices = getattr(config, "out_features", None), getattr(config, "out_indices", None)
    for name in features or ():
        if name not in config.stage_names:
            raise ValueError(f"out_features holds {name!r}, which is not a stage of this model; pick from "
                             f"{config.stage_names}.")
    for index in indices or ():
        if not -len(config.stage_names) <= index < len(config.stage_names):
            raise ValueError(f"out_indices holds {index}, outside the {len(config.stage_names)} stages "
                             f"{config.stage_names}.")
    if features is None and indices is None:
        features, indices = [config.stage_names[-1]], [num_stages]
    elif features is None:
        features = [config.stage_names[i] for i in indices]
    elif indices is None:
        indices = [config.stage_names.index(name) for name in features]
    config.out_features, config.out_indices = list(features), list(indices)


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: while training, zero each sample's branch with probability `rate` (the rest scaled up)."""
    if not training or rate == 0.0:
        return x
    keep = 1.0 - rate
    mask = (keep + torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)).floor_()
    return x.div(keep) * mask


def depth_rates(rate: float, depths) -> list[list[float]]:
    """Stochastic-depth rates rising linearly from 0 to `rate` over all layers, split into the stages' depths."""
    total = torch.linspace(0, rate, sum(depths), device="cpu").tolist()
    out, start = [], 0
    for depth in depths:
        out.append(total[start:start + depth])
        start += depth
    return out


def classifier_layer(width: int, num_labels: int) -> nn.Module:
    """The linear classifier of a head; with num_labels 0 the features pass through (the reference's Identity)."""
    return linear_layer(width, num_labels) if num_labels > 0 else nn.Identity()


class ChannelsFirstLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of a [batch, channels, height, width] map (ConvNeXt's `channels_first`)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


# patch embeddings -------------------------------------------------------------------------------------------------


class PatchEmbeddings(nn.Module):
    """`projection`: a convolution whose kernel and stride are the patch size: [batch, channels, H, W] becomes
    [batch, patches, hidden], with the (rows, columns) of its patch grid."""

    def __init__(self, config):
        super().__init__()
        self.image_size, self.patch_size = pair(config.image_size), pair(config.patch_size)
        self.num_channels = config.num_channels
        self.patch_shape = (self.image_size[0] // self.patch_size[0], self.image_size[1] // self.patch_size[1])
        self.num_patches = self.patch_shape[0] * self.patch_shape[1]
        self.projection = nn.Conv2d(config.num_channels, config.hidden_size, kernel_size=self.patch_size,
                                    stride=self.patch_size)

    def forward(self, pixel_values, fixed_size: bool = False):
        check_pixels(pixel_values, self.num_channels, self.patch_size)
        if fixed_size and tuple(pixel_values.shape[-2:]) != self.image_size:
            height, width = pixel_values.shape[-2:]
            raise ValueError(f"Input image size ({height}*{width}) doesn't match model ({self.image_size[0]}*"
                             f"{self.image_size[1]}, config.image_size): resize the images with the model's image "
                             f"processor, or pass interpolate_pos_encoding=True to run the model at this size.")
        x = self.projection(pixel_values.to(self.projection.weight.dtype))
        return x.flatten(2).transpose(1, 2), tuple(x.shape[-2:])


def interpolate_positions(table: torch.Tensor, prefix: int, grid: tuple[int, int], square: bool) -> torch.Tensor:
    """The position table [1, prefix + n * n, hidden] for a `grid` of patches: the `prefix` rows (class and
    distillation tokens) as they are, the patch rows resized bicubically from their square grid. A square image
    (`square`) with the table's patch count uses the table as it is, as the reference does."""
    patches = table.shape[1] - prefix
    if grid[0] * grid[1] == patches and square:
        return table
    side = int(patches ** 0.5)
    rows = table[:, prefix:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
    rows = F.interpolate(rows, size=grid, mode="bicubic", align_corners=False)
    return torch.cat((table[:, :prefix], rows.permute(0, 2, 3, 1).reshape(1, -1, table.shape[-1])), dim=1)


def mask_patches(x: torch.Tensor, bool_masked_pos, mask_token) -> torch.Tensor:
    """Replace the patch embeddings marked in `bool_masked_pos` [batch, patches] by the mask token."""
    if bool_masked_pos is None:
        return x
    if mask_token is None:
        raise ValueError("bool_masked_pos was given to a model built without a mask token; use the "
                         "...ForMaskedImageModeling class (or a config with use_mask_token=True).")
    if bool_masked_pos.shape != x.shape[:2]:
        raise ValueError(f"bool_masked_pos should be [batch, patches] = {list(x.shape[:2])}, got "
                         f"{list(bool_masked_pos.shape)}.")
    w = bool_masked_pos.unsqueeze(-1).type_as(x)
    return x * (1.0 - w) + mask_token.expand_as(x) * w


class PatchTokenEmbeddings(nn.Module):
    """Patch embeddings with the class token (and DeiT's distillation token) in front, plus learned absolute
    positions (BEiT's are optional: config.use_absolute_position_embeddings); with `use_mask_token` (or
    config.use_mask_token), masked patches become `mask_token` first. ViT takes images of config.image_size unless
    asked to interpolate the positions; BEiT (`fixed_size = False`) always resizes them to the image."""

    distillation = False
    fixed_size = True

    def __init__(self, config, use_mask_token: bool = False):
        super().__init__()
        h = config.hidden_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, h))
        if self.distillation:
            self.distillation_token = nn.Parameter(torch.zeros(1, 1, h))
        use_mask_token = use_mask_token or getattr(config, "use_mask_token", False)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, h)) if use_mask_token else None
        self.patch_embeddings = PatchEmbeddings(config)
        self.prefix = 2 if self.distillation else 1
        self.position_embeddings = None
        if getattr(config, "use_absolute_position_embeddings", True):
            self.position_embeddings = nn.Parameter(torch.zeros(1, self.patch_embeddings.num_patches + self.prefix, h))
        self.dropout = config.hidden_dropout_prob

    def forward(self, pixel_values, bool_masked_pos=None, interpolate_pos_encoding: bool = False):
        resize = interpolate_pos_encoding or not self.fixed_size
        x, grid = self.patch_embeddings(pixel_values, fixed_size=not resize)
        x = mask_patches(x, bool_masked_pos, self.mask_token)
        tokens = [self.cls_token] + ([self.distillation_token] if self.distillation else [])
        x = torch.cat([t.expand(x.shape[0], -1, -1) for t in tokens] + [x], dim=1)
        positions = self.position_embeddings
        if positions is not None:
            if resize:
                height, width = pixel_values.shape[-2:]
                positions = interpolate_positions(positions, self.prefix, grid, square=height == width)
            x = x + positions
        return F.dropout(x, self.dropout, self.training)


# the pre-norm transformer layer -----------------------------------------------------------------------------------


class VisionLayer(nn.Module):
    """One pre-LayerNorm transformer layer of ViT, DeiT, BEiT and Data2Vec-Vision: `attention.attention.query/key/
    value`, `attention.output.dense`, `intermediate.dense`, `output.dense`, `layernorm_before/after`; BEiT's layer
    scales (`lambda_1`, `lambda_2`) when config.layer_scale_init_value > 0, and stochastic depth at `drop_path_rate`.

    `forward(x, mask, head_mask, output_attentions)`: `mask` is an additive bias (BEiT's relative positions) or None."""

    def __init__(self, config, key_bias: bool = True, drop_path_rate: float = 0.0):
        super().__init__()
        h, eps = config.hidden_size, config.layer_norm_eps
        if h % config.num_attention_heads:
            raise ValueError(f"The hidden size {h} is not a multiple of the number of attention heads "
                             f"{config.num_attention_heads}.")
        bias = getattr(config, "qkv_bias", True)
        self.attention = Holder(attention=Holder(query=linear_layer(h, h, bias=bias),
                                                 key=linear_layer(h, h, bias=bias and key_bias),
                                                 value=linear_layer(h, h, bias=bias)),
                                output=Holder(dense=linear_layer(h, h)))
        self.intermediate = Holder(dense=linear_layer(h, config.intermediate_size))
        self.output = Holder(dense=linear_layer(config.intermediate_size, h))
        self.layernorm_before = nn.LayerNorm(h, eps=eps)
        self.layernorm_after = nn.LayerNorm(h, eps=eps)
        scale = getattr(config, "layer_scale_init_value", 0.0)
        self.lambda_1 = nn.Parameter(scale * torch.ones(h)) if scale > 0 else None
        self.lambda_2 = nn.Parameter(scale * torch.ones(h)) if scale > 0 else None
        self.act = activation(config.hidden_act)
        self.heads = config.num_attention_heads
        self.dropout, self.attention_dropout = config.hidden_dropout_prob, config.attention_probs_dropout_prob
        self.drop_path_rate = drop_path_rate

    def _branch(self, y, scale):
        y = F.dropout(y, self.dropout, self.training)
        return drop_path(y if scale is None else scale * y, self.drop_path_rate, self.training)

    def forward(self, x, mask=None, head_mask=None, output_attentions: bool = False, first: bool = False):
        h = self.layernorm_before(x)
        attn = self.attention.attention
        queries = h
        if first:  # the first position's query alone (and its row of an attention bias)
            queries, x = h[:, :1], x[:, :1]
            mask = None if mask is None else mask[..., :1, :]
        context, weights = attend(attn.query(queries), attn.key(h), attn.value(h), mask, self.heads,
                                  self.attention_dropout if self.training else 0.0, output_attentions, head_mask)
        x = x + self._branch(self.attention.output.dense(context), self.lambda_1)
        y = self.output.dense(linear_act(self.intermediate.dense, self.layernorm_after(x), self.act))
        return x + self._branch(y, self.lambda_2), weights

    def first_token(self, x, mask=None, head_mask=None, output_attentions: bool = False):
        """The layer's output at the first position alone ([batch, 1, hidden]): keys and values of every patch,
        the query, attention and MLP of the class token."""
        return self.forward(x, mask, head_mask, output_attentions, first=True)


class Pooler(nn.Module):
    """`dense` and an activation on the first token (ViT's and DeiT's pooler)."""

    def __init__(self, config):
        super().__init__()
        self.dense = linear_layer(config.hidden_size, config.pooler_output_size)
        self.act = activation(config.pooler_act)

    def forward(self, hidden):
        return self.act(self.dense(hidden[:, 0]))


class PatchEncoder:
    """The forward pass of the patch transformers' base models (ViT, DeiT, BEiT, Data2Vec-Vision): embeddings, the
    layers (with the family's `attention_bias`, if any), the final `layernorm`, the `pooler` when built."""

    output_class = BaseModelOutputWithPooling
    # Set (for one call) by a head that reads the class token alone (layers.first_token_only): the last layer then
    # computes only that position, and last_hidden_state is [batch, 1, hidden].
    first_token_only = False

    def attention_bias(self, pixel_values):
        """What the layers add to their attention scores: one bias for all, a list of one per layer, or None."""
        return None

    def forward(self, pixel_values=None, bool_masked_pos=None, head_mask=None, output_attentions=None,
                output_hidden_states=None, interpolate_pos_encoding=None, return_dict=None):
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            self.config, output_attentions, output_hidden_states, False, return_dict)
        x = self.embeddings(pixel_values, bool_masked_pos, bool(interpolate_pos_encoding))
        first_only = (self.first_token_only and not output_hidden_states and not output_attentions
                      and type(self.encoder.layer[-1]).forward is VisionLayer.forward)
        x, hidden_states, attentions = run_layers(self, self.encoder.layer, x, mask=self.attention_bias(pixel_values),
                                                  head_mask=head_mask, output_attentions=output_attentions,
                                                  output_hidden_states=output_hidden_states,
                                                  first_token_only=first_only)
        x = self.layernorm(x)
        out = self.output_class(last_hidden_state=x, pooler_output=None if self.pooler is None else self.pooler(x),
                                hidden_states=hidden_states, attentions=attentions)
        return out if return_dict else out.to_tuple()


# shifted-window attention (Swin) ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
@torch.inference_mode(False)  # (cached: a tensor made under inference mode could not be used with autograd later)
def window_position_index(grid: tuple[int, int]) -> torch.Tensor:
    """[n, n] indices into a (2h - 1)(2w - 1) table of relative position biases, for every pair of the n = h * w
    positions of a grid (a Swin window, BEiT's patches): the row offset, then the column offset, each made
    non-negative."""
    height, width = grid  # (on the CPU even while a model is built on the meta device: the result is cached)
    coords = torch.stack(torch.meshgrid(torch.arange(height, device="cpu"), torch.arange(width, device="cpu"),
                                        indexing="ij")).flatten(1)
    offsets = coords[:, :, None] - coords[:, None, :]
    return (offsets[0] + height - 1) * (2 * width - 1) + offsets[1] + width - 1


@functools.lru_cache(maxsize=16)
@torch.inference_mode(False)
def shifted_window_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """[windows, window^2, window^2]: 0 between positions of a cyclically shifted map that came from the same region
    before the shift, -100 between the others (the wrapped-around pixels must not attend to each other)."""
    regions = torch.zeros(height, width, device="cpu")
    bounds = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for i, rows in enumerate(bounds):
        for j, cols in enumerate(bounds):
            regions[rows, cols] = 3 * i + j
    labels = window_partition(regions[None, :, :, None], window)[..., 0]
    return (labels[:, None, :] != labels[:, :, None]).float() * -100.0


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """[batch, height, width, channels] -> [batch * windows, window * window, channels], windows row by row."""
    batch, height, width, channels = x.shape
    x = x.view(batch, height // window, window, width // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, channels)


def window_merge(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """The inverse of `window_partition`: [batch * windows, window * window, channels] -> [batch, height, width,
    channels]."""
    channels = windows.shape[-1]
    x = windows.view(-1, height // window, width // window, window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)


class WindowAttention(nn.Module):
    """Multi-head attention inside each window (`query`, `key`, `value`) plus a learned bias per head for each
    relative position (`relative_position_bias_table`; `relative_position_index` is stored with it, as the
    checkpoints hold it)."""

    def __init__(self, config, dim: int, num_heads: int, window: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"The hidden size ({dim}) is not a multiple of the number of attention heads "
                             f"({num_heads})")
        self.heads, self.window = num_heads, window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", window_position_index((window, window)).clone())
        self.query = linear_layer(dim, dim, bias=config.qkv_bias)
        self.key = linear_layer(dim, dim, bias=config.qkv_bias)
        self.value = linear_layer(dim, dim, bias=config.qkv_bias)
        self.dropout = config.attention_probs_dropout_prob

    def forward(self, x, batch: int, mask=None, output_attentions: bool = False):
        """`x` [batch * windows, window^2, dim]; `mask` [windows, window^2, window^2] (shifted windows) or None.
        Returns the context (shaped as `x`) and, when asked, the weights [batch * windows, heads, n, n]."""
        n, dim = x.shape[1:]
        q, k, v = (t.view(batch, -1, n, self.heads, dim // self.heads).transpose(2, 3)
                   for t in (self.query(x), self.key(x), self.value(x)))
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        bias = bias.permute(2, 0, 1)
        if mask is not None:
            bias = bias + mask[:, None].to(bias.dtype)
        # (explicit rather than SDPA: with a bias per window, PyTorch's CPU kernels take twice as long)
        weights = (q @ k.transpose(-1, -2) * (dim // self.heads) ** -0.5 + bias).softmax(-1)
        context = F.dropout(weights, self.dropout, self.training) @ v
        weights = weights.flatten(0, 1) if output_attentions else None
        return context.transpose(2, 3).reshape(x.shape), weights


class StageLayer(nn.Module):
    """The pre-LayerNorm layer of the hierarchical transformers (Swin's windows, DiNAT's neighbourhoods) under their
    checkpoint names: `layernorm_before`, the family's `attention.self` and `attention.output.dense`,
    `layernorm_after`, and the MLP `intermediate.dense` / `output.dense`, config.mlp_ratio times wider."""

    def __init__(self, config, dim: int, attention: nn.Module, drop_path_rate: float = 0.0):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attention = Holder(self=attention, output=Holder(dense=linear_layer(dim, dim)))
        self.layernorm_after = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        hidden = int(config.mlp_ratio * dim)
        self.intermediate = Holder(dense=linear_layer(dim, hidden))
        self.output = Holder(dense=linear_layer(hidden, dim))
        self.act = activation(config.hidden_act)
        self.drop_path_rate = drop_path_rate
        self.dropout, self.attention_dropout = config.hidden_dropout_prob, config.attention_probs_dropout_prob

    def attention_output(self, context):
        return F.dropout(self.attention.output.dense(context), self.attention_dropout, self.training)

    def feed_forward(self, x):
        y = self.output.dense(self.act(self.intermediate.dense(self.layernorm_after(x))))
        return F.dropout(y, self.dropout, self.training)


class SwinLayer(StageLayer):
    """A Swin layer on a [batch, height * width, dim] map: attention within window x window windows, shifted by
    `shift` pixels (cyclically) in every other layer. A map no larger than the window is one unshifted window."""

    def __init__(self, config, dim: int, num_heads: int, shift: int, drop_path_rate: float = 0.0):
        super().__init__(config, dim, WindowAttention(config, dim, num_heads, config.window_size), drop_path_rate)
        self.window, self.shift = config.window_size, shift

    def forward(self, x, dims: tuple[int, int], output_attentions: bool = False):
        height, width = dims
        batch, _, dim = x.shape
        window, shift = self.window, self.shift
        if min(dims) <= window:
            window, shift = min(dims), 0
        if window != self.window:
            raise ValueError(f"A {height}x{width} map is smaller than the attention window ({self.window}, "
                             f"config.window_size): give the model larger inputs or use a smaller window_size.")
        h = self.layernorm_before(x).view(batch, height, width, dim)
        pad_h, pad_w = -height % window, -width % window
        h = F.pad(h, (0, 0, 0, pad_w, 0, pad_h))
        padded = h.shape[1:3]
        if shift:
            h = torch.roll(h, shifts=(-shift, -shift), dims=(1, 2))
        mask = shifted_window_mask(*padded, window, shift).to(x.device) if shift else None
        context, weights = self.attention.self(window_partition(h, window), batch, mask, output_attentions)
        y = window_merge(self.attention_output(context), window, *padded)
        if shift:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        x = x + drop_path(y[:, :height, :width].reshape(batch, height * width, dim), self.drop_path_rate,
                          self.training)
        return x + self.feed_forward(x), weights


class PatchMerging(nn.Module):
    """Halves a [batch, height * width, dim] map's resolution: each 2x2 block's four vectors concatenated (odd sizes
    padded), `norm`ed and mapped to 2 * dim by `reduction`."""

    def __init__(self, dim: int):
        super().__init__()
        self.reduction = linear_layer(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x, dims: tuple[int, int]):
        height, width = dims
        batch, _, dim = x.shape
        x = F.pad(x.view(batch, height, width, dim), (0, 0, 0, width % 2, 0, height % 2))
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(batch, -1, 4 * dim)))


# base class and heads ---------------------------------------------------------------------------------------------


class VisionPreTrainedModel(PreTrainedModel):
    """Base of the vision families: pixel_values in, and initialisation of convolutions and norms."""

    main_input_name = "pixel_values"

    def _init_weights(self, module: nn.Module) -> None:
        std = getattr(self.config, "initializer_range", 0.02)  # (BiT's config has none)
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
            if module.weight is not None:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        elif isinstance(module, VisionLayer) and module.lambda_1 is not None:
            nn.init.constant_(module.lambda_1, self.config.layer_scale_init_value)
            nn.init.constant_(module.lambda_2, self.config.layer_scale_init_value)
        else:
            super()._init_weights(module)
        for name, param in module.named_parameters(recurse=False):
            if name in ("cls_token", "distillation_token", "position_embeddings"):
                nn.init.trunc_normal_(param, mean=0.0, std=std)
            elif name == "mask_token":
                nn.init.zeros_(param)

    def get_input_embeddings(self) -> nn.Module:
        base = self.base_model
        if base is not self:
            return base.get_input_embeddings()
        return self.embeddings.patch_embeddings


class ForImageClassification:
    """Image classification on a family's base model: `classifier` on the pooled `features` of its output, the loss
    by config.problem_type (inferred on first use). The family names `base_model_class` (built with
    `base_model_kwargs`), and overrides `features` / `build_head` where its head differs."""

    base_model_class: type = None
    base_model_kwargs: dict = {}
    output_class = ImageClassifierOutputWithNoAttention
    reads_first_token = False  # `features` reads the first position alone (see layers.first_token_only)

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        setattr(self, self.base_model_prefix, self.base_model_class(config, **self.base_model_kwargs))
        self.build_head(config)
        self.post_init()

    def build_head(self, config) -> None:
        self.classifier = classifier_layer(self.feature_size(config), config.num_labels)

    def feature_size(self, config) -> int:
        """The width of `features`: the last stage's of a staged network, else the hidden size."""
        sizes = getattr(config, "hidden_sizes", None)
        return sizes[-1] if sizes else config.hidden_size

    def features(self, outputs) -> torch.Tensor:
        return outputs.pooler_output

    def classify(self, arguments: dict):
        """The forward pass on a forward's `arguments`: the base model on those given, the classifier, the loss."""
        labels, return_dict = arguments.get("labels"), arguments.get("return_dict")
        inputs = {k: v for k, v in arguments.items()
                  if k not in ("self", "__class__", "labels", "return_dict") and v is not None}
        with first_token_only(self.base_model, self.reads_first_token) as base:
            outputs = base(**inputs, return_dict=True)
        logits = self.classifier(self.features(outputs))
        loss = classification_loss(logits, labels.to(logits.device), self.config) if labels is not None else None
        fields = {f: getattr(outputs, f, None) for f in self.output_class.__dataclass_fields__
                  if f not in ("loss", "logits")}
        result = self.output_class(loss=loss, logits=logits, **fields)
        return result if (self.config.use_return_dict if return_dict is None else return_dict) else result.to_tuple()

    def forward(self, pixel_values=None, labels=None, output_hidden_states=None, return_dict=None):
        return self.classify(locals())


class ForPatchImageClassification(ForImageClassification):
    """Image classification on a patch transformer (ViT's forward signature: head masks, attentions, position
    interpolation)."""

    output_class = ImageClassifierOutput

    def forward(self, pixel_values=None, head_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, interpolate_pos_encoding=None, return_dict=None):
        return self.classify(locals())
