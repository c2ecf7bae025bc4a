"""Vision families (ViT, DeiT, BEiT, Data2Vec-Vision, BiT, ConvNeXt, ConvNeXt V2, CvT, DiNAT) against reference
goldens made by tests/fixtures/make_vision.py (see its docstring)."""

import json
import os

import pytest
import torch
from safetensors import safe_open

import henkan
from conftest import FIXTURES

VISION = os.path.join(FIXTURES, "vision")
FOLDERS = sorted(f for f in os.listdir(VISION) if os.path.exists(os.path.join(VISION, f, "golden.safetensors")))
ATOL = RTOL = 1e-5  # (the house bound on logits is 1e-4 absolute)
AUTO = {"ForImageClassification": "AutoModelForImageClassification",
        "ForImageClassificationWithTeacher": "AutoModelForImageClassification",
        "ForMaskedImageModeling": "AutoModelForMaskedImageModeling",
        "ForSemanticSegmentation": "AutoModelForSemanticSegmentation"}


def golden(folder):
    with safe_open(os.path.join(VISION, folder, "golden.safetensors"), "pt") as f:
        meta = f.metadata()
        data = {k: f.get_tensor(k) for k in f.keys()}
    return meta["class"], json.loads(meta["calls"]), data


_MODELS = {}


def model_for(folder):
    if folder not in _MODELS:
        class_name, _, _ = golden(folder)
        _MODELS[folder] = getattr(henkan, class_name).from_pretrained(os.path.join(VISION, folder)).eval()
    return _MODELS[folder]


def flatten(output) -> dict:
    flat = {}
    for key, value in output.items():
        if isinstance(value, tuple):
            flat.update({f"{key}.{i}": v for i, v in enumerate(value)})
        elif value is not None:
            flat[key] = value
    return flat


def call_inputs(data, call):
    prefix = f"input.{call}."
    return {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}


@pytest.mark.parametrize("folder", FOLDERS)
def test_goldens(folder):
    _, calls, data = golden(folder)
    model = model_for(folder)
    for call, options in calls.items():
        with torch.no_grad():
            out = flatten(model(**call_inputs(data, call), **options))
        prefix = f"output.{call}."
        wanted = {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}
        assert sorted(out) == sorted(wanted), f"{folder} {call}"
        for key, value in wanted.items():
            torch.testing.assert_close(out[key], value, atol=ATOL, rtol=RTOL, msg=lambda m: f"{folder} {call} {key}: {m}")


@pytest.mark.parametrize("folder", [f for f in FOLDERS if f != "beit-formaskedimagemodeling"])
def test_auto_class_loads_the_same_class(folder):
    class_name, _, _ = golden(folder)
    auto = next((a for suffix, a in AUTO.items() if class_name.endswith(suffix)), "AutoModel")
    model = getattr(henkan, auto).from_pretrained(os.path.join(VISION, folder))
    assert type(model).__name__ == class_name


@pytest.mark.parametrize("folder", FOLDERS)
def test_tuple_outputs_and_save_round_trip(folder, tmp_path):
    class_name, calls, data = golden(folder)
    model = model_for(folder)
    inputs = call_inputs(data, "main")
    with torch.no_grad():
        as_dict = model(**inputs)
        as_tuple = model(**inputs, return_dict=False)
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], as_dict.to_tuple()[0])
    model.save_pretrained(tmp_path)
    again = getattr(henkan, class_name).from_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(again(**inputs).to_tuple()[0], as_dict.to_tuple()[0], atol=0, rtol=0)
