"""Wav2Vec2, Data2Vec-Audio and the Audio Spectrogram Transformer against the reference's goldens (tests/fixtures/make_audio.py): both layouts (base: group norm and
post-norm; large: layer norms and pre-norm), the CTC loss over padded batches, the classification heads; loading,
saving, freezing, SpecAugment while training; bad input."""

import os

import pytest
import torch
from safetensors import safe_open

import henkan
from conftest import FIXTURES

AUDIO = os.path.join(FIXTURES, "audio")
FOLDERS = ["wav2vec2", "wav2vec2-stable", "wav2vec2-forsequenceclassification", "wav2vec2-foraudioframeclassification",
           "data2vec-audio", "data2vec-audio-forsequenceclassification", "ast"]


def golden(folder):
    with safe_open(os.path.join(AUDIO, folder, "golden.safetensors"), "pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


def load(folder):
    meta, g = golden(folder)
    return getattr(henkan, meta["class"]).from_pretrained(os.path.join(AUDIO, folder)).eval(), g


@pytest.mark.parametrize("folder", FOLDERS)
def test_outputs_and_loss_match_the_reference(folder):
    model, g = load(folder)
    mask = {"attention_mask": g["input.attention_mask"]} if "input.attention_mask" in g else {}
    with torch.no_grad():
        out = model(g["input.input_values"], **mask, labels=g["input.labels"], output_hidden_states=True,
                    output_attentions=True)
        nomask = model(g["input.input_values"]).logits
    torch.testing.assert_close(out.logits, g["output.logits"], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.loss, g["output.loss"], atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(nomask, g["output.nomask.logits"], atol=1e-5, rtol=0)
    for key in ("hidden_states", "attentions"):
        values = getattr(out, key)
        assert len(values) == sum(k.startswith(f"output.{key}.") for k in g)
        for i, value in enumerate(values):
            torch.testing.assert_close(value, g[f"output.{key}.{i}"], atol=1e-5, rtol=0, msg=f"{key} {i}")


def test_auto_classes_save_and_reload(tmp_path):
    folder = os.path.join(AUDIO, "wav2vec2")
    model = henkan.AutoModelForCTC.from_pretrained(folder)
    assert type(model).__name__ == "Wav2Vec2ForCTC"
    assert type(henkan.AutoModelForAudioClassification.from_pretrained(
        os.path.join(AUDIO, "wav2vec2-forsequenceclassification"))).__name__ == "Wav2Vec2ForSequenceClassification"
    assert type(henkan.AutoModel.from_pretrained(folder)).__name__ == "Wav2Vec2Model"
    assert type(henkan.AutoModelForCTC.from_pretrained(os.path.join(AUDIO, "data2vec-audio"))).__name__ == \
        "Data2VecAudioForCTC"
    model.save_pretrained(tmp_path)
    with safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as saved, \
            safe_open(os.path.join(folder, "model.safetensors"), "pt") as reference:
        assert set(saved.keys()) == set(reference.keys())
    _, g = golden("wav2vec2")
    again = henkan.Wav2Vec2ForCTC.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(again(g["input.input_values"]).logits, g["output.nomask.logits"], atol=1e-5, rtol=0)


def test_old_weight_norm_keys_load(tmp_path):
    """Checkpoints saved before torch's parametrizations store the positional kernel as weight_g / weight_v."""
    from safetensors.torch import load_file, save_file
    folder = os.path.join(AUDIO, "wav2vec2")
    state = load_file(os.path.join(folder, "model.safetensors"))
    prefix = "wav2vec2.encoder.pos_conv_embed.conv."
    state[prefix + "weight_g"] = state.pop(prefix + "parametrizations.weight.original0")
    state[prefix + "weight_v"] = state.pop(prefix + "parametrizations.weight.original1")
    save_file(state, os.path.join(tmp_path, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(folder, "config.json")) as f, open(os.path.join(tmp_path, "config.json"), "w") as out:
        out.write(f.read())
    _, g = golden("wav2vec2")
    model = henkan.Wav2Vec2ForCTC.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(model(g["input.input_values"]).logits, g["output.nomask.logits"], atol=1e-5, rtol=0)


def test_training_step_with_spec_augment_and_a_frozen_feature_encoder():
    model, g = load("wav2vec2")
    model.config.mask_time_prob, model.config.mask_time_length = 0.3, 2
    model.freeze_feature_encoder()
    model.train()
    torch.manual_seed(0)
    out = model(g["input.input_values"], attention_mask=g["input.attention_mask"], labels=g["input.labels"])
    out.loss.backward()
    assert all(p.grad is None for p in model.wav2vec2.feature_extractor.parameters())
    assert model.lm_head.weight.grad is not None and torch.isfinite(out.loss)


def test_bad_input_is_named():
    model, g = load("wav2vec2")
    with pytest.raises(ValueError, match="batch, samples"):
        model(g["input.input_values"][0])
    with pytest.raises(ValueError, match="too few"):
        model(g["input.input_values"][:, :5])
    labels = g["input.labels"].clone()
    labels[0, 0] = 25
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(g["input.input_values"], labels=labels)
    with pytest.raises(ValueError, match="24 frames"):
        load("ast")[0](torch.zeros(1, 20, 10))
    with pytest.raises(ValueError, match="same length"):
        henkan.Wav2Vec2Config(conv_dim=[16, 16], conv_stride=[5, 2, 2], conv_kernel=[10, 3, 3])
