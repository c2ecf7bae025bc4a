"""The description of an export (the seed's `OnnxConfig` family): a model's inputs and outputs for one task, with
their dynamic axes, the graphs an export writes, example inputs, and the ops patched while it runs."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections import OrderedDict

import torch

from ..auto import family_class
from .utils import (DEFAULT_ONNX_OPSET, EXTERNAL_DATA_FORMAT_SIZE_LIMIT, ParameterFormat,
                    compute_serialized_parameters_size)

_CACHED_TASKS = ("causal-lm", "seq2seq-lm")  # the ones with a "-with-past" variant


@dataclasses.dataclass
class PatchingSpec:
    """An attribute `name` of `o` replaced by `custom_op` while a model is exported (the seed's way of swapping an op
    the exporter cannot handle); `op_wrapper` wraps both ops, e.g. in staticmethod."""

    o: object
    name: str
    custom_op: object
    orig_op: object = None
    op_wrapper: object = None


class OnnxConfig:
    """What an export of a model for one task looks like: its inputs and outputs, each with its dynamic axes
    ({axis: name}), the opset and the tolerance of the check against PyTorch.

    Built by `FeaturesManager` for henkan's families; subclass it (overriding `inputs` / `outputs`) to export fewer
    inputs, say. Encoders use it as it is; decoders use `OnnxConfigWithPast`, encoder-decoders
    `OnnxSeq2SeqConfigWithPast`."""

    default_fixed_batch = 2
    default_fixed_sequence = 8
    default_fixed_num_choices = 4
    _tasks_to_common_outputs = {
        "default": OrderedDict({"last_hidden_state": {0: "batch", 1: "sequence"}}),
        "masked-lm": OrderedDict({"logits": {0: "batch", 1: "sequence"}}),
        "causal-lm": OrderedDict({"logits": {0: "batch", 1: "sequence"}}),
        "seq2seq-lm": OrderedDict({"logits": {0: "batch", 1: "decoder_sequence"}}),
        "sequence-classification": OrderedDict({"logits": {0: "batch"}}),
        "token-classification": OrderedDict({"logits": {0: "batch", 1: "sequence"}}),
        "question-answering": OrderedDict({"start_logits": {0: "batch", 1: "sequence"},
                                           "end_logits": {0: "batch", 1: "sequence"}}),
        "multiple-choice": OrderedDict({"logits": {0: "batch"}}),
    }

    def __init__(self, config, task: str = "default", patching_specs: list[PatchingSpec] | None = None):
        if task not in self._tasks_to_common_outputs:
            raise ValueError(f"{task!r} is not a task of {type(self).__name__}; tasks: "
                             f"{', '.join(self._tasks_to_common_outputs)} (add '-with-past' through "
                             f"{OnnxConfigWithPast.__name__}.with_past).")
        self._config = config
        self.task = task
        self._patching_specs = [spec if spec.orig_op is not None else
                                dataclasses.replace(spec, orig_op=getattr(spec.o, spec.name))
                                for spec in patching_specs or ()]

    @classmethod
    def from_model_config(cls, config, task: str = "default") -> "OnnxConfig":
        return cls(config, task=task)

    @property
    def inputs(self) -> "OrderedDict[str, dict[int, str]]":
        axes = {0: "batch", 1: "choice", 2: "sequence"} if self.task == "multiple-choice" else \
            {0: "batch", 1: "sequence"}
        names = ["input_ids", "attention_mask"]
        if (getattr(self._config, "type_vocab_size", 0) or 0) > 1:
            names.append("token_type_ids")
        return OrderedDict((name, dict(axes)) for name in names)

    @property
    def outputs(self) -> "OrderedDict[str, dict[int, str]]":
        return copy.deepcopy(self._tasks_to_common_outputs[self.task])

    def graphs(self) -> list[tuple[str, str, "OrderedDict", "OrderedDict"]]:
        """(file name, role, inputs, outputs) of each graph the export writes; role is how the graph calls the model
        ("model", or "encoder" / "decoder" of an encoder-decoder)."""
        return [("model.onnx", "model", self.inputs, self.outputs)]

    @property
    def values_override(self) -> dict | None:
        return {"use_cache": False} if hasattr(self._config, "use_cache") else None

    @property
    def default_batch_size(self) -> int:
        return OnnxConfig.default_fixed_batch

    @property
    def default_sequence_length(self) -> int:
        return OnnxConfig.default_fixed_sequence

    @property
    def default_num_choices(self) -> int:
        return OnnxConfig.default_fixed_num_choices

    @property
    def default_onnx_opset(self) -> int:
        return DEFAULT_ONNX_OPSET

    @property
    def atol_for_validation(self) -> float:
        return 1e-4

    @property
    def is_torch_support_available(self) -> bool:
        return True

    @staticmethod
    def use_external_data_format(num_parameters: int) -> bool:
        """Whether float weights of this count are too large for one ONNX file (`EXTERNAL_DATA_FORMAT_SIZE_LIMIT`)."""
        return compute_serialized_parameters_size(num_parameters, ParameterFormat.Float) >= \
            EXTERNAL_DATA_FORMAT_SIZE_LIMIT

    def generate_dummy_inputs(self, preprocessor=None, batch_size: int = -1, seq_length: int = -1,
                              num_choices: int = -1, is_pair: bool = False, framework=None, tokenizer=None,
                              **kwargs) -> dict:
        """Example inputs for the export, as tensors keyed by input name: the tokenizer's encoding of repeated
        unknown tokens when one is given (the seed's way), else random ids of the vocabulary. -1 means the default
        size (batch 2, sequence 8, 4 choices)."""
        preprocessor = tokenizer if preprocessor is None else preprocessor
        preprocessor = getattr(preprocessor, "tokenizer", None) or preprocessor  # (a processor's text part)
        batch = self.default_batch_size if batch_size <= 0 else batch_size
        length = self.default_sequence_length if seq_length <= 0 else seq_length
        choices = self.default_num_choices if num_choices <= 0 else num_choices
        rows = batch * choices if self.task == "multiple-choice" else batch
        if preprocessor is not None:
            token = getattr(preprocessor, "unk_token", None) or "0"
            special = preprocessor.num_special_tokens_to_add(is_pair) if hasattr(
                preprocessor, "num_special_tokens_to_add") else 0
            text = " ".join([token] * max(1, length - special))
            encoded = dict(preprocessor([text] * rows, return_tensors="pt"))
        else:
            generator = torch.Generator().manual_seed(0)
            encoded = {"input_ids": torch.randint(0, self._config.vocab_size, (rows, length), generator=generator),
                       "attention_mask": torch.ones(rows, length, dtype=torch.long)}
            encoded["token_type_ids"] = torch.zeros(rows, length, dtype=torch.long)
            encoded["token_type_ids"][:, length // 2:] = 1
        if self.task == "multiple-choice":
            encoded = {k: v.view(batch, choices, -1) for k, v in encoded.items()}
        return {name: encoded[name] for name in self.inputs if name in encoded}

    def generate_dummy_inputs_onnxruntime(self, reference_model_inputs: dict) -> dict:
        return reference_model_inputs

    def patch_ops(self) -> None:
        for spec in self._patching_specs:
            setattr(spec.o, spec.name, spec.custom_op if spec.op_wrapper is None else spec.op_wrapper(spec.custom_op))

    def restore_ops(self) -> None:
        for spec in self._patching_specs:
            setattr(spec.o, spec.name, spec.orig_op if spec.op_wrapper is None else spec.op_wrapper(spec.orig_op))

    @classmethod
    def flatten_output_collection_property(cls, name: str, field) -> dict:
        """A nested output (e.g. one tuple per layer) as flat `name.index` entries."""
        flat = [item for group in field for item in group]
        return {f"{name}.{index}": item for index, item in enumerate(flat)}


class OnnxConfigWithPast(OnnxConfig):
    """A decoder's export: with `use_past` (`with_past(config, task)`, the `-with-past` features) the cache is an
    input (`past_key_values.N.key/value`) and an output (`present.N.key/value`)."""

    def __init__(self, config, task: str = "default", patching_specs: list[PatchingSpec] | None = None,
                 use_past: bool = False):
        super().__init__(config, task=task, patching_specs=patching_specs)
        if use_past and task not in _CACHED_TASKS:
            raise ValueError(f"{task!r} has no cache to export; use_past is for {' and '.join(_CACHED_TASKS)}.")
        self.use_past = use_past

    @classmethod
    def with_past(cls, config, task: str = "default") -> "OnnxConfigWithPast":
        return cls(config, task=task, use_past=True)

    @property
    def inputs(self):
        inputs = OrderedDict(input_ids={0: "batch", 1: "sequence"},
                             attention_mask={0: "batch", 1: "past_sequence + sequence" if self.use_past
                                             else "sequence"})
        if self.task == "causal-lm" and _takes_position_ids(self._config):
            inputs["position_ids"] = {0: "batch", 1: "sequence"}
        if self.use_past:
            self.fill_with_past_key_values_(inputs, direction="inputs")
        return inputs

    @property
    def outputs(self):
        outputs = super().outputs
        if self.use_past:
            self.fill_with_past_key_values_(outputs, direction="outputs")
        return outputs

    @property
    def values_override(self) -> dict | None:
        return {"use_cache": self.use_past} if hasattr(self._config, "use_cache") else None

    def generate_dummy_inputs(self, preprocessor=None, batch_size: int = -1, seq_length: int = -1,
                              num_choices: int = -1, is_pair: bool = False, framework=None, tokenizer=None,
                              **kwargs) -> dict:
        """All of the graph's inputs: the tokens as `OnnxConfig` makes them, after (with `use_past`) a cache of two
        more positions than they have, of seeded random keys and values, which the mask covers; position ids that
        follow the mask."""
        inputs = super().generate_dummy_inputs(preprocessor, batch_size, seq_length, num_choices, is_pair, framework,
                                               tokenizer, **kwargs)
        batch, length = inputs["input_ids"].shape
        past = length + 2 if self.use_past else 0
        mask = inputs["attention_mask"]
        mask = torch.cat((torch.ones(batch, past, dtype=mask.dtype), mask), dim=1)
        config = self._config
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        generator = torch.Generator().manual_seed(0)
        extra = {"attention_mask": mask, "position_ids": (mask.cumsum(-1) - 1).clamp(min=0)[:, past:]}
        extra.update((name, torch.randn(batch, self.num_attention_heads, past, head_dim, generator=generator))
                     for name in self.inputs if name.startswith("past_key_values."))
        inputs.update(extra)
        return {name: inputs[name] for name in self.inputs}

    @property
    def num_layers(self) -> int:
        return self._config.num_hidden_layers

    @property
    def num_attention_heads(self) -> int:
        """Heads of the cached keys and values (fewer than the query heads under grouped-query attention)."""
        return getattr(self._config, "num_key_value_heads", None) or self._config.num_attention_heads

    def fill_with_past_key_values_(self, inputs_or_outputs: dict, direction: str,
                                   inverted_values_shape: bool = False) -> None:
        if direction not in ("inputs", "outputs"):
            raise ValueError(f'direction must be "inputs" or "outputs", not {direction!r}.')
        name, length = ("past_key_values", "past_sequence") if direction == "inputs" else \
            ("present", "past_sequence + sequence")
        inputs_or_outputs.update(_cache_axes(name, self.num_layers, [("", length)]))
        if inverted_values_shape:
            for i in range(self.num_layers):
                inputs_or_outputs[f"{name}.{i}.value"] = {0: "batch", 1: length}

    def flatten_output_collection_property(self, name: str, field) -> dict:
        if name not in ("present", "past_key_values"):
            return super().flatten_output_collection_property(name, field)
        flat = {}
        for index, layer in enumerate(field):
            flat[f"{name}.{index}.key"], flat[f"{name}.{index}.value"] = layer[0], layer[1]
        return flat


class OnnxSeq2SeqConfigWithPast(OnnxConfigWithPast):
    """An encoder-decoder's export, as three graphs (see `graphs`): the encoder, the decoder over the encoder's
    states, and (with `use_past`) the decoder over its cache, whose entries are `past_key_values.N.decoder.key`
    (self-attention, growing) and `past_key_values.N.encoder.key` (cross-attention, fixed), and likewise `present`.
    `inputs` and `outputs` describe the model as one graph, as the seed does."""

    @property
    def num_layers(self) -> tuple[int, int]:
        config = self._config
        decoder = getattr(config, "decoder_layers", None) or getattr(config, "num_decoder_layers", None) \
            or config.num_hidden_layers
        encoder = getattr(config, "encoder_layers", None) or config.num_hidden_layers
        return encoder, decoder

    @property
    def num_attention_heads(self) -> tuple[int, int]:
        config = self._config
        heads = config.num_attention_heads
        return (getattr(config, "encoder_attention_heads", None) or heads,
                getattr(config, "decoder_attention_heads", None) or heads)

    @property
    def inputs(self):
        inputs = OrderedDict(input_ids={0: "batch", 1: "encoder_sequence"},
                             attention_mask={0: "batch", 1: "encoder_sequence"},
                             decoder_input_ids={0: "batch", 1: "decoder_sequence"})
        if self.use_past:
            self.fill_with_past_key_values_(inputs, direction="inputs")
        return inputs

    @property
    def outputs(self):
        outputs = copy.deepcopy(self._tasks_to_common_outputs[self.task])
        if self.use_past:
            self.fill_with_past_key_values_(outputs, direction="outputs")
        return outputs

    def graphs(self):
        batch, encoder, decoder = "batch", "encoder_sequence", "decoder_sequence"
        encoder_graph = ("encoder_model.onnx", "encoder",
                         OrderedDict(input_ids={0: batch, 1: encoder}, attention_mask={0: batch, 1: encoder}),
                         OrderedDict(last_hidden_state={0: batch, 1: encoder}))
        decoder_inputs = OrderedDict(input_ids={0: batch, 1: decoder}, encoder_attention_mask={0: batch, 1: encoder},
                                     encoder_hidden_states={0: batch, 1: encoder})
        logits = OrderedDict(logits={0: batch, 1: decoder})
        if not self.use_past:
            return [encoder_graph, ("decoder_model.onnx", "decoder", decoder_inputs, logits)]
        layers = self.num_layers[1]
        first = OrderedDict(logits, **_cache_axes("present", layers, [(".decoder", decoder), (".encoder", encoder)]))
        with_past_inputs = OrderedDict(input_ids={0: batch, 1: decoder},
                                       encoder_attention_mask={0: batch, 1: encoder})
        self.fill_with_past_key_values_(with_past_inputs, direction="inputs")
        with_past_outputs = OrderedDict(logits, **_cache_axes("present", layers, [
            (".decoder", "past_decoder_sequence + sequence")]))  # (the encoder's part does not change)
        return [encoder_graph, ("decoder_model.onnx", "decoder", decoder_inputs, first),
                ("decoder_with_past_model.onnx", "decoder", with_past_inputs, with_past_outputs)]

    def fill_with_past_key_values_(self, inputs_or_outputs: dict, direction: str) -> None:
        if direction not in ("inputs", "outputs"):
            raise ValueError(f'direction must be "inputs" or "outputs", not {direction!r}.')
        name = "past_key_values" if direction == "inputs" else "present"
        decoder = "past_decoder_sequence" if direction == "inputs" else "past_decoder_sequence + sequence"
        inputs_or_outputs.update(_cache_axes(name, self.num_layers[1], [(".decoder", decoder),
                                                                          (".encoder", "past_encoder_sequence")]))

    def flatten_output_collection_property(self, name: str, field) -> dict:
        if name not in ("present", "past_key_values"):
            return super().flatten_output_collection_property(name, field)
        flat = {}
        for index, layer in enumerate(field):
            for offset, key in enumerate(("decoder.key", "decoder.value", "encoder.key", "encoder.value")):
                flat[f"{name}.{index}.{key}"] = layer[offset]
        return flat


def _cache_axes(name: str, layers: int, parts) -> dict:
    """`{name}.{layer}{part}.key/value` -> their axes, for each layer and each (part, sequence axis name) of `parts`
    (part "" for a decoder's cache, ".decoder" / ".encoder" for an encoder-decoder's)."""
    return {f"{name}.{i}{part}.{what}": {0: "batch", 2: length} for i in range(layers) for part, length in parts
            for what in ("key", "value")}


def _takes_position_ids(config) -> bool:
    """Whether the family's causal LM takes `position_ids` (then exported, for left-padded batches)."""
    model_class = family_class(config.model_type, "ForCausalLM")
    return model_class is not None and "position_ids" in inspect.signature(model_class.forward).parameters
