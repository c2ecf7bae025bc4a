"""AutoImageProcessor, AutoFeatureExtractor and AutoProcessor: the class a checkpoint's settings name
(`image_processor_type`, `feature_extractor_type`, `processor_class`, in `preprocessor_config.json` or a 5.x
`processor_config.json`), else the one its `config.json` model_type implies.

Class names are looked up in henkan's own tables; a file never makes henkan import or run anything else."""

from __future__ import annotations

import importlib
import os

from ..hub import pop_hub_kwargs, resolve_file
from ..utils import read_json
from .base import PREPROCESSOR_FILE, PROCESSOR_FILE, resolve_preprocessor_file, section_of

_IMAGE = "henkan.processing.image_processors"
_AUDIO = "henkan.processing.audio"
_PROCESSORS = "henkan.processing.processors"

# class name -> module
CLASSES = {name: _IMAGE for name in (
    "ViTImageProcessor", "DeiTImageProcessor", "BeitImageProcessor", "CLIPImageProcessor", "ChineseCLIPImageProcessor",
    "BitImageProcessor", "ConvNextImageProcessor", "EfficientNetImageProcessor", "ViTFeatureExtractor",
    "DeiTFeatureExtractor", "BeitFeatureExtractor", "CLIPFeatureExtractor", "ChineseCLIPFeatureExtractor",
    "ConvNextFeatureExtractor")}
CLASSES.update({name: _AUDIO for name in (
    "Wav2Vec2FeatureExtractor", "ASTFeatureExtractor", "WhisperFeatureExtractor", "ClapFeatureExtractor")})
CLASSES.update({name: _PROCESSORS for name in (
    "CLIPProcessor", "ChineseCLIPProcessor", "AltCLIPProcessor", "AlignProcessor", "ClapProcessor", "Wav2Vec2Processor",
    "WhisperProcessor")})

# model_type -> (image processor, feature extractor, processor)
MODEL_TYPES = {
    "vit": ("ViTImageProcessor", "ViTFeatureExtractor", None),
    "dinat": ("ViTImageProcessor", "ViTFeatureExtractor", None),
    "deit": ("DeiTImageProcessor", "DeiTFeatureExtractor", None),
    "beit": ("BeitImageProcessor", "BeitFeatureExtractor", None),
    "data2vec-vision": ("BeitImageProcessor", "BeitFeatureExtractor", None),
    "bit": ("BitImageProcessor", None, None),
    "convnext": ("ConvNextImageProcessor", "ConvNextFeatureExtractor", None),
    "convnextv2": ("ConvNextImageProcessor", None, None),
    "cvt": ("ConvNextImageProcessor", "ConvNextFeatureExtractor", None),
    "clip": ("CLIPImageProcessor", "CLIPFeatureExtractor", "CLIPProcessor"),
    "chinese_clip": ("ChineseCLIPImageProcessor", "ChineseCLIPFeatureExtractor", "ChineseCLIPProcessor"),
    "altclip": (None, None, "AltCLIPProcessor"),
    "align": ("EfficientNetImageProcessor", None, "AlignProcessor"),
    "efficientnet": ("EfficientNetImageProcessor", None, None),
    "clap": (None, "ClapFeatureExtractor", "ClapProcessor"),
    "wav2vec2": (None, "Wav2Vec2FeatureExtractor", "Wav2Vec2Processor"),
    "data2vec-audio": (None, "Wav2Vec2FeatureExtractor", None),
    "audio-spectrogram-transformer": (None, "ASTFeatureExtractor", None),
    "whisper": (None, "WhisperFeatureExtractor", "WhisperProcessor"),
}
_REGISTERED: dict[str, type] = {}


def processing_class(name: str) -> type:
    """The henkan class called `name` (a "Fast" suffix, which names the reference's torchvision variant, is
    dropped: henkan has one implementation)."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    base = name[:-4] if name.endswith("Fast") and name[:-4] in CLASSES else name
    if base not in CLASSES:
        raise ValueError(f"Unknown preprocessing class {name!r}: henkan has {', '.join(sorted(CLASSES))}. Register "
                         "your own with AutoImageProcessor.register / AutoFeatureExtractor.register.")
    return getattr(importlib.import_module(CLASSES[base]), base)


def _model_type(name_or_path, hub: dict) -> str | None:
    path = resolve_file(os.fspath(name_or_path), "config.json", required=False, **hub)
    return read_json(path).get("model_type") if path else None


def _refuse_remote(settings: dict, name) -> None:
    auto_map = settings.get("auto_map")
    if isinstance(auto_map, dict) and {"AutoImageProcessor", "AutoFeatureExtractor", "AutoProcessor"} & set(auto_map):
        raise ValueError(f"'{name}' names custom preprocessing code (auto_map). henkan never runs code from a "
                         "checkpoint; register an equivalent henkan class with AutoImageProcessor.register / "
                         "AutoFeatureExtractor.register / AutoProcessor.register.")


class _AutoPreprocessor:
    _keys: tuple[str, ...] = ()  # the settings keys naming the class, in order of preference
    _column = 0  # which MODEL_TYPES entry applies
    _sections: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        raise EnvironmentError(f"{type(self).__name__} is used through {type(self).__name__}.from_pretrained(...).")

    @classmethod
    def _class_from_settings(cls, settings: dict) -> type | None:
        for key in cls._keys:
            name = settings.get(key)
            if isinstance(name, str):
                if key == "feature_extractor_type" and cls._column == 0:
                    name = name.replace("FeatureExtractor", "ImageProcessor")
                return processing_class(name)
        return None

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *inputs, trust_remote_code: bool = False, **kwargs):
        """The preprocessing object saved at a folder, JSON file or Hub id. `use_fast` is accepted and has no effect
        (henkan has one implementation of each processor, numerically the reference's PIL-based one)."""
        kwargs.pop("use_fast", None)
        hub = pop_hub_kwargs(kwargs)
        path = resolve_preprocessor_file(pretrained_model_name_or_path, PREPROCESSOR_FILE, cls._what(), **hub)
        raw = read_json(path)
        settings = section_of(raw, cls._sections, path)
        _refuse_remote(settings, pretrained_model_name_or_path)
        klass = cls._class_from_settings(settings)
        if klass is None:
            model_type = _model_type(pretrained_model_name_or_path, hub)
            name = MODEL_TYPES.get(model_type, (None,) * 3)[cls._column]
            if name is None:
                raise ValueError(
                    f"Unrecognized {cls._what()} in '{pretrained_model_name_or_path}': {os.path.basename(path)} names "
                    f"no class (keys {', '.join(cls._keys)}) and config.json's model_type is {model_type!r}. Add "
                    f"\"{cls._keys[0]}\" to the file or load the concrete class.")
            klass = processing_class(name)
        return klass.from_dict(settings, **kwargs)

    @classmethod
    def _what(cls) -> str:
        return cls.__name__[4:]

    @classmethod
    def register(cls, config_class, processor_class=None, exist_ok: bool = False, **kwargs) -> None:
        """Make a class of yours loadable by the name a settings file records (its class name), and the one
        checkpoints of `config_class`'s model type get when their settings name none."""
        klass = processor_class or kwargs.get("image_processor_class") or kwargs.get("slow_image_processor_class") \
            or kwargs.get("fast_image_processor_class") or kwargs.get("feature_extractor_class")
        if klass is None:
            raise ValueError("Pass the class to register.")
        if klass.__name__ in CLASSES and not exist_ok:
            raise ValueError(f"'{klass.__name__}' is already a henkan class; pass exist_ok=True to replace it.")
        _REGISTERED[klass.__name__] = klass
        model_type = getattr(config_class, "model_type", None)
        if model_type:
            row = list(MODEL_TYPES.get(model_type, (None,) * 3))
            row[cls._column] = klass.__name__
            MODEL_TYPES[model_type] = tuple(row)


class AutoImageProcessor(_AutoPreprocessor):
    """`AutoImageProcessor.from_pretrained(path)`: the image processor of a checkpoint."""

    _keys = ("image_processor_type", "feature_extractor_type")
    _column = 0
    _sections = ("image_processor",)


class AutoFeatureExtractor(_AutoPreprocessor):
    """`AutoFeatureExtractor.from_pretrained(path)`: the feature extractor (or, for vision checkpoints, the image
    processor) of a checkpoint."""

    _keys = ("feature_extractor_type", "image_processor_type")
    _column = 1
    _sections = ("feature_extractor", "audio_processor", "image_processor")


class AutoProcessor(_AutoPreprocessor):
    """`AutoProcessor.from_pretrained(path)`: the processor of a checkpoint (its tokenizer and image processor /
    feature extractor together); a checkpoint without one gets its tokenizer, image processor or feature extractor."""

    _column = 2

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *inputs, trust_remote_code: bool = False, **kwargs):
        hub = pop_hub_kwargs(dict(kwargs))
        name = os.fspath(pretrained_model_name_or_path)
        for filename in (PROCESSOR_FILE, PREPROCESSOR_FILE, "tokenizer_config.json"):
            path = resolve_file(name, filename, required=False, **hub)
            if path is None:
                continue
            settings = read_json(path)
            _refuse_remote(settings, name)
            if isinstance(settings.get("processor_class"), str):
                klass = processing_class(settings["processor_class"])
                return klass.from_pretrained(pretrained_model_name_or_path, **kwargs)
        model_type = _model_type(name, hub)
        processor = MODEL_TYPES.get(model_type, (None,) * 3)[2]
        if processor is not None:
            return processing_class(processor).from_pretrained(pretrained_model_name_or_path, **kwargs)
        if resolve_file(name, PREPROCESSOR_FILE, required=False, **hub) is not None:
            try:
                return AutoImageProcessor.from_pretrained(pretrained_model_name_or_path, **kwargs)
            except ValueError:
                return AutoFeatureExtractor.from_pretrained(pretrained_model_name_or_path, **kwargs)
        from ..tokenization import AutoTokenizer

        return AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)
