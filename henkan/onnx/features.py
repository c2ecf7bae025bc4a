"""Which export features (tasks, with "-with-past" where the cache is exported) henkan's families support:
`FeaturesManager`, the tables of tasks and the heads that have them, and the feature an export picks when none is
named."""

from __future__ import annotations

from ..auto import FAMILIES, family_class
from .config import _CACHED_TASKS, OnnxConfig, OnnxConfigWithPast, OnnxSeq2SeqConfigWithPast

# task (the seed's "feature" without "-with-past") -> the family class suffix (auto.AUTO_TASKS) that has its head
_TASK_SUFFIX = {"default": "Model", "masked-lm": "ForMaskedLM", "causal-lm": "ForCausalLM",
                "seq2seq-lm": "ForConditionalGeneration", "sequence-classification": "ForSequenceClassification",
                "token-classification": "ForTokenClassification", "question-answering": "ForQuestionAnswering",
                "multiple-choice": "ForMultipleChoice"}
_TASK_AUTO = {"default": "AutoModel", "masked-lm": "AutoModelForMaskedLM", "causal-lm": "AutoModelForCausalLM",
              "seq2seq-lm": "AutoModelForSeq2SeqLM", "sequence-classification": "AutoModelForSequenceClassification",
              "token-classification": "AutoModelForTokenClassification",
              "question-answering": "AutoModelForQuestionAnswering", "multiple-choice": "AutoModelForMultipleChoice"}
# Optimum's and the pipelines' names for the same tasks
_TASK_ALIASES = {"feature-extraction": "default", "fill-mask": "masked-lm", "text-classification":
                 "sequence-classification", "text-generation": "causal-lm", "text2text-generation": "seq2seq-lm"}
# the tasks each kind of model exports
_KIND_TASKS = {"encoder": ("default", "masked-lm", "sequence-classification", "token-classification",
                           "question-answering", "multiple-choice"),
               "decoder": ("default", "causal-lm", "sequence-classification", "token-classification",
                           "question-answering"),
               "seq2seq": ("seq2seq-lm",)}
# families whose inputs are not token ids (or not only): not exported
_NOT_TEXT = {"ForCTC", "SpeechSeq2Seq", "ForAudioClassification", "ForImageClassification",
             "ZeroShotImageClassification", "ModelWithProjection"}
# inputs other than a vocabulary's ids (layout boxes; Unicode code points, hashed), or a composite of two configs
_NO_TEXT_FAMILIES = {"bros", "canine", "encoder-decoder"}


def _family(model_type: str) -> str | None:
    """The FAMILIES key of a model type, also when spelled with "-" for "_" (the seed's way) or the reverse."""
    for name in (model_type, model_type.replace("-", "_"), model_type.replace("_", "-")):
        if name in FAMILIES:
            return name
    return None


def _kind(model_type: str) -> str | None:
    """"encoder", "decoder" or "seq2seq": how a family's graphs are cut; None when henkan cannot export it."""
    entry = FAMILIES.get(model_type)
    if entry is None or model_type in _NO_TEXT_FAMILIES or _NOT_TEXT & set(entry[2]):
        return None
    tasks = entry[2]
    if "ForMaskedLM" in tasks or "ForMultipleChoice" in tasks:
        return "encoder"
    if "ForConditionalGeneration" in tasks:
        return "seq2seq"
    return "decoder" if "ForCausalLM" in tasks else None


def _split_feature(feature: str) -> tuple[str, bool]:
    """(task, with past) of a feature name, aliases resolved; a clear error for names henkan does not know."""
    if not isinstance(feature, str):
        raise TypeError(f"task should be a task name such as 'sequence-classification', not "
                        f"{type(feature).__name__}.")
    past = feature.endswith("-with-past")
    task = feature[:-len("-with-past")] if past else feature
    task = _TASK_ALIASES.get(task, task)
    if task not in _TASK_SUFFIX or (past and task not in _CACHED_TASKS):
        aliases = [f"{alias}{suffix}" for alias, canonical in _TASK_ALIASES.items()
                   for suffix in ("", "-with-past") if not suffix or canonical in _CACHED_TASKS]
        known = FeaturesManager.AVAILABLE_FEATURES + sorted(aliases)
        raise ValueError(f"Unknown ONNX export task {feature!r}; henkan knows: {', '.join(known)}.")
    return task, past


_CONFIG_CLASSES = {"encoder": OnnxConfig, "decoder": OnnxConfigWithPast, "seq2seq": OnnxSeq2SeqConfigWithPast}


class FeaturesManager:
    """Which export features (tasks, with "-with-past" where the cache is exported) each family supports, and the
    `OnnxConfig` and model class of each."""

    AVAILABLE_FEATURES = sorted(set(_TASK_SUFFIX) | {f"{task}-with-past" for task in _CACHED_TASKS})

    @staticmethod
    def get_supported_features_for_model_type(model_type: str, model_name: str | None = None) -> dict:
        """feature -> a function of the model config giving its OnnxConfig, for the features `model_type` has."""
        family = _family(model_type)
        kind = _kind(family) if family else None
        if kind is None:
            exportable = sorted(t for t in FAMILIES if _kind(t))
            name = f"{model_type} ({model_name})" if model_name else model_type
            raise KeyError(f"{name} cannot be exported to ONNX by henkan; it exports {', '.join(exportable)}.")
        config_class = _CONFIG_CLASSES[kind]
        features = {}
        for task in _KIND_TASKS[kind]:
            if family_class(family, _TASK_SUFFIX[task]) is None:
                continue
            features[task] = _config_factory(config_class, task, False)
            if task in _CACHED_TASKS:
                features[f"{task}-with-past"] = _config_factory(config_class, task, True)
        return features

    @staticmethod
    def feature_to_task(feature: str) -> str:
        return _split_feature(feature)[0]

    @staticmethod
    def get_model_class_for_feature(feature: str, framework: str = "pt") -> type:
        """The Auto class that loads a model for `feature`."""
        if framework != "pt":
            raise ValueError(f"henkan exports PyTorch models only (framework='pt'), not {framework!r}.")
        from .. import auto

        return getattr(auto, _TASK_AUTO[_split_feature(feature)[0]])

    @staticmethod
    def determine_framework(model: str, framework: str | None = None) -> str:
        return framework or "pt"

    @staticmethod
    def get_model_from_feature(feature: str, model: str, framework: str | None = None, cache_dir=None, **kwargs):
        """Load `model` (a folder or Hub id) with the head of `feature`, after checking that its family has one."""
        from ..auto import AutoConfig

        config = AutoConfig.from_pretrained(model, cache_dir=cache_dir, **kwargs)
        _check_feature(config.model_type, feature)
        model_class = FeaturesManager.get_model_class_for_feature(feature, framework or "pt")
        return model_class.from_pretrained(model, cache_dir=cache_dir, **kwargs)

    @staticmethod
    def check_supported_model_or_raise(model, feature: str = "default") -> tuple[str, object]:
        """(model type, OnnxConfig factory) for exporting `model` as `feature`; a clear error when its family has no
        head for it or the model is not the class of that head."""
        model_type = model.config.model_type
        factory = _check_feature(model_type, feature)
        task = _split_feature(feature)[0]
        head = family_class(_family(model_type), _TASK_SUFFIX[task])
        if not isinstance(model, head):
            others = _features_of(model)
            raise ValueError(f"{type(model).__name__} has no {task} head to export; load the model with "
                             f"{_TASK_AUTO[task]} (a {head.__name__})"
                             + (f", or export it as one of {', '.join(others)}." if others else "."))
        return model_type, factory

    @staticmethod
    def get_config(model_type: str, feature: str):
        return _check_feature(model_type, feature)


def _config_factory(config_class, task: str, past: bool):
    def make(config):
        return config_class.with_past(config, task=task) if past else config_class.from_model_config(config, task)
    make.__qualname__ = make.__name__ = f"{config_class.__name__}[{task}{'-with-past' if past else ''}]"
    return make


def _check_feature(model_type: str, feature: str):
    task, past = _split_feature(feature)
    features = FeaturesManager.get_supported_features_for_model_type(model_type)
    canonical = f"{task}-with-past" if past else task
    if canonical not in features:
        raise ValueError(f"{model_type} has no {canonical} head to export; its ONNX features are: "
                         f"{', '.join(features)}.")
    return features[canonical]


def _features_of(model) -> list[str]:
    """The features whose head `model` is."""
    model_type = model.config.model_type
    family = _family(model_type)
    return [feature for feature in FeaturesManager.get_supported_features_for_model_type(model_type)
            if isinstance(model, family_class(family, _TASK_SUFFIX[_split_feature(feature)[0]]))]


def _preferred(features: list[str]) -> str:
    """The feature exported when none is named: a language model's with its cache, else the first (its base)."""
    with_past = [f for f in features if f.endswith("-with-past")]
    return with_past[0] if with_past else features[0]


def _default_feature(model_type: str) -> str:
    """The feature a family is exported as when none is named (the CLI's default)."""
    return _preferred(list(FeaturesManager.get_supported_features_for_model_type(model_type)))


def _infer_feature(model) -> str:
    features = _features_of(model)
    if not features:
        raise ValueError(f"henkan finds no ONNX task for a {type(model).__name__}; pass task=... (one of "
                         f"{', '.join(FeaturesManager.AVAILABLE_FEATURES)}).")
    return _preferred(features)
