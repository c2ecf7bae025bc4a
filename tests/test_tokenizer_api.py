"""Tokenizer API that user code calls beside `__call__`: GPT-2's add_prefix_space, tokenizer_file=,
prepare_for_model / truncate_sequences, train_new_from_iterator, and BERT's BasicTokenizer / WordpieceTokenizer.

The expected ids were printed by transformers 4.57.6 running the same calls on the same fixture folders."""

from __future__ import annotations

import os

import pytest
import torch

from henkan import (
    AutoTokenizer, BasicTokenizer, BertTokenizerFast, GPT2Tokenizer, GPT2TokenizerFast, PreTrainedTokenizerFast,
    RobertaTokenizerFast, WordpieceTokenizer,
)
from henkan.tokenization.wordpiece import BasicTokenizer as DeepBasicTokenizer
from conftest import FIXTURES

TOKENIZERS = os.path.join(FIXTURES, "tokenizers")
GPT2 = os.path.join(TOKENIZERS, "gpt2")
ROBERTA = os.path.join(TOKENIZERS, "roberta")
TEXTS = ["The quick brown fox jumps over the lazy dog.", "Hello world, héllo wörld! 中文 text",
         "lower lowest newer newest"] * 30


@pytest.mark.parametrize("cls", [AutoTokenizer, GPT2TokenizerFast, GPT2Tokenizer])
def test_gpt2_add_prefix_space(cls):
    tok = cls.from_pretrained(GPT2, add_prefix_space=True)
    assert tok.tokenize("low lower") == ["Ġl", "ow", "Ġl", "ow", "er"]
    assert tok("low")["input_ids"] == [287, 307]
    assert tok(["low", "er"], is_split_into_words=True)["input_ids"] == [287, 307, 226, 271]
    assert AutoTokenizer.from_pretrained(GPT2).tokenize("low lower") == ["l", "ow", "Ġl", "ow", "er"]


def test_tokenizer_file_argument():
    path = os.path.join(GPT2, "tokenizer.json")
    expected = [81, 307, 287, 307, 271]
    assert PreTrainedTokenizerFast(tokenizer_file=path)("low lower")["input_ids"] == expected
    assert GPT2TokenizerFast.from_pretrained(GPT2, tokenizer_file=path)("low lower")["input_ids"] == expected
    other = AutoTokenizer.from_pretrained(ROBERTA, tokenizer_file=path)  # the file wins over the folder's own
    assert isinstance(other, RobertaTokenizerFast) and other("low lower")["input_ids"] == expected


@pytest.mark.parametrize("kwargs, expected", [
    ({}, {"input_ids": [0, 10, 11, 12, 13, 14, 2, 2, 20, 21, 22, 2], "attention_mask": [1] * 12}),
    (dict(truncation="only_second", max_length=10, return_overflowing_tokens=True, stride=1),
     {"overflowing_tokens": [20, 21, 22], "num_truncated_tokens": 2, "input_ids": [0, 10, 11, 12, 13, 14, 2, 2, 20, 2],
      "attention_mask": [1] * 10}),
    (dict(truncation="only_first", max_length=9, return_overflowing_tokens=True, stride=2),
     {"overflowing_tokens": [10, 11, 12, 13, 14], "num_truncated_tokens": 3, "input_ids": [0, 10, 11, 2, 2, 20, 21, 22, 2],
      "attention_mask": [1] * 9}),
    (dict(add_special_tokens=False, max_length=9, padding="max_length", return_token_type_ids=False),
     {"input_ids": [10, 11, 12, 13, 14, 20, 21, 22, 1], "attention_mask": [1] * 8 + [0]}),
    (dict(truncation="only_second", max_length=3),  # cannot be cut that far: logged, left whole
     {"input_ids": [0, 10, 11, 12, 13, 14, 2, 2, 20, 21, 22, 2], "attention_mask": [1] * 12}),
    # (the reference's fast tokenizers cannot make this special_tokens_mask: an AssertionError; henkan can)
    (dict(truncation="longest_first", max_length=8, return_special_tokens_mask=True, padding="max_length",
          return_length=True),
     {"input_ids": [0, 10, 11, 2, 2, 20, 21, 2], "special_tokens_mask": [1, 0, 0, 1, 1, 0, 0, 1],
      "attention_mask": [1] * 8, "length": 8}),
])
def test_prepare_for_model(kwargs, expected):
    tok = AutoTokenizer.from_pretrained(ROBERTA)
    assert dict(tok.prepare_for_model([10, 11, 12, 13, 14], [20, 21, 22], **kwargs)) == expected


def test_prepare_for_model_single_and_tensors():
    tok = AutoTokenizer.from_pretrained(ROBERTA)
    one = tok.prepare_for_model([10, 11, 12, 13, 14], truncation=True, max_length=4, return_overflowing_tokens=True)
    assert dict(one) == {"overflowing_tokens": [12, 13, 14], "num_truncated_tokens": 3, "input_ids": [0, 10, 11, 2],
                         "attention_mask": [1, 1, 1, 1]}
    batch = tok.prepare_for_model(torch.tensor([10, 11]), return_tensors="pt", prepend_batch_axis=True)
    assert batch["input_ids"].tolist() == [[0, 10, 11, 2]]
    ids = tok("The lowest fox", add_special_tokens=False)["input_ids"]
    assert tok.prepare_for_model(ids)["input_ids"] == tok("The lowest fox")["input_ids"]
    with pytest.raises(TypeError, match=r"ids\[1\] is 'x'"):
        tok.prepare_for_model([1, "x"])
    with pytest.raises(ValueError, match="longest_first"):
        tok.prepare_for_model([1, 2], [3], truncation=True, max_length=3, return_overflowing_tokens=True)


def test_truncate_sequences():
    tok = AutoTokenizer.from_pretrained(ROBERTA)
    assert tok.truncate_sequences([1, 2, 3, 4, 5], [6, 7], num_tokens_to_remove=4) == ([1, 2], [6], [])
    assert tok.truncate_sequences([1, 2, 3, 4], num_tokens_to_remove=2, stride=1) == ([1, 2], None, [2, 3, 4])
    tok.truncation_side = "left"
    assert tok.truncate_sequences([1, 2, 3], [4, 5, 6], num_tokens_to_remove=2,
                                  truncation_strategy="only_second") == ([1, 2, 3], [6], [4, 5])


@pytest.mark.parametrize("folder, expected", [
    ("gpt2", ["GPT2TokenizerFast", 258, [53, 73, 70, 222, 77, 80, 88, 70, 84, 85, 222, 71, 80, 89, 13, 222, 73, 129, 104,
                                          77, 77, 80, 222, 162, 118, 257, 79, 70, 88, 70, 83], "The lowest fox",
              "<|endoftext|>", ["<new>"]]),
    ("roberta", ["RobertaTokenizerFast", 261, [0, 56, 76, 73, 225, 80, 83, 91, 73, 87, 88, 225, 74, 83, 92, 16, 225, 76,
                                                132, 107, 80, 80, 83, 225, 165, 121, 260, 2, 2, 82, 73, 91, 73, 86, 2],
                 "<s>The lowest fox<END>", "<END>", []]),
    # (the Rust WordPiece trainer breaks ties differently from run to run, in the reference too: some ids vary)
    ("minilm", ["BertTokenizerFast", 103, [2, None, None, None, None, None, None, 3, None, 3],
                "[CLS] the lowest fox [SEP]", None,
                []]),
])
def test_train_new_from_iterator_matches_the_reference(folder, expected, minilm_path):
    tok = AutoTokenizer.from_pretrained(minilm_path if folder == "minilm" else os.path.join(TOKENIZERS, folder))
    new = tok.train_new_from_iterator(TEXTS, vocab_size=120,
                                      special_tokens_map={"</s>": "<END>"} if folder == "roberta" else None,
                                      new_special_tokens=["<new>"] if folder == "gpt2" else None)
    ids = new("The lowest fox, héllo 中", "newer")["input_ids"]
    got = [type(new).__name__, len(new), [None if e is None else i for i, e in zip(ids, expected[2])],
           new.decode(new("The lowest fox")["input_ids"]), new.eos_token, new.additional_special_tokens]
    assert got == expected


def test_train_new_from_iterator_unigram(tmp_path):
    """The Rust Unigram trainer does not give the same vocabulary twice (in the reference either): the shape is
    checked, and that the new tokenizer saves and loads."""
    tok = AutoTokenizer.from_pretrained(os.path.join(TOKENIZERS, "xlmr"))
    new = tok.train_new_from_iterator(iter(TEXTS), vocab_size=60, length=len(TEXTS))
    ids = new("The lowest fox")["input_ids"]
    assert type(new) is type(tok) and len(new) == 51 and ids[0] == new.cls_token_id and ids[-1] == new.sep_token_id
    assert new.decode(ids, skip_special_tokens=True) == "The lowest fox"
    new.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)("The lowest fox")["input_ids"] == ids
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 1, got 0"):
        tok.train_new_from_iterator(TEXTS, vocab_size=0)


def test_basic_tokenizer():
    basic = BasicTokenizer(do_lower_case=True)
    assert basic.tokenize("Hello, World! héllo 中文 [UNK]") == ["hello", ",", "world", "!", "hello", "中", "文", "[",
                                                              "unk", "]"]
    assert basic.tokenize("Hello, World!", never_split=["World"]) == ["hello", ",", "world", "!"]  # "World!" splits
    assert basic.tokenize("Hello [MASK] there", never_split=["[MASK]"]) == ["hello", "[MASK]", "there"]
    assert BasicTokenizer(do_lower_case=False).tokenize("Héllo\tthere\x00!") == ["Héllo", "there", "!"]
    assert BasicTokenizer(do_split_on_punc=False).tokenize("don't stop") == ["don't", "stop"]
    assert DeepBasicTokenizer is BasicTokenizer


def test_basic_then_wordpiece_gives_berts_tokens(minilm_path):
    """The seed's sentence through the two steps gives the tokens BertTokenizerFast gives."""
    fast = BertTokenizerFast.from_pretrained(minilm_path)
    wordpiece = WordpieceTokenizer(vocab=fast.get_vocab(), unk_token="[UNK]")
    text = "In a hole in the ground there lived a hobbit. Naïve café 東京!"
    pieces = [p for word in BasicTokenizer().tokenize(text) for p in wordpiece.tokenize(word)]
    assert pieces == fast.tokenize(text)
    small = WordpieceTokenizer(vocab={"un": 0, "##aff": 1, "##able": 2, "[UNK]": 3}, unk_token="[UNK]",
                               max_input_chars_per_word=10)
    assert small.tokenize("unaffable unknown") == ["un", "##aff", "##able", "[UNK]"]
    assert small.tokenize("unaffableun") == ["[UNK]"]  # longer than max_input_chars_per_word
