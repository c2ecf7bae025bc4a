"""Whisper against the reference's goldens (tests/fixtures/make_whisper.py): the forward pass, the loss, cached
decoding, language detection, and transcription with every prompt and timestamp setting, silent windows skipped
(no_speech_threshold) and token timestamps; the heads; bad input."""

import json
import os

import pytest
import torch
from safetensors import safe_open

import henkan
from conftest import FIXTURES

WHISPER = os.path.join(FIXTURES, "whisper")
ATOL = 1e-5


def golden(folder):
    with safe_open(os.path.join(WHISPER, folder, "golden.safetensors"), "pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


_MODELS = {}


def model_for(folder):
    if folder not in _MODELS:
        meta, _ = golden(folder)
        _MODELS[folder] = getattr(henkan, meta["class"]).from_pretrained(os.path.join(WHISPER, folder)).eval()
    return _MODELS[folder]


def close(actual, expected, what):
    assert actual.shape == expected.shape, what
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0, msg=what)


def test_forward_states_attentions_loss_and_cache():
    _, g = golden("whisper")
    model = model_for("whisper")
    features, decoder_input_ids = g["input.input_features"], g["input.decoder_input_ids"]
    with torch.no_grad():
        out = model(features, decoder_input_ids=decoder_input_ids, output_hidden_states=True, output_attentions=True,
                    use_cache=False)
        for key, expected in g.items():
            if not key.startswith("output.") or key.count(".") > 2 or key in (
                    "output.loss", "output.cached.logits", "output.detect_language"):
                continue
            name, *index = key.split(".")[1:]
            value = getattr(out, name)
            close(value[int(index[0])] if index else value, expected, key)
        close(model(features, labels=g["input.labels"]).loss, g["output.loss"], "loss")
        encoder_outputs = model.get_encoder()(features)
        first = model(encoder_outputs=encoder_outputs, decoder_input_ids=decoder_input_ids[:, :3], use_cache=True)
        second = model(encoder_outputs=encoder_outputs, decoder_input_ids=decoder_input_ids[:, 3:],
                       past_key_values=first.past_key_values)
    close(torch.cat([first.logits, second.logits], dim=1), g["output.cached.logits"], "cached logits")
    assert torch.equal(model.detect_language(features), g["output.detect_language"])


def _cases(key="cases"):
    meta, _ = golden("whisper")
    return json.loads(meta[key])


def _generate(g, kwargs):
    """generate() on a case's input: the random features, or the long / speech-like ones with their masks."""
    kwargs = dict(kwargs)
    features = g["input.input_features"]
    for source in ("long", "audio", "audio_long"):
        if kwargs.pop(source, False):
            features, kwargs["attention_mask"] = g[f"input.{source}.input_features"], \
                g[f"input.{source}.attention_mask"]
    if "prompt_ids" in kwargs:
        kwargs["prompt_ids"] = torch.tensor(kwargs["prompt_ids"])
    if kwargs.pop("manual_seed", None) is not None:
        torch.manual_seed(0)
    return model_for("whisper").generate(features, **kwargs)


@pytest.mark.parametrize("case", sorted(_cases()))
def test_generate(case):
    """Tokens equal the reference's. (Where no_speech_threshold empties a row, the reference returns float
    sequences, a side effect of its empty-row padding; henkan keeps token ids as integers, same values.)"""
    _, g = golden("whisper")
    out = _generate(g, _cases()[case])
    assert out.tolist() == g[f"generate.{case}.sequences"].tolist()


def test_no_speech_cases_skip_windows():
    """The no_speech goldens are only worth having if a window was in fact skipped (an emptied row)."""
    _, g = golden("whisper")
    for case in ("no_speech", "audio_no_speech", "long_no_speech"):
        assert (g[f"generate.{case}.sequences"] == 50).all(-1).any(), case


@pytest.mark.parametrize("case", sorted(_cases("token_timestamp_cases")))
def test_token_timestamps(case):
    """Same tokens, and token times equal to the reference's: the alignment is the same float32 arithmetic and the
    warping path the same (ties broken alike), so times land on the same 0.02 s frames (compared within 1e-6)."""
    _, g = golden("whisper")
    out = _generate(g, {**_cases("token_timestamp_cases")[case], "return_token_timestamps": True})
    prefix = f"token_timestamps.{case}"
    assert out["sequences"].tolist() == g[f"{prefix}.sequences"].tolist()
    torch.testing.assert_close(out["token_timestamps"], g[f"{prefix}.token_timestamps"], atol=1e-6, rtol=0)
    for row, found in enumerate(out.get("segments", [])):
        torch.testing.assert_close(torch.cat([s["token_timestamps"] for s in found]),
                                   g[f"{prefix}.segments.{row}.token_timestamps"], atol=1e-6, rtol=0)


def test_segments_carry_their_times_and_tokens():
    _, g = golden("whisper")
    out = model_for("whisper").generate(g["input.long.input_features"], attention_mask=g["input.long.attention_mask"],
                                        language="en", return_timestamps=True, return_segments=True)
    assert out["sequences"].tolist() == g["generate.long.sequences"].tolist()
    for row, found in enumerate(out["segments"]):
        assert torch.stack([s["start"] for s in found]).tolist() == g[f"generate.segments.{row}.start"].tolist()
        assert torch.stack([s["end"] for s in found]).tolist() == g[f"generate.segments.{row}.end"].tolist()
        assert torch.cat([s["tokens"] for s in found]).tolist() == g[f"generate.segments.{row}.tokens"].tolist()


def test_audio_classification_and_causal_lm_heads():
    _, g = golden("whisper-foraudioclassification")
    out = model_for("whisper-foraudioclassification")(g["input.input_features"], labels=g["input.labels"],
                                                      output_hidden_states=True)
    close(out.logits, g["output.logits"], "logits")
    close(out.loss, g["output.loss"], "loss")
    for i, state in enumerate(out.hidden_states):
        close(state, g[f"output.hidden_states.{i}"], f"hidden state {i}")
    _, g = golden("whisper-forcausallm")
    out = model_for("whisper-forcausallm")(g["input.input_ids"], encoder_outputs=(g["input.encoder_hidden_states"],),
                                           labels=g["input.input_ids"], use_cache=False)
    close(out.logits, g["output.logits"], "causal LM logits")
    close(out.loss, g["output.loss"], "causal LM loss")


def test_auto_classes_and_saved_keys(tmp_path):
    folder = os.path.join(WHISPER, "whisper")
    assert type(henkan.AutoModelForSpeechSeq2Seq.from_pretrained(folder)).__name__ == \
        "WhisperForConditionalGeneration"
    assert type(henkan.AutoModelForAudioClassification.from_pretrained(
        os.path.join(WHISPER, "whisper-foraudioclassification"))).__name__ == "WhisperForAudioClassification"
    with pytest.raises(ValueError):
        henkan.AutoModelForSpeechSeq2Seq.from_pretrained(os.path.join(FIXTURES, "seq2seq", "bart"))
    model = model_for("whisper")
    model.save_pretrained(tmp_path)
    with safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as saved, \
            safe_open(os.path.join(folder, "model.safetensors"), "pt") as reference:
        assert set(saved.keys()) == set(reference.keys())
    _, g = golden("whisper")
    again = henkan.WhisperForConditionalGeneration.from_pretrained(tmp_path)
    assert again.generate(g["input.input_features"], language="en").tolist() == \
        g["generate.language.sequences"].tolist()


def test_bad_input_is_named():
    model = model_for("whisper")
    _, g = golden("whisper")
    features = g["input.input_features"]
    with pytest.raises(ValueError, match="24 frames"):
        model(features[:, :, :20], decoder_input_ids=g["input.decoder_input_ids"])
    with pytest.raises(ValueError, match="klingon"):
        model.generate(features, language="klingon")
    with pytest.raises(ValueError, match="<\\|es\\|>"):
        model.generate(features, language="es")
    with pytest.raises(ValueError, match="task"):
        model.generate(features, language="en", task="summarize")
    with pytest.raises(ValueError, match="one per input"):
        model.generate(features, language=["en"])
    with pytest.raises(ValueError, match="return_timestamps"):
        model.generate(torch.cat([features, features], dim=-1)[:1], return_timestamps=False)
    with pytest.raises(ValueError, match="attention_mask"):
        model.generate(torch.cat([features, features], dim=-1), return_timestamps=True)
    with pytest.raises(ValueError, match="max_target_positions"):
        model.generate(features, language="en", max_new_tokens=40)
    with pytest.raises(ValueError, match="logprob_threshold"):
        model.generate(features, language="en", no_speech_threshold=0.6)


def test_token_timestamps_need_alignment_heads():
    model = henkan.WhisperForConditionalGeneration.from_pretrained(os.path.join(WHISPER, "whisper"))
    _, g = golden("whisper")
    del model.generation_config.alignment_heads
    with pytest.raises(ValueError, match="alignment_heads.*generation_config.alignment_heads = "):
        model.generate(g["input.input_features"], language="en", return_token_timestamps=True)
    model.generation_config.alignment_heads = [[5, 0]]
    with pytest.raises(ValueError, match="alignment_heads names decoder layer 5"):
        model.generate(g["input.input_features"], language="en", return_token_timestamps=True)


def test_spec_augment_masks_like_the_reference():
    """SpecAugment's sampler draws from torch's random stream, not the reference's NumPy one, so masks are not the
    same draw for draw (RNG parity is not a goal); what must agree is how often each position is masked, per row
    (valid lengths from an attention mask, edges included): 1500 draws here against the reference's frequencies
    over 4000 (statistical error ~0.013 a position; the tolerance is about four of it)."""
    from henkan.models.wav2vec2 import spec_augment_mask

    meta, g = golden("whisper")
    c = json.loads(meta["spec_augment"])
    torch.manual_seed(0)
    lengths = torch.tensor(c["lengths"])
    frequency = torch.stack([spec_augment_mask(c["rows"], c["length"], c["prob"], c["span"], c["min_spans"], lengths)
                             for _ in range(1500)]).float().mean(0)
    torch.testing.assert_close(frequency, g["spec_augment.frequency"], atol=0.05, rtol=0)
    assert not frequency[2, 17:].any() and not frequency[3, 12:].any()
    with pytest.raises(ValueError, match="config.mask_time_length \\(30\\)"):
        spec_augment_mask(1, 24, 0.3, 30, 2)


def test_spec_augment_trains_and_is_off_in_eval():
    _, g = golden("whisper")
    model = henkan.WhisperForConditionalGeneration.from_pretrained(os.path.join(WHISPER, "whisper"))
    model.config.update(dict(apply_spec_augment=True, mask_time_prob=0.5, mask_time_length=3,
                             mask_feature_prob=0.5, mask_feature_length=2, mask_feature_min_masks=1))
    features = g["input.input_features"].clone()
    seen = []
    model.model.encoder.conv1.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    model.eval()
    with torch.no_grad():
        out = model(features, decoder_input_ids=g["input.decoder_input_ids"])
    close(out.logits, g["output.logits"], "logits in eval with apply_spec_augment")
    model.train()
    torch.manual_seed(0)
    loss = model(features, labels=g["input.labels"]).loss
    loss.backward()
    assert torch.isfinite(loss) and model.proj_out.weight.grad is not None
    masked = seen[-1] == 0
    assert masked.all(1).any(-1).all() and masked.all(2).any(-1).all()  # frames and mel bins of every row
    assert torch.equal(features, g["input.input_features"])  # the caller's features are left alone
