"""GPTQ calibration at load (`GPTQConfig(dataset=[...], tokenizer=...)`): closer to float32 than round-to-nearest
int4, act-order on and off, decoders (Llama, GPT-2's Conv1D) and encoders (BERT), the folder it saves is in GPTQ's
layout and reloads to identical outputs, and bad arguments say what to pass."""

import json
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file

import henkan
from conftest import FIXTURES
from henkan.quantization import QuantLinear
from henkan.quantization.config import Scheme
from henkan.quantization.gptq import calibration_batches, gptq_to_saved, saved_to_gptq

TOKENIZER = os.path.join(FIXTURES, "text_generation", "llama")  # 215 tokens
GPT2 = os.path.join(FIXTURES, "text_generation", "gpt2")
BERT = os.path.join(FIXTURES, "text_pipelines", "bert-cls")
TEXTS = ["The history of the city goes back to the Roman era, when a small settlement grew along the river.",
         "Quantum computers use qubits, which can represent both zero and one at the same time.",
         "She opened the door slowly and looked into the dark room, listening for any sound.",
         "In 1998 the company released its first product, a small music player that sold millions.",
         "Water boils at one hundred degrees Celsius at sea level, but at lower temperatures on mountains.",
         "The committee will meet next Tuesday to discuss the budget for the coming year."]
HELD_OUT = ["In a hole in the ground there lived a hobbit.", "Quantization makes CPUs decode faster."]


def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A random Llama wide enough for group_size 128, with the 215-token test tokenizer's vocabulary."""
    torch.manual_seed(0)
    config = henkan.LlamaConfig(vocab_size=215, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                tie_word_embeddings=False)
    folder = tmp_path_factory.mktemp("gptq") / "tiny-llama"
    henkan.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tokenizer():
    return henkan.AutoTokenizer.from_pretrained(TOKENIZER)


def held_out_logits(model, tokenizer):
    batch = tokenizer(HELD_OUT, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits


@pytest.mark.parametrize("options", [{"desc_act": False}, {"desc_act": True}, {"desc_act": True, "sym": False},
                                     {"batch_size": 4, "true_sequential": False}])
def test_calibrated_llama_is_closer_to_float_than_round_to_nearest(tiny, tokenizer, options):
    config = henkan.GPTQConfig(bits=4, dataset=TEXTS, tokenizer=tokenizer, group_size=64, **options)
    model = henkan.AutoModelForCausalLM.from_pretrained(tiny, quantization_config=config)
    rtn = henkan.AutoModelForCausalLM.from_pretrained(tiny, quantization_config=henkan.TorchAoConfig(
        "int4_weight_only", group_size=64, modules_to_not_convert=["lm_head", "embed_tokens"]))
    full = held_out_logits(henkan.AutoModelForCausalLM.from_pretrained(tiny), tokenizer)
    layers = [m for name, m in model.named_modules() if name.startswith("model.layers.") and name.count(".") == 4]
    assert len(layers) == 14 and all(isinstance(m, QuantLinear) and m.packed is not None for m in layers)
    assert all((m.weight_perm is not None) == options.get("desc_act", False) for m in layers)
    assert type(model.lm_head) is torch.nn.Linear and type(model.model.embed_tokens) is torch.nn.Embedding
    assert model.is_loaded_in_4bit and model.config.quantization_config["quant_method"] == "gptq"
    # 0.9966-0.9974 against 0.9895 for round-to-nearest
    assert cosine(held_out_logits(model, tokenizer), full) > cosine(held_out_logits(rtn, tokenizer), full) + 0.004


def test_seed_sample_quantizes_saves_and_reloads(tiny, tokenizer, tmp_path, henkan_warnings):
    """main_classes__quantization.md, "Load and quantize a model", on a local checkpoint."""
    dataset = ["auto-gptq is an easy-to-use model quantization library with user-friendly apis, based on GPTQ "
               "algorithm."]
    quantization = henkan.GPTQConfig(bits=4, dataset=dataset, tokenizer=tokenizer, desc_act=True)
    model = henkan.AutoModelForCausalLM.from_pretrained(tiny, quantization_config=quantization)
    assert "fewer than the 256 inputs" in henkan_warnings.text  # one sentence is too little text; it still runs
    model.save_pretrained(tmp_path / "opt-125m-gptq")
    tokenizer.save_pretrained(tmp_path / "opt-125m-gptq")
    saved = json.load(open(tmp_path / "opt-125m-gptq" / "config.json"))["quantization_config"]
    assert saved["quant_method"] == "gptq" and saved["bits"] == 4 and saved["group_size"] == 128
    assert saved["desc_act"] and saved["checkpoint_format"] == "gptq" and saved["tokenizer"] is None
    tensors = load_file(tmp_path / "opt-125m-gptq" / "model.safetensors")
    layer = "model.layers.1.mlp.down_proj."
    assert tensors[layer + "qweight"].shape == (256 // 8, 128) and tensors[layer + "qweight"].dtype == torch.int32
    assert tensors[layer + "qzeros"].shape == (2, 128 // 8) and tensors[layer + "scales"].dtype == torch.float16
    assert tensors[layer + "g_idx"].shape == (256,) and layer + "weight" not in tensors
    reloaded = henkan.AutoModelForCausalLM.from_pretrained(tmp_path / "opt-125m-gptq")
    assert reloaded.model.layers[1].mlp.down_proj.weight_perm is not None
    assert torch.equal(held_out_logits(reloaded, tokenizer), held_out_logits(model, tokenizer))


@pytest.mark.parametrize("name", ["gptq", "gptq-act"])
def test_gptq_layout_written_is_the_layout_read(name):
    """saved_to_gptq inverts gptq_to_saved on the reference-made GPTQ fixtures, tensor for tensor."""
    folder = os.path.join(FIXTURES, "quantized", name)
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    scheme = Scheme(4, 32, packed="gptq")
    for key in [k for k in tensors if k.endswith(".qweight")]:
        prefix = key[:-len("qweight")]
        parts = {p: tensors[prefix + p] for p in ("qweight", "qzeros", "scales", "g_idx")}
        layer = QuantLinear(parts["qweight"].shape[0] * 8, parts["scales"].shape[1], False, 4, 32)
        saved, perm = gptq_to_saved(parts, layer, scheme, prefix)
        for part, tensor in saved_to_gptq(saved, perm, 32).items():
            assert torch.equal(tensor, parts[part].to(tensor.dtype)), prefix + part


def test_gpt2_conv1d_layers_calibrate():
    tokenizer = henkan.AutoTokenizer.from_pretrained(GPT2)
    tokenizer.pad_token = tokenizer.eos_token
    config = henkan.GPTQConfig(bits=4, dataset=TEXTS, tokenizer=GPT2, group_size=32, desc_act=True, batch_size=2)
    model = henkan.AutoModelForCausalLM.from_pretrained(GPT2, quantization_config=config)
    full = henkan.AutoModelForCausalLM.from_pretrained(GPT2)
    rtn = henkan.AutoModelForCausalLM.from_pretrained(GPT2, quantization_config=henkan.TorchAoConfig(
        "int4_weight_only", group_size=32))
    assert isinstance(model.transformer.h[1].mlp.c_proj, QuantLinear)
    assert model.lm_head.weight is model.transformer.wte.weight  # tied, float
    batch = tokenizer(HELD_OUT, return_tensors="pt", padding=True)
    with torch.no_grad():
        reference = full(**batch).logits
        assert cosine(model(**batch).logits, reference) > cosine(rtn(**batch).logits, reference)  # 0.9996 / 0.9950


def test_bert_encoder_calibrates():
    tokenizer = henkan.AutoTokenizer.from_pretrained(BERT)
    config = henkan.GPTQConfig(bits=4, dataset=TEXTS, tokenizer=tokenizer, group_size=32, batch_size=3)
    model = henkan.AutoModel.from_pretrained(BERT, quantization_config=config)
    full = henkan.AutoModel.from_pretrained(BERT)
    layer = model.encoder.layer[1]
    assert isinstance(layer.attention.self.query, QuantLinear) and isinstance(layer.attention.output.dense, QuantLinear)
    assert type(layer.intermediate.dense) is torch.nn.Linear  # 37 outputs: not whole eights, as GPTQ packs them
    batch = tokenizer(HELD_OUT, return_tensors="pt", padding=True)
    mask = batch["attention_mask"].bool()
    with torch.no_grad():
        a, b = model(**batch).last_hidden_state[mask], full(**batch).last_hidden_state[mask]
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min() > 0.99


def test_modules_to_not_convert_stay_float(tiny, tokenizer):
    config = henkan.GPTQConfig(bits=4, dataset=TEXTS[:2], tokenizer=tokenizer, group_size=64,
                               modules_to_not_convert=["o_proj", "model.layers.1.mlp"])
    model = henkan.AutoModelForCausalLM.from_pretrained(tiny, quantization_config=config)
    floats = {n for n, m in model.named_modules() if type(m) is torch.nn.Linear and n.startswith("model.layers")}
    assert floats == {"model.layers.0.self_attn.o_proj", "model.layers.1.self_attn.o_proj",
                      "model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj"}


def test_stored_dataset_of_a_gptq_checkpoint_does_not_recalibrate(tmp_path):
    """Checkpoints quantized by the reference record their calibration dataset; loading them reads the weights."""
    folder = shutil.copytree(os.path.join(FIXTURES, "quantized", "gptq"), tmp_path / "gptq")
    config = json.load(open(folder / "config.json"))
    config["quantization_config"].update(dataset="c4", tokenizer=None)
    (folder / "config.json").write_text(json.dumps(config))
    model = henkan.AutoModelForCausalLM.from_pretrained(folder)
    assert isinstance(model.model.layers[0].self_attn.q_proj, QuantLinear)


@pytest.mark.parametrize("name", ["wikitext2", "c4"])
def test_named_dataset_windows(tiny, tokenizer, monkeypatch, name):
    """A named dataset is read with `datasets` (stubbed here: no network) into windows of model_seqlen tokens."""
    datasets = pytest.importorskip("datasets")
    asked = []

    def load_dataset(path, *args, **kwargs):
        asked.append(path)
        text = " ".join(TEXTS)
        return {"text": [text, ""] * 3} if path == "wikitext" else [{"text": "short"}, {"text": text}]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(henkan.hub, "hub_reachable", lambda: True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    config = henkan.GPTQConfig(bits=4, dataset=name, tokenizer=tokenizer, group_size=64, model_seqlen=24)
    batches = calibration_batches(config, henkan.AutoModelForCausalLM.from_pretrained(tiny))
    assert asked == [{"wikitext2": "wikitext", "c4": "allenai/c4"}[name]]
    assert len(batches) == 128 and all(b["input_ids"].shape == (1, 24) for b in batches)


# hostile inputs ----------------------------------------------------------------------------------------------------
def test_named_dataset_offline_fails_fast(tiny, tokenizer, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = henkan.GPTQConfig(bits=4, dataset="c4", tokenizer=tokenizer)
    with pytest.raises(ValueError, match=r"dataset='c4'.*offline.*list of strings"):
        henkan.AutoModelForCausalLM.from_pretrained(tiny, quantization_config=config)


@pytest.mark.parametrize("options,match", [
    ({"dataset": TEXTS}, "no tokenizer"),
    ({"dataset": TEXTS, "tokenizer": TOKENIZER, "bits": 8}, "bits=8.*4-bit"),
    ({"dataset": TEXTS, "tokenizer": TOKENIZER, "group_size": 48}, "group_size"),
    ({"dataset": TEXTS, "tokenizer": TOKENIZER, "block_name_to_quantize": "model.norm"}, "block_name_to_quantize"),
    ({"dataset": [], "tokenizer": TOKENIZER}, "no tokens"),
])
def test_unusable_calibration_requests_say_why(tiny, options, match):
    config = henkan.GPTQConfig(**{"bits": 4, **options})
    with pytest.raises(ValueError, match=match):
        henkan.AutoModelForCausalLM.from_pretrained(tiny, quantization_config=config)


@pytest.mark.parametrize("options,match", [({"dataset": 3}, "list of calibration texts"),
                                           ({"dataset": "ptb"}, "list of calibration texts"),
                                           ({"damp_percent": 0}, "damp_percent")])
def test_malformed_gptq_config_is_refused(options, match):
    with pytest.raises(ValueError, match=match):
        henkan.GPTQConfig(bits=4, **options)
