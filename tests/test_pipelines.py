"""pipeline(): the seed's calls on local models; batching and streaming give the same results."""

import os
import shutil

import pytest
import torch

import henkan
from conftest import FIXTURES

TEXTS = ["we love you", "this is terrible", "an ok movie, i guess", "hello"]


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    """A tiny BERT classifier with labels, and the fixture WordPiece tokenizer, in one folder."""
    folder = tmp_path_factory.mktemp("classifier")
    vocab = os.path.join(FIXTURES, "tokenizers", "wordpiece", "vocab.txt")
    shutil.copy(vocab, folder)
    tokenizer = henkan.BertTokenizerFast(vocab_file=vocab)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = henkan.BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=37, id2label={0: "NEGATIVE", 1: "POSITIVE"})
    henkan.BertForSequenceClassification(config).save_pretrained(folder)
    return str(folder)


def test_seed_sentiment_analysis(classifier_dir):
    classify = henkan.pipeline("sentiment-analysis", model=classifier_dir)
    result = classify("we love you")
    assert isinstance(result, list) and len(result) == 1
    assert result[0]["label"] in ("NEGATIVE", "POSITIVE") and 0.5 <= result[0]["score"] <= 1
    everything = classify("we love you", top_k=None)
    assert sorted(r["label"] for r in everything) == ["NEGATIVE", "POSITIVE"]
    assert abs(sum(r["score"] for r in everything) - 1) < 1e-6
    assert everything[0]["score"] == result[0]["score"]


def test_batching_and_streaming_match(classifier_dir):
    classify = henkan.pipeline("text-classification", model=classifier_dir)
    one_by_one = [classify(t)[0] for t in TEXTS]
    batched = classify(TEXTS, batch_size=3)
    streamed = list(classify((t for t in TEXTS), batch_size=2))
    for a, b, c in zip(one_by_one, batched, streamed):
        assert a["label"] == b["label"] == c["label"]
        assert abs(a["score"] - b["score"]) < 1e-5 and abs(a["score"] - c["score"]) < 1e-5


def test_feature_extraction_defaults_to_the_embedded_model():
    extract = henkan.pipeline("feature-extraction")
    vectors = extract("hello world")
    assert len(vectors) == 1 and len(vectors[0]) == 4 and len(vectors[0][0]) == 384


def test_unknown_task_and_argument(classifier_dir):
    with pytest.raises(KeyError, match="Unknown task"):
        henkan.pipeline("no-such-task")
    classify = henkan.pipeline("text-classification", model=classifier_dir)
    with pytest.raises(TypeError, match="unexpected"):
        classify("hi", not_an_option=1)
