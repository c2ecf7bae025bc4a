"""The audio feature extractors: Wav2Vec2 (normalised raw waveforms), Audio Spectrogram Transformer (Kaldi-style
log-mel filter banks), Whisper (log-mel spectrograms of 30-second windows, computed in torch) and CLAP (dB mel
spectrograms, with the "fusion" of a long clip's shrunk whole and three random crops)."""

from __future__ import annotations

import numpy as np

from ..utils import PaddingStrategy
from .audio_utils import mel_filter_bank, spectrogram, window_function
from .base import BatchFeature
from .feature_extraction import SequenceFeatureExtractor


def zero_mean_unit_var_norm(input_values: list[np.ndarray], attention_mask=None, padding_value: float = 0.0) -> list:
    """Each waveform scaled to zero mean and unit variance over its unpadded part (the padding set to
    `padding_value`)."""
    if attention_mask is None:
        return [(x - x.mean()) / np.sqrt(x.var() + 1e-7) for x in input_values]
    normed = []
    for vector, length in zip(input_values, np.array(attention_mask, np.int32).sum(-1)):
        values = (vector - vector[:length].mean()) / np.sqrt(vector[:length].var() + 1e-7)
        if length < values.shape[0]:
            values[length:] = padding_value
        normed.append(values)
    return normed


class Wav2Vec2FeatureExtractor(SequenceFeatureExtractor):
    """Raw 16 kHz waveforms for Wav2Vec2 and Data2Vec-Audio: padded into a batch and (with `do_normalize`) scaled to
    zero mean and unit variance."""

    model_input_names = ["input_values", "attention_mask"]

    def __init__(self, feature_size=1, sampling_rate=16000, padding_value=0.0, return_attention_mask=False,
                 do_normalize=True, **kwargs):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value,
                         **kwargs)
        self.return_attention_mask = return_attention_mask
        self.do_normalize = do_normalize

    zero_mean_unit_var_norm = staticmethod(zero_mean_unit_var_norm)

    def __call__(self, raw_speech, padding=False, max_length=None, truncation: bool = False, pad_to_multiple_of=None,
                 return_attention_mask=None, return_tensors=None, sampling_rate=None, **kwargs) -> BatchFeature:
        """`input_values` (and `attention_mask`) for one waveform or a batch (1-D arrays or lists of floats)."""
        self._check_sampling_rate(sampling_rate)
        speech, _ = self._speech_batch(raw_speech)
        padded = self.pad(BatchFeature({"input_values": speech}), padding=padding, max_length=max_length,
                          truncation=truncation, pad_to_multiple_of=pad_to_multiple_of,
                          return_attention_mask=return_attention_mask)
        values = padded["input_values"]
        if isinstance(values, np.ndarray):
            if values.dtype == np.float64:
                padded["input_values"] = values.astype(np.float32)
        else:
            padded["input_values"] = [np.asarray(v, dtype=np.float32) if np.asarray(v).dtype == np.float64
                                      else np.asarray(v) for v in values]
        mask = padded.get("attention_mask")
        if mask is not None:
            padded["attention_mask"] = [np.asarray(m, dtype=np.int32) for m in mask]
        if self.do_normalize:
            padding_used = self._get_padding_strategies(padding, max_length=max_length) != PaddingStrategy.DO_NOT_PAD
            padded["input_values"] = zero_mean_unit_var_norm(padded["input_values"], mask if padding_used else None,
                                                             self.padding_value)
        return padded.convert_to_tensors(return_tensors)


class ASTFeatureExtractor(SequenceFeatureExtractor):
    """Audio Spectrogram Transformer: Kaldi-style log-mel filter banks (25 ms Hann frames every 10 ms, 0.97
    pre-emphasis, DC offset removed) padded or cut to `max_length` frames, then normalised with the dataset's
    `mean` and `std`."""

    model_input_names = ["input_values", "attention_mask"]
    _transient = ("mel_filters", "window")

    def __init__(self, feature_size=1, sampling_rate=16000, num_mel_bins=128, max_length=1024, padding_value=0.0,
                 do_normalize=True, mean=-4.2677393, std=4.5689974, return_attention_mask=False, **kwargs):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value,
                         **kwargs)
        self.num_mel_bins = num_mel_bins
        self.max_length = max_length
        self.do_normalize = do_normalize
        self.mean = mean
        self.std = std
        self.return_attention_mask = return_attention_mask
        self.mel_filters = mel_filter_bank(num_frequency_bins=257, num_mel_filters=num_mel_bins, min_frequency=20,
                                           max_frequency=sampling_rate // 2, sampling_rate=sampling_rate,
                                           mel_scale="kaldi", triangularize_in_mel_space=True)
        self.window = window_function(400, "hann", periodic=False)

    def _extract_fbank_features(self, waveform: np.ndarray, max_length: int) -> np.ndarray:
        if waveform.size < 400:
            raise ValueError(f"A waveform of {waveform.size} samples is shorter than one 25 ms frame (400 samples at "
                             f"{self.sampling_rate} Hz): {type(self).__name__} needs at least that much audio.")
        fbank = spectrogram(waveform, self.window, frame_length=400, hop_length=160, fft_length=512, power=2.0,
                            center=False, preemphasis=0.97, mel_filters=self.mel_filters, log_mel="log",
                            mel_floor=1.192092955078125e-07, remove_dc_offset=True).T
        if fbank.shape[0] < max_length:
            fbank = np.pad(fbank, ((0, max_length - fbank.shape[0]), (0, 0)))
        return fbank[:max_length]

    def normalize(self, input_values: np.ndarray) -> np.ndarray:
        return (input_values - self.mean) / (self.std * 2)

    def __call__(self, raw_speech, sampling_rate=None, return_tensors=None, **kwargs) -> BatchFeature:
        """`input_values`: (max_length, num_mel_bins) filter banks for one waveform or each of a batch."""
        self._check_sampling_rate(sampling_rate)
        speech, _ = self._speech_batch(raw_speech)
        features = [self._extract_fbank_features(np.asarray(w, dtype=np.float32), self.max_length) for w in speech]
        if self.do_normalize:
            features = [self.normalize(f) for f in features]
        return BatchFeature({"input_values": features}, tensor_type=return_tensors)


class WhisperFeatureExtractor(SequenceFeatureExtractor):
    """Whisper: waveforms padded or cut to `chunk_length` seconds, then 80 (or `feature_size`) log10-mel bins
    every `hop_length` samples, clamped to 8 below their maximum and scaled to about [-1, 1]."""

    model_input_names = ["input_features"]
    _transient = ("mel_filters",)

    def __init__(self, feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400,
                 padding_value=0.0, dither=0.0, return_attention_mask=False, **kwargs):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value,
                         return_attention_mask=return_attention_mask, **kwargs)
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.chunk_length = chunk_length
        self.n_samples = chunk_length * sampling_rate
        self.nb_max_frames = self.n_samples // hop_length
        self.sampling_rate = sampling_rate
        self.dither = dither
        self.mel_filters = mel_filter_bank(num_frequency_bins=1 + n_fft // 2, num_mel_filters=feature_size,
                                           min_frequency=0.0, max_frequency=8000.0, sampling_rate=sampling_rate,
                                           norm="slaney", mel_scale="slaney")

    zero_mean_unit_var_norm = staticmethod(zero_mean_unit_var_norm)

    def _torch_extract_fbank_features(self, waveform: np.ndarray, device: str = "cpu") -> np.ndarray:
        """Log-mel features of a (batch, samples) or (samples,) array, in torch (on `device`)."""
        import torch

        waveform = torch.from_numpy(waveform).to(device, torch.float32)
        if self.dither != 0.0:
            waveform = waveform + self.dither * torch.randn(waveform.shape, dtype=waveform.dtype, device=device)
        stft = torch.stft(waveform, self.n_fft, self.hop_length, window=torch.hann_window(self.n_fft, device=device),
                          return_complex=True)
        magnitudes = stft[..., :-1].abs() ** 2
        mel_spec = torch.from_numpy(self.mel_filters).to(device, torch.float32).T @ magnitudes
        log_spec = torch.clamp(mel_spec, min=1e-10).log10()
        peak = log_spec.amax(dim=(-2, -1), keepdim=True)
        log_spec = (torch.maximum(log_spec, peak - 8.0) + 4.0) / 4.0
        return log_spec.cpu().numpy()

    def __call__(self, raw_speech, truncation: bool = True, pad_to_multiple_of=None, return_tensors=None,
                 return_attention_mask=None, padding="max_length", max_length=None, sampling_rate=None,
                 do_normalize=None, device="cpu", return_token_timestamps=None, **kwargs) -> BatchFeature:
        """`input_features` (batch, feature_size, frames) for one waveform or a batch."""
        self._check_sampling_rate(sampling_rate)
        speech, _ = self._speech_batch(raw_speech)
        speech = [np.asarray(w, dtype=np.float32)[:, None] for w in speech]
        padded = self.pad(BatchFeature({"input_features": speech}), padding=padding,
                          max_length=max_length or self.n_samples, truncation=truncation,
                          pad_to_multiple_of=pad_to_multiple_of,
                          return_attention_mask=return_attention_mask or do_normalize)
        if do_normalize:
            padded["input_features"] = np.stack(zero_mean_unit_var_norm(
                padded["input_features"], padded["attention_mask"], self.padding_value), axis=0)
        waveforms = padded["input_features"]
        if not isinstance(waveforms, np.ndarray):
            raise ValueError("The waveforms have different lengths: pass padding='longest' or 'max_length' (the "
                             "default) to batch them.")
        padded["input_features"] = self._torch_extract_fbank_features(waveforms[..., 0], device)
        if return_attention_mask:
            mask = padded["attention_mask"]
            rescaled = mask[:, ::self.hop_length]
            padded["attention_mask"] = rescaled[:, :-1] if mask.shape[1] % self.hop_length else rescaled
        if return_token_timestamps is not None:
            padded["num_frames"] = [len(w) // self.hop_length for w in speech]
        return padded.convert_to_tensors(return_tensors)


class ClapFeatureExtractor(SequenceFeatureExtractor):
    """CLAP: `max_length_s` seconds at 48 kHz as dB mel spectrograms. Shorter clips are repeated and/or padded
    (`padding`: "repeatpad", "repeat", "pad"); longer ones are cut at random ("rand_trunc", Slaney filters) or fused
    ("fusion": the whole clip shrunk, plus a random crop from each third), with `is_longer` saying which. Random
    choices come from NumPy's global generator, as the reference draws them."""

    model_input_names = ["input_features", "is_longer"]
    _transient = ("mel_filters", "mel_filters_slaney")

    def __init__(self, feature_size=64, sampling_rate=48000, hop_length=480, max_length_s=10, fft_window_size=1024,
                 padding_value=0.0, return_attention_mask=False, frequency_min: float = 0,
                 frequency_max: float = 14000, top_db: int | None = None, truncation: str = "fusion",
                 padding: str = "repeatpad", **kwargs):
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value,
                         return_attention_mask=return_attention_mask, **kwargs)
        self.top_db = top_db
        self.truncation = truncation
        self.padding = padding
        self.fft_window_size = fft_window_size
        self.nb_frequency_bins = (fft_window_size >> 1) + 1
        self.hop_length = hop_length
        self.max_length_s = max_length_s
        self.nb_max_samples = max_length_s * sampling_rate
        self.sampling_rate = sampling_rate
        self.frequency_min = frequency_min
        self.frequency_max = frequency_max
        bank = dict(num_frequency_bins=self.nb_frequency_bins, num_mel_filters=feature_size,
                    min_frequency=frequency_min, max_frequency=frequency_max, sampling_rate=sampling_rate)
        self.mel_filters = mel_filter_bank(**bank, mel_scale="htk")
        self.mel_filters_slaney = mel_filter_bank(**bank, norm="slaney", mel_scale="slaney")

    def _log_mel(self, waveform: np.ndarray, mel_filters: np.ndarray) -> np.ndarray:
        """(frames, mel bins) dB mel spectrogram."""
        return spectrogram(waveform, window_function(self.fft_window_size, "hann"), frame_length=self.fft_window_size,
                           hop_length=self.hop_length, power=2.0, mel_filters=mel_filters, log_mel="dB").T

    def _random_mel_fusion(self, mel: np.ndarray, total_frames: int, chunk_frames: int) -> np.ndarray:
        import torch

        if mel.shape[1] != 64:  # (the reference shrinks to 64 bins whatever the feature size, and then fails)
            raise ValueError(f"truncation='fusion' of a clip longer than max_length_s shrinks it to 64 mel bins, "
                             f"as CLAP's fused models take; this extractor has feature_size={mel.shape[1]}. Use "
                             f"feature_size=64, or truncation='rand_trunc'.")
        ranges = np.array_split(list(range(0, total_frames - chunk_frames + 1)), 3)
        ranges = [r if len(r) else [0] for r in ranges]
        starts = [np.random.choice(r) for r in ranges]
        crops = [mel[s:s + chunk_frames, :] for s in starts]
        shrunk = torch.nn.functional.interpolate(torch.tensor(mel[None, None, :]), size=[chunk_frames, 64],
                                                 mode="bilinear", align_corners=False)[0][0].numpy()
        return np.stack([shrunk, *crops], axis=0)

    def _get_input_mel(self, waveform: np.ndarray, max_length: int, truncation: str, padding: str):
        if truncation not in ("fusion", "rand_trunc"):
            raise NotImplementedError(f"data_truncating {truncation} not implemented (use 'fusion' or 'rand_trunc')")
        if waveform.shape[0] > max_length:
            if truncation == "rand_trunc":
                start = np.random.randint(0, len(waveform) - max_length + 1)
                return self._log_mel(waveform[start:start + max_length], self.mel_filters_slaney)[None, :], True
            mel = self._log_mel(waveform, self.mel_filters)
            chunk_frames = max_length // self.hop_length + 1
            if chunk_frames == mel.shape[0]:
                return np.stack([mel] * 4, axis=0), False
            return self._random_mel_fusion(mel, mel.shape[0], chunk_frames), True
        if waveform.shape[0] < max_length:
            if padding == "repeat":
                waveform = np.tile(waveform, int(max_length / len(waveform)) + 1)[:max_length]
            elif padding == "repeatpad":
                waveform = np.tile(waveform, int(max_length / len(waveform)))
            waveform = np.pad(waveform, (0, max_length - waveform.shape[0]), mode="constant", constant_values=0)
        if truncation == "fusion":
            return np.stack([self._log_mel(waveform, self.mel_filters)] * 4, axis=0), False
        return self._log_mel(waveform, self.mel_filters_slaney)[None, :], False

    def __call__(self, raw_speech, truncation: str | None = None, padding: str | None = None, max_length=None,
                 sampling_rate=None, return_tensors=None, **kwargs) -> BatchFeature:
        """`input_features` (batch, 4 or 1, frames, mel bins) and `is_longer` for one waveform or a batch."""
        truncation = truncation if truncation is not None else self.truncation
        padding = padding or self.padding
        self._check_sampling_rate(sampling_rate)
        speech, _ = self._speech_batch(raw_speech)
        results = [self._get_input_mel(np.asarray(w, dtype=np.float64), max_length or self.nb_max_samples,
                                       truncation, padding) for w in speech]
        input_mel = [mel for mel, _ in results]
        is_longer = [longer for _, longer in results]
        if truncation == "fusion" and not any(is_longer):
            is_longer[np.random.randint(0, len(input_mel))] = True
        return BatchFeature({"input_features": input_mel, "is_longer": [[longer] for longer in is_longer]},
                            tensor_type=return_tensors)
