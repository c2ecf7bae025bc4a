"""pipeline("text-generation") against the reference's outputs (tests/fixtures/make_text_generation.py)."""

import json
import os

import pytest

import henkan
from conftest import FIXTURES

HERE = os.path.join(FIXTURES, "text_generation")
with open(os.path.join(HERE, "golden.json"), encoding="utf-8") as f:
    GOLDEN = json.load(f)
CASES = {case["name"]: case for case in GOLDEN["cases"]}
_PIPES = {}


def pipe(model: str, **init):
    key = (model, json.dumps(init, sort_keys=True))
    if key not in _PIPES:
        _PIPES[key] = henkan.pipeline("text-generation", model=os.path.join(HERE, model), **init)
    return _PIPES[key]


@pytest.mark.parametrize("name", CASES)
def test_outputs_equal_the_reference(name):
    case = CASES[name]
    generator = pipe(case["model"], **case["init"])
    if case["seed"] is not None:
        henkan.set_seed(case["seed"])
    assert generator(case["inputs"], **case["kwargs"]) == case["output"]


def test_streams_a_generator_in_order():
    texts = ["hello", "the cat sat on the mat", "a b"]
    generator = pipe("llama")
    expected = CASES["llama_batch"]["output"]
    streamed = list(generator((t for t in texts), do_sample=False, max_new_tokens=5, batch_size=2))
    assert streamed == expected


def test_bad_arguments_are_clear_errors():
    generator = pipe("gpt2")
    with pytest.raises(ValueError, match="return_full_text cannot be combined"):
        generator("Hello", return_full_text=True, return_tensors=True)
    with pytest.raises(ValueError, match="padding token"):
        generator(["Hello", "a b"], batch_size=2, max_new_tokens=2)
    with pytest.raises(ValueError, match="handle_long_generation"):
        generator("Hello", handle_long_generation="slide")
    with pytest.raises(ValueError, match="role"):
        generator([{"content": "no role"}])
    with pytest.raises((TypeError, ValueError), match="no_such_option"):
        generator("Hello", max_new_tokens=2, no_such_option=1)
    with pytest.raises(TypeError, match="AutoModelForCausalLM"):
        henkan.TextGenerationPipeline(henkan.AutoModel.from_pretrained(os.path.join(HERE, "gpt2")),
                                      generator.tokenizer)


def test_hole_keeps_the_end_of_a_long_prompt():
    generator = pipe("llama")
    limit = generator.tokenizer.model_max_length
    generator.tokenizer.model_max_length = 12
    try:
        out = generator("the cat sat on the mat " * 4, do_sample=False, max_new_tokens=4, return_tensors=True,
                        handle_long_generation="hole")
    finally:
        generator.tokenizer.model_max_length = limit
    assert len(out[0]["generated_token_ids"]) == 12
