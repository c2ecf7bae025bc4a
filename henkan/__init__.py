"""henkan: a small, fast PyTorch model library that speaks the Transformers API.

Public names resolve lazily, so `import henkan` is cheap and imports no torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_FAMILY_NAMES = {
    "bert": ["Bert"],
    "distilbert": ["DistilBert"],
    "roberta": ["Roberta", "XLMRoberta", "Camembert"],
    "albert": ["Albert"],
}
_HEADS = ("Config", "PreTrainedModel", "Model", "ForSequenceClassification", "ForTokenClassification",
          "ForQuestionAnswering", "ForMaskedLM", "ForMultipleChoice")

_LAZY: dict[str, str] = {
    "PretrainedConfig": "henkan.config",
    "PreTrainedModel": "henkan.modeling",
    "ModelOutput": "henkan.outputs",
    "AutoConfig": "henkan.auto",
    "AutoModel": "henkan.auto",
    "AutoModelForSequenceClassification": "henkan.auto",
    "AutoModelForTokenClassification": "henkan.auto",
    "AutoModelForQuestionAnswering": "henkan.auto",
    "AutoModelForMaskedLM": "henkan.auto",
    "AutoModelForMultipleChoice": "henkan.auto",
    "AutoModelForCausalLM": "henkan.auto",
    "SentenceEmbedder": "henkan.sentence",
    "set_seed": "henkan.utils",
}
for _module, _prefixes in _FAMILY_NAMES.items():
    for _prefix in _prefixes:
        for _head in _HEADS:
            _LAZY[_prefix + _head] = f"henkan.models.{_module}"
for _name in ("BaseModelOutput", "BaseModelOutputWithPooling", "BaseModelOutputWithPoolingAndCrossAttentions",
              "BaseModelOutputWithPast", "CausalLMOutput", "CausalLMOutputWithPast", "MaskedLMOutput",
              "SequenceClassifierOutput", "TokenClassifierOutput", "QuestionAnsweringModelOutput",
              "MultipleChoiceModelOutput"):
    _LAZY[_name] = "henkan.outputs"
_SUBMODULES = {"logging", "hub", "config", "modeling", "outputs", "auto", "layers", "heads", "models",
               "tokenization", "sentence", "utils", "cli"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"henkan.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'henkan' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *_LAZY, *_SUBMODULES})


__all__ = sorted(_LAZY)
