"""Image processors against the reference's pixel_values (tests/fixtures/make_processing.py), the seed's reprs, and
hostile inputs."""

import json
import os
import warnings

import numpy as np
import pytest

from conftest import FIXTURES

PIL = pytest.importorskip("PIL.Image")

from henkan.processing import image_processors  # noqa: E402
from henkan.processing.image_processing import get_size_dict  # noqa: E402

HERE = os.path.join(FIXTURES, "processing")
with open(os.path.join(HERE, "images.json"), encoding="utf-8") as f:
    _ALL = json.load(f)["cases"]
CASES = {case["name"]: case for case in _ALL if not case.get("segmentation")}
SEGMENTATION = {case["name"]: case for case in _ALL if case.get("segmentation")}
GOLDEN = np.load(os.path.join(HERE, "images.npz"))


def load_input(name: str):
    if name in ("float_hwc", "uint8_chw"):
        return np.load(os.path.join(HERE, "arrays.npz"))[name]
    return PIL.open(os.path.join(HERE, "images", f"{name}.png"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_pixel_values_match_reference(name):
    case = CASES[name]
    processor = getattr(image_processors, case["class"])(**case["settings"])
    assert repr(processor) == case["repr"]
    for group in case["inputs"]:
        images = [load_input(n) for n in group.split("+")]
        got = processor(images, return_tensors="np", **case["call"])["pixel_values"]
        assert got.dtype == np.float32
        if group in case["digests"]:
            want = case["digests"][group]
            assert list(got.shape) == want["shape"]
            np.testing.assert_allclose(got[:, :, :8, :8], want["corner"], atol=1e-6)
            assert got.astype(np.float64).sum() == pytest.approx(want["sum"], rel=1e-6, abs=1e-2)
            assert np.abs(got.astype(np.float64)).sum() == pytest.approx(want["abs_sum"], rel=1e-6)
        else:
            np.testing.assert_allclose(got, GOLDEN[f"{name}/{group}"], atol=1e-6, err_msg=f"{name}/{group}")


@pytest.mark.parametrize("name", ["vit", "clip", "convnext_crop_pct", "efficientnet"])
def test_reads_and_writes_reference_configs(name, tmp_path):
    case = CASES[name]
    folder = os.path.join(HERE, "configs", name)
    processor = getattr(image_processors, case["class"]).from_pretrained(folder)
    assert repr(processor) == case["repr"]
    processor.save_pretrained(tmp_path)
    with open(os.path.join(folder, "preprocessor_config.json")) as a, \
            open(tmp_path / "preprocessor_config.json") as b:
        assert json.load(a) == json.load(b)


def test_inputs_as_paths_tensors_and_lists():
    torch = pytest.importorskip("torch")
    processor = image_processors.ViTImageProcessor(size={"height": 30, "width": 26})
    want = GOLDEN["vit/rgb_51x37"]
    path = os.path.join(HERE, "images", "rgb_51x37.png")
    for images in (path, [path], [[path]], torch.from_numpy(np.array(load_input("rgb_51x37")))):
        np.testing.assert_allclose(processor(images, return_tensors="np")["pixel_values"], want, atol=1e-6)
    chw = torch.from_numpy(load_input("uint8_chw"))
    got = processor(chw, return_tensors="pt")["pixel_values"]
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), GOLDEN["vit/uint8_chw"], atol=1e-6)
    batch = processor([load_input("rgb_51x37"), load_input("rgb_9x61")])["pixel_values"]
    assert isinstance(batch, list) and [b.shape for b in batch] == [(3, 30, 26)] * 2


def test_seed_reprs():
    """create_a_model: ViTImageProcessor() and a customised one print as the reference 4.57 prints them (the seed's
    older output lacks do_rescale/rescale_factor and gives size as an int)."""
    default = repr(image_processors.ViTImageProcessor())
    assert default.startswith("ViTImageProcessor {\n") and default.endswith("}\n")
    settings = json.loads(default[len("ViTImageProcessor "):])
    assert settings == {"do_convert_rgb": None, "do_normalize": True, "do_rescale": True, "do_resize": True,
                        "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "ViTImageProcessor",
                        "image_std": [0.5, 0.5, 0.5], "resample": 2, "rescale_factor": 1 / 255,
                        "size": {"height": 224, "width": 224}}
    custom = image_processors.ViTImageProcessor(resample="PIL.Image.BOX", do_normalize=False,
                                                image_mean=[0.3, 0.3, 0.3])
    assert '"resample": "PIL.Image.BOX"' in repr(custom) and '"do_normalize": false' in repr(custom)
    assert custom(load_input("rgb_51x37"), return_tensors="np")["pixel_values"].shape == (1, 3, 224, 224)


def test_size_forms():
    assert get_size_dict(224) == {"height": 224, "width": 224}
    assert get_size_dict(224, default_to_square=False) == {"shortest_edge": 224}
    assert get_size_dict(224, max_size=300, default_to_square=False) == {"shortest_edge": 224, "longest_edge": 300}
    assert get_size_dict((20, 30)) == {"height": 20, "width": 30}
    assert get_size_dict((20, 30), height_width_order=False) == {"height": 30, "width": 20}
    assert image_processors.CLIPImageProcessor(size=40).size == {"shortest_edge": 40}
    assert image_processors.ViTImageProcessor(size=40).size == {"height": 40, "width": 40}
    processor = image_processors.CLIPImageProcessor(size={"shortest_edge": 20, "longest_edge": 30}, crop_size=10)
    assert processor(load_input("rgb_9x61"), do_center_crop=False)["pixel_values"][0].shape == (3, 30, 4)


def test_one_pixel_image():
    """The reference cannot tell the channels of a 1x1 PIL image (it guesses channels-first and fails on the mean);
    henkan knows a PIL image is height x width x channels."""
    processor = image_processors.CLIPImageProcessor(size=8, crop_size=8)
    out = processor(PIL.new("RGB", (1, 1), (255, 0, 0)), return_tensors="np")["pixel_values"]
    assert out.shape == (1, 3, 8, 8)
    np.testing.assert_allclose(out[0, :, 0, 0], (np.array([1.0, 0, 0]) - image_processors.OPENAI_CLIP_MEAN)
                               / image_processors.OPENAI_CLIP_STD, rtol=1e-5)


def test_hostile_inputs(tmp_path):
    processor = image_processors.ViTImageProcessor()
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(ValueError, match="corrupt.png.*(decode|corrupt)"):
        processor(str(corrupt))
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="notes.txt"):
        processor(str(text))
    with pytest.raises(ValueError, match="not an existing file"):
        processor(str(tmp_path / "missing.jpg"))
    with pytest.raises(ValueError, match="folder"):
        processor(str(tmp_path))
    with pytest.raises(ValueError, match="size must have one of the following set of keys"):
        image_processors.ViTImageProcessor(size={"edge": 3})
    with pytest.raises(ValueError, match="grayscale.*do_convert_rgb"):
        processor(load_input("gray_17x29"))
    with pytest.raises(ValueError, match="do_convert_rgb"):
        processor(load_input("rgba_41x23"))
    with pytest.raises(ValueError, match="empty"):
        processor([])
    with pytest.raises(ValueError, match="Invalid image type"):
        processor(3.5)
    with pytest.raises(ValueError, match="'pt'.*'np'"):
        processor(load_input("rgb_51x37"), return_tensors="tf")
    with pytest.warns(UserWarning, match="'colour'"):
        processor(load_input("rgb_51x37"), colour=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        processor(load_input("rgb_51x37"), size=20)


def _write(folder, name, content):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(content))
    return folder


def test_auto_image_processor_reads_4x_and_5x_forms(tmp_path):
    import henkan

    saved = os.path.join(HERE, "configs", "deit")
    processor = henkan.AutoImageProcessor.from_pretrained(saved, use_fast=False)
    assert type(processor).__name__ == "DeiTImageProcessor" and repr(processor) == CASES["deit"]["repr"]
    # old (feature-extractor era) settings: an int size, the former class name
    old = _write(tmp_path / "old", "preprocessor_config.json",
                 {"feature_extractor_type": "ViTFeatureExtractor", "size": 30, "do_resize": True, "resample": 2,
                  "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "do_normalize": True})
    processor = henkan.AutoImageProcessor.from_pretrained(old)
    assert type(processor).__name__ == "ViTImageProcessor" and processor.size == {"height": 30, "width": 30}
    # the torchvision variant's name, as 5.x saves it by default
    fast = _write(tmp_path / "fast", "preprocessor_config.json",
                  {"image_processor_type": "CLIPImageProcessorFast", "size": {"shortest_edge": 30}, "crop_size": 28})
    assert type(henkan.AutoImageProcessor.from_pretrained(fast)).__name__ == "CLIPImageProcessor"
    # 5.x processor_config.json: the image processor's settings nested under "image_processor"
    nested = _write(tmp_path / "v5", "processor_config.json",
                    {"processor_class": "CLIPProcessor", "image_processor": {
                        "image_processor_type": "CLIPImageProcessorFast", "size": {"shortest_edge": 30},
                        "crop_size": {"height": 28, "width": 28}}})
    processor = henkan.AutoImageProcessor.from_pretrained(nested)
    np.testing.assert_allclose(processor(load_input("rgb_51x37"), return_tensors="np")["pixel_values"],
                               GOLDEN["clip/rgb_51x37"], atol=1e-6)
    # no class named: config.json's model_type decides; kwargs override settings
    untyped = _write(tmp_path / "untyped", "preprocessor_config.json", {"size": {"shortest_edge": 40}})
    _write(untyped, "config.json", {"model_type": "convnext"})
    processor = henkan.AutoImageProcessor.from_pretrained(untyped, crop_pct=0.5)
    assert type(processor).__name__ == "ConvNextImageProcessor" and processor.crop_pct == 0.5
    # feature extractor of a vision checkpoint: the image processor
    assert type(henkan.AutoFeatureExtractor.from_pretrained(saved)).__name__ == "DeiTImageProcessor"


def test_auto_image_processor_bad_input(tmp_path):
    import henkan

    with pytest.raises(OSError, match="preprocessor_config.json"):
        henkan.AutoImageProcessor.from_pretrained(str(tmp_path))
    remote = _write(tmp_path / "remote", "preprocessor_config.json",
                    {"auto_map": {"AutoImageProcessor": "mine.MyProcessor"}})
    with pytest.raises(ValueError, match="never runs code"):
        henkan.AutoImageProcessor.from_pretrained(remote, trust_remote_code=True)
    unknown = _write(tmp_path / "unknown", "preprocessor_config.json", {"image_processor_type": "os.system"})
    with pytest.raises(ValueError, match="Unknown preprocessing class 'os.system'"):
        henkan.AutoImageProcessor.from_pretrained(unknown)
    bad_size = _write(tmp_path / "bad_size", "preprocessor_config.json",
                      {"image_processor_type": "ViTImageProcessor", "size": {"edge": 3}})
    with pytest.raises(ValueError, match="size must have one of the following set of keys"):
        henkan.AutoImageProcessor.from_pretrained(bad_size)
    nothing = _write(tmp_path / "nothing", "preprocessor_config.json", {"size": 3})
    with pytest.raises(ValueError, match="names no class"):
        henkan.AutoImageProcessor.from_pretrained(nothing)


def test_auto_register_a_custom_image_processor(tmp_path):
    import henkan
    from henkan.processing import auto

    class MyConfig:
        model_type = "my-vision"

    class MyImageProcessor(image_processors.ViTImageProcessor):
        pass

    henkan.AutoImageProcessor.register(MyConfig, MyImageProcessor)
    try:
        folder = _write(tmp_path / "mine", "preprocessor_config.json", {"size": 12})
        _write(folder, "config.json", {"model_type": "my-vision"})
        assert type(henkan.AutoImageProcessor.from_pretrained(folder)) is MyImageProcessor
        MyImageProcessor(size=12).save_pretrained(tmp_path / "saved")
        assert type(henkan.AutoImageProcessor.from_pretrained(tmp_path / "saved")) is MyImageProcessor
        with pytest.raises(ValueError, match="already a henkan class"):
            henkan.AutoImageProcessor.register(MyConfig, image_processors.ViTImageProcessor)
    finally:
        auto.MODEL_TYPES.pop("my-vision")
        auto._REGISTERED.pop("MyImageProcessor")


@pytest.mark.parametrize("name", sorted(SEGMENTATION))
def test_beit_segmentation_maps_match_reference(name):
    processor = image_processors.BeitImageProcessor(**SEGMENTATION[name]["settings"])
    label_map = PIL.open(os.path.join(HERE, "images", "labels_51x37.png"))
    as_array = np.array(label_map).astype(np.int64)
    for kind, labels in (("pil", label_map), ("array", as_array)):
        out = processor(load_input("rgb_51x37"), segmentation_maps=labels, return_tensors="np")
        np.testing.assert_allclose(out["pixel_values"], GOLDEN[f"{name}/{kind}/pixel_values"], atol=1e-6)
        assert out["labels"].dtype == np.int64
        np.testing.assert_array_equal(out["labels"], GOLDEN[f"{name}/{kind}/labels"])
    assert as_array.min() == 0  # the caller's map is not reduced in place


def test_post_process_semantic_segmentation_matches_reference():
    torch = pytest.importorskip("torch")
    outputs = type("Outputs", (), {"logits": torch.from_numpy(GOLDEN["post/logits"])})()
    post = image_processors.BeitImageProcessor().post_process_semantic_segmentation
    np.testing.assert_array_equal(torch.stack(post(outputs)).numpy(), GOLDEN["post/none"])
    for i, mask in enumerate(post(outputs, target_sizes=torch.tensor([[13, 17], [5, 9]]))):
        np.testing.assert_array_equal(mask.numpy(), GOLDEN[f"post/sized/{i}"])
    with pytest.raises(ValueError, match="as many target sizes"):
        post(outputs, target_sizes=[(4, 4)])
