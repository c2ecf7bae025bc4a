"""The encoder families and tokenizers of issue 12 beyond their golden parity (tests/test_model_parity.py,
tests/test_sentencepiece.py): the seed pages' examples on local checkpoints, and clear errors on bad input."""

from __future__ import annotations

import os
import sys

import pytest
import torch

import henkan
from conftest import ENCODERS, FIXTURES

JAPANESE = os.path.join(FIXTURES, "sentencepiece", "bert_japanese")
JAPANESE_CHAR = os.path.join(FIXTURES, "sentencepiece", "bert_japanese_char")


@pytest.mark.parametrize("folder, decoded", [(JAPANESE, "[CLS] 吾輩 は 猫 で ある 。 [SEP]"),
                                             (JAPANESE_CHAR, "[CLS] 吾 輩 は 猫 で あ る 。 [SEP]")],
                         ids=["wordpiece", "character"])
def test_bert_japanese_seed_example(folder, decoded):
    """model_doc/bert-japanese: MeCab words (or characters), then a BERT over them."""
    tokenizer = henkan.AutoTokenizer.from_pretrained(folder)
    assert type(tokenizer).__name__ == "BertJapaneseTokenizer"
    line = "吾輩は猫である。"
    inputs = tokenizer(line, return_tensors="pt")
    assert tokenizer.decode(inputs["input_ids"][0]) == decoded
    torch.manual_seed(0)
    bertjapanese = henkan.AutoModel.from_config(henkan.BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37))
    outputs = bertjapanese(**inputs)
    assert outputs.last_hidden_state.shape == (1, inputs["input_ids"].shape[1], 32)


def test_bert_japanese_saves_and_reloads(tmp_path):
    tokenizer = henkan.AutoTokenizer.from_pretrained(JAPANESE)
    written = {os.path.basename(p) for p in tokenizer.save_pretrained(tmp_path)}
    assert "vocab.txt" in written and "tokenizer.json" not in written  # (no fast form, as in the reference)
    text = "国境の長いトンネルを抜けると雪国であった。"
    assert henkan.AutoTokenizer.from_pretrained(tmp_path)(text)["input_ids"] == tokenizer(text)["input_ids"]
    with pytest.raises(ValueError, match="legacy_format=None"):
        tokenizer.save_pretrained(tmp_path / "json", legacy_format=False)


@pytest.mark.parametrize("missing, package", [("fugashi", "fugashi"), ("unidic_lite", "unidic-lite")])
def test_bert_japanese_without_mecab_names_the_package(monkeypatch, missing, package):
    monkeypatch.setitem(sys.modules, missing, None)  # (import then fails as if it were not installed)
    with pytest.raises(ModuleNotFoundError, match=f"pip install {package}"):
        henkan.AutoTokenizer.from_pretrained(JAPANESE)


def test_bert_japanese_rejects_unknown_options():
    with pytest.raises(ValueError, match="mecab_dic"):
        henkan.AutoTokenizer.from_pretrained(JAPANESE, mecab_kwargs={"mecab_dic": "jumandic"})
    with pytest.raises(NotImplementedError, match="sudachi"):
        henkan.AutoTokenizer.from_pretrained(JAPANESE, word_tokenizer_type="sudachi")


def test_deberta_v2_split_by_punct_is_refused():
    with pytest.raises(NotImplementedError, match="split_by_punct"):
        henkan.AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "sentencepiece", "deberta_v2"),
                                             split_by_punct=True)


def test_deberta_bad_attention_mask():
    model = henkan.AutoModel.from_pretrained(os.path.join(ENCODERS, "deberta-v2-model"))
    ids = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match="attention_mask should be"):
        model(ids, attention_mask=torch.ones(1, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model()


def test_bros_needs_boxes():
    model = henkan.AutoModel.from_pretrained(os.path.join(ENCODERS, "bros-model"))
    ids = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match="BROS needs bbox"):
        model(ids)
    with pytest.raises(ValueError, match=r"got \[1, 3, 5\]"):
        model(ids, bbox=torch.rand(1, 3, 5))
    assert model(ids, bbox=torch.rand(1, 3, 4)).last_hidden_state.shape == (1, 3, 64)


def test_bertweet_seed_example():
    """model_doc/bertweet: an already normalised tweet through the slow tokenizer and a RoBERTa."""
    tokenizer = henkan.AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "sentencepiece", "bertweet"),
                                                     use_fast=False)
    line = "SC has first two presumptive cases of coronavirus , DHEC confirms HTTPURL via @USER :cry:"
    input_ids = torch.tensor([tokenizer.encode(line)])
    assert input_ids[0, 0] == tokenizer.cls_token_id and input_ids[0, -1] == tokenizer.sep_token_id
    torch.manual_seed(0)
    bertweet = henkan.AutoModel.from_config(henkan.RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37))
    with torch.no_grad():
        features = bertweet(input_ids)
    assert features.last_hidden_state.shape == (1, input_ids.shape[1], 32)


def test_canine_seed_example():
    """model_doc/canine: code points straight from ord()."""
    model = henkan.CanineModel.from_pretrained(os.path.join(ENCODERS, "canine-model"))
    text = "hello world"
    input_ids = torch.tensor([[ord(char) for char in text]])
    outputs = model(input_ids)
    assert outputs.pooler_output.shape == (1, 32)
    assert outputs.last_hidden_state.shape == (1, len(text), 32)


def test_big_bird_attends_fully_to_short_inputs_and_sparsely_to_long_ones():
    """Block-sparse BigBird switches to full attention for inputs of at most (5 + 2 * num_random_blocks) * block_size
    tokens, per call; `set_attention_type` switches for good."""
    model = henkan.BigBirdModel.from_pretrained(os.path.join(ENCODERS, "big_bird-model"))
    ids = torch.randint(3, 99, (1, 19), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        sparse = model(ids, output_attentions=True)
        short = model(ids[:, :14], output_attentions=True)
        model.set_attention_type("original_full")
        full = model(ids, output_attentions=True)
    assert sparse.attentions[0].shape[-1] == 20 and full.attentions[0].shape[-1] == 19  # (padded to whole blocks)
    assert short.attentions[0].shape[-1] == 14
    assert not torch.allclose(sparse.last_hidden_state, full.last_hidden_state, atol=1e-3)
    with pytest.raises(ValueError, match="attention_type"):
        model.set_attention_type("sparse")
