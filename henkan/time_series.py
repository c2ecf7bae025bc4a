"""Blocks every probabilistic forecaster shares (Autoformer today; Informer and the Time Series Transformer are the
same recipe): the distribution heads, the scalers, static-feature embeddings, lagged inputs and the masked loss.

A forecaster's decoder emits, per future step, the unbounded parameters of a distribution. A head
(`StudentTOutput`, `NormalOutput`, `NegativeBinomialOutput`) projects hidden states to them (`proj.<i>`, one linear
layer per parameter), maps them into their domain (positive scales, df > 2) and builds the `torch.distributions`
object, rescaled to the series' own magnitude by `AffineTransformed` (the negative binomial scales its logits
instead, so that its samples stay whole numbers). The loss is the negative log likelihood averaged over observed
steps; forecasts are samples of the same distribution.

Scalers bring each series' context window to a common magnitude and return the (loc, scale) that undo it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.distributions import (AffineTransform, Distribution, Independent, NegativeBinomial, Normal, StudentT,
                                 TransformedDistribution)


# distributions ------------------------------------------------------------------------------------------------------
class AffineTransformed(TransformedDistribution):
    """`base * scale + loc`, with the mean, variance and standard deviation that implies."""

    def __init__(self, base_distribution: Distribution, loc=None, scale=None, event_dim: int = 0):
        self.loc = 0.0 if loc is None else loc
        self.scale = 1.0 if scale is None else scale
        super().__init__(base_distribution, [AffineTransform(loc=self.loc, scale=self.scale, event_dim=event_dim)])

    @property
    def mean(self):
        return self.base_dist.mean * self.scale + self.loc

    @property
    def variance(self):
        return self.base_dist.variance * self.scale ** 2

    @property
    def stddev(self):
        return self.variance.sqrt()


class ParameterProjection(nn.Module):
    """One linear layer per distribution parameter (`proj.<i>`), then the head's domain map."""

    def __init__(self, in_features: int, args_dim: dict[str, int], domain_map: Callable[..., tuple]):
        super().__init__()
        self.args_dim = args_dim
        self.proj = nn.ModuleList(nn.Linear(in_features, dim) for dim in args_dim.values())
        self.domain_map = domain_map

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.domain_map(*(proj(x) for proj in self.proj))


def squareplus(x: torch.Tensor) -> torch.Tensor:
    """A smooth map onto the positive numbers: (x + sqrt(x^2 + 4)) / 2."""
    return (x + torch.sqrt(torch.square(x) + 4.0)) / 2.0


class DistributionOutput:
    """A distribution head over `dim` target variables (dim > 1: one multivariate event of independent parts)."""

    distribution_class: type
    args_dim: dict[str, int]
    squareplus = staticmethod(squareplus)

    def __init__(self, dim: int = 1) -> None:
        self.dim = dim
        self.args_dim = {name: dim * size for name, size in type(self).args_dim.items()}

    def _base_distribution(self, distr_args) -> Distribution:
        distribution = self.distribution_class(*distr_args)
        return distribution if self.dim == 1 else Independent(distribution, 1)

    def distribution(self, distr_args, loc: torch.Tensor | None = None,
                     scale: torch.Tensor | None = None) -> Distribution:
        """The distribution of `distr_args` (the projection's output), moved to `loc` and stretched by `scale`."""
        base = self._base_distribution(distr_args)
        if loc is None and scale is None:
            return base
        return AffineTransformed(base, loc=loc, scale=scale, event_dim=self.event_dim)

    @property
    def event_shape(self) -> tuple:
        return () if self.dim == 1 else (self.dim,)

    @property
    def event_dim(self) -> int:
        return len(self.event_shape)

    @property
    def value_in_support(self) -> float:
        """A value with a finite log likelihood, for padding series."""
        return 0.0

    def get_parameter_projection(self, in_features: int) -> nn.Module:
        return ParameterProjection(in_features, self.args_dim, self.domain_map)

    def domain_map(self, *args: torch.Tensor):
        """Unbounded projections -> parameters in their domain, the trailing size-1 axis dropped."""
        raise NotImplementedError


def _positive_scale(scale: torch.Tensor) -> torch.Tensor:
    return squareplus(scale).clamp_min(torch.finfo(scale.dtype).eps)


class StudentTOutput(DistributionOutput):
    """Student's t: degrees of freedom (> 2, so the variance exists), location and scale."""

    args_dim = {"df": 1, "loc": 1, "scale": 1}
    distribution_class = StudentT

    @classmethod
    def domain_map(cls, df: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor):
        return (2.0 + squareplus(df)).squeeze(-1), loc.squeeze(-1), _positive_scale(scale).squeeze(-1)


class NormalOutput(DistributionOutput):
    """The normal distribution: location and scale."""

    args_dim = {"loc": 1, "scale": 1}
    distribution_class = Normal

    @classmethod
    def domain_map(cls, loc: torch.Tensor, scale: torch.Tensor):
        return loc.squeeze(-1), _positive_scale(scale).squeeze(-1)


class NegativeBinomialOutput(DistributionOutput):
    """The negative binomial, for counts: total count (> 0) and logits."""

    args_dim = {"total_count": 1, "logits": 1}
    distribution_class = NegativeBinomial

    @classmethod
    def domain_map(cls, total_count: torch.Tensor, logits: torch.Tensor):
        return squareplus(total_count).squeeze(-1), logits.squeeze(-1)

    def _base_distribution(self, distr_args) -> Distribution:
        total_count, logits = distr_args
        distribution = NegativeBinomial(total_count=total_count, logits=logits)
        return distribution if self.dim == 1 else Independent(distribution, 1)

    def distribution(self, distr_args, loc: torch.Tensor | None = None,
                     scale: torch.Tensor | None = None) -> Distribution:
        """Scaled through the logits (a gamma-Poisson mixture scales by its rate), so samples stay counts; `loc` is
        not used. The logits tensor of `distr_args` is shifted in place, as the reference library does: the
        `params` a model returns then hold the scaled logits."""
        total_count, logits = distr_args
        if scale is not None:
            logits += scale.log()
        return self._base_distribution((total_count, logits))


DISTRIBUTION_OUTPUTS = {"student_t": StudentTOutput, "normal": NormalOutput,
                        "negative_binomial": NegativeBinomialOutput}


def nll(distribution: Distribution, target: torch.Tensor) -> torch.Tensor:
    """Negative log likelihood of `target` per step."""
    return -distribution.log_prob(target)


def weighted_average(values: torch.Tensor, weights: torch.Tensor | None = None, dim=None) -> torch.Tensor:
    """Mean of `values` over `dim` counting only steps of nonzero weight (a masked step's NaN or inf counts 0)."""
    if weights is None:
        return values.mean(dim=dim)
    weighted = torch.where(weights != 0, values * weights, torch.zeros_like(values))
    total = torch.clamp(weights.sum(dim=dim) if dim else weights.sum(), min=1.0)
    return (weighted.sum(dim=dim) if dim else weighted.sum()) / total


# scalers ----------------------------------------------------------------------------------------------------------
class _Scaler(nn.Module):
    """Options read from the config when it has them: `scaling_dim` (time axis, 1), `keepdim` (True),
    `minimum_scale`, `default_scale`."""

    minimum_scale = 1e-10

    def __init__(self, config=None):
        super().__init__()
        self.dim = getattr(config, "scaling_dim", 1)
        self.keepdim = getattr(config, "keepdim", True)
        self.minimum_scale = getattr(config, "minimum_scale", type(self).minimum_scale)
        self.default_scale = getattr(config, "default_scale", None)


class MeanScaler(_Scaler):
    """Divide by the mean absolute observed value; a series with no observations takes `default_scale`, or the
    batch's mean absolute value."""

    def forward(self, data: torch.Tensor, observed_indicator: torch.Tensor):
        abs_sum = (data * observed_indicator).abs().sum(self.dim, keepdim=True)
        observed = observed_indicator.sum(self.dim, keepdim=True)
        scale = abs_sum / observed.clamp(min=1)
        if self.default_scale is None:
            default = torch.squeeze(abs_sum.sum(dim=0) / observed.sum(0).clamp(min=1))
        else:
            default = self.default_scale * torch.ones_like(scale)
        scale = torch.where(observed > 0, scale, default).clamp(min=self.minimum_scale)
        scaled = data / scale
        if not self.keepdim:
            scale = scale.squeeze(dim=self.dim)
        return scaled, torch.zeros_like(scale), scale


class StdScaler(_Scaler):
    """Standardize: subtract the observed mean, divide by the observed standard deviation."""

    minimum_scale = 1e-5

    def forward(self, data: torch.Tensor, observed_indicator: torch.Tensor):
        count = observed_indicator.sum(self.dim, keepdim=self.keepdim).clamp_min(1.0)
        loc = (data * observed_indicator).sum(self.dim, keepdim=self.keepdim) / count
        variance = (((data - loc) * observed_indicator) ** 2).sum(self.dim, keepdim=self.keepdim) / count
        scale = torch.sqrt(variance + self.minimum_scale)
        return (data - loc) / scale, loc, scale


class NOPScaler(_Scaler):
    """No scaling: loc 0, scale 1."""

    def forward(self, data: torch.Tensor, observed_indicator: torch.Tensor | None = None):
        shape = list(data.shape)
        shape[self.dim] = 1
        ones = data.new_ones(shape)
        if not self.keepdim:
            ones = ones.squeeze(self.dim)
        return data, torch.zeros_like(ones), ones


def scaler_for(config) -> nn.Module:
    """The scaler `config.scaling` names: "mean" or True, "std", anything else none."""
    if config.scaling == "mean" or config.scaling is True:
        return MeanScaler(config)
    if config.scaling == "std":
        return StdScaler(config)
    return NOPScaler(config)


# inputs -----------------------------------------------------------------------------------------------------------
class FeatureEmbedder(nn.Module):
    """One embedding table per static categorical feature (`embedders.<i>`), concatenated."""

    def __init__(self, cardinalities: list[int], embedding_dims: list[int]) -> None:
        super().__init__()
        self.num_features = len(cardinalities)
        self.embedders = nn.ModuleList(nn.Embedding(c, d) for c, d in zip(cardinalities, embedding_dims))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([embed(features[..., i]) for i, embed in enumerate(self.embedders)], dim=-1)


def lagged_subsequences(sequence: torch.Tensor, lags, length: int, shift: int = 0) -> torch.Tensor:
    """[batch, length, (channels,) lags]: entry [.., j, .., k] is sequence[:, -(lags[k] - shift) - length + j]."""
    indices = [lag - shift for lag in lags]
    if max(indices) + length > sequence.shape[1]:
        raise ValueError(f"The series has {sequence.shape[1]} past steps, but the lags reach {max(indices)} steps "
                         f"behind a window of {length}: pass at least {max(indices) + length} steps of past_values.")
    return torch.stack([sequence[:, -lag - length:(-lag if lag > 0 else None)] for lag in indices], dim=-1)


def _shape_error(name: str, value: torch.Tensor, expected: str, how: str = "") -> ValueError:
    return ValueError(f"{name} has shape {tuple(value.shape)}; this model expects {expected}."
                      + (f" {how}" if how else ""))


def check_series_inputs(config, past_values, past_time_features, past_observed_mask=None,
                        static_categorical_features=None, static_real_features=None, future_values=None,
                        future_time_features=None) -> None:
    """A forecaster's inputs checked against its config before anything is computed from them: each wrong one is
    named with the shape it should have. (The reference would fail later, as a shape error deep in the model.)"""
    from .layers import check_tensor

    check_tensor("past_values", past_values, integer=False)
    check_tensor("past_time_features", past_time_features, integer=False)
    c, lags = config.input_size, config.lags_sequence
    target = "[batch, steps]" if c == 1 else f"[batch, steps, {c}] (input_size {c})"
    if past_values.dim() != (2 if c == 1 else 3) or (c > 1 and past_values.shape[-1] != c):
        raise _shape_error("past_values", past_values, target)
    batch, steps = past_values.shape[:2]
    need = config.context_length + max(lags)
    if steps < need:
        raise ValueError(f"past_values has {steps} time steps, fewer than the model reads: context_length "
                         f"({config.context_length}) + the largest lag of lags_sequence ({max(lags)}) = {need}. Pass "
                         f"at least {need} past steps (the lags look back from the start of the context window).")
    if past_time_features.dim() != 3 or past_time_features.shape[:2] != (batch, need):
        raise _shape_error("past_time_features", past_time_features, f"[{batch}, {need}, time features]",
                           f"It covers the last context_length + max(lags_sequence) = {need} steps of past_values.")
    width = past_time_features.shape[-1]
    if past_observed_mask is not None and past_observed_mask.shape != past_values.shape:
        raise _shape_error("past_observed_mask", past_observed_mask,
                           f"the shape of past_values {tuple(past_values.shape)}")
    categorical = config.num_static_categorical_features
    if static_categorical_features is None and categorical:
        raise ValueError(f"static_categorical_features is missing: this model embeds {categorical} static "
                         f"categorical feature(s) (num_static_categorical_features); pass a [batch, {categorical}] "
                         f"tensor of ids.")
    if static_categorical_features is not None:
        check_tensor("static_categorical_features", static_categorical_features, integer=True)
        if not categorical:
            raise ValueError("static_categorical_features were given, but this model has no static categorical "
                             "features (num_static_categorical_features is 0); leave them out.")
        if static_categorical_features.shape != (batch, categorical):
            raise _shape_error("static_categorical_features", static_categorical_features, f"[{batch}, {categorical}]")
        for i, cardinality in enumerate(config.cardinality):
            ids = static_categorical_features[:, i]
            if bool(((ids < 0) | (ids >= cardinality)).any()):
                raise ValueError(f"static_categorical_features[:, {i}] holds ids outside [0, {cardinality}) "
                                 f"(cardinality[{i}] is {cardinality}).")
    static = 2 * c + (sum(config.embedding_dimension) if static_categorical_features is not None else 0)
    if static_real_features is not None:
        check_tensor("static_real_features", static_real_features, integer=False)
        if static_real_features.dim() != 2 or static_real_features.shape[0] != batch:
            raise _shape_error("static_real_features", static_real_features, f"[{batch}, static real features]")
        static += static_real_features.shape[1]
    total = c * len(lags) + static + width
    if total != config.feature_size:
        reals = 0 if static_real_features is None else static_real_features.shape[1]
        raise ValueError(
            f"The inputs make {total} features per step but the model was built for feature_size "
            f"{config.feature_size}: past_time_features (and future_time_features) have {width} per step (the config "
            f"says num_time_features + num_dynamic_real_features = "
            f"{config.num_time_features + config.num_dynamic_real_features}), static_real_features {reals} (config: "
            f"num_static_real_features = {config.num_static_real_features}), the lags {c * len(lags)}, the "
            f"scaling statistics {2 * c}. Pass feature tensors of the widths the config names.")
    if future_values is not None:
        check_tensor("future_values", future_values, integer=False)
        expected = (batch, config.prediction_length) + (() if c == 1 else (c,))
        if tuple(future_values.shape) != expected:
            raise _shape_error("future_values", future_values, f"{list(expected)} (prediction_length steps)")
    if future_values is not None or future_time_features is not None:
        if future_time_features is None:
            raise ValueError("future_time_features is missing: the decoder reads the time features of the "
                             f"{config.prediction_length} forecast steps; pass a [batch, prediction_length, {width}] "
                             f"tensor.")
        check_tensor("future_time_features", future_time_features, integer=False)
        if tuple(future_time_features.shape) != (batch, config.prediction_length, width):
            raise _shape_error("future_time_features", future_time_features,
                               f"[{batch}, {config.prediction_length}, {width}] (prediction_length steps, as many "
                               f"features as past_time_features)")


def network_inputs(config, scaler: nn.Module, embedder: nn.Module | None, past_values, past_time_features,
                   static_categorical_features=None, static_real_features=None, past_observed_mask=None,
                   future_values=None, future_time_features=None):
    """What a forecaster's encoder and decoder read, from the raw series: the scaled series' lagged copies
    [batch, steps, input_size * lags], the per-step features (static ones repeated, then time features), and the
    scaler's loc and scale and the static features (embedded categories, static reals, log|loc| and log scale).
    `steps` is context_length, plus prediction_length when future values are given (teacher forcing)."""
    context = config.context_length
    time_feat = past_time_features[:, -context:]
    if future_values is not None:
        time_feat = torch.cat((time_feat, future_time_features), dim=1)
    if past_observed_mask is None:
        past_observed_mask = torch.ones_like(past_values)
    _, loc, scale = scaler(past_values[:, -context:], past_observed_mask[:, -context:])
    series = past_values if future_values is None else torch.cat((past_values, future_values), dim=1)
    inputs = (series - loc) / scale
    log_abs_loc, log_scale = loc.abs().log1p(), scale.log()
    if config.input_size > 1:
        log_abs_loc, log_scale = log_abs_loc.squeeze(1), log_scale.squeeze(1)
    static_feat = torch.cat((log_abs_loc, log_scale), dim=1)
    if static_real_features is not None:
        static_feat = torch.cat((static_real_features, static_feat), dim=1)
    if static_categorical_features is not None:
        static_feat = torch.cat((embedder(static_categorical_features), static_feat), dim=1)
    features = torch.cat((static_feat.unsqueeze(1).expand(-1, time_feat.shape[1], -1), time_feat), dim=-1)
    lagged = lagged_subsequences(inputs, config.lags_sequence, time_feat.shape[1])
    return lagged.reshape(lagged.shape[0], lagged.shape[1], -1), features, loc, scale, static_feat
