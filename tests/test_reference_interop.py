"""Checkpoints henkan saves load in the reference library with equal outputs (skipped without `transformers`)."""

import os

import pytest
import torch

import henkan
from conftest import MODELS
from test_model_parity import ENCODER_FOLDERS, LABEL_KEYS, golden, path_of

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("folder", sorted(f for f in os.listdir(MODELS) if f != "bert-legacy-bin") + ENCODER_FOLDERS)
def test_reference_loads_what_henkan_saves(folder, tmp_path):
    class_name, inputs, expected = golden(folder)
    getattr(henkan, class_name).from_pretrained(path_of(folder)).save_pretrained(tmp_path)
    model, info = getattr(transformers, class_name).from_pretrained(tmp_path, output_loading_info=True,
                                                                    attn_implementation="eager")
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    with torch.no_grad():
        out = model(**{k: v for k, v in inputs.items() if k not in LABEL_KEYS})
    key = next(k for k in ("logits", "start_logits", "prediction_logits", "initial_token_logits", "last_hidden_state")
               if k in expected)
    torch.testing.assert_close(out[key], expected[key], atol=1e-5, rtol=0)


def test_text_classification_pipeline_equals_the_reference(tmp_path):
    from test_pipelines import TEXTS, classifier_dir

    folder = classifier_dir.__wrapped__(type("Factory", (), {"mktemp": lambda self, name: tmp_path})())
    ours = henkan.pipeline("text-classification", model=folder)(TEXTS, top_k=None)
    theirs = transformers.pipeline("text-classification", model=folder)(TEXTS, top_k=None)
    for a, b in zip(ours, theirs):
        assert [r["label"] for r in a] == [r["label"] for r in b]
        assert all(abs(x["score"] - y["score"]) < 1e-6 for x, y in zip(a, b))


@pytest.mark.parametrize("class_name", ["T5ForConditionalGeneration", "T5Model", "T5EncoderModel",
                                        "T5ForSequenceClassification", "T5ForTokenClassification",
                                        "T5ForQuestionAnswering", "MT5ForConditionalGeneration"])
def test_reference_loads_the_t5_checkpoints_henkan_saves(class_name, tmp_path):
    from test_seq2seq import SEQ2SEQ, encoder_inputs
    from test_seq2seq import golden as seq2seq_golden

    folder = "mt5" if class_name.startswith("MT5") else "t5-v1_1"
    ours = getattr(henkan, class_name).from_pretrained(os.path.join(SEQ2SEQ, folder)).eval()
    ours.save_pretrained(tmp_path)
    theirs, info = getattr(transformers, class_name).from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info
    _, data = seq2seq_golden(folder)
    inputs = encoder_inputs(data)
    if class_name in ("T5ForConditionalGeneration", "T5Model", "MT5ForConditionalGeneration"):
        inputs["decoder_input_ids"] = data["input.decoder_input_ids"]
    if class_name == "T5ForSequenceClassification":
        inputs["input_ids"] = inputs["input_ids"].clone()
        inputs["input_ids"][:, -1] = ours.config.eos_token_id
    with torch.no_grad():
        a, b = ours(**inputs), theirs.eval()(**inputs)
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["clip", "chinese_clip", "align", "altclip", "clap", "wav2vec2", "whisper"])
def test_reference_loads_the_processors_henkan_saves(name, tmp_path):
    """Processors (their tokenizer and image processor / feature extractor) saved by henkan load in the reference
    with the classes and outputs of the originals (tests/fixtures/make_processing.py)."""
    import numpy as np
    import PIL.Image
    from test_processors import HERE, PROCESSOR_CASES, PROCESSOR_ARRAYS, WAVES

    henkan.AutoProcessor.from_pretrained(os.path.join(HERE, "processors", name)).save_pretrained(tmp_path)
    processor = transformers.AutoProcessor.from_pretrained(tmp_path)
    case = PROCESSOR_CASES[name]
    assert type(processor).__name__ == case["class"]
    images = [PIL.Image.open(os.path.join(HERE, "images", n)) for n in ("rgb_51x37.png", "rgb_9x61.png")]
    inputs = {"clip": dict(images=images, padding=True), "chinese_clip": dict(images=images, padding=True),
              "align": dict(images=images, padding=True), "altclip": dict(images=images[0], padding=True),
              "clap": dict(audio=[WAVES["w16k_1p3s"], WAVES["w16k_0p2s"]], padding=True),
              "wav2vec2": dict(audio=WAVES["w16k_0p2s"], sampling_rate=16000),
              "whisper": dict(audio=WAVES["w16k_0p2s"], sampling_rate=16000)}[name]
    np.random.seed(0)
    out = processor(text=case["call"]["text"], **inputs, return_tensors="np")
    for key in case["keys"]:
        np.testing.assert_allclose(np.asarray(out[key]), PROCESSOR_ARRAYS[f"{name}/{key}"], rtol=1e-5, atol=1e-5)
