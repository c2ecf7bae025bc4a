"""Whisper: speech recognition and translation with an encoder-decoder over log-mel spectrograms.

The encoder turns `input_features` [batch, mel bins, 2 x max_source_positions frames] into states through two
convolutions (the second halves the frames), a fixed sinusoid table and pre-norm layers; the decoder is the BART
layout's (pre-norm, learned positions, a final LayerNorm, keys without bias) under `proj_out`. Transcription
(`WhisperForConditionalGeneration.generate`) lives in `whisper_generation`.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import CausalLM
from ..generation.utils import GenerationMixin
from ..heads import LayerMix
from ..layers import linear_layer, run_layers
from ..outputs import BaseModelOutput, CausalLMOutputWithCrossAttentions, SequenceClassifierOutput
from ..seq2seq import EncoderDecoderBase, Seq2SeqLM, as_encoder_output
from .bart import (_ATTRIBUTE_MAP, BartDecoder, BartEncoderLayer, BartPreTrainedModel, Layout, SinusoidalPositions,
                   _BartLikeConfig, _final_norm)
from .wav2vec2 import spec_augment_mask
from .whisper_generation import WhisperGenerationMixin


class WhisperConfig(_BartLikeConfig):
    model_type = "whisper"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {"num_key_value_heads": "encoder_attention_heads", **_ATTRIBUTE_MAP}
    layout = Layout(pre_norm=True, final_norm="layer_norm", decoder_scales_embeddings=False, key_bias=False,
                    target_positions="max_target_positions")
    defaults = dict(vocab_size=51865, num_mel_bins=80, encoder_layers=4, encoder_attention_heads=6, decoder_layers=4,
                    decoder_attention_heads=6, decoder_ffn_dim=1536, encoder_ffn_dim=1536, encoder_layerdrop=0.0,
                    decoder_layerdrop=0.0, decoder_start_token_id=50257, use_cache=True, is_encoder_decoder=True,
                    activation_function="gelu", d_model=384, dropout=0.0, attention_dropout=0.0,
                    activation_dropout=0.0, init_std=0.02, scale_embedding=False, max_source_positions=1500,
                    max_target_positions=448, pad_token_id=50256, bos_token_id=50256, eos_token_id=50256,
                    suppress_tokens=None, begin_suppress_tokens=[220, 50256], use_weighted_layer_sum=False,
                    classifier_proj_size=256, apply_spec_augment=False, mask_time_prob=0.05, mask_time_length=10,
                    mask_time_min_masks=2, mask_feature_prob=0.0, mask_feature_length=10, mask_feature_min_masks=0,
                    median_filter_width=7)


class WhisperSinusoids(SinusoidalPositions):
    """The encoder's fixed table: sines then cosines of log-spaced timescales from 1 to 10000."""

    def reset_parameters(self) -> None:
        positions, dim = self.weight.shape
        if self.weight.is_meta:
            return
        if dim % 2:
            raise ValueError(f"Whisper's sinusoid table needs an even d_model, got {dim}.")
        rates = torch.exp(-math.log(10000) / (dim // 2 - 1) * torch.arange(dim // 2))
        angles = torch.arange(positions)[:, None] * rates[None]
        with torch.no_grad():
            self.weight.copy_(torch.cat([angles.sin(), angles.cos()], dim=1).to(self.weight.dtype))


class WhisperPreTrainedModel(BartPreTrainedModel):
    config_class = WhisperConfig
    main_input_name = "input_features"
    _no_split_modules = ["WhisperEncoderLayer", "WhisperDecoderLayer"]


class WhisperEncoderLayer(BartEncoderLayer):
    pass


class WhisperEncoder(WhisperPreTrainedModel):
    """Two GELU convolutions over the mel frames (the second with stride 2), the sinusoid table, the layers and a
    final LayerNorm. Every input is one window of exactly 2 x max_source_positions frames."""

    def __init__(self, config):
        super().__init__(config)
        d = config.d_model
        self.conv1 = nn.Conv1d(config.num_mel_bins, d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.embed_positions = WhisperSinusoids(config.max_source_positions, d)
        self.layers = nn.ModuleList(WhisperEncoderLayer(config, i) for i in range(config.encoder_layers))
        self.layer_norm = nn.LayerNorm(d)

    @property
    def window_frames(self) -> int:
        return self.config.max_source_positions * self.conv1.stride[0] * self.conv2.stride[0]

    def get_input_embeddings(self):
        return self.conv1

    def set_input_embeddings(self, value):
        self.conv1 = value

    def _freeze_parameters(self) -> None:
        for parameter in self.parameters():
            parameter.requires_grad = False

    def forward(self, input_features=None, attention_mask=None, head_mask=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        """`attention_mask` is accepted and unused: the model was trained on windows padded with silence."""
        causal.reject_unknown(self, kwargs)
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            self.config, output_attentions, output_hidden_states, False, return_dict)
        frames, bins = self.window_frames, self.config.num_mel_bins
        if input_features is None or input_features.dim() != 3 or input_features.shape[1:] != (bins, frames):
            shape = None if input_features is None else tuple(input_features.shape)
            raise ValueError(f"Whisper's encoder reads input_features of shape [batch, {bins} mel bins, {frames} "
                             f"frames], got {shape}. Pad or cut each input to {frames} frames (the "
                             f"WhisperFeatureExtractor does so by default).")
        x = F.gelu(self.conv1(input_features))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        x = x + self.embed_positions.weight.to(x.dtype)
        x = F.dropout(x, self.config.dropout, self.training)
        x, hidden_states, attentions = run_layers(
            self, self.layers, x, mask=None, head_mask=head_mask, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, layerdrop=self.config.encoder_layerdrop)
        x, hidden_states = _final_norm(self, x, hidden_states)
        out = BaseModelOutput(last_hidden_state=x, hidden_states=hidden_states, attentions=attentions)
        return out if return_dict else out.to_tuple()


class WhisperDecoder(BartDecoder):
    config_class = WhisperConfig


class WhisperModel(EncoderDecoderBase, WhisperPreTrainedModel):
    encoder_mask_reaches_decoder = False

    def __init__(self, config):
        super().__init__(config)
        self.encoder = WhisperEncoder(config)
        self.decoder = WhisperDecoder(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.decoder.embed_tokens

    def set_input_embeddings(self, value):
        self.decoder.embed_tokens = value

    def freeze_encoder(self) -> None:
        """Stop training the encoder (fine-tune the decoder only)."""
        self.encoder._freeze_parameters()

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                past_key_values=None, decoder_inputs_embeds=None, decoder_position_ids=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        if input_features is not None and encoder_outputs is None:
            input_features = self._spec_augment(input_features, attention_mask)
        return self.encode_decode(locals())

    def _spec_augment(self, features: torch.Tensor, attention_mask=None) -> torch.Tensor:
        """SpecAugment while training (`config.apply_spec_augment`): random spans of frames (`mask_time_*`, within
        each row's `attention_mask`) and of mel bins (`mask_feature_*`) set to zero; the input is left as is."""
        config = self.config
        if not (config.apply_spec_augment and self.training):
            return features
        rows, bins, frames = features.shape
        if config.mask_time_prob > 0:
            lengths = attention_mask.sum(-1) if attention_mask is not None else None
            spans = spec_augment_mask(rows, frames, config.mask_time_prob, config.mask_time_length,
                                      config.mask_time_min_masks, lengths, device=features.device)
            features = features.masked_fill(spans[:, None, :], 0.0)
        if config.mask_feature_prob > 0:
            spans = spec_augment_mask(rows, bins, config.mask_feature_prob, config.mask_feature_length,
                                      config.mask_feature_min_masks, device=features.device, name="mask_feature_length")
            features = features.masked_fill(spans[:, :, None], 0.0)
        return features


class WhisperForConditionalGeneration(WhisperGenerationMixin, Seq2SeqLM, WhisperPreTrainedModel):
    base_model_class = WhisperModel
    head_name = "proj_out"
    target_positions = "max_target_positions"
    labels_turn_off_cache = False
    _tied_weights_keys = ["proj_out.weight"]

    def freeze_encoder(self) -> None:
        self.model.freeze_encoder()

    def forward(self, input_features=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None, encoder_outputs=None,
                past_key_values=None, decoder_inputs_embeds=None, decoder_position_ids=None, labels=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, **kwargs):
        return self.lm_forward(locals())


class WhisperDecoderWrapper(WhisperPreTrainedModel):
    """The decoder alone under `model.decoder` (the checkpoint layout of WhisperForCausalLM)."""

    input_embeddings_path = "decoder.embed_tokens"

    def __init__(self, config):
        super().__init__(config)
        self.decoder = WhisperDecoder(config)

    def forward(self, *args, **kwargs):
        return self.decoder(*args, **kwargs)


class WhisperForCausalLM(GenerationMixin, CausalLM, WhisperPreTrainedModel):
    """The decoder as a language model over given encoder states (`encoder_outputs`); position t is scored against
    labels[t] (the caller shifts them). Whisper's draft model for assisted decoding."""

    base_model_class = WhisperDecoderWrapper
    output_class = CausalLMOutputWithCrossAttentions
    main_input_name = "input_ids"
    shifts_labels = False
    base_inputs = ("input_ids", "attention_mask", "encoder_hidden_states", "head_mask", "cross_attn_head_mask",
                   "past_key_values", "inputs_embeds", "use_cache", "output_attentions", "output_hidden_states",
                   "cache_position")
    _tied_weights_keys = ["proj_out.weight"]

    def __init__(self, config):
        config = copy.deepcopy(config)
        config.is_encoder_decoder = False
        super().__init__(config)

    def build_head(self, config) -> None:
        self.proj_out = linear_layer(config.d_model, config.vocab_size, bias=False)

    def head(self, hidden):
        return self.proj_out(hidden)

    def get_output_embeddings(self):
        return self.proj_out

    def set_output_embeddings(self, new_embeddings):
        self.proj_out = new_embeddings

    def get_decoder(self):
        return self.model.decoder

    def forward(self, input_ids=None, attention_mask=None, encoder_outputs=None, head_mask=None,
                cross_attn_head_mask=None, past_key_values=None, inputs_embeds=None, labels=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        encoder_hidden_states = None
        if encoder_outputs is not None:
            encoder_hidden_states = encoder_outputs if torch.is_tensor(encoder_outputs) else encoder_outputs[0]
        arguments = dict(locals())
        arguments.pop("encoder_outputs")
        return self.lm_forward(arguments)


class WhisperForAudioClassification(LayerMix, WhisperPreTrainedModel):
    """Audio classification over the encoder: its states (or a learned mix of every layer's), projected, averaged
    over time, classified."""

    def __init__(self, config):
        super().__init__(config)
        self.encoder = WhisperEncoder(config)
        self.build_layer_mix(config)
        self.projector = linear_layer(config.d_model, config.classifier_proj_size)
        self.classifier = linear_layer(config.classifier_proj_size, config.num_labels)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.conv1

    def set_input_embeddings(self, value):
        self.encoder.conv1 = value

    def freeze_encoder(self) -> None:
        self.encoder._freeze_parameters()

    def forward(self, input_features=None, head_mask=None, encoder_outputs=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        causal.reject_unknown(self, kwargs)
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        weighted = self.config.use_weighted_layer_sum
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_features, head_mask=head_mask, output_attentions=output_attentions,
                                           output_hidden_states=True if weighted else output_hidden_states,
                                           return_dict=True)
        else:
            encoder_outputs = as_encoder_output(encoder_outputs)
        logits = self.classifier(self.projector(self.mixed_states(encoder_outputs)).mean(dim=1))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.config.num_labels), labels.to(logits.device).view(-1))
        out = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=encoder_outputs.hidden_states,
                                       attentions=encoder_outputs.attentions)
        return out if return_dict else out.to_tuple()
