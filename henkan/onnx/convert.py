"""Writing and checking ONNX graphs: `export` (henkan's folder form and the `transformers.onnx` file form),
`validate_model_outputs`, and what they share: running a model as a graph, example inputs, tracing, the onnxruntime
check, the opsets it is checked at."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from ..cache import DynamicCache, EncoderDecoderCache
from ..layers import export_mode
from ..logging import get_logger
from .config import OnnxConfig, OnnxConfigWithPast, OnnxSeq2SeqConfigWithPast
from .features import FeaturesManager, _infer_feature
from .utils import MIN_ONNX_OPSET

logger = get_logger(__name__)

# running a graph --------------------------------------------------------------------------------------------------


class _ConcatCache(DynamicCache):
    """A cache that concatenates instead of writing into spare room: its tensors' shapes follow the inputs', which is
    what a traced graph needs (and what its outputs `present.N` are)."""

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        layer = self._layer(layer_idx)
        if layer.k is not None:
            key_states = torch.cat((layer.k, key_states), dim=-2)
            value_states = torch.cat((layer.v, value_states), dim=-2)
        layer.k, layer.v, layer.length = key_states, value_states, key_states.shape[-2]
        return key_states, value_states


def _pairs(named: dict, infix: str = "") -> list[tuple[torch.Tensor, torch.Tensor]]:
    pairs = []
    while f"past_key_values.{len(pairs)}{infix}.key" in named:
        i = len(pairs)
        pairs.append((named[f"past_key_values.{i}{infix}.key"], named[f"past_key_values.{i}{infix}.value"]))
    return pairs


def _outputs(model, role: str, named: dict, with_cache: bool) -> dict[str, torch.Tensor]:
    """Run `model` as the graph of `role` on inputs named as in the graph: its outputs by graph name (with the cache
    as `present.*` when `with_cache`) and the model's other outputs by their own names."""
    named = dict(named)
    pasts = {name: named.pop(name) for name in list(named) if name.startswith("past_key_values.")}
    if role == "encoder":
        out = model.get_encoder()(**named, return_dict=True)
        results = {"last_hidden_state": out.last_hidden_state}
    elif role == "decoder":
        own = _ConcatCache(_pairs(pasts, ".decoder"))
        cache = EncoderDecoderCache(own, DynamicCache())
        for i, (k, v) in enumerate(_pairs(pasts, ".encoder")):
            cache.store_cross(i, k, v)
        # with a cache, the cross-attention keys are in it and the states are not read (only their dtype)
        states = named.get("encoder_hidden_states")
        if states is None:
            states = pasts["past_key_values.0.encoder.key"][:, 0]
        out = model(decoder_input_ids=named["input_ids"], attention_mask=named["encoder_attention_mask"],
                    encoder_outputs=(states,), past_key_values=cache, use_cache=True, return_dict=True)
        results = {"logits": out.logits}
        for i, layer in enumerate(own.layers):
            results[f"present.{i}.decoder.key"], results[f"present.{i}.decoder.value"] = layer.k, layer.v
        for i, layer in enumerate(cache.cross_attention_cache.layers):
            results[f"present.{i}.encoder.key"], results[f"present.{i}.encoder.value"] = layer.k, layer.v
    else:
        cache = _ConcatCache(_pairs(pasts)) if with_cache else None
        extra = {"past_key_values": cache, "use_cache": True} if with_cache else {}  # (else values_override's)
        out = model(**named, **extra, return_dict=True)
        results = {name: value for name, value in out.items() if name != "past_key_values"}
        for i, layer in enumerate(cache.layers if cache is not None else ()):
            results[f"present.{i}.key"], results[f"present.{i}.value"] = layer.k, layer.v
    return results


def _wants_cache(output_names) -> bool:
    return any(name.startswith("present.") for name in output_names)


class _Graph(nn.Module):
    """The module torch.onnx traces: flat input tensors (in the graph's input order) to flat outputs."""

    def __init__(self, model, role: str, input_names, output_names):
        super().__init__()
        self.model, self.role = model, role
        self.input_names, self.output_names = list(input_names), list(output_names)

    def forward(self, *tensors):
        results = _outputs(self.model, self.role, dict(zip(self.input_names, tensors)),
                           _wants_cache(self.output_names))
        return tuple(results[name] for name in self.output_names)


# example inputs ---------------------------------------------------------------------------------------------------


def _ids(config, shape, generator) -> torch.Tensor:
    return torch.randint(0, config.vocab_size, shape, generator=generator)


def _samples(model, onnx_config: OnnxConfig, batch: int, length: int, past: int, padded: bool,
             seed: int) -> dict[str, dict[str, torch.Tensor]]:
    """Inputs for each graph file of the export: `batch` rows of `length` new tokens after `past` cached ones (the
    cached states come from running the model on random ids); with `padded`, the second row is padded (on the right
    in encoders, on the left in decoders, as each is used)."""
    config = model.config
    generator = torch.Generator().manual_seed(seed)
    kind = "seq2seq" if isinstance(onnx_config, OnnxSeq2SeqConfigWithPast) else \
        "decoder" if isinstance(onnx_config, OnnxConfigWithPast) else "encoder"
    if kind == "encoder":
        inputs = onnx_config.generate_dummy_inputs(batch_size=batch, seq_length=length)
        inputs["input_ids"] = _ids(config, inputs["input_ids"].shape, generator)
        if padded:
            inputs["attention_mask"].view(-1, length)[1, -2:] = 0
        return {"model.onnx": inputs}
    if kind == "decoder":
        mask = torch.ones(batch, past + length, dtype=torch.long)
        if padded:
            mask[1, :2] = 0
        ids = _ids(config, (batch, past + length), generator)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        inputs = {"input_ids": ids[:, past:], "attention_mask": mask, "position_ids": positions[:, past:]}
        if onnx_config.use_past:
            prefix = {"input_ids": ids[:, :past], "attention_mask": mask[:, :past], "position_ids": positions[:, :past]}
            with torch.no_grad():
                cache = model(**{k: v for k, v in prefix.items() if k in onnx_config.inputs}, use_cache=True,
                              return_dict=True).past_key_values
            for i, (k, v) in enumerate(cache):
                inputs[f"past_key_values.{i}.key"], inputs[f"past_key_values.{i}.value"] = k.clone(), v.clone()
        else:
            inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
        return {"model.onnx": {name: inputs[name] for name in onnx_config.inputs}}
    source = _ids(config, (batch, length + 2), generator)
    source_mask = torch.ones_like(source)
    if padded:
        source_mask[1, -3:] = 0
    target = _ids(config, (batch, past + length), generator)
    with torch.no_grad():
        states = model.get_encoder()(input_ids=source, attention_mask=source_mask, return_dict=True).last_hidden_state
    samples = {"encoder_model.onnx": {"input_ids": source, "attention_mask": source_mask},
               "decoder_model.onnx": {"input_ids": target, "encoder_attention_mask": source_mask,
                                      "encoder_hidden_states": states}}
    if onnx_config.use_past:
        with torch.no_grad():
            cache = model(encoder_outputs=(states,), attention_mask=source_mask, decoder_input_ids=target[:, :past],
                          use_cache=True, return_dict=True).past_key_values
        with_past = {"input_ids": target[:, past:], "encoder_attention_mask": source_mask}
        for i, layer in enumerate(cache.to_legacy_cache()):
            for offset, key in enumerate(("decoder.key", "decoder.value", "encoder.key", "encoder.value")):
                with_past[f"past_key_values.{i}.{key}"] = layer[offset].clone()
        samples["decoder_with_past_model.onnx"] = with_past
    return samples


# export -----------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ExportedGraph:
    """One written ONNX file: its path, input and output names, and the largest difference between ONNX Runtime's
    outputs and PyTorch's on the check's inputs (of other shapes than the traced example)."""

    path: Path
    inputs: list[str]
    outputs: list[str]
    max_difference: float

    def __str__(self) -> str:
        return f"{self.path}: max difference {self.max_difference:.2e} ({len(self.inputs)} inputs, " \
               f"{len(self.outputs)} outputs)"


def _require_runtime():
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError as e:
        raise ImportError(f"ONNX export needs the onnx and onnxruntime packages ({e.name} is missing): "
                          f"pip install 'henkan[onnx]'.") from None
    return onnxruntime


def _output_folder(path) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path should be a folder path (str or Path), not {type(path).__name__}.")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"The export path {str(folder)!r} is a file; the export writes a folder of .onnx files. "
                         f"Give a folder path (it is created when missing).")
    return folder


def _check_model(model) -> None:
    if not isinstance(model, nn.Module) or not hasattr(model, "config"):
        raise TypeError(f"export takes a henkan model (e.g. AutoModelForSequenceClassification.from_pretrained(...)),"
                        f" not {type(model).__name__}.")
    odd = sorted({str(p.dtype) for p in model.parameters() if p.dtype != torch.float32})
    if odd:
        raise ValueError(f"The model holds {', '.join(odd)} weights; henkan exports float32 models (quantized or "
                         f"half-precision weights would not be traced into standard ONNX ops). Load it in float32 "
                         f"(torch_dtype=torch.float32, no quantization_config) or call model.float() first.")
    rope = getattr(model.config, "rope_scaling", None) or {}
    kind = rope.get("rope_type", rope.get("type")) if isinstance(rope, dict) else None
    if kind in ("dynamic", "longrope"):
        raise NotImplementedError(f"rope_scaling of type {kind!r} changes the rotary angles with the sequence length"
                                  f" in Python; a traced graph would keep the example's. henkan cannot export it.")


def export(*args, **kwargs):
    """Export a model to ONNX, in either of two forms.

    `export(model, path, task=None, *, opset=None, atol=None, onnx_config=None)` (henkan's): every graph of `task`
    into the folder `path`, each checked against the model; returns the written graphs (see `_export_folder`).

    `export(preprocessor, model, config, opset, output, tokenizer=None, device="cpu")` (the `transformers.onnx` form
    of the 4.x line): the one graph `config` describes into the file `output`, also checked against the model;
    returns `(onnx_inputs, onnx_outputs)`, the model's forward arguments the graph takes and its output names (see
    `_export_file`). `validate_model_outputs` checks it again, as the old flow does.

    The form is told by the first argument: a model, or a tokenizer / processor / feature extractor."""
    first = args[0] if args else kwargs.get("preprocessor", kwargs.get("model"))
    if isinstance(first, nn.Module):
        form = _export_folder
    elif _is_preprocessor(first) or (first is None and kwargs.get("tokenizer") is not None):
        form = _export_file
    else:
        raise TypeError(f"export takes a model first, export(model, path, task=...), or a tokenizer / processor "
                        f"first, export(preprocessor, model, config, opset, output) as transformers.onnx did; got "
                        f"{type(first).__name__}.")
    try:
        bound = inspect.signature(form).bind(*args, **kwargs)
    except TypeError as e:
        usage = "export(model, path, task=..., opset=..., atol=..., onnx_config=...)" if form is _export_folder \
            else "export(preprocessor, model, config, opset, output, tokenizer=None, device='cpu')"
        raise TypeError(f"export: {e}; this form is {usage}.") from None
    return form(*bound.args, **bound.kwargs)


def _is_preprocessor(value) -> bool:
    from ..processing.base import PreprocessorMixin
    from ..processing.processors import ProcessorMixin
    from ..tokenization import PreTrainedTokenizerBase

    return isinstance(value, (PreTrainedTokenizerBase, ProcessorMixin, PreprocessorMixin))


def _export_folder(model, path, task: str | None = None, *, opset: int | None = None, atol: float | None = None,
                   onnx_config: OnnxConfig | None = None) -> list[ExportedGraph]:
    """Export `model` for `task` into the folder `path` (created when missing) and check each graph with
    onnxruntime against the model on inputs of other shapes than the traced ones (another batch size and length, a
    padded row, another cache length): an output that differs by more than `atol` (default: the config's
    `atol_for_validation`, 1e-4) raises. Also writes the model's config.json. Returns the written graphs.

    `task` is a feature name ("sequence-classification", "causal-lm-with-past", "seq2seq-lm-with-past", ...; Optimum's
    names such as "text-generation-with-past" work too); by default the task of the model's head (with the cache for
    language models). `onnx_config` overrides what is exported (e.g. a subclass with fewer inputs)."""
    ort = _require_runtime()
    _check_model(model)
    folder = _output_folder(path)
    feature = _infer_feature(model) if task is None else task
    _, factory = FeaturesManager.check_supported_model_or_raise(model, feature)
    onnx_config = factory(model.config) if onnx_config is None else onnx_config
    opset = onnx_config.default_onnx_opset if opset is None else opset
    _check_opset(opset)
    folder.mkdir(parents=True, exist_ok=True)
    graphs = [(graph, folder / graph[0]) for graph in onnx_config.graphs()]
    exported = _write(ort, model, onnx_config, graphs, opset, atol)
    model.config.save_pretrained(folder)
    return exported


def _export_file(preprocessor, model, config: OnnxConfig, opset: int, output, tokenizer=None,
                 device: str = "cpu") -> tuple[list[str], list[str]]:
    """The `transformers.onnx` form: write the graph `config` describes (an encoder's, or a decoder's, with the cache
    for `-with-past` configs) to the file `output`, check it like
    `_export_folder` does, and return (the model's forward arguments the graph takes, in the forward's order; the
    graph's output names). `tokenizer` is the old name of `preprocessor`. The traced example is henkan's own (random
    ids, a real cache), which the graph's check needs; the preprocessor feeds `validate_model_outputs`."""
    _legacy_preprocessor(preprocessor, tokenizer, "export the model")
    ort = _require_runtime()
    _check_model(model)
    if not isinstance(config, OnnxConfig):
        raise TypeError(f"config should be an OnnxConfig (e.g. FeaturesManager.check_supported_model_or_raise(model, "
                        f"feature)[1](model.config)), not {type(config).__name__}.")
    FeaturesManager.check_supported_model_or_raise(model, _feature_of(config))
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise TypeError(f"opset should be an int such as config.default_onnx_opset ({config.default_onnx_opset}), "
                        f"not {type(opset).__name__}.")
    if opset < MIN_ONNX_OPSET:
        raise ValueError(f"Opset {opset} is not sufficient to export {type(model).__name__}: henkan needs at least "
                         f"{MIN_ONNX_OPSET} (config.default_onnx_opset is {config.default_onnx_opset}).")
    if torch.device(device).type != "cpu":
        logger.warning(f"henkan traces ONNX graphs on the CPU; device={device!r} is not used (the graph runs on "
                       f"any onnxruntime provider).")
    target = _output_file(output)
    graph = _single_graph(config)
    onnx_inputs = _forward_arguments(model, graph[2])
    _check_opset(opset)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write(ort, model, config, [(graph, target)], opset, None)
    return onnx_inputs, list(graph[3])


def validate_model_outputs(config: OnnxConfig, preprocessor, reference_model, onnx_model, onnx_named_outputs,
                           atol: float, tokenizer=None) -> None:
    """Check the ONNX file `onnx_model` against `reference_model` (the `transformers.onnx` way): on
    `config.generate_dummy_inputs(preprocessor)` one row and one token larger than the export's default example,
    `onnx_named_outputs` must be outputs of both, of equal shapes, with values within `atol`; raises ValueError
    otherwise. Progress goes to henkan's logger (level INFO). `tokenizer` is the old name of `preprocessor`."""
    preprocessor = _legacy_preprocessor(preprocessor, tokenizer, "validate the model outputs")
    ort = _require_runtime()
    _check_model(reference_model)
    path = Path(_output_file(onnx_model))
    if not path.is_file():
        raise FileNotFoundError(f"onnx_model {str(path)!r} is not a file; pass the path export wrote.")
    if isinstance(onnx_named_outputs, str):
        raise TypeError(f"onnx_named_outputs should be a list of output names (export's second result), not the "
                        f"string {onnx_named_outputs!r}.")
    _, role, _, _ = _single_graph(config)
    logger.info(f"Validating ONNX model {path}...")
    inputs = config.generate_dummy_inputs(preprocessor, batch_size=config.default_fixed_batch + 1,
                                          seq_length=config.default_fixed_sequence + 1)
    with _prepared(reference_model, config):
        difference = _check(ort, reference_model, role, path, list(onnx_named_outputs), inputs, atol)
    logger.info(f"All good: {path.name} gives {type(reference_model).__name__}'s outputs within atol={atol} "
                f"(max difference {difference:.2e}).")


def _legacy_preprocessor(preprocessor, tokenizer, action: str):
    """The preprocessor of the old form's (preprocessor, tokenizer=) pair; the old alias gives a FutureWarning."""
    from ..tokenization import PreTrainedTokenizerBase

    if tokenizer is None:
        return preprocessor
    if isinstance(preprocessor, PreTrainedTokenizerBase):
        raise ValueError(f"Pass either preprocessor or tokenizer to {action}, not both (tokenizer is the old name "
                         f"of preprocessor).")
    warnings.warn("The tokenizer argument is deprecated; pass the tokenizer as preprocessor.", FutureWarning,
                  stacklevel=3)
    return tokenizer


def _feature_of(config: OnnxConfig) -> str:
    return f"{config.task}-with-past" if getattr(config, "use_past", False) else config.task


def _single_graph(config: OnnxConfig) -> tuple[str, str, "OrderedDict", "OrderedDict"]:
    """The one graph of the old form: an encoder's or a decoder's (encoder-decoders are exported as several)."""
    graphs = config.graphs()
    if len(graphs) != 1:
        raise ValueError(f"henkan exports an encoder-decoder as {len(graphs)} graphs "
                         f"({', '.join(graph[0] for graph in graphs)}), not one file: call export(model, folder, "
                         f"task='{_feature_of(config)}') and use the folder's files.")
    return graphs[0]


def _forward_arguments(model, input_names) -> list[str]:
    """The arguments of `model.forward` the graph's inputs feed (`past_key_values.N.*` feed `past_key_values`), in
    the forward's order; a clear error for an input the forward does not take."""
    wanted = {name.split(".")[0] for name in input_names}
    parameters = inspect.signature(model.forward).parameters
    unknown = sorted(wanted - set(parameters))
    if unknown:
        raise ValueError(f"The ONNX config's inputs {', '.join(unknown)} are not arguments of "
                         f"{type(model).__name__}.forward; give a config made for this model (FeaturesManager).")
    return [name for name in parameters if name in wanted]


def _output_file(output) -> Path:
    if not isinstance(output, (str, os.PathLike)):
        raise TypeError(f"output should be the path of the .onnx file (str or Path), not {type(output).__name__}.")
    target = Path(output)
    if target.is_dir():
        raise ValueError(f"output {str(target)!r} is a folder; this form of export writes one file: give its path "
                         f"(e.g. {str(target / 'model.onnx')!r}).")
    return target


@contextlib.contextmanager
def _prepared(model, onnx_config: OnnxConfig):
    """The model in eval mode with the config's `values_override` (e.g. use_cache) applied; both restored after."""
    training = model.training
    overrides = onnx_config.values_override or {}
    kept = {key: getattr(model.config, key) for key in overrides}
    model.eval()
    model.config.update(overrides)
    try:
        yield
    finally:
        model.config.update(kept)
        model.train(training)


def _write(ort, model, onnx_config: OnnxConfig, graphs, opset: int, atol: float | None) -> list[ExportedGraph]:
    """Trace each (graph, target file) of `graphs` and check it on inputs of other shapes (see `_export_folder`)."""
    atol = onnx_config.atol_for_validation if atol is None else atol
    exported = []
    with _prepared(model, onnx_config):
        examples = _samples(model, onnx_config, batch=2, length=3, past=5, padded=False, seed=0)
        checks = _samples(model, onnx_config, batch=3, length=4, past=7, padded=True, seed=1)
        onnx_config.patch_ops()
        try:
            for (file_name, role, inputs, outputs), target in graphs:
                _trace(model, role, inputs, outputs, examples[file_name], target, opset)
                difference = _check(ort, model, role, target, list(outputs), checks[file_name], atol)
                exported.append(ExportedGraph(target, list(inputs), list(outputs), difference))
        finally:
            onnx_config.restore_ops()
    return exported


def _trace(model, role, inputs, outputs, example: dict, target: Path, opset: int) -> None:
    graph = _Graph(model, role, inputs, outputs).eval()
    axes = {name: dict(a) for name, a in {**inputs, **outputs}.items()}
    with warnings.catch_warnings():
        # tracing warns at every Python branch on a shape (all follow the general path here, and the check below
        # runs other shapes); the TorchScript route warns that it is deprecated (see henkan.onnx's docstring)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            with torch.no_grad(), export_mode():
                torch.onnx.export(graph, tuple(example[name] for name in inputs), str(target), dynamo=False,
                                  input_names=list(inputs), output_names=list(outputs), dynamic_axes=axes,
                                  opset_version=opset, do_constant_folding=True)
        except (RuntimeError, AssertionError) as e:  # (torch.onnx.errors.OnnxExporterError is a RuntimeError)
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RuntimeError(f"torch.onnx could not write {target.name} for {type(model).__name__} ({reason}); "
                               f"henkan cannot export this family yet.") from e


def _check(ort, model, role, target: Path, outputs: list[str], inputs: dict, atol: float) -> float:
    """The largest difference between ONNX Runtime's `outputs` of the graph `target` and the model's on `inputs`;
    raises when an output is missing from either, has another shape, or differs by more than `atol`."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(target), options, providers=["CPUExecutionProvider"])
    in_graph = [o.name for o in session.get_outputs()]
    absent = [name for name in outputs if name not in in_graph]
    if absent:
        raise ValueError(f"{target.name} has no output {', '.join(absent)}; its outputs are {', '.join(in_graph)}.")
    needed = [i.name for i in session.get_inputs()]
    lacking = [name for name in needed if name not in inputs]
    if lacking:
        raise ValueError(f"{target.name} takes {', '.join(lacking)}, which the example inputs lack (they have "
                         f"{', '.join(inputs)}); check it with the config it was exported with.")
    shapes = ", ".join(f"{name} {list(value.shape)}" for name, value in inputs.items()
                       if not name.startswith("past_key_values.") or name.endswith(".0.key"))
    try:
        got = session.run(outputs, {name: inputs[name].numpy() for name in needed})
    except Exception as e:  # (onnxruntime's own error classes)
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"onnxruntime cannot run {target.name} on inputs of other shapes than the traced ones "
                         f"({shapes}): {reason}") from e
    with torch.no_grad():
        reference = _outputs(model, role, inputs, _wants_cache(outputs))
    unknown = [name for name in outputs if name not in reference]
    if unknown:
        raise ValueError(f"{target.name}: output {', '.join(unknown)} is not an output of {type(model).__name__} "
                         f"(it gives {', '.join(reference)}); the ONNX outputs do not match the model's.")
    logger.info(f"\t-[✓] output names match the model's ({', '.join(outputs)})")
    worst = 0.0
    for name, actual in zip(outputs, got):
        expected = reference[name]
        if tuple(actual.shape) != tuple(expected.shape):
            raise ValueError(f"{target.name}: output {name} has shape {list(actual.shape)} in ONNX Runtime but "
                             f"{list(expected.shape)} in PyTorch (inputs: {shapes}); the graph is wrong.")
        difference = float((torch.from_numpy(actual) - expected).abs().max()) if actual.size else 0.0
        if not difference <= atol:
            raise ValueError(f"{target.name}: output {name} differs from PyTorch's by {difference:.3g}, more than "
                             f"atol={atol} (inputs: {shapes}).")
        logger.info(f"\t-[✓] {name}: shape {list(actual.shape)}, max difference {difference:.2e} (atol {atol})")
        worst = max(worst, difference)
    return worst


def _check_opset(opset: int) -> None:
    if opset >= 18:
        raise ValueError(f"henkan exports with opsets 14 to 17 (the ones its exports are checked at), not {opset}.")
    if opset < MIN_ONNX_OPSET:
        raise ValueError(f"henkan exports with opsets {MIN_ONNX_OPSET} to 17 (attention needs {MIN_ONNX_OPSET}), not "
                         f"{opset}.")
