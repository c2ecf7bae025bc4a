"""ONNX export: `export(model, path, task=...)` writes a model's graphs with dynamic batch and sequence axes and checks
each one against the PyTorch model with onnxruntime before it reports it done.

What a task exports (Optimum's file layout and names, which ONNX Runtime's generation code expects):

* encoder heads (`default`, `masked-lm`, `sequence-classification`, `token-classification`, `question-answering`,
  `multiple-choice`): `model.onnx`, inputs `input_ids`, `attention_mask` (and `token_type_ids` where the model has
  several token types);
* decoders: `causal-lm` gives `model.onnx` without a cache; `causal-lm-with-past` takes the cache as inputs
  `past_key_values.N.key/value` [batch, kv_heads, past_sequence, head_dim] and returns it grown by the new tokens as
  `present.N.key/value` (an empty past starts a sequence), with `position_ids` for left-padded batches;
* encoder-decoders: `encoder_model.onnx` and `decoder_model.onnx` (the decoder over the encoder's states, returning
  the cache `present.N.decoder/encoder.key/value` with `-with-past`), and for `seq2seq-lm-with-past`
  `decoder_with_past_model.onnx`, which takes that cache and returns the decoder's part grown.

`OnnxConfig`, `OnnxConfigWithPast`, `OnnxSeq2SeqConfigWithPast` and `FeaturesManager` are the seed's names for the
description of an export (inputs and outputs with their axes, per task and family). The `transformers.onnx` flow of
the 4.x line also runs: `export(preprocessor, model, config, opset, output)` writes one graph to a file and
`validate_model_outputs` checks it (the same tracing and check underneath).

The graphs are traced by torch.onnx's TorchScript exporter (`dynamo=False`): the torch.export route (`dynamo=True`,
which needs onnxscript) gives the same graphs but takes ~10-20 s per graph where tracing takes well under one.
Tracing records one path through the Python code, so the model runs in `layers.export_mode()`, where no fast path
depends on the values of the inputs (e.g. "nothing padded: no mask"), and every export is checked on inputs of other
shapes than the traced ones (another batch size and length, a padded row, another cache length).

The modules are the 4.x package's paths: `utils` (opsets, weight sizes) <- `config` (the OnnxConfig classes) <-
`features` (FeaturesManager) <- `convert` (export, validate_model_outputs, tracing and the onnxruntime check).
"""

from .config import OnnxConfig, OnnxConfigWithPast, OnnxSeq2SeqConfigWithPast, PatchingSpec
from .convert import ExportedGraph, export, validate_model_outputs
from .features import FeaturesManager
from .utils import EXTERNAL_DATA_FORMAT_SIZE_LIMIT, ParameterFormat, compute_serialized_parameters_size

__all__ = ["OnnxConfig", "OnnxConfigWithPast", "OnnxSeq2SeqConfigWithPast", "FeaturesManager", "PatchingSpec",
           "ExportedGraph", "export", "validate_model_outputs", "ParameterFormat", "compute_serialized_parameters_size",
           "EXTERNAL_DATA_FORMAT_SIZE_LIMIT"]
