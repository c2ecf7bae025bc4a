"""The image-classification and image-feature-extraction pipelines against the reference's outputs on the tiny
vision checkpoints and their image processors (tests/fixtures/make_vision.py), and the image classification task
guide's inference example on a local checkpoint."""

import json
import os

import numpy as np
import pytest
import torch

import henkan
from conftest import FIXTURES

VISION = os.path.join(FIXTURES, "vision")
IMAGES = os.path.join(VISION, "images")
with open(os.path.join(VISION, "pipelines.json"), encoding="utf-8") as f:
    GOLDENS = json.load(f)
SCORE_TOLERANCE = 1e-4  # scores to 4 decimals


def image_input(spec):
    """A golden call's input: a path, a numpy array (`array:`), a PIL image (`pil:`), or a list of them."""
    from PIL import Image

    if isinstance(spec, list):
        return [image_input(item) for item in spec]
    kind, _, file = spec.rpartition(":")
    path = os.path.join(IMAGES, file)
    if kind == "array":
        return np.asarray(Image.open(path))
    return Image.open(path) if kind == "pil" else path


def assert_same(actual, expected, where):
    if isinstance(expected, dict):
        assert actual["label"] == expected["label"], where
        assert abs(actual["score"] - expected["score"]) < SCORE_TOLERANCE, where
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for a, e in zip(actual, expected):
            assert_same(a, e, where)
    else:
        assert abs(actual - expected) < SCORE_TOLERANCE, where


_PIPES = {}


def pipe_for(key):
    if key not in _PIPES:
        task, folder = key.split("/")
        _PIPES[key] = henkan.pipeline(task, model=os.path.join(VISION, folder))
    return _PIPES[key]


@pytest.mark.parametrize("key", sorted(GOLDENS))
def test_pipeline_outputs_match_reference(key):
    pipe = pipe_for(key)
    for run in GOLDENS[key]:
        assert_same(pipe(image_input(run["input"]), **run["kwargs"]), run["output"], f"{key} {run}")


def test_task_inferred_and_inputs_in_every_form():
    path = os.path.join(VISION, "vit-forimageclassification")
    pipe = henkan.pipeline(model=path)
    assert isinstance(pipe, henkan.ImageClassificationPipeline)
    rgb = os.path.join(IMAGES, "rgb_37x29.png")
    expected = pipe(rgb)
    from PIL import Image

    for given in (Image.open(rgb), np.asarray(Image.open(rgb)), __import__("pathlib").Path(rgb)):
        assert_same(pipe(given), expected, type(given).__name__)
    assert_same(pipe(images=rgb), expected, "images=")
    assert_same(list(pipe(iter([rgb, rgb]), batch_size=2)), [expected, expected], "generator")
    model = henkan.AutoModelForImageClassification.from_pretrained(path)
    processor = henkan.AutoImageProcessor.from_pretrained(path)
    assert_same(henkan.pipeline("image-classification", model=model, image_processor=processor)(rgb), expected,
                "objects")


def test_feature_extraction_return_tensors():
    pipe = pipe_for("image-feature-extraction/vit-model")
    features = pipe(os.path.join(IMAGES, "rgb_37x29.png"), return_tensors=True)
    assert isinstance(features, torch.Tensor) and features.shape == (1, 17, 32)
    pooled = pipe(os.path.join(IMAGES, "rgb_37x29.png"), pool=True, return_tensors=True)
    assert pooled.shape == (1, 32)


def test_bad_images_raise_clear_errors(tmp_path):
    pipe = pipe_for("image-classification/vit-forimageclassification")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ValueError, match="Cannot read an image"):
        pipe(str(corrupt))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="Cannot read an image"):
        pipe(str(text))
    with pytest.raises(ValueError, match="not an existing file"):
        pipe(str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match="without an inputs argument"):
        pipe(None)
    with pytest.raises(ValueError, match="function_to_apply"):
        pipe(os.path.join(IMAGES, "rgb_37x29.png"), function_to_apply="relu")
    with pytest.raises(TypeError, match="unexpected argument"):
        pipe(os.path.join(IMAGES, "rgb_37x29.png"), topk=2)


def test_one_pixel_image_is_classified():
    """A 1x1 image is resized up by the image processor like any other."""
    out = pipe_for("image-classification/vit-forimageclassification")(np.zeros((1, 1, 3), dtype=np.uint8))
    assert len(out) == 3 and abs(sum(r["score"] for r in out) - 1) < 1e-5


def test_task_guide_inference_example():
    """tasks/image_classification: AutoImageProcessor, AutoModelForImageClassification, argmax, id2label."""
    from PIL import Image

    checkpoint = os.path.join(VISION, "vit-forimageclassification")
    image = Image.open(os.path.join(IMAGES, "rgb_37x29.png"))
    classifier = henkan.pipeline("image-classification", model=checkpoint)
    best = classifier(image)[0]["label"]
    image_processor = henkan.AutoImageProcessor.from_pretrained(checkpoint)
    inputs = image_processor(image, return_tensors="pt")
    model = henkan.AutoModelForImageClassification.from_pretrained(checkpoint)
    with torch.no_grad():
        logits = model(**inputs).logits
    predicted_label = logits.argmax(-1).item()
    assert model.config.id2label[predicted_label] == best
