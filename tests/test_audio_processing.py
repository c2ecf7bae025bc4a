"""Feature extractors and audio_utils against the reference (tests/fixtures/make_processing.py), the seed's reprs,
and hostile inputs."""

import json
import os

import numpy as np
import pytest

from conftest import FIXTURES
from henkan.processing import audio, audio_utils

HERE = os.path.join(FIXTURES, "processing")
with open(os.path.join(HERE, "audio.json"), encoding="utf-8") as f:
    _GOLDEN = json.load(f)
CASES = {case["name"]: case for case in _GOLDEN["cases"]}
UTILS = {case["name"]: case for case in _GOLDEN["utils"]}
ARRAYS = np.load(os.path.join(HERE, "audio.npz"))
WAVES = np.load(os.path.join(HERE, "waveforms.npz"))

# the reference computes these spectrograms with NumPy's FFT, henkan with torch's: same float64 algorithm, the
# last bits differ; features then agree to ~1e-6 relative (log scales magnify nothing here)
RTOL, ATOL = 1e-5, 1e-5


def _compare(got, want_meta, want_array, where):
    got = np.asarray(got)
    if "shape" in want_meta:  # a digest
        flat = got.reshape(-1).astype(np.float64)
        assert list(got.shape) == want_meta["shape"], where
        np.testing.assert_allclose(flat[:64], want_meta["head"], rtol=RTOL, atol=ATOL, err_msg=where)
        np.testing.assert_allclose(flat[-64:], want_meta["tail"], rtol=RTOL, atol=ATOL, err_msg=where)
        assert flat.sum() == pytest.approx(want_meta["sum"], rel=1e-5, abs=1e-2), where
        assert np.abs(flat).sum() == pytest.approx(want_meta["abs_sum"], rel=1e-5), where
    else:
        assert str(got.dtype) == want_meta["dtype"], where
        assert got.shape == want_array.shape, where
        if got.dtype == bool or np.issubdtype(got.dtype, np.integer):
            np.testing.assert_array_equal(got, want_array, err_msg=where)
        else:
            np.testing.assert_allclose(got, want_array, rtol=RTOL, atol=ATOL, err_msg=where)


@pytest.mark.parametrize("name", sorted(CASES))
def test_features_match_reference(name):
    case = CASES[name]
    extractor = getattr(audio, case["class"])(**case["settings"])
    assert repr(extractor) == case["repr"]
    for group, outputs in case["outputs"].items():
        parts = [WAVES[n] for n in group.split("+")]
        if case["seed"] is not None:
            np.random.seed(case["seed"])
        got = extractor(parts if len(parts) > 1 else parts[0], return_tensors="np", **case["call"])
        assert sorted(got.keys()) == sorted(outputs), f"{name}/{group}"
        for key, meta in outputs.items():
            where = f"{name}/{group}/{key}"
            _compare(got[key], meta, ARRAYS[where] if where in ARRAYS.files else None, where)


@pytest.mark.parametrize("name", sorted(UTILS))
def test_audio_utils_match_reference(name):
    case = UTILS[name]
    wave = WAVES["w16k_0p2s"].astype(np.float64)
    kwargs = dict(case["kwargs"])
    extra = {
        "hz_to_mel_slaney": lambda: {"freq": np.array([0.0, 500.0, 1000.0, 4000.0])},
        "mel_to_hz_htk": lambda: {"mels": np.array([0.0, 300.0, 1500.0])},
        "spec_power": lambda: {"waveform": wave, "window": audio_utils.window_function(400, "hann")},
        "spec_complex": lambda: {"waveform": wave[:1200], "window": audio_utils.window_function(256, "hamming")},
        "spec_mel_db": lambda: {"waveform": wave,
                                "window": audio_utils.window_function(400, "hann", frame_length=512),
                                "mel_filters": audio_utils.mel_filter_bank(257, 20, 0, 8000, 16000)},
        "spec_fft_longer": lambda: {"waveform": wave, "window": audio_utils.window_function(300, "povey"),
                                    "mel_filters": audio_utils.mel_filter_bank(257, 12, 20, 8000, 16000)},
        "power_to_db": lambda: {"spectrogram": np.array([[1e-12, 1e-3, 1.0, 50.0]])},
        "amplitude_to_db": lambda: {"spectrogram": np.array([[1e-7, 0.1, 3.0]])},
    }
    kwargs.update(extra.get(name, dict)())
    got = np.asarray(getattr(audio_utils, case["function"])(**kwargs))
    want = ARRAYS[f"utils/{name}"]
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_seed_reprs_and_processor_construction():
    """create_a_model: Wav2Vec2FeatureExtractor() with and without overrides."""
    default = repr(audio.Wav2Vec2FeatureExtractor())
    assert default == ('Wav2Vec2FeatureExtractor {\n  "do_normalize": true,\n  "feature_extractor_type": '
                       '"Wav2Vec2FeatureExtractor",\n  "feature_size": 1,\n  "padding_side": "right",\n  '
                       '"padding_value": 0.0,\n  "return_attention_mask": false,\n  "sampling_rate": 16000\n}\n')
    custom = json.loads(repr(audio.Wav2Vec2FeatureExtractor(sampling_rate=8000, do_normalize=False))[25:])
    assert custom["sampling_rate"] == 8000 and custom["do_normalize"] is False


@pytest.mark.parametrize("name", ["w2v2", "ast", "whisper", "clap_fusion"])
def test_reads_and_writes_reference_configs(name, tmp_path):
    import henkan

    case = CASES[name]
    folder = os.path.join(HERE, "configs", name)
    extractor = henkan.AutoFeatureExtractor.from_pretrained(folder)
    assert type(extractor).__name__ == case["class"] and repr(extractor) == case["repr"]
    extractor.save_pretrained(tmp_path)
    with open(os.path.join(folder, "preprocessor_config.json")) as a, \
            open(tmp_path / "preprocessor_config.json") as b:
        assert json.load(a) == json.load(b)


def test_tensor_inputs_and_outputs():
    torch = pytest.importorskip("torch")
    extractor = audio.WhisperFeatureExtractor(feature_size=16, chunk_length=1)
    want = extractor(WAVES["w16k_1p3s"], return_tensors="np")["input_features"]
    got = extractor(torch.from_numpy(WAVES["w16k_1p3s"]), return_tensors="pt")["input_features"]
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), want)
    listed = extractor(WAVES["w16k_1p3s"].tolist(), return_tensors="np")["input_features"]
    np.testing.assert_allclose(listed, want, rtol=1e-6, atol=1e-6)


def test_hostile_inputs():
    w2v2 = audio.Wav2Vec2FeatureExtractor()
    with pytest.raises(ValueError, match="empty"):
        w2v2(np.zeros(0, dtype=np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="empty"):
        w2v2([], sampling_rate=16000)
    with pytest.raises(ValueError, match="16000.*8000.*resample"):
        w2v2(WAVES["w8k_0p9s"], sampling_rate=8000)
    with pytest.raises(ValueError, match="mono"):
        w2v2(np.zeros((2, 2, 100), dtype=np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="padding=True"):
        w2v2([WAVES["w16k_0p2s"], WAVES["w16k_0p05s"]], sampling_rate=16000, return_tensors="pt")
    with pytest.raises(ValueError, match="shorter than one 25 ms frame"):
        audio.ASTFeatureExtractor()(np.zeros(100, dtype=np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="empty"):
        audio.WhisperFeatureExtractor()(np.zeros(0, dtype=np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="max_length"):
        w2v2(WAVES["w16k_0p2s"], padding="max_length", sampling_rate=16000)
    with pytest.raises(NotImplementedError, match="fusion"):
        audio.ClapFeatureExtractor(truncation="middle")(WAVES["w16k_0p2s"])


def test_resample():
    pytest.importorskip("scipy")
    wave = WAVES["w8k_0p9s"]
    up = audio_utils.resample(wave, 8000, 16000)
    assert up.shape == (wave.size * 2,)
    assert audio_utils.resample(wave, 8000, 8000) is wave
    tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    resampled = audio_utils.resample(tone, 8000, 16000)
    expected = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(resampled[200:-200] - expected[200:-200]).max() < 1e-2
