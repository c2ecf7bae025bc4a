"""Audio Spectrogram Transformer: ViT over a log-mel spectrogram. Overlapping patches of the [frequency, time]
image (strides `frequency_stride`, `time_stride`) follow a class and a distillation token; the two tokens' final
states, averaged, are the pooled output."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..heads import classification_loss
from ..layers import Holder, linear_layer, run_layers
from ..outputs import BaseModelOutputWithPooling, SequenceClassifierOutput
from ..vision import VisionLayer, VisionPreTrainedModel


class ASTConfig(PretrainedConfig):
    model_type = "audio-spectrogram-transformer"
    defaults = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                    hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                    initializer_range=0.02, layer_norm_eps=1e-12, patch_size=16, qkv_bias=True, frequency_stride=10,
                    time_stride=10, max_length=1024, num_mel_bins=128)

    @property
    def patch_grid(self) -> tuple[int, int]:
        """(frequency, time) patch counts of a `num_mel_bins` x `max_length` spectrogram."""
        return ((self.num_mel_bins - self.patch_size) // self.frequency_stride + 1,
                (self.max_length - self.patch_size) // self.time_stride + 1)


class ASTEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        h = config.hidden_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, h))
        self.distillation_token = nn.Parameter(torch.zeros(1, 1, h))
        self.patch_embeddings = Holder(projection=nn.Conv2d(
            1, h, kernel_size=(config.patch_size, config.patch_size),
            stride=(config.frequency_stride, config.time_stride)))
        frequency, time = config.patch_grid
        self.position_embeddings = nn.Parameter(torch.zeros(1, frequency * time + 2, h))
        self.config = config

    def forward(self, input_values):
        config = self.config
        want = (config.max_length, config.num_mel_bins)
        if input_values is None or input_values.dim() != 3 or tuple(input_values.shape[1:]) != want:
            shape = None if input_values is None else tuple(input_values.shape)
            raise ValueError(f"The Audio Spectrogram Transformer reads input_values of shape [batch, {want[0]} "
                             f"frames (max_length), {want[1]} mel bins], got {shape}; the ASTFeatureExtractor pads "
                             f"or cuts audio to that.")
        x = self.patch_embeddings.projection(input_values.unsqueeze(1).transpose(2, 3))
        x = x.flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token, self.distillation_token], dim=1).expand(x.shape[0], -1, -1)
        x = torch.cat([tokens, x], dim=1) + self.position_embeddings
        return F.dropout(x, config.hidden_dropout_prob, self.training)


class ASTPreTrainedModel(VisionPreTrainedModel):
    config_class = ASTConfig
    base_model_prefix = "audio_spectrogram_transformer"
    main_input_name = "input_values"
    supports_gradient_checkpointing = True
    _no_split_modules = ["VisionLayer"]


class ASTModel(ASTPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embeddings = ASTEmbeddings(config)
        self.encoder = Holder(layer=nn.ModuleList(VisionLayer(config) for _ in range(config.num_hidden_layers)))
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.patch_embeddings

    def forward(self, input_values=None, head_mask=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            self.config, output_attentions, output_hidden_states, False, return_dict)
        x, hidden_states, attentions = run_layers(self, self.encoder.layer, self.embeddings(input_values), mask=None,
                                                  head_mask=head_mask, output_attentions=output_attentions,
                                                  output_hidden_states=output_hidden_states)
        x = self.layernorm(x)
        if hidden_states is not None:  # (the last collected state is the normed one, as the reference records it)
            hidden_states = hidden_states[:-1] + (x,)
        out = BaseModelOutputWithPooling(last_hidden_state=x, pooler_output=(x[:, 0] + x[:, 1]) / 2,
                                         hidden_states=hidden_states, attentions=attentions)
        return out if return_dict else out.to_tuple()


class ASTForAudioClassification(ASTPreTrainedModel):
    """`classifier`: a LayerNorm and a linear layer on the pooled output."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.audio_spectrogram_transformer = ASTModel(config)
        self.classifier = Holder(layernorm=nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps),
                                 dense=linear_layer(config.hidden_size, config.num_labels) if config.num_labels > 0
                                 else nn.Identity())
        self.post_init()

    def forward(self, input_values=None, head_mask=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        outputs = self.audio_spectrogram_transformer(input_values, head_mask=head_mask,
                                                     output_attentions=output_attentions,
                                                     output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier.dense(self.classifier.layernorm(outputs.pooler_output))
        loss = classification_loss(logits, labels.to(logits.device), self.config) if labels is not None else None
        out = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                       attentions=outputs.attentions)
        return out if (self.config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()
