"""Feature extractors: `FeatureExtractionMixin` (settings, loading, saving) and `SequenceFeatureExtractor`, which pads
and truncates batches of sequences (raw audio, or frames of features) and makes their attention masks."""

from __future__ import annotations

import numpy as np

from ..logging import get_logger
from ..utils import PaddingStrategy, TensorType
from .base import BatchFeature, PreprocessorMixin

logger = get_logger(__name__)


class FeatureExtractionMixin(PreprocessorMixin):
    """The base of feature extractors: settings as attributes, saved as `preprocessor_config.json` with a
    `feature_extractor_type` key."""

    _type_key = "feature_extractor_type"
    _sections = ("feature_extractor", "audio_processor")


def _to_numpy(value):
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


class SequenceFeatureExtractor(FeatureExtractionMixin):
    """Feature extractors of sequences: `pad` pads (and truncates) a batch to a common length with `padding_value`
    on `padding_side`, and returns attention masks when asked (or when `return_attention_mask` is set)."""

    model_input_names = ["input_values", "attention_mask"]

    def __init__(self, feature_size: int, sampling_rate: int, padding_value: float, **kwargs):
        self.feature_size = feature_size
        self.sampling_rate = sampling_rate
        self.padding_value = padding_value
        self.padding_side = kwargs.pop("padding_side", "right")
        self.return_attention_mask = kwargs.pop("return_attention_mask", True)
        super().__init__(**kwargs)

    # --- the checks every audio extractor makes on its input

    def _check_sampling_rate(self, sampling_rate: int | None) -> None:
        if sampling_rate is None:
            logger.warning(f"It is strongly recommended to pass the `sampling_rate` argument to "
                           f"`{type(self).__name__}()`. Failing to do so can result in silent errors that might be "
                           "hard to debug.")
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"The model corresponding to this feature extractor: {type(self).__name__} was trained using a "
                f"sampling rate of {self.sampling_rate}. Please make sure that the provided `raw_speech` input was "
                f"sampled with {self.sampling_rate} and not {sampling_rate} (resample it, e.g. with "
                f"henkan.processing.audio_utils.resample(audio, {sampling_rate}, {self.sampling_rate})).")

    def _speech_batch(self, raw_speech, dtype=None) -> tuple[list, bool]:
        """The waveforms of a call (one waveform or a batch of them) as a list of 1-D arrays, and whether the call
        gave a batch. `dtype` None keeps the input's (float64 becomes float32 where the extractor says so)."""
        if hasattr(raw_speech, "detach"):
            raw_speech = _to_numpy(raw_speech)
        batched_numpy = isinstance(raw_speech, np.ndarray) and raw_speech.ndim > 1
        if batched_numpy and raw_speech.ndim > 2:
            raise ValueError(f"Only mono-channel audio is supported for input to {type(self).__name__}: got an array "
                             f"of shape {raw_speech.shape}. Average the channels (audio.mean(axis=...)) first.")
        if isinstance(raw_speech, (list, tuple)) and not raw_speech:
            raise ValueError(f"{type(self).__name__} got an empty list of waveforms.")
        batched = batched_numpy or (isinstance(raw_speech, (list, tuple)) and (
            isinstance(raw_speech[0], (np.ndarray, tuple, list)) or hasattr(raw_speech[0], "detach")))
        speech = list(raw_speech) if batched else [raw_speech]
        for i, wave in enumerate(speech):
            wave = _to_numpy(wave)
            if wave.ndim != 1:
                raise ValueError(f"Waveform {i} has shape {wave.shape}; {type(self).__name__} takes 1-D (mono) "
                                 "waveforms. Average stereo channels first.")
            if wave.size == 0:
                raise ValueError(f"Waveform {i} is empty (0 samples): {type(self).__name__} needs audio to extract "
                                 "features from.")
            speech[i] = wave
        return speech, batched

    # --- padding

    def pad(self, processed_features, padding: bool | str | PaddingStrategy = True, max_length: int | None = None,
            truncation: bool = False, pad_to_multiple_of: int | None = None,
            return_attention_mask: bool | None = None, return_tensors: str | TensorType | None = None) -> BatchFeature:
        """Pad (and with `truncation=True`, cut to `max_length`) a batch: a BatchFeature or dict of lists, or a list
        of dicts as data collators hold them. `padding`: True/"longest", "max_length" (needs `max_length`), or
        False/"do_not_pad"; lengths are rounded up to `pad_to_multiple_of`."""
        if isinstance(processed_features, (list, tuple)) and processed_features and isinstance(
                processed_features[0], (dict, BatchFeature)):
            processed_features = {key: [example[key] for example in processed_features]
                                  for key in processed_features[0]}
        main = self.model_input_names[0]
        if main not in processed_features:
            raise ValueError(
                "You should supply an instance of `BatchFeature` or list of `BatchFeature` to this method that "
                f"includes {main}, but you provided {list(processed_features.keys())}")
        required = processed_features[main]
        if return_attention_mask is None:
            return_attention_mask = self.return_attention_mask
        if len(required) == 0:
            if return_attention_mask:
                processed_features["attention_mask"] = []
            return processed_features
        first = required[0]
        if isinstance(first, (list, tuple)):
            first = next((row[0] for row in required if len(row)), first)
        if return_tensors is None:
            if hasattr(first, "detach"):
                return_tensors = "pt"
            elif isinstance(first, (int, float, list, tuple, np.ndarray, np.generic)):
                return_tensors = "np"
            else:
                raise ValueError(f"type of {first} unknown: {type(first)}. Should be one of a python, numpy or "
                                 "pytorch object.")
        features = {key: _to_numpy(value) if isinstance(value[0], (int, float)) else [_to_numpy(v) for v in value]
                    for key, value in processed_features.items()}
        strategy = self._get_padding_strategies(padding=padding, max_length=max_length)
        required = features[main]
        batch_size = len(required)
        if not all(len(v) == batch_size for v in features.values()):
            raise ValueError("Some items in the output dictionary have a different batch size than others.")
        rows = [self._truncate({k: v[i] for k, v in features.items()}, max_length=max_length,
                               pad_to_multiple_of=pad_to_multiple_of, truncation=truncation)
                for i in range(batch_size)]
        if strategy == PaddingStrategy.LONGEST:
            max_length = max(len(row[main]) for row in rows)
            strategy = PaddingStrategy.MAX_LENGTH
        batch: dict[str, list] = {}
        for row in rows:
            row = self._pad(row, max_length=max_length, padding_strategy=strategy,
                            pad_to_multiple_of=pad_to_multiple_of, return_attention_mask=return_attention_mask)
            for key, value in row.items():
                batch.setdefault(key, []).append(value.astype(np.float32) if value.dtype == np.float64 else value)
        return BatchFeature(batch, tensor_type=return_tensors)

    def _pad(self, features: dict, max_length: int | None = None,
             padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD, pad_to_multiple_of: int | None = None,
             return_attention_mask: bool | None = None) -> dict:
        """Pad one example (a dict of arrays) on `padding_side`."""
        main = self.model_input_names[0]
        values = features[main]
        if padding_strategy == PaddingStrategy.LONGEST:
            max_length = len(values)
        if max_length is not None and pad_to_multiple_of is not None and max_length % pad_to_multiple_of:
            max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
        if return_attention_mask and "attention_mask" not in features:
            features["attention_mask"] = np.ones(len(values), dtype=np.int32)
        if padding_strategy == PaddingStrategy.DO_NOT_PAD or len(values) >= max_length:
            return features
        missing = max_length - len(values)
        if self.padding_side not in ("right", "left"):
            raise ValueError(f"Invalid padding side: {self.padding_side!r} (use 'right' or 'left')")
        ends = (0, missing) if self.padding_side == "right" else (missing, 0)
        if return_attention_mask:
            features["attention_mask"] = np.pad(features["attention_mask"], ends)
        shape = (ends, (0, 0)) if self.feature_size > 1 else ends
        features[main] = np.pad(values, shape, "constant", constant_values=self.padding_value)
        return features

    def _truncate(self, features: dict, max_length: int | None = None, pad_to_multiple_of: int | None = None,
                  truncation: bool | None = None) -> dict:
        if not truncation:
            return features
        if max_length is None:
            raise ValueError("When setting ``truncation=True``, make sure that ``max_length`` is defined.")
        if pad_to_multiple_of is not None and max_length % pad_to_multiple_of:
            max_length = (max_length // pad_to_multiple_of + 1) * pad_to_multiple_of
        main = self.model_input_names[0]
        if len(features[main]) > max_length:
            features[main] = features[main][:max_length]
            if "attention_mask" in features:
                features["attention_mask"] = features["attention_mask"][:max_length]
        return features

    def _get_padding_strategies(self, padding=False, max_length=None) -> PaddingStrategy:
        if padding is False or padding is None:
            strategy = PaddingStrategy.DO_NOT_PAD
        elif padding is True:
            strategy = PaddingStrategy.LONGEST
        else:
            strategy = PaddingStrategy(padding)
        if max_length is None and strategy == PaddingStrategy.MAX_LENGTH:
            raise ValueError(f"When setting ``padding={PaddingStrategy.MAX_LENGTH}``, make sure that max_length is "
                             "defined")
        if strategy != PaddingStrategy.DO_NOT_PAD and self.padding_value is None:
            raise ValueError(
                "Asking to pad but the feature_extractor does not have a padding value. Please select a value to use "
                "as `padding_value`. For example: `feature_extractor.padding_value = 0.0`.")
        return strategy
