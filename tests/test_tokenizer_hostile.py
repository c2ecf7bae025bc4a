"""Tokenizers given what a hostile or careless caller sends: each bad input or file fails with an error naming the
argument (and position) or the file and key; none reaches the Rust tokenizer's nameless errors."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from henkan import AddedToken, AutoTokenizer, PreTrainedTokenizerFast
from henkan import logging as henkan_logging
from conftest import FIXTURES

GPT2 = os.path.join(FIXTURES, "tokenizers", "gpt2")


@pytest.fixture(scope="module")
def tok():
    return AutoTokenizer.from_pretrained(GPT2)


# --- texts


@pytest.mark.parametrize("call, error, named", [
    (lambda t: t(["fine", None]), TypeError, "text[1] must be a string, got NoneType"),
    (lambda t: t(["a", "b"], ["x", None]), TypeError, "text_pair[1] must be a string, got NoneType"),
    (lambda t: t("ab\ud800c"), ValueError, "text holds a lone surrogate (U+D800 at character 2)"),
    (lambda t: t(["ok", "ab\udfffc"]), ValueError, "text[1] holds a lone surrogate (U+DFFF"),
    (lambda t: t("ok", "x\ud800"), ValueError, "text_pair holds a lone surrogate"),
    (lambda t: AutoTokenizer.from_pretrained(GPT2, add_prefix_space=True)([["a", "b"], ["c", 5]],
                                                                          is_split_into_words=True),
     TypeError, "text[1][1] must be a string"),
    (lambda t: t.batch_encode_plus(["a", 3]), TypeError, "text[1] must be a string, got int"),
])
def test_bad_texts_are_named(tok, call, error, named):
    with pytest.raises(error) as info:
        call(tok)
    assert named in str(info.value)


def test_a_pair_of_none_is_no_pair(tok):
    assert tok("low", None)["input_ids"] == tok("low")["input_ids"]


@pytest.mark.parametrize("kwargs, named", [
    (dict(max_length=-1, truncation=True), "max_length must be an integer >= 0 or None, got -1"),
    (dict(max_length=2.5, truncation=True), "max_length must be an integer >= 0 or None, got 2.5"),
    (dict(max_length="10", truncation=True), "max_length must be an integer >= 0 or None, got '10'"),
    (dict(stride=-2), "stride must be an integer >= 0, got -2"),
    (dict(padding=True, pad_to_multiple_of=0), "pad_to_multiple_of must be an integer >= 1 or None, got 0"),
])
def test_bad_lengths_are_named(tok, kwargs, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        tok("hello world", **kwargs)


def test_integer_likes_are_lengths(tok):
    assert len(tok("hello world " * 5, max_length=np.int64(4), truncation=True)["input_ids"]) == 4


@pytest.mark.parametrize("value", [-5, "512", True])
def test_bad_model_max_length(value):
    with pytest.raises(ValueError, match="model_max_length must be a positive integer"):
        AutoTokenizer.from_pretrained(GPT2, model_max_length=value)


def test_negative_model_max_length_set_later_is_named(tok):
    other = AutoTokenizer.from_pretrained(GPT2)
    other.model_max_length = -1
    with pytest.raises(ValueError, match="model_max_length must be an integer >= 0, got -1"):
        other("hello", truncation=True)


# --- ids to decode


@pytest.mark.parametrize("ids, error, named", [
    ([5, 1.5], TypeError, "token_ids[1] is 1.5 (float)"),
    (["a"], TypeError, "token_ids[0] is 'a' (str)"),
    ([None], TypeError, "token_ids[0] is None"),
    ([[1, 2]], TypeError, "use batch_decode for a batch"),
    (np.array([1.0, 2.0]), TypeError, "token_ids[0] is 1.0 (float)"),
    (torch.tensor([3.0]), TypeError, "token_ids[0] is 3.0 (float)"),
    ([5, -100], ValueError, "token_ids[1] is -100: token ids are never negative (-100 marks label positions"),
    ([2**40], ValueError, "token_ids[0] is 1099511627776, larger than any vocabulary"),
])
def test_bad_ids_to_decode_are_named(tok, ids, error, named):
    with pytest.raises(error) as info:
        tok.decode(ids)
    assert named in str(info.value)


def test_bad_ids_in_a_batch_name_the_sequence(tok):
    with pytest.raises(TypeError, match=r"sequences\[1\]\[0\] is 0.5"):
        tok.batch_decode([[5], [0.5]])


def test_integer_likes_decode(tok):
    expected = tok.decode([5, 6])
    assert tok.decode(np.array([5, 6])) == tok.decode(torch.tensor([5, 6])) == expected
    assert tok.decode([np.int32(5), torch.tensor(6)]) == expected
    assert tok.decode(torch.tensor(5)) == tok.decode([5])


def test_ids_outside_the_vocabulary_are_dropped_with_a_warning(caplog):
    """The reference drops them silently; henkan drops them too (a model's embedding matrix is often larger than
    its tokenizer's vocabulary, so sampling can produce them: raising would break generation), but warns once."""
    tok = AutoTokenizer.from_pretrained(GPT2)
    size = len(tok)
    henkan_logging.add_handler(caplog.handler)
    try:
        assert tok.decode([5, size + 7, 6]) == tok.decode([5, 6])
        assert tok.batch_decode([[size]]) == [""]
    finally:
        henkan_logging.remove_handler(caplog.handler)
    warnings = [r.getMessage() for r in caplog.records if "not in the vocabulary" in r.getMessage()]
    assert len(warnings) == 1 and f"[{size + 7}]" in warnings[0] and f"ids 0-{size - 1}" in warnings[0]


# --- files


def folder_with(tmp_path, name, edit):
    folder = shutil.copytree(GPT2, tmp_path / "tok")
    path = folder / name
    edit(path)
    return folder, str(path)


def set_json(key, value):
    def edit(path):
        data = json.loads(path.read_text())
        data[key] = value
        path.write_text(json.dumps(data))
    return edit


@pytest.mark.parametrize("content", ["[]", '{"model": 5}', '{"version": "1.0", "truncation": "yes"}', "{nope"],
                         ids=["list", "model-number", "wrong-field", "not-json"])
def test_tokenizer_json_of_the_wrong_shape_names_the_file(tmp_path, content):
    folder, path = folder_with(tmp_path, "tokenizer.json", lambda p: p.write_text(content))
    with pytest.raises(OSError) as info:
        AutoTokenizer.from_pretrained(folder)
    assert path in str(info.value) and ("tokenizer.json" in str(info.value))


def test_tokenizer_file_argument_that_is_broken_names_the_file(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"model": []}')
    with pytest.raises(OSError, match=str(path)):
        PreTrainedTokenizerFast(tokenizer_file=str(path))
    with pytest.raises(OSError, match="does not exist"):
        PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "missing.json"))
    with pytest.raises(TypeError, match="tokenizer_object must be a tokenizers.Tokenizer, got dict"):
        PreTrainedTokenizerFast(tokenizer_object={})


@pytest.mark.parametrize("value, named", [
    ([1, 2], "added_tokens_decoder must map token ids to tokens (an object), got list"),
    ({"x": {"content": "a"}}, "added_tokens_decoder: the key 'x' is not a token id"),
    ({"-3": {"content": "a"}}, "added_tokens_decoder: the key '-3' is not a token id"),
    ({"5": 7}, "added_tokens_decoder['5'] must be an AddedToken or an object with a string \"content\", got 7"),
    ({"5": {"special": True}}, "added_tokens_decoder['5'] must be an AddedToken or an object with a string"),
    ({"5": {"content": "a", "lstrip": "yes"}}, "added_tokens_decoder['5']: the field 'lstrip' = 'yes' should be "
                                               "a bool"),
    ({"5": {"content": "a", "colour": "red"}}, "the field 'colour' = 'red' should be one of"),
])
def test_malformed_added_tokens_decoder_names_the_file_and_key(tmp_path, value, named):
    folder, path = folder_with(tmp_path, "tokenizer_config.json", set_json("added_tokens_decoder", value))
    with pytest.raises(OSError) as info:
        AutoTokenizer.from_pretrained(folder)
    assert str(info.value).startswith(path) and named in str(info.value)


def test_malformed_added_tokens_decoder_argument_is_named():
    with pytest.raises(ValueError, match="the added_tokens_decoder argument: the key 'one' is not a token id"):
        PreTrainedTokenizerFast(tokenizer_file=os.path.join(GPT2, "tokenizer.json"),
                                added_tokens_decoder={"one": AddedToken("x")})


def test_other_bad_tokenizer_files_name_the_file(tmp_path):
    folder, path = folder_with(tmp_path, "tokenizer_config.json", lambda p: p.write_text("[1, 2]"))
    with pytest.raises(OSError, match=f"{path} should hold a JSON object, not list"):
        AutoTokenizer.from_pretrained(folder)
    folder, path = folder_with(tmp_path / "b", "tokenizer_config.json", set_json("bos_token", 5))
    with pytest.raises(TypeError, match=f"Special token bos_token .* the value comes from {path}"):
        AutoTokenizer.from_pretrained(folder)
    folder, path = folder_with(tmp_path / "c", "tokenizer_config.json", set_json("model_max_length", -1))
    with pytest.raises(ValueError, match=f"model_max_length must be a positive integer.* comes from {path}"):
        AutoTokenizer.from_pretrained(folder)


def test_legacy_folder_with_bad_added_tokens_json_names_it(tmp_path):
    folder = shutil.copytree(os.path.join(FIXTURES, "tokenizers", "roberta_vocab"), tmp_path / "tok")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    del config["added_tokens_decoder"]  # a folder older than added_tokens_decoder
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "added_tokens.json").write_text(json.dumps({"<new>": "fifty"}))
    with pytest.raises(OSError, match=r"added_tokens.json: the id of '<new>' must be a non-negative integer"):
        AutoTokenizer.from_pretrained(folder)
    (folder / "added_tokens.json").write_text("[]")
    with pytest.raises(OSError, match=r"added_tokens.json should hold a JSON object"):
        AutoTokenizer.from_pretrained(folder)


def test_a_killed_tokenizer_save_is_cleaned_up_by_the_next(tmp_path):
    tok = AutoTokenizer.from_pretrained(GPT2)
    leftover = tmp_path / ".saving-999999999-abc"  # no such process: a save that was killed
    leftover.mkdir(parents=True)
    (leftover / "tokenizer.json").write_text("{}")
    tok.save_pretrained(tmp_path)
    assert not leftover.exists()
    assert AutoTokenizer.from_pretrained(tmp_path)("low")["input_ids"] == tok("low")["input_ids"]
