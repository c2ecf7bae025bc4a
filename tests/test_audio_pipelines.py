"""automatic-speech-recognition (CTC and Whisper), audio-classification and zero-shot-image-classification against
the reference's pipeline outputs (tests/fixtures/make_audio_pipelines.py), and their bad inputs.

The reference is given the waveforms henkan decodes from the same files (it has no ffmpeg or torchaudio here), so
file decoding and resampling are henkan's own; everything after them is compared: texts exactly, timestamps and
scores to 4 decimals.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import henkan
from henkan import pipeline
from henkan.processing.audio_utils import load_audio

FIXTURES = Path(__file__).parent / "fixtures"
AUDIO = FIXTURES / "audio_pipelines"
GOLDEN = json.loads((AUDIO / "golden.json").read_text())["cases"]
_PIPES: dict = {}


def _pipe(task: str, folder: str):
    if (task, folder) not in _PIPES:
        _PIPES[task, folder] = pipeline(task, model=str(FIXTURES / folder))
    return _PIPES[task, folder]


def _input(source, rate: int):
    """A case's input as henkan takes it: recordings by path, dicts with the waveform decoded."""
    if isinstance(source, list):
        return [_input(s, rate) for s in source]
    if isinstance(source, dict):
        key = "raw" if "raw" in source else "array"
        name, _, own_rate = source[key].partition("@")
        waveform = load_audio(AUDIO / name, int(own_rate or source["sampling_rate"]))
        return {**source, key: waveform, "sampling_rate": int(own_rate or source["sampling_rate"])}
    if source.endswith(".png"):
        return str(FIXTURES / "processing" / "images" / source)
    return str(AUDIO / source)


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_matches_reference(name):
    case = GOLDEN[name]
    pipe = _pipe(case["task"], case["model"])
    rate = pipe.feature_extractor.sampling_rate if pipe.feature_extractor is not None else 16000
    torch.manual_seed(0)
    output = pipe(_input(case["input"], rate), **case["kwargs"])
    assert _rounded(json.loads(json.dumps(output))) == _rounded(case["output"])


def test_task_inference_and_defaults():
    assert type(pipeline(model=str(FIXTURES / "whisper/whisper-asr"))).__name__ == \
        "AutomaticSpeechRecognitionPipeline"
    assert type(pipeline(model=str(FIXTURES / "audio/data2vec-audio"))).__name__ == \
        "AutomaticSpeechRecognitionPipeline"
    assert type(pipeline(model=str(FIXTURES / "audio/ast"))).__name__ == "AudioClassificationPipeline"
    assert type(pipeline(model=str(FIXTURES / "multimodal/clip-zero-shot"))).__name__ == \
        "ZeroShotImageClassificationPipeline"
    tasks = henkan.pipelines.SUPPORTED_TASKS
    assert tasks["automatic-speech-recognition"]["default"]["model"]["pt"] == ("facebook/wav2vec2-base-960h", "22aad52")
    assert tasks["audio-classification"]["type"] == "audio"
    assert tasks["zero-shot-image-classification"]["default"]["model"]["pt"][0] == "openai/clip-vit-base-patch32"


def test_objects_and_processor():
    folder = FIXTURES / "audio/wav2vec2"
    processor = henkan.Wav2Vec2Processor.from_pretrained(folder)
    model = henkan.AutoModelForCTC.from_pretrained(folder)
    pipe = pipeline("automatic-speech-recognition", model=model, processor=processor)
    assert pipe(str(AUDIO / "tone16.wav")) == GOLDEN["wav2vec2_file"]["output"]
    with open(AUDIO / "tone16.wav", "rb") as f:  # the bytes of a file, and a tensor
        assert pipe(f.read()) == GOLDEN["wav2vec2_file"]["output"]
    assert pipe(torch.from_numpy(load_audio(AUDIO / "tone16.wav"))) == GOLDEN["wav2vec2_file"]["output"]


def test_batches():
    """In a batch, the logits of a CTC row's padding are cut off (the reference keeps them: its batched texts of
    shorter recordings end in tokens of the padding); recordings of one length read as they do alone."""
    pipe = _pipe("automatic-speech-recognition", "audio/data2vec-audio")
    single = GOLDEN["data2vec-audio_file"]["output"]
    assert pipe([str(AUDIO / "tone16.wav")] * 2, batch_size=2) == [single, single]
    short, long = pipe([load_audio(AUDIO / "tone16.wav")[:4000], str(AUDIO / "long16.flac")], batch_size=2)
    frames = int(pipe.model._get_feat_extract_output_lengths(torch.tensor(4000)))
    assert len(short["text"]) <= frames and long == GOLDEN["data2vec-audio_batch"]["output"][1]
    dict_input = {"raw": load_audio(AUDIO / "tone16.wav"), "sampling_rate": 16000, "id": 1}
    kept = dict(dict_input)
    pipe(dict_input)
    assert dict_input.keys() == kept.keys()  # the caller's dict is not emptied


def test_save_and_reload(tmp_path):
    pipe = _pipe("automatic-speech-recognition", "whisper/whisper-asr")
    pipe.save_pretrained(tmp_path)
    again = pipeline("automatic-speech-recognition", model=str(tmp_path))
    case = GOLDEN["whisper_timestamps"]
    assert _rounded(json.loads(json.dumps(again(str(AUDIO / "tone16.wav"), **case["kwargs"])))) == \
        _rounded(case["output"])


def test_bad_inputs(monkeypatch):
    ctc = _pipe("automatic-speech-recognition", "audio/wav2vec2")
    classifier = _pipe("audio-classification", "audio/ast")
    with pytest.raises(ValueError, match="empty waveform"):
        ctc(np.zeros(0, dtype=np.float32))
    with pytest.raises(ValueError, match="empty waveform"):
        classifier({"raw": np.zeros(0, dtype=np.float32), "sampling_rate": 16000})
    with pytest.raises(ValueError, match="not_audio.wav.*could not be decoded as audio"):
        ctc(str(AUDIO / "not_audio.wav"))
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        ctc(str(AUDIO / "missing.wav"))
    with pytest.raises(ValueError, match="'raw'.*'sampling_rate'"):
        ctc({"audio": np.zeros(10)})
    with pytest.raises(ValueError, match="sampling_rate must be a positive integer"):
        ctc({"raw": np.zeros(10), "sampling_rate": -5})
    with pytest.raises(ValueError, match="mono"):
        classifier(np.zeros((2, 1600), dtype=np.float32))
    with pytest.raises(ValueError, match="return_timestamps='char' or 'word'"):
        ctc(np.ones(1600, dtype=np.float32), return_timestamps=True)
    with pytest.raises(TypeError, match="CTC models decode greedily"):
        ctc(np.ones(1600, dtype=np.float32), max_new_tokens=3)
    whisper = _pipe("automatic-speech-recognition", "whisper/whisper-asr")
    with pytest.raises(ValueError, match="'char' timestamps"):
        whisper(np.ones(1600, dtype=np.float32), return_timestamps="char")
    unaligned = pipeline("automatic-speech-recognition", model=str(FIXTURES / "whisper/whisper-asr"))
    del unaligned.model.generation_config.alignment_heads
    del unaligned.generation_config.alignment_heads
    with pytest.raises(ValueError, match="alignment_heads"):
        unaligned(np.ones(1600, dtype=np.float32), return_timestamps="word")
    with pytest.raises(ValueError, match="chunk_length_s"):
        ctc(np.ones(16000, dtype=np.float32), chunk_length_s=0.1, stride_length_s=0.1)
    import builtins

    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name.startswith("scipy"):
            raise ImportError("No module named 'scipy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    with pytest.raises(ImportError, match="8000 Hz and the model takes 16000 Hz.*SciPy"):
        ctc({"raw": np.ones(800, dtype=np.float32), "sampling_rate": 8000})


def test_zero_shot_image_bad_inputs():
    pipe = _pipe("zero-shot-image-classification", "multimodal/clip-zero-shot")
    image = str(FIXTURES / "processing/images/rgb_51x37.png")
    with pytest.raises(ValueError, match="candidate_labels is empty or missing"):
        pipe(image)
    with pytest.raises(ValueError, match="has no {} for the label"):
        pipe(image, candidate_labels=["a", "b"], hypothesis_template="a photo")
    with pytest.raises(ValueError, match="not an existing file"):
        pipe(str(AUDIO / "nowhere.png"), candidate_labels=["a"])
    assert pipe(image, ["cat", "dog", "a red car"]) == pipe(images=image, candidate_labels="cat, dog, a red car"
                                                             .split(", "))


def test_task_guide_examples():
    """The inference steps of the seed's ASR, audio-classification and zero-shot image classification guides, on
    local checkpoints."""
    from PIL import Image

    audio_file = str(AUDIO / "tone16.wav")
    transcriber = pipeline("automatic-speech-recognition", model=str(FIXTURES / "audio/wav2vec2"))
    assert transcriber(audio_file) == GOLDEN["wav2vec2_file"]["output"]
    processor = henkan.AutoProcessor.from_pretrained(FIXTURES / "audio/wav2vec2")
    inputs = processor(load_audio(audio_file), sampling_rate=16000, return_tensors="pt")
    model = henkan.AutoModelForCTC.from_pretrained(FIXTURES / "audio/wav2vec2")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert processor.batch_decode(torch.argmax(logits, dim=-1)) == [GOLDEN["wav2vec2_file"]["output"]["text"]]

    classifier = pipeline("audio-classification", model=str(FIXTURES / "audio/wav2vec2-forsequenceclassification"))
    ranked = classifier(audio_file)
    assert _rounded(ranked) == _rounded(GOLDEN["wav2vec2-forsequenceclassification_default"]["output"])
    feature_extractor = henkan.AutoFeatureExtractor.from_pretrained(
        FIXTURES / "audio/wav2vec2-forsequenceclassification")
    inputs = feature_extractor(load_audio(audio_file), sampling_rate=16000, return_tensors="pt")
    model = henkan.AutoModelForAudioClassification.from_pretrained(
        FIXTURES / "audio/wav2vec2-forsequenceclassification")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert model.config.id2label[torch.argmax(logits).item()] == ranked[0]["label"]

    checkpoint = str(FIXTURES / "multimodal/clip-zero-shot")
    detector = pipeline(model=checkpoint, task="zero-shot-image-classification")
    image = Image.open(FIXTURES / "processing/images/rgb_51x37.png")
    predictions = detector(image, candidate_labels=["cat", "dog", "a red car"])
    assert _rounded(predictions) == _rounded(GOLDEN["clip_default"]["output"])
    model = henkan.AutoModelForZeroShotImageClassification.from_pretrained(checkpoint)
    processor = henkan.AutoProcessor.from_pretrained(checkpoint)
    candidate_labels = ["tree", "car", "bike", "cat"]
    inputs = processor(images=image, text=candidate_labels, return_tensors="pt", padding=True)
    with torch.no_grad():
        probs = model(**inputs).logits_per_image[0].softmax(dim=-1).numpy()
    result = [{"score": score, "label": label} for score, label in sorted(zip(probs, candidate_labels),
                                                                           key=lambda x: -x[0])]
    assert len(result) == 4 and abs(sum(r["score"] for r in result) - 1) < 1e-5
