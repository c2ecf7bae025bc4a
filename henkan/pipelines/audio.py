"""Audio pipelines: automatic-speech-recognition (CTC models and Whisper), audio-classification and
zero-shot-audio-classification.

Audio is a file path, an http(s) URL or the bytes of an audio file (decoded with `soundfile`, channels averaged,
resampled to the feature extractor's rate), a 1-D array or tensor already at that rate, or a dict
`{"raw" (or "array"): waveform, "sampling_rate": rate}`, resampled when its rate differs. A list or a generator is
many recordings.
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import torch

from ..logging import get_logger
from .base import ChunkPipeline, GenerationPipeline, Pipeline
from .zero_shot import ContrastiveZeroShot

logger = get_logger(__name__)


def _waveform(inputs, pipe: Pipeline, timeout=None) -> tuple[np.ndarray, int, dict, tuple | None]:
    """(waveform, sampling rate, the extra keys of a dict input, its `stride`) of one input, at the feature
    extractor's sampling rate."""
    from ..processing.audio_utils import load_audio, resample

    rate = pipe.feature_extractor.sampling_rate
    task = pipe.task or type(pipe).__name__
    if isinstance(inputs, (str, bytes, bytearray, os.PathLike)):
        inputs = load_audio(inputs, rate, timeout=timeout)
    if isinstance(inputs, torch.Tensor):
        inputs = inputs.detach().cpu().numpy()
    extra, stride = {}, None
    if isinstance(inputs, dict):
        inputs = dict(inputs)  # the caller's dict stays as it was
        stride = inputs.pop("stride", None)
        if "sampling_rate" not in inputs or not ("raw" in inputs or "array" in inputs):
            raise ValueError(f"An audio dict given to the {task} pipeline needs the waveform under 'raw' (or "
                             f"'array') and its 'sampling_rate'; got the keys {sorted(inputs)}.")
        waveform = inputs.pop("raw", None)
        if waveform is None:
            inputs.pop("path", None)
            waveform = inputs.pop("array")
        in_rate = inputs.pop("sampling_rate")
        extra = inputs
        if isinstance(waveform, torch.Tensor):
            waveform = waveform.detach().cpu().numpy()
        if not isinstance(waveform, np.ndarray):
            waveform = np.asarray(waveform, dtype=np.float32)
        if not isinstance(in_rate, (int, np.integer)) or in_rate <= 0:
            raise ValueError(f"The audio's sampling_rate must be a positive integer (hertz), not {in_rate!r}.")
        ratio = 1
        if in_rate != rate:
            try:
                waveform = resample(waveform, int(in_rate), rate)
            except ImportError as e:
                raise ImportError(f"The audio is sampled at {in_rate} Hz and the model takes {rate} Hz: {e}") from e
            ratio = rate / in_rate
        inputs = waveform
        if stride is not None:
            if stride[0] + stride[1] > inputs.shape[-1]:
                raise ValueError(f"stride={tuple(stride)} is longer than the audio ({inputs.shape[-1]} samples): "
                                 "the left and right strides must leave some audio between them.")
            stride = (inputs.shape[-1], int(round(stride[0] * ratio)), int(round(stride[1] * ratio)))
    if not isinstance(inputs, np.ndarray):
        raise TypeError(f"The {task} pipeline takes audio as a file path, URL, bytes, a numpy array, a tensor or a "
                        f"{{'raw': array, 'sampling_rate': rate}} dict; got a {type(inputs).__name__}.")
    if inputs.size == 0:
        raise ValueError(f"The {task} pipeline got an empty waveform (0 samples): pass some audio.")
    return inputs, rate, extra, stride


def _require_extractor(feature_extractor, task: str) -> None:
    if feature_extractor is None:
        raise ValueError(f"The {task} pipeline needs a feature extractor: pass feature_extractor= (e.g. "
                         "AutoFeatureExtractor.from_pretrained(checkpoint)), or load the pipeline from a checkpoint "
                         "folder with a preprocessor_config.json.")


class AudioPipeline(Pipeline):
    """What the audio pipelines share: the feature extractor, reading inputs, padding a batch of features."""

    _sort_by_length = False

    def __init__(self, model, feature_extractor=None, tokenizer=None, device=None, task: str = "",
                 batch_size: int = 1, **kwargs):
        _require_extractor(feature_extractor, task or type(self).__name__)
        Pipeline.__init__(self, model, tokenizer, device=device, task=task, batch_size=batch_size,
                          feature_extractor=feature_extractor, **kwargs)

    def _is_single(self, inputs) -> bool:
        return isinstance(inputs, (str, bytes, bytearray, dict, np.ndarray, torch.Tensor, os.PathLike))

    def _collate(self, encoded: list[dict]) -> dict:
        """The rows' features as one batch: waveforms of different lengths padded (on the feature extractor's
        padding side, masks with 0), floating values in the model's dtype."""
        extractor = self.feature_extractor
        left = getattr(extractor, "padding_side", "right") == "left"
        batch = {}
        for key in encoded[0]:
            values = [torch.as_tensor(item[key]) for item in encoded]
            longest = max(v.shape[-1] for v in values)
            if any(v.shape[-1] != longest for v in values):
                fill = 0 if key == "attention_mask" else extractor.padding_value
                values = [torch.nn.functional.pad(v, (longest - v.shape[-1], 0) if left else
                                                  (0, longest - v.shape[-1]), value=fill) for v in values]
            value = torch.cat(values)
            batch[key] = value.to(self.device, self.model.dtype if value.is_floating_point() else None)
        return batch

    def save_pretrained(self, save_directory, safe_serialization: bool = True, **kwargs) -> None:
        """The model, tokenizer and feature extractor in one folder that `pipeline(task, model=folder)` loads."""
        Pipeline.save_pretrained(self, save_directory, safe_serialization=safe_serialization, **kwargs)
        self.feature_extractor.save_pretrained(save_directory)


class AudioClassificationPipeline(AudioPipeline):
    """`[{"score", "label"}]` per recording, best first: every label unless the call gives `top_k` (at most the number
    of labels; as in 4.57 and 5.x, a `top_k` given at construction does not outlast a call without one);
    `function_to_apply` is "softmax" (the default), "sigmoid" or "none"."""

    def _sanitize_parameters(self, top_k=None, function_to_apply=None, timeout=None, **kwargs):
        super()._sanitize_parameters(**kwargs)
        labels = self.model.config.num_labels
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer (or None for every label), not {top_k!r}.")
        post = {"top_k": labels if top_k is None else min(top_k, labels)}
        function = "softmax" if function_to_apply is None else \
            str(getattr(function_to_apply, "value", function_to_apply))
        if function not in ("softmax", "sigmoid", "none"):
            raise ValueError(f"Invalid value for `function_to_apply`: {function_to_apply!r}; use 'softmax', "
                             "'sigmoid' or 'none'.")
        post["function_to_apply"] = function
        return ({"timeout": timeout} if timeout is not None else {}), {}, post

    def preprocess(self, inputs, timeout=None):
        waveform, rate, _, _ = _waveform(inputs, self, timeout)
        if waveform.ndim != 1:
            raise ValueError(f"audio-classification takes mono audio: got an array of shape {list(waveform.shape)}. "
                             "Average the channels first, or pass the file's path.")
        return dict(self.feature_extractor(waveform, sampling_rate=rate, return_tensors="pt"))

    def _forward(self, batch: dict, **kwargs) -> dict:
        return {"logits": self.model(**batch).logits}

    def _row(self, outputs: dict, row: int, item) -> dict:
        return {"logits": outputs["logits"][row].float()}

    def postprocess(self, outputs, top_k=5, function_to_apply="softmax"):
        logits = outputs["logits"]
        scores = logits.softmax(-1) if function_to_apply == "softmax" else \
            logits.sigmoid() if function_to_apply == "sigmoid" else logits
        best, ids = scores.topk(top_k)
        labels = self.model.config.id2label
        return [{"score": score, "label": labels[i]} for score, i in zip(best.tolist(), ids.tolist())]


class ZeroShotAudioClassificationPipeline(ContrastiveZeroShot, AudioPipeline):
    """`[{"score", "label"}]` per recording, best first: each of `candidate_labels` becomes the text
    `hypothesis_template.format(label)` ("This is a sound of {}."), and the audio-text model's (CLAP's)
    `logits_per_audio` are a softmax over the labels. Recordings are mono; each is cut or padded by the feature
    extractor on its own, as the reference does (with "fusion" truncation, a lone short clip counts as longer)."""

    input_keys = ("input_features", "is_longer")
    logits_name = "logits_per_audio"
    default_template = "This is a sound of {}."

    def __init__(self, model, feature_extractor=None, tokenizer=None, **kwargs):
        self._require_tokenizer(tokenizer, kwargs.get("task"))
        super().__init__(model, feature_extractor=feature_extractor, tokenizer=tokenizer, **kwargs)

    def preprocess(self, inputs, candidate_labels=None, hypothesis_template=None, timeout=None,
                   tokenizer_kwargs=None):
        labels = self.encode_labels(candidate_labels, hypothesis_template, tokenizer_kwargs)
        waveform, rate, _, _ = _waveform(inputs, self, timeout)
        if waveform.ndim != 1:
            raise ValueError(f"zero-shot-audio-classification takes mono audio: got an array of shape "
                             f"{list(waveform.shape)}. Average the channels first, or pass the file's path.")
        features = self.feature_extractor([waveform], sampling_rate=rate, return_tensors="pt")
        return {key: features[key] for key in self.input_keys if key in features} | labels


def _rescale_stride(stride: tuple, ratio: float) -> tuple[int, int, int]:
    """A (length, left, right) stride in samples as logit frames."""
    length, left, right = stride
    frames = int(round(length * ratio))
    return frames, int(round(left / length * frames)), int(round(right / length * frames))


class AutomaticSpeechRecognitionPipeline(AudioPipeline, ChunkPipeline, GenerationPipeline):
    """`{"text": ...}` per recording (with `return_timestamps`, also `"chunks"`: `[{"text", "timestamp": (start,
    end)}]` in seconds), from a CTC model (Wav2Vec2, Data2Vec-Audio: greedy CTC decoding) or Whisper (generate()).

    `chunk_length_s` cuts long audio into overlapping windows (`stride_length_s` seconds of context on each side,
    by default a sixth of the window) that are batched together; CTC logits are cut to each window's middle and
    joined, Whisper's texts are stitched where the windows overlap. `return_timestamps`: "char" or "word" for CTC,
    True (segments) or "word" (words timed by cross-attention alignment) for Whisper. Other keywords (or
    `generate_kwargs`) go to Whisper's generate(); by default the pipeline generates with `max_new_tokens=256,
    num_beams=5` unless the checkpoint's generation config says otherwise."""

    default_generation = {"max_new_tokens": 256, "num_beams": 5}
    _side_keys = ("stride", "extra")

    def __init__(self, model, feature_extractor=None, tokenizer=None, decoder=None, device=None, task: str = "",
                 batch_size: int = 1, processor=None, **kwargs):
        if processor is not None:
            feature_extractor = feature_extractor or getattr(processor, "feature_extractor", None)
            tokenizer = tokenizer or getattr(processor, "tokenizer", None)
        if decoder is not None:
            raise NotImplementedError("CTC decoding with a language model (decoder=, pyctcdecode) is not supported by "
                                      "henkan; leave decoder out for greedy CTC decoding.")
        if tokenizer is None:
            raise ValueError("automatic-speech-recognition needs a tokenizer to turn tokens into text: pass "
                             "tokenizer= (or processor=), or load the pipeline from a checkpoint folder that has "
                             "one.")
        if model.config.model_type == "whisper":
            self.type = "seq2seq_whisper"
        elif getattr(model.config, "inputs_to_logits_ratio", None) and not model.can_generate():
            self.type = "ctc"
        else:
            raise TypeError(f"automatic-speech-recognition runs CTC models (e.g. Wav2Vec2ForCTC) and Whisper "
                            f"(WhisperForConditionalGeneration); {type(model).__name__} is neither.")
        if self.type == "ctc":
            AudioPipeline.__init__(self, model, feature_extractor, tokenizer, device=device, task=task,
                                   batch_size=batch_size, **kwargs)
        else:
            _require_extractor(feature_extractor, task or type(self).__name__)
            GenerationPipeline.__init__(self, model, tokenizer, device=device, task=task, batch_size=batch_size,
                                        feature_extractor=feature_extractor, **kwargs)

    def _sanitize_parameters(self, chunk_length_s=None, stride_length_s=None, ignore_warning=None,
                             decoder_kwargs=None, return_timestamps=None, return_language=None, timeout=None,
                             generate_kwargs=None, **kwargs):
        pre, fwd, post = {}, {}, {}
        for key, value in (("chunk_length_s", chunk_length_s), ("stride_length_s", stride_length_s),
                           ("timeout", timeout)):
            if value is not None:
                pre[key] = value
        if self.type == "ctc":
            if kwargs or generate_kwargs:
                raise TypeError(f"{type(self).__name__} with a CTC model got generation argument(s) "
                                f"{', '.join(sorted({*kwargs, *(generate_kwargs or {})}))}: CTC models decode "
                                "greedily and take none.")
        else:
            fwd.update(generate_kwargs or {})
            fwd.update(kwargs)
        if decoder_kwargs is not None:
            raise ValueError("decoder_kwargs is for CTC decoding with a language model, which henkan does not "
                             "support.")
        if return_language is not None:
            if self.type != "seq2seq_whisper":
                raise ValueError("Only Whisper can return the language (return_language=True).")
            post["return_language"] = return_language
        if getattr(self, "generation_config", None) is not None:
            return_timestamps = return_timestamps or getattr(self.generation_config, "return_timestamps", None)
        if return_timestamps is not None:
            if self.type == "ctc" and return_timestamps not in ("char", "word"):
                raise ValueError("CTC models give character or word timestamps: set return_timestamps='char' or "
                                 "'word'.")
            if self.type == "seq2seq_whisper" and return_timestamps == "char":
                raise ValueError("Whisper cannot return 'char' timestamps, only word or segment timestamps: use "
                                 "return_timestamps='word' or return_timestamps=True.")
            fwd["return_timestamps"] = post["return_timestamps"] = return_timestamps
        return pre, fwd, post

    def preprocess(self, inputs, chunk_length_s=0, stride_length_s=None, timeout=None):
        waveform, rate, extra, stride = _waveform(inputs, self, timeout)
        if waveform.ndim != 1:
            logger.warning(f"automatic-speech-recognition takes mono audio; got {waveform.ndim} dimensions. Taking "
                           "the mean of the channels (the first axis) for mono conversion.")
            waveform = waveform.mean(axis=0)
        extractor = self.feature_extractor
        if chunk_length_s:
            if stride_length_s is None:
                stride_length_s = chunk_length_s / 6
            if isinstance(stride_length_s, (int, float)):
                stride_length_s = [stride_length_s, stride_length_s]
            align = getattr(self.model.config, "inputs_to_logits_ratio", 1)
            chunk, left, right = (int(round(seconds * rate / align) * align)
                                  for seconds in (chunk_length_s, *stride_length_s))
            if chunk < left + right:
                raise ValueError(f"chunk_length_s={chunk_length_s} must be longer than the strides on both sides "
                                 f"(stride_length_s={list(stride_length_s)}).")
            step = chunk - left - right
            for start in range(0, waveform.shape[0], step):
                piece = waveform[start:start + chunk]
                last = start + chunk >= waveform.shape[0]
                piece_stride = (piece.shape[0], 0 if start == 0 else left, 0 if last else right)
                if piece.shape[0] > piece_stride[1]:
                    yield {"stride": piece_stride, "extra": extra,
                           **extractor(piece, sampling_rate=rate, return_tensors="pt", return_attention_mask=True)}
                if last:
                    break
            return
        options = {}
        if self.type == "seq2seq_whisper" and waveform.shape[0] > extractor.n_samples:
            options = {"truncation": False, "padding": "longest"}  # long-form: generate() walks the windows
        features = extractor(waveform, sampling_rate=rate, return_tensors="pt", return_attention_mask=True,
                             **options)
        if self.type == "ctc" and stride is None:
            stride = (waveform.shape[0], 0, 0)  # in a batch, the logits of padding are cut off
        yield {"stride": stride, "extra": extra,
               **{key: value for key, value in features.items() if key != "num_frames"}}

    def _forward(self, batch: dict, return_timestamps=False, **generate_kwargs) -> dict:
        attention_mask = batch.pop("attention_mask", None)
        if self.type == "ctc":
            name = self.model.main_input_name
            logits = self.model(**{name: batch[name]}, attention_mask=attention_mask).logits
            return {"tokens": logits.argmax(-1)}
        if return_timestamps:
            generate_kwargs["return_timestamps"] = bool(return_timestamps)
        if return_timestamps == "word":
            generate_kwargs.update(return_token_timestamps=True, return_segments=True)
        generate_kwargs.setdefault("generation_config", self.generation_config)
        inputs = batch.get("input_features", batch.get("input_values"))
        out = self.model.generate(inputs, attention_mask=attention_mask, **generate_kwargs)
        if return_timestamps != "word":
            return {"tokens": out}
        # each row's token times, shifted to the recording's time, segment after segment
        times = [torch.cat([s["token_timestamps"] for s in found]) if found else torch.zeros(0)
                 for found in out["segments"]]
        return {"tokens": out["sequences"], "token_timestamps": times}

    def _row(self, outputs: dict, row: int, item) -> dict:
        out = {"tokens": outputs["tokens"][row:row + 1].cpu()}
        if "token_timestamps" in outputs:
            out["token_timestamps"] = outputs["token_timestamps"][row][None].cpu()
        return out

    def postprocess(self, rows: list[dict], return_timestamps=None, return_language=None):
        optional = {}
        if self.type == "seq2seq_whisper":
            rate = self.feature_extractor.sampling_rate
            outputs = [{key: row[key] for key in ("tokens", "token_timestamps") if key in row} |
                       ({"stride": tuple(s / rate for s in row["stride"])} if row["stride"] is not None else {})
                       for row in rows]
            precision = self.feature_extractor.chunk_length / self.model.config.max_source_positions
            text, optional = self.tokenizer._decode_asr(outputs, return_timestamps=return_timestamps,
                                                        return_language=return_language, time_precision=precision)
        else:
            ratio = self.model.config.inputs_to_logits_ratio
            pieces = []
            for row in rows:
                tokens = row["tokens"].numpy()
                if row["stride"] is not None:
                    frames, left, right = _rescale_stride(row["stride"], 1 / ratio)
                    tokens = tokens[:, left:frames - right]
                pieces.append(tokens)
            ids = np.concatenate(pieces, axis=1)[0]
            text = self.tokenizer.decode(ids, skip_special_tokens=False)
            if return_timestamps:
                offsets = self.tokenizer.decode(ids, skip_special_tokens=False, output_char_offsets=True)[
                    "char_offsets"]
                if return_timestamps == "word":
                    offsets = self.tokenizer._get_word_offsets(offsets, self.tokenizer.replace_word_delimiter_char)
                rate = self.feature_extractor.sampling_rate
                optional["chunks"] = [{"text": item[return_timestamps],
                                       "timestamp": (item["start_offset"] * ratio / rate,
                                                     item["end_offset"] * ratio / rate)} for item in offsets]
        extra = defaultdict(list)
        for row in rows:
            for key, value in row["extra"].items():
                extra[key].append(value)
        return {"text": text, **optional, **extra}
