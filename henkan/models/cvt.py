"""CvT (Convolutional vision Transformer): stages that each embed their input map with an overlapping strided
convolution, then run pre-LayerNorm transformer layers whose queries, keys and values are first projected by a
depthwise convolution with BatchNorm (keys and values strided, so attention reads a coarser map). Scores are scaled
by the stage's whole width. The last stage may carry a class token, which the classifier reads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig
from ..layers import Holder, attend, linear_layer
from ..outputs import declare_output
from ..vision import ForImageClassification, VisionPreTrainedModel, check_pixels, drop_path

BaseModelOutputWithCLSToken = declare_output(
    "BaseModelOutputWithCLSToken", "last_hidden_state", "cls_token_value", "hidden_states", module=__name__,
    doc="CvT's output: the last map [batch, channels, height, width] and the class token's final state.")

_PER_STAGE = ("patch_sizes", "patch_stride", "patch_padding", "embed_dim", "num_heads", "depth", "mlp_ratio",
              "attention_drop_rate", "drop_rate", "drop_path_rate", "qkv_bias", "cls_token", "qkv_projection_method",
              "kernel_qkv", "padding_kv", "stride_kv", "padding_q", "stride_q")


class CvtConfig(PretrainedConfig):
    model_type = "cvt"
    defaults = dict(num_channels=3, patch_sizes=[7, 3, 3], patch_stride=[4, 2, 2], patch_padding=[2, 1, 1],
                    embed_dim=[64, 192, 384], num_heads=[1, 3, 6], depth=[1, 2, 10], mlp_ratio=[4.0, 4.0, 4.0],
                    attention_drop_rate=[0.0, 0.0, 0.0], drop_rate=[0.0, 0.0, 0.0], drop_path_rate=[0.0, 0.0, 0.1],
                    qkv_bias=[True, True, True], cls_token=[False, False, True],
                    qkv_projection_method=["dw_bn", "dw_bn", "dw_bn"], kernel_qkv=[3, 3, 3], padding_kv=[1, 1, 1],
                    stride_kv=[2, 2, 2], padding_q=[1, 1, 1], stride_q=[1, 1, 1], initializer_range=0.02,
                    layer_norm_eps=1e-12)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stages = len(self.depth)
        short = [name for name in _PER_STAGE if len(getattr(self, name)) < stages]
        if short:
            raise ValueError(f"CvtConfig takes one value per stage ({stages} stages, as in `depth`) for {short}.")
        if any(method != "dw_bn" for method in self.qkv_projection_method[:stages]):
            raise NotImplementedError(f"qkv_projection_method={self.qkv_projection_method}: henkan's CvT projects "
                                      f"queries, keys and values with 'dw_bn' (depthwise convolution and BatchNorm), "
                                      f"the only method with published checkpoints.")


def _conv_projection(width: int, kernel: int, padding: int, stride: int) -> Holder:
    """`convolution_projection`: a depthwise convolution and a BatchNorm."""
    return Holder(convolution_projection=Holder(
        convolution=nn.Conv2d(width, width, kernel, padding=padding, stride=stride, bias=False, groups=width),
        normalization=nn.BatchNorm2d(width)))


def _project(block: Holder, x):
    """A [batch, channels, height, width] map through a conv projection, as [batch, positions, channels]."""
    conv = block.convolution_projection
    return conv.normalization(conv.convolution(x)).flatten(2).transpose(1, 2)


class CvtLayer(nn.Module):
    """`attention.attention` (conv projections `convolution_projection_query/key/value`, linear projections
    `projection_query/key/value`), `attention.output.dense`, `intermediate.dense`, `output.dense`,
    `layernorm_before/after`. `forward(x, height, width)` on [batch, (1 +) height * width, width]."""

    def __init__(self, config, stage: int, drop_path_rate: float):
        super().__init__()
        width, bias = config.embed_dim[stage], config.qkv_bias[stage]
        kernel = config.kernel_qkv[stage]
        hidden = int(width * config.mlp_ratio[stage])
        self.attention = Holder(
            attention=Holder(
                convolution_projection_query=_conv_projection(width, kernel, config.padding_q[stage],
                                                              config.stride_q[stage]),
                convolution_projection_key=_conv_projection(width, kernel, config.padding_kv[stage],
                                                            config.stride_kv[stage]),
                convolution_projection_value=_conv_projection(width, kernel, config.padding_kv[stage],
                                                              config.stride_kv[stage]),
                projection_query=linear_layer(width, width, bias=bias),
                projection_key=linear_layer(width, width, bias=bias),
                projection_value=linear_layer(width, width, bias=bias)),
            output=Holder(dense=linear_layer(width, width)))
        self.intermediate = Holder(dense=linear_layer(width, hidden))
        self.output = Holder(dense=linear_layer(hidden, width))
        self.layernorm_before = nn.LayerNorm(width)
        self.layernorm_after = nn.LayerNorm(width)
        self.heads, self.scale = config.num_heads[stage], width ** -0.5
        self.with_cls = bool(config.cls_token[stage])
        self.dropout, self.attention_dropout = config.drop_rate[stage], config.attention_drop_rate[stage]
        self.drop_path_rate = drop_path_rate

    def forward(self, x, height: int, width: int):
        attn = self.attention.attention
        h = self.layernorm_before(x)
        cls, h = (h[:, :1], h[:, 1:]) if self.with_cls else (None, h)
        grid = h.transpose(1, 2).reshape(h.shape[0], h.shape[2], height, width)
        q, k, v = (_project(block, grid) for block in (attn.convolution_projection_query,
                                                       attn.convolution_projection_key,
                                                       attn.convolution_projection_value))
        if cls is not None:
            q, k, v = (torch.cat((cls, t), dim=1) for t in (q, k, v))
        context, _ = attend(attn.projection_query(q), attn.projection_key(k), attn.projection_value(v), None,
                            self.heads, self.attention_dropout if self.training else 0.0, scale=self.scale)
        out = F.dropout(self.attention.output.dense(context), self.dropout, self.training)
        x = x + drop_path(out, self.drop_path_rate, self.training)
        y = self.output.dense(F.gelu(self.intermediate.dense(self.layernorm_after(x))))
        # (the reference applies stochastic depth to the sum, residual included)
        return drop_path(F.dropout(y, self.dropout, self.training) + x, self.drop_path_rate, self.training)


class CvtStage(nn.Module):
    """`embedding.convolution_embeddings` (`projection` convolution, `normalization` LayerNorm), the `layers`, and
    the class token (`cls_token`) where the config gives the stage one."""

    def __init__(self, config, stage: int):
        super().__init__()
        width = config.embed_dim[stage]
        if config.cls_token[stage]:
            self.cls_token = nn.Parameter(torch.randn(1, 1, config.embed_dim[-1]))
        self.embedding = Holder(convolution_embeddings=Holder(
            projection=nn.Conv2d(config.num_channels if stage == 0 else config.embed_dim[stage - 1], width,
                                 kernel_size=config.patch_sizes[stage], stride=config.patch_stride[stage],
                                 padding=config.patch_padding[stage]),
            normalization=nn.LayerNorm(width)))
        depth = config.depth[stage]
        # (every layer of a stage gets the same rate: the reference's linspace, read at the stage's index)
        rates = torch.linspace(0, config.drop_path_rate[stage], depth, device="cpu").tolist()
        rate = rates[min(stage, depth - 1)] if depth else 0.0
        self.layers = nn.Sequential(*(CvtLayer(config, stage, rate) for _ in range(depth)))
        self.dropout = config.drop_rate[stage]

    def forward(self, x):
        embed = self.embedding.convolution_embeddings
        x = embed.projection(x)
        batch, channels, height, width = x.shape
        x = F.dropout(embed.normalization(x.flatten(2).transpose(1, 2)), self.dropout, self.training)
        cls = getattr(self, "cls_token", None)
        if cls is not None:
            x = torch.cat((cls.expand(batch, -1, -1), x), dim=1)
        for layer in self.layers:
            x = layer(x, height, width)
        if cls is not None:
            cls, x = x[:, :1], x[:, 1:]
        return x.transpose(1, 2).reshape(batch, channels, height, width), cls


class CvtPreTrainedModel(VisionPreTrainedModel):
    config_class = CvtConfig
    base_model_prefix = "cvt"

    def get_input_embeddings(self):
        return self.base_model.encoder.stages[0].embedding.convolution_embeddings.projection


class CvtModel(CvtPreTrainedModel):
    def __init__(self, config, add_pooling_layer: bool = True):  # (CvT has no pooler: the flag is accepted)
        super().__init__(config)
        self.encoder = Holder(stages=nn.ModuleList(CvtStage(config, i) for i in range(len(config.depth))))
        self.post_init()

    def forward(self, pixel_values=None, output_hidden_states=None, return_dict=None):
        config = self.config
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        check_pixels(pixel_values, config.num_channels)
        x, cls = pixel_values.to(self.get_input_embeddings().weight.dtype), None
        hidden_states = () if output_hidden_states else None
        for stage in self.encoder.stages:
            x, cls = stage(x)
            if output_hidden_states:
                hidden_states += (x,)
        out = BaseModelOutputWithCLSToken(last_hidden_state=x, cls_token_value=cls, hidden_states=hidden_states)
        return out if (config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


class CvtForImageClassification(ForImageClassification, CvtPreTrainedModel):
    """`layernorm` of the class token (or of every position of the last map, then their mean), `classifier`."""

    base_model_class = CvtModel
    base_model_kwargs = {"add_pooling_layer": False}

    def build_head(self, config):
        self.layernorm = nn.LayerNorm(config.embed_dim[-1])
        super().build_head(config)

    def feature_size(self, config):
        return config.embed_dim[-1]

    def features(self, outputs):
        if self.config.cls_token[-1]:
            return self.layernorm(outputs.cls_token_value).mean(dim=1)
        return self.layernorm(outputs.last_hidden_state.flatten(2).transpose(1, 2)).mean(dim=1)
