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
import shutil
import subprocess
import sys

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
    ("albert|xlnet|cpm", "tokenize", "東京", None, "surface of an unknown piece (で, NFKD and accents removed: て)"),
    # henkan lists the SentencePiece model's user-defined pieces (CPM's ▂ ▃, always matched whole) among the added
    # tokens; the reference's slow XLNet and CPM tokenizers do not
    ("xlnet|cpm", "info", "", None, "user-defined pieces listed as added tokens"),
    # the reference's fast CPM tokenizer refuses get_special_tokens_mask for ids without special tokens; henkan's
    # fast tokenizers all compute it
    ("cpm_fast", "get_special_tokens_mask", "[7, 8, 9]", None, "the mask, where the reference refuses"),
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
    ("albert|xlnet", "call", "I ❤️", {"return_offsets_mapping": True}, "U+FE0F kept, as the slow tokenizer does"),
    # DeBERTa-v2's converted fast tokenizer strips leading spaces before its normalizer, so its first piece's
    # offsets start at the letter; henkan's (as for the other SentencePiece families) at the space the "▁" stands for
    ("deberta_v2|deberta_v2_lower", "call", "  leading", {"return_offsets_mapping": True}, "leading-space offsets"),
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


# ------------------------------------------------------------------------------------------ loading and saving


@pytest.mark.parametrize("name", ["t5", "xlmr", "llama", "code_llama", "mbart50", "marian", "bartpho", "pegasus",
                                  "byt5", "blenderbot_small"])
def test_slow_class_name_gives_the_same_ids(name):
    golden = _golden(name)
    by_name = getattr(henkan, golden["slow"]).from_pretrained(os.path.join(sp.ROOT, golden["folder"]),
                                                             **golden["kwargs"])
    auto = load(name)
    texts = list(sp.HARD.values())
    assert by_name(texts)["input_ids"] == auto(texts)["input_ids"]
    assert by_name.batch_decode(by_name(texts)["input_ids"]) == auto.batch_decode(auto(texts)["input_ids"])


def test_padding_sides_follow_the_reference_classes():
    folder = os.path.join(sp.ROOT, "llama")
    assert henkan.LlamaTokenizer.from_pretrained(folder).padding_side == "right"  # the slow class
    assert henkan.LlamaTokenizerFast.from_pretrained(folder).padding_side == "left"


@pytest.mark.parametrize("name", ["t5_nonlegacy", "llama", "code_llama", "mbart", "marian", "bartpho", "albert",
                                  "byt5", "blenderbot_small", "bert_generation"])
def test_save_pretrained_round_trip(name, tmp_path):
    golden = _golden(name)
    tok = load(name)
    written = {os.path.basename(p) for p in tok.save_pretrained(tmp_path)}
    shipped = set(os.listdir(os.path.join(sp.ROOT, golden["folder"]))) - {"config.json"}
    assert shipped <= written and "tokenizer.json" in written  # the model files, and a tokenizer.json
    config = json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["tokenizer_class"] == golden["slow"]
    texts = list(sp.HARD.values()) + ["hobbitses and more"]
    again = AutoTokenizer.from_pretrained(tmp_path)  # from tokenizer.json: the fast class
    assert again(texts)["input_ids"] == tok(texts)["input_ids"] or name in ("marian", "llama", "code_llama")
    slow = getattr(henkan, golden["slow"]).from_pretrained(tmp_path)  # the slow name reads the model files again
    assert slow(texts)["input_ids"] == tok(texts)["input_ids"]
    assert slow.batch_decode(slow(texts)["input_ids"]) == tok.batch_decode(tok(texts)["input_ids"])


def test_sentencepiece_is_imported_only_to_convert(tmp_path):
    code = ("import sys, henkan; t = henkan.AutoTokenizer.from_pretrained({!r}); t('hi'); "
            "print('sentencepiece' in sys.modules)")
    saved = tmp_path / "saved"
    load("t5").save_pretrained(saved, legacy_format=False)  # a tokenizer.json only
    for folder, imported in ((saved, "False"), (os.path.join(sp.ROOT, "t5"), "True")):
        out = subprocess.run([sys.executable, "-c", code.format(str(folder))], capture_output=True, text=True,
                             check=True, cwd=os.path.dirname(HERE)).stdout
        assert out.strip() == imported


# ---------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("content", [b"", b"this is a text file, not a model\n" * 20, "truncated"])
def test_a_file_that_is_not_a_sentencepiece_model(tmp_path, content):
    folder = tmp_path / "t5"
    shutil.copytree(os.path.join(sp.ROOT, "t5"), folder)
    if content == "truncated":
        data = (folder / "spiece.model").read_bytes()
        content = data[: len(data) // 3]
    (folder / "spiece.model").write_bytes(content)
    with pytest.raises(ValueError, match=r"spiece\.model \(\d+ bytes\) (is empty|is not a (complete )?"
                                         r"SentencePiece model)"):
        AutoTokenizer.from_pretrained(folder)


def test_missing_sentencepiece_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    monkeypatch.setitem(sys.modules, "sentencepiece.sentencepiece_model_pb2", None)
    with pytest.raises(ImportError, match="pip install sentencepiece"):
        AutoTokenizer.from_pretrained(os.path.join(sp.ROOT, "t5"))


def test_biogpt_without_sacremoses_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "sacremoses", None)
    with pytest.raises(ModuleNotFoundError, match=r"BioGptTokenizer.*needs the `sacremoses` package: pip install "
                                                  r"sacremoses \(or pip install .henkan\[moses\].\)"):
        AutoTokenizer.from_pretrained(os.path.join(sp.ROOT, "biogpt"))


@pytest.mark.parametrize("name", ["biogpt", "ctrl"])
def test_word_bpe_tokenizers_save_their_files_and_reload(name, tmp_path):
    """BioGPT's and CTRL's tokenizers have no tokenizer.json form (their pieces come from Python code, as in the
    reference): they save vocab.json and merges.txt, and the folder gives the same ids and text again."""
    tok = load(name)
    written = {os.path.basename(p) for p in tok.save_pretrained(tmp_path)}
    assert {"vocab.json", "merges.txt", "tokenizer_config.json"} <= written and "tokenizer.json" not in written
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert type(again) is type(tok)
    texts = [sp.BIOMEDICAL, "Links α-synuclein\nnext"]
    assert again(texts)["input_ids"] == tok(texts)["input_ids"]
    assert again.batch_decode(tok(texts)["input_ids"]) == tok.batch_decode(tok(texts)["input_ids"])


def test_ctrl_control_codes():
    """model_doc/ctrl: a prompt starts with a control code, a word of the vocabulary that stays whole."""
    tok = load("ctrl")
    assert tok.control_codes["Links"] == 63674 and len(tok.control_codes) == 55
    ids = tok("Links Hello, my dog is cute")["input_ids"]
    assert tok.convert_ids_to_tokens(ids[0]) == "Links" and tok.decode(ids).startswith("Links H")


def test_unknown_language_codes():
    tok = load("mbart")
    with pytest.raises(ValueError, match=r"src_lang='xx_YY' is not a language code of MBartTokenizerFast; use one "
                                         r"of ar_AR, cs_CZ, .*, zh_CN\."):
        tok.src_lang = "xx_YY"
    assert tok.src_lang == "en_XX" and tok("a")["input_ids"][-1] == tok.lang_code_to_id["en_XX"]
    with pytest.raises(ValueError, match="tgt_lang='de' is not a language code"):
        tok.set_tgt_lang_special_tokens("de")
    tok.tgt_lang = None
    with pytest.raises(ValueError, match="has no tgt_lang"):
        tok(text_target="a")
    with pytest.raises(ValueError, match="src_lang='en' is not a language code"):
        AutoTokenizer.from_pretrained(os.path.join(sp.ROOT, "mbart50"), src_lang="en")


# ----------------------------------------------------------------------------------------- the seed examples


def test_code_llama_infilling_seed_example():
    tok = load("code_llama")
    prompt = 'def remove_non_ascii(s: str) -> str:\n    """ <FILL_ME>\n    return result\n'
    ids = tok(prompt, return_tensors="pt")["input_ids"]
    assert ids[0, :2].tolist() == [tok.bos_token_id, tok.prefix_id] and ids[0, -1].item() == tok.middle_id
    assert tok.suffix_id in ids[0].tolist() and tok.convert_tokens_to_ids("<FILL_ME>") == tok.unk_token_id
    generated = ids.tolist()[0] + tok.encode(" Remove non-ASCII.", add_special_tokens=False) + [tok.eot_id]
    filling = tok.batch_decode([generated[ids.shape[1]:]], skip_special_tokens=True)[0]
    assert prompt.replace("<FILL_ME>", filling) == ('def remove_non_ascii(s: str) -> str:\n    """  Remove '
                                                     'non-ASCII.\n    return result\n')
    prefix, suffix = prompt.split("<FILL_ME>")
    assert tok(prefix, suffix=suffix)["input_ids"] == ids[0].tolist()  # the same as an explicit suffix
    first = tok(prompt, suffix_first=True)["input_ids"]
    assert first[:3] == [tok.bos_token_id, tok.prefix_id, tok.suffix_id] and sorted(first) == sorted(ids[0].tolist())


def test_byt5_seed_examples():
    tok = AutoTokenizer.from_pretrained(os.path.join(sp.ROOT, "byt5"))
    assert type(tok).__name__ == "ByT5Tokenizer"
    batch = tok(["Life is like a box of chocolates.", "Today is Monday."], padding="longest", return_tensors="pt")
    assert batch["input_ids"][0].tolist() == [b + 3 for b in b"Life is like a box of chocolates."] + [1]
    assert batch["attention_mask"][1].tolist() == [1] * 17 + [0] * 17
    input_ids = tok("The dog chases a ball in the park.").input_ids
    masked = input_ids[:8] + [258] + input_ids[14:21] + [257] + input_ids[28:]
    assert masked == [87, 107, 104, 35, 103, 114, 106, 35, 258, 35, 100, 35, 101, 100, 111, 111, 257, 35, 115, 100,
                      117, 110, 49, 1]
    output_ids = [0, 258, 108, 118, 35, 119, 107, 104, 35, 114, 113, 104, 35, 122, 107, 114, 35, 103, 114, 104, 118,
                  257, 35, 108, 113, 35, 119, 107, 104, 35, 103, 108, 118, 102, 114, 256, 108, 113, 35, 119, 107, 104,
                  35, 115, 100, 117, 110, 49, 35, 87, 107, 104, 35, 103, 114, 106, 35, 108, 118, 35, 119, 107, 104, 35,
                  114, 113, 104, 35, 122, 107, 114, 35, 103, 114, 104, 118, 35, 100, 35, 101, 100, 111, 111, 35, 108,
                  113, 255, 35, 108, 113, 35, 119, 107, 104, 35, 115, 100, 117, 110, 49]
    parts, start, sentinel = [], 0, 258
    while sentinel in output_ids:
        split = output_ids.index(sentinel)
        parts.append(output_ids[start:split])
        start, sentinel = split, sentinel - 1
    parts.append(output_ids[start:])
    assert tok.batch_decode(parts) == ['<pad>', 'is the one who does', ' in the disco',
                                       'in the park. The dog is the one who does a ball in', ' in the park.']


def test_translation_and_summarization_seed_preprocessing():
    tok = load("t5")
    inputs = ["translate English to French: " + s for s in ("The weather is nice today.", "Hello world")]
    targets = ["Le café est très bon.", "Le renard brun saute."]
    model_inputs = tok(inputs, text_target=targets, max_length=128, truncation=True)
    assert model_inputs["labels"] == tok(targets)["input_ids"] and set(model_inputs) == {
        "input_ids", "attention_mask", "labels"}
    labels = tok(text_target=targets, max_length=4, truncation=True)
    assert [len(x) for x in labels["input_ids"]] == [4, 4] and labels["input_ids"][0][-1] == tok.eos_token_id
    import numpy as np

    padded = np.array(tok(targets, padding=True)["input_ids"])
    with_ignored = np.where(padded != tok.pad_token_id, padded, -100)
    restored = np.where(with_ignored != -100, with_ignored, tok.pad_token_id)
    assert tok.batch_decode(restored, skip_special_tokens=True) == targets


def test_targets_use_the_target_language_and_model():
    mbart = load("mbart")
    out = mbart("Hello", text_target="Salut")
    assert out["input_ids"][-2:] == [mbart.eos_token_id, mbart.lang_code_to_id["en_XX"]]
    assert out["labels"][-2:] == [mbart.eos_token_id, mbart.lang_code_to_id["ro_RO"]]
    with pytest.warns(UserWarning, match="as_target_tokenizer"):
        with mbart.as_target_tokenizer():
            assert mbart("Salut")["input_ids"] == out["labels"]
    assert mbart("Hello")["input_ids"] == out["input_ids"]  # back to the source language
    mbart50 = load("mbart50")
    assert mbart50("Hello")["input_ids"][0] == mbart50.lang_code_to_id["en_XX"]
    forced = mbart50._build_translation_inputs("Hello", "pt", src_lang="de_DE", tgt_lang="fr_XX")
    assert forced["forced_bos_token_id"] == mbart50.lang_code_to_id["fr_XX"]
    assert forced["input_ids"][0, 0].item() == mbart50.lang_code_to_id["de_DE"]
    marian = load("marian")
    source, target = marian("Le café"), marian(text_target="Le café")
    assert source["input_ids"] != target["input_ids"]  # the target model knows French
    with pytest.warns(UserWarning):
        with marian.as_target_tokenizer():
            assert marian("Le café")["input_ids"] == target["input_ids"]
    assert marian(">>fr<< Hello")["input_ids"][0] == marian.convert_tokens_to_ids(">>fr<<")
    assert marian.supported_language_codes == [">>fr<<", ">>de<<", ">>ro<<"]


def test_bartpho_seed_example():
    tok = AutoTokenizer.from_pretrained(os.path.join(sp.ROOT, "bartpho"))
    line = "Chúng tôi là những nghiên cứu viên."
    ids = tok(line, return_tensors="pt")["input_ids"]
    assert ids[0, 0].item() == tok.cls_token_id and ids[0, -1].item() == tok.sep_token_id
    masked = tok(["Chúng tôi là <mask> nghiên cứu viên."], return_tensors="pt")["input_ids"]
    assert (masked[0] == tok.mask_token_id).nonzero().numel() == 1
    assert tok.decode(ids[0], skip_special_tokens=True) == line
    assert tok("Hello")["input_ids"].count(tok.unk_token_id) >= 1  # pieces outside dict.txt are unknown
