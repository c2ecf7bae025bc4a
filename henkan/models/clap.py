"""CLAP: a RoBERTa text tower and an HTSAT audio tower trained to put a sound and its description at the same point
of a shared space (zero-shot audio classification: the description with the closest embedding wins).

The audio tower reads log-mel spectrograms [batch, channels, frames, mel bins]: a BatchNorm over the mel bins, the
spectrogram folded into a square "image" of config.spec_size (time cut into `spec_size // num_mel_bins` strips
stacked along the frequency axis, after a bicubic stretch to the expected length), then a Swin transformer over its
patches (shifted windows, patch merging between stages). With `enable_fusion`, clips longer than the feature
extractor's window come as four spectrograms (the whole clip shrunk, and a crop from each third): the crops are
embedded with a wider convolution and fused into the global patches by attentional feature fusion (`fusion_model`,
for the rows `is_longer` marks). The token-semantic pooling unfolds the strips again and averages everything.

Each tower's pooled output goes through a two-layer projection (`linear1`, activation, `linear2`) into the shared
space; similarities are scaled by two learned temperatures, `logit_scale_a` (audio to text) and `logit_scale_t`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import SIZE, PretrainedConfig, any_of, list_of
from ..layers import Holder, activation, linear_layer
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPooling, declare_output
from ..vision import PatchMerging, SwinLayer, WindowAttention, depth_rates, pair
from .clip import CLIPConfig
from .roberta import RobertaEmbeddings, RobertaModel

ClapTextModelOutput = declare_output("ClapTextModelOutput", "text_embeds", "last_hidden_state", "hidden_states",
                                     "attentions", module=__name__)
ClapAudioModelOutput = declare_output("ClapAudioModelOutput", "audio_embeds", "last_hidden_state", "hidden_states",
                                      "attentions", module=__name__)
_ClapOutput = declare_output("ClapOutput", "loss", "logits_per_audio", "logits_per_text", "text_embeds",
                             "audio_embeds", "text_model_output", "audio_model_output", module=__name__)


class ClapOutput(_ClapOutput):
    """CLAP's contrastive output; as a tuple, the towers' outputs are tuples too."""

    def to_tuple(self) -> tuple:
        return tuple(v.to_tuple() if k in ("text_model_output", "audio_model_output") else v for k, v in self.items())


class ClapTextConfig(PretrainedConfig):
    model_type = "clap_text_model"
    base_config_key = "text_config"
    defaults = dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=514, type_vocab_size=1,
                    initializer_factor=1.0, layer_norm_eps=1e-12, projection_dim=512, pad_token_id=1,
                    bos_token_id=0, eos_token_id=2, position_embedding_type="absolute", use_cache=True,
                    projection_hidden_act="relu")


class ClapAudioConfig(PretrainedConfig):
    model_type = "clap_audio_model"
    base_config_key = "audio_config"
    defaults = dict(window_size=8, num_mel_bins=64, spec_size=256, hidden_act="gelu", patch_size=4,
                    patch_stride=[4, 4], num_classes=527, hidden_size=768, projection_dim=512, depths=[2, 2, 6, 2],
                    num_attention_heads=[4, 8, 16, 32], enable_fusion=False, hidden_dropout_prob=0.1,
                    fusion_type=None, patch_embed_input_channels=1, flatten_patch_embeds=True,
                    patch_embeds_hidden_size=96, enable_patch_layer_norm=True, drop_path_rate=0.0,
                    attention_probs_dropout_prob=0.0, qkv_bias=True, mlp_ratio=4.0, aff_block_r=4,
                    num_hidden_layers=4, projection_hidden_act="relu", layer_norm_eps=1e-5, initializer_factor=1.0)
    fields = dict(num_attention_heads=list_of(SIZE), depths=list_of(SIZE), spec_size=SIZE, num_mel_bins=SIZE,
                  window_size=SIZE, patch_size=any_of(SIZE, list_of(SIZE)), patch_stride=any_of(SIZE, list_of(SIZE)))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if len(self.num_attention_heads) != len(self.depths):
            raise ValueError(f"ClapAudioConfig needs one num_attention_heads entry per stage of depths: got "
                             f"{self.num_attention_heads} for {self.depths}.")
        if self.spec_size % self.num_mel_bins:
            raise ValueError(f"spec_size ({self.spec_size}) must be a multiple of num_mel_bins "
                             f"({self.num_mel_bins}): the spectrogram is folded into spec_size // num_mel_bins "
                             f"strips.")


class ClapConfig(PretrainedConfig):
    """`text_config` and `audio_config` (each a config or its dict); `projection_dim` and `projection_hidden_act`
    are the shared space's and are written into both parts."""

    model_type = "clap"
    sub_configs = {"text_config": ClapTextConfig, "audio_config": ClapAudioConfig}
    defaults = dict(logit_scale_init_value=1 / 0.07, projection_dim=512, projection_hidden_act="relu",
                    initializer_factor=1.0)

    def __init__(self, text_config=None, audio_config=None, **kwargs):
        for key in ("hidden_size", "num_hidden_layers"):  # (derived below; config.json repeats them)
            kwargs.pop(key, None)
        super().__init__(**kwargs)
        self.text_config = CLIPConfig._part(ClapTextConfig, text_config)
        self.audio_config = CLIPConfig._part(ClapAudioConfig, audio_config)
        for part in (self.text_config, self.audio_config):
            part.projection_dim, part.projection_hidden_act = self.projection_dim, self.projection_hidden_act
        self.hidden_size = self.text_config.hidden_size
        self.num_hidden_layers = self.text_config.num_hidden_layers + len(self.audio_config.depths)

    @classmethod
    def from_text_audio_configs(cls, text_config: ClapTextConfig, audio_config: ClapAudioConfig, **kwargs):
        return cls(text_config=text_config.to_dict(), audio_config=audio_config.to_dict(), **kwargs)


# the text tower: RoBERTa ------------------------------------------------------------------------------------------


class ClapTextEmbeddings(RobertaEmbeddings):
    """RoBERTa's embeddings; CLAP checkpoints also store the `position_ids` and `token_type_ids` buffers."""

    def __init__(self, config):
        super().__init__(config)
        positions = torch.arange(config.max_position_embeddings, device="cpu")[None]
        self.register_buffer("position_ids", positions)
        self.register_buffer("token_type_ids", torch.zeros_like(positions))


class ClapProjectionLayer(nn.Module):
    """A tower's pooled output into the shared space: `linear1`, the projection activation, `linear2`."""

    def __init__(self, config):
        super().__init__()
        self.linear1 = linear_layer(config.hidden_size, config.projection_dim)
        self.activation = activation(config.projection_hidden_act)
        self.linear2 = linear_layer(config.projection_dim, config.projection_dim)

    def forward(self, x):
        return self.linear2(self.activation(self.linear1(x)))


# the audio tower: HTSAT -------------------------------------------------------------------------------------------


class ClapAudioAFFBlock(nn.Module):
    """Attentional feature fusion: a sigmoid gate from local (per-position) and global (pooled) bottleneck
    convolutions of the sum decides, per channel and position, how much of each input to keep (both doubled)."""

    def __init__(self, config):
        super().__init__()
        channels = config.patch_embeds_hidden_size
        inner = int(channels // config.aff_block_r)

        def bottleneck(*first):
            return nn.Sequential(*first, nn.Conv2d(channels, inner, kernel_size=1), nn.BatchNorm2d(inner),
                                 nn.ReLU(inplace=True), nn.Conv2d(inner, channels, kernel_size=1),
                                 nn.BatchNorm2d(channels))

        self.local_att = bottleneck()
        self.global_att = bottleneck(nn.AdaptiveAvgPool2d(1))
        self.sigmoid = nn.Sigmoid()

    def forward(self, x, residual):
        both = x + residual
        gate = self.sigmoid(self.local_att(both) + self.global_att(both))
        return 2 * x * gate + 2 * residual * (1 - gate)


class ClapAudioPatchEmbed(nn.Module):
    """`proj`: the spectrogram image's patches (kernel patch_size, stride patch_stride); with fusion, `mel_conv2d`
    embeds the three crops of longer clips side by side and `fusion_model` merges them into the global patches."""

    def __init__(self, config):
        super().__init__()
        self.img_size = pair(config.spec_size)
        patch, stride = pair(config.patch_size), pair(config.patch_stride)
        self.patch_stride = stride
        self.grid_size = (self.img_size[0] // stride[0], self.img_size[1] // stride[1])
        self.flatten = config.flatten_patch_embeds
        self.enable_fusion = config.enable_fusion
        self.fusion_type = config.fusion_type
        padding = ((patch[0] - stride[0]) // 2, (patch[1] - stride[1]) // 2)
        scale = 4 if self.enable_fusion and config.fusion_type == "channel_map" else 1
        self.in_channels = config.patch_embed_input_channels
        self.proj = nn.Conv2d(self.in_channels * scale, config.patch_embeds_hidden_size, kernel_size=patch,
                              stride=stride, padding=padding)
        self.norm = nn.LayerNorm(config.patch_embeds_hidden_size) if config.enable_patch_layer_norm else \
            nn.Identity()
        if self.enable_fusion:
            self.fusion_model = ClapAudioAFFBlock(config)
            self.mel_conv2d = nn.Conv2d(self.in_channels, config.patch_embeds_hidden_size,
                                        kernel_size=(patch[0], patch[1] * 3), stride=(stride[0], stride[1] * 3),
                                        padding=padding)

    def _check_size(self, x) -> None:
        if tuple(x.shape[-2:]) != self.img_size:
            raise ValueError(f"Input audio size ({x.shape[-2]}*{x.shape[-1]}) doesn't match model "
                             f"({self.img_size[0]}*{self.img_size[1]}).")

    def forward(self, x, longer: torch.Tensor | None = None):
        self._check_size(x)
        if not self.enable_fusion:
            x = self.proj(x)
        else:
            if self.fusion_type == "channel_map":
                raise NotImplementedError("fusion_type='channel_map' is not implemented (nor in the reference); use "
                                          "the attentional fusion (fusion_type None).")
            x, crops = self.proj(x[:, :1]), x[longer, 1:]
            if len(crops):
                rows, count, height, width = crops.shape
                local = self.mel_conv2d(crops.reshape(rows * count, 1, height, width))
                local = local.view(rows, count, *local.shape[1:]).permute(0, 2, 3, 1, 4).flatten(3)
                local = F.pad(local, (0, x.shape[-1] - local.shape[-1]))
                x = x.index_put((longer,), self.fusion_model(x[longer], local))
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)
        return self.norm(x)


class ClapAudioEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.num_layers = len(config.depths)
        self.patch_embed = ClapAudioPatchEmbed(config)
        self.enable_fusion = config.enable_fusion
        self.patch_stride = self.patch_embed.patch_stride
        self.spec_size = config.spec_size
        self.freq_ratio = config.spec_size // config.num_mel_bins
        self.num_features = int(config.patch_embeds_hidden_size * 2 ** (self.num_layers - 1))
        grid = self.patch_embed.grid_size
        self.input_resolutions = [(grid[0] // 2 ** i, grid[1] // 2 ** i) for i in range(self.num_layers)]
        if min(self.input_resolutions[-1]) < config.window_size:
            raise ValueError(f"The last stage's map ({self.input_resolutions[-1]}) is smaller than the attention "
                             f"window (window_size {config.window_size}): raise spec_size or lower window_size.")
        layers = []
        for i, rates in enumerate(depth_rates(config.drop_path_rate, config.depths)):
            dim = int(config.patch_embeds_hidden_size * 2 ** i)
            stage = Holder(blocks=nn.ModuleList(
                SwinLayer(config, dim, config.num_attention_heads[i], 0 if j % 2 == 0 else config.window_size // 2,
                          rate) for j, rate in enumerate(rates)))
            if i < self.num_layers - 1:
                stage.add_module("downsample", PatchMerging(dim))
            layers.append(stage)
        self.layers = nn.ModuleList(layers)
        self.batch_norm = nn.BatchNorm2d(config.num_mel_bins)
        self.norm = nn.LayerNorm(self.num_features)

    def reshape_mel2img(self, x):
        """[batch, channels, frames, mel bins] -> [batch, channels, spec_size, spec_size]: stretched (bicubic) to
        the expected size, time cut into `freq_ratio` strips stacked along the frequency axis."""
        _, _, frames, bins = x.shape
        width, height = self.spec_size * self.freq_ratio, self.spec_size // self.freq_ratio
        if frames > width or bins > height:
            raise ValueError(f"the wav size should be less than or equal to the swin input size: input_features "
                             f"have {frames} frames of {bins} mel bins, this model takes at most {width} x {height} "
                             f"(config.spec_size {self.spec_size}); use the model's feature extractor.")
        if frames < width:
            x = F.interpolate(x, (width, bins), mode="bicubic", align_corners=True)
        if bins < height:  # (the time axis goes back to its first length here, as the reference does)
            x = F.interpolate(x, (frames, height), mode="bicubic", align_corners=True)
        batch, channels, time, freq = x.shape
        x = x.reshape(batch, channels * self.freq_ratio, time // self.freq_ratio, freq).permute(0, 1, 3, 2)
        return x.reshape(batch, channels, freq * self.freq_ratio, time // self.freq_ratio)

    def _check(self, input_features, is_longer) -> None:
        config = self.config
        if input_features is None:
            raise ValueError("You have to specify input_features: the feature extractor's output, e.g. "
                             "processor(audio=waveform, sampling_rate=48000, return_tensors='pt').")
        if not isinstance(input_features, torch.Tensor) or input_features.dim() != 4:
            shape = list(input_features.shape) if hasattr(input_features, "shape") else \
                type(input_features).__name__
            raise ValueError(f"input_features should be a [batch, channels, frames, mel bins] tensor, got {shape}; "
                             f"use the feature extractor with return_tensors='pt'.")
        channels, bins = input_features.shape[1], input_features.shape[-1]
        if bins != config.num_mel_bins:
            raise ValueError(f"input_features have {bins} mel bins, this model takes {config.num_mel_bins} "
                             f"(config.num_mel_bins); use the model's feature extractor.")
        if not self.enable_fusion and channels != self.patch_embed.in_channels:
            raise ValueError(f"input_features have {channels} channels but this model (enable_fusion=False) takes "
                             f"{self.patch_embed.in_channels}: the 4 channels of the feature extractor's "
                             f"truncation='fusion' are for fusion models; use truncation='rand_trunc'.")
        if self.enable_fusion:
            if channels != 4:
                raise ValueError(f"This model (enable_fusion=True) takes the 4 spectrograms of the feature "
                                 f"extractor's truncation='fusion', got input_features with {channels} channel(s).")
            if is_longer is None:
                raise ValueError("This model (enable_fusion=True) needs is_longer, the feature extractor's flag of "
                                 "which clips were longer than its window; pass it with input_features.")

    def forward(self, input_features, is_longer=None, output_attentions=False, output_hidden_states=False):
        self._check(input_features, is_longer)
        x = self.batch_norm(input_features.transpose(1, 3)).transpose(1, 3)
        longer = None
        if self.enable_fusion:
            longer = torch.where(is_longer.to(input_features.device).reshape(-1) == 1)[0]
        x = self.reshape_mel2img(x)
        frames = x.shape[2]
        x = self.patch_embed(x, longer)
        hidden_states = () if output_hidden_states else None
        attentions = () if output_attentions else None
        dims = self.input_resolutions[0]
        if output_hidden_states:
            hidden_states += (x.view(x.shape[0], *dims, -1).permute(0, 3, 1, 2),)
        for stage, dims in zip(self.layers, self.input_resolutions):
            for block in stage.blocks:
                x, weights = block(x, dims, output_attentions)
            downsample = getattr(stage, "downsample", None)
            if downsample is not None:
                x = downsample(x, dims)
                dims = ((dims[0] + 1) // 2, (dims[1] + 1) // 2)
            if output_hidden_states:
                hidden_states += (x.view(x.shape[0], *dims, -1).permute(0, 3, 1, 2),)
            if output_attentions:
                attentions += (weights,)
        x = self.norm(x)
        batch, _, channels = x.shape
        scale = 2 ** (self.num_layers - 1)
        freq, time = frames // scale // self.patch_stride[0], frames // scale // self.patch_stride[1]
        x = x.permute(0, 2, 1).reshape(batch, channels, freq, time)
        strip = freq // self.freq_ratio
        x = x.reshape(batch, channels, freq // strip, strip, time).permute(0, 1, 3, 2, 4)
        x = x.reshape(batch, channels, strip, -1)
        return BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=x.flatten(2).mean(-1),
                                          hidden_states=hidden_states, attentions=attentions)


# models ---------------------------------------------------------------------------------------------------------


class ClapPreTrainedModel(PreTrainedModel):
    config_class = ClapConfig
    base_model_prefix = "clap"
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        config = self.config
        factor = config.initializer_factor
        if isinstance(module, ClapTextEmbeddings):
            nn.init.normal_(module.position_embeddings.weight, std=factor * 0.02)
            nn.init.normal_(module.token_type_embeddings.weight, std=factor * 0.02)
        elif isinstance(module, ClapModel):
            nn.init.constant_(module.logit_scale_a, math.log(config.logit_scale_init_value))
            nn.init.constant_(module.logit_scale_t, math.log(config.logit_scale_init_value))
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=factor * 0.02)
        elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            std = config.hidden_size ** -0.5 * (2 * config.num_hidden_layers) ** -0.5 * factor
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, WindowAttention):
            nn.init.zeros_(module.relative_position_bias_table)

    def _flags(self, output_attentions, output_hidden_states, return_dict):
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            self.config, output_attentions, output_hidden_states, False, return_dict)
        return output_attentions, output_hidden_states, return_dict


class ClapTextModel(ClapPreTrainedModel, RobertaModel):
    """The RoBERTa text tower, pooled by BERT's tanh pooler on the first token."""

    config_class = ClapTextConfig
    embeddings_class = ClapTextEmbeddings
    output_class = BaseModelOutputWithPooling


class ClapAudioModel(ClapPreTrainedModel):
    config_class = ClapAudioConfig
    main_input_name = "input_features"

    def __init__(self, config):
        super().__init__(config)
        self.audio_encoder = ClapAudioEncoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.audio_encoder.patch_embed.proj

    def forward(self, input_features=None, is_longer=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        output_attentions, output_hidden_states, return_dict = self._flags(output_attentions, output_hidden_states,
                                                                           return_dict)
        out = self.audio_encoder(input_features, is_longer, output_attentions, output_hidden_states)
        return out if return_dict else out.to_tuple()


class ClapModel(ClapPreTrainedModel):
    """Both towers and their projections: `get_text_features` / `get_audio_features` (normalised embeddings), and
    the scaled similarities of every audio with every text (`logits_per_audio` [audios, texts], `logits_per_text`)."""

    def __init__(self, config):
        super().__init__(config)
        text, audio = config.text_config, config.audio_config
        if not isinstance(text, ClapTextConfig) or not isinstance(audio, ClapAudioConfig):
            raise TypeError(f"config.text_config and config.audio_config must be a ClapTextConfig and a "
                            f"ClapAudioConfig, not {type(text).__name__} and {type(audio).__name__}.")
        self.logit_scale_a = nn.Parameter(torch.tensor(math.log(config.logit_scale_init_value)))
        self.logit_scale_t = nn.Parameter(torch.tensor(math.log(config.logit_scale_init_value)))
        self.projection_dim = config.projection_dim
        self.text_model = ClapTextModel(text)
        self.text_projection = ClapProjectionLayer(text)
        self.audio_model = ClapAudioModel(audio)
        self.audio_projection = ClapProjectionLayer(audio)
        self.post_init()

    def get_input_embeddings(self):
        return self.text_model.embeddings.word_embeddings

    def _text(self, input_ids, attention_mask, position_ids, output_attentions=None, output_hidden_states=None):
        return self.text_model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                               return_dict=True)

    def get_text_features(self, input_ids=None, attention_mask=None, position_ids=None, **kwargs) -> torch.Tensor:
        """The texts' embeddings in the shared space, normalised."""
        causal.reject_unknown(self, kwargs)
        out = self._text(input_ids, attention_mask, position_ids)
        return F.normalize(self.text_projection(out.pooler_output), dim=-1)

    def get_audio_features(self, input_features=None, is_longer=None, attention_mask=None, **kwargs) -> torch.Tensor:
        """The clips' embeddings in the shared space, normalised. (`attention_mask` is accepted and unused, as in
        the reference.)"""
        causal.reject_unknown(self, kwargs)
        out = self.audio_model(input_features=input_features, is_longer=is_longer, return_dict=True)
        return F.normalize(self.audio_projection(out.pooler_output), dim=-1)

    def forward(self, input_ids=None, input_features=None, is_longer=None, attention_mask=None, position_ids=None,
                return_loss=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        output_attentions, output_hidden_states, return_dict = self._flags(output_attentions, output_hidden_states,
                                                                           return_dict)
        audio = self.audio_model(input_features=input_features, is_longer=is_longer,
                                 output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                 return_dict=True)
        text = self._text(input_ids, attention_mask, position_ids, output_attentions, output_hidden_states)
        audio_embeds = self.audio_projection(audio.pooler_output)
        text_embeds = self.text_projection(text.pooler_output)
        audio_embeds = audio_embeds / audio_embeds.norm(p=2, dim=-1, keepdim=True)
        text_embeds = text_embeds / text_embeds.norm(p=2, dim=-1, keepdim=True)
        logits_per_text = text_embeds @ audio_embeds.t() * self.logit_scale_t.exp()
        logits_per_audio = audio_embeds @ text_embeds.t() * self.logit_scale_a.exp()
        loss = None
        if return_loss:  # (each text should pick its own clip, under either temperature)
            targets = torch.arange(len(logits_per_text), device=logits_per_text.device)
            loss = (F.cross_entropy(logits_per_text, targets) + F.cross_entropy(logits_per_audio.t(), targets)) / 2.0
        out = ClapOutput(loss=loss, logits_per_audio=logits_per_audio, logits_per_text=logits_per_text,
                         text_embeds=text_embeds, audio_embeds=audio_embeds, text_model_output=text,
                         audio_model_output=audio)
        return out if return_dict else out.to_tuple()


class ClapTextModelWithProjection(ClapPreTrainedModel):
    config_class = ClapTextConfig

    def __init__(self, config):
        super().__init__(config)
        self.text_model = ClapTextModel(config)
        self.text_projection = ClapProjectionLayer(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.text_model.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.text_model.embeddings.word_embeddings = value

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        text = self.text_model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                               return_dict=True)
        out = ClapTextModelOutput(text_embeds=self.text_projection(text.pooler_output),
                                  last_hidden_state=text.last_hidden_state, hidden_states=text.hidden_states,
                                  attentions=text.attentions)
        return out if self._flags(None, None, return_dict)[2] else out.to_tuple()


class ClapAudioModelWithProjection(ClapPreTrainedModel):
    config_class = ClapAudioConfig
    main_input_name = "input_features"

    def __init__(self, config):
        super().__init__(config)
        self.audio_model = ClapAudioModel(config)
        self.audio_projection = ClapProjectionLayer(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.audio_model.get_input_embeddings()

    def forward(self, input_features=None, is_longer=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        audio = self.audio_model(input_features=input_features, is_longer=is_longer,
                                 output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                 return_dict=True)
        out = ClapAudioModelOutput(audio_embeds=self.audio_projection(audio.pooler_output),
                                   last_hidden_state=audio.last_hidden_state, hidden_states=audio.hidden_states,
                                   attentions=audio.attentions)
        return out if self._flags(None, None, return_dict)[2] else out.to_tuple()
