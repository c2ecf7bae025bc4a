"""Model outputs: dataclasses that read as a dict (None fields left out) and as a tuple of their set fields.

Every output class is a torch pytree node (its set fields are the children), so `torch.export`, `torch.compile`
and `torch.utils._pytree` see through it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Optional

from torch.utils import _pytree


class ModelOutput(OrderedDict):
    """Fields are attributes, keys and positions at once; a field that is None is not a key and has no position.

    Subclasses are dataclasses (`@dataclass`). An output can also be built from one dict of its fields, given as
    the first field: `BaseModelOutput({"last_hidden_state": x, "hidden_states": None, "attentions": None})`."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _register_pytree(cls)

    def __init__(self, *args, **kwargs):  # reached only by subclasses that are not dataclasses themselves
        if type(self) is not ModelOutput and not is_dataclass(self):
            raise TypeError(f"{type(self).__module__}.{type(self).__name__} is not a dataclass. This is a subclass "
                            f"of ModelOutput and so must use the @dataclass decorator.")
        super().__init__(*args, **kwargs)

    def __post_init__(self):
        class_fields = fields(self)
        first = getattr(self, class_fields[0].name) if class_fields else None
        if isinstance(first, dict) and all(getattr(self, f.name) is None for f in class_fields[1:]):
            unknown = [key for key in first if key not in self.__dataclass_fields__]
            if unknown:
                raise KeyError(f"{type(self).__name__} has no field(s) {unknown}; its fields are "
                               f"{[f.name for f in class_fields]}.")
            for key, value in first.items():
                object.__setattr__(self, key, value)
            if class_fields[0].name not in first:
                object.__setattr__(self, class_fields[0].name, None)
        for f in class_fields:
            value = getattr(self, f.name)
            if value is not None:
                OrderedDict.__setitem__(self, f.name, value)

    def __setattr__(self, name, value):
        if name in self.__dataclass_fields__ and value is not None:
            OrderedDict.__setitem__(self, name, value)
        super().__setattr__(name, value)

    def __setitem__(self, key, value):
        OrderedDict.__setitem__(self, key, value)
        super().__setattr__(key, value)

    def __getitem__(self, key):
        if isinstance(key, str):
            return OrderedDict.__getitem__(self, key)
        return self.to_tuple()[key]

    def __delitem__(self, key):
        raise TypeError(f"You cannot delete a key of a {type(self).__name__}.")

    def pop(self, *args, **kwargs):
        raise TypeError(f"You cannot pop a key of a {type(self).__name__}.")

    def setdefault(self, *args, **kwargs):
        raise TypeError(f"You cannot use setdefault on a {type(self).__name__}.")

    def update(self, *args, **kwargs):
        raise TypeError(f"You cannot update a {type(self).__name__}.")

    def __reduce__(self):
        return type(self), tuple(getattr(self, f.name) for f in fields(self))

    def to_tuple(self) -> tuple:
        return tuple(self.values())


def _flatten(output: ModelOutput):
    return list(output.values()), list(output.keys())


def _register_pytree(cls: type) -> None:
    def unflatten(values, keys):
        return cls(**dict(zip(keys, values)))

    _pytree.register_pytree_node(cls, _flatten, unflatten, serialized_type_name=f"{cls.__module__}.{cls.__qualname__}")


_register_pytree(ModelOutput)


def declare_output(name: str, *names: str, doc: str = "", module: str = __name__) -> type:
    """Declare an output class whose fields all default to None."""
    cls = type(name, (ModelOutput,), {"__annotations__": {n: Optional[Any] for n in names},
                                      **{n: None for n in names}, "__doc__": doc,
                                      "__module__": module})
    return dataclass(cls)


_ENC = ("hidden_states", "attentions")
BaseModelOutput = declare_output("BaseModelOutput", "last_hidden_state", *_ENC)
BaseModelOutputWithPooling = declare_output("BaseModelOutputWithPooling", "last_hidden_state", "pooler_output",
                                            *_ENC)
BaseModelOutputWithPoolingAndCrossAttentions = declare_output(
    "BaseModelOutputWithPoolingAndCrossAttentions", "last_hidden_state", "pooler_output", "hidden_states",
    "past_key_values", "attentions", "cross_attentions")
BaseModelOutputWithPast = declare_output("BaseModelOutputWithPast", "last_hidden_state", "past_key_values",
                                         *_ENC)
BaseModelOutputWithPastAndCrossAttentions = declare_output(
    "BaseModelOutputWithPastAndCrossAttentions", "last_hidden_state", "past_key_values", *_ENC, "cross_attentions")
CausalLMOutput = declare_output("CausalLMOutput", "loss", "logits", *_ENC)
CausalLMOutputWithPast = declare_output("CausalLMOutputWithPast", "loss", "logits", "past_key_values", *_ENC)
CausalLMOutputWithCrossAttentions = declare_output(
    "CausalLMOutputWithCrossAttentions", "loss", "logits", "past_key_values", *_ENC, "cross_attentions")
MaskedLMOutput = declare_output("MaskedLMOutput", "loss", "logits", *_ENC)
SequenceClassifierOutput = declare_output("SequenceClassifierOutput", "loss", "logits", *_ENC)
SequenceClassifierOutputWithPast = declare_output(
    "SequenceClassifierOutputWithPast", "loss", "logits", "past_key_values", *_ENC)
TokenClassifierOutput = declare_output("TokenClassifierOutput", "loss", "logits", *_ENC)
QuestionAnsweringModelOutput = declare_output("QuestionAnsweringModelOutput", "loss", "start_logits", "end_logits", *_ENC)
MultipleChoiceModelOutput = declare_output("MultipleChoiceModelOutput", "loss", "logits", *_ENC)
NextSentencePredictorOutput = declare_output("NextSentencePredictorOutput", "loss", "logits", *_ENC)

# encoder-decoder outputs: the decoder's fields, then the encoder's
_SEQ2SEQ = ("past_key_values", "decoder_hidden_states", "decoder_attentions", "cross_attentions",
            "encoder_last_hidden_state", "encoder_hidden_states", "encoder_attentions")
Seq2SeqModelOutput = declare_output("Seq2SeqModelOutput", "last_hidden_state", *_SEQ2SEQ)
Seq2SeqLMOutput = declare_output("Seq2SeqLMOutput", "loss", "logits", *_SEQ2SEQ)
Seq2SeqSequenceClassifierOutput = declare_output("Seq2SeqSequenceClassifierOutput", "loss", "logits", *_SEQ2SEQ)
Seq2SeqQuestionAnsweringModelOutput = declare_output("Seq2SeqQuestionAnsweringModelOutput", "loss", "start_logits",
                                                     "end_logits", *_SEQ2SEQ)

# vision outputs
BaseModelOutputWithNoAttention = declare_output("BaseModelOutputWithNoAttention", "last_hidden_state", "hidden_states")
BaseModelOutputWithPoolingAndNoAttention = declare_output(
    "BaseModelOutputWithPoolingAndNoAttention", "last_hidden_state", "pooler_output", "hidden_states")
ImageClassifierOutput = declare_output("ImageClassifierOutput", "loss", "logits", *_ENC)
ImageClassifierOutputWithNoAttention = declare_output("ImageClassifierOutputWithNoAttention", "loss", "logits",
                                                      "hidden_states")
MaskedImageModelingOutput = declare_output("MaskedImageModelingOutput", "loss", "reconstruction", *_ENC)
SemanticSegmenterOutput = declare_output("SemanticSegmenterOutput", "loss", "logits", *_ENC)

# time-series forecasting outputs: the decoder's fields, the encoder's, then how the series were scaled
_TS = ("loc", "scale", "static_features")
Seq2SeqTSModelOutput = declare_output("Seq2SeqTSModelOutput", "last_hidden_state", *_SEQ2SEQ, *_TS)
Seq2SeqTSPredictionOutput = declare_output("Seq2SeqTSPredictionOutput", "loss", "params", *_SEQ2SEQ, *_TS)
SampleTSPredictionOutput = declare_output("SampleTSPredictionOutput", "sequences",
                                          doc="Forecasts sampled by generate(): [batch, samples, steps(, input_size)].")
