"""pipeline("fill-mask") and pipeline("token-classification") against the reference's outputs
(tests/fixtures/make_encoder_pipelines.py)."""

import json
import os
import warnings

import pytest

import henkan
from conftest import FIXTURES
from conftest import assert_outputs_close as assert_close

HERE = os.path.join(FIXTURES, "encoder_pipelines")
with open(os.path.join(HERE, "golden.json"), encoding="utf-8") as f:
    GOLDEN = json.load(f)
CASES = {case["name"]: case for case in GOLDEN["cases"]}
_PIPES = {}


def pipe(task: str, model: str, **init):
    key = (task, model, json.dumps(init, sort_keys=True))
    if key not in _PIPES:
        _PIPES[key] = henkan.pipeline(task, model=os.path.join(HERE, model), **init)
    return _PIPES[key]


@pytest.mark.parametrize("name", CASES)
def test_outputs_equal_the_reference(name):
    case = CASES[name]
    runner = pipe(case["task"], case["model"], **case["init"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # grouped_entities is deprecated; BPE words come from spaces
        assert_close(runner(case["inputs"], **case["kwargs"]), case["output"], name)


def test_streams_a_generator_in_order():
    for name in ("mask_batch", "ner_batch"):
        case = CASES[name]
        runner = pipe(case["task"], case["model"])
        streamed = runner((text for text in case["inputs"]), batch_size=3, **case["kwargs"])
        assert_close(list(streamed), case["output"], name)


def test_classes_and_aliases():
    assert isinstance(pipe("ner", "bert-ner"), henkan.TokenClassificationPipeline)
    assert pipe("ner", "bert-ner").task == "token-classification"
    assert isinstance(pipe("fill-mask", "roberta-mlm"), henkan.FillMaskPipeline)


def test_deprecated_grouping_arguments_warn():
    with pytest.warns(FutureWarning, match="aggregation_strategy='first'"):
        pipe("ner", "bert-ner")("the hobbit", grouped_entities=True, ignore_subwords=True)


def test_word_strategies_warn_without_a_subword_prefix():
    with pytest.warns(UserWarning, match="no subwords"):
        pipe("ner", "roberta-ner")("The hobbit", aggregation_strategy="max")


def test_bad_inputs_are_clear_errors():
    fill = pipe("fill-mask", "bert-mlm")
    with pytest.raises(ValueError, match=r"No mask token \(\[MASK\]\)"):
        fill("there is nothing to fill")
    with pytest.raises(ValueError, match="No mask token"):
        fill(["the [MASK] sleeps", "no mask here"], batch_size=2)
    with pytest.raises(ValueError, match="gives no token"):
        fill("the [MASK] sleeps", targets=[""])
    with pytest.raises(TypeError, match="no_such_option"):
        fill("the [MASK] sleeps", no_such_option=1)
    ner = pipe("ner", "bert-ner")
    with pytest.raises(ValueError, match="Unknown aggregation_strategy 'longest'.*none, simple, first"):
        ner("the hobbit", aggregation_strategy="longest")
    with pytest.raises(ValueError, match="Unknown aggregation_strategy"):
        henkan.pipeline("ner", model=os.path.join(HERE, "bert-ner"), aggregation_strategy="longest")
    with pytest.raises(ValueError, match="labels texts"):
        ner({"text": "the hobbit"})
