"""Encoder-decoder families against the reference's goldens: forward outputs, losses, cached decoding, the heads,
and every generate() case the fixture script recorded (greedy, beam search with length penalties and n-gram
bans, returned sequences, bad words, forced tokens, sampling, precomputed encoder outputs, the model's defaults).

The fixtures come from tests/fixtures/make_seq2seq.py (see its docstring for the inputs and the cases)."""

import json
import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import henkan
from conftest import FIXTURES

SEQ2SEQ = os.path.join(FIXTURES, "seq2seq")
# the folders of the families henkan has (the fixture script makes more as families land)
FOLDERS = ["bart", "bart-forsequenceclassification", "bart-forquestionanswering", "bart-forcausallm", "mbart",
           "marian", "marian-separate-vocabs", "pegasus", "blenderbot", "blenderbot-small", "bigbird-pegasus",
           "bigbird-pegasus-forsequenceclassification", "bigbird-pegasus-forquestionanswering",
           "bigbird-pegasus-forcausallm", "t5", "t5-v1_1", "mt5", "byt5", "t5-encoder"]
ATOL = 1e-5


def golden(folder):
    with safe_open(os.path.join(SEQ2SEQ, folder, "golden.safetensors"), "pt") as f:
        meta = f.metadata()
        return meta, {k: f.get_tensor(k) for k in f.keys()}


_MODELS = {}


def model_for(folder):
    if folder not in _MODELS:
        meta, _ = golden(folder)
        _MODELS[folder] = getattr(henkan, meta["class"]).from_pretrained(os.path.join(SEQ2SEQ, folder)).eval()
    return _MODELS[folder]


def close(actual, expected, msg, atol=ATOL):
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0, msg=lambda m: f"{msg}: {m}")


def check_outputs(out, data, prefix, folder):
    """Every golden `prefix.<field>[.<i>]` tensor equals the output's field (or its i-th element)."""
    checked = 0
    for key, expected in data.items():
        if not key.startswith(prefix + ".") or key.startswith(prefix + ".cached") or key.startswith(
                prefix + ".long") or key == prefix + ".loss":
            continue
        field, _, index = key[len(prefix) + 1:].partition(".")
        value = out[field] if not index else out[field][int(index)]
        close(value, expected, f"{folder} {key}")
        checked += 1
    assert checked, f"{folder}: no {prefix}.* goldens"


def encoder_inputs(data):
    return {"input_ids": data["input.input_ids"], "attention_mask": data["input.attention_mask"]}


def kind_of(meta):
    name = meta["class"]
    if name.endswith("ForSequenceClassification"):
        return "seqcls"
    if name.endswith("ForQuestionAnswering"):
        return "qa"
    if name.endswith("ForCausalLM"):
        return "causal"
    if name.endswith("EncoderModel"):
        return "encoder"
    return "seq2seq"


@pytest.mark.parametrize("folder", FOLDERS)
def test_forward_and_loss(folder):
    meta, data = golden(folder)
    model = model_for(folder)
    kind = kind_of(meta)
    flags = dict(output_hidden_states=True, output_attentions=True, use_cache=False)
    with torch.no_grad():
        if kind == "seq2seq":
            out = model(**encoder_inputs(data), decoder_input_ids=data["input.decoder_input_ids"], **flags)
            loss = model(**encoder_inputs(data), labels=data["input.labels"]).loss
        elif kind == "encoder":
            check_outputs(model(**encoder_inputs(data), output_hidden_states=True, output_attentions=True), data,
                          "output", folder)
            return
        else:
            out = model(**encoder_inputs(data), **flags)
            labels = {k[len("input."):]: v for k, v in data.items()
                      if k in ("input.labels", "input.start_positions", "input.end_positions")}
            loss = model(**encoder_inputs(data), use_cache=False, **labels).loss
    check_outputs(out, data, "output", folder)
    close(loss, data["output.loss"], f"{folder} loss")


@pytest.mark.parametrize("folder", [f for f in FOLDERS if f in ("bart", "mbart", "marian", "pegasus", "blenderbot",
                                                                   "blenderbot-small", "bart-forcausallm",
                                                                   "bigbird-pegasus", "bigbird-pegasus-forcausallm",
                                                                   "t5", "t5-v1_1", "mt5", "byt5")])
def test_cached_decoding_in_two_pieces(folder):
    meta, data = golden(folder)
    model = model_for(folder)
    split = 4
    with torch.no_grad():
        if kind_of(meta) == "causal":
            ids, mask = data["input.input_ids"], data["input.attention_mask"]
            first = model(input_ids=ids[:, :split], attention_mask=mask[:, :split], use_cache=True)
            second = model(input_ids=ids[:, split:], attention_mask=mask, past_key_values=first.past_key_values,
                           use_cache=True)
        else:
            dec = data["input.decoder_input_ids"]
            first = model(**encoder_inputs(data), decoder_input_ids=dec[:, :split], use_cache=True)
            assert isinstance(first.past_key_values, henkan.EncoderDecoderCache)
            second = model(encoder_outputs=(first.encoder_last_hidden_state,),
                           attention_mask=data["input.attention_mask"], decoder_input_ids=dec[:, split:],
                           past_key_values=first.past_key_values, use_cache=True)
    close(torch.cat([first.logits, second.logits], dim=1), data["output.cached.logits"], f"{folder} cached")


def generate_cases():
    cases = []
    for folder in FOLDERS:
        meta, _ = golden(folder)
        for name in json.loads(meta.get("cases") or "{}"):
            cases.append((folder, name))
    return cases


@pytest.mark.parametrize("folder,case", generate_cases())
def test_generate(folder, case):
    meta, data = golden(folder)
    spec = json.loads(meta["cases"])[case]
    model = model_for(folder)
    if spec["inputs"] == "single":
        inputs = {"input_ids": data["generate.single.input_ids"]}
    elif spec["inputs"] == "long":
        inputs = {"input_ids": data["input.long.input_ids"], "attention_mask": data["input.long.attention_mask"]}
    else:
        inputs = encoder_inputs(data)
    with torch.no_grad():
        if spec.get("precomputed_encoder_outputs"):
            inputs["encoder_outputs"] = model.get_encoder()(**inputs)
            del inputs["input_ids"]
        if "manual_seed" in spec:
            torch.manual_seed(spec["manual_seed"])
        out = model.generate(**inputs, **spec["kwargs"])
    expected = data[f"generate.{case}.sequences"]
    assert torch.equal(out.sequences, expected), f"{folder} {case}:\n{out.sequences}\n!=\n{expected}"
    if f"generate.{case}.sequences_scores" in data:
        close(out.sequences_scores, data[f"generate.{case}.sequences_scores"], f"{folder} {case} sequences_scores")
    if f"generate.{case}.scores" in data:
        close(torch.stack(out.scores), data[f"generate.{case}.scores"], f"{folder} {case} scores")


def test_config_reprs_match_reference():
    with open(os.path.join(SEQ2SEQ, "reprs.json"), encoding="utf-8") as f:
        reprs = json.load(f)
    checked = 0
    for key, expected in reprs.items():
        if key.startswith("default:"):
            cls = getattr(henkan, key[len("default:"):], None)
            if cls is None:
                continue
            config = cls()
        elif key in FOLDERS:
            config = henkan.AutoConfig.from_pretrained(os.path.join(SEQ2SEQ, key))
        else:
            continue
        got = "\n".join(line for line in repr(config).splitlines() if '"transformers_version"' not in line)
        assert got == expected, key
        checked += 1
    assert checked >= len(FOLDERS)


@pytest.mark.parametrize("folder", ["bart", "mbart", "marian", "pegasus", "bart-forcausallm", "bigbird-pegasus"])
def test_save_writes_the_reference_keys_and_reloads(folder, tmp_path):
    model = model_for(folder)
    model.save_pretrained(tmp_path)
    saved = set(load_file(os.path.join(tmp_path, "model.safetensors")))
    theirs = set(load_file(os.path.join(SEQ2SEQ, folder, "model.safetensors")))
    assert saved == theirs
    again = type(model).from_pretrained(tmp_path)
    _, data = golden(folder)
    inputs = encoder_inputs(data)
    if "input.decoder_input_ids" in data:
        inputs["decoder_input_ids"] = data["input.decoder_input_ids"]
    with torch.no_grad():
        assert torch.equal(again(**inputs, use_cache=False).logits, model(**inputs, use_cache=False).logits)


def test_auto_classes_pick_the_family_class():
    assert type(henkan.AutoModelForSeq2SeqLM.from_pretrained(os.path.join(SEQ2SEQ, "marian"))).__name__ == \
        "MarianMTModel"
    assert type(henkan.AutoModel.from_pretrained(os.path.join(SEQ2SEQ, "pegasus"))).__name__ == "PegasusModel"
    assert type(henkan.AutoModelForCausalLM.from_pretrained(os.path.join(SEQ2SEQ, "bart-forcausallm"))).__name__ \
        == "BartForCausalLM"


# bad input ------------------------------------------------------------------------------------------------------

def test_no_decoder_start_token_is_a_clear_error():
    model = model_for("bart")
    _, data = golden("bart")
    config = model.generation_config
    saved = (config.decoder_start_token_id, config.bos_token_id)
    config.decoder_start_token_id = config.bos_token_id = None
    try:
        with pytest.raises(ValueError, match="decoder_start_token_id"):
            model.generate(**encoder_inputs(data), max_new_tokens=2)
    finally:
        config.decoder_start_token_id, config.bos_token_id = saved


def test_labels_without_decoder_start_token_is_a_clear_error():
    model = henkan.PegasusForConditionalGeneration(henkan.PegasusConfig(
        vocab_size=20, d_model=8, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=8, decoder_ffn_dim=8, decoder_start_token_id=None))
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        model(input_ids=torch.tensor([[3, 4]]), labels=torch.tensor([[5, 6]]))


def test_labels_longer_than_the_positions_are_a_clear_error():
    model = model_for("bart")
    labels = torch.full((1, 65), 5)
    with pytest.raises(ValueError, match="labels have 65 tokens .* max_length=64"):
        model(input_ids=torch.tensor([[5, 6, 2]]), labels=labels)


def test_forced_bos_token_outside_the_vocabulary_is_a_clear_error():
    model = model_for("mbart")
    with pytest.raises(ValueError, match="forced_bos_token_id.*outside the vocabulary"):
        model.generate(input_ids=torch.tensor([[5, 6, 2]]), forced_bos_token_id=250_000, max_new_tokens=2)


def test_classification_needs_the_same_number_of_eos_tokens():
    model = model_for("bart-forsequenceclassification")
    ids = torch.tensor([[5, 6, 2, 1], [5, 2, 7, 2]])
    with pytest.raises(ValueError, match="same number of <eos> tokens"):
        model(input_ids=ids)


def test_base_model_without_decoder_inputs_shifts_or_says_what_is_missing():
    model = henkan.MarianModel.from_pretrained(os.path.join(SEQ2SEQ, "marian"))
    with pytest.raises(ValueError, match="decoder_input_ids"):
        model(input_ids=torch.tensor([[5, 6, 2]]))
    bart = henkan.BartModel.from_pretrained(os.path.join(SEQ2SEQ, "bart"))
    assert bart(input_ids=torch.tensor([[5, 6, 2]])).last_hidden_state.shape == (1, 3, 32)


def test_beams_share_the_encoder_states_of_their_input():
    """With shared rows the cross-attention cache holds one row per input, and outputs equal the expanded way."""
    model = model_for("bart")
    _, data = golden("bart")
    with torch.no_grad():
        out = model.generate(**encoder_inputs(data), num_beams=3, max_new_tokens=4, return_dict_in_generate=True)
    assert out.past_key_values.cross_attention_cache.layers[0].k.shape[0] == 2
    assert out.past_key_values.self_attention_cache.layers[0].k.shape[0] == 6
