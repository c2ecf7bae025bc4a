"""`pipeline(task, model=...)`: preprocess -> forward -> postprocess over henkan's tokenizers and models.

Lists are batched (`batch_size`), generators and datasets are streamed with a progress bar; results come back in
input order.
"""

from __future__ import annotations

from .base import Pipeline
from .tasks import FeatureExtractionPipeline, TextClassificationPipeline
from .text_generation import Chat, TextGenerationPipeline
from .token_tasks import FillMaskPipeline, TokenClassificationPipeline

# task -> (pipeline class, Auto class name, the reference's default checkpoint)
TASKS = {
    "feature-extraction": (FeatureExtractionPipeline, "AutoModel", None),
    "text-classification": (TextClassificationPipeline, "AutoModelForSequenceClassification",
                            "distilbert/distilbert-base-uncased-finetuned-sst-2-english"),
    "text-generation": (TextGenerationPipeline, "AutoModelForCausalLM", "openai-community/gpt2"),
    "fill-mask": (FillMaskPipeline, "AutoModelForMaskedLM", "distilbert/distilroberta-base"),
    "token-classification": (TokenClassificationPipeline, "AutoModelForTokenClassification",
                             "dbmdz/bert-large-cased-finetuned-conll03-english"),
}
ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}


def pipeline(task: str, model=None, config=None, tokenizer=None, framework=None, revision=None, use_fast=True,
             token=None, device=None, device_map=None, torch_dtype=None, trust_remote_code=None,
             model_kwargs=None, pipeline_class=None, **kwargs) -> Pipeline:
    """Build the pipeline for `task`. `model` is a folder, Hub id or model object; `tokenizer` likewise."""
    import henkan

    name = ALIASES.get(task, task)
    if name not in TASKS:
        raise KeyError(f"Unknown task {task!r}. henkan's pipelines: {sorted([*TASKS, *ALIASES])}.")
    task_class, auto_name, default = TASKS[name]
    if model is None:
        from ..sentence import default_model_path

        model = default or default_model_path()  # feature-extraction defaults to the embedded MiniLM
    hub = {"revision": revision, "token": token}
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        options = {**(model_kwargs or {}), **hub, "trust_remote_code": bool(trust_remote_code)}
        if torch_dtype is not None:
            options["torch_dtype"] = torch_dtype
        if device_map is not None:
            options["device_map"] = device_map
        source = model
        model = getattr(henkan, auto_name).from_pretrained(source, **options)
        if tokenizer is None:
            tokenizer = source
    elif tokenizer is None:
        tokenizer = model.config.name_or_path
    if isinstance(tokenizer, str) or hasattr(tokenizer, "__fspath__"):
        tokenizer = henkan.AutoTokenizer.from_pretrained(tokenizer, use_fast=use_fast, **hub)
    return (pipeline_class or task_class)(model=model, tokenizer=tokenizer, device=device, task=name, **kwargs)


__all__ = ["pipeline", "Pipeline", "FeatureExtractionPipeline", "TextClassificationPipeline", "TextGenerationPipeline",
           "FillMaskPipeline", "TokenClassificationPipeline", "Chat", "TASKS"]
