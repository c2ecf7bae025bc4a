"""CPM-Ant (model, generation, tokenizer) against the reference's goldens.

The fixtures come from tests/fixtures/make_cpmant.py (see its docstring): forward outputs, the loss and the
tokenizer's outputs are 4.57's; generation is 5.x's where 4.57 fails (cached decoding and beam search crash there,
and its greedy search can pick the prompt slots' logits, which are no tokens: 5.x fixed those bugs, so henkan
follows it), and 4.57's too where it runs (greedy without the cache, which gives 5.x's tokens on this fixture)."""

import json
import os
import sys

import pytest
import torch
from safetensors.torch import load_file

import henkan
from conftest import FIXTURES

CPMANT = os.path.join(FIXTURES, "cpmant")
GOLDEN = load_file(os.path.join(CPMANT, "golden.safetensors"))
GOLDEN_V5 = load_file(os.path.join(CPMANT, "golden_v5.safetensors"))
with open(os.path.join(CPMANT, "tokenization.json"), encoding="utf-8") as _f:
    TOKENIZATION = json.load(_f)
ATOL = 1e-4


@pytest.fixture(scope="module")
def model():
    return henkan.AutoModelForCausalLM.from_pretrained(CPMANT).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return henkan.AutoTokenizer.from_pretrained(CPMANT)


# ------------------------------------------------------------------------------------------------------- model


@pytest.mark.parametrize("batch", ["left", "zeros"])
def test_forward_equals_the_reference(model, batch):
    assert type(model).__name__ == "CpmAntForCausalLM"
    with torch.no_grad():
        out = model(GOLDEN[f"input.{batch}.input_ids"], output_hidden_states=True, output_attentions=True,
                    use_cache=False)
    torch.testing.assert_close(out.logits, GOLDEN[f"output.{batch}.logits"], atol=ATOL, rtol=0)
    for field in ("hidden_states", "attentions"):
        expected = [v for k, v in sorted(GOLDEN.items()) if k.startswith(f"output.{batch}.{field}.")]
        assert len(out[field]) == len(expected)
        for got, want in zip(out[field], expected):
            torch.testing.assert_close(got, want, atol=ATOL, rtol=0)


def test_loss_equals_the_reference(model):
    with torch.no_grad():
        loss = model(GOLDEN["input.left.input_ids"], labels=GOLDEN["input.labels"]).loss
    torch.testing.assert_close(loss, GOLDEN["output.loss"], atol=0, rtol=1e-6)


def test_base_model_and_tuple_outputs(model):
    ids = GOLDEN["input.left.input_ids"]
    base = henkan.CpmAntModel.from_pretrained(CPMANT).eval()
    with torch.no_grad():
        hidden = base(ids, use_cache=False).last_hidden_state
        torch.testing.assert_close(model.lm_head(hidden), GOLDEN["output.left.logits"], atol=ATOL, rtol=0)
        logits, cache = model(ids, return_dict=False)
    assert isinstance(cache, henkan.DynamicCache) and cache.get_seq_length() == 3 + ids.shape[1]
    torch.testing.assert_close(logits, GOLDEN["output.left.logits"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("which", ["single", "batch"])
@pytest.mark.parametrize("mode", ["greedy", "beam"])
@pytest.mark.parametrize("cache", ["cache", "nocache"])
def test_generate_equals_the_reference(model, which, mode, cache):
    options = dict(max_new_tokens=8) if mode == "greedy" else dict(num_beams=3, max_new_tokens=6)
    out = model.generate(GOLDEN[f"generate.{which}.input_ids"], do_sample=False, use_cache=cache == "cache",
                         **options)
    assert torch.equal(out, GOLDEN_V5[f"generate.{mode}.{cache}.{which}"])
    if (mode, cache) == ("greedy", "nocache"):  # the one search 4.57 runs
        assert torch.equal(out, GOLDEN[f"generate.greedy_nocache.{which}"])


def test_generation_leaves_out_the_prompt_slots(model):
    out = model.generate(GOLDEN["generate.single.input_ids"], do_sample=False, max_new_tokens=4,
                         output_scores=True, return_dict_in_generate=True)
    assert all(score.shape[-1] == model.config.vocab_size for score in out.scores)


def test_gradients_reach_the_weights_but_not_the_position_table(model, tmp_path):
    trained = henkan.CpmAntForCausalLM.from_pretrained(CPMANT).train()
    trained(GOLDEN["input.left.input_ids"], labels=GOLDEN["input.labels"]).loss.backward()
    assert trained.cpmant.input_embedding.weight.grad is not None
    assert trained.cpmant.encoder.layers[0].ffn.ffn.w_in.w_0.weight.grad is not None
    assert trained.cpmant.position_bias.relative_attention_bias.grad is None  # (as the reference reads it)


def test_save_and_reload(model, tmp_path):
    model.save_pretrained(tmp_path)
    saved = set(load_file(os.path.join(tmp_path, "model.safetensors")))
    assert saved == set(load_file(os.path.join(CPMANT, "model.safetensors")))  # the reference's keys (head tied)
    again = henkan.CpmAntForCausalLM.from_pretrained(tmp_path).eval()
    assert again.lm_head.weight is again.cpmant.input_embedding.weight
    with torch.no_grad():
        torch.testing.assert_close(again(GOLDEN["input.left.input_ids"]).logits, GOLDEN["output.left.logits"],
                                   atol=ATOL, rtol=0)


def test_auto_classes_and_module_paths():
    from henkan.models.cpmant.configuration_cpmant import CpmAntConfig
    from henkan.models.cpmant.modeling_cpmant import CpmAntForCausalLM
    from henkan.models.cpmant.tokenization_cpmant import CpmAntTokenizer

    assert CpmAntForCausalLM is henkan.CpmAntForCausalLM and CpmAntTokenizer is henkan.CpmAntTokenizer
    config = henkan.AutoConfig.from_pretrained(CPMANT)
    assert type(config) is CpmAntConfig and config.prompt_length == 3
    assert type(henkan.AutoModel.from_pretrained(CPMANT)).__name__ == "CpmAntModel"
    default = CpmAntConfig()
    assert (default.vocab_size, default.dim_head, default.prompt_types, default.segment_types) == (30720, 128, 32, 32)


def test_the_model_page_example(model, tokenizer):
    """The reference's example for CpmAntForCausalLM, on the local checkpoint (openbmb/cpm-ant-10b is 10B)."""
    texts = "今天天气不错，"
    model = henkan.CpmAntForCausalLM.from_pretrained(CPMANT)
    tokenizer = henkan.CpmAntTokenizer.from_pretrained(CPMANT)
    input_ids = tokenizer(texts, return_tensors="pt")
    outputs = model.generate(**input_ids)
    output_texts = tokenizer.batch_decode(outputs)
    assert input_ids["input_ids"].tolist() == [TOKENIZATION["sample"]["input_ids"]]
    assert outputs.tolist() == GOLDEN_V5["sample.generated"].tolist()
    assert output_texts == TOKENIZATION["sample"]["decoded"]


# ---------------------------------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize("case", TOKENIZATION["cases"], ids=lambda case: repr(case["text"])[:24])
def test_tokenizer_equals_the_reference(tokenizer, case):
    text = case["text"]
    assert tokenizer.tokenize(text) == case["tokens"]
    assert tokenizer(text)["input_ids"] == case["ids"]
    assert tokenizer(text, add_special_tokens=False)["input_ids"] == case["ids_plain"]
    assert tokenizer.decode(case["ids"]) == case["decoded"]
    assert tokenizer.decode(torch.tensor(case["ids"]), skip_special_tokens=True) == case["decoded_skip"]


def test_tokenizer_batches_pairs_and_special_ids(tokenizer):
    texts = [case["text"] for case in TOKENIZATION["cases"][:3]]
    assert tokenizer.padding_side == "left"
    assert {k: list(v) for k, v in tokenizer(texts, padding=True).items()} == TOKENIZATION["batch"]
    first, second = texts[:2]
    assert dict(tokenizer(first, second)) == TOKENIZATION["pair"]
    ids = TOKENIZATION["odd_ids"]
    assert tokenizer.decode(ids) == TOKENIZATION["odd_decoded"]
    assert tokenizer.decode(ids + [-100], skip_special_tokens=True) == TOKENIZATION["odd_decoded_skip"]
    assert (tokenizer.vocab_size, len(tokenizer)) == (TOKENIZATION["vocab_size"], TOKENIZATION["len"])
    special = TOKENIZATION["special_ids"]
    got = {name: getattr(tokenizer, f"{name}_token_id") for name in ("bos", "eos", "pad", "unk", "bod", "eod")}
    assert {**got, "newline": tokenizer.newline_id} == special


def test_tokenizer_save_and_reload(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    with open(os.path.join(tmp_path, "vocab.txt"), encoding="utf-8") as a, \
            open(os.path.join(CPMANT, "vocab.txt"), encoding="utf-8") as b:
        assert a.read() == b.read()
    with open(os.path.join(tmp_path, "tokenizer_config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["tokenizer_class"] == "CpmAntTokenizer" and saved["space_token"] == "</_>"
    again = henkan.AutoTokenizer.from_pretrained(tmp_path)
    for case in TOKENIZATION["cases"]:
        assert again(case["text"])["input_ids"] == case["ids"]


# ---------------------------------------------------------------------------------------------------- bad input


def test_missing_rjieba_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "rjieba", None)
    with pytest.raises(ModuleNotFoundError, match=r"`rjieba`.*pip install rjieba.*henkan\[zh\]"):
        henkan.CpmAntTokenizer.from_pretrained(CPMANT)


def test_vocabulary_without_the_space_token(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("<pad>\n<unk>\n<s>\n</s>\n</n>\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.txt has no line '</_>', the space_token"):
        henkan.CpmAntTokenizer(str(path))


def test_bad_model_inputs(model):
    ids = GOLDEN["input.left.input_ids"]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(ids + model.config.vocab_size)
    with torch.no_grad():
        cache = model(ids).past_key_values
        with pytest.raises(ValueError, match="whole sequence so far"):
            model(ids[:, -1:], past_key_values=cache)
    with pytest.raises(TypeError, match="unexpected keyword argument.*token_type_ids"):
        model(ids, token_type_ids=ids)
    with pytest.raises(NotImplementedError, match="DynamicCache only, not a StaticCache"):
        model.generate(ids, max_new_tokens=2, cache_implementation="static")


def test_a_head_in_the_layout_of_transformers_5_is_explained(tmp_path):
    from safetensors.torch import save_file

    model = henkan.CpmAntForCausalLM.from_pretrained(CPMANT)
    model.save_pretrained(tmp_path)
    state = load_file(os.path.join(tmp_path, "model.safetensors"))
    state["lm_head.weight"] = state["cpmant.input_embedding.weight"][:model.config.vocab_size].clone()
    save_file(state, os.path.join(tmp_path, "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(RuntimeError, match=r"lm_head.weight: checkpoint \[90, 32\].*untied head of transformers 5"):
        henkan.CpmAntForCausalLM.from_pretrained(tmp_path)
    tied = henkan.CpmAntForCausalLM.from_pretrained(tmp_path, ignore_mismatched_sizes=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(tied(GOLDEN["input.left.input_ids"]).logits, GOLDEN["output.left.logits"],
                                   atol=ATOL, rtol=0)


@pytest.mark.parametrize("key, value", [("prompt_types", 2), ("segment_types", 1), ("dim_head", 0), ("eps", -1.0)])
def test_bad_config_values(key, value):
    with pytest.raises(ValueError, match=key):
        henkan.CpmAntConfig(**{key: value})


# ------------------------------------------------------------------------------------------ reference interop


def test_the_reference_loads_what_henkan_saves(model, tokenizer, tmp_path):
    transformers = pytest.importorskip("transformers")
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    theirs, info = transformers.CpmAntForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info
    with torch.no_grad():
        logits = theirs.eval()(GOLDEN["input.left.input_ids"]).logits
    torch.testing.assert_close(logits, GOLDEN["output.left.logits"], atol=1e-5, rtol=0)
    their_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    assert type(their_tokenizer).__name__ == "CpmAntTokenizer"
    for case in TOKENIZATION["cases"]:
        assert their_tokenizer(case["text"])["input_ids"] == case["ids"]
