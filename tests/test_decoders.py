"""Decoder families (GPT-2, Llama/Mistral/Qwen2, Phi-3, Gemma, Gemma 2, StableLM, Mixtral, OPT, BLOOM, CodeGen, GPT-J,
GPT-Neo, GPT-NeoX, Phi, Falcon, BioGPT, CTRL) and the KV caches against reference goldens.

The fixtures come from tests/fixtures/make_decoders.py (see its docstring)."""

import json
import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import henkan
from conftest import FIXTURES
from henkan.cache import DynamicCache, StaticCache

DECODERS = os.path.join(FIXTURES, "decoders")
FOLDERS = sorted(f for f in os.listdir(DECODERS) if os.path.isdir(os.path.join(DECODERS, f)))
CAUSAL = [f for f in FOLDERS if not f.endswith("forsequenceclassification")]
CHAT = ["phi3", "phi3-longrope", "gemma", "gemma2", "stablelm", "stablelm-2", "mixtral", "opt", "opt-350m", "gptj",
        "gpt_neox", "phi", "falcon", "falcon-new", "falcon-rw", "gpt_neo", "biogpt", "ctrl"]
GENERATES = ["gpt2", "llama", "mistral", "qwen2", "bloom"] + CHAT
LENGTH_DEPENDENT = ("llama-rope-dynamic", "llama-rope-longrope", "phi3-longrope")  # angles that change past a length
ATOL = 1e-5


def golden(folder):
    with safe_open(os.path.join(DECODERS, folder, "golden.safetensors"), "pt") as f:
        return f.metadata()["class"], {k: f.get_tensor(k) for k in f.keys()}


_MODELS = {}


def model_for(folder, **kwargs):
    key = (folder, tuple(sorted(kwargs.items(), key=str)))
    if key not in _MODELS:
        class_name, _ = golden(folder)
        _MODELS[key] = getattr(henkan, class_name).from_pretrained(os.path.join(DECODERS, folder), **kwargs)
    return _MODELS[key]


def batch(data, name):
    return {k: data[f"input.{name}.{k}"] for k in ("input_ids", "attention_mask")}


def close(actual, expected, atol=ATOL, msg=""):
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0, msg=lambda m: f"{msg}: {m}")


# goldens ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", FOLDERS)
def test_goldens(folder):
    _, data = golden(folder)
    model = model_for(folder)
    with torch.no_grad():
        for name in ("right", "left"):
            inputs = batch(data, name)
            out = model(**inputs, output_hidden_states=True, output_attentions=True, use_cache=False)
            close(out.logits, data[f"output.{name}.logits"], msg=f"{folder} {name} logits")
            for field in ("hidden_states", "attentions"):
                if f"output.{name}.{field}.0" not in data:  # (falcon-rw: see make_decoders.py)
                    continue
                expected = [data[f"output.{name}.{field}.{i}"] for i in range(len(out[field]))]
                assert f"output.{name}.{field}.{len(expected)}" not in data
                for i, (a, b) in enumerate(zip(out[field], expected)):
                    close(a, b, msg=f"{folder} {name} {field}.{i}")
            # the fast path (SDPA / grouped decode matmul, no weights) gives the same logits
            close(model(**inputs, use_cache=False).logits, data[f"output.{name}.logits"], msg=f"{folder} {name} sdpa")
        loss = model(**batch(data, "right"), labels=data["input.labels"], use_cache=False).loss
    close(loss, data["output.loss"], msg=f"{folder} loss")


def test_config_reprs_match_reference():
    with open(os.path.join(DECODERS, "reprs.json"), encoding="utf-8") as f:
        reprs = json.load(f)
    for key, expected in reprs.items():
        if key.startswith("default:"):
            config = getattr(henkan, key[len("default:"):])()
        else:
            config = henkan.AutoConfig.from_pretrained(os.path.join(DECODERS, key))
        got = "\n".join(line for line in repr(config).splitlines() if '"transformers_version"' not in line)
        assert got == expected, key


@pytest.mark.parametrize("folder", FOLDERS)
def test_auto_classes(folder):
    class_name, _ = golden(folder)
    path = os.path.join(DECODERS, folder)
    auto = henkan.AutoModelForSequenceClassification if "Sequence" in class_name else henkan.AutoModelForCausalLM
    assert type(auto.from_pretrained(path)).__name__ == class_name
    assert type(henkan.AutoModel.from_pretrained(path)).__name__.endswith("Model")


# the cache ----------------------------------------------------------------------------------------------------------


def greedy(model, input_ids, attention_mask, new_tokens, cache=None, static=False):
    """A minimal greedy loop over the model's forward (no GenerationMixin): prefill, then one token per step
    (positions counted over the mask, or, for a family whose reference generates without them (CTRL), none)."""
    config = model.config
    mask = attention_mask
    if static:
        cache = StaticCache(config, max_batch_size=input_ids.shape[0], max_cache_len=input_ids.shape[1] + new_tokens)
    cache = cache if cache is not None else DynamicCache()
    tokens, ids = input_ids, input_ids
    position = torch.arange(input_ids.shape[1])
    done = torch.zeros(input_ids.shape[0], dtype=torch.bool)
    steps = []
    for _ in range(new_tokens):
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)[:, -ids.shape[1]:]
        if not model._positions_from_mask:
            positions = None
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                    use_cache=True, cache_position=position if static else None, logits_to_keep=1)
        cache = out.past_key_values
        steps.append(out.logits[:, -1])
        nxt = out.logits[:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, config.pad_token_id), nxt)
        done |= nxt == config.eos_token_id
        tokens = torch.cat([tokens, nxt[:, None]], dim=1)
        mask = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], dim=1)
        ids, position = nxt[:, None], position[-1:] + 1
        if bool(done.all()):
            break
    return tokens, torch.stack(steps, 1)


@pytest.mark.parametrize("folder", GENERATES)
def test_greedy_tokens_match_reference_generate(folder):
    _, data = golden(folder)
    model = model_for(folder)
    with torch.no_grad():
        single = data["generate.single.input_ids"]
        tokens, _ = greedy(model, single, torch.ones_like(single), 8)
        assert tokens.tolist() == data["generate.greedy.single"].tolist()
        tokens, _ = greedy(model, data["generate.batch.input_ids"], data["generate.batch.attention_mask"], 8)
        assert tokens.tolist() == data["generate.greedy.batch"].tolist()


@pytest.mark.parametrize("folder", CHAT)
def test_generate_matches_reference(folder):
    """generate(): greedy and beam search, a single prompt and a left-padded batch, the dynamic and the static cache.
    phi3-longrope's 14 tokens pass its trained length (8): the cache is recomputed once on the way, and the tokens
    are those of generating without a cache (5.x's; 4.57's recomputation is not causal, see make_decoders.py)."""
    _, data = golden(folder)
    model = model_for(folder)
    single = data["generate.single.input_ids"]
    batch, mask = data["generate.batch.input_ids"], data["generate.batch.attention_mask"]
    for options in ({}, {"cache_implementation": "static"}):
        assert torch.equal(model.generate(single, max_new_tokens=8, do_sample=False, **options),
                           data["generate.greedy.single"])
        assert torch.equal(model.generate(batch, attention_mask=mask, max_new_tokens=8, do_sample=False, **options),
                           data["generate.greedy.batch"])
        assert torch.equal(model.generate(single, num_beams=3, max_new_tokens=6, do_sample=False, **options),
                           data["generate.beam.single"])
        assert torch.equal(model.generate(batch, attention_mask=mask, num_beams=3, max_new_tokens=6, do_sample=False,
                                          **options), data["generate.beam.batch"])


def test_mixtral_router_logits_and_auxiliary_loss():
    _, data = golden("mixtral")
    model = model_for("mixtral")
    inputs = batch(data, "right")
    with torch.no_grad():
        out = model(**inputs, labels=data["input.labels"], use_cache=False, output_router_logits=True)
        plain = model(**inputs, labels=data["input.labels"], use_cache=False)
        base = model.model(**inputs, output_router_logits=True)
    assert len(out.router_logits) == model.config.num_hidden_layers
    for i, logits in enumerate(out.router_logits):
        close(logits, data[f"output.router_logits.{i}"], msg=f"router logits {i}")
        close(base.router_logits[i], logits, msg="base model")
    close(out.aux_loss, data["output.aux_loss"], msg="aux loss")
    close(out.loss, data["output.loss_with_aux"], msg="loss with aux")
    close(plain.loss, data["output.loss"], msg="loss")
    assert plain.aux_loss is None and plain.router_logits is None
    assert list(out.keys()) == ["loss", "aux_loss", "logits", "router_logits"]


def test_gemma2_soft_capping_bounds_logits_and_windows_hide_far_keys():
    _, data = golden("gemma2")
    model = model_for("gemma2")
    assert model.config.layer_types == ["sliding_attention", "full_attention"]
    with torch.no_grad():
        out = model(**batch(data, "right"), output_attentions=True, use_cache=False)
    assert out.logits.abs().max() < model.config.final_logit_softcapping
    sliding, full = out.attentions
    assert (sliding[0, :, 9, :6] == 0).all() and (full[0, :, 9, :6] > 0).all()


@pytest.mark.skipif(not henkan.layers._onednn(), reason="this PyTorch build has no oneDNN")
@pytest.mark.parametrize("folder", GENERATES)
def test_onednn_matmuls_keep_the_goldens(folder, monkeypatch):
    """The tiny fixtures' weights are below the size that takes oneDNN's matmul: force it, and the logits and greedy
    tokens still match the reference's."""
    monkeypatch.setattr(henkan.layers, "_ONEDNN_MIN_WEIGHT", 0)
    _, data = golden(folder)
    model = model_for(folder)
    with torch.no_grad():
        for name in ("right", "left"):
            close(model(**batch(data, name), use_cache=False).logits, data[f"output.{name}.logits"], msg=folder)
        tokens, _ = greedy(model, data["generate.batch.input_ids"], data["generate.batch.attention_mask"], 8)
    assert tokens.tolist() == data["generate.greedy.batch"].tolist()


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_conv1d_one_row_splits_over_threads_with_the_same_result(threads):
    """GPT-2's Conv1D splits a one-row product into a block of weight rows per thread (as many as divide the
    inputs): equal to the whole product, gradients included, and rows beyond one take the plain matmul."""
    torch.manual_seed(0)
    layer = henkan.layers.Conv1D(24, 40)
    x = torch.randn(1, 1, 40, requires_grad=True)
    kept = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert henkan.layers._row_blocks(40) == {1: 1, 2: 2, 5: 5}[threads]
        out = layer(x)
        out.sum().backward()
    finally:
        torch.set_num_threads(kept)
    torch.testing.assert_close(out, x @ layer.weight + layer.bias)
    torch.testing.assert_close(x.grad, layer.weight.sum(1).expand(1, 1, 40))
    rows = torch.randn(3, 40)
    torch.testing.assert_close(layer(rows), rows @ layer.weight + layer.bias)


@pytest.mark.parametrize("folder", [f for f in CAUSAL if f not in LENGTH_DEPENDENT])
def test_incremental_decoding_equals_full_forward(folder):
    _, data = golden(folder)
    model = model_for(folder)
    ids = data["input.left.input_ids"]
    mask = data["input.left.attention_mask"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
        cache, prefill = None, 4
        out = model(input_ids=ids[:, :prefill], attention_mask=mask[:, :prefill], position_ids=positions[:, :prefill],
                    use_cache=True)
        real = mask[:, :prefill].bool()  # padding positions attend to nothing real: garbage either way
        close(out.logits[real], full[:, :prefill][real], msg=f"{folder} prefill")
        cache = out.past_key_values
        assert isinstance(cache, DynamicCache) and cache.get_seq_length() == prefill
        for t in range(prefill, ids.shape[1]):
            out = model(input_ids=ids[:, t:t + 1], attention_mask=mask[:, :t + 1], position_ids=positions[:, t:t + 1],
                        past_key_values=cache, use_cache=True)
            real = mask[:, t].bool()  # rows still on padding compute garbage either way
            close(out.logits[real, 0], full[real, t], msg=f"{folder} step {t}")
        # several tokens at once on top of a cache (chunked prefill) works too
        cache.crop(prefill)
        out = model(input_ids=ids[:, prefill:], attention_mask=mask, position_ids=positions[:, prefill:],
                    past_key_values=cache, use_cache=True)
        close(out.logits, full[:, prefill:], msg=f"{folder} chunk")


@pytest.mark.parametrize("folder", ["llama", "gpt2", "bloom", "codegen", "mistral", "qwen2"])
def test_static_cache_equals_dynamic_cache(folder):
    _, data = golden(folder)
    model = model_for(folder)
    ids, mask = data["input.left.input_ids"][:, :6], data["input.left.attention_mask"][:, :6]
    with torch.no_grad():
        dyn_tokens, dyn_logits = greedy(model, ids, mask, 5)
        static_tokens, static_logits = greedy(model, ids, mask, 5, static=True)
    assert dyn_tokens.tolist() == static_tokens.tolist()
    close(static_logits, dyn_logits, msg=folder)


@pytest.mark.parametrize("folder", ["llama", "gpt2", "bloom", "codegen"])
def test_legacy_tuple_cache_accepted(folder):
    _, data = golden(folder)
    model = model_for(folder)
    ids = data["input.right.input_ids"][:1]
    with torch.no_grad():
        out = model(input_ids=ids[:, :5], use_cache=True)
        legacy = out.past_key_values.to_legacy_cache()
        assert isinstance(legacy, tuple) and len(legacy) == model.config.num_hidden_layers
        assert legacy[0][0].shape[2] == 5
        step = model(input_ids=ids[:, 5:6], past_key_values=legacy, use_cache=True)
        full = model(input_ids=ids[:, :6], use_cache=False).logits
    assert isinstance(step.past_key_values, DynamicCache)
    close(step.logits[:, 0], full[:, 5], msg=folder)


@pytest.mark.parametrize("folder", [f for f in CAUSAL if f not in LENGTH_DEPENDENT])
def test_left_padding_equals_unpadded_rows(folder):
    _, data = golden(folder)
    model = model_for(folder)
    ids, mask = data["input.left.input_ids"], data["input.left.attention_mask"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        padded = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
        for row in range(ids.shape[0]):
            real = mask[row].bool()
            alone = model(input_ids=ids[row:row + 1, real], use_cache=False).logits[0]
            close(padded[row, real], alone, msg=f"{folder} row {row}")


def test_logits_to_keep_and_inputs_embeds():
    _, data = golden("llama")
    model = model_for("llama")
    inputs = batch(data, "right")
    with torch.no_grad():
        full = model(**inputs, use_cache=False).logits
        last = model(**inputs, use_cache=False, logits_to_keep=1).logits
        embeds = model(inputs_embeds=model.get_input_embeddings()(inputs["input_ids"]),
                       attention_mask=inputs["attention_mask"], use_cache=False).logits
        as_tuple = model(**inputs, use_cache=False, return_dict=False)
    assert last.shape == (2, 1, full.shape[-1])
    close(last[:, 0], full[:, -1])
    close(embeds, full)
    close(as_tuple[0], full)


@pytest.mark.parametrize("folder", ["llama", "gpt2", "bloom", "codegen", "qwen2"])
def test_bf16_runs(folder):
    _, data = golden(folder)
    model = model_for(folder, torch_dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16
    inputs = batch(data, "right")
    with torch.no_grad():
        out = model(**inputs, use_cache=True)
        step = model(input_ids=inputs["input_ids"][:, -1:], attention_mask=torch.cat(
            [inputs["attention_mask"], torch.ones(2, 1, dtype=torch.long)], 1), past_key_values=out.past_key_values)
    assert torch.isfinite(out.logits.float()).all() and torch.isfinite(step.logits.float()).all()
    real = inputs["attention_mask"].bool()
    expected = data["output.right.logits"]
    assert (out.logits.float() - expected)[real].abs().max() < 0.25 * expected.abs().max()


@pytest.mark.parametrize("folder", FOLDERS)
def test_save_pretrained_round_trip(folder, tmp_path):
    class_name, _ = golden(folder)
    model = getattr(henkan, class_name).from_pretrained(os.path.join(DECODERS, folder))
    model.save_pretrained(tmp_path)
    with safe_open(os.path.join(DECODERS, folder, "model.safetensors"), "pt") as f:
        expected_keys = set(f.keys())
    with safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as f:
        assert set(f.keys()) == expected_keys
    with open(os.path.join(DECODERS, folder, "config.json"), encoding="utf-8") as f:
        expected_config = json.load(f)
    with open(os.path.join(tmp_path, "config.json"), encoding="utf-8") as f:
        saved_config = json.load(f)
    ignore = {"transformers_version", "dtype", "torch_dtype"}
    assert {k: v for k, v in saved_config.items() if k not in ignore} == {
        k: v for k, v in expected_config.items() if k not in ignore}
    state = load_file(os.path.join(tmp_path, "model.safetensors"))
    reference = load_file(os.path.join(DECODERS, folder, "model.safetensors"))
    assert all(torch.equal(state[k], reference[k]) for k in reference)


def test_tied_and_untied_heads_and_resize():
    gpt2 = henkan.GPT2LMHeadModel.from_pretrained(os.path.join(DECODERS, "gpt2"))
    assert gpt2.lm_head.weight is gpt2.transformer.wte.weight
    gpt2.resize_token_embeddings(110)
    assert gpt2.lm_head.weight is gpt2.transformer.wte.weight and gpt2.lm_head.weight.shape[0] == 110
    assert gpt2(input_ids=torch.tensor([[105, 3, 4]])).logits.shape == (1, 3, 110)
    llama = henkan.LlamaForCausalLM.from_pretrained(os.path.join(DECODERS, "llama"))
    assert llama.lm_head.weight is not llama.model.embed_tokens.weight
    before = llama.lm_head.weight[:100].clone()
    llama.resize_token_embeddings(104)
    assert llama.lm_head.weight.shape == (104, 64) and torch.equal(llama.lm_head.weight[:100], before)
    assert llama.config.vocab_size == 104
    assert llama(input_ids=torch.tensor([[103, 3]])).logits.shape == (1, 2, 104)


def test_from_config_random_init_runs():
    for config in (henkan.LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=24, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1),
                   henkan.GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=16),
                   henkan.BloomConfig(vocab_size=50, hidden_size=16, n_layer=1, n_head=2),
                   henkan.CodeGenConfig(vocab_size=50, n_embd=16, n_layer=1, n_head=4, rotary_dim=2, n_positions=16,
                                        n_ctx=16)):
        model = henkan.AutoModelForCausalLM.from_config(config)
        out = model(input_ids=torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]]))
        assert torch.isfinite(out.loss)
        out.loss.backward()  # training through the cache path works (no in-place writes under autograd)


# errors -------------------------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    llama, gpt2, codegen = model_for("llama"), model_for("gpt2"), model_for("codegen")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        llama(input_ids=torch.tensor([[1, 100]]))
    with pytest.raises(ValueError, match=r"\[batch, sequence\]"):
        llama(input_ids=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        llama(input_ids=torch.tensor([[1, 2]]), inputs_embeds=torch.zeros(1, 2, 64))
    with pytest.raises(ValueError, match="attention_mask"):
        llama(input_ids=torch.tensor([[1, 2]]), attention_mask=torch.ones(1, 1, 2))
    with pytest.raises(ValueError, match="max_position_embeddings"):
        gpt2(input_ids=torch.ones(1, 33, dtype=torch.long))
    out = gpt2(input_ids=torch.ones(1, 32, dtype=torch.long), use_cache=True)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        gpt2(input_ids=torch.ones(1, 1, dtype=torch.long), past_key_values=out.past_key_values)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        codegen(input_ids=torch.ones(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="positions for 32 only"):  # CTRL's sinusoidal table has n_positions rows
        model_for("ctrl")(input_ids=torch.ones(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="positions for 64 only"):  # BioGPT's learned table
        model_for("biogpt")(input_ids=torch.ones(1, 65, dtype=torch.long))
    with pytest.raises(TypeError, match="past_key_values"):
        llama(input_ids=torch.tensor([[1, 2]]), past_key_values="nope")
    classifier = model_for("llama-forsequenceclassification")
    classifier.config.pad_token_id, pad = None, classifier.config.pad_token_id
    try:
        with pytest.raises(ValueError, match="no padding token"):
            classifier(input_ids=torch.tensor([[3, 4], [5, 6]]))
    finally:
        classifier.config.pad_token_id = pad


# the cache classes --------------------------------------------------------------------------------------------------


def test_dynamic_cache_operations():
    cache = DynamicCache()
    k = torch.arange(2 * 3 * 4 * 2, dtype=torch.float32).view(2, 3, 4, 2)
    keys, values = cache.update(k, -k, 0)
    assert torch.equal(keys, k) and torch.equal(values, -k)
    cache.update(k[:, :, :1] + 100, -k[:, :, :1], 0)
    assert cache.get_seq_length() == 5 and len(cache) == 1 and cache.get_max_cache_shape() == -1
    for _ in range(300):  # growth past the first allocation keeps the contents
        cache.update(k[:, :, :1], k[:, :, :1], 0)
    assert cache.get_seq_length() == 305 and torch.equal(cache[0][0][:, :, :4], k)
    cache.crop(4)
    assert cache.get_seq_length() == 4
    cache.crop(-1)
    assert cache.get_seq_length() == 3
    legacy = cache.to_legacy_cache()
    again = DynamicCache.from_legacy_cache(legacy)
    assert torch.equal(again[0][0], k[:, :, :3])
    again.reorder_cache(torch.tensor([1, 0]))
    assert torch.equal(again[0][0], k[[1, 0], :, :3])
    again.batch_repeat_interleave(2)
    assert again[0][0].shape[0] == 4 and torch.equal(again[0][0][0], again[0][0][1])
    again.batch_select_indices(torch.tensor([0, 2]))
    assert torch.equal(again[0][0], k[[1, 0], :, :3])
    assert [kv[0].shape for kv in again] == [torch.Size([2, 3, 3, 2])]


def test_static_cache_operations():
    config = henkan.LlamaConfig(hidden_size=8, num_attention_heads=2, num_key_value_heads=1, num_hidden_layers=2)
    cache = StaticCache(config, max_batch_size=1, max_cache_len=6)
    assert cache.get_max_cache_shape() == 6 and len(cache) == 2 and cache.get_seq_length() == 0
    k = torch.randn(1, 1, 3, 4)
    keys, _ = cache.update(k, k, 0, {"cache_position": torch.arange(3)})
    assert keys.shape == (1, 1, 6, 4) and torch.equal(keys[:, :, :3], k)
    assert cache.get_seq_length() == 3
    cache.update(k[:, :, :1], k[:, :, :1], 0, {"cache_position": torch.tensor([3])})
    assert cache.get_seq_length() == 4
    cache.reset()
    assert cache.get_seq_length() == 0


def test_unknown_arguments_are_errors_for_bases_and_heads():
    for name in ("llama", "gpt2", "bloom", "codegen"):
        model = henkan.AutoModelForCausalLM.from_pretrained(os.path.join(DECODERS, name))
        for target in (model, model.base_model):
            with pytest.raises(TypeError, match="not_an_argument"):
                target(torch.tensor([[1, 2, 3]]), not_an_argument=1)


def test_phi3_fused_projections_that_do_not_split_by_heads(tmp_path):
    source = os.path.join(DECODERS, "phi3")
    for name in os.listdir(source):
        if name != "golden.safetensors":
            with open(os.path.join(source, name), "rb") as f, open(tmp_path / name, "wb") as g:
                g.write(f.read())
    with open(tmp_path / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    config["num_key_value_heads"] = 4  # the checkpoint's qkv_proj has 4 + 2 x 2 heads of 8 rows
    with open(tmp_path / "config.json", "w", encoding="utf-8") as f:
        json.dump(config, f)
    with pytest.raises(RuntimeError, match=r"qkv_proj.weight: checkpoint \[64, 32\], model \[96, 32\] \(the fused "
                                           r"q/k/v rows: 4 query heads \+ 2 x 4 key/value heads"):
        henkan.Phi3ForCausalLM.from_pretrained(tmp_path)


def test_stablelm_2_tokenizer_is_remote_code_and_refused_by_name(tmp_path):
    """StableLM 2's tokenizer (japanese-stablelm-2-base-1_6b) is a tiktoken rank file read by code in the model
    repository (`auto_map`), which henkan never runs: the error names that code, with or without trust_remote_code."""
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "stablelm"}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "auto_map": {"AutoTokenizer": ["tokenization_arcade100k.Arcade100kTokenizer", None]},
        "tokenizer_class": "Arcade100kTokenizer", "eos_token": "<|endoftext|>"}))
    (tmp_path / "arcade100k.tiktoken").write_text("IQ== 0\nIg== 1\n")
    for trust in (False, True):
        with pytest.raises(ValueError, match=r"tokenization_arcade100k\.Arcade100kTokenizer.*does not run code"):
            henkan.AutoTokenizer.from_pretrained(tmp_path, trust_remote_code=trust)


def test_bad_chat_family_configs():
    with pytest.raises(ValueError, match=r"num_experts_per_tok \(3\) must be between 1 and num_local_experts \(2\)"):
        henkan.MixtralConfig(num_local_experts=2, num_experts_per_tok=3)
    with pytest.raises(ValueError, match="multiple of num_key_value_heads"):
        henkan.Phi3ForCausalLM(henkan.Phi3Config(vocab_size=10, hidden_size=24, intermediate_size=8,
                                                 num_hidden_layers=1, num_attention_heads=3, num_key_value_heads=2))
    with pytest.raises(ValueError, match="long_factor must be a list of 4 numbers"):
        henkan.Phi3Config(hidden_size=32, num_attention_heads=4, rope_scaling={
            "type": "longrope", "short_factor": [1.0] * 4, "long_factor": [1.0] * 3})
    with pytest.raises(ValueError, match="layer_types has 1 entries"):
        henkan.Gemma2Config(num_hidden_layers=2, layer_types=["full_attention"])


def test_longrope_factor_lists_must_cover_the_rotary_dimension():
    scaling = {"rope_type": "longrope", "factor": 2.0, "short_factor": [1.0] * 3, "long_factor": [1.0] * 4}
    with pytest.raises(ValueError, match=r"rope_scaling\['short_factor'\] has 3 numbers; it needs 4"):
        henkan.LlamaConfig(vocab_size=10, hidden_size=16, intermediate_size=8, num_hidden_layers=1,
                           num_attention_heads=2, rope_scaling=scaling)
    with pytest.raises(ValueError, match="long_factor"):
        henkan.LlamaConfig(rope_scaling={"rope_type": "longrope", "short_factor": [1.0]})
