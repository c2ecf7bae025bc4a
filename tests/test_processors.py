"""CLIP, Wav2Vec2-CTC and Whisper tokenizers and the processors against the reference
(tests/fixtures/make_processing.py), the seed's processor construction, and saving/loading."""

import json
import os

import numpy as np
import pytest

import henkan
from conftest import FIXTURES

PIL = pytest.importorskip("PIL.Image")

HERE = os.path.join(FIXTURES, "processing")
TOKENIZERS = os.path.join(HERE, "tokenizers")
with open(os.path.join(TOKENIZERS, "golden.json"), encoding="utf-8") as f:
    _TOKENIZER_GOLDEN = json.load(f)
TOKENIZER_CASES = {case["name"]: case for case in _TOKENIZER_GOLDEN["cases"]}
with open(os.path.join(HERE, "processors.json"), encoding="utf-8") as f:
    PROCESSOR_CASES = {case["name"]: case for case in json.load(f)["cases"]}
PROCESSOR_ARRAYS = np.load(os.path.join(HERE, "processors.npz"))
WAVES = np.load(os.path.join(HERE, "waveforms.npz"))


def tokenizer(name: str):
    vocab = os.path.join(TOKENIZERS, "w2v2", "vocab.json")
    make = {
        "clip_fast": lambda: henkan.CLIPTokenizerFast.from_pretrained(os.path.join(TOKENIZERS, "clip_fast")),
        "clip_slow": lambda: henkan.CLIPTokenizer(os.path.join(TOKENIZERS, "clip_vocab", "vocab.json"),
                                                  os.path.join(TOKENIZERS, "clip_vocab", "merges.txt")),
        "w2v2": lambda: henkan.Wav2Vec2CTCTokenizer(vocab),
        "w2v2_lower": lambda: henkan.Wav2Vec2CTCTokenizer(vocab, do_lower_case=True),
        "whisper": lambda: henkan.WhisperTokenizer.from_pretrained(os.path.join(TOKENIZERS, "whisper")),
        "whisper_fast": lambda: henkan.AutoTokenizer.from_pretrained(os.path.join(HERE, "processors", "whisper")),
    }
    return make[name]()


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _assert_same(got, want, where):
    if isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-9), where
    elif isinstance(want, dict):
        assert sorted(got) == sorted(want), where
        for key in want:
            _assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), (where, got, want)
        for i, (a, b) in enumerate(zip(got, want)):
            _assert_same(a, b, f"{where}[{i}]")
    else:
        assert got == want, (where, got, want)


@pytest.mark.parametrize("name", sorted({case["tokenizer"] for case in TOKENIZER_CASES.values()}))
def test_tokenizers_match_reference(name):
    """Each tokenizer's cases in the reference's order, on one instance (Whisper's prefix settings are state)."""
    tok = tokenizer(name)
    for case in _TOKENIZER_GOLDEN["cases"]:
        if case["tokenizer"] != name:
            continue
        call = tok if case["call"] == "__call__" else getattr(tok, case["call"])
        args = case["args"]
        if case["call"] == "_decode_asr":  # the ASR pipeline's windows: token arrays and (length, left, right)
            args = [[{k: (np.array(v) if k == "tokens" else tuple(v)) for k, v in o.items()} for o in args[0]]]
        got = call(*args, **case["kwargs"])
        if hasattr(got, "data"):
            got = dict(got.data)
        _assert_same(_plain(got), case["expected"], case["name"])


def test_whisper_languages_match_reference():
    from henkan.tokenization.multimodal import LANGUAGES

    assert list(LANGUAGES) == _TOKENIZER_GOLDEN["languages"]


@pytest.mark.parametrize("name", sorted(PROCESSOR_CASES))
def test_processors_match_reference(name, tmp_path):
    case = PROCESSOR_CASES[name]
    folder = os.path.join(HERE, "processors", name)
    processor = henkan.AutoProcessor.from_pretrained(folder)
    assert type(processor).__name__ == case["class"]
    assert repr(processor).split("\n")[0] == case["repr_head"]
    images = [PIL.open(os.path.join(HERE, "images", n)) for n in ("rgb_51x37.png", "rgb_9x61.png")]
    inputs = {
        "clip": dict(images=images, padding=True), "chinese_clip": dict(images=images, padding=True),
        "align": dict(images=images, padding=True), "altclip": dict(images=images[0], padding=True),
        "clap": dict(audio=[WAVES["w16k_1p3s"], WAVES["w16k_0p2s"]], padding=True),
        "wav2vec2": dict(audio=WAVES["w16k_0p2s"], sampling_rate=16000),
        "whisper": dict(audio=WAVES["w16k_0p2s"], sampling_rate=16000),
    }[name]
    for round_trip in (False, True):
        if round_trip:  # what henkan saves loads back to the same outputs
            processor.save_pretrained(tmp_path)
            processor = henkan.AutoProcessor.from_pretrained(tmp_path)
            with open(os.path.join(folder, "preprocessor_config.json")) as a, \
                    open(tmp_path / "preprocessor_config.json") as b:
                assert json.load(a) == json.load(b)
        np.random.seed(0)
        out = processor(text=case["call"]["text"], **inputs, return_tensors="np")
        assert sorted(out.keys()) == case["keys"]
        for key in case["keys"]:
            want = PROCESSOR_ARRAYS[f"{name}/{key}"]
            got = np.asarray(out[key])
            assert got.shape == want.shape, f"{name}/{key}"
            if np.issubdtype(want.dtype, np.floating):
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{name}/{key}")
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{name}/{key}")


def test_seed_wav2vec2_processor_construction(tmp_path):
    """create_a_model: a feature extractor and a CTC tokenizer (from a vocabulary file) make a processor."""
    vocab = tmp_path / "my_vocab_file.txt"
    with open(os.path.join(TOKENIZERS, "w2v2", "vocab.json")) as f:
        vocab.write_text(f.read())
    feature_extractor = henkan.Wav2Vec2FeatureExtractor(padding_value=1.0, do_normalize=True)
    tokenizer_ = henkan.Wav2Vec2CTCTokenizer(vocab_file=str(vocab))
    processor = henkan.Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer_)
    out = processor(WAVES["w16k_0p2s"], sampling_rate=16000, text="HELLO")
    assert out["labels"] == [11, 5, 15, 15, 8]
    assert processor.batch_decode([[11, 5, 15, 0, 15, 8]]) == ["HELLO"]
    batch = processor.pad([{"input_values": WAVES["w16k_0p05s"]}, {"input_values": WAVES["w16k_0p2s"]}],
                          padding=True, return_tensors="np")
    assert batch["input_values"].shape == (2, WAVES["w16k_0p2s"].size)
    labels = processor.pad(labels=[{"input_ids": [11, 5]}, {"input_ids": [4]}], padding=True, return_tensors="np")
    assert labels["input_ids"].tolist() == [[11, 5], [4, 0]]
    processor.save_pretrained(tmp_path / "saved")
    again = henkan.AutoProcessor.from_pretrained(tmp_path / "saved")
    assert type(again).__name__ == "Wav2Vec2Processor" and again.feature_extractor.padding_value == 1.0
    assert again.tokenizer("HELLO")["input_ids"] == [11, 5, 15, 15, 8]


def test_align_pads_text_to_64_unless_its_tokenizer_says_otherwise(tmp_path):
    """ALIGN's default padding="max_length", max_length=64 applies to a freshly built tokenizer; a tokenizer loaded
    from a tokenizer.json saved with padding on brings max_length=None, which replaces it (as in the reference)."""
    bert = henkan.BertTokenizerFast(os.path.join(FIXTURES, "tokenizers", "wordpiece", "vocab.txt"))
    processor = henkan.AlignProcessor(henkan.EfficientNetImageProcessor(size=20), bert)
    assert processor(text=["a cat", "the dog on the sofa"], return_tensors="np")["input_ids"].shape == (2, 64)
    processor.save_pretrained(tmp_path)
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    backend.enable_padding(pad_token="[PAD]")  # as the reference saves a fast tokenizer after a padded call
    backend.save(str(tmp_path / "tokenizer.json"))
    loaded = henkan.AutoProcessor.from_pretrained(tmp_path)
    assert [len(ids) for ids in loaded(text=["a cat", "the dog"])["input_ids"]] == [4, 4]


def test_processor_bad_input(tmp_path):
    feature_extractor = henkan.Wav2Vec2FeatureExtractor()
    with pytest.raises(ValueError, match="needs tokenizer"):
        henkan.Wav2Vec2Processor(feature_extractor=feature_extractor)
    with pytest.raises(TypeError, match="tokenizer should be a tokenizer"):
        henkan.Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=feature_extractor)
    processor = henkan.AutoProcessor.from_pretrained(os.path.join(HERE, "processors", "clip"))
    with pytest.raises(ValueError, match="at least one input"):
        processor()
    with pytest.raises(ValueError, match="takes no audio"):
        processor(text="a cat", audio=WAVES["w16k_0p2s"])
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "processor_config.json").write_text(json.dumps({"auto_map": {"AutoProcessor": "x.Y"},
                                                              "processor_class": "Y"}))
    with pytest.raises(ValueError, match="never runs code"):
        henkan.AutoProcessor.from_pretrained(remote)


def test_processor_reads_5x_layout(tmp_path):
    """5.x saves one processor_config.json with the image processor's settings nested in it."""
    import shutil

    source = os.path.join(HERE, "processors", "clip")
    for name in os.listdir(source):
        if name != "preprocessor_config.json":
            shutil.copy(os.path.join(source, name), tmp_path / name)
    with open(os.path.join(source, "preprocessor_config.json")) as f:
        image_processor = json.load(f)
    image_processor.pop("processor_class")
    (tmp_path / "processor_config.json").write_text(json.dumps({"processor_class": "CLIPProcessor",
                                                                "image_processor": image_processor}))
    processor = henkan.AutoProcessor.from_pretrained(tmp_path)
    assert type(processor).__name__ == "CLIPProcessor" and processor.image_processor.crop_size == {
        "height": 28, "width": 28}
    image = PIL.open(os.path.join(HERE, "images", "rgb_51x37.png"))
    np.testing.assert_allclose(processor(images=[image, image], return_tensors="np")["pixel_values"][0],
                               PROCESSOR_ARRAYS["clip/pixel_values"][0], atol=1e-6)


def test_whisper_bad_input():
    tok = tokenizer("whisper_fast")
    with pytest.raises(ValueError, match="Unsupported language: klingon"):
        tok.set_prefix_tokens(language="klingon")
    with pytest.raises(ValueError, match="Unsupported task"):
        tok.get_decoder_prompt_ids(task="summarize")
    with pytest.raises(ValueError, match="token_timestamps"):
        tok._decode_asr([{"tokens": np.array([[1, 2]])}], return_timestamps="word", return_language=False,
                        time_precision=0.02)
    with pytest.raises(ValueError, match="no <\\|startoftranscript\\|> token"):
        henkan.WhisperTokenizerFast.from_pretrained(os.path.join(TOKENIZERS, "clip_fast")).prefix_tokens


def test_auto_processor_without_a_processor():
    """A checkpoint with only an image processor, a feature extractor or a tokenizer gets that."""
    configs = os.path.join(HERE, "configs")
    assert type(henkan.AutoProcessor.from_pretrained(os.path.join(configs, "vit"))).__name__ == "ViTImageProcessor"
    assert type(henkan.AutoProcessor.from_pretrained(os.path.join(configs, "w2v2"))).__name__ == \
        "Wav2Vec2FeatureExtractor"
    assert type(henkan.AutoProcessor.from_pretrained(os.path.join(TOKENIZERS, "clip_fast"))).__name__ == \
        "CLIPTokenizerFast"
    assert type(henkan.AutoFeatureExtractor.from_pretrained(os.path.join(HERE, "processors", "whisper"))).__name__ \
        == "WhisperFeatureExtractor"


def test_asr_guide_collator_and_decoding():
    """tasks/asr: the CTC data collator pads audio and labels separately; labels' padding becomes -100; the
    predictions decode with batch_decode (labels with group_tokens=False)."""
    torch = pytest.importorskip("torch")
    processor = henkan.Wav2Vec2Processor(feature_extractor=henkan.Wav2Vec2FeatureExtractor(),
                                         tokenizer=tokenizer("w2v2"))
    examples = [processor(WAVES[w], sampling_rate=16000, text=t) for w, t in
                (("w16k_0p2s", "HELLO"), ("w16k_0p05s", "A CAT"))]
    input_features = [{"input_values": e["input_values"][0]} for e in examples]
    label_features = [{"input_ids": e["labels"]} for e in examples]
    batch = processor.pad(input_features, padding="longest", return_tensors="pt")
    labels_batch = processor.pad(labels=label_features, padding="longest", return_tensors="pt")
    labels = labels_batch["input_ids"].masked_fill(labels_batch.attention_mask.ne(1), -100)
    assert batch["input_values"].shape == (2, WAVES["w16k_0p2s"].size) and labels.tolist() == [
        [11, 5, 15, 15, 8], [7, 4, 19, 7, 6]]
    label_ids = labels.masked_fill(labels == -100, processor.tokenizer.pad_token_id)
    assert processor.batch_decode(label_ids, group_tokens=False) == ["HELLO", "A CAT"]
    assert processor.batch_decode(torch.tensor([[11, 5, 15, 0, 15, 8, 8]])) == ["HELLO"]
