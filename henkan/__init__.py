"""henkan: a small, fast PyTorch model library that speaks the Transformers API.

Public names resolve lazily, so `import henkan` is cheap and imports no torch.
"""

from __future__ import annotations

import importlib

from . import aliases

__version__ = "0.1.0"
aliases.install()  # the reference's deeper module paths (henkan.modeling_outputs, henkan.models.bert.modeling_bert)

_FAMILY_NAMES = {
    "bert": ["Bert"],
    "distilbert": ["DistilBert"],
    "roberta": ["Roberta", "XLMRoberta", "Camembert", "Data2VecText"],
    "albert": ["Albert"],
    "deberta": ["DebertaV2"],
    "big_bird": ["BigBird"],
    "convbert": ["ConvBert"],
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
    "AutoModelForSeq2SeqLM": "henkan.auto",
    "AutoModelForPreTraining": "henkan.auto",
    "AutoModelForSpeechSeq2Seq": "henkan.auto",
    "AutoModelForAudioClassification": "henkan.auto",
    "AutoModelForCTC": "henkan.auto",
    "AutoModelForAudioFrameClassification": "henkan.auto",
    "AutoModelForImageClassification": "henkan.auto",
    "AutoModelForMaskedImageModeling": "henkan.auto",
    "AutoModelForSemanticSegmentation": "henkan.auto",
    "AutoModelForZeroShotImageClassification": "henkan.auto",
    "SentenceEmbedder": "henkan.sentence",
    "pipeline": "henkan.pipelines",
    "Pipeline": "henkan.pipelines",
    "FeatureExtractionPipeline": "henkan.pipelines",
    "TextClassificationPipeline": "henkan.pipelines",
    "TextGenerationPipeline": "henkan.pipelines",
    "Text2TextGenerationPipeline": "henkan.pipelines",
    "SummarizationPipeline": "henkan.pipelines",
    "TranslationPipeline": "henkan.pipelines",
    "FillMaskPipeline": "henkan.pipelines",
    "TokenClassificationPipeline": "henkan.pipelines",
    "ImageClassificationPipeline": "henkan.pipelines",
    "ImageFeatureExtractionPipeline": "henkan.pipelines",
    "QuestionAnsweringPipeline": "henkan.pipelines",
    "ZeroShotClassificationPipeline": "henkan.pipelines",
    "ZeroShotImageClassificationPipeline": "henkan.pipelines",
    "AutomaticSpeechRecognitionPipeline": "henkan.pipelines",
    "AudioClassificationPipeline": "henkan.pipelines",
    "ZeroShotAudioClassificationPipeline": "henkan.pipelines",
    "SquadExample": "henkan.pipelines",
    "set_seed": "henkan.utils",
}
for _module, _prefixes in _FAMILY_NAMES.items():
    for _prefix in _prefixes:
        for _head in _HEADS:
            _LAZY[_prefix + _head] = f"henkan.models.{_module}"
# decoder families: module -> their public classes
_DECODER_NAMES = {
    "llama": [p + s for p in ("Llama", "Mistral", "Qwen2", "Mixtral") for s in (
        "Config", "PreTrainedModel", "Model", "ForCausalLM", "ForSequenceClassification", "ForTokenClassification",
        "ForQuestionAnswering")] + [p + s for p in ("Phi3", "Gemma", "Gemma2", "StableLm") for s in (
            "Config", "PreTrainedModel", "Model", "ForCausalLM", "ForSequenceClassification", "ForTokenClassification")],
    "gpt2": ["GPT2Config", "GPT2PreTrainedModel", "GPT2Model", "GPT2LMHeadModel", "GPT2ForSequenceClassification",
             "GPT2ForTokenClassification", "GPT2ForQuestionAnswering", "GPT2DoubleHeadsModel"],
    "bloom": ["BloomConfig", "BloomPreTrainedModel", "BloomModel", "BloomForCausalLM",
              "BloomForSequenceClassification", "BloomForTokenClassification", "BloomForQuestionAnswering"],
    "gpt_neox": ["GPTNeoXConfig", "GPTNeoXPreTrainedModel", "GPTNeoXModel", "GPTNeoXForCausalLM",
                 "GPTNeoXForSequenceClassification", "GPTNeoXForTokenClassification", "GPTNeoXForQuestionAnswering"],
    "phi": ["PhiConfig", "PhiPreTrainedModel", "PhiModel", "PhiForCausalLM", "PhiForSequenceClassification",
            "PhiForTokenClassification"],
    "falcon": ["FalconConfig", "FalconPreTrainedModel", "FalconModel", "FalconForCausalLM",
               "FalconForSequenceClassification", "FalconForTokenClassification", "FalconForQuestionAnswering"],
    "gpt_neo": ["GPTNeoConfig", "GPTNeoPreTrainedModel", "GPTNeoModel", "GPTNeoForCausalLM",
                "GPTNeoForSequenceClassification", "GPTNeoForTokenClassification", "GPTNeoForQuestionAnswering"],
    "biogpt": ["BioGptConfig", "BioGptPreTrainedModel", "BioGptModel", "BioGptForCausalLM",
               "BioGptForTokenClassification", "BioGptForSequenceClassification"],
    "ctrl": ["CTRLConfig", "CTRLPreTrainedModel", "CTRLModel", "CTRLLMHeadModel", "CTRLForSequenceClassification"],
    "decision_transformer": ["DecisionTransformer" + s for s in (
        "Config", "PreTrainedModel", "Model", "GPT2PreTrainedModel", "GPT2Model")],
    "opt": ["OPTConfig", "OPTPreTrainedModel", "OPTModel", "OPTForCausalLM", "OPTForSequenceClassification",
            "OPTForQuestionAnswering"],
    "cpmant": ["CpmAntConfig", "CpmAntPreTrainedModel", "CpmAntModel", "CpmAntForCausalLM"],
    "codegen": ["CodeGenConfig", "CodeGenPreTrainedModel", "CodeGenModel", "CodeGenForCausalLM", "GPTJConfig",
                "GPTJPreTrainedModel", "GPTJModel", "GPTJForCausalLM", "GPTJForSequenceClassification",
                "GPTJForQuestionAnswering"],
    "bart": [p + s for p, heads in (
        ("Bart", 4), ("MBart", 4), ("Marian", 2), ("Pegasus", 2), ("Blenderbot", 2), ("BlenderbotSmall", 2))
        for s in ("Config", "PreTrainedModel", "Model", "ForConditionalGeneration", "ForCausalLM",
                  "ForSequenceClassification", "ForQuestionAnswering")[: 3 + heads]
        if (p, s) != ("Marian", "ForConditionalGeneration")] + ["MarianMTModel"],
    "bert": ["BertLMHeadModel", "BertForPreTraining", "BertForNextSentencePrediction"],
    "deberta": ["Deberta" + s for s in _HEADS if s != "ForMultipleChoice"],
    "big_bird": ["BigBirdForCausalLM", "BigBirdForPreTraining"],
    "canine": ["Canine" + s for s in _HEADS if s != "ForMaskedLM"],
    "bros": ["BrosConfig", "BrosPreTrainedModel", "BrosModel", "BrosForTokenClassification",
             "BrosSpadeEEForTokenClassification", "BrosSpadeELForTokenClassification"],
    "roberta": ["RobertaForCausalLM", "XLMRobertaForCausalLM", "CamembertForCausalLM", "Data2VecTextForCausalLM"],
    "bert_generation": ["BertGenerationConfig", "BertGenerationPreTrainedModel", "BertGenerationEncoder",
                        "BertGenerationDecoder"],
    "encoder_decoder": ["EncoderDecoderConfig", "EncoderDecoderModel"],
    "bigbird_pegasus": ["BigBirdPegasus" + s for s in (
        "Config", "PreTrainedModel", "Model", "ForConditionalGeneration", "ForSequenceClassification",
        "ForQuestionAnswering", "ForCausalLM")],
    "t5": [p + s for p in ("T5", "MT5") for s in ("Config", "PreTrainedModel", "Model", "ForConditionalGeneration",
                                                   "EncoderModel", "ForSequenceClassification",
                                                   "ForTokenClassification", "ForQuestionAnswering")],
    "wav2vec2": ["Wav2Vec2" + s for s in ("Config", "PreTrainedModel", "Model", "ForCTC", "ForSequenceClassification",
                                          "ForAudioFrameClassification", "BaseModelOutput")]
    + ["Data2VecAudio" + s for s in ("Config", "PreTrainedModel", "Model", "ForCTC", "ForSequenceClassification",
                                     "ForAudioFrameClassification")],
    "clip": ["CLIP" + s for s in ("Config", "TextConfig", "VisionConfig", "PreTrainedModel", "Model", "TextModel",
                                  "VisionModel", "TextModelWithProjection", "VisionModelWithProjection",
                                  "ForImageClassification", "Output", "TextModelOutput", "VisionModelOutput")],
    "chinese_clip": ["ChineseCLIP" + s for s in ("Config", "TextConfig", "VisionConfig", "PreTrainedModel", "Model",
                                                 "TextModel", "VisionModel", "Output")],
    "altclip": ["AltCLIP" + s for s in ("Config", "TextConfig", "VisionConfig", "PreTrainedModel", "Model",
                                        "TextModel", "VisionModel", "Output")],
    "audio_spectrogram_transformer": ["ASTConfig", "ASTPreTrainedModel", "ASTModel", "ASTForAudioClassification"],
    "clap": ["Clap" + s for s in ("Config", "TextConfig", "AudioConfig", "PreTrainedModel", "Model", "TextModel",
                                  "TextModelWithProjection", "AudioModel", "AudioModelWithProjection", "Output",
                                  "TextModelOutput", "AudioModelOutput")],
    "align": ["Align" + s for s in ("Config", "TextConfig", "VisionConfig", "PreTrainedModel", "Model", "TextModel",
                                    "VisionModel", "Output")],
    "autoformer": ["Autoformer" + s for s in ("Config", "PreTrainedModel", "Model", "ForPrediction")],
    "whisper": ["Whisper" + s for s in ("Config", "PreTrainedModel", "Model", "Encoder", "Decoder",
                                        "ForConditionalGeneration", "ForCausalLM", "ForAudioClassification")],
}
for _module, _names in _DECODER_NAMES.items():
    for _name in _names:
        _LAZY[_name] = f"henkan.models.{_module}"
# vision families: module -> their public classes
_VISION_NAMES = {
    "vit": [p + s for p, heads in (("ViT", ()), ("DeiT", ("ForImageClassificationWithTeacher",)))
            for s in ("Config", "PreTrainedModel", "Model", "ForImageClassification", "ForMaskedImageModeling",
                      *heads)],
    "beit": [p + s for p, heads in (("Beit", ("ForMaskedImageModeling",)), ("Data2VecVision", ()))
             for s in ("Config", "PreTrainedModel", "Model", "ForImageClassification", "ForSemanticSegmentation",
                       *heads)],
    "convnext": [p + s for p in ("ConvNext", "ConvNextV2")
                 for s in ("Config", "PreTrainedModel", "Model", "ForImageClassification")],
    "bit": ["Bit" + s for s in ("Config", "PreTrainedModel", "Model", "ForImageClassification")],
    "cvt": ["Cvt" + s for s in ("Config", "PreTrainedModel", "Model", "ForImageClassification")],
    "dinat": ["Dinat" + s for s in ("Config", "PreTrainedModel", "Model", "ForImageClassification")],
}
for _module, _names in _VISION_NAMES.items():
    for _name in _names:
        _LAZY[_name] = f"henkan.models.{_module}"
# generation: GenerationConfig, GenerationMixin, processors, stopping criteria, streamers, output classes
for _name in ("GenerationConfig", "GenerationMixin", "CompileConfig", "GenerationMode", "LogitsProcessor",
              "LogitsProcessorList", "LogitsWarper", "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper",
              "MinPLogitsWarper", "TypicalLogitsWarper", "EpsilonLogitsWarper", "EtaLogitsWarper",
              "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor", "NoBadWordsLogitsProcessor",
              "MinLengthLogitsProcessor", "MinNewTokensLengthLogitsProcessor", "ForcedBOSTokenLogitsProcessor",
              "ForcedEOSTokenLogitsProcessor", "SuppressTokensLogitsProcessor", "SuppressTokensAtBeginLogitsProcessor",
              "WhisperTimeStampLogitsProcessor",
              "SequenceBiasLogitsProcessor", "HammingDiversityLogitsProcessor", "InfNanRemoveLogitsProcessor",
              "LogitNormalization", "PrefixConstrainedLogitsProcessor", "ExponentialDecayLengthPenalty",
              "EncoderRepetitionPenaltyLogitsProcessor", "EncoderNoRepeatNGramLogitsProcessor",
              "StoppingCriteria", "StoppingCriteriaList", "MaxLengthCriteria", "MaxTimeCriteria", "StopStringCriteria",
              "EosTokenCriteria", "BaseStreamer", "TextStreamer", "TextIteratorStreamer", "AsyncTextIteratorStreamer",
              "GenerateDecoderOnlyOutput", "GenerateEncoderDecoderOutput", "GenerateBeamDecoderOnlyOutput",
              "GenerateBeamEncoderDecoderOutput", "GreedySearchDecoderOnlyOutput", "SampleDecoderOnlyOutput",
              "BeamSearchDecoderOnlyOutput", "BeamSampleDecoderOnlyOutput", "GreedySearchEncoderDecoderOutput",
              "SampleEncoderDecoderOutput", "BeamSearchEncoderDecoderOutput", "BeamSampleEncoderDecoderOutput"):
    _LAZY[_name] = "henkan.generation"
for _name in ("Cache", "DynamicCache", "StaticCache", "EncoderDecoderCache", "SlotCache"):
    _LAZY[_name] = "henkan.cache"
for _name in ("BaseModelOutput", "BaseModelOutputWithPooling", "BaseModelOutputWithPoolingAndCrossAttentions",
              "BaseModelOutputWithPast", "CausalLMOutput", "CausalLMOutputWithPast", "MaskedLMOutput",
              "SequenceClassifierOutput", "TokenClassifierOutput", "QuestionAnsweringModelOutput",
              "MultipleChoiceModelOutput", "BaseModelOutputWithPastAndCrossAttentions",
              "CausalLMOutputWithCrossAttentions", "SequenceClassifierOutputWithPast", "Seq2SeqModelOutput",
              "Seq2SeqLMOutput", "Seq2SeqSequenceClassifierOutput", "Seq2SeqQuestionAnsweringModelOutput",
              "BaseModelOutputWithNoAttention", "BaseModelOutputWithPoolingAndNoAttention", "ImageClassifierOutput",
              "ImageClassifierOutputWithNoAttention", "MaskedImageModelingOutput", "SemanticSegmenterOutput",
              "NextSentencePredictorOutput"):
    _LAZY[_name] = "henkan.outputs"
# tokenizers: the base classes, BatchEncoding and its enums, AutoTokenizer and the model tokenizer classes
for _name in ("PreTrainedTokenizerBase", "PreTrainedTokenizerFast", "PreTrainedTokenizer", "AddedToken",
              "BatchEncoding", "PaddingStrategy", "TruncationStrategy", "TensorType", "CharSpan", "TokenSpan",
              "AutoTokenizer", "TokenizersBackend", "BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer",
              "DistilBertTokenizerFast", "RobertaTokenizer", "RobertaTokenizerFast", "XLMRobertaTokenizer",
              "XLMRobertaTokenizerFast", "CamembertTokenizer", "CamembertTokenizerFast", "AlbertTokenizer",
              "AlbertTokenizerFast", "GPT2Tokenizer", "GPT2TokenizerFast", "LlamaTokenizer", "LlamaTokenizerFast",
              "CodeLlamaTokenizer", "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast",
              "Qwen2Tokenizer", "Qwen2TokenizerFast", "BloomTokenizerFast", "CodeGenTokenizer",
              "CodeGenTokenizerFast", "T5Tokenizer", "T5TokenizerFast", "MT5Tokenizer", "MT5TokenizerFast",
              "ByT5Tokenizer", "BartTokenizer", "BartTokenizerFast", "MBartTokenizer", "MBartTokenizerFast",
              "MBart50Tokenizer", "MBart50TokenizerFast", "MarianTokenizer", "PegasusTokenizer",
              "PegasusTokenizerFast", "BlenderbotTokenizer", "BlenderbotTokenizerFast", "BlenderbotSmallTokenizer",
              "BarthezTokenizer", "BarthezTokenizerFast", "BartphoTokenizer", "BertGenerationTokenizer",
              "CLIPTokenizer", "CLIPTokenizerFast", "Wav2Vec2CTCTokenizer", "WhisperTokenizer", "WhisperTokenizerFast",
              "DebertaTokenizer", "DebertaTokenizerFast", "DebertaV2Tokenizer", "DebertaV2TokenizerFast",
              "BertJapaneseTokenizer", "BertweetTokenizer", "BioGptTokenizer", "CTRLTokenizer", "ConvBertTokenizer", "ConvBertTokenizerFast",
              "XLNetTokenizer", "XLNetTokenizerFast", "CpmTokenizer", "CpmTokenizerFast", "BigBirdTokenizer",
              "BigBirdTokenizerFast", "CpmAntTokenizer", "BasicTokenizer", "WordpieceTokenizer"):
    _LAZY[_name] = "henkan.tokenization"
# training: arguments, Trainer, callbacks, collators, optimizers and schedules (set_seed stays in henkan.utils)
for _name in ("TrainingArguments", "Seq2SeqTrainingArguments", "Trainer", "Seq2SeqTrainer", "TrainerCallback",
              "TrainerState", "TrainerControl", "CallbackHandler", "DefaultFlowCallback", "PrinterCallback",
              "ProgressCallback", "EarlyStoppingCallback", "TensorBoardCallback", "DataCollatorForLanguageModeling",
              "DataCollatorForSeq2Seq", "DataCollatorForTokenClassification", "DataCollatorForWholeWordMask",
              "DataCollatorWithPadding", "DefaultDataCollator", "default_data_collator", "Adafactor", "AdamW",
              "get_scheduler", "get_constant_schedule", "get_constant_schedule_with_warmup",
              "get_cosine_schedule_with_warmup", "get_cosine_with_hard_restarts_schedule_with_warmup",
              "get_cosine_with_min_lr_schedule_with_warmup", "get_inverse_sqrt_schedule",
              "get_linear_schedule_with_warmup", "get_polynomial_decay_schedule_with_warmup", "get_wsd_schedule",
              "SchedulerType", "EvalPrediction", "IntervalStrategy", "PredictionOutput", "TrainOutput",
              "enable_full_determinism", "get_last_checkpoint", "torch_distributed_zero_first", "HfArgumentParser"):
    _LAZY[_name] = "henkan.training"
# quantized loading: the configs users pass to from_pretrained
for _name in ("BitsAndBytesConfig", "GPTQConfig", "TorchAoConfig", "AwqConfig", "QuantizationConfigMixin"):
    _LAZY[_name] = "henkan.quantization"
# PEFT adapters: the configs add_adapter takes (load_adapter and friends are model methods)
for _name in ("LoraConfig", "AdaLoraConfig", "IA3Config", "PeftConfig"):
    _LAZY[_name] = "henkan.adapters"
# preprocessing: image processors, feature extractors, processors and their Auto classes
for _module, _names in {
    "image_processing": ("ImageProcessingMixin", "BaseImageProcessor"),
    "image_processors": ("ViTImageProcessor", "DeiTImageProcessor", "BeitImageProcessor", "CLIPImageProcessor",
                         "ChineseCLIPImageProcessor", "BitImageProcessor", "ConvNextImageProcessor",
                         "EfficientNetImageProcessor", "ViTFeatureExtractor", "DeiTFeatureExtractor",
                         "BeitFeatureExtractor", "CLIPFeatureExtractor", "ChineseCLIPFeatureExtractor",
                         "ConvNextFeatureExtractor"),
    "base": ("BatchFeature",),
    "feature_extraction": ("FeatureExtractionMixin", "SequenceFeatureExtractor"),
    "audio": ("Wav2Vec2FeatureExtractor", "ASTFeatureExtractor", "WhisperFeatureExtractor", "ClapFeatureExtractor"),
    "auto": ("AutoImageProcessor", "AutoFeatureExtractor", "AutoProcessor"),
    "processors": ("ProcessorMixin", "CLIPProcessor", "ChineseCLIPProcessor", "AltCLIPProcessor", "AlignProcessor",
                   "ClapProcessor", "Wav2Vec2Processor", "WhisperProcessor"),
}.items():
    for _name in _names:
        _LAZY[_name] = f"henkan.processing.{_module}"
for _name in ("CONFIG_MAPPING", "CONFIG_MAPPING_NAMES", "MODEL_MAPPING", "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING",
              "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING", "MODEL_FOR_QUESTION_ANSWERING_MAPPING",
              "MODEL_FOR_MASKED_LM_MAPPING", "MODEL_FOR_MULTIPLE_CHOICE_MAPPING", "MODEL_FOR_CAUSAL_LM_MAPPING",
              "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING", "MODEL_FOR_PRETRAINING_MAPPING",
              "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING", "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING"):
    _LAZY[_name] = "henkan.auto"
    if _name.startswith("MODEL_"):
        _LAZY[_name + "_NAMES"] = "henkan.auto"
_SUBMODULES = {"logging", "hub", "config", "modeling", "outputs", "auto", "layers", "heads", "models", "cache",
               "generation", "seq2seq", "sparse_attention", "causal", "tokenization", "sentence", "utils", "cli",
               "training", "processing", "vision", "quantization", "adapters", "time_series", "onnx"}


def __getattr__(name: str):
    if name in _SUBMODULES or f"henkan.{name}" in aliases.MODULES:
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
