"""`pipeline(task, model=...)`: preprocess -> forward -> postprocess over henkan's tokenizers and models.

Lists are batched (`batch_size`), generators and datasets are streamed with a progress bar; results come back in
input order.
"""

from __future__ import annotations

import warnings

from .base import GenerationPipeline, Pipeline
from .tasks import FeatureExtractionPipeline, TextClassificationPipeline
from .text2text import SummarizationPipeline, Text2TextGenerationPipeline, TranslationPipeline
from .text_generation import Chat, TextGenerationPipeline
from .token_tasks import FillMaskPipeline, TokenClassificationPipeline
from .vision import ImageClassificationPipeline, ImageFeatureExtractionPipeline

T5_BASE = ("google-t5/t5-base", "a9723ea")
# task -> (pipeline class, Auto class name, the reference's default checkpoint and revision). The first task of an
# Auto class is the one a checkpoint of that class infers (text2text-generation for ...ForConditionalGeneration).
TASKS = {
    "feature-extraction": (FeatureExtractionPipeline, "AutoModel", None),
    "text-classification": (TextClassificationPipeline, "AutoModelForSequenceClassification",
                            ("distilbert/distilbert-base-uncased-finetuned-sst-2-english", "714eb0f")),
    "text-generation": (TextGenerationPipeline, "AutoModelForCausalLM", ("openai-community/gpt2", "607a30d")),
    "text2text-generation": (Text2TextGenerationPipeline, "AutoModelForSeq2SeqLM", T5_BASE),
    "summarization": (SummarizationPipeline, "AutoModelForSeq2SeqLM", ("sshleifer/distilbart-cnn-12-6", "a4f8f3e")),
    "translation": (TranslationPipeline, "AutoModelForSeq2SeqLM", None),  # by language pair: TRANSLATION_DEFAULTS
    "fill-mask": (FillMaskPipeline, "AutoModelForMaskedLM", ("distilbert/distilroberta-base", "fb53ab8")),
    "token-classification": (TokenClassificationPipeline, "AutoModelForTokenClassification",
                             ("dbmdz/bert-large-cased-finetuned-conll03-english", "4c53496")),
    "image-classification": (ImageClassificationPipeline, "AutoModelForImageClassification",
                             ("google/vit-base-patch16-224", "3f49326")),
    "image-feature-extraction": (ImageFeatureExtractionPipeline, "AutoModel", ("google/vit-base-patch16-224", "3f49326")),
}
IMAGE_TASKS = ("image-classification", "image-feature-extraction")  # (an image processor, no tokenizer)
TRANSLATION_DEFAULTS = {("en", "fr"): T5_BASE, ("en", "de"): T5_BASE, ("en", "ro"): T5_BASE}
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def _check_task(task: str) -> tuple[str, tuple[str, str] | None]:
    """The task's name in TASKS, and for `translation_xx_to_yy` the (source, target) languages it names."""
    name = ALIASES.get(task, task)
    if name in TASKS:
        return name, None
    if isinstance(task, str) and task.startswith("translation"):
        parts = task.split("_")
        if len(parts) == 4 and parts[0] == "translation" and parts[2] == "to":
            return "translation", (parts[1], parts[3])
        raise KeyError(f"Invalid translation task {task!r}: name it 'translation_XX_to_YY' (e.g. "
                       "'translation_en_to_fr').")
    raise KeyError(f"Unknown task {task!r}. henkan's pipelines: {sorted([*TASKS, *ALIASES])} and "
                   "'translation_XX_to_YY'.")


def pipeline(task: str | None = None, model=None, config=None, tokenizer=None, framework=None, revision=None,
             use_fast=True, token=None, device=None, device_map=None, torch_dtype=None, trust_remote_code=None,
             model_kwargs=None, pipeline_class=None, image_processor=None, **kwargs) -> Pipeline:
    """Build the pipeline for `task`. `model` is a folder, Hub id or model object; `tokenizer` (or, for image
    tasks, `image_processor`) likewise.

    Without a task, the checkpoint's architecture names it (`...ForConditionalGeneration`: text2text-generation,
    `...ForCausalLM`: text-generation, ...). Without a model, the task's default Hub checkpoint is loaded, with a
    notice."""
    import henkan

    if task is None and model is None:
        raise RuntimeError("pipeline() needs a task or a model: pass e.g. pipeline('summarization') or "
                           "pipeline(model='path/to/checkpoint').")
    if model is None and (tokenizer is not None or image_processor is not None):
        raise RuntimeError("A tokenizer or image processor was given without a model: it may not fit the task's "
                           "default model. Pass model= as well.")
    hub = {"revision": revision, "token": token}
    if task is None:
        task = _infer_task(model, hub)
    name, languages = _check_task(task)
    task_class, auto_name, default = TASKS[name]
    if model is None:
        model, default_revision = _default_checkpoint(name, default, languages)
        if default_revision is not None:
            hub["revision"] = revision if revision is not None else default_revision
            _notice_default(model, hub["revision"])
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        options = {**(model_kwargs or {}), **hub, "trust_remote_code": bool(trust_remote_code)}
        if torch_dtype is not None:
            options["torch_dtype"] = torch_dtype
        if device_map is not None:
            options["device_map"] = device_map
        source = model
        model = getattr(henkan, auto_name).from_pretrained(source, **options)
    else:
        source = getattr(model.config, "name_or_path", None)
    if name in IMAGE_TASKS:
        return _image_pipeline(pipeline_class or task_class, name, model,
                               source if image_processor is None else image_processor, device, hub, kwargs)
    if tokenizer is None:
        tokenizer = source
        if not tokenizer:
            raise ValueError(f"Pass tokenizer= with the model object: its config does not say which checkpoint "
                             f"{type(model).__name__} came from.")
    if isinstance(tokenizer, str) or hasattr(tokenizer, "__fspath__"):
        tokenizer = henkan.AutoTokenizer.from_pretrained(tokenizer, use_fast=use_fast, **hub)
    if name == "translation":
        task = _translation_task(task, model.config)
    else:
        task = name
    return (pipeline_class or task_class)(model=model, tokenizer=tokenizer, device=device, task=task, **kwargs)


def _image_pipeline(task_class, name: str, model, image_processor, device, hub: dict, kwargs: dict) -> Pipeline:
    """An image task's pipeline: its image processor is the one given, or loaded from where the model came from."""
    import henkan

    if image_processor is None or image_processor == "":
        raise ValueError(f"Pass image_processor= with the model object: its config does not say which checkpoint "
                         f"{type(model).__name__} came from.")
    if isinstance(image_processor, str) or hasattr(image_processor, "__fspath__"):
        image_processor = henkan.AutoImageProcessor.from_pretrained(image_processor, **hub)
    return task_class(model=model, image_processor=image_processor, device=device, task=name, **kwargs)


def _infer_task(model, hub: dict) -> str:
    """The task of the first architecture in the checkpoint's config whose Auto class a task loads."""
    from ..auto import AUTO_TASKS, AutoConfig, architecture_suffix

    config = model.config if hasattr(model, "config") else AutoConfig.from_pretrained(model, **hub)
    by_suffix = {}
    for name, (_, auto_name, _) in TASKS.items():
        by_suffix.setdefault(AUTO_TASKS[auto_name], name)
    architectures = getattr(config, "architectures", None) or []
    for architecture in architectures:
        suffix = architecture_suffix(getattr(config, "model_type", None), architecture)
        if suffix in by_suffix:
            return by_suffix[suffix]
    raise RuntimeError(f"Cannot tell the task of {model if isinstance(model, str) else type(model).__name__}: its "
                       f"config's architectures {architectures} name no task henkan's pipelines have. Pass the "
                       f"task, e.g. pipeline('summarization', model=...).")


def _default_checkpoint(name: str, default, languages) -> tuple[str, str | None]:
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


__all__ = ["pipeline", "Pipeline", "GenerationPipeline", "FeatureExtractionPipeline",
           "TextClassificationPipeline", "TextGenerationPipeline", "Text2TextGenerationPipeline",
           "SummarizationPipeline", "TranslationPipeline", "FillMaskPipeline", "TokenClassificationPipeline", "Chat",
           "ImageClassificationPipeline", "ImageFeatureExtractionPipeline", "TASKS"]
