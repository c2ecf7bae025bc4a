"""Heads added to existing families: token classification and question answering on the decoders (where the
reference maps them), BERT's pretraining and next-sentence heads, GPT2DoubleHeadsModel. The reference's checkpoints load key for key and give its
outputs (fixtures: fixtures/make_heads.py)."""

import os

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import henkan

HEADS = os.path.join(os.path.dirname(__file__), "fixtures", "heads")
FOLDERS = sorted(os.listdir(HEADS))


@pytest.mark.parametrize("folder", FOLDERS)
def test_parity_with_the_reference(folder, tmp_path):
    path = os.path.join(HEADS, folder)
    with safe_open(os.path.join(path, "golden.safetensors"), "pt") as f:
        name = f.metadata()["class"]
    golden = load_file(os.path.join(path, "golden.safetensors"))
    if "Token" in name or "Question" in name:  # through the Auto class, as user code loads them
        auto = henkan.AutoModelForTokenClassification if "Token" in name else henkan.AutoModelForQuestionAnswering
    else:
        auto = getattr(henkan, name)
    model, info = auto.from_pretrained(path, output_loading_info=True)
    assert type(model).__name__ == name and not any(info.values()), info
    inputs = {k.removeprefix("input."): v for k, v in golden.items() if k.startswith("input.")}
    with torch.no_grad():
        out = model(**inputs)
    for key, expected in golden.items():
        if key.startswith("output."):
            torch.testing.assert_close(out[key.removeprefix("output.")], expected, atol=1e-5, rtol=1e-5, msg=key)
    model.save_pretrained(tmp_path)  # the reference's key names on the way out too
    assert set(load_file(str(tmp_path / "model.safetensors"))) == set(load_file(os.path.join(path, "model.safetensors")))


def test_decoder_span_heads_are_those_the_reference_maps():
    """A decoder has exactly the token-classification and question-answering heads the reference's Auto classes map
    (the fixtures hold one folder per mapped head): OPT and GPT-J answer spans only, Phi, Phi-3, Gemma and StableLM
    classify tokens only, and the Auto class refuses the missing one by name."""
    from henkan.auto import FAMILIES

    span = {"fortokenclassification": "ForTokenClassification", "forquestionanswering": "ForQuestionAnswering"}
    fixtures = {}
    for folder in FOLDERS:
        family, head = folder.rsplit("-", 1)
        if head in span:
            fixtures.setdefault(family, set()).add(span[head])
    assert "opt" in fixtures and "phi3" in fixtures
    for family, heads in fixtures.items():
        assert set(FAMILIES[family][2]) & set(span.values()) == heads, family
    config = henkan.OPTConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, ffn_dim=8)
    with pytest.raises(ValueError, match="model type 'opt' has no such model"):
        henkan.AutoModelForTokenClassification.from_config(config)


def test_labels_out_of_range_are_refused_before_the_forward():
    model = henkan.AutoModelForTokenClassification.from_pretrained(os.path.join(HEADS, "llama-fortokenclassification"))
    with pytest.raises(ValueError, match="labels hold 3, outside the 3 classes"):
        model(input_ids=torch.tensor([[5, 6]]), labels=torch.tensor([[0, 3]]))


def test_bert_pretraining_ties_and_checks_labels():
    model = henkan.BertForPreTraining.from_pretrained(os.path.join(HEADS, "bert-forpretraining"))
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    ids = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match="labels hold 2, outside the 2 classes .*next-sentence classes"):
        model(input_ids=ids, labels=torch.tensor([[-100, 6, -100]]), next_sentence_label=torch.tensor([2]))


def test_biogpt_sequence_classification_pools_the_last_real_token_under_left_padding():
    """4.57's BioGPT pools the token at index (real tokens - 1), not the last real one, when rows are left-padded;
    5.x fixed it and henkan does as 5.x: a left-padded row scores as its right-padded twin (the goldens' batch)."""
    path = os.path.join(HEADS, "biogpt-forsequenceclassification")
    golden = load_file(os.path.join(path, "golden.safetensors"))
    model = henkan.AutoModelForSequenceClassification.from_pretrained(path)
    ids, mask = golden["input.input_ids"], golden["input.attention_mask"]
    pad = mask.shape[1] - int(mask[1].sum())
    left_ids, left_mask = ids.clone(), mask.clone()
    left_ids[1], left_mask[1] = ids[1].roll(pad), mask[1].roll(pad)
    with torch.no_grad():
        logits = model(input_ids=left_ids, attention_mask=left_mask).logits
    torch.testing.assert_close(logits, golden["output.logits"], atol=1e-5, rtol=1e-5)
