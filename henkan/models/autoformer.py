"""Autoformer: a probabilistic forecaster whose encoder-decoder splits series into trend and seasonal parts.

Every block ends in a series decomposition (a moving average is the trend, the rest the seasonal part). Attention is
auto-correlation: per head, the correlation of queries and keys at every delay (through the FFT), the top
`autocorrelation_factor * ln(length)` delays of the head- and channel-averaged correlation, and a softmax-weighted sum
of the values rolled by those delays. The decoder reads the last `label_length` steps of the context's seasonal part
plus zeros for the forecast steps, and carries a trend, started from the context's trend and mean, that each layer
adds its projected trends to. A distribution head (henkan/time_series.py) turns seasonal + trend into per-step
distribution parameters; `generate()` samples `num_parallel_samples` forecasts in one decoder pass.

Like the reference, auto-correlation has no attention mask (missing values are marked with `past_observed_mask`),
and two of its behaviours are kept for identical outputs: when queries outnumber keys (a decoder longer than the
encoder's context) only the first `queries - keys` queries are correlated, and each batch row's delays and weights are
tiled over the [batch * heads] rows, so row `r` uses those of batch row `r % batch`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..config import (BOOL, COUNT, POSITIVE, SIZE, Kind, PretrainedConfig, any_of, choice, list_of)
from ..layers import Attention, Holder, activation, linear_layer, per_layer_head_mask, run_layers
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutput, SampleTSPredictionOutput, Seq2SeqTSPredictionOutput, declare_output
from ..seq2seq import as_encoder_output
from ..time_series import (DISTRIBUTION_OUTPUTS, FeatureEmbedder, MeanScaler, NOPScaler, StdScaler,
                           check_series_inputs, lagged_subsequences, network_inputs, nll, scaler_for, weighted_average)
from .bart import SinusoidalPositions

# the reference's names of the shared blocks (same constructors), for code importing them from modeling_autoformer
AutoformerMeanScaler, AutoformerStdScaler, AutoformerNOPScaler = MeanScaler, StdScaler, NOPScaler
AutoformerFeatureEmbedder = FeatureEmbedder

AutoformerModelOutput = declare_output(
    "AutoformerModelOutput", "last_hidden_state", "trend", "past_key_values", "decoder_hidden_states",
    "decoder_attentions", "cross_attentions", "encoder_last_hidden_state", "encoder_hidden_states",
    "encoder_attentions", "loc", "scale", "static_features", module=__name__,
    doc="The decoder's seasonal output and trend (add them for the distribution head), the encoder's states, and "
        "how the series were scaled.")

_ODD = Kind("an odd positive integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0 and v % 2)


class AutoformerConfig(PretrainedConfig):
    model_type = "autoformer"
    attribute_map = {"hidden_size": "d_model", "num_attention_heads": "encoder_attention_heads",
                     "num_hidden_layers": "encoder_layers"}
    multiples = (("d_model", "encoder_attention_heads"), ("d_model", "decoder_attention_heads"))
    defaults = dict(
        prediction_length=None, context_length=None, distribution_output="student_t", loss="nll", input_size=1,
        lags_sequence=[1, 2, 3, 4, 5, 6, 7], scaling=True, num_time_features=0, num_dynamic_real_features=0,
        num_static_categorical_features=0, num_static_real_features=0, cardinality=None, embedding_dimension=None,
        d_model=64, encoder_attention_heads=2, decoder_attention_heads=2, encoder_layers=2, decoder_layers=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, activation_function="gelu", dropout=0.1, encoder_layerdrop=0.1,
        decoder_layerdrop=0.1, attention_dropout=0.1, activation_dropout=0.1, num_parallel_samples=100,
        init_std=0.02, use_cache=True, is_encoder_decoder=True, label_length=10, moving_average=25,
        autocorrelation_factor=3, feature_size=None)
    fields = dict(
        prediction_length=SIZE.or_none, context_length=SIZE.or_none,
        distribution_output=choice(*DISTRIBUTION_OUTPUTS), loss=choice("nll"), input_size=SIZE,
        lags_sequence=Kind("a non-empty list of non-negative integers",
                           lambda v: isinstance(v, (list, tuple)) and len(v) > 0 and list_of(COUNT)(v)),
        scaling=any_of(BOOL, choice("mean", "std")).or_none, num_time_features=COUNT,
        num_dynamic_real_features=COUNT, num_static_categorical_features=COUNT, num_static_real_features=COUNT,
        cardinality=list_of(COUNT).or_none, embedding_dimension=list_of(COUNT).or_none,
        num_parallel_samples=SIZE, label_length=COUNT, moving_average=_ODD, autocorrelation_factor=POSITIVE,
        feature_size=SIZE.or_none)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.context_length is None:
            self.context_length = self.prediction_length
        count = self.num_static_categorical_features
        for key in ("cardinality", "embedding_dimension"):
            value = getattr(self, key)
            if value is not None and count > 0 and len(value) != count:
                raise ValueError(f"AutoformerConfig: {key} has {len(value)} entries; it needs one per static "
                                 f"categorical feature (num_static_categorical_features = {count}).")
        if self.cardinality is None or count == 0:
            self.cardinality = [0]
        if self.embedding_dimension is None or count == 0:
            self.embedding_dimension = [min(50, (c + 1) // 2) for c in self.cardinality]
        if self.feature_size is None:  # (a given feature_size wins, as a saved config's does in the reference)
            self.feature_size = self.input_size * len(self.lags_sequence) + self._number_of_features

    @property
    def _number_of_features(self) -> int:
        """Features per step besides the lags: embedded categories, dynamic reals, time features, static reals and
        the two scaling statistics (log1p|loc|, log scale) per target variable."""
        return (sum(self.embedding_dimension) + self.num_dynamic_real_features + self.num_time_features
                + self.num_static_real_features + self.input_size * 2)


# blocks -------------------------------------------------------------------------------------------------------------
class SeriesDecomposition(nn.Module):
    """x -> (seasonal, trend): the trend is a moving average over time (ends padded by repeating the first and
    last steps), the seasonal part the rest."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pad = (self.kernel_size - 1) // 2
        padded = torch.cat([x[:, :1].expand(-1, pad, -1), x, x[:, -1:].expand(-1, pad, -1)], dim=1)
        trend = F.avg_pool1d(padded.permute(0, 2, 1), self.kernel_size, stride=1).permute(0, 2, 1)
        return x - trend, trend


class SeasonalLayerNorm(nn.Module):
    """LayerNorm, then minus its mean over time (the seasonal part has no level)."""

    def __init__(self, dim: int):
        super().__init__()
        self.layernorm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layernorm(x)
        return x - x.mean(dim=1, keepdim=True)


class AutoCorrelation(Attention):
    """Auto-correlation in place of attention (see the module docstring), on Attention's q/k/v/out projections."""

    def __init__(self, config, num_heads: int):
        super().__init__(config.d_model, num_heads, dropout=config.attention_dropout)
        self.factor = config.autocorrelation_factor

    def forward(self, x, states=None, head_mask=None, output_attentions: bool = False):
        batch, length, _ = x.shape
        rows, dim = batch * self.num_heads, self.head_dim
        states = x if states is None else states
        q = self._heads(self.q_proj(x)).reshape(rows, length, dim)
        k, v = (t.reshape(rows, -1, dim) for t in self.project_kv(states))
        if length > k.shape[1]:  # keys and values zero-padded to the queries' length (queries cut: module doc)
            q = q[:, :length - k.shape[1]]
            zeros = torch.zeros_like(q)
            k, v = torch.cat([k, zeros], dim=1), torch.cat([v, zeros], dim=1)
        else:
            k, v = k[:, :length], v[:, :length]
        spectrum = torch.fft.rfft(q, n=length, dim=1) * torch.conj(torch.fft.rfft(k, n=length, dim=1))
        correlation = torch.fft.irfft(spectrum, n=length, dim=1).view(batch, self.num_heads, length, dim)
        if head_mask is not None:
            correlation = correlation * head_mask.view(1, -1, 1, 1)
        top_k = int(self.factor * math.log(length))
        if top_k > length:
            raise ValueError(f"autocorrelation_factor {self.factor} picks int({self.factor} * ln {length}) = {top_k} "
                             f"delays of a {length}-step series; lower autocorrelation_factor.")
        mean = correlation.mean(dim=(1, -1))  # [batch, delays]
        if self.training:  # one set of delays for the whole batch
            delays = mean.mean(dim=0).topk(top_k).indices.expand(batch, -1)
            weights = mean.gather(1, delays)
        else:
            weights, delays = mean.topk(top_k, dim=1)
        # tiled, not interleaved, over the [batch * heads] rows (module docstring)
        weights = weights.softmax(dim=-1).repeat(self.num_heads, 1)
        steps = torch.arange(length, device=v.device)[None, :, None]
        index = (steps + delays.repeat(self.num_heads, 1)[:, None]) % length  # [rows, length, top_k]
        rolled = v.gather(1, index.reshape(rows, -1, 1).expand(-1, -1, dim)).view(rows, length, top_k, dim)
        out = torch.zeros_like(v)
        for i in range(top_k):  # (summed delay by delay, in the reference's order: the outputs match bit for bit)
            out = out + rolled[:, :, i] * weights[:, None, i, None]
        out = out.view(batch, self.num_heads, length, dim).transpose(1, 2).reshape(batch, length, -1)
        return self.out_proj(out), (correlation if output_attentions else None)


class _Layer(nn.Module):
    """The feed-forward and the parts every Autoformer layer has."""

    def _init_common(self, config, ffn_dim: int, decompositions: int) -> None:
        d = config.d_model
        self.dropout, self.activation_dropout = config.dropout, config.activation_dropout
        self.act = activation(config.activation_function)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = linear_layer(d, ffn_dim)
        self.fc2 = linear_layer(ffn_dim, d)
        self.final_layer_norm = SeasonalLayerNorm(d)
        for i in range(1, decompositions + 1):
            setattr(self, f"decomp{i}", SeriesDecomposition(config.moving_average))

    def _drop(self, x):
        return F.dropout(x, self.dropout, self.training)

    def _mlp(self, x):
        return self._drop(self.fc2(F.dropout(self.act(self.fc1(x)), self.activation_dropout, self.training)))


class AutoformerEncoderLayer(_Layer):
    def __init__(self, config):
        super().__init__()
        self.self_attn = AutoCorrelation(config, config.encoder_attention_heads)
        self._init_common(config, config.encoder_ffn_dim, 2)

    def forward(self, x, mask=None, head_mask=None, output_attentions: bool = False):
        out, weights = self.self_attn(x, head_mask=head_mask, output_attentions=output_attentions)
        x, _ = self.decomp1(self.self_attn_layer_norm(x + self._drop(out)))
        x, _ = self.decomp2(x + self._mlp(x))
        return self.final_layer_norm(x), weights


class AutoformerDecoderLayer(_Layer):
    def __init__(self, config):
        super().__init__()
        heads = config.decoder_attention_heads
        self.self_attn = AutoCorrelation(config, heads)
        self.encoder_attn = AutoCorrelation(config, heads)
        self.encoder_attn_layer_norm = nn.LayerNorm(config.d_model)
        self._init_common(config, config.decoder_ffn_dim, 3)
        self.trend_projection = nn.Conv1d(config.d_model, config.feature_size, kernel_size=3, padding=1,
                                          padding_mode="circular", bias=False)

    def forward(self, x, encoder_states, head_mask=None, cross_head_mask=None, output_attentions: bool = False):
        """-> (seasonal states, this layer's trend in feature space, self weights, cross weights)"""
        out, self_weights = self.self_attn(x, head_mask=head_mask, output_attentions=output_attentions)
        x, trend1 = self.decomp1(x + self._drop(out))
        x = self.self_attn_layer_norm(x)
        out, cross_weights = self.encoder_attn(x, encoder_states, head_mask=cross_head_mask,
                                               output_attentions=output_attentions)
        x, trend2 = self.decomp2(x + self._drop(out))
        x = self.encoder_attn_layer_norm(x)
        x, trend3 = self.decomp3(x + self._mlp(x))
        trend = self.trend_projection((trend1 + trend2 + trend3).permute(0, 2, 1)).transpose(1, 2)
        return self.final_layer_norm(x), trend, self_weights, cross_weights


class _Stack(nn.Module):
    """Value embedding + sinusoidal positions + LayerNorm, then the layers."""

    def __init__(self, config, layers, layerdrop: float):
        super().__init__()
        self.config, self.dropout, self.layerdrop = config, config.dropout, layerdrop
        self.gradient_checkpointing = False
        self.value_embedding = Holder(value_projection=linear_layer(config.feature_size, config.d_model, bias=False))
        self.embed_positions = SinusoidalPositions(config.context_length + config.prediction_length, config.d_model)
        self.layers = nn.ModuleList(layers)
        self.layernorm_embedding = nn.LayerNorm(config.d_model)

    def _embed(self, inputs_embeds, start: int = 0):
        positions = torch.arange(start, start + inputs_embeds.shape[1], device=inputs_embeds.device)
        x = self.value_embedding.value_projection(inputs_embeds) + self.embed_positions(positions)
        return F.dropout(self.layernorm_embedding(x), self.dropout, self.training)


class AutoformerEncoder(_Stack):
    def __init__(self, config):
        super().__init__(config, [AutoformerEncoderLayer(config) for _ in range(config.encoder_layers)],
                         config.encoder_layerdrop)

    def forward(self, inputs_embeds, head_mask=None, output_attentions=False, output_hidden_states=False):
        x, states, attentions = run_layers(self, self.layers, self._embed(inputs_embeds), mask=None,
                                           head_mask=head_mask, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, layerdrop=self.layerdrop)
        return BaseModelOutput(last_hidden_state=x, hidden_states=states, attentions=attentions)


class AutoformerDecoder(_Stack):
    def __init__(self, config):
        super().__init__(config, [AutoformerDecoderLayer(config) for _ in range(config.decoder_layers)],
                         config.decoder_layerdrop)
        self.seasonality_projection = linear_layer(config.d_model, config.feature_size)

    def forward(self, trend, inputs_embeds, encoder_hidden_states, head_mask=None, cross_attn_head_mask=None,
                output_attentions=False, output_hidden_states=False):
        """-> (seasonal output in feature space, trend, hidden states, self-attentions, cross-attentions); the last
        hidden state collected is the projected seasonal output, as in the reference."""
        config = self.config
        x = self._embed(inputs_embeds, start=config.context_length - config.label_length)
        n = len(self.layers)
        head_masks = per_layer_head_mask(head_mask, n, x.dtype)
        cross_masks = per_layer_head_mask(cross_attn_head_mask, n, x.dtype)
        states = () if output_hidden_states else None
        self_attns = () if output_attentions else None
        cross_attns = () if output_attentions else None
        for layer, layer_head_mask, cross_mask in zip(self.layers, head_masks, cross_masks):
            if output_hidden_states:
                states += (x,)
            if self.training and self.layerdrop and torch.rand([]) < self.layerdrop:
                continue
            args = (x, encoder_hidden_states, layer_head_mask, cross_mask, output_attentions)
            if self.gradient_checkpointing and self.training:
                x, layer_trend, self_weights, cross_weights = checkpoint(layer, *args, **self._checkpoint_kwargs)
            else:
                x, layer_trend, self_weights, cross_weights = layer(*args)
            trend = trend + layer_trend
            if output_attentions:
                self_attns += (self_weights,)
                cross_attns += (cross_weights,)
        x = self.seasonality_projection(x)
        if output_hidden_states:
            states += (x,)
        return x, trend, states, self_attns, cross_attns


# models -------------------------------------------------------------------------------------------------------------
class AutoformerPreTrainedModel(PreTrainedModel):
    config_class = AutoformerConfig
    base_model_prefix = "model"
    main_input_name = "past_values"

    def _init_weights(self, module):
        if isinstance(module, SinusoidalPositions):
            module.reset_parameters()
        elif isinstance(module, nn.Conv1d):
            nn.init.normal_(module.weight, std=self.config.init_std)
        else:
            super()._init_weights(module)


def _check_config(config) -> None:
    if config.prediction_length is None:
        raise ValueError("AutoformerConfig: prediction_length is not set; give the number of steps to forecast, "
                         "e.g. AutoformerConfig(prediction_length=24).")
    if config.label_length > config.context_length:
        raise ValueError(f"AutoformerConfig: label_length ({config.label_length}) must not exceed context_length "
                         f"({config.context_length}): the decoder starts from the context's last label_length steps.")


def _reject_attention_mask(decoder_attention_mask) -> None:
    if decoder_attention_mask is not None:
        raise ValueError("decoder_attention_mask: Autoformer's auto-correlation reads whole series and takes no "
                         "attention mask; mark missing values with past_observed_mask / future_observed_mask.")


class AutoformerModel(AutoformerPreTrainedModel):
    def __init__(self, config: AutoformerConfig):
        super().__init__(config)
        _check_config(config)
        self.scaler = scaler_for(config)
        if config.num_static_categorical_features > 0:
            self.embedder = FeatureEmbedder(config.cardinality, config.embedding_dimension)
        self.encoder = AutoformerEncoder(config)
        self.decoder = AutoformerDecoder(config)
        self.decomposition_layer = SeriesDecomposition(config.moving_average)
        self.post_init()

    @property
    def _past_length(self) -> int:
        return self.config.context_length + max(self.config.lags_sequence)

    def get_encoder(self):
        return self.encoder

    def get_decoder(self):
        return self.decoder

    def get_lagged_subsequences(self, sequence, subsequences_length: int, shift: int = 0) -> torch.Tensor:
        return lagged_subsequences(sequence, self.config.lags_sequence, subsequences_length, shift)

    def create_network_inputs(self, past_values, past_time_features, static_categorical_features=None,
                              static_real_features=None, past_observed_mask=None, future_values=None,
                              future_time_features=None):
        return network_inputs(self.config, self.scaler, getattr(self, "embedder", None), past_values,
                              past_time_features, static_categorical_features, static_real_features,
                              past_observed_mask, future_values, future_time_features)

    def decoder_start(self, lagged: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's inputs and initial trend from the context's lagged series [batch, context_length, lags]
        and the features of the decoder's steps [batch, label_length + prediction_length, features]: the seasonal
        part of the last label_length steps then zeros, and their trend then the context's mean."""
        label, horizon = self.config.label_length, self.config.prediction_length
        seasonal, trend = self.decomposition_layer(lagged)
        mean = lagged.mean(dim=1, keepdim=True).expand(-1, horizon, -1)
        zeros = lagged.new_zeros(lagged.shape[0], horizon, lagged.shape[2])
        decoder_input = torch.cat((torch.cat((seasonal[:, -label:], zeros), dim=1), features), dim=-1)
        trend_init = torch.cat((torch.cat((trend[:, -label:], mean), dim=1), features), dim=-1)
        return decoder_input, trend_init

    def forward(self, past_values, past_time_features, past_observed_mask=None, static_categorical_features=None,
                static_real_features=None, future_values=None, future_time_features=None,
                decoder_attention_mask=None, head_mask=None, decoder_head_mask=None, cross_attn_head_mask=None,
                encoder_outputs=None, past_key_values=None, output_hidden_states=None, output_attentions=None,
                use_cache=None, return_dict=None, cache_position=None):
        """Encode the context; with `future_values` (training), also decode the forecast window. `past_key_values`,
        `use_cache` and `cache_position` are accepted and ignored: the decoder runs once over the whole window, so
        there is nothing to cache."""
        config = self.config
        _reject_attention_mask(decoder_attention_mask)
        check_series_inputs(config, past_values, past_time_features, past_observed_mask, static_categorical_features,
                            static_real_features, future_values, future_time_features)
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        return_dict = config.return_dict if return_dict is None else return_dict
        lagged, features, loc, scale, static_feat = self.create_network_inputs(
            past_values, past_time_features, static_categorical_features, static_real_features, past_observed_mask,
            future_values, future_time_features)
        context = config.context_length
        if encoder_outputs is None:
            encoder_outputs = self.encoder(torch.cat((lagged[:, :context], features[:, :context]), dim=-1),
                                           head_mask=head_mask, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states)
        else:
            encoder_outputs = as_encoder_output(encoder_outputs)
        decoded = {}
        if future_values is not None:
            decoder_input, trend_init = self.decoder_start(lagged[:, :context],
                                                           features[:, context - config.label_length:])
            x, trend, states, self_attns, cross_attns = self.decoder(
                trend_init, decoder_input, encoder_outputs.last_hidden_state, head_mask=decoder_head_mask,
                cross_attn_head_mask=cross_attn_head_mask, output_attentions=output_attentions,
                output_hidden_states=output_hidden_states)
            decoded = dict(last_hidden_state=x, trend=trend, decoder_hidden_states=states,
                           decoder_attentions=self_attns, cross_attentions=cross_attns)
        out = AutoformerModelOutput(
            **decoded, encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions,
            loc=loc, scale=scale, static_features=static_feat)
        return out if return_dict else out.to_tuple()


class AutoformerForPrediction(AutoformerPreTrainedModel):
    def __init__(self, config: AutoformerConfig):
        super().__init__(config)
        self.model = AutoformerModel(config)
        self.distribution_output = DISTRIBUTION_OUTPUTS[config.distribution_output](dim=config.input_size)
        self.parameter_projection = self.distribution_output.get_parameter_projection(config.feature_size)
        self.target_shape = self.distribution_output.event_shape
        self.loss = nll
        self.post_init()

    def get_encoder(self):
        return self.model.encoder

    def get_decoder(self):
        return self.model.decoder

    def output_params(self, decoder_output: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The distribution parameters of the forecast steps (the last prediction_length)."""
        return self.parameter_projection(decoder_output[:, -self.config.prediction_length:])

    def output_distribution(self, params, loc=None, scale=None, trailing_n=None):
        if trailing_n is not None:
            params = [p[:, -trailing_n:] for p in params]
        return self.distribution_output.distribution(params, loc=loc, scale=scale)

    def forward(self, past_values, past_time_features, past_observed_mask=None, static_categorical_features=None,
                static_real_features=None, future_values=None, future_time_features=None,
                future_observed_mask=None, decoder_attention_mask=None, head_mask=None, decoder_head_mask=None,
                cross_attn_head_mask=None, encoder_outputs=None, past_key_values=None, output_hidden_states=None,
                output_attentions=None, use_cache=None, return_dict=None):
        """With `future_values`: the distribution parameters of the forecast window and the loss, the negative log
        likelihood averaged over the steps `future_observed_mask` marks observed (all when not given; a
        multivariate step counts only when every variable is observed)."""
        return_dict = self.config.return_dict if return_dict is None else return_dict
        outputs = self.model(
            past_values, past_time_features, past_observed_mask, static_categorical_features, static_real_features,
            future_values, future_time_features, decoder_attention_mask=decoder_attention_mask, head_mask=head_mask,
            decoder_head_mask=decoder_head_mask, cross_attn_head_mask=cross_attn_head_mask,
            encoder_outputs=encoder_outputs, output_hidden_states=output_hidden_states,
            output_attentions=output_attentions, return_dict=True)
        loss = params = None
        if future_values is not None:
            if future_observed_mask is not None and future_observed_mask.shape != future_values.shape:
                raise ValueError(f"future_observed_mask has shape {tuple(future_observed_mask.shape)}; it needs the "
                                 f"shape of future_values {tuple(future_values.shape)}.")
            params = self.output_params(outputs.last_hidden_state + outputs.trend)
            distribution = self.output_distribution(params, loc=outputs.loc, scale=outputs.scale)
            if future_observed_mask is None:
                future_observed_mask = torch.ones_like(future_values)
            weights = future_observed_mask if not self.target_shape else future_observed_mask.min(dim=-1).values
            loss = weighted_average(self.loss(distribution, future_values), weights=weights)
        out = Seq2SeqTSPredictionOutput(
            loss=loss, params=params, decoder_hidden_states=outputs.decoder_hidden_states,
            decoder_attentions=outputs.decoder_attentions, cross_attentions=outputs.cross_attentions,
            encoder_last_hidden_state=outputs.encoder_last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states, encoder_attentions=outputs.encoder_attentions,
            loc=outputs.loc, scale=outputs.scale, static_features=outputs.static_features)
        return out if return_dict else out.to_tuple()

    @torch.no_grad()
    def generate(self, past_values, past_time_features, future_time_features, past_observed_mask=None,
                 static_categorical_features=None, static_real_features=None, output_attentions=None,
                 output_hidden_states=None) -> SampleTSPredictionOutput:
        """Sample `config.num_parallel_samples` forecasts of the next prediction_length steps per series, in one
        decoder pass over the series repeated that many times: `sequences` is [batch, samples, prediction_length]
        (+ [input_size] when multivariate). Seed with torch.manual_seed for repeatable samples."""
        config = self.config
        check_series_inputs(config, past_values, past_time_features, past_observed_mask, static_categorical_features,
                            static_real_features, None, future_time_features)
        outputs = self(past_values, past_time_features, past_observed_mask, static_categorical_features,
                       static_real_features, output_attentions=output_attentions,
                       output_hidden_states=output_hidden_states, return_dict=True)
        samples, horizon, label = config.num_parallel_samples, config.prediction_length, config.label_length
        loc = outputs.loc.repeat_interleave(samples, dim=0)
        scale = outputs.scale.repeat_interleave(samples, dim=0)
        series = (past_values.repeat_interleave(samples, dim=0) - loc) / scale
        time_features = torch.cat((past_time_features, future_time_features), dim=1)[:, -horizon - label:]
        static = outputs.static_features.unsqueeze(1).expand(-1, time_features.shape[1], -1)
        features = torch.cat((static, time_features), dim=-1).repeat_interleave(samples, dim=0)
        lagged = lagged_subsequences(series, config.lags_sequence, config.context_length)
        decoder_input, trend_init = self.model.decoder_start(lagged.reshape(lagged.shape[0], lagged.shape[1], -1),
                                                             features)
        encoder_states = outputs.encoder_last_hidden_state.repeat_interleave(samples, dim=0)
        seasonal, trend, *_ = self.model.decoder(trend_init, decoder_input, encoder_states)
        distribution = self.output_distribution(self.output_params(seasonal + trend), loc=loc, scale=scale)
        return SampleTSPredictionOutput(
            sequences=distribution.sample().reshape((-1, samples, horizon) + self.target_shape))


__all__ = ["AutoformerConfig", "AutoformerPreTrainedModel", "AutoformerModel", "AutoformerForPrediction"]
