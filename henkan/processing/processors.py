"""Processors: one object holding a model's tokenizer and its image processor or feature extractor.

`processor(text=..., images=... / audio=...)` sends each input to its part, with the keyword arguments that part
takes (`return_tensors` goes to all), and merges the results; `decode` / `batch_decode` are the tokenizer's.
Saving writes each part's files (marked with the processor's class) and, in the 5.x layout, reading finds a part's
settings nested in `processor_config.json`.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from contextlib import contextmanager
from typing import Any

from ..hub import PushToHubMixin, pop_hub_kwargs, pop_upload_kwargs, resolve_file, upload_folder
from ..logging import get_logger
from ..utils import atomic_write_text, read_json
from .base import PROCESSOR_FILE, BatchFeature

logger = get_logger(__name__)

TEXT_KWARGS = {"text_pair", "text_target", "text_pair_target", "add_special_tokens", "padding", "truncation",
               "max_length", "stride", "is_split_into_words", "pad_to_multiple_of", "padding_side",
               "return_token_type_ids", "return_attention_mask", "return_overflowing_tokens",
               "return_special_tokens_mask", "return_offsets_mapping", "return_length", "verbose"}
IMAGES_KWARGS = {"do_resize", "size", "crop_size", "resample", "do_rescale", "rescale_factor", "do_normalize",
                 "image_mean", "image_std", "do_pad", "pad_size", "do_center_crop", "data_format", "input_data_format",
                 "do_convert_rgb", "crop_pct", "rescale_offset", "include_top", "do_reduce_labels"}
AUDIO_KWARGS = {"sampling_rate", "padding", "truncation", "max_length", "return_attention_mask", "pad_to_multiple_of",
                "do_normalize", "device", "return_token_timestamps"}
COMMON_KWARGS = {"return_tensors"}
_INPUT_OF = {"tokenizer": ("text", TEXT_KWARGS), "image_processor": ("images", IMAGES_KWARGS),
             "feature_extractor": ("audio", AUDIO_KWARGS)}


class ProcessorMixin(PushToHubMixin):
    """The base of processors. A subclass names its parts (`attributes`) and the classes each may be
    (`image_processor_class` / `feature_extractor_class` / `tokenizer_class`: a henkan class name, a (slow, fast)
    pair, or "AutoTokenizer"), and the call's default keyword arguments per part (`_defaults`)."""

    attributes = ["image_processor", "tokenizer"]
    image_processor_class: str | tuple | None = None
    feature_extractor_class: str | tuple | None = None
    tokenizer_class: str | tuple | None = "AutoTokenizer"
    _defaults: dict[str, dict[str, Any]] = {}
    _auto_class = None

    def __init__(self, *args, **kwargs):
        if len(args) > len(self.attributes):
            raise TypeError(f"{type(self).__name__} takes {len(self.attributes)} parts ({', '.join(self.attributes)}),"
                            f" got {len(args)} positional arguments.")
        parts = dict(zip(self.attributes, args))
        for name in self.attributes:
            if name in kwargs:
                if name in parts:
                    raise TypeError(f"Got multiple values for argument {name}.")
                parts[name] = kwargs.pop(name)
        missing = [name for name in self.attributes if parts.get(name) is None]
        if missing:
            raise ValueError(f"{type(self).__name__} needs {' and '.join(missing)}: pass "
                             f"{', '.join(f'{m}=...' for m in missing)}.")
        for name, part in parts.items():
            self._check_part(name, part)
            setattr(self, name, part)
        self.chat_template = kwargs.pop("chat_template", None)
        self._settings = kwargs  # further init arguments: saved in processor_config.json
        self._in_target_context_manager = False

    def _check_part(self, name: str, part) -> None:
        from ..tokenization import PreTrainedTokenizerBase
        from .feature_extraction import FeatureExtractionMixin
        from .image_processing import ImageProcessingMixin

        expected = {"tokenizer": PreTrainedTokenizerBase, "image_processor": (ImageProcessingMixin,),
                    "feature_extractor": (FeatureExtractionMixin, ImageProcessingMixin)}[name]
        if not isinstance(part, expected):
            raise TypeError(f"{type(self).__name__}: {name} should be a {name.replace('_', ' ')} "
                            f"({getattr(self, f'{name}_class')}), got {type(part).__name__}.")

    # --- calling

    def _split_kwargs(self, kwargs: dict) -> dict[str, dict]:
        """The call's keyword arguments for each part: the processor's defaults (for the tokenizer, overridden by
        the call settings it was built with, as the reference does), then those a part takes (a keyword several
        parts take goes to each), `return_tensors` to all; nested `text_kwargs=` / `images_kwargs=` /
        `audio_kwargs=` dicts go to their part."""
        nested = {name: kwargs.pop(f"{_INPUT_OF[name][0]}_kwargs", None) or {} for name in self.attributes}
        per_part = {}
        for name in self.attributes:
            accepted = _INPUT_OF[name][1]
            defaults = dict(self._defaults.get(f"{_INPUT_OF[name][0]}_kwargs", {}))
            if name == "tokenizer":  # call settings the tokenizer was built with replace the processor's defaults
                init = getattr(self.tokenizer, "init_kwargs", {})
                defaults.update({k: getattr(self.tokenizer, k, init[k]) for k in TEXT_KWARGS if k in init})
            given = {k: v for k, v in kwargs.items() if k in accepted or k in COMMON_KWARGS}
            per_part[name] = {**defaults, **given, **nested[name]}
        known = COMMON_KWARGS.union(*(_INPUT_OF[name][1] for name in self.attributes))
        for key in kwargs:
            if key not in known:
                logger.warning_once(f"Keyword argument `{key}` is not a valid argument for this processor and will "
                                    "be ignored.")
        return per_part

    def __call__(self, images=None, text=None, videos=None, audio=None, **kwargs):
        """Process `text` with the tokenizer and `images` / `audio` with the other part; returns one BatchFeature."""
        if images is None and text is None and audio is None:
            raise ValueError(f"You need to provide at least one input to call {type(self).__name__}")
        if videos is not None:
            raise ValueError(f"{type(self).__name__} takes no videos.")
        inputs = {"text": text, "images": images, "audio": audio}
        per_part = self._split_kwargs(kwargs)
        outputs = {}
        for name in self.attributes:
            data = inputs[_INPUT_OF[name][0]]
            if data is not None:
                outputs.update(getattr(self, name)(data, **per_part[name]))
        for key in ("images", "audio"):
            if inputs[key] is not None and not any(_INPUT_OF[n][0] == key for n in self.attributes):
                raise ValueError(f"{type(self).__name__} takes no {key}.")
        return BatchFeature(outputs)

    def batch_decode(self, *args, **kwargs):
        """The tokenizer's `batch_decode`."""
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        """The tokenizer's `decode`."""
        return self.tokenizer.decode(*args, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        names = []
        for name in self.attributes:
            names += [n for n in getattr(getattr(self, name), "model_input_names", []) if n not in names]
        return names

    # --- settings

    def to_dict(self) -> dict[str, Any]:
        """The processor's own settings (its parts save their own files)."""
        output = copy.deepcopy(self._settings)
        output["processor_class"] = type(self).__name__
        return output

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path) -> None:
        atomic_write_text(json_file_path, self.to_json_string())

    def __repr__(self) -> str:
        parts = "\n".join(f"- {name}: {getattr(self, name)!r}" for name in self.attributes)
        return f"{type(self).__name__}:\n{parts}\n\n{self.to_json_string()}"

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs) -> list[str]:
        """Write each part's files into `save_directory` (as the reference 4.x lays them out), and
        processor_config.json when the processor has settings of its own."""
        save_directory = os.fspath(save_directory)
        os.makedirs(save_directory, exist_ok=True)
        for name in self.attributes:
            part = getattr(self, name)
            part._set_processor_class(type(self).__name__)
            part.save_pretrained(save_directory)
        files = []
        if self._settings:
            path = os.path.join(save_directory, PROCESSOR_FILE)
            self.to_json_file(path)
            files.append(path)
        if push_to_hub:
            upload_folder(save_directory, **{"commit_message": "Upload processor", **pop_upload_kwargs(kwargs)})
        return files

    @classmethod
    def _part_class(cls, name: str, use_fast: bool | None):
        from ..tokenization import AutoTokenizer, tokenizer_class_from_name
        from .auto import processing_class

        spec = getattr(cls, f"{name}_class")
        if name != "tokenizer":
            spec = spec[0] if isinstance(spec, tuple) else spec
            return processing_class(spec)
        if spec == "AutoTokenizer":
            return AutoTokenizer
        slow, fast = spec if isinstance(spec, tuple) else (spec, None)
        chosen = fast if (use_fast is not False and fast) else slow
        return tokenizer_class_from_name(chosen) or AutoTokenizer

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, cache_dir=None, force_download: bool = False,
                        local_files_only: bool = False, token=None, revision: str = "main", **kwargs):
        """Load each part from a folder or Hub id (settings in `kwargs` go to every part that has them)."""
        hub = {"cache_dir": cache_dir, "force_download": force_download, "local_files_only": local_files_only,
               "token": token, "revision": revision, **pop_hub_kwargs(kwargs)}
        use_fast = kwargs.pop("use_fast", None)
        kwargs.pop("trust_remote_code", None)
        name = os.fspath(pretrained_model_name_or_path)
        path = resolve_file(name, PROCESSOR_FILE, required=False, **hub)
        settings = read_json(path) if path else {}
        parts = {}
        for attribute in cls.attributes:
            klass = cls._part_class(attribute, use_fast)
            section = settings.get(attribute) if attribute != "tokenizer" else None
            if isinstance(section, dict):  # 5.x: the part's settings nested in processor_config.json
                parts[attribute] = klass.from_dict(section, **kwargs)
            else:
                parts[attribute] = klass.from_pretrained(pretrained_model_name_or_path, **hub, **kwargs)
        own = {k: v for k, v in settings.items() if k not in cls.attributes and k not in ("processor_class", "auto_map")
               and not isinstance(v, dict)}
        return cls(**parts, **own)

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoProcessor") -> None:
        cls._auto_class = auto_class if isinstance(auto_class, str) else auto_class.__name__


def _with_labels(features, encodings):
    """The feature extractor's output with the tokenizer's ids as `labels` (either alone when the other is None)."""
    if encodings is None:
        return features
    if features is None:
        return encodings
    features["labels"] = encodings["input_ids"]
    return features


class _SpeechProcessor(ProcessorMixin):
    """A feature extractor for audio and a tokenizer for transcripts (which become `labels`)."""

    attributes = ["feature_extractor", "tokenizer"]

    def __init__(self, feature_extractor=None, tokenizer=None, **kwargs):
        super().__init__(feature_extractor, tokenizer, **kwargs)
        self.current_processor = self.feature_extractor


class CLIPProcessor(ProcessorMixin):
    """CLIP: a CLIPImageProcessor and CLIP's tokenizer."""

    image_processor_class = "CLIPImageProcessor"

    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        if "feature_extractor" in kwargs:
            warnings.warn("The `feature_extractor` argument is deprecated and will be removed in v5, use "
                          "`image_processor` instead.", FutureWarning)
            image_processor = image_processor if image_processor is not None else kwargs.pop("feature_extractor")
        super().__init__(image_processor, tokenizer, **kwargs)


class ChineseCLIPProcessor(CLIPProcessor):
    """Chinese-CLIP: a ChineseCLIPImageProcessor and a BERT tokenizer."""

    image_processor_class = "ChineseCLIPImageProcessor"
    tokenizer_class = ("BertTokenizer", "BertTokenizerFast")


class AltCLIPProcessor(CLIPProcessor):
    """AltCLIP: CLIP's image processor and an XLM-RoBERTa tokenizer."""

    tokenizer_class = ("XLMRobertaTokenizer", "XLMRobertaTokenizerFast")


class AlignProcessor(ProcessorMixin):
    """ALIGN: an EfficientNetImageProcessor and a BERT tokenizer; text is padded to 64 tokens by default."""

    image_processor_class = "EfficientNetImageProcessor"
    tokenizer_class = ("BertTokenizer", "BertTokenizerFast")
    _defaults = {"text_kwargs": {"padding": "max_length", "max_length": 64}}


class ClapProcessor(ProcessorMixin):
    """CLAP: a ClapFeatureExtractor and a RoBERTa tokenizer."""

    attributes = ["feature_extractor", "tokenizer"]
    feature_extractor_class = "ClapFeatureExtractor"
    tokenizer_class = ("RobertaTokenizer", "RobertaTokenizerFast")

    def __call__(self, text=None, audios=None, audio=None, **kwargs):
        if audios is not None and audio is None:
            logger.warning("Using `audios` keyword argument is deprecated when calling ClapProcessor, instead use "
                           "`audio`.")
            audio = audios
        return super().__call__(text=text, audio=audio, **kwargs)


class Wav2Vec2Processor(_SpeechProcessor):
    """Wav2Vec2: a Wav2Vec2FeatureExtractor and a CTC tokenizer; given audio and text, the text's ids become
    `labels`."""

    feature_extractor_class = "Wav2Vec2FeatureExtractor"

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        try:
            return super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        except (OSError, ValueError):
            from ..tokenization import Wav2Vec2CTCTokenizer
            from .audio import Wav2Vec2FeatureExtractor

            return cls(feature_extractor=Wav2Vec2FeatureExtractor.from_pretrained(pretrained_model_name_or_path,
                                                                                  **kwargs),
                       tokenizer=Wav2Vec2CTCTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs))

    def __call__(self, audio=None, text=None, images=None, videos=None, **kwargs):
        if "raw_speech" in kwargs:
            audio = kwargs.pop("raw_speech")
        if audio is None and text is None:
            raise ValueError("You need to specify either an `audio` or `text` input to process.")
        per_part = self._split_kwargs(kwargs)
        if self._in_target_context_manager:
            return self.current_processor(audio, **per_part["feature_extractor"], **per_part["tokenizer"])
        inputs = self.feature_extractor(audio, **per_part["feature_extractor"]) if audio is not None else None
        return _with_labels(inputs, self.tokenizer(text, **per_part["tokenizer"]) if text is not None else None)

    def pad(self, *args, **kwargs):
        """Pad `input_features` (the first argument) with the feature extractor and `labels` with the tokenizer;
        with both, the padded label ids become `labels`."""
        if self._in_target_context_manager:
            return self.current_processor.pad(*args, **kwargs)
        input_features = kwargs.pop("input_features", None)
        labels = kwargs.pop("labels", None)
        if args:
            input_features, args = args[0], args[1:]
        if input_features is not None:
            input_features = self.feature_extractor.pad(input_features, *args, **kwargs)
        return _with_labels(input_features, self.tokenizer.pad(labels, **kwargs) if labels is not None else None)

    @property
    def model_input_names(self) -> list[str]:
        return self.feature_extractor.model_input_names + ["labels"]

    @contextmanager
    def as_target_processor(self):
        """Within the block, calls go to the tokenizer (for labels)."""
        warnings.warn("`as_target_processor` is deprecated and will be removed in v5 of Transformers. You can process "
                      "your labels by using the argument `text` of the regular `__call__` method (either in the same "
                      "call as your audio inputs, or in a separate call.")
        self._in_target_context_manager = True
        self.current_processor = self.tokenizer
        try:
            yield
        finally:
            self.current_processor = self.feature_extractor
            self._in_target_context_manager = False


class WhisperProcessor(_SpeechProcessor):
    """Whisper: a WhisperFeatureExtractor and a WhisperTokenizer; the call's keyword arguments go to both."""

    feature_extractor_class = "WhisperFeatureExtractor"
    tokenizer_class = ("WhisperTokenizer", "WhisperTokenizerFast")

    def get_decoder_prompt_ids(self, task=None, language=None, no_timestamps: bool = True):
        return self.tokenizer.get_decoder_prompt_ids(task=task, language=language, no_timestamps=no_timestamps)

    def get_prompt_ids(self, text: str, return_tensors="np"):
        return self.tokenizer.get_prompt_ids(text, return_tensors=return_tensors)

    def __call__(self, *args, **kwargs):
        audio = kwargs.pop("audio", None)
        sampling_rate = kwargs.pop("sampling_rate", None)
        text = kwargs.pop("text", None)
        if args:
            audio, args = args[0], args[1:]
        if audio is None and text is None:
            raise ValueError("You need to specify either an `audio` or `text` input to process.")
        inputs = self.feature_extractor(audio, *args, sampling_rate=sampling_rate, **kwargs) \
            if audio is not None else None
        return _with_labels(inputs, self.tokenizer(text, **kwargs) if text is not None else None)


PROCESSORS = {cls.__name__: cls for cls in (CLIPProcessor, ChineseCLIPProcessor, AltCLIPProcessor, AlignProcessor,
                                              ClapProcessor, Wav2Vec2Processor, WhisperProcessor)}
