"""question-answering, zero-shot-classification, text-classification and token-classification's windows and
pre-split words against the reference's outputs (tests/fixtures/make_text_pipelines.py)."""

import json
import os
import warnings

import numpy as np
import pytest

import henkan
from conftest import FIXTURES
from conftest import assert_outputs_close as assert_close

HERE = os.path.join(FIXTURES, "text_pipelines")
with open(os.path.join(HERE, "golden.json"), encoding="utf-8") as f:
    GOLDEN = json.load(f)
CASES = {case["name"]: case for case in GOLDEN["cases"]}
FOLDERS = {"bert-ner": os.path.join(FIXTURES, "encoder_pipelines", "bert-ner"),
           "roberta-ner": os.path.join(FIXTURES, "encoder_pipelines", "roberta-ner")}
_PIPES = {}


def pipe(task: str, model: str, **init):
    key = (task, model, json.dumps(init, sort_keys=True))
    if key not in _PIPES:
        folder = FOLDERS.get(model, os.path.join(HERE, model))
        if "tokenizer" in init:
            init = {**init, "tokenizer": henkan.AutoTokenizer.from_pretrained(folder, **init["tokenizer"])}
        _PIPES[key] = henkan.pipeline(task, model=folder, **init)
    return _PIPES[key]


def call_args(case):
    kwargs = dict(case["kwargs"])
    if "offset_mapping" in kwargs:
        kwargs["offset_mapping"] = [tuple(pair) for pair in kwargs["offset_mapping"]]
    return case["args"], kwargs


def score_types(output):
    """The type names of every score in an output."""
    if isinstance(output, dict):
        found = [type(output["score"]).__name__] if "score" in output else []
        return found + [type(s).__name__ for s in output.get("scores", [])]
    return [name for item in output for name in score_types(item)] if isinstance(output, list) else []


@pytest.mark.parametrize("name", CASES)
def test_outputs_equal_the_reference(name):
    case = CASES[name]
    runner = pipe(case["task"], case["model"], **case["init"])
    args, kwargs = call_args(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the deprecated positional SQuAD examples, BPE words from spaces
        output = runner(*args, **kwargs)
    assert_close(output, case["output"], name)
    if case["score_type"]:
        assert set(score_types(output)) == {case["score_type"]}, name


@pytest.mark.parametrize("name", ["qa_batch", "zs_batch", "tc_pairs_batch", "ner_split_words_batch"])
def test_generators_and_datasets_stream_in_order(name):
    case = CASES[name]
    runner = pipe(case["task"], case["model"])
    args, kwargs = call_args(case)
    if case["task"] == "question-answering":
        items = [{"question": q, "context": c} for q, c in zip(kwargs.pop("question"), kwargs.pop("context"))]
    else:
        items = args[0]
    streamed = runner((item for item in items), batch_size=3, **kwargs)
    assert not isinstance(streamed, list)
    assert_close(list(streamed), case["output"], name)
    dataset = henkan.pipelines.KeyDataset([{"x": item} for item in items], "x")
    assert_close(list(runner(dataset, batch_size=2, **kwargs)), case["output"], name)


def test_key_pair_dataset_feeds_text_pairs():
    case = CASES["tc_pairs_batch"]
    rows = [{"a": item["text"], "b": item["text_pair"]} for item in case["args"][0]]
    runner = pipe("text-classification", "bert-nli")
    assert_close(list(runner(henkan.pipelines.KeyPairDataset(rows, "a", "b"), top_k=None)), case["output"])


def test_batch_size_does_not_change_answers():
    case = CASES["qa_lists"]
    runner = pipe("question-answering", "bert-qa")
    for batch_size in (1, 2, 5):
        assert_close(runner(**case["kwargs"], batch_size=batch_size), case["output"])


def test_question_answering_bad_inputs():
    qa = pipe("question-answering", "bert-qa")
    with pytest.raises(ValueError, match="`context` cannot be empty"):
        qa(question="who?", context="")
    with pytest.raises(ValueError, match="`question` must be a string"):
        qa({"question": None, "context": "a hole"})
    with pytest.raises(KeyError, match="lacks 'context'"):
        qa({"question": "who?"})
    with pytest.raises(ValueError, match="one context per question"):
        qa(question=["a?", "b?"], context=["c"])
    with pytest.raises(ValueError, match="top_k must be an integer >= 1"):
        qa(question="who?", context="a hole", top_k=0)
    with pytest.raises(ValueError, match="doc_stride .* larger than max_seq_len"):
        qa(question="who?", context="a hole", max_seq_len=16, doc_stride=20)
    with pytest.raises(ValueError, match="needs question= and context="):
        qa()
    # a context far over the model's 128 positions is read in windows, never a crash
    long = qa(question="who lived?", context="the hobbit lived in a hole. " * 400)
    assert set(long) == {"score", "start", "end", "answer"}


def test_zero_shot_bad_inputs():
    zs = pipe("zero-shot-classification", "bert-nli")
    with pytest.raises(ValueError, match="candidate_labels is empty"):
        zs("a fox", candidate_labels=[])
    with pytest.raises(ValueError, match="candidate_labels is empty"):
        zs("a fox")
    with pytest.raises(ValueError, match="empty text"):
        zs("", candidate_labels=["a"])
    with pytest.raises(ValueError, match="has no {} for the label"):
        zs("a fox", candidate_labels=["a"], hypothesis_template="no slot")
    with pytest.raises(ValueError, match="got None"):
        zs(None, candidate_labels=["a"])


def test_text_and_token_classification_bad_inputs():
    classify = pipe("text-classification", "bert-cls")
    with pytest.raises(ValueError, match="function_to_apply='tanh' is not one of"):
        classify("a fox", function_to_apply="tanh")
    with pytest.raises(ValueError, match="has no 'text'"):
        classify({"text_pair": "a fox"})
    assert classify("hobbit " * 1000, truncation=True)[0]["label"] in ("NEGATIVE", "POSITIVE")
    ner = pipe("token-classification", "bert-ner", tokenizer={"model_max_length": 16})
    with pytest.raises(ValueError, match='aggregation_strategy="none"'):
        ner("the hobbit", stride=4, aggregation_strategy="none")
    with pytest.raises(ValueError, match="stride=16 must be"):
        ner("the hobbit", stride=16, aggregation_strategy="simple")
    with pytest.raises(ValueError, match="one list of"):
        ner(["a", "b"], offset_mapping=[[(0, 1)]])
    with pytest.raises(ValueError, match="each input is a list of words"):
        ner("the hobbit", is_split_into_words=True)


def test_feature_extraction_tokenize_kwargs():
    extract = henkan.pipeline("feature-extraction", model=os.path.join(HERE, "bert-cls"),
                              tokenize_kwargs={"truncation": True, "max_length": 6})
    assert len(extract("the quick brown fox jumps over the lazy dog")[0]) == 6
    with pytest.raises(ValueError, match="truncation is given twice"):
        extract("a fox", truncation=True, tokenize_kwargs={"truncation": True})


def test_texts_far_over_the_maximum_never_crash():
    long = "the hobbit lived in a hole " * 200  # ~1200 tokens, the models take 128
    for task, model, options in (("text-classification", "bert-cls", {}),
                                 ("zero-shot-classification", "bert-nli", {"candidate_labels": ["a", "b"]}),
                                 ("feature-extraction", "bert-cls", {})):
        assert pipe(task, model)(long, **options)
    assert len(pipe("feature-extraction", "bert-cls")(long)[0]) == 128
    assert pipe("token-classification", "bert-ner", tokenizer={"model_max_length": 16})(long, stride=4,
                                                                                         aggregation_strategy="first")


def test_seed_dataset_and_generator_examples():
    """The seed page's map-style Dataset (no __iter__, __getitem__ never ending) and an endless generator."""
    import itertools

    class MyDataset:
        def __len__(self):
            return 40

        def __getitem__(self, i):
            return "This is a test"

    classify = pipe("text-classification", "bert-cls")
    expected = classify("This is a test")[0]
    outputs = list(classify(MyDataset(), batch_size=8))
    assert len(outputs) == 40 and all(out == pytest.approx(expected) for out in outputs)

    def data():
        while True:
            yield "This is a test"

    first = list(itertools.islice(classify(data(), batch_size=4), 10))
    assert len(first) == 10 and first[0]["label"] == expected["label"]
