"""Audio helpers of the feature extractors: mel scales (HTK, Slaney, Kaldi), mel filter banks, window functions,
the short-time Fourier spectrogram (power, mel, log / dB), and resampling.

`spectrogram` frames the whole waveform at once and takes one batched FFT (in torch, float64), instead of a Python
loop over frames; its numerics follow the reference's (float64 frames, spectrum rounded to complex64, float32
output for log scales)."""

from __future__ import annotations

import warnings

import numpy as np

_SCALES = ("htk", "slaney", "kaldi")


def _check_scale(mel_scale: str) -> None:
    if mel_scale not in _SCALES:
        raise ValueError(f'mel_scale should be one of "htk", "slaney" or "kaldi"; got {mel_scale!r}.')


def hertz_to_mel(freq, mel_scale: str = "htk"):
    """Frequencies in hertz to mels (`freq` a float or an array)."""
    _check_scale(mel_scale)
    if mel_scale == "htk":
        return 2595.0 * np.log10(1.0 + freq / 700.0)
    if mel_scale == "kaldi":
        return 1127.0 * np.log(1.0 + freq / 700.0)
    # Slaney: linear below 1 kHz, logarithmic above
    freq_array = np.asarray(freq, dtype=np.float64)
    mels = np.where(freq_array >= 1000.0,
                    15.0 + np.log(np.maximum(freq_array, 1e-300) / 1000.0) * (27.0 / np.log(6.4)),
                    3.0 * freq_array / 200.0)
    return mels if isinstance(freq, np.ndarray) else float(mels)


def mel_to_hertz(mels, mel_scale: str = "htk"):
    """Mels to frequencies in hertz (the inverse of `hertz_to_mel`)."""
    _check_scale(mel_scale)
    if mel_scale == "htk":
        return 700.0 * (np.power(10, mels / 2595.0) - 1.0)
    if mel_scale == "kaldi":
        return 700.0 * (np.exp(mels / 1127.0) - 1.0)
    mel_array = np.asarray(mels, dtype=np.float64)
    freq = np.where(mel_array >= 15.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (mel_array - 15.0)),
                    200.0 * mel_array / 3.0)
    return freq if isinstance(mels, np.ndarray) else float(freq)


def _triangular_filters(fft_freqs: np.ndarray, filter_freqs: np.ndarray) -> np.ndarray:
    """(num_frequency_bins, num_filters) triangles rising from filter_freqs[i] to [i + 1] and falling to [i + 2]."""
    widths = np.diff(filter_freqs)
    slopes = filter_freqs[None, :] - fft_freqs[:, None]
    falling = -slopes[:, :-2] / widths[:-1]
    rising = slopes[:, 2:] / widths[1:]
    return np.maximum(np.zeros(1), np.minimum(falling, rising))


def mel_filter_bank(num_frequency_bins: int, num_mel_filters: int, min_frequency: float, max_frequency: float,
                    sampling_rate: int, norm: str | None = None, mel_scale: str = "htk",
                    triangularize_in_mel_space: bool = False) -> np.ndarray:
    """A (num_frequency_bins, num_mel_filters) matrix of triangular mel filters, spaced evenly on the mel scale
    between `min_frequency` and `max_frequency`. `norm="slaney"` scales each to unit area;
    `triangularize_in_mel_space` draws the triangles on the mel axis (as Kaldi does)."""
    if norm is not None and norm != "slaney":
        raise ValueError('norm must be one of None or "slaney"')
    if num_frequency_bins < 2:
        raise ValueError(f"Require num_frequency_bins: {num_frequency_bins} >= 2")
    if min_frequency > max_frequency:
        raise ValueError(f"Require min_frequency: {min_frequency} <= max_frequency: {max_frequency}")
    mel_freqs = np.linspace(hertz_to_mel(min_frequency, mel_scale), hertz_to_mel(max_frequency, mel_scale),
                            num_mel_filters + 2)
    filter_freqs = mel_to_hertz(mel_freqs, mel_scale)
    if triangularize_in_mel_space:
        bin_width = sampling_rate / ((num_frequency_bins - 1) * 2)
        fft_freqs = hertz_to_mel(bin_width * np.arange(num_frequency_bins), mel_scale)
        filter_freqs = mel_freqs
    else:
        fft_freqs = np.linspace(0, sampling_rate // 2, num_frequency_bins)
    filters = _triangular_filters(fft_freqs, filter_freqs)
    if norm == "slaney":
        filters *= (2.0 / (filter_freqs[2:num_mel_filters + 2] - filter_freqs[:num_mel_filters]))[None, :]
    if (filters.max(axis=0) == 0.0).any():
        warnings.warn(f"At least one mel filter has all zero values. The value for `num_mel_filters` "
                      f"({num_mel_filters}) may be set too high. Or, the value for `num_frequency_bins` "
                      f"({num_frequency_bins}) may be set too low.")
    return filters


def optimal_fft_length(window_length: int) -> int:
    """The smallest power of two >= `window_length` (the fastest FFT size that holds the window)."""
    return 2 ** int(np.ceil(np.log2(window_length)))


def window_function(window_length: int, name: str = "hann", periodic: bool = True, frame_length: int | None = None,
                    center: bool = True) -> np.ndarray:
    """A window ("hann", "hamming", "povey" = hann ** 0.85, "boxcar"), periodic (for STFTs) or symmetric, placed in
    a zero frame of `frame_length` (centered or at the start) when given."""
    length = window_length + 1 if periodic else window_length
    if name == "boxcar":
        window = np.ones(length)
    elif name in ("hamming", "hamming_window"):
        window = np.hamming(length)
    elif name in ("hann", "hann_window"):
        window = np.hanning(length)
    elif name == "povey":
        window = np.power(np.hanning(length), 0.85)
    else:
        raise ValueError(f"Unknown window function '{name}': use 'hann', 'hamming', 'povey' or 'boxcar'.")
    if periodic:
        window = window[:-1]
    if frame_length is None:
        return window
    if window_length > frame_length:
        raise ValueError(f"Length of the window ({window_length}) may not be larger than frame_length ({frame_length})")
    framed = np.zeros(frame_length)
    offset = (frame_length - window_length) // 2 if center else 0
    framed[offset:offset + window_length] = window
    return framed


def spectrogram(waveform: np.ndarray, window: np.ndarray, frame_length: int, hop_length: int,
                fft_length: int | None = None, power: float | None = 1.0, center: bool = True,
                pad_mode: str = "reflect", onesided: bool = True, dither: float = 0.0,
                preemphasis: float | None = None, mel_filters: np.ndarray | None = None, mel_floor: float = 1e-10,
                log_mel: str | None = None, reference: float = 1.0, min_value: float = 1e-10,
                db_range: float | None = None, remove_dc_offset: bool = False, dtype=np.float32) -> np.ndarray:
    """The (frequency, frame) spectrogram of a 1-D waveform: frames of `frame_length` every `hop_length` samples
    (the waveform padded by half a frame on both sides when `center`), each optionally dithered, DC-removed and
    pre-emphasised, windowed and Fourier-transformed; then |X| ** `power`, mel filters (floored at `mel_floor`) and
    a log scale (`log_mel`: "log", "log10" or "dB")."""
    import torch

    fft_length = frame_length if fft_length is None else fft_length
    if frame_length > fft_length:
        raise ValueError(f"frame_length ({frame_length}) may not be larger than fft_length ({fft_length})")
    if len(window) != frame_length:
        raise ValueError(f"Length of the window ({len(window)}) must equal frame_length ({frame_length})")
    if hop_length <= 0:
        raise ValueError("hop_length must be greater than zero")
    if waveform.ndim != 1:
        raise ValueError(f"Input waveform must have only one dimension, shape is {waveform.shape}")
    if np.iscomplexobj(waveform):
        raise ValueError("Complex-valued input waveforms are not currently supported")
    if power is None and mel_filters is not None:
        raise ValueError("You have provided `mel_filters` but `power` is `None`: a mel spectrogram needs `power`.")
    if center:
        half = frame_length // 2
        if pad_mode == "reflect" and waveform.size <= half:
            raise ValueError(f"The waveform ({waveform.size} samples) is too short to reflect-pad by {half} samples "
                             f"for frames of {frame_length}: give a longer waveform or center=False.")
        waveform = np.pad(waveform, (half, half), mode=pad_mode)
    num_frames = int(1 + np.floor((waveform.size - frame_length) / hop_length))
    if num_frames < 1:
        raise ValueError(f"The waveform ({waveform.size} samples) is shorter than one frame ({frame_length}).")
    frames = torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float64))
    frames = frames.unfold(0, frame_length, hop_length)[:num_frames].clone()
    if dither != 0.0:  # drawn frame by frame from NumPy's global generator, as a per-frame loop would
        frames += dither * torch.from_numpy(np.random.randn(num_frames, frame_length))
    if remove_dc_offset:
        frames -= frames.mean(dim=1, keepdim=True)
    if preemphasis is not None:
        frames[:, 1:] -= preemphasis * frames[:, :-1].clone()
        frames[:, 0] *= 1 - preemphasis
    frames *= torch.from_numpy(np.asarray(window, dtype=np.float64))
    spectrum = torch.fft.rfft(frames, n=fft_length) if onesided else torch.fft.fft(frames, n=fft_length)
    spectrum = spectrum.to(torch.complex64)
    if power is None:
        return spectrum.T.numpy()
    spec = spectrum.to(torch.complex128).abs().T
    if power != 1.0:
        spec = spec ** power
    if mel_filters is not None:
        spec = torch.clamp(torch.from_numpy(np.asarray(mel_filters, dtype=np.float64)).T @ spec, min=mel_floor)
    spec = spec.numpy()
    if log_mel is None:
        return spec
    if log_mel == "log":
        spec = np.log(spec)
    elif log_mel == "log10":
        spec = np.log10(spec)
    elif log_mel == "dB":
        if power == 1.0:
            spec = amplitude_to_db(spec, reference, min_value, db_range)
        elif power == 2.0:
            spec = power_to_db(spec, reference, min_value, db_range)
        else:
            raise ValueError(f"Cannot use log_mel option '{log_mel}' with power {power}")
    else:
        raise ValueError(f"Unknown log_mel option: {log_mel!r} (use 'log', 'log10' or 'dB')")
    return np.asarray(spec, dtype)


def _to_db(spectrogram: np.ndarray, factor: float, reference: float, min_value: float, db_range):
    if reference <= 0.0:
        raise ValueError("reference must be greater than zero")
    if min_value <= 0.0:
        raise ValueError("min_value must be greater than zero")
    reference = max(min_value, reference)
    spectrogram = np.clip(spectrogram, a_min=min_value, a_max=None)
    spectrogram = factor * (np.log10(spectrogram) - np.log10(reference))
    if db_range is not None:
        if db_range <= 0.0:
            raise ValueError("db_range must be greater than zero")
        spectrogram = np.clip(spectrogram, a_min=spectrogram.max() - db_range, a_max=None)
    return spectrogram


def power_to_db(spectrogram: np.ndarray, reference: float = 1.0, min_value: float = 1e-10,
                db_range: float | None = None) -> np.ndarray:
    """A power spectrogram in decibels, 10 log10(S / reference), floored at `min_value` and kept within `db_range`
    of its maximum."""
    return _to_db(spectrogram, 10.0, reference, min_value, db_range)


def amplitude_to_db(spectrogram: np.ndarray, reference: float = 1.0, min_value: float = 1e-5,
                    db_range: float | None = None) -> np.ndarray:
    """An amplitude spectrogram in decibels, 20 log10(S / reference)."""
    return _to_db(spectrogram, 20.0, reference, min_value, db_range)


def resample(waveform: np.ndarray, orig_sampling_rate: int, target_sampling_rate: int) -> np.ndarray:
    """`waveform` (1-D, or channels x samples) resampled with a polyphase filter (SciPy)."""
    if orig_sampling_rate == target_sampling_rate:
        return waveform
    try:
        from scipy.signal import resample_poly
    except ImportError as e:
        raise ImportError(f"Resampling audio from {orig_sampling_rate} Hz to {target_sampling_rate} Hz needs SciPy "
                          "(pip install scipy), or resample it yourself.") from e
    from math import gcd

    g = gcd(int(orig_sampling_rate), int(target_sampling_rate))
    return resample_poly(waveform, int(target_sampling_rate) // g, int(orig_sampling_rate) // g, axis=-1)


def load_audio(audio, sampling_rate: int = 16000, timeout: float | None = None) -> np.ndarray:
    """A mono float32 waveform at `sampling_rate` from a file path, an http(s) URL or the bytes of an audio file
    (WAV, FLAC, OGG, ... decoded with `soundfile`), channels averaged, resampled when the file's rate differs."""
    import io
    import os

    if isinstance(audio, os.PathLike):
        audio = os.fspath(audio)
    name = "the audio bytes"
    if isinstance(audio, str):
        name = repr(audio[:200])
        if audio.startswith(("http://", "https://")):
            import urllib.request

            with urllib.request.urlopen(audio, timeout=timeout) as response:
                audio = response.read()
        elif os.path.isdir(audio):
            raise ValueError(f"Audio path {name} is a folder, not an audio file.")
        elif not os.path.isfile(audio):
            raise FileNotFoundError(f"Audio file {name} does not exist (relative paths start at {os.getcwd()}).")
        else:
            with open(audio, "rb") as f:
                audio = f.read()
    if not isinstance(audio, (bytes, bytearray)):
        raise TypeError(f"load_audio reads a file path, an http(s) URL or bytes; got {type(audio).__name__}.")
    try:
        import soundfile
    except ImportError as e:
        raise ImportError("Reading audio files needs soundfile: pip install 'henkan[audio]' (or soundfile); or pass "
                          "the waveform as an array with its sampling rate.") from e
    try:
        waveform, file_rate = soundfile.read(io.BytesIO(audio), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile's errors name no file
        raise ValueError(f"{name} could not be decoded as audio ({e}). Pass a WAV, FLAC or OGG file, or the "
                         "waveform as an array with its sampling rate.") from e
    waveform = waveform.mean(axis=1) if waveform.shape[1] > 1 else waveform[:, 0]
    return resample(waveform, file_rate, sampling_rate).astype(np.float32, copy=False)
