"""PEFT adapters without `peft`: the fixtures of tests/fixtures/make_adapters.py (made by peft on the reference
library) load with peft's logits, adapters switch, disable, merge, train and save in PEFT's format."""

import json
import os
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import henkan
from conftest import FIXTURES
from henkan.adapters import AdaLoraConfig, IA3Config, LoraConfig
from henkan.quantization import QuantLinear

ADAPTERS = os.path.join(FIXTURES, "adapters")
ROOT = os.path.dirname(os.path.dirname(FIXTURES))
AUTO = {"lora-cls": henkan.AutoModelForSequenceClassification}
NAMES = ["lora", "lora-rslora", "lora-gpt2", "lora-cls", "ia3", "adalora", "adalora-gpt2", "henkan-lora", "henkan-adalora"]
ATOL = 1e-5


def golden(name):
    return load_file(os.path.join(ADAPTERS, name, "golden.safetensors"))


def base_of(name):
    return os.path.join(ROOT, json.load(open(os.path.join(ADAPTERS, name, "adapter_config.json")))[
        "base_model_name_or_path"])


def base_model(name):
    return AUTO.get(name, henkan.AutoModelForCausalLM).from_pretrained(base_of(name))


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.mark.parametrize("name", NAMES)
def test_adapter_matches_peft_before_and_after_merging(name):
    expected = golden(name)
    model = base_model(name)
    model.load_adapter(os.path.join(ADAPTERS, name))
    assert model.active_adapters() == ["default"]
    torch.testing.assert_close(logits(model, expected["input_ids"]), expected["logits"], atol=ATOL, rtol=0)
    model.disable_adapters()
    torch.testing.assert_close(logits(model, expected["input_ids"]), expected["logits.disabled"], atol=ATOL, rtol=0)
    model.enable_adapters()
    merged = model.merge_and_unload()
    assert not merged._hf_peft_config_loaded
    assert not any("lora_" in k or "ia3_" in k or "modules_to_save" in k for k in merged.state_dict())
    torch.testing.assert_close(logits(merged, expected["input_ids"]), expected["logits.merged"], atol=ATOL, rtol=0)


def test_from_pretrained_on_an_adapter_folder_loads_base_and_adapter(tmp_path):
    folder = shutil.copytree(os.path.join(ADAPTERS, "lora"), tmp_path / "lora")
    config = json.load(open(folder / "adapter_config.json"))
    config["base_model_name_or_path"] = base_of("lora")
    (folder / "adapter_config.json").write_text(json.dumps(config))
    expected = golden("lora")
    for loader in (henkan.AutoModelForCausalLM, henkan.LlamaForCausalLM):
        model = loader.from_pretrained(folder)
        torch.testing.assert_close(logits(model, expected["input_ids"]), expected["logits"], atol=ATOL, rtol=0)


def test_save_writes_the_adapter_only_in_peft_layout(tmp_path):
    model = base_model("lora")
    model.load_adapter(os.path.join(ADAPTERS, "lora"))
    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["adapter_config.json", "adapter_model.safetensors"]
    with safe_open(tmp_path / "adapter_model.safetensors", "pt") as ours, \
            safe_open(os.path.join(ADAPTERS, "lora", "adapter_model.safetensors"), "pt") as theirs:
        assert sorted(ours.keys()) == sorted(theirs.keys())
        assert all(torch.equal(ours.get_tensor(k), theirs.get_tensor(k)) for k in ours.keys())
    saved = json.load(open(tmp_path / "adapter_config.json"))
    assert saved["peft_type"] == "LORA" and saved["rank_pattern"] == {"down_proj": 2}
    reloaded = base_model("lora")
    reloaded.load_adapter(tmp_path)
    expected = golden("lora")
    torch.testing.assert_close(logits(reloaded, expected["input_ids"]), expected["logits"], atol=ATOL, rtol=0)


def test_adalora_saves_the_files_peft_wrote(tmp_path):
    """The pruned ranks (rank_pattern masks, a layer left with rank 0 included) survive a henkan load and save."""
    model = base_model("adalora")
    model.load_adapter(os.path.join(ADAPTERS, "adalora"))
    layer = model.model.layers[0].self_attn
    assert layer.q_proj.lora_A["default"].shape == (3, 64) and layer.v_proj.lora_E["default"].shape == (0, 1)
    model.save_pretrained(tmp_path)
    with safe_open(tmp_path / "adapter_model.safetensors", "pt") as ours, \
            safe_open(os.path.join(ADAPTERS, "adalora", "adapter_model.safetensors"), "pt") as theirs:
        assert sorted(ours.keys()) == sorted(theirs.keys())
        assert all(torch.equal(ours.get_tensor(k), theirs.get_tensor(k)) for k in ours.keys())
    saved = json.load(open(tmp_path / "adapter_config.json"))
    peft_wrote = json.load(open(os.path.join(ADAPTERS, "adalora", "adapter_config.json")))
    assert saved["peft_type"] == "ADALORA" and saved["rank_pattern"] == peft_wrote["rank_pattern"]
    assert saved["init_r"] == 4


def test_fresh_adalora_adapter_starts_as_the_base_model():
    model = base_model("lora")
    model.add_adapter(AdaLoraConfig(init_r=2, target_r=1, total_step=5, target_modules=["q_proj", "v_proj"]))
    expected = golden("lora")
    torch.testing.assert_close(logits(model, expected["input_ids"]), expected["logits.disabled"], atol=0, rtol=0)
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(k.rsplit(".", 2)[-2] in ("lora_A", "lora_E", "lora_B") for k in trainable)


def test_switching_and_deleting_adapters():
    model = base_model("lora")
    model.load_adapter(os.path.join(ADAPTERS, "lora"), adapter_name="first")
    model.load_adapter(os.path.join(ADAPTERS, "ia3"), adapter_name="second")
    first, second = golden("lora"), golden("ia3")
    ids = first["input_ids"]
    assert model.active_adapters() == ["first"] and set(model.peft_config) == {"first", "second"}
    torch.testing.assert_close(logits(model, ids), first["logits"], atol=ATOL, rtol=0)
    model.set_adapter("second")
    assert model.active_adapter() == "second"
    torch.testing.assert_close(logits(model, ids), second["logits"], atol=ATOL, rtol=0)
    model.delete_adapter("second")
    assert model.active_adapters() == ["first"]
    torch.testing.assert_close(logits(model, ids), first["logits"], atol=ATOL, rtol=0)
    model.delete_adapter("first")
    assert not model._hf_peft_config_loaded
    torch.testing.assert_close(logits(model, ids), first["logits.disabled"], atol=0, rtol=0)
    with pytest.raises(ValueError, match="No adapter loaded"):
        model.set_adapter("first")


def test_added_adapter_trains_alone():
    model = base_model("lora")
    expected = golden("lora")
    model.add_adapter(LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]), adapter_name="new")
    model.add_adapter(IA3Config(target_modules=["down_proj"], feedforward_modules=["down_proj"]), adapter_name="ia3")
    assert model.active_adapters() == ["ia3"]
    model.set_adapter(["new", "ia3"])
    torch.testing.assert_close(logits(model, expected["input_ids"]), expected["logits.disabled"], atol=ATOL, rtol=0)
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in k or ".ia3_l." in k for k in trainable)
    model.train()
    ids = expected["input_ids"]
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    assert model(input_ids=ids, labels=ids).loss < loss
    assert all(p.grad is None for k, p in model.named_parameters() if k not in trainable)


def test_adapter_on_a_quantized_base_runs_but_does_not_merge():
    model = henkan.AutoModelForCausalLM.from_pretrained(base_of("lora"), load_in_8bit=True)
    model.load_adapter(os.path.join(ADAPTERS, "lora"))
    expected = golden("lora")
    out = logits(model, expected["input_ids"])
    assert torch.nn.functional.cosine_similarity(out.flatten(), expected["logits"].flatten(), dim=0) > 0.99
    for layer in model.modules():  # the adapted projections already ran one by one, outside their fused groups
        if isinstance(layer, QuantLinear):
            layer.fused_with = None
    assert torch.equal(logits(model, expected["input_ids"]), out)
    with pytest.raises(ValueError, match="quantized"):
        model.merge_and_unload()


# hostile inputs ----------------------------------------------------------------------------------------------------
def test_target_modules_matching_nothing_is_an_error():
    model = base_model("lora")
    with pytest.raises(ValueError, match=r"match no linear layer.*q_proj"):
        model.add_adapter(LoraConfig(target_modules=["query", "value"]))
    assert not model._hf_peft_config_loaded


def test_adapter_for_another_base_model_is_refused():
    model = base_model("lora-cls")  # a Llama 32 wide; the "lora" adapter was made on one 64 wide
    with pytest.raises(ValueError, match=r"another base model[\s\S]*q_proj\.lora_A\.weight"):
        model.load_adapter(os.path.join(ADAPTERS, "lora"))
    assert not model._hf_peft_config_loaded
    with pytest.raises(ValueError, match=r"another base model[\s\S]*q_proj\.lora_A: adapter \[3, 64\], model \[3, 32\]"):
        model.load_adapter(os.path.join(ADAPTERS, "adalora"))
    assert not model._hf_peft_config_loaded
    with pytest.raises(ValueError, match="match no linear layer"):
        base_model("lora-gpt2").load_adapter(os.path.join(ADAPTERS, "lora"))


@pytest.mark.parametrize("name,change,match", [
    ("lora", {"peft_type": "PROMPT_TUNING"}, "peft_type 'PROMPT_TUNING'"),
    ("lora", {"use_dora": True}, "DoRA"),
    ("adalora", {"rank_pattern": {"model.layers.0.self_attn.q_proj.lora_E": [True, False]}},
     r"rank_pattern\['model\.layers\.0\.self_attn\.q_proj\.lora_E'\] must be a list of 4"),
    ("adalora", {"rank_pattern": {"model.layers.9.self_attn.q_proj.lora_E": [True] * 4}},
     r"rank_pattern names \['model\.layers\.9\.self_attn\.q_proj\.lora_E'\].*another base model"),
])
def test_unsupported_adapter_configs_say_why(name, change, match, tmp_path):
    folder = shutil.copytree(os.path.join(ADAPTERS, name), tmp_path / name)
    config = {**json.load(open(folder / "adapter_config.json")), **change}
    (folder / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=match):
        base_model(name).load_adapter(folder)


def test_lora_and_adalora_on_one_layer_is_refused():
    model = base_model("lora")
    model.load_adapter(os.path.join(ADAPTERS, "lora"))
    with pytest.raises(ValueError, match=r"q_proj already holds a LoRA adapter"):
        model.load_adapter(os.path.join(ADAPTERS, "adalora"), adapter_name="svd")
    assert list(model.peft_config) == ["default"]


def test_folder_without_adapter_config(tmp_path):
    with pytest.raises(ValueError, match="adapter_config.json"):
        base_model("lora").load_adapter(tmp_path)


def test_trainer_trains_only_the_adapter_and_saves_it_alone(tmp_path):
    model = base_model("lora")
    before = {k: p.detach().clone() for k, p in model.named_parameters()}
    model.add_adapter(LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    rows = [{"input_ids": ids, "labels": ids} for ids in golden("lora")["input_ids"].tolist() * 4]
    args = henkan.TrainingArguments(output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=2,
                                    learning_rate=1e-2, save_strategy="no", report_to=[], disable_tqdm=True)
    henkan.Trainer(model=model, args=args, train_dataset=rows).train()
    changed = {k for k, p in model.named_parameters() if k not in before or not torch.equal(p, before[k])}
    assert changed and all(".lora_" in k for k in changed)
    model.save_pretrained(tmp_path / "adapter")
    assert sorted(os.listdir(tmp_path / "adapter")) == ["adapter_config.json", "adapter_model.safetensors"]
