"""The one registry: model_type -> config class and the model class for each task; the Auto classes on top.

Names are kept as strings so that nothing heavy is imported until a class is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from .config import PretrainedConfig
from .hub import HUB_KWARGS, pop_hub_kwargs

# model_type -> (module under henkan.models, class-name prefix, tasks the family has)
_ENCODER_TASKS = ("Model", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering",
                  "ForMaskedLM", "ForMultipleChoice")
_DECODER_TASKS = ("Model", "ForCausalLM", "ForSequenceClassification")
_DECODER_SPAN_TASKS = _DECODER_TASKS + ("ForTokenClassification", "ForQuestionAnswering")
_DECODER_TOKEN_TASKS = _DECODER_TASKS + ("ForTokenClassification",)  # (where the reference has no span head)
_DECODER_QA_TASKS = _DECODER_TASKS + ("ForQuestionAnswering",)  # (where it has no token head)
_SEQ2SEQ_TASKS = ("Model", "ForConditionalGeneration", "ForCausalLM")
_BART_TASKS = _SEQ2SEQ_TASKS + ("ForSequenceClassification", "ForQuestionAnswering")
_T5_TASKS = ("Model", "ForConditionalGeneration", "ForSequenceClassification", "ForTokenClassification",
             "ForQuestionAnswering")
_IMAGE_TASKS = ("Model", "ForImageClassification")
FAMILIES = {
    "bert": ("bert", "Bert", _ENCODER_TASKS + ("ForCausalLM", "ForPreTraining")),
    "distilbert": ("distilbert", "DistilBert", _ENCODER_TASKS),
    "roberta": ("roberta", "Roberta", _ENCODER_TASKS + ("ForCausalLM",)),
    "xlm-roberta": ("roberta", "XLMRoberta", _ENCODER_TASKS + ("ForCausalLM",)),
    "camembert": ("roberta", "Camembert", _ENCODER_TASKS + ("ForCausalLM",)),
    "data2vec-text": ("roberta", "Data2VecText", _ENCODER_TASKS + ("ForCausalLM",)),
    "bert-generation": ("bert_generation", "BertGeneration", ("Model", "ForCausalLM")),
    "albert": ("albert", "Albert", _ENCODER_TASKS),
    "deberta": ("deberta", "Deberta", _ENCODER_TASKS[:-1]),
    "deberta-v2": ("deberta", "DebertaV2", _ENCODER_TASKS),
    "convbert": ("convbert", "ConvBert", _ENCODER_TASKS),
    "bros": ("bros", "Bros", ("Model", "ForTokenClassification")),
    "canine": ("canine", "Canine", _ENCODER_TASKS[:4] + _ENCODER_TASKS[5:]),
    "big_bird": ("big_bird", "BigBird", _ENCODER_TASKS + ("ForCausalLM", "ForPreTraining")),
    "llama": ("llama", "Llama", _DECODER_SPAN_TASKS),
    "mistral": ("llama", "Mistral", _DECODER_SPAN_TASKS),
    "qwen2": ("llama", "Qwen2", _DECODER_SPAN_TASKS),
    "gpt2": ("gpt2", "GPT2", _DECODER_SPAN_TASKS),
    "bloom": ("bloom", "Bloom", _DECODER_SPAN_TASKS),
    "phi3": ("llama", "Phi3", _DECODER_TOKEN_TASKS),
    "gemma": ("llama", "Gemma", _DECODER_TOKEN_TASKS),
    "gemma2": ("llama", "Gemma2", _DECODER_TOKEN_TASKS),
    "stablelm": ("llama", "StableLm", _DECODER_TOKEN_TASKS),
    "mixtral": ("llama", "Mixtral", _DECODER_SPAN_TASKS),
    "codegen": ("codegen", "CodeGen", ("Model", "ForCausalLM")),
    "opt": ("opt", "OPT", _DECODER_QA_TASKS),
    "gptj": ("codegen", "GPTJ", _DECODER_QA_TASKS),
    "gpt_neox": ("gpt_neox", "GPTNeoX", _DECODER_SPAN_TASKS),
    "phi": ("phi", "Phi", _DECODER_TOKEN_TASKS),
    "falcon": ("falcon", "Falcon", _DECODER_SPAN_TASKS),
    "gpt_neo": ("gpt_neo", "GPTNeo", _DECODER_SPAN_TASKS),
    "biogpt": ("biogpt", "BioGpt", _DECODER_TOKEN_TASKS),
    "ctrl": ("ctrl", "CTRL", _DECODER_TASKS),
    "decision_transformer": ("decision_transformer", "DecisionTransformer", ("Model",)),
    "cpmant": ("cpmant", "CpmAnt", ("Model", "ForCausalLM")),
    "bart": ("bart", "Bart", _BART_TASKS),
    "mbart": ("bart", "MBart", _BART_TASKS),
    "marian": ("bart", "Marian", _SEQ2SEQ_TASKS),
    "pegasus": ("bart", "Pegasus", _SEQ2SEQ_TASKS),
    "blenderbot": ("bart", "Blenderbot", _SEQ2SEQ_TASKS),
    "blenderbot-small": ("bart", "BlenderbotSmall", _SEQ2SEQ_TASKS),
    "encoder-decoder": ("encoder_decoder", "EncoderDecoder", ("ForConditionalGeneration",)),
    "bigbird_pegasus": ("bigbird_pegasus", "BigBirdPegasus", _BART_TASKS),
    "t5": ("t5", "T5", _T5_TASKS),
    "mt5": ("t5", "MT5", _T5_TASKS),
    "wav2vec2": ("wav2vec2", "Wav2Vec2", ("Model", "ForCTC", "ForSequenceClassification", "ForAudioFrameClassification",
                                          "ForAudioClassification")),
    "data2vec-audio": ("wav2vec2", "Data2VecAudio", ("Model", "ForCTC", "ForSequenceClassification",
                                                     "ForAudioFrameClassification", "ForAudioClassification")),
    "audio-spectrogram-transformer": ("audio_spectrogram_transformer", "AST", ("Model", "ForAudioClassification")),
    "whisper": ("whisper", "Whisper", ("Model", "ForConditionalGeneration", "ForCausalLM", "ForAudioClassification",
                                       "SpeechSeq2Seq")),
    "clip": ("clip", "CLIP", ("Model", "ForImageClassification", "ZeroShotImageClassification")),
    "chinese_clip": ("chinese_clip", "ChineseCLIP", ("Model", "ZeroShotImageClassification")),
    "altclip": ("altclip", "AltCLIP", ("Model", "ZeroShotImageClassification")),
    "align": ("align", "Align", ("Model", "ZeroShotImageClassification")),
    "clap": ("clap", "Clap", ("Model",)),
    "clip_text_model": ("clip", "CLIPText", ("Model", "ModelWithProjection")),
    "clip_vision_model": ("clip", "CLIPVision", ("Model", "ModelWithProjection")),
    "vit": ("vit", "ViT", _IMAGE_TASKS + ("ForMaskedImageModeling",)),
    "deit": ("vit", "DeiT", _IMAGE_TASKS + ("ForMaskedImageModeling",)),
    "beit": ("beit", "Beit", _IMAGE_TASKS + ("ForSemanticSegmentation",)),
    "data2vec-vision": ("beit", "Data2VecVision", _IMAGE_TASKS + ("ForSemanticSegmentation",)),
    "convnext": ("convnext", "ConvNext", _IMAGE_TASKS),
    "convnextv2": ("convnext", "ConvNextV2", _IMAGE_TASKS),
    "bit": ("bit", "Bit", _IMAGE_TASKS),
    "cvt": ("cvt", "Cvt", _IMAGE_TASKS),
    "dinat": ("dinat", "Dinat", _IMAGE_TASKS),
    "autoformer": ("autoformer", "Autoformer", ("Model", "ForPrediction")),
}
# (model_type, suffix) -> class name, where a family's class does not follow `<Prefix><Suffix>`
CLASS_NAMES = {("gpt2", "ForCausalLM"): "GPT2LMHeadModel", ("ctrl", "ForCausalLM"): "CTRLLMHeadModel", ("marian", "ForConditionalGeneration"): "MarianMTModel",
               ("bert", "ForCausalLM"): "BertLMHeadModel", ("bert-generation", "Model"): "BertGenerationEncoder",
               ("bert-generation", "ForCausalLM"): "BertGenerationDecoder",
               ("encoder-decoder", "ForConditionalGeneration"): "EncoderDecoderModel",
               ("whisper", "SpeechSeq2Seq"): "WhisperForConditionalGeneration",
               ("wav2vec2", "ForAudioClassification"): "Wav2Vec2ForSequenceClassification",
               ("data2vec-audio", "ForAudioClassification"): "Data2VecAudioForSequenceClassification",
               ("clip", "ZeroShotImageClassification"): "CLIPModel",
               ("chinese_clip", "ZeroShotImageClassification"): "ChineseCLIPModel",
               ("altclip", "ZeroShotImageClassification"): "AltCLIPModel",
               ("align", "ZeroShotImageClassification"): "AlignModel"}
# (model_type, suffix) -> other classes of that task, loaded instead when config.architectures names them
ALTERNATIVE_CLASSES = {("deit", "ForImageClassification"): ("DeiTForImageClassificationWithTeacher",)}
# Auto class -> the family class suffix it loads
AUTO_TASKS = {
    "AutoModel": "Model",
    "AutoModelForSequenceClassification": "ForSequenceClassification",
    "AutoModelForTokenClassification": "ForTokenClassification",
    "AutoModelForQuestionAnswering": "ForQuestionAnswering",
    "AutoModelForMaskedLM": "ForMaskedLM",
    "AutoModelForMultipleChoice": "ForMultipleChoice",
    "AutoModelForCausalLM": "ForCausalLM",
    "AutoModelForSeq2SeqLM": "ForConditionalGeneration",
    "AutoModelForPreTraining": "ForPreTraining",
    "AutoModelForSpeechSeq2Seq": "SpeechSeq2Seq",  # (speech-to-text models only)
    "AutoModelForAudioClassification": "ForAudioClassification",
    "AutoModelForCTC": "ForCTC",
    "AutoModelForAudioFrameClassification": "ForAudioFrameClassification",
    "AutoModelForImageClassification": "ForImageClassification",
    "AutoModelForMaskedImageModeling": "ForMaskedImageModeling",
    "AutoModelForSemanticSegmentation": "ForSemanticSegmentation",
    "AutoModelForZeroShotImageClassification": "ZeroShotImageClassification",
}
# Loading options of PreTrainedModel.from_pretrained, as opposed to config overrides.
_LOAD_OPTIONS = {"torch_dtype", "dtype", "device_map", "low_cpu_mem_usage", "output_loading_info",
                 "attn_implementation", "ignore_mismatched_sizes", "use_safetensors", "weights_only", "config",
                 "quantization_config", "load_in_8bit", "load_in_4bit", *HUB_KWARGS}

_extra_configs: dict[str, type] = {}
_extra_models: dict[str, dict[type, type]] = {}


def family_class(model_type: str, suffix: str):
    """The class `<Prefix><suffix>` of a built-in family, or None when the family lacks that task."""
    module, prefix, tasks = FAMILIES[model_type]
    if suffix != "Config" and suffix not in tasks:
        return None
    name = CLASS_NAMES.get((model_type, suffix), prefix + suffix)
    return getattr(importlib.import_module(f"henkan.models.{module}"), name)


def _alternative_class(model_type: str, suffix: str, config):
    """The class of ALTERNATIVE_CLASSES that the config's architectures name, if any."""
    names = set(getattr(config, "architectures", None) or ())
    for name in ALTERNATIVE_CLASSES.get((model_type, suffix), ()):
        if name in names:
            return getattr(importlib.import_module(f"henkan.models.{FAMILIES[model_type][0]}"), name)
    return None


def architecture_suffix(model_type: str | None, architecture: str) -> str | None:
    """Which Auto class suffix (AUTO_TASKS' values) the class name `architecture` stands for: exactly for a built-in
    family, by the name's ending otherwise ("...LMHeadModel" and bare "...Model" names are known only by family)."""
    return next(iter(architecture_suffixes(model_type, architecture)), None)


def architecture_suffixes(model_type: str | None, architecture: str) -> list[str]:
    """Every Auto class suffix `architecture` serves, in its family's order (general first: WhisperForConditional-
    Generation is ForConditionalGeneration, then SpeechSeq2Seq; CLIPModel is Model, then ZeroShotImageClassification)."""
    if model_type in FAMILIES:
        _, prefix, tasks = FAMILIES[model_type]
        return [suffix for suffix in tasks if CLASS_NAMES.get((model_type, suffix), prefix + suffix) == architecture
                or architecture in ALTERNATIVE_CLASSES.get((model_type, suffix), ())]
    return [suffix for suffix in AUTO_TASKS.values() if suffix != "Model" and architecture.endswith(suffix)][:1]


def _config_class(model_type: str) -> type:
    if model_type in _extra_configs:
        return _extra_configs[model_type]
    if model_type in FAMILIES:
        return family_class(model_type, "Config")
    known = ", ".join(sorted({*FAMILIES, *_extra_configs}))
    raise ValueError(f"Unrecognized model_type {model_type!r}. henkan knows: {known}. Register your own with "
                     f"AutoConfig.register(model_type, ConfigClass).")


def _check_remote_code(config_dict: dict, trust_remote_code: bool, name) -> None:
    model_type = config_dict.get("model_type")
    if model_type in FAMILIES or model_type in _extra_configs:
        return  # a built-in class serves it; auto_map is not followed
    if "auto_map" in config_dict:
        if not trust_remote_code:
            raise ValueError(f"'{name}' needs custom code from its repository (auto_map in config.json). henkan "
                             f"never runs downloaded code unless you pass trust_remote_code=True after reading it.")
        raise NotImplementedError(f"'{name}' needs custom code written for the transformers library, which henkan "
                                  f"cannot run. Register an equivalent henkan class with AutoConfig.register and "
                                  f"AutoModel.register.")


class AutoConfig:
    """Builds the config class named by `model_type` in config.json."""

    def __init__(self):
        raise EnvironmentError("AutoConfig is used through AutoConfig.from_pretrained(...) or AutoConfig.for_model(...).")

    @classmethod
    def for_model(cls, model_type: str, *args, **kwargs) -> PretrainedConfig:
        return _config_class(model_type)(*args, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *, trust_remote_code: bool = False, **kwargs):
        hub = pop_hub_kwargs(kwargs)
        config_dict, found = PretrainedConfig.get_config_dict(pretrained_model_name_or_path, **hub)
        _check_remote_code(config_dict, trust_remote_code, pretrained_model_name_or_path)
        model_type = config_dict.get("model_type")
        if not model_type:
            raise ValueError(
                f"{found['_source']} has no \"model_type\", so henkan cannot tell "
                f"which architecture it is. Add one (e.g. \"model_type\": \"bert\") or load it with the concrete "
                f"class, e.g. BertConfig.from_pretrained(...).")
        config_dict.setdefault("_name_or_path", str(pretrained_model_name_or_path))
        return _config_class(model_type).from_dict(config_dict, _source=found["_source"], **kwargs)

    @staticmethod
    def register(model_type: str, config, exist_ok: bool = False) -> None:
        if getattr(config, "model_type", model_type) != model_type:
            raise ValueError(f"The config class {config.__name__} has model_type {config.model_type!r}, not "
                             f"{model_type!r}: they must match.")
        if model_type in FAMILIES and not exist_ok:  # (a custom type registered again is replaced, as there)
            raise ValueError(f"'{model_type}' is already used by a henkan config class; pick another name (or pass "
                             f"exist_ok=True to replace it).")
        _extra_configs[model_type] = config


class _BaseAutoModel:
    _task = "AutoModel"

    def __init__(self, *args, **kwargs):
        raise EnvironmentError(f"{type(self).__name__} is used through {type(self).__name__}.from_pretrained(...) "
                               f"or {type(self).__name__}.from_config(config).")

    @classmethod
    def _model_class(cls, config: PretrainedConfig) -> type:
        registered = _extra_models.get(cls._task, {})
        for config_class in type(config).__mro__:
            if config_class in registered:
                return registered[config_class]
        model_type = getattr(config, "model_type", "")
        if type(config) is PretrainedConfig or not model_type:
            raise ValueError(
                f"{cls._task} cannot build a model from a bare PretrainedConfig: it names no architecture. Use a "
                f"family config such as BertConfig(...), or AutoConfig.for_model(\"bert\", ...), then "
                f"{cls._task}.from_config(config).")
        suffix = AUTO_TASKS[cls._task]
        model_class = None
        if model_type in FAMILIES:
            model_class = _alternative_class(model_type, suffix, config) or family_class(model_type, suffix)
        if model_class is None:
            raise ValueError(f"Unrecognized configuration class {type(config).__name__} for {cls._task}: model type "
                             f"{model_type!r} has no such model in henkan. Register one with "
                             f"{cls._task}.register({type(config).__name__}, ModelClass).")
        return model_class

    @classmethod
    def from_config(cls, config: PretrainedConfig, **kwargs):
        return cls._model_class(config).from_config(config, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, trust_remote_code: bool = False, **kwargs):
        config = kwargs.pop("config", None)
        options = {k: kwargs.pop(k) for k in list(kwargs) if k in _LOAD_OPTIONS}
        from .adapters import adapter_base

        base = adapter_base(pretrained_model_name_or_path, {k: v for k, v in options.items() if k in HUB_KWARGS}) \
            if config is None else None
        if base is not None:  # an adapter folder: the Auto class of its base model, then the adapter
            model = cls.from_pretrained(base, *model_args, trust_remote_code=trust_remote_code, **options, **kwargs)
            model.load_adapter(pretrained_model_name_or_path)
            return model
        if not isinstance(config, PretrainedConfig):
            hub = {k: v for k, v in options.items() if k in HUB_KWARGS}
            config, kwargs = AutoConfig.from_pretrained(config or pretrained_model_name_or_path, return_unused_kwargs=True,
                                                        trust_remote_code=trust_remote_code, **hub, **kwargs)
        return cls._model_class(config).from_pretrained(pretrained_model_name_or_path, *model_args, config=config,
                                                        **options, **kwargs)

    @classmethod
    def register(cls, config_class: type, model_class: type, exist_ok: bool = False) -> None:
        if getattr(model_class, "config_class", config_class) is not config_class:
            raise ValueError(f"{model_class.__name__}.config_class is {model_class.config_class.__name__}, not "
                             f"{config_class.__name__}: they must match.")
        model_type = getattr(config_class, "model_type", None)
        if (model_type in FAMILIES and family_class(model_type, "Config") is config_class
                and family_class(model_type, AUTO_TASKS[cls._task]) is not None and not exist_ok):
            raise ValueError(f"{config_class.__name__} already has a henkan model for {cls._task}; pass "
                             f"exist_ok=True to replace it.")
        _extra_models.setdefault(cls._task, {})[config_class] = model_class


def _auto(name: str) -> type:
    return type(name, (_BaseAutoModel,), {"_task": name, "__module__": __name__,
                                          "__doc__": f"Loads the {AUTO_TASKS[name]} class of any registered family."})


AutoModel = _auto("AutoModel")
AutoModelForSequenceClassification = _auto("AutoModelForSequenceClassification")
AutoModelForTokenClassification = _auto("AutoModelForTokenClassification")
AutoModelForQuestionAnswering = _auto("AutoModelForQuestionAnswering")
AutoModelForMaskedLM = _auto("AutoModelForMaskedLM")
AutoModelForMultipleChoice = _auto("AutoModelForMultipleChoice")
AutoModelForCausalLM = _auto("AutoModelForCausalLM")
AutoModelForSeq2SeqLM = _auto("AutoModelForSeq2SeqLM")
AutoModelForPreTraining = _auto("AutoModelForPreTraining")
AutoModelForSpeechSeq2Seq = _auto("AutoModelForSpeechSeq2Seq")
AutoModelForAudioClassification = _auto("AutoModelForAudioClassification")
AutoModelForCTC = _auto("AutoModelForCTC")
AutoModelForAudioFrameClassification = _auto("AutoModelForAudioFrameClassification")
AutoModelForImageClassification = _auto("AutoModelForImageClassification")
AutoModelForMaskedImageModeling = _auto("AutoModelForMaskedImageModeling")
AutoModelForSemanticSegmentation = _auto("AutoModelForSemanticSegmentation")
AutoModelForZeroShotImageClassification = _auto("AutoModelForZeroShotImageClassification")


# The reference's mapping names, for code that looks a class up by config (MODEL_FOR_CAUSAL_LM_MAPPING[type(config)])
# or lists what a task supports. Classes are imported on lookup; iterating imports every family.
class _ModelMapping(Mapping):
    """config class -> model class of one Auto class, registered classes included."""

    def __init__(self, task: str):
        self._task = task

    def _builtin(self) -> dict:
        suffix = AUTO_TASKS[self._task]
        return {family_class(t, "Config"): family_class(t, suffix) for t, (_, _, tasks) in FAMILIES.items()
                if suffix in tasks}

    def __getitem__(self, config_class):
        registered = _extra_models.get(self._task, {})
        if config_class in registered:
            return registered[config_class]
        model_type = getattr(config_class, "model_type", None)
        if model_type in FAMILIES and family_class(model_type, "Config") is config_class:
            model_class = family_class(model_type, AUTO_TASKS[self._task])
            if model_class is not None:
                return model_class
        raise KeyError(config_class)

    def __iter__(self):
        return iter({**self._builtin(), **_extra_models.get(self._task, {})})

    def __len__(self) -> int:
        return len({**self._builtin(), **_extra_models.get(self._task, {})})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self._task}>"


class _ConfigMapping(Mapping):
    """model_type -> config class, registered ones included."""

    def __getitem__(self, model_type: str):
        if model_type in _extra_configs or model_type in FAMILIES:
            return _config_class(model_type)
        raise KeyError(model_type)

    def __iter__(self):
        return iter([*FAMILIES, *(t for t in _extra_configs if t not in FAMILIES)])

    def __len__(self) -> int:
        return len(set(FAMILIES) | set(_extra_configs))

    def register(self, model_type: str, config, exist_ok: bool = False) -> None:
        AutoConfig.register(model_type, config, exist_ok=exist_ok)


CONFIG_MAPPING = _ConfigMapping()
MAPPING_NAMES = {"MODEL_MAPPING": "AutoModel",
                 "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING": "AutoModelForSequenceClassification",
                 "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING": "AutoModelForTokenClassification",
                 "MODEL_FOR_QUESTION_ANSWERING_MAPPING": "AutoModelForQuestionAnswering",
                 "MODEL_FOR_MASKED_LM_MAPPING": "AutoModelForMaskedLM",
                 "MODEL_FOR_MULTIPLE_CHOICE_MAPPING": "AutoModelForMultipleChoice",
                 "MODEL_FOR_CAUSAL_LM_MAPPING": "AutoModelForCausalLM",
                 "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING": "AutoModelForSeq2SeqLM",
                 "MODEL_FOR_PRETRAINING_MAPPING": "AutoModelForPreTraining",
                 "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING": "AutoModelForSpeechSeq2Seq",
                 "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING": "AutoModelForAudioClassification"}
for _name, _task in MAPPING_NAMES.items():
    globals()[_name] = _ModelMapping(_task)
    globals()[_name + "_NAMES"] = {t: CLASS_NAMES.get((t, AUTO_TASKS[_task]), prefix + AUTO_TASKS[_task])
                                   for t, (_, prefix, tasks) in FAMILIES.items() if AUTO_TASKS[_task] in tasks}
CONFIG_MAPPING_NAMES = {t: prefix + "Config" for t, (_, prefix, _) in FAMILIES.items()}
