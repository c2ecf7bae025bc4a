"""T5, T5 v1.1, mT5, ByT5 and T5EncoderModel beyond the shared encoder-decoder goldens of test_seq2seq.py (forward,
loss, cached decoding and every generate case are checked there): T5's own ways (labels keep the cache, the kept
position-bias row, float16 loading), configs, the checkpoint layouts written and read, the heads, bad input."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

import henkan
from henkan.cache import EncoderDecoderCache
from test_seq2seq import SEQ2SEQ, close, encoder_inputs, golden, model_for

GENERATORS = ["t5", "t5-v1_1", "mt5", "byt5"]


# forward ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", GENERATORS)
def test_attention_without_weights_gives_the_goldens(folder):
    """Without attention weights asked for, the encoder and the decoder's prefill take SDPA (with the position
    bias as its mask); the logits stay those of the reference's eager attention."""
    _, data = golden(folder)
    with torch.no_grad():
        out = model_for(folder)(**encoder_inputs(data), decoder_input_ids=data["input.decoder_input_ids"],
                                use_cache=False)
    close(out.logits, data["output.logits"], f"{folder} logits")


def test_labels_keep_the_cache_and_shift_with_the_pad_token():
    """Unlike BART, T5 returns the decoder cache when given labels; its decoder starts from the pad token."""
    _, data = golden("t5")
    model = model_for("t5")
    labels = data["input.labels"]
    with torch.no_grad():
        out = model(**encoder_inputs(data), labels=labels)
    assert isinstance(out.past_key_values, EncoderDecoderCache)
    shifted = model.prepare_decoder_input_ids_from_labels(labels)
    assert torch.equal(shifted, data["input.decoder_input_ids"])
    assert bool((shifted[:, 0] == model.config.pad_token_id).all())


def test_cached_decoding_past_the_kept_bias_row_matches_a_full_forward():
    """Decode steps slice their position bias from a row kept across steps (regrown past 64 keys); the logits of
    each step equal those of one forward over the whole decoder input."""
    _, data = golden("t5")
    model = model_for("t5")
    torch.manual_seed(0)
    decoder_ids = torch.randint(2, model.config.vocab_size, (2, 80))
    with torch.no_grad():
        full = model(**encoder_inputs(data), decoder_input_ids=decoder_ids, use_cache=False).logits
        cache, steps = None, []
        encoder = model.get_encoder()(**encoder_inputs(data))
        for i in range(decoder_ids.shape[1]):
            out = model(encoder_outputs=encoder, attention_mask=data["input.attention_mask"],
                        decoder_input_ids=decoder_ids[:, i:i + 1], past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            steps.append(out.logits)
    close(torch.cat(steps, dim=1), full, "step by step")


# configs ----------------------------------------------------------------------------------------------------------


def test_config_feed_forward_kinds():
    assert (henkan.T5Config().dense_act_fn, henkan.T5Config().is_gated_act) == ("relu", False)
    v11 = henkan.T5Config(feed_forward_proj="gated-gelu")
    assert (v11.dense_act_fn, v11.is_gated_act) == ("gelu_new", True)  # the tanh approximation
    assert henkan.T5Config(feed_forward_proj="gated-silu").dense_act_fn == "silu"
    mt5 = henkan.MT5Config()
    assert (mt5.is_gated_act, mt5.tie_word_embeddings, mt5.decoder_start_token_id) == (True, False, 0)
    # what config.json says wins over the derived values (as in the reference)
    assert henkan.T5Config(feed_forward_proj="gated-gelu", dense_act_fn="gelu").dense_act_fn == "gelu"
    # aliases; the decoder copies the layer count given as num_layers, not as num_hidden_layers (the reference's way)
    config = henkan.T5Config(hidden_size=64, num_attention_heads=2, num_hidden_layers=3)
    assert (config.d_model, config.num_heads, config.num_layers, config.num_decoder_layers) == (64, 2, 3, 6)
    assert henkan.T5Config(num_layers=3).num_decoder_layers == 3
    assert henkan.T5Config().decoder_start_token_id is None


@pytest.mark.parametrize("bad", ["gelu-gated", "gated-gelu-new", "a-b-c", None])
def test_bad_feed_forward_proj(bad):
    with pytest.raises(ValueError, match="feed_forward_proj"):
        henkan.T5Config(feed_forward_proj=bad)


def test_unknown_activation_is_named_when_the_model_is_built():
    config = henkan.T5Config(vocab_size=10, d_model=8, d_kv=2, d_ff=4, num_layers=1, num_heads=4,
                             feed_forward_proj="gated-nope")
    with pytest.raises(ValueError, match="nope"):
        henkan.T5Model(config)


# checkpoints ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", GENERATORS + ["t5-encoder"])
def test_save_reload_writes_the_reference_layout(folder, tmp_path):
    model = model_for(folder)
    model.save_pretrained(tmp_path)
    written = load_file(tmp_path / "model.safetensors")
    reference = load_file(os.path.join(SEQ2SEQ, folder, "model.safetensors"))
    assert sorted(written) == sorted(reference)  # `shared.weight` once, no tied lm_head, no embed_tokens copies
    for key, tensor in reference.items():
        assert torch.equal(written[key], tensor), key
    with open(os.path.join(SEQ2SEQ, folder, "config.json"), encoding="utf-8") as f:
        expected = json.load(f)
    with open(tmp_path / "config.json", encoding="utf-8") as f:
        assert json.load(f) == expected
    reloaded, info = type(model).from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values())
    _, data = golden(folder)
    with torch.no_grad():
        kwargs = {} if folder == "t5-encoder" else {"decoder_input_ids": data["input.decoder_input_ids"]}
        assert torch.equal(reloaded(**encoder_inputs(data), **kwargs)[0], model(**encoder_inputs(data), **kwargs)[0])


def test_hub_checkpoint_variants_load_cleanly(tmp_path):
    """Hub checkpoints may repeat the shared embeddings under encoder./decoder.embed_tokens, carry the old unused
    cross-attention position table, or hold the embeddings under encoder.embed_tokens only."""
    folder = os.path.join(SEQ2SEQ, "t5")
    state = load_file(os.path.join(folder, "model.safetensors"))
    _, data = golden("t5")
    variants = {
        "repeated": {**state, "encoder.embed_tokens.weight": state["shared.weight"].clone(),
                     "decoder.embed_tokens.weight": state["shared.weight"].clone(),
                     "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight": torch.zeros(8, 4)},
        "encoder-only-name": {("encoder.embed_tokens.weight" if k == "shared.weight" else k): v
                              for k, v in state.items()},
    }
    for name, tensors in variants.items():
        path = tmp_path / name
        path.mkdir()
        save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})
        for file in ("config.json", "generation_config.json"):
            (path / file).write_bytes(open(os.path.join(folder, file), "rb").read())
        model, info = henkan.T5ForConditionalGeneration.from_pretrained(path, output_loading_info=True)
        assert not any(info.values()), (name, info)
        assert model.lm_head.weight is model.shared.weight is model.encoder.embed_tokens.weight
        with torch.no_grad():
            logits = model(**encoder_inputs(data), decoder_input_ids=data["input.decoder_input_ids"]).logits
        close(logits, data["output.logits"], name)


def test_encoder_model_from_a_full_checkpoint_leaves_the_decoder_out():
    model, info = henkan.T5EncoderModel.from_pretrained(os.path.join(SEQ2SEQ, "t5"), output_loading_info=True)
    assert not any(info.values())
    assert model.config.is_encoder_decoder is False and model.config.use_cache is False


def test_auto_classes():
    for folder, prefix in (("t5", "T5"), ("mt5", "MT5"), ("byt5", "T5")):
        path = os.path.join(SEQ2SEQ, folder)
        assert type(henkan.AutoModelForSeq2SeqLM.from_pretrained(path)).__name__ == prefix + "ForConditionalGeneration"
        assert type(henkan.AutoModel.from_pretrained(path)).__name__ == prefix + "Model"
    config = henkan.AutoConfig.from_pretrained(os.path.join(SEQ2SEQ, "mt5"))
    assert type(config) is henkan.MT5Config
    for auto, suffix in ((henkan.AutoModelForSequenceClassification, "ForSequenceClassification"),
                         (henkan.AutoModelForTokenClassification, "ForTokenClassification"),
                         (henkan.AutoModelForQuestionAnswering, "ForQuestionAnswering")):
        assert type(auto.from_config(config)).__name__ == "MT5" + suffix


# heads ------------------------------------------------------------------------------------------------------------


def test_heads_share_the_checkpoint_layout_and_the_base_outputs():
    """The reference's head layouts: QA keeps the encoder and decoder at the top, sequence classification under
    `transformer` (T5Model), token classification under `transformer` (T5EncoderModel). Each reads the t5
    fixture's weights (only its head is new) and computes its head on the base model's output."""
    path = os.path.join(SEQ2SEQ, "t5")
    _, data = golden("t5")
    inputs = encoder_inputs(data)
    base = henkan.T5Model.from_pretrained(path).eval()
    encoder = henkan.T5EncoderModel.from_pretrained(path).eval()
    with torch.no_grad():
        shifted = base.shift_right(inputs["input_ids"])
        decoded = base(**inputs, decoder_input_ids=shifted).last_hidden_state
        encoded = encoder(**inputs).last_hidden_state

        qa, info = henkan.T5ForQuestionAnswering.from_pretrained(path, output_loading_info=True)
        assert sorted(info["missing_keys"]) == ["qa_outputs.bias", "qa_outputs.weight"]
        out = qa.eval()(**inputs)  # no decoder inputs: input_ids shifted right
        start, end = qa.qa_outputs(decoded).unbind(-1)
        close(out.start_logits, start, "start logits")
        close(out.end_logits, end, "end logits")
        assert "transformer.shared.weight" not in qa.state_dict() and "shared.weight" in qa.state_dict()

        classifier, info = henkan.T5ForSequenceClassification.from_pretrained(path, output_loading_info=True)
        assert all(k.startswith("classification_head.") for k in info["missing_keys"]) and not info["unexpected_keys"]
        ids = inputs["input_ids"].clone()
        ids[:, -1] = classifier.config.eos_token_id
        out = classifier.eval()(input_ids=ids, labels=torch.tensor([0, 1]))
        hidden = base(input_ids=ids, decoder_input_ids=base.shift_right(ids)).last_hidden_state[:, -1]
        close(out.logits, classifier.classification_head(hidden), "classification")
        assert out.loss is not None
        assert "transformer.encoder.block.0.layer.0.SelfAttention.q.weight" in classifier.state_dict()

        tagger, info = henkan.T5ForTokenClassification.from_pretrained(path, output_loading_info=True)
        assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"]
        out = tagger.eval()(**inputs, labels=torch.zeros_like(inputs["input_ids"]))
        close(out.logits, tagger.classifier(encoded), "token classification")
        assert "transformer.shared.weight" in tagger.state_dict()


def test_decoder_head_mask_defaults_to_the_encoder_one():
    _, data = golden("t5")
    model = model_for("t5")
    heads = torch.ones(model.config.num_layers, model.config.num_heads)
    heads[0, 1] = 0
    decoder_ids = data["input.decoder_input_ids"]
    with torch.no_grad(), pytest.warns(FutureWarning, match="decoder_head_mask"):
        implicit = model(**encoder_inputs(data), decoder_input_ids=decoder_ids, head_mask=heads).logits
    explicit = model(**encoder_inputs(data), decoder_input_ids=decoder_ids, head_mask=heads,
                     decoder_head_mask=heads).logits
    assert torch.equal(implicit, explicit)


# bad and unusual input --------------------------------------------------------------------------------------------


def test_no_decoder_inputs_is_an_error():
    _, data = golden("t5")
    for model in (model_for("t5"), henkan.T5Model.from_pretrained(os.path.join(SEQ2SEQ, "t5"))):
        with pytest.raises(ValueError, match="decoder_input_ids or decoder_inputs_embeds"):
            model(**encoder_inputs(data))


def test_without_decoder_start_token():
    """T5Config() has no decoder_start_token_id: generate and the label shift say what to set."""
    model = model_for("t5")
    _, data = golden("t5")
    config = henkan.T5Config.from_pretrained(os.path.join(SEQ2SEQ, "t5"), decoder_start_token_id=None)
    bare = henkan.T5ForConditionalGeneration(config)
    bare.load_state_dict(model.state_dict())
    bare.eval()
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        bare.generate(**encoder_inputs(data), max_new_tokens=2)
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        bare(**encoder_inputs(data), labels=data["input.labels"])
    # given to generate(), it is used
    out = bare.generate(**encoder_inputs(data), max_new_tokens=3, decoder_start_token_id=0)
    assert torch.equal(out, model.generate(**encoder_inputs(data), max_new_tokens=3))


def test_inputs_longer_than_the_bucket_range():
    """Relative positions have no length limit: past relative_attention_max_distance every distance shares the last
    bucket, so a long input runs (and its padding still counts for nothing)."""
    model = model_for("t5")
    torch.manual_seed(0)
    ids = torch.randint(2, model.config.vocab_size, (1, 300))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 300, dtype=torch.long), torch.zeros(1, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        out = model(input_ids=ids, decoder_input_ids=ids[:, :200]).logits
        again = model(input_ids=padded, attention_mask=mask, decoder_input_ids=ids[:, :200]).logits
    assert out.shape == (1, 200, model.config.vocab_size) and bool(torch.isfinite(out).all())
    close(again, out, "padded")


def test_relative_position_buckets():
    from henkan.models.t5 import relative_position_bucket

    distance = torch.arange(-200, 201)
    both = relative_position_bucket(distance, True, 32, 128)
    causal = relative_position_bucket(distance, False, 32, 128)
    assert both.min() == 0 and both.max() == 31 and causal.max() == 31
    assert torch.equal(both[193:201].flip(0), torch.arange(8))  # exact below 8 (keys before the query)
    assert torch.equal(both[201:208], torch.arange(17, 24))  # keys after the query: the other half
    assert bool((causal[201:] == 0).all())  # the decoder never sees later keys
    assert torch.equal(causal[185:201].flip(0), torch.arange(16))  # one direction: twice the exact buckets
    assert int(causal[0]) == 31 and int(both[0]) == 15 and int(both[-1]) == 31  # past max_distance: the last


def test_float16_keeps_wo_in_float32():
    """As the reference loads it: in float16 the feed-forward output projections stay float32 (T5's activations
    overflow float16 there); the residual stream turns float32 after them and the next norm brings it back."""
    _, data = golden("t5-v1_1")
    path = os.path.join(SEQ2SEQ, "t5-v1_1")
    half = henkan.T5ForConditionalGeneration.from_pretrained(path, torch_dtype=torch.float16)
    dtypes = {name: p.dtype for name, p in half.named_parameters()}
    assert {d for n, d in dtypes.items() if ".wo." in n} == {torch.float32}
    assert {d for n, d in dtypes.items() if ".wo." not in n} == {torch.float16}
    with torch.no_grad():
        out = half(**encoder_inputs(data), decoder_input_ids=data["input.decoder_input_ids"],
                   output_hidden_states=True)
    assert out.logits.dtype is torch.float16
    assert [h.dtype for h in out.decoder_hidden_states] == [torch.float16, torch.float32, torch.float16]
    close(out.logits.float(), data["output.logits"], "float16 logits", atol=0.1)
    bf16 = henkan.T5ForConditionalGeneration.from_pretrained(path, torch_dtype=torch.bfloat16)
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
