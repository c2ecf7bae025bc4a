"""CLAP against the reference's goldens (tests/fixtures/make_clap.py), with and without fusion: both towers' states,
the normalised embeddings, both temperatures' logits and the loss, the towers with projections; the feature
extractor at 48 kHz (fusion and rand_trunc, repeatpad / repeat / pad, stereo); the zero-shot-audio-classification
pipeline; save / load and reference interop; the seed page's (docstring) samples on the local checkpoint; bad input."""

import json
import logging
import os
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open

import henkan
from conftest import FIXTURES
from henkan import pipeline

sys.path.insert(0, FIXTURES)
from clap_cases import AUDIO, BATCH, EXTRACTOR, FEATURE_CASES, PIPELINE_CASES, RATE, TEXTS, waveform  # noqa: E402

CLAP = os.path.join(FIXTURES, "clap")
FOLDERS = ["clap", "clap-fused"]
CLIPS = {name: waveform(*spec) for name, spec in AUDIO.items()}


def golden(folder):
    with safe_open(os.path.join(CLAP, folder, "golden.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def close(actual, expected, what):
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0, msg=what)


def _inputs(g):
    return dict(input_ids=g["input.input_ids"], attention_mask=g["input.attention_mask"],
                input_features=g["input.input_features"], is_longer=g["input.is_longer"])


@pytest.mark.parametrize("folder", FOLDERS)
def test_model_matches_the_reference(folder):
    """(get_text_features / get_audio_features return the normalised embeddings as a tensor, as 4.57 does; 5.x
    returns the tower's output with them as its pooler_output.)"""
    g = golden(folder)
    path = os.path.join(CLAP, folder)
    model = henkan.AutoModel.from_pretrained(path).eval()
    assert type(model).__name__ == "ClapModel" and model.config.audio_config.enable_fusion == (folder == "clap-fused")
    with torch.no_grad():
        out = model(**_inputs(g), return_loss=True, output_hidden_states=True, output_attentions=True)
        for key in ("loss", "logits_per_audio", "logits_per_text", "text_embeds", "audio_embeds"):
            close(getattr(out, key), g[f"output.{key}"], key)
        text, audio = out.text_model_output, out.audio_model_output
        close(text.last_hidden_state, g["output.text.last_hidden_state"], "text states")
        close(text.pooler_output, g["output.text.pooler_output"], "text pooler")
        for i, state in enumerate(text.hidden_states):
            close(state, g[f"output.text.hidden_states.{i}"], f"text hidden state {i}")
        close(audio.last_hidden_state, g["output.audio.last_hidden_state"], "audio states")
        close(audio.pooler_output, g["output.audio.pooler_output"], "audio pooler")
        assert len(audio.hidden_states) == 4 and len(audio.attentions) == 3
        for i, state in enumerate(audio.hidden_states):
            close(state[:1], g[f"output.audio.hidden_states.{i}"], f"audio hidden state {i}")
        for i, weights in enumerate(audio.attentions):
            close(weights[:2, :, :8], g[f"output.audio.attentions.{i}"], f"audio attentions {i}")
        close(model.get_text_features(g["input.input_ids"], g["input.attention_mask"]), g["output.text_features"],
              "text features")
        close(model.get_audio_features(g["input.input_features"], g["input.is_longer"]), g["output.audio_features"],
              "audio features")
        as_tuple = model(**_inputs(g), return_dict=False)
        close(as_tuple[0], g["output.logits_per_audio"], "tuple")
        assert isinstance(as_tuple[4], tuple) and isinstance(as_tuple[5], tuple)


@pytest.mark.parametrize("folder", FOLDERS)
def test_towers_with_projection_load_from_the_full_checkpoint(folder):
    g = golden(folder)
    path = os.path.join(CLAP, folder)
    text = henkan.ClapTextModelWithProjection.from_pretrained(path).eval()
    audio = henkan.ClapAudioModelWithProjection.from_pretrained(path).eval()
    with torch.no_grad():
        out = text(input_ids=g["input.input_ids"], attention_mask=g["input.attention_mask"])
        close(out.text_embeds, g["text_tower.text_embeds"], "text embeds")
        close(out.last_hidden_state, g["text_tower.last_hidden_state"], "text states")
        out = audio(input_features=g["input.input_features"], is_longer=g["input.is_longer"])
        close(out.audio_embeds, g["audio_tower.audio_embeds"], "audio embeds")
        close(out.last_hidden_state, g["audio_tower.last_hidden_state"], "audio states")


@pytest.mark.parametrize("folder", FOLDERS)
def test_processor_and_model_end_to_end(folder):
    """The processor on the recordings gives the reference's features exactly (NumPy seeded as the fixture did), and
    the model on them its logits."""
    g = golden(folder)
    path = os.path.join(CLAP, folder)
    processor = henkan.AutoProcessor.from_pretrained(path)
    assert type(processor).__name__ == "ClapProcessor"
    clips = [CLIPS[n] for n in BATCH]
    np.random.seed(0)
    inputs = {**processor(audio=clips, sampling_rate=RATE, return_tensors="pt"),
              **processor(text=TEXTS, padding=True, return_tensors="pt")}
    close(inputs["input_features"], g["input.input_features"], "features")
    assert inputs["is_longer"].tolist() == g["input.is_longer"].tolist()
    assert inputs["input_ids"].tolist() == g["input.input_ids"].tolist()
    # (text and audio in one call: `padding` reaches the feature extractor too, where True means zero-padding, as in
    # the reference)
    np.random.seed(0)
    both = processor(text=TEXTS, audio=clips, sampling_rate=RATE, padding=True, return_tensors="pt")
    np.random.seed(0)
    padded = processor.feature_extractor(clips, sampling_rate=RATE, padding="pad", return_tensors="pt")
    close(both["input_features"], padded["input_features"], "padding=True")
    with torch.no_grad():
        out = henkan.ClapModel.from_pretrained(path).eval()(**inputs)
    close(out.logits_per_audio, g["output.logits_per_audio"], "logits")


@pytest.mark.parametrize("case,settings,names,kwargs", FEATURE_CASES, ids=[c[0] for c in FEATURE_CASES])
def test_feature_extractor_matches_the_reference(case, settings, names, kwargs):
    expected = json.loads(open(os.path.join(CLAP, "features.json")).read())[case]
    extractor = henkan.ClapFeatureExtractor(**{**EXTRACTOR, **settings})
    clips = [CLIPS[n] for n in names]
    np.random.seed(expected["seed"])
    out = extractor(clips[0] if len(clips) == 1 and clips[0].ndim == 2 else clips, sampling_rate=RATE,
                    return_tensors="np", **kwargs)
    features, digest = np.asarray(out["input_features"], dtype=np.float64), expected["input_features"]
    assert list(features.shape) == digest["shape"]
    flat = features.reshape(-1)
    np.testing.assert_allclose(flat[:16], digest["head"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(flat[-16:], digest["tail"], atol=1e-5, rtol=0)
    assert flat.sum() == pytest.approx(digest["sum"], rel=1e-7, abs=1e-3)
    assert np.abs(flat).sum() == pytest.approx(digest["abs_sum"], rel=1e-7)
    assert np.asarray(out["is_longer"]).tolist() == expected["is_longer"]


# the pipeline ---------------------------------------------------------------------------------------------------


def _rounded(results):
    return [(r["label"], round(r["score"], 4)) for r in results]


@pytest.mark.parametrize("case,folder,clip,kwargs,seed", PIPELINE_CASES, ids=[c[0] for c in PIPELINE_CASES])
def test_pipeline_matches_the_reference(case, folder, clip, kwargs, seed):
    expected = json.loads(open(os.path.join(CLAP, "pipeline.json")).read())[case]
    classifier = pipeline("zero-shot-audio-classification", model=os.path.join(CLAP, folder))
    np.random.seed(seed)
    output = classifier(CLIPS[clip], **kwargs)
    assert _rounded(output) == _rounded(expected)
    assert [r["score"] for r in output] == pytest.approx([r["score"] for r in expected], abs=1e-5)
    assert all(set(r) == {"score", "label"} and isinstance(r["score"], float) for r in output)


def test_pipeline_inputs_and_batches(tmp_path):
    """A file path, a dict with the rate, a tensor, positional labels and batches all read like the array."""
    import soundfile

    classifier = pipeline("zero-shot-audio-classification", model=os.path.join(CLAP, "clap"))
    labels = ["dog", "rain", "vacuum cleaner"]
    short = CLIPS["short"]
    expected = classifier(short, candidate_labels=labels)
    soundfile.write(tmp_path / "short.wav", short, RATE, subtype="FLOAT")
    assert _rounded(classifier(str(tmp_path / "short.wav"), candidate_labels=labels)) == _rounded(expected)
    assert _rounded(classifier({"raw": short, "sampling_rate": RATE}, candidate_labels=labels)) == _rounded(expected)
    assert _rounded(classifier(torch.from_numpy(short), labels)) == _rounded(expected)
    other = classifier(CLIPS["exact"], candidate_labels=labels)
    batched = classifier([short, CLIPS["exact"], short], candidate_labels=labels, batch_size=2)
    assert [_rounded(r) for r in batched] == [_rounded(expected), _rounded(other), _rounded(expected)]
    at_24k = {"raw": waveform(0.45, 0, rate=24000), "sampling_rate": 24000}  # resampled to the model's 48 kHz
    assert [r["label"] for r in classifier(at_24k, candidate_labels=labels)] != []
    soundfile.write(tmp_path / "stereo.wav", CLIPS["stereo"].T, RATE, subtype="FLOAT")  # channels averaged
    mono = CLIPS["stereo"].mean(axis=0)
    assert _rounded(classifier(str(tmp_path / "stereo.wav"), candidate_labels=labels)) == \
        _rounded(classifier(mono, candidate_labels=labels))


def test_pipeline_registration_and_default_notice():
    entry = henkan.pipelines.SUPPORTED_TASKS["zero-shot-audio-classification"]
    assert entry["default"]["model"]["pt"] == ("laion/clap-htsat-fused", "cca9e28")
    assert entry["type"] == "multimodal" and entry["pt"] == ("AutoModel",)
    assert "zero-shot-audio-classification" in henkan.pipelines.get_supported_tasks()
    classifier = pipeline("zero-shot-audio-classification", model=os.path.join(CLAP, "clap-fused"))
    assert type(classifier).__name__ == "ZeroShotAudioClassificationPipeline"
    assert henkan.ZeroShotAudioClassificationPipeline is type(classifier)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("henkan").addHandler(handler)
    try:
        with pytest.raises(OSError, match="laion/clap-htsat-fused"):  # offline: the notice, then no download
            pipeline("zero-shot-audio-classification")
    finally:
        logging.getLogger("henkan").removeHandler(handler)
    assert records[0].getMessage().startswith(
        "No model was supplied, defaulted to laion/clap-htsat-fused and revision cca9e28")


def test_pipeline_bad_inputs():
    classifier = pipeline("zero-shot-audio-classification", model=os.path.join(CLAP, "clap"))
    with pytest.raises(ValueError, match="candidate_labels is empty or missing"):
        classifier(CLIPS["short"])
    with pytest.raises(ValueError, match="candidate_labels is empty or missing"):
        classifier(CLIPS["short"], candidate_labels=[])
    with pytest.raises(ValueError, match="has no {} for the label"):
        classifier(CLIPS["short"], candidate_labels=["a", "b"], hypothesis_template="A sound.")
    with pytest.raises(ValueError, match="empty waveform"):
        classifier(np.zeros(0, dtype=np.float32), candidate_labels=["a", "b"])
    with pytest.raises(ValueError, match="takes mono audio"):
        classifier(CLIPS["stereo"], candidate_labels=["a", "b"])
    with pytest.raises(ValueError, match="sampling_rate"):
        classifier({"raw": CLIPS["short"]}, candidate_labels=["a", "b"])
    with pytest.raises(TypeError, match="zero-shot-audio-classification pipeline takes audio"):
        classifier([3.5], candidate_labels=["a", "b"])
    model = henkan.ClapModel.from_pretrained(os.path.join(CLAP, "clap"))
    extractor = henkan.ClapFeatureExtractor.from_pretrained(os.path.join(CLAP, "clap"))
    with pytest.raises(ValueError, match="needs the model's tokenizer"):
        henkan.ZeroShotAudioClassificationPipeline(model=model, feature_extractor=extractor)


def test_feature_extractor_bad_inputs():
    extractor = henkan.ClapFeatureExtractor(**EXTRACTOR)
    with pytest.raises(ValueError, match="empty"):
        extractor(np.zeros(0, dtype=np.float32), sampling_rate=RATE)
    with pytest.raises(ValueError, match="sampling rate of 48000"):
        extractor(CLIPS["short"], sampling_rate=16000)
    with pytest.raises(ValueError, match="feature_size=64"):
        henkan.ClapFeatureExtractor(**{**EXTRACTOR, "feature_size": 32})(CLIPS["long"], sampling_rate=RATE)
    with pytest.raises(NotImplementedError, match="rand_trunc"):
        extractor(CLIPS["short"], sampling_rate=RATE, truncation="middle")


def test_model_bad_inputs():
    g = golden("clap-fused")
    fused = henkan.ClapModel.from_pretrained(os.path.join(CLAP, "clap-fused")).eval()
    unfused = henkan.ClapAudioModel(henkan.ClapConfig.from_pretrained(os.path.join(CLAP, "clap")).audio_config)
    features = g["input.input_features"]
    with pytest.raises(ValueError, match="needs is_longer"):
        fused.get_audio_features(features)
    with pytest.raises(ValueError, match="use truncation='rand_trunc'"):
        unfused(features)
    with pytest.raises(ValueError, match="4 spectrograms"):
        fused.get_audio_features(features[:, :1], g["input.is_longer"])
    with pytest.raises(ValueError, match="mel bins"):
        unfused(features[:, :1, :, :32])
    with pytest.raises(ValueError, match="less than or equal to the swin input size"):
        unfused(torch.zeros(1, 1, 300, 64))
    with pytest.raises(ValueError, match="You have to specify input_features"):
        unfused()
    with pytest.raises(ValueError, match=r"\[batch, channels, frames, mel bins\]"):
        unfused(features[0])
    with pytest.raises(TypeError, match="unexpected keyword"):
        fused(**_inputs(g), pixel_values=features)
    with pytest.raises(ValueError, match="one num_attention_heads entry per stage"):
        henkan.ClapAudioConfig(depths=[2, 2], num_attention_heads=[1, 2, 4])
    with pytest.raises(ValueError, match="multiple of num_mel_bins"):
        henkan.ClapAudioConfig(spec_size=100, num_mel_bins=64)
    with pytest.raises(ValueError, match="smaller than the attention window"):
        henkan.ClapAudioModel(henkan.ClapAudioConfig(spec_size=64, num_mel_bins=64, depths=[1, 1, 1, 1],
                                                     num_attention_heads=[1, 1, 1, 1], patch_embeds_hidden_size=8,
                                                     hidden_size=64))


# save / load ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS)
def test_save_and_load_round_trip(folder, tmp_path):
    """henkan writes the reference's keys (buffers included) and config, and reads them back to equal outputs."""
    g = golden(folder)
    path = os.path.join(CLAP, folder)
    henkan.ClapModel.from_pretrained(path).save_pretrained(tmp_path)
    with safe_open(os.path.join(path, "model.safetensors"), "pt") as f, \
            safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as h:
        assert sorted(h.keys()) == sorted(f.keys())
        for key in f.keys():
            assert torch.equal(h.get_tensor(key), f.get_tensor(key)), key
    ours, theirs = (henkan.ClapConfig.from_pretrained(p).to_dict() for p in (tmp_path, path))
    assert ours.pop("_name_or_path") != theirs.pop("_name_or_path") and ours == theirs
    model = henkan.ClapModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        close(model(**_inputs(g)).logits_per_audio, g["output.logits_per_audio"], "reloaded")


@pytest.mark.parametrize("folder", FOLDERS)
def test_reference_loads_what_henkan_saves(folder, tmp_path):
    transformers = pytest.importorskip("transformers")
    g = golden(folder)
    henkan.ClapModel.from_pretrained(os.path.join(CLAP, folder)).save_pretrained(tmp_path)
    model, info = transformers.ClapModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    with torch.no_grad():
        close(model.eval()(**_inputs(g)).logits_per_audio, g["output.logits_per_audio"], "reference")


# the seed page (its autodoc entries' examples), on the local checkpoint ------------------------------------------


def test_seed_page_configs():
    """ClapConfig / ClapTextConfig / ClapAudioConfig as the page's examples build them; the shared projection
    settings reach both parts."""
    configuration = henkan.ClapConfig()
    assert (configuration.text_config.hidden_size, configuration.audio_config.depths) == (768, [2, 2, 6, 2])
    assert configuration.logit_scale_init_value == pytest.approx(1 / 0.07)
    config = henkan.ClapConfig.from_text_audio_configs(henkan.ClapTextConfig(), henkan.ClapAudioConfig(),
                                                       projection_dim=64)
    assert config.text_config.projection_dim == config.audio_config.projection_dim == 64
    assert config.num_hidden_layers == 12 + 4 and config.hidden_size == 768
    small_text = henkan.ClapTextConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=20)
    model = henkan.ClapTextModel(small_text)  # "Initializing a model (with random weights) from the configuration"
    assert model.config is small_text and model.pooler is not None
    small_audio = henkan.ClapAudioConfig(spec_size=64, depths=[2], num_attention_heads=[2],
                                         patch_embeds_hidden_size=8, hidden_size=8, enable_fusion=True)
    model = henkan.ClapAudioModel(small_audio)
    assert model.get_input_embeddings() is model.audio_encoder.patch_embed.proj


def test_seed_page_samples():
    path = os.path.join(CLAP, "clap")
    model = henkan.ClapModel.from_pretrained(path)
    tokenizer = henkan.AutoTokenizer.from_pretrained(path)
    inputs = tokenizer(["the sound of a cat", "the sound of a dog"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        text_features = model.get_text_features(**inputs)
    assert text_features.shape == (2, 16)
    torch.testing.assert_close(text_features.norm(dim=-1), torch.ones(2))

    feature_extractor = henkan.AutoFeatureExtractor.from_pretrained(path)
    random_audio = torch.rand((16_000))
    inputs = feature_extractor(random_audio, return_tensors="pt")
    with torch.inference_mode():
        audio_features = model.get_audio_features(**inputs)
    assert audio_features.shape == (1, 16)

    processor = henkan.AutoProcessor.from_pretrained(path)
    audio_sample = CLIPS["short"]
    input_text = ["Sound of a dog", "Sound of vacuum cleaner"]
    inputs = processor(text=input_text, audios=audio_sample, return_tensors="pt", padding=True)
    outputs = model(**inputs)
    logits_per_audio = outputs.logits_per_audio  # this is the audio-text similarity score
    probs = logits_per_audio.softmax(dim=-1)
    assert probs.shape == (1, 2) and float(probs.detach().sum()) == pytest.approx(1.0)

    text_model = henkan.ClapTextModelWithProjection.from_pretrained(path)
    inputs = tokenizer(["a sound of a cat", "a sound of a dog"], padding=True, return_tensors="pt")
    assert text_model(**inputs).text_embeds.shape == (2, 16)

    audio_model = henkan.ClapAudioModelWithProjection.from_pretrained(os.path.join(CLAP, "clap-fused"))
    processor = henkan.ClapProcessor.from_pretrained(os.path.join(CLAP, "clap-fused"))
    inputs = processor(audios=audio_sample, return_tensors="pt")
    assert audio_model(**inputs).audio_embeds.shape == (1, 16)

    classifier = pipeline(task="zero-shot-audio-classification", model=path)
    result = classifier(audio_sample, candidate_labels=["Sound of a dog", "Sound of vacuum cleaner"])
    assert [r["label"] for r in result] == sorted(input_text, key=lambda l: -next(
        r["score"] for r in result if r["label"] == l))
