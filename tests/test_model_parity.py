"""Every tiny checkpoint made by the reference library reproduces its golden outputs in henkan."""

import os

import pytest
import torch
from safetensors import safe_open

import henkan
from conftest import ENCODERS, MODELS

FOLDERS = sorted(os.listdir(MODELS))
# the families of issue 12 (make_encoders.py): the same golden format, checked by the same test
ENCODER_FOLDERS = sorted(os.listdir(ENCODERS))
ATOL = 1e-5
# BROS's SPADE pair logits are dot products of two projections of the last hidden states (values up to ~40): the
# float32 rounding of those states (~3e-6, as in every family) grows to ~3e-5 there
LOOSER = {"bros-spadeeefortokenclassification": 1e-4, "bros-spadeelfortokenclassification": 1e-4}


def path_of(folder):
    return os.path.join(MODELS if folder in FOLDERS else ENCODERS, folder)


def golden(folder):
    """The class name, inputs and outputs of a fixture folder (of `models/`, else of `encoders/`)."""
    with safe_open(os.path.join(path_of(folder), "golden.safetensors"), "pt") as f:
        meta = f.metadata()
        data = {k: f.get_tensor(k) for k in f.keys()}
    inputs = {k[len("input."):]: v for k, v in data.items() if k.startswith("input.")}
    outputs = {k[len("output."):]: v for k, v in data.items() if k.startswith("output.")}
    return meta["class"], inputs, outputs


def flatten(output) -> dict:
    flat = {}
    for key, value in output.items():
        if isinstance(value, tuple):
            flat.update({f"{key}.{i}": v for i, v in enumerate(value)})
        else:
            flat[key] = value
    return flat


LABEL_KEYS = ("labels", "start_positions", "end_positions", "next_sentence_label", "initial_token_labels",
              "subsequent_token_labels")


@pytest.mark.parametrize("folder", FOLDERS + ENCODER_FOLDERS)
def test_outputs_match_reference(folder):
    class_name, inputs, expected = golden(folder)
    model = getattr(henkan, class_name).from_pretrained(path_of(folder))
    call = {k: v for k, v in inputs.items() if k not in LABEL_KEYS}
    with torch.no_grad():
        out = flatten(model(**call, output_hidden_states=True, output_attentions=True))
        loss = model(**inputs).loss if any(k in inputs for k in LABEL_KEYS) else None
    wanted = {k: v for k, v in expected.items() if k != "loss"}
    assert sorted(out) == sorted(wanted)
    atol = LOOSER.get(folder, ATOL)
    for key, value in wanted.items():
        torch.testing.assert_close(out[key], value, atol=atol, rtol=0, msg=f"{folder}: {key}")
    if "loss" in expected:
        torch.testing.assert_close(loss, expected["loss"], atol=atol, rtol=0)


@pytest.mark.parametrize("folder", [f for f in FOLDERS if f.endswith("-model") or f == "bert-formaskedlm"])
def test_auto_model_loads_the_same_class(folder):
    class_name, _, _ = golden(folder)
    auto = henkan.AutoModelForMaskedLM if "masked" in folder else henkan.AutoModel
    assert type(auto.from_pretrained(os.path.join(MODELS, folder))).__name__ == class_name


@pytest.mark.parametrize("folder", [f for f in ENCODER_FOLDERS if "spade" not in f])  # (no Auto class has SPADE)
def test_auto_classes_load_encoder_fixtures(folder):
    class_name, _, _ = golden(folder)
    auto = next((name for name, suffix in henkan.auto.AUTO_TASKS.items()
                 if suffix != "Model" and class_name.endswith(suffix)), "AutoModel")
    assert type(getattr(henkan, auto).from_pretrained(path_of(folder))).__name__ == class_name


def real_positions(key, value, mask):
    """The part of an output that padding cannot change: real tokens (and real query rows of attentions)."""
    if key.startswith("attentions"):
        return value.permute(0, 2, 1, 3)[mask.bool()]
    if value.dim() >= 2 and tuple(value.shape[:2]) == tuple(mask.shape):
        return value[mask.bool()]
    return value


@pytest.mark.parametrize("folder", [f for f in FOLDERS if "multiplechoice" not in f])
def test_unpadded_attention_equals_padded_on_real_tokens(folder):
    """attn_implementation="unpadded" skips padding; on real tokens it gives the reference's numbers."""
    class_name, inputs, expected = golden(folder)
    model = getattr(henkan, class_name).from_pretrained(os.path.join(MODELS, folder), attn_implementation="unpadded")
    call = {k: v for k, v in inputs.items() if k not in LABEL_KEYS}
    with torch.no_grad():
        out = flatten(model(**call, output_hidden_states=True, output_attentions=True))
    mask = inputs["attention_mask"]
    assert not mask.all()
    for key, value in expected.items():
        if key != "loss":
            torch.testing.assert_close(real_positions(key, out[key], mask), real_positions(key, value, mask),
                                       atol=ATOL, rtol=0, msg=f"{folder}: {key}")
