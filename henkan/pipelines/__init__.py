"""`pipeline(task, model=...)`: preprocess -> forward -> postprocess over henkan's tokenizers and models.

Lists are batched (`batch_size`), generators and datasets are streamed with a progress bar; results come back in
input order.
"""

from __future__ import annotations

import warnings

from .audio import (AudioClassificationPipeline, AutomaticSpeechRecognitionPipeline,
                    ZeroShotAudioClassificationPipeline)
from .base import ChunkPipeline, GenerationPipeline, Pipeline
from .pt_utils import KeyDataset, KeyPairDataset
from .question_answering import QuestionAnsweringPipeline, SquadExample
from .tasks import FeatureExtractionPipeline, TextClassificationPipeline
from .text2text import SummarizationPipeline, Text2TextGenerationPipeline, TranslationPipeline
from .text_generation import Chat, TextGenerationPipeline
from .token_tasks import FillMaskPipeline, TokenClassificationPipeline
from .vision import ImageClassificationPipeline, ImageFeatureExtractionPipeline, ZeroShotImageClassificationPipeline
from .zero_shot import ZeroShotClassificationPipeline

T5_BASE = ("google-t5/t5-base", "a9723ea")
BART_MNLI = ("facebook/bart-large-mnli", "d7645e1")
VIT_BASE = ("google/vit-base-patch16-224", "3f49326")


def _task(impl, auto: str | tuple, default=None, kind: str = "text") -> dict:
    """A task's entry, in the reference's registry layout: its pipeline class, the Auto class(es) its models load
    with (by name, resolved on use), the default checkpoint and revision, and the kind of input it takes."""
    entry = {"impl": impl, "pt": auto if isinstance(auto, tuple) else (auto,), "tf": (), "type": kind}
    if default is not None:
        entry["default"] = {"model": {"pt": default}}
    return entry


# task -> entry. The first task of an Auto class is the one a checkpoint of that class infers (text2text-generation
# for ...ForConditionalGeneration). Other pipeline modules (image, audio) add their tasks to this table.
SUPPORTED_TASKS = {
    "feature-extraction": _task(FeatureExtractionPipeline, "AutoModel", ("distilbert/distilbert-base-cased", "6ea8117"),
                                "multimodal"),
    "text-classification": _task(TextClassificationPipeline, "AutoModelForSequenceClassification",
                                 ("distilbert/distilbert-base-uncased-finetuned-sst-2-english", "714eb0f")),
    "token-classification": _task(TokenClassificationPipeline, "AutoModelForTokenClassification",
                                  ("dbmdz/bert-large-cased-finetuned-conll03-english", "4c53496")),
    "question-answering": _task(QuestionAnsweringPipeline, "AutoModelForQuestionAnswering",
                                ("distilbert/distilbert-base-cased-distilled-squad", "564e9b5")),
    "fill-mask": _task(FillMaskPipeline, "AutoModelForMaskedLM", ("distilbert/distilroberta-base", "fb53ab8")),
    "text-generation": _task(TextGenerationPipeline, "AutoModelForCausalLM", ("openai-community/gpt2", "607a30d")),
    "text2text-generation": _task(Text2TextGenerationPipeline, "AutoModelForSeq2SeqLM", T5_BASE),
    "summarization": _task(SummarizationPipeline, "AutoModelForSeq2SeqLM",
                           ("sshleifer/distilbart-cnn-12-6", "a4f8f3e")),
    "translation": _task(TranslationPipeline, "AutoModelForSeq2SeqLM"),  # by language pair: TRANSLATION_DEFAULTS
    "zero-shot-classification": _task(ZeroShotClassificationPipeline, "AutoModelForSequenceClassification",
                                      BART_MNLI),
    "image-classification": _task(ImageClassificationPipeline, "AutoModelForImageClassification", VIT_BASE, "image"),
    "image-feature-extraction": _task(ImageFeatureExtractionPipeline, "AutoModel", VIT_BASE, "image"),
    "zero-shot-image-classification": _task(ZeroShotImageClassificationPipeline,
                                            "AutoModelForZeroShotImageClassification",
                                            ("openai/clip-vit-base-patch32", "3d74acf"), "multimodal"),
    "automatic-speech-recognition": _task(AutomaticSpeechRecognitionPipeline,
                                          ("AutoModelForCTC", "AutoModelForSpeechSeq2Seq"),
                                          ("facebook/wav2vec2-base-960h", "22aad52"), "multimodal"),
    "audio-classification": _task(AudioClassificationPipeline, "AutoModelForAudioClassification",
                                  ("superb/wav2vec2-base-superb-ks", "372e048"), "audio"),
    "zero-shot-audio-classification": _task(ZeroShotAudioClassificationPipeline, "AutoModel",
                                            ("laion/clap-htsat-fused", "cca9e28"), "multimodal"),
}
TRANSLATION_DEFAULTS = {("en", "fr"): T5_BASE, ("en", "de"): T5_BASE, ("en", "ro"): T5_BASE}
TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


class PipelineRegistry:
    """The tasks `pipeline()` knows: built-in ones and those added with `register_pipeline`."""

    def __init__(self, supported_tasks: dict, task_aliases: dict) -> None:
        self.supported_tasks, self.task_aliases = supported_tasks, task_aliases

    def get_supported_tasks(self) -> list[str]:
        return sorted([*self.supported_tasks, *self.task_aliases])

    def check_task(self, task: str) -> tuple[str, dict, tuple[str, str] | None]:
        """(the task's name, its entry, the (source, target) languages a `translation_xx_to_yy` task names)."""
        if not isinstance(task, str):
            raise TypeError(f"task must be a string such as 'text-classification', not {type(task).__name__}.")
        name = self.task_aliases.get(task, task)
        if name in self.supported_tasks:
            return name, self.supported_tasks[name], None
        if task.startswith("translation"):
            parts = task.split("_")
            if len(parts) == 4 and parts[0] == "translation" and parts[2] == "to":
                return "translation", self.supported_tasks["translation"], (parts[1], parts[3])
            raise KeyError(f"Invalid translation task {task!r}: name it 'translation_XX_to_YY' (e.g. "
                           "'translation_en_to_fr').")
        import difflib

        known = self.get_supported_tasks()
        close = difflib.get_close_matches(task, known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"Unknown task {task!r}.{hint} Known tasks: {', '.join(known)} and 'translation_XX_to_YY'.")

    def register_pipeline(self, task: str, pipeline_class: type, pt_model=None, tf_model=None,
                          default: dict | None = None, type: str | None = None) -> None:  # noqa: A002
        """Add (or replace) a task: `pipeline(task, model=...)` then builds `pipeline_class` over a model loaded
        with `pt_model` (an Auto class, or a tuple whose first entry is used). `default` is
        `{"pt": (checkpoint, revision)}` (or `{"model": {"pt": ...}}`)."""
        from ..logging import get_logger

        if task in self.supported_tasks:
            get_logger(__name__).warning(f"{task} is already registered. Overwriting pipeline for task {task}...")
        entry = {"impl": pipeline_class, "pt": _as_tuple(pt_model), "tf": _as_tuple(tf_model)}
        if default is not None:
            entry["default"] = default if "model" in default else {"model": default}
        if type is not None:
            entry["type"] = type
        self.supported_tasks[task] = entry
        pipeline_class._registered_impl = {task: entry}

    def to_dict(self) -> dict:
        return self.supported_tasks


def _as_tuple(classes) -> tuple:
    return () if classes is None else classes if isinstance(classes, tuple) else (classes,)


PIPELINE_REGISTRY = PipelineRegistry(supported_tasks=SUPPORTED_TASKS, task_aliases=TASK_ALIASES)


def get_supported_tasks() -> list[str]:
    return PIPELINE_REGISTRY.get_supported_tasks()


def check_task(task: str):
    return PIPELINE_REGISTRY.check_task(task)


def _auto_classes(entry: dict, task: str) -> list:
    """The classes that load the task's models, to try in order (Auto classes by name, or classes given to
    register_pipeline)."""
    import henkan

    if not entry["pt"]:
        raise ValueError(f"The task {task!r} was registered without pt_model: pass a model object, not a name.")
    return [getattr(henkan, name) if isinstance(name, str) else name for name in entry["pt"]]


def _load_model(classes: list, source, options: dict):
    """The model from the first class that has one for the checkpoint's config (e.g. ...ForCTC, else a speech
    seq2seq model); the first class's error when none does."""
    first = None
    for cls in classes:
        try:
            return cls.from_pretrained(source, **options)
        except ValueError as e:
            if "Unrecognized configuration class" not in str(e):
                raise
            first = first or e
    raise first


def pipeline(task: str | None = None, model=None, config=None, tokenizer=None, feature_extractor=None,
             image_processor=None, processor=None, framework=None, revision=None, use_fast=True, token=None,
             device=None, device_map=None, torch_dtype=None, trust_remote_code=None, model_kwargs=None,
             pipeline_class=None, dtype=None, **kwargs) -> Pipeline:
    """Build the pipeline for `task`. `model` is a folder, Hub id or model object; `tokenizer` likewise.

    Without a task, the checkpoint's architecture names it (`...ForConditionalGeneration`: text2text-generation,
    `...ForCausalLM`: text-generation, ...). Without a model, the task's default Hub checkpoint is loaded, with a
    notice. `config` (a config object, folder or Hub id) is the model's config; `model_kwargs` go to the model's
    from_pretrained; `pipeline_class` builds a subclass instead of the task's class; `framework` must be "pt";
    `feature_extractor`, `image_processor` and `processor` are handed to pipelines that take them."""
    import henkan

    if framework not in (None, "pt"):
        raise ValueError(f"framework={framework!r}: henkan runs PyTorch models only; leave it out or pass 'pt'.")
    if task is None and model is None:
        raise RuntimeError("pipeline() needs a task or a model: pass e.g. pipeline('summarization') or "
                           "pipeline(model='path/to/checkpoint').")
    if model is None and (tokenizer is not None or image_processor is not None or feature_extractor is not None):
        raise RuntimeError("A tokenizer, feature extractor or image processor was given without a model: it may not "
                           "fit the task's default model. Pass model= as well.")
    hub = {"revision": revision, "token": token}
    if task is None:
        task = _infer_task(model, hub, config)
    name, entry, languages = PIPELINE_REGISTRY.check_task(task)
    if model is None:
        model, default_revision = _default_checkpoint(name, entry, languages)
        if default_revision is not None:
            hub["revision"] = revision if revision is not None else default_revision
            _notice_default(model, hub["revision"])
        default_model = model if default_revision is not None else None
    else:
        default_model = None
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        options = {**(model_kwargs or {}), **hub, "trust_remote_code": bool(trust_remote_code)}
        if dtype is not None or torch_dtype is not None:
            options["torch_dtype"] = dtype if dtype is not None else torch_dtype
        if device_map is not None:
            options["device_map"] = device_map
        if config is not None:
            options["config"] = henkan.AutoConfig.from_pretrained(config, **hub) if isinstance(config, str) \
                else config
        source = model
        try:
            model = _load_model(_auto_classes(entry, name), source, options)
        except OSError as e:
            if default_model is None:
                raise
            raise OSError(f"No model was given for {name!r}, and its default {default_model!r} (revision "
                          f"{hub['revision']}) cannot be loaded: {e} Download it once with `henkan download "
                          f"{default_model} --revision {hub['revision']}`, or pass model= a local folder.") from e
    else:
        source = getattr(model.config, "name_or_path", None)
    task_class = pipeline_class or entry["impl"]
    if processor is not None:
        kwargs["processor"] = processor
        if not isinstance(processor, str) and not hasattr(processor, "__fspath__"):  # its parts serve unless given
            tokenizer = tokenizer if tokenizer is not None else getattr(processor, "tokenizer", None)
            feature_extractor = feature_extractor if feature_extractor is not None else \
                getattr(processor, "feature_extractor", None)
            image_processor = image_processor if image_processor is not None else \
                getattr(processor, "image_processor", None)
    if isinstance(tokenizer, tuple):  # (name, {options}) as the reference accepts
        tokenizer, tokenizer_options = tokenizer
    else:
        tokenizer_options = {}
    loaders = {"tokenizer": (henkan.AutoTokenizer, {**hub, "use_fast": use_fast, **tokenizer_options}),
               "feature_extractor": (henkan.AutoFeatureExtractor, hub),
               "image_processor": (henkan.AutoImageProcessor, hub)}
    given = {"tokenizer": tokenizer, "feature_extractor": feature_extractor, "image_processor": image_processor}
    for key in _TASK_PREPROCESSORS.get(name) or _PREPROCESSORS.get(entry.get("type"), ("tokenizer",)):
        loader, options = loaders[key]
        given[key] = _preprocessor(given[key], source, loader, key, model, options)
    kwargs.update({key: value for key, value in given.items() if value is not None})
    task = _translation_task(task, model.config) if name == "translation" else name
    return task_class(model=model, device=device, task=task, **kwargs)


# what pipeline() loads beside the model: by the task's kind of input, or for the tasks named
_PREPROCESSORS = {"image": ("image_processor",), "audio": ("feature_extractor",)}
_TASK_PREPROCESSORS = {"automatic-speech-recognition": ("feature_extractor", "tokenizer"),
                       "zero-shot-image-classification": ("image_processor", "tokenizer"),
                       "zero-shot-audio-classification": ("feature_extractor", "tokenizer")}


def _preprocessor(given, source, loader, argument: str, model, options: dict):
    """A pipeline's tokenizer or image processor: the object given, or loaded from the name given or from where the
    model came from."""
    if given is None:
        given = source
        if not given:
            raise ValueError(f"Pass {argument}= with the model object: its config does not say which checkpoint "
                             f"{type(model).__name__} came from.")
    if isinstance(given, str) or hasattr(given, "__fspath__"):
        return loader.from_pretrained(given, **options)
    return given


def _infer_task(model, hub: dict, config=None) -> str:
    """The task of the first architecture in the checkpoint's config whose Auto class a task loads (the most
    specific one: a Whisper checkpoint is for speech recognition, not text2text-generation)."""
    from ..auto import AUTO_TASKS, AutoConfig, architecture_suffixes

    if hasattr(model, "config"):
        config = model.config
    elif config is None or isinstance(config, str):
        config = AutoConfig.from_pretrained(config or model, **hub)
    by_suffix = {}
    for name, entry in SUPPORTED_TASKS.items():
        for auto in entry["pt"]:
            if isinstance(auto, str) and auto in AUTO_TASKS:
                by_suffix.setdefault(AUTO_TASKS[auto], name)
    architectures = getattr(config, "architectures", None) or []
    for architecture in architectures:
        for suffix in reversed(architecture_suffixes(getattr(config, "model_type", None), architecture)):
            if suffix in by_suffix:
                return by_suffix[suffix]
    raise RuntimeError(f"Cannot tell the task of {model if isinstance(model, str) else type(model).__name__}: its "
                       f"config's architectures {architectures} name no task henkan's pipelines have. Pass the "
                       f"task, e.g. pipeline('summarization', model=...).")


def _default_checkpoint(name: str, entry: dict, languages) -> tuple[str, str | None]:
    if name == "feature-extraction":
        from ..sentence import default_model_path

        return default_model_path(), None  # the embedded MiniLM: no download
    if name == "translation":
        if languages is None:
            raise ValueError('The translation task has a default model per language pair: name the pair in the task '
                             '("translation_en_to_fr") or pass model=.')
        if languages not in TRANSLATION_DEFAULTS:
            raise ValueError(f"No default model translates {languages[0]!r} to {languages[1]!r} (there are defaults "
                             f"for {sorted(TRANSLATION_DEFAULTS)}): pass model=.")
        return TRANSLATION_DEFAULTS[languages]
    default = entry.get("default", {}).get("model", {}).get("pt")
    if default is None:
        raise ValueError(f"The task {name!r} has no default model: pass model=.")
    return default


def _notice_default(model: str, revision: str) -> None:
    from huggingface_hub import constants

    from ..logging import get_logger

    get_logger(__name__).warning(
        f"No model was supplied, defaulted to {model} and revision {revision} ({constants.ENDPOINT}/{model}).\n"
        "Using a pipeline without specifying a model name and revision in production is not recommended.")


def _translation_task(task: str, config) -> str:
    """`translation` alone becomes the config's first `translation_xx_to_yy` task, with a warning."""
    if task == "translation":
        for key in getattr(config, "task_specific_params", None) or {}:
            if key.startswith("translation"):
                warnings.warn(f'"translation" task was used, instead of "translation_XX_to_YY", defaulting to '
                              f'"{key}"', UserWarning, stacklevel=3)
                return key
    return task


__all__ = ["pipeline", "Pipeline", "ChunkPipeline", "GenerationPipeline", "FeatureExtractionPipeline",
           "TextClassificationPipeline", "TextGenerationPipeline", "Text2TextGenerationPipeline",
           "SummarizationPipeline", "TranslationPipeline", "FillMaskPipeline", "TokenClassificationPipeline",
           "QuestionAnsweringPipeline", "ZeroShotClassificationPipeline", "SquadExample", "Chat", "KeyDataset",
           "KeyPairDataset", "ImageClassificationPipeline", "ImageFeatureExtractionPipeline",
           "ZeroShotImageClassificationPipeline", "AutomaticSpeechRecognitionPipeline", "AudioClassificationPipeline",
           "ZeroShotAudioClassificationPipeline", "PIPELINE_REGISTRY", "PipelineRegistry", "SUPPORTED_TASKS", "TASK_ALIASES", "check_task",
           "get_supported_tasks"]
