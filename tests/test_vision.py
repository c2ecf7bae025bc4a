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


# every family built from a config, bf16, training, hostile inputs ---------------------------------------------------


def tiny_config(folder):
    return henkan.AutoConfig.from_pretrained(os.path.join(VISION, folder))


CLASSIFIERS = [f for f in FOLDERS if f.endswith("forimageclassification")]


@pytest.mark.parametrize("folder", CLASSIFIERS)
def test_from_config_bf16_and_a_training_step(folder):
    torch.manual_seed(0)
    model = henkan.AutoModelForImageClassification.from_config(tiny_config(folder))
    pixels = torch.randn(2, 3, 32, 32)
    model.train()
    loss = model(pixel_values=pixels, labels=torch.tensor([0, 2])).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert next(model.get_input_embeddings().parameters()).grad is not None  # (it reaches the first layer)
    model.eval().to(torch.bfloat16)
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits
    assert logits.dtype == torch.bfloat16 and logits.shape == (2, 3)


def test_bad_pixel_values_raise_clear_errors():
    vit = model_for("vit-model")
    with pytest.raises(ValueError, match="specify pixel_values"):
        vit()
    with pytest.raises(ValueError, match="batch dimension"):
        vit(pixel_values=torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match="channel dimension"):
        vit(pixel_values=torch.randn(1, 4, 32, 32))
    with pytest.raises(ValueError, match="interpolate_pos_encoding=True"):
        vit(pixel_values=torch.randn(1, 3, 48, 32))
    with pytest.raises(ValueError, match="smaller than this model's smallest input"):
        vit(pixel_values=torch.randn(1, 3, 4, 4), interpolate_pos_encoding=True)
    with pytest.raises(ValueError, match="mask token"):
        vit(pixel_values=torch.randn(1, 3, 32, 32), bool_masked_pos=torch.zeros(1, 16, dtype=torch.bool))
    mim = model_for("vit-formaskedimagemodeling")
    with pytest.raises(ValueError, match=r"bool_masked_pos should be \[batch, patches\]"):
        mim(pixel_values=torch.randn(1, 3, 32, 32), bool_masked_pos=torch.zeros(1, 15, dtype=torch.bool))
    for folder in ("convnext-model", "bit-model", "cvt-model", "dinat-model", "beit-model"):
        with pytest.raises(ValueError, match="channel dimension"):
            model_for(folder)(pixel_values=torch.randn(1, 1, 32, 32))
    beit_mim = model_for("beit-formaskedimagemodeling")
    with pytest.raises(ValueError, match="need bool_masked_pos"):
        beit_mim(pixel_values=torch.randn(1, 3, 32, 32), labels=torch.tensor([1]))


def test_bad_configs_raise_clear_errors():
    with pytest.raises(ValueError, match="out_indices to be a list of 4"):
        henkan.BeitForSemanticSegmentation(henkan.BeitConfig(hidden_size=16, num_hidden_layers=2,
                                                             num_attention_heads=2, intermediate_size=8))
    with pytest.raises(ValueError, match="out_features holds 'stage9'"):
        henkan.BeitConfig(num_hidden_layers=2, out_features=["stage9"])
    with pytest.raises(NotImplementedError, match="dw_bn"):
        henkan.CvtConfig(qkv_projection_method=["avg", "dw_bn", "dw_bn"])
    with pytest.raises(ValueError, match="one value per stage"):
        henkan.CvtConfig(depth=[1, 1, 1, 1])
    with pytest.raises(ValueError, match="patch size of 4"):
        henkan.DinatConfig(patch_size=8)
    with pytest.raises(ValueError, match="layer_type=basic"):
        henkan.BitConfig(layer_type="basic")
    with pytest.raises(ValueError, match="Padding strategy"):
        henkan.BitConfig(global_padding="reflect")
    with pytest.raises(ValueError, match="one hidden size and one depth per stage"):
        henkan.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1, 1, 1])


def test_deit_teacher_head_is_the_mean_of_its_two_heads():
    data = golden("deit-forimageclassificationwithteacher")[2]
    out = model_for("deit-forimageclassificationwithteacher")(pixel_values=data["input.main.pixel_values"])
    torch.testing.assert_close(out.logits, (out.cls_logits + out.distillation_logits) / 2)


def test_cached_indices_made_under_inference_mode_serve_training():
    """BEiT's and DiNAT's index tables are cached; one first made under inference mode still works with autograd."""
    from henkan.models.beit import relative_position_index
    from henkan.models.dinat import neighbours

    relative_position_index.cache_clear()
    neighbours.cache_clear()
    for folder in ("beit-forimageclassification", "dinat-forimageclassification"):
        model = model_for(folder)
        with torch.inference_mode():
            model(pixel_values=torch.randn(1, 3, 32, 32))
        model(pixel_values=torch.randn(1, 3, 32, 32), labels=torch.tensor([1])).loss.backward()
        model.zero_grad()


def test_dinat_neighbourhoods_follow_natten():
    """Windows shift inwards at the borders and keep to the pixel's residue class under dilation."""
    from henkan.models.dinat import neighbours

    positions, bias = neighbours(7, 3, 2)
    assert positions.tolist() == [[0, 2, 4], [1, 3, 5], [0, 2, 4], [1, 3, 5], [2, 4, 6], [1, 3, 5], [2, 4, 6]]
    assert bias[0].tolist() == [2, 3, 4] and bias[6].tolist() == [0, 1, 2] and bias[3].tolist() == [1, 2, 3]
