"""SentencePiece-only checkpoints (and the other tokenizers of issue 7's families): henkan converts the `.model`
files and gives the ids, tokens and decoded texts of the reference's slow tokenizer, and the offsets of its fast one.

The folders and goldens under tests/fixtures/sentencepiece/ were made by tests/fixtures/make_sentencepiece.py
with transformers 4.57; its `run_case` drives both libraries the same way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re

import pytest

import henkan
from henkan import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("make_sentencepiece",
                                               os.path.join(HERE, "fixtures", "make_sentencepiece.py"))
sp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sp)
GOLDENS = sorted(name[:-5] for name in os.listdir(sp.GOLDEN) if name.endswith(".json"))

# Where henkan knowingly differs from the reference's slow tokenizer: (subjects, op, start of the first argument,
# keyword arguments or None for any, why).
PAIR = sp.PAIRS[0][0]
KNOWN = [
    # tokenize() shows an unknown piece by its text before normalization ("½"), the slow one after ("⁄"); the ids
    # are the same
    ("*", "tokenize", "ﬁne", None, "surface of an unknown piece"),
    ("albert", "tokenize", "東京", None, "surface of an unknown piece (で, NFKD and accents removed: て)"),
    # the slow T5 adds no </s> after a text that ends with one (and warns that this will change); henkan adds it,
    # as the reference's fast tokenizer does
    ("t5|mt5|t5_nonlegacy", "encode", "x</s>", None, "</s> after a text ending in </s>"),
    # two segmentations with the same score: SentencePiece sums scores in float32, the Rust Unigram in float64,
    # and the rounding picks "00 0" in one and "0 00" in the other (the reference's fast tokenizer agrees with
    # henkan)
    ("albert", "call", "In 2024", None, "a tie broken by rounding"),
    ("albert", "tokenize", "In 2024", None, "a tie broken by rounding"),
    # the reference's fast ALBERT strips U+FE0F (a variation selector) with the accents, its slow one (and henkan)
    # keep it, so the unknown piece spans "❤️" and the offsets differ from the fast tokenizer's
    ("albert", "call", "I ❤️", {"return_offsets_mapping": True}, "U+FE0F kept, as the slow tokenizer does"),
    # the slow Code Llama lists its infilling tokens twice in additional_special_tokens
    ("code_llama", "info", "", None, "infilling tokens listed twice by the slow tokenizer"),
    # legacy=False: a text that starts with a space or with an added token that is not special gets a "▁" of its
    # own before it in the slow tokenizer; henkan does this only for texts without added tokens
    ("code_llama|llama_eos|llama_nonlegacy", "call", "hobbitses", {}, "legacy=False with a leading added token"),
    ("code_llama|llama_nonlegacy", "decode_text", "hobbitses", {}, "legacy=False with a leading added token"),
    ("llama_eos|llama_nonlegacy", "call", " <s>", {}, "legacy=False, leading space and an added token"),
    # a run of characters the Marian source model does not know is one unknown piece whose text is looked up in
    # vocab.json; henkan looks up each character
    ("marian", "call", "東京", None, "a run of unknown characters"),
    ("marian", "tokenize", "東京", None, "a run of unknown characters"),
    ("marian", "decode_text", "東京", None, "a run of unknown characters"),
    ("marian", "call", '["The weather', {"padding": True}, "a run of unknown characters (öß)"),
    # the slow Blenderbot drops the second text of a pair (and counts RoBERTa's special tokens in its masks);
    # henkan lays pairs out as the reference's fast Blenderbot tokenizer does
    ("blenderbot", "call", '["The quick', {"padding": True, "return_length": True, "return_special_tokens_mask": True},
     "the slow mask counts <s>"),
    ("blenderbot", "call", '["The weather', None, "pairs as the fast tokenizer lays them out"),
    ("blenderbot", "call", PAIR, None, "pairs as the fast tokenizer lays them out"),
    ("blenderbot", "num_special_tokens_to_add", "", {"pair": True}, "pairs as the fast tokenizer lays them out"),
    ("blenderbot", "build_inputs_with_special_tokens", "[7, 8, 9], [10", None, "pairs as the fast tokenizer"),
    ("blenderbot", "get_special_tokens_mask", "[7, 8, 9]", None, "pairs as the fast tokenizer lays them out"),
    ("blenderbot", "create_token_type_ids_from_sequences", "[7, 8, 9], [10", None, "pairs as the fast tokenizer"),
    ("blenderbot", "decode_text", PAIR, None, "pairs as the fast tokenizer lays them out"),
]


def _known(name: str, case: dict) -> str | None:
    args = json.dumps(case["args"], ensure_ascii=False)[1:]
    for subjects, op, start, kwargs, why in KNOWN:
        if (subjects == "*" or name in subjects.split("|")) and case["op"] == op and \
                args.lstrip('"').startswith(start) and (kwargs is None or kwargs == case["kwargs"]):
            return why
    return None


def _expected(case: dict):
    """What henkan must give: the slow tokenizer's outcome; for offsets, the fast one's when its ids are the slow
    one's (else the slow data, without offsets); errors by type only (messages differ)."""
    slow = {k: case[k] for k in ("result", "error") if k in case}
    if case["kwargs"].get("return_offsets_mapping"):
        if "fast" not in case:  # the reference has no fast tokenizer, hence no offsets (the ids are other cases)
            return None
        fast = case["fast"]
        if "error" in slow or "error" in fast:
            return {"error": True}
        slow_data = slow["result"]["data"]
        fast_data = dict(fast["result"]["data"])
        offsets = fast_data.pop("offset_mapping", None)
        if fast_data == slow_data:
            return {"result": {**slow["result"], "data": {**slow_data, "offset_mapping": offsets}}}
        return {"result": slow["result"], "offsets_differ": True}
    if "error" in slow:
        return {"error": True}
    return json.loads(json.dumps(slow))


def _info(result: dict, fast_class: bool) -> dict:
    """The compared part of `info`: not the class (AutoTokenizer gives the fast one) nor, for the fast class, its
    padding side (the reference's fast Llama tokenizers pad on the left, its slow ones on the right); added tokens
    without their `normalized` flag (henkan matches all added tokens on the text as it is, as the slow tokenizers
    do, whatever the flag says)."""
    result = {k: v for k, v in result.items() if k != "class" and not (k == "padding_side" and fast_class)}
    result["added_tokens_decoder"] = {k: re.sub(r"normalized=\w+, ", "", v)
                                      for k, v in result["added_tokens_decoder"].items()}
    return result


def _got(tok, case: dict, expected: dict):
    outcome = sp.outcome(tok, case, "henkan")
    if case["op"] == "info":
        expected["result"] = _info(expected["result"], tok.is_fast and type(tok).__name__.endswith("Fast"))
        outcome["result"] = _info(outcome["result"], type(tok).__name__.endswith("Fast"))
    if "error" in outcome:
        return {"error": True} if "error" in expected else outcome
    if expected.get("offsets_differ"):
        outcome["result"]["data"].pop("offset_mapping", None)
        outcome["offsets_differ"] = True
    return outcome


def load(name: str):
    golden = _golden(name)
    return AutoTokenizer.from_pretrained(os.path.join(sp.ROOT, golden["folder"]), **golden["kwargs"])


def _golden(name: str) -> dict:
    with open(os.path.join(sp.GOLDEN, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("name", GOLDENS)
def test_golden(name):
    golden = _golden(name)
    tok = load(name)
    failures = []
    for case in golden["cases"]:
        expected = _expected(case)
        if expected is None:
            continue
        got = _got(tok, case, expected)
        if got != expected and not _known(name, case):
            failures.append(f"{case['op']} {json.dumps(case['args'], ensure_ascii=False)[:70]} {case['kwargs']}:\n"
                            f"  henkan:    {json.dumps(got, ensure_ascii=False)[:700]}\n"
                            f"  reference: {json.dumps(expected, ensure_ascii=False)[:700]}")
    assert not failures, f"{len(failures)} of {len(golden['cases'])} cases differ:\n" + "\n".join(failures[:8])
