"""Wav2Vec2 and Data2Vec-Audio: speech representations learned from raw waveforms, and the heads fine-tuned on them.

A stack of strided 1-D convolutions turns `input_values` (16 kHz samples) into one frame per 20 ms; the frames are
normed and projected to the transformer's width, get positions from a grouped convolution (weight-normalised), and
go through BERT-like layers: post-norm in the base checkpoints, pre-norm with a final LayerNorm in the large ones
(`do_stable_layer_norm`). Heads: CTC over characters (`ForCTC`), utterance classification over the averaged
frames (`ForSequenceClassification`), per-frame classification (`ForAudioFrameClassification`). Data2Vec-Audio
is the base layout with layer norms on every convolution and a stack of small positional convolutions.

While training, SpecAugment replaces random spans of frames by a learned vector and zeroes random spans of
channels (`apply_spec_augment`, `mask_time_prob`, `mask_feature_prob`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..heads import LayerMix
from ..layers import Attention, activation, linear_layer, padding_mask, run_layers
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutput, CausalLMOutput, ModelOutput, SequenceClassifierOutput,
                       TokenClassifierOutput, declare_output)

Wav2Vec2BaseModelOutput = declare_output("Wav2Vec2BaseModelOutput", "last_hidden_state", "extract_features",
                                         "hidden_states", "attentions")


class _SpeechEncoderConfig(PretrainedConfig):
    """What Wav2Vec2-style configs share: the convolution lists checked against each other."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("conv_dim", "conv_stride", "conv_kernel", "tdnn_dim", "tdnn_kernel", "tdnn_dilation"):
            setattr(self, name, list(getattr(self, name)))
        if not len(self.conv_dim) == len(self.conv_stride) == len(self.conv_kernel):
            raise ValueError(f"conv_dim, conv_stride and conv_kernel describe one convolution each and must have the "
                             f"same length; got {len(self.conv_dim)}, {len(self.conv_stride)} and "
                             f"{len(self.conv_kernel)}.")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm is 'group' or 'layer', not {self.feat_extract_norm!r}.")
        self.num_feat_extract_layers = len(self.conv_dim)
        if self.output_hidden_size is None:
            self.output_hidden_size = self.hidden_size

    @property
    def inputs_to_logits_ratio(self) -> int:
        ratio = 1
        for stride in self.conv_stride:
            ratio *= stride
        return ratio


class Wav2Vec2Config(_SpeechEncoderConfig):
    model_type = "wav2vec2"
    positional_convolutions = "weight-norm"  # one wide weight-normalised convolution
    defaults = dict(
        vocab_size=32, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", hidden_dropout=0.1, activation_dropout=0.1, attention_dropout=0.1, feat_proj_dropout=0.0,
        feat_quantizer_dropout=0.0, final_dropout=0.1, layerdrop=0.1, initializer_range=0.02, layer_norm_eps=1e-5,
        feat_extract_norm="group", feat_extract_activation="gelu", conv_dim=[512, 512, 512, 512, 512, 512, 512],
        conv_stride=[5, 2, 2, 2, 2, 2, 2], conv_kernel=[10, 3, 3, 3, 3, 2, 2], conv_bias=False,
        num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, do_stable_layer_norm=False,
        apply_spec_augment=True, mask_time_prob=0.05, mask_time_length=10, mask_time_min_masks=2,
        mask_feature_prob=0.0, mask_feature_length=10, mask_feature_min_masks=0, num_codevectors_per_group=320,
        num_codevector_groups=2, contrastive_logits_temperature=0.1, num_negatives=100, codevector_dim=256,
        proj_codevector_dim=256, diversity_loss_weight=0.1, ctc_loss_reduction="sum", ctc_zero_infinity=False,
        use_weighted_layer_sum=False, classifier_proj_size=256, tdnn_dim=[512, 512, 512, 512, 1500],
        tdnn_kernel=[5, 3, 3, 1, 1], tdnn_dilation=[1, 2, 3, 1, 1], xvector_output_dim=512, pad_token_id=0,
        bos_token_id=1, eos_token_id=2, add_adapter=False, adapter_kernel_size=3, adapter_stride=2,
        num_adapter_layers=3, output_hidden_size=None, adapter_attn_dim=None)


class Data2VecAudioConfig(_SpeechEncoderConfig):
    """Data2Vec-Audio: Wav2Vec2's base layout with layer norms on every convolution and positions from a stack of
    small convolutions."""

    model_type = "data2vec-audio"
    positional_convolutions = "stacked"
    feat_extract_norm = "layer"  # (fixed by the family, not a config field)
    do_stable_layer_norm = False
    adapter_attn_dim = None
    defaults = dict(
        vocab_size=32, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", hidden_dropout=0.1, activation_dropout=0.1, attention_dropout=0.1, feat_proj_dropout=0.0,
        final_dropout=0.1, layerdrop=0.1, initializer_range=0.02, layer_norm_eps=1e-5, feat_extract_activation="gelu",
        conv_dim=[512, 512, 512, 512, 512, 512, 512], conv_stride=[5, 2, 2, 2, 2, 2, 2],
        conv_kernel=[10, 3, 3, 3, 3, 2, 2], conv_bias=False, num_conv_pos_embedding_groups=16, conv_pos_kernel_size=19,
        num_conv_pos_embeddings=5, mask_time_prob=0.05, mask_time_length=10, mask_time_min_masks=2,
        mask_feature_prob=0.0, mask_feature_length=10, mask_feature_min_masks=0, ctc_loss_reduction="sum",
        ctc_zero_infinity=False, use_weighted_layer_sum=False, classifier_proj_size=256,
        tdnn_dim=[512, 512, 512, 512, 1500], tdnn_kernel=[5, 3, 3, 1, 1], tdnn_dilation=[1, 2, 3, 1, 1],
        xvector_output_dim=512, pad_token_id=0, bos_token_id=1, eos_token_id=2, add_adapter=False,
        adapter_kernel_size=3, adapter_stride=2, num_adapter_layers=3, output_hidden_size=None)


# SpecAugment -------------------------------------------------------------------------------------------------


def spec_augment_mask(rows: int, length: int, prob: float, span: int, min_spans: int,
                      lengths: torch.Tensor | None = None, device=None, name: str = "mask_time_length") -> torch.Tensor:
    """A [rows, length] boolean mask of SpecAugment's spans, drawn with the reference's statistics (not its random
    stream): each row gets about `prob` x its length / `span` spans (rounded by one random draw shared by the batch,
    at least `min_spans`, no more than fit), starting at distinct positions within its first `lengths[row]` steps.
    `name` is the config field of `span`, for the error when it does not fit."""
    if not 0 < span <= length:
        raise ValueError(f"config.{name} ({span}) must be between 1 and the length it masks ({length} steps); "
                         f"lower {name} or set its masking probability to 0.")
    mask = torch.zeros(rows, length, dtype=torch.bool, device=device)
    rounding = float(torch.rand(()))

    def count(valid: int) -> int:
        spans = max(int(prob * valid / span + rounding), min_spans)
        if spans * span > length:
            spans = length // span
        return max(0, min(spans, valid - span + 1))

    if count(length) == 0:
        return mask
    for row in range(rows):
        valid = int(lengths[row]) if lengths is not None else length
        spans = count(valid)
        if spans:
            starts = torch.randperm(valid - span + 1)[:spans]
            mask[row, (starts[:, None] + torch.arange(span)).flatten().to(mask.device)] = True
    return mask


# the convolutional front ------------------------------------------------------------------------------------


class Wav2Vec2ConvLayer(nn.Module):
    """One convolution of the feature encoder: conv, an optional norm (GroupNorm per channel on the first layer of
    the "group" layout, LayerNorm over channels on every layer of the "layer" layout), the activation."""

    def __init__(self, config, index: int):
        super().__init__()
        channels_in = config.conv_dim[index - 1] if index > 0 else 1
        channels = config.conv_dim[index]
        self.conv = nn.Conv1d(channels_in, channels, kernel_size=config.conv_kernel[index],
                              stride=config.conv_stride[index], bias=config.conv_bias)
        self.norm = None
        if config.feat_extract_norm == "layer":
            self.layer_norm, self.norm = nn.LayerNorm(channels), "layer"
        elif index == 0:
            self.layer_norm, self.norm = nn.GroupNorm(channels, channels), "group"
        self.activation = activation(config.feat_extract_activation)

    def forward(self, x):
        x = self.conv(x)
        if self.norm == "layer":
            x = self.layer_norm(x.transpose(-2, -1)).transpose(-2, -1)
        elif self.norm == "group":
            x = self.layer_norm(x)
        return self.activation(x)


class Wav2Vec2FeatureEncoder(nn.Module):
    """Raw samples [batch, samples] -> frames [batch, channels, frames]."""

    def __init__(self, config):
        super().__init__()
        self.conv_layers = nn.ModuleList(Wav2Vec2ConvLayer(config, i) for i in range(config.num_feat_extract_layers))
        self._requires_grad = True

    def _freeze_parameters(self) -> None:
        for parameter in self.parameters():
            parameter.requires_grad = False
        self._requires_grad = False

    def forward(self, input_values):
        x = input_values[:, None]
        for layer in self.conv_layers:
            x = layer(x)
        return x


class Wav2Vec2FeatureProjection(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps)
        self.projection = linear_layer(config.conv_dim[-1], config.hidden_size)
        self.dropout = nn.Dropout(config.feat_proj_dropout)

    def forward(self, x):
        normed = self.layer_norm(x)
        return self.dropout(self.projection(normed)), normed


class Wav2Vec2PositionalConvEmbedding(nn.Module):
    """Relative positions from a wide grouped convolution over the frames, its kernel weight-normalised (the
    checkpoints store its direction and magnitude)."""

    def __init__(self, config):
        super().__init__()
        width = config.num_conv_pos_embeddings
        conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel_size=width, padding=width // 2,
                         groups=config.num_conv_pos_embedding_groups)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        self.trim = 1 if width % 2 == 0 else 0  # an even kernel yields one frame too many
        self.activation = activation(config.feat_extract_activation)

    def forward(self, x):
        x = self.conv(x.transpose(1, 2))
        if self.trim:
            x = x[:, :, :-self.trim]
        return self.activation(x).transpose(1, 2)


class Data2VecAudioPositionalConvLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        width = config.conv_pos_kernel_size
        self.conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel_size=width, padding=width // 2,
                              groups=config.num_conv_pos_embedding_groups)
        self.trim = 1 if width % 2 == 0 else 0
        self.layer_norm = nn.LayerNorm(config.hidden_size, elementwise_affine=False)
        self.activation = activation(config.feat_extract_activation)

    def forward(self, x):  # [batch, channels, frames]
        x = self.conv(x)
        if self.trim:
            x = x[:, :, :-self.trim]
        return self.activation(self.layer_norm(x.transpose(1, 2)).transpose(1, 2))


class Data2VecAudioPositionalConvEmbedding(nn.Module):
    """Positions from `num_conv_pos_embeddings` small grouped convolutions in a row, each normed."""

    def __init__(self, config):
        super().__init__()
        self.layers = nn.ModuleList(Data2VecAudioPositionalConvLayer(config)
                                    for _ in range(config.num_conv_pos_embeddings))

    def forward(self, x):
        x = x.transpose(1, 2)
        for layer in self.layers:
            x = layer(x)
        return x.transpose(1, 2)


# the transformer ---------------------------------------------------------------------------------------------


class Wav2Vec2FeedForward(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.intermediate_dropout = nn.Dropout(config.activation_dropout)
        self.intermediate_dense = linear_layer(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = activation(config.hidden_act)
        self.output_dense = linear_layer(config.intermediate_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, x):
        x = self.intermediate_dropout(self.intermediate_act_fn(self.intermediate_dense(x)))
        return self.output_dropout(self.output_dense(x))


class Wav2Vec2EncoderLayer(nn.Module):
    """Attention and feed-forward with residuals; LayerNorms after each (post-norm) or before (`pre_norm`)."""

    def __init__(self, config, pre_norm: bool = False):
        super().__init__()
        self.attention = Attention(config.hidden_size, config.num_attention_heads, dropout=config.attention_dropout)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = Wav2Vec2FeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pre_norm = pre_norm

    def forward(self, x, mask=None, head_mask=None, output_attentions=False):
        attended, weights = self.attention(self.layer_norm(x) if self.pre_norm else x, mask,
                                           need_weights=output_attentions, head_mask=head_mask)
        x = x + self.dropout(attended)
        if self.pre_norm:
            return x + self.feed_forward(self.final_layer_norm(x)), weights
        x = self.layer_norm(x)
        return self.final_layer_norm(x + self.feed_forward(x)), weights


class Wav2Vec2Encoder(nn.Module):
    """Positions, then the layers. Post-norm (base checkpoints): the LayerNorm comes before the layers; pre-norm
    (`do_stable_layer_norm`, large checkpoints): after them."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.pre_norm = config.do_stable_layer_norm
        self.pos_conv_embed = (Data2VecAudioPositionalConvEmbedding if config.positional_convolutions == "stacked"
                               else Wav2Vec2PositionalConvEmbedding)(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.layers = nn.ModuleList(Wav2Vec2EncoderLayer(config, self.pre_norm)
                                    for _ in range(config.num_hidden_layers))
        self.gradient_checkpointing = False

    def forward(self, x, attention_mask=None, output_attentions=False, output_hidden_states=False):
        mask = None
        if attention_mask is not None:
            x = x.masked_fill(~attention_mask[..., None], 0.0)
            mask = padding_mask(attention_mask, x.dtype)
        x = x + self.pos_conv_embed(x)
        if not self.pre_norm:
            x = self.layer_norm(x)
        x = self.dropout(x)
        x, hidden_states, attentions = run_layers(self, self.layers, x, mask=mask,
                                                  output_attentions=output_attentions,
                                                  output_hidden_states=output_hidden_states,
                                                  layerdrop=self.config.layerdrop)
        if self.pre_norm:
            x = self.layer_norm(x)
            if hidden_states is not None:
                hidden_states = hidden_states[:-1] + (x,)
        return BaseModelOutput(last_hidden_state=x, hidden_states=hidden_states, attentions=attentions)


# models ------------------------------------------------------------------------------------------------------


class Wav2Vec2PreTrainedModel(PreTrainedModel):
    config_class = Wav2Vec2Config
    base_model_prefix = "wav2vec2"
    main_input_name = "input_values"
    supports_gradient_checkpointing = True
    _no_split_modules = ["Wav2Vec2EncoderLayer"]

    def _get_feat_extract_output_lengths(self, input_lengths, add_adapter=None):
        """The number of frames the convolutions make of `input_lengths` samples."""
        add_adapter = self.config.add_adapter if add_adapter is None else add_adapter
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            input_lengths = torch.div(input_lengths - kernel, stride, rounding_mode="floor") + 1
        if add_adapter:
            for _ in range(self.config.num_adapter_layers):
                input_lengths = torch.div(input_lengths - 1, self.config.adapter_stride, rounding_mode="floor") + 1
        return input_lengths

    def _get_feature_vector_attention_mask(self, feature_vector_length: int, attention_mask, add_adapter=None):
        """The frame-level mask of a sample-level `attention_mask`: each row's first frames, as many as its real
        samples make."""
        frames = self._get_feat_extract_output_lengths(attention_mask.sum(-1), add_adapter=add_adapter).long()
        return torch.arange(feature_vector_length, device=attention_mask.device)[None] < frames[:, None]

    def _init_weights(self, module):
        if isinstance(module, Wav2Vec2PositionalConvEmbedding):
            conv = module.conv
            direction = conv.parametrizations.weight.original1
            nn.init.normal_(direction, 0, 2 * (conv.groups / (conv.kernel_size[0] * conv.in_channels)) ** 0.5)
            with torch.no_grad():  # magnitude = the direction's norm: the kernel starts as drawn
                conv.parametrizations.weight.original0.copy_(direction.norm(dim=(0, 1), keepdim=True))
            nn.init.zeros_(conv.bias)
        elif isinstance(module, nn.Conv1d):
            nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                bound = (module.groups / (module.in_channels * module.kernel_size[0])) ** 0.5
                nn.init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.GroupNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        else:
            super()._init_weights(module)


def _check_adapters(config) -> None:
    if config.add_adapter or config.adapter_attn_dim is not None:
        raise NotImplementedError("Wav2Vec2 adapters (add_adapter / adapter_attn_dim, as in MMS checkpoints) are not "
                                  "supported by henkan yet.")


class Wav2Vec2Model(Wav2Vec2PreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        _check_adapters(config)
        self.feature_extractor = Wav2Vec2FeatureEncoder(config)
        self.feature_projection = Wav2Vec2FeatureProjection(config)
        if config.mask_time_prob > 0.0 or config.mask_feature_prob > 0.0:
            self.masked_spec_embed = nn.Parameter(torch.empty(config.hidden_size).uniform_())
        self.encoder = Wav2Vec2Encoder(config)
        self.post_init()

    def freeze_feature_encoder(self) -> None:
        """Stop training the convolutions (the usual way to fine-tune)."""
        self.feature_extractor._freeze_parameters()

    def _mask_hidden_states(self, x, mask_time_indices=None, attention_mask=None):
        config = self.config
        if not getattr(config, "apply_spec_augment", True):
            return x
        rows, length, width = x.shape
        if mask_time_indices is None and config.mask_time_prob > 0 and self.training:
            lengths = attention_mask.sum(-1) if attention_mask is not None else None
            mask_time_indices = spec_augment_mask(rows, length, config.mask_time_prob, config.mask_time_length,
                                                  config.mask_time_min_masks, lengths, device=x.device)
        if mask_time_indices is not None:
            x = torch.where(mask_time_indices.to(torch.bool)[..., None], self.masked_spec_embed.to(x.dtype), x)
        if config.mask_feature_prob > 0 and self.training:
            channels = spec_augment_mask(rows, width, config.mask_feature_prob, config.mask_feature_length,
                                         config.mask_feature_min_masks, device=x.device, name="mask_feature_length")
            x = x.masked_fill(channels[:, None, :], 0.0)
        return x

    def forward(self, input_values=None, attention_mask=None, mask_time_indices=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            self.config, output_attentions, output_hidden_states, False, return_dict)
        if input_values is None or input_values.dim() != 2:
            shape = None if input_values is None else tuple(input_values.shape)
            raise ValueError(f"{type(self).__name__} reads input_values of shape [batch, samples] (raw 16 kHz audio "
                             f"from its feature extractor), got {shape}.")
        receptive = int(self._get_feat_extract_output_lengths(torch.tensor(input_values.shape[-1])))
        if receptive < 1:
            raise ValueError(f"input_values hold {input_values.shape[-1]} samples, too few for one frame of the "
                             f"convolutions (kernels {self.config.conv_kernel}, strides {self.config.conv_stride}).")
        features = self.feature_extractor(input_values).transpose(1, 2)
        frame_mask = None
        if attention_mask is not None:
            frame_mask = self._get_feature_vector_attention_mask(features.shape[1], attention_mask)
        x, features = self.feature_projection(features)
        x = self._mask_hidden_states(x, mask_time_indices=mask_time_indices, attention_mask=frame_mask)
        encoded = self.encoder(x, attention_mask=frame_mask, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states)
        out = Wav2Vec2BaseModelOutput(last_hidden_state=encoded.last_hidden_state, extract_features=features,
                                      hidden_states=encoded.hidden_states, attentions=encoded.attentions)
        return out if return_dict else out.to_tuple()


class _AudioHead:
    """What the heads share: the base model under `base_model_prefix`, the freezing methods, the call into it."""

    base_model_class: type = None

    def build_base(self, config) -> None:
        setattr(self, self.base_model_prefix, self.base_model_class(config))

    def freeze_feature_encoder(self) -> None:
        self.base_model.freeze_feature_encoder()

    def freeze_base_model(self) -> None:
        for parameter in self.base_model.parameters():
            parameter.requires_grad = False

    def run_base(self, input_values, attention_mask, output_attentions, output_hidden_states, kwargs):
        causal.reject_unknown(self, kwargs)
        return self.base_model(input_values, attention_mask=attention_mask, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=True)

    def _returned(self, out: ModelOutput, return_dict):
        return out if (self.config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


class Wav2Vec2ForCTC(_AudioHead, Wav2Vec2PreTrainedModel):
    """Characters (or phonemes) per frame, trained with CTC: `labels` are padded with -100 (or pad_token_id), the
    blank is pad_token_id."""

    base_model_class = Wav2Vec2Model

    def __init__(self, config, target_lang: str | None = None):
        super().__init__(config)
        if target_lang is not None:
            raise NotImplementedError("target_lang (MMS language adapters) is not supported by henkan yet.")
        if config.vocab_size is None:
            raise ValueError(f"{type(self).__name__} needs config.vocab_size: the size of the tokenizer's vocabulary "
                             f"(from_pretrained(..., vocab_size=len(tokenizer))).")
        self.build_base(config)
        self.dropout = nn.Dropout(config.final_dropout)
        self.lm_head = linear_layer(config.output_hidden_size, config.vocab_size)
        self.post_init()

    def forward(self, input_values=None, attention_mask=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, labels=None, **kwargs):
        outputs = self.run_base(input_values, attention_mask, output_attentions, output_hidden_states, kwargs)
        logits = self.lm_head(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = self.ctc_loss(logits, labels, input_values, attention_mask)
        return self._returned(CausalLMOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                             attentions=outputs.attentions), return_dict)

    def ctc_loss(self, logits, labels, input_values, attention_mask):
        config = self.config
        if int(labels.max()) >= config.vocab_size:
            raise ValueError(f"labels hold id {int(labels.max())}, outside the vocabulary of {config.vocab_size} "
                             f"(config.vocab_size).")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_values, dtype=torch.long)
        input_lengths = self._get_feat_extract_output_lengths(attention_mask.sum(-1)).long()
        real = labels >= 0
        target_lengths = real.sum(-1)
        log_probs = F.log_softmax(logits, dim=-1, dtype=torch.float32).transpose(0, 1)
        with torch.backends.cudnn.flags(enabled=False):
            return F.ctc_loss(log_probs, labels.masked_select(real), input_lengths, target_lengths,
                              blank=config.pad_token_id, reduction=config.ctc_loss_reduction,
                              zero_infinity=config.ctc_zero_infinity)


class Wav2Vec2ForSequenceClassification(_AudioHead, LayerMix, Wav2Vec2PreTrainedModel):
    """One label per utterance: the frames projected and averaged (over the real frames when a mask is given)."""

    base_model_class = Wav2Vec2Model

    def __init__(self, config):
        super().__init__(config)
        self.build_base(config)
        self.build_layer_mix(config)
        self.projector = linear_layer(config.hidden_size, config.classifier_proj_size)
        self.classifier = linear_layer(config.classifier_proj_size, config.num_labels)
        self.post_init()

    def forward(self, input_values=None, attention_mask=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, labels=None, **kwargs):
        weighted = self.config.use_weighted_layer_sum
        outputs = self.run_base(input_values, attention_mask, output_attentions,
                                True if weighted else output_hidden_states, kwargs)
        x = self.projector(self.mixed_states(outputs))
        if attention_mask is None:
            pooled = x.mean(dim=1)
        else:
            frames = self._get_feature_vector_attention_mask(x.shape[1], attention_mask)
            x = x.masked_fill(~frames[..., None], 0.0)
            pooled = x.sum(dim=1) / frames.sum(dim=1, keepdim=True).to(x.dtype)
        logits = self.classifier(pooled)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.config.num_labels), labels.to(logits.device).view(-1))
        return self._returned(SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                                       attentions=outputs.attentions), return_dict)


class Wav2Vec2ForAudioFrameClassification(_AudioHead, LayerMix, Wav2Vec2PreTrainedModel):
    """A label per frame (speaker diarization)."""

    base_model_class = Wav2Vec2Model

    def __init__(self, config):
        super().__init__(config)
        self.build_base(config)
        self.build_layer_mix(config)
        self.classifier = linear_layer(config.hidden_size, config.num_labels)
        self.num_labels = config.num_labels
        self.post_init()

    def forward(self, input_values=None, attention_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        weighted = self.config.use_weighted_layer_sum
        outputs = self.run_base(input_values, attention_mask, output_attentions,
                                True if weighted else output_hidden_states, kwargs)
        logits = self.classifier(self.mixed_states(outputs))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels),
                                   torch.argmax(labels.view(-1, self.num_labels), dim=1))
        return self._returned(TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                                    attentions=outputs.attentions), return_dict)


# Data2Vec-Audio: the same classes over its config ---------------------------------------------------------------


class Data2VecAudioPreTrainedModel(Wav2Vec2PreTrainedModel):
    config_class = Data2VecAudioConfig
    base_model_prefix = "data2vec_audio"
    _no_split_modules = ["Wav2Vec2EncoderLayer"]


class Data2VecAudioModel(Wav2Vec2Model, Data2VecAudioPreTrainedModel):
    pass


class Data2VecAudioForCTC(Wav2Vec2ForCTC, Data2VecAudioPreTrainedModel):
    base_model_class = Data2VecAudioModel


class Data2VecAudioForSequenceClassification(Wav2Vec2ForSequenceClassification, Data2VecAudioPreTrainedModel):
    base_model_class = Data2VecAudioModel


class Data2VecAudioForAudioFrameClassification(Wav2Vec2ForAudioFrameClassification, Data2VecAudioPreTrainedModel):
    base_model_class = Data2VecAudioModel
