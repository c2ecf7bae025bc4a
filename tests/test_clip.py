"""CLIP, Chinese-CLIP, AltCLIP and ALIGN against the reference's goldens (tests/fixtures/make_multimodal.py): both towers' states, the projected and
normalised embeddings, the similarity logits and the contrastive loss, interpolated positions, the single-tower
classes loading from a full CLIP checkpoint, the image classifier; bad input."""

import os

import pytest
import torch
from safetensors import safe_open

import henkan
from conftest import FIXTURES

MULTIMODAL = os.path.join(FIXTURES, "multimodal")
CLIP = os.path.join(MULTIMODAL, "clip")


def golden(folder):
    with safe_open(os.path.join(MULTIMODAL, folder, "golden.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def close(actual, expected, what):
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0, msg=what)


@pytest.mark.parametrize("folder,model_class", [("clip", "CLIPModel"), ("chinese-clip", "ChineseCLIPModel"),
                                                ("altclip", "AltCLIPModel")])
def test_contrastive_models_match_the_reference(folder, model_class):
    """(Chinese-CLIP's text features: the [CLS] state projected, as 5.x and the model's own forward do; the reference
    4.57's get_text_features reads a pooler the model does not have and fails.)"""
    g = golden(folder)
    model = getattr(henkan, model_class).from_pretrained(os.path.join(MULTIMODAL, folder)).eval()
    assert type(henkan.AutoModelForZeroShotImageClassification.from_pretrained(
        os.path.join(MULTIMODAL, folder))).__name__ == model_class
    with torch.no_grad():
        out = model(input_ids=g["input.input_ids"], pixel_values=g["input.pixel_values"],
                    attention_mask=g["input.attention_mask"], return_loss=True, output_hidden_states=True,
                    output_attentions=True)
        for key in ("loss", "logits_per_image", "logits_per_text", "text_embeds", "image_embeds"):
            close(getattr(out, key), g[f"output.{key}"], key)
        for tower, part in (("text", out.text_model_output), ("vision", out.vision_model_output)):
            close(part.last_hidden_state, g[f"output.{tower}.last_hidden_state"], tower)
            if f"output.{tower}.pooler_output" in g:
                close(part.pooler_output, g[f"output.{tower}.pooler_output"], tower)
            for key in ("hidden_states", "attentions"):
                for i, value in enumerate(getattr(part, key)):
                    close(value, g[f"output.{tower}.{key}.{i}"], f"{tower} {key} {i}")
        close(model.get_text_features(g["input.input_ids"], g["input.attention_mask"]), g["output.text_features"],
              "text features")
        close(model.get_image_features(g["input.pixel_values"]), g["output.image_features"], "image features")
        close(model.get_image_features(g["input.pixel_values_large"], interpolate_pos_encoding=True),
              g["output.image_features_large"], "interpolated positions")


def test_align_matches_the_reference():
    g = golden("align")
    folder = os.path.join(MULTIMODAL, "align")
    model = henkan.AlignModel.from_pretrained(folder).eval()
    assert type(henkan.AutoModelForZeroShotImageClassification.from_pretrained(folder)).__name__ == "AlignModel"
    with torch.no_grad():
        out = model(input_ids=g["input.input_ids"], pixel_values=g["input.pixel_values"],
                    attention_mask=g["input.attention_mask"], return_loss=True, output_hidden_states=True,
                    output_attentions=True)
        for key in ("loss", "logits_per_image", "logits_per_text", "text_embeds", "image_embeds"):
            close(getattr(out, key), g[f"output.{key}"], key)
        for tower, part in (("text", out.text_model_output), ("vision", out.vision_model_output)):
            close(part.last_hidden_state, g[f"output.{tower}.last_hidden_state"], tower)
            for i, value in enumerate(part.hidden_states):
                close(value, g[f"output.{tower}.hidden_states.{i}"], f"{tower} hidden state {i}")
        close(out.vision_model_output.pooler_output, g["output.vision.pooler_output"], "pooled image")
        close(model.get_text_features(g["input.input_ids"], g["input.attention_mask"]), g["output.text_features"],
              "text features")
        close(model.get_image_features(g["input.pixel_values"]), g["output.image_features"], "image features")


def test_single_towers_load_from_the_full_checkpoint():
    g = golden("clip")
    text = henkan.CLIPTextModelWithProjection.from_pretrained(CLIP).eval()
    vision = henkan.CLIPVisionModelWithProjection.from_pretrained(CLIP).eval()
    assert text.config.hidden_size == 32 and text.config.eos_token_id == 98
    with torch.no_grad():
        close(text(g["input.input_ids"], g["input.attention_mask"]).text_embeds, g["output.text_features"], "text")
        close(vision(g["input.pixel_values"]).image_embeds, g["output.image_features"], "vision")
        close(henkan.CLIPTextModel.from_pretrained(CLIP)(g["input.input_ids"], g["input.attention_mask"])
              .last_hidden_state, g["output.text.last_hidden_state"], "text model")
        close(henkan.CLIPVisionModel.from_pretrained(CLIP)(g["input.pixel_values"]).pooler_output,
              g["output.vision.pooler_output"], "vision model")


def test_auto_classes_classifier_and_save(tmp_path):
    assert type(henkan.AutoModel.from_pretrained(CLIP)).__name__ == "CLIPModel"
    assert type(henkan.AutoModelForZeroShotImageClassification.from_pretrained(CLIP)).__name__ == "CLIPModel"
    folder = os.path.join(MULTIMODAL, "clip-forimageclassification")
    g = golden("clip-forimageclassification")
    model = henkan.AutoModelForImageClassification.from_pretrained(folder).eval()
    out = model(g["input.pixel_values"], labels=g["input.labels"])
    close(out.logits, g["output.logits"], "logits")
    close(out.loss, g["output.loss"], "loss")
    clip = henkan.CLIPModel.from_pretrained(CLIP)
    clip.save_pretrained(tmp_path)
    with safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as saved, \
            safe_open(os.path.join(CLIP, "model.safetensors"), "pt") as reference:
        assert set(saved.keys()) == set(reference.keys())
    again = henkan.CLIPConfig.from_pretrained(tmp_path)
    assert again.text_config.eos_token_id == 98 and again.vision_config.patch_size == 6


def test_bad_input_is_named():
    g = golden("clip")
    model = henkan.CLIPModel.from_pretrained(CLIP).eval()
    with pytest.raises(ValueError, match="30\\*30"):
        model.get_image_features(g["input.pixel_values_large"])
    with pytest.raises(ValueError, match="channel"):
        model.get_image_features(g["input.pixel_values"][:, :1])
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model.get_text_features(torch.ones(1, 20, dtype=torch.long))
    with pytest.raises(TypeError, match="text_config"):
        henkan.CLIPConfig(text_config="big")
