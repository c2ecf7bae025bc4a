"""Shared building blocks: activations, attention over SDPA, masks, and the layer loop with checkpointing."""

from __future__ import annotations

import contextlib
import functools
import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import rope_type
from .logging import get_logger

logger = get_logger(__name__)


def _quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def _gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


_ACTIVATIONS = {
    "gelu": F.gelu, "gelu_python": F.gelu, "relu": F.relu, "silu": F.silu, "swish": F.silu, "tanh": torch.tanh,
    "gelu_new": _gelu_tanh, "gelu_pytorch_tanh": _gelu_tanh, "gelu_fast": _gelu_tanh, "quick_gelu": _quick_gelu,
    "sigmoid": torch.sigmoid,
}


def activation(name):
    """The function for an activation name of config.json (`hidden_act`, `activation`)."""
    if callable(name):
        return name
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"Unknown activation {name!r}; henkan knows {sorted(_ACTIVATIONS)}.") from None


# linear layers ----------------------------------------------------------------------------------------------------

_FAST_DTYPES = (torch.float32, torch.bfloat16)
# Below this many weights (256 x 256), oneDNN's fixed cost per call (~15 us) outweighs its faster streaming.
_ONEDNN_MIN_WEIGHT = 1 << 16


@functools.cache
def _onednn():
    """oneDNN's matmul op of this PyTorch build, or None where the build has none (or where it failed once)."""
    try:
        return torch.ops.mkldnn._linear_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        return None


def _onednn_failed(error: Exception) -> None:
    """Turn the oneDNN route off for the process: it could not run here (typically it cannot allocate its buffers
    under an address-space limit such as `ulimit -v`, where PyTorch's own route still runs)."""
    logger.warning("oneDNN's matmul failed (%s); henkan uses PyTorch's own matmul from now on.",
                   str(error).splitlines()[0] if str(error) else type(error).__name__)
    global _onednn
    _onednn = _no_onednn


def _no_onednn():
    return None


# activations oneDNN applies inside its matmul (a post-op), with the same results as the PyTorch functions
_ONEDNN_ACTIVATIONS = {F.gelu: ("gelu", "none"), _gelu_tanh: ("gelu", "tanh"), F.relu: ("relu", "")}


def linear(x, weight, bias=None, act=None):
    """act(x @ weight.T + bias), as F.linear (then `act`, an activation function, when given).

    On CPU, when no gradient is wanted, this goes through oneDNN's matmul: PyTorch's own route for a few rows (a
    gemv) runs on one core at about half of the memory bandwidth, and a decode step is nothing but a few rows
    against every weight; GELU and ReLU are then applied inside the matmul rather than in another pass over its
    output. Results agree with F.linear to float rounding (the sums are taken in another order). Under
    torch.compile the plain F.linear is traced: the compiler picks its own kernels."""
    if (x.device.type == "cpu" and x.dtype is weight.dtype and x.dtype in _FAST_DTYPES
            and weight.dim() == 2 and weight.numel() >= _ONEDNN_MIN_WEIGHT
            and not (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad))
            and (bias is None or bias.dtype is x.dtype) and not torch.compiler.is_compiling()
            and (matmul := _onednn()) is not None):
        post, algorithm = _ONEDNN_ACTIVATIONS.get(act, ("none", ""))
        try:
            out = matmul(x, weight, bias, post, [], algorithm)
            return out if act is None or post != "none" else act(out)
        except (RuntimeError, MemoryError) as error:
            _onednn_failed(error)
    out = F.linear(x, weight, bias)
    return out if act is None else act(out)


def _linear_forward(layer: nn.Linear, x):
    return linear(x, layer.weight, layer.bias)


def _plain(layer: nn.Module) -> bool:
    """Whether `layer` is a `linear_layer` as built (no adapter, quantization or hook changes what it computes),
    so its weight and bias can be used directly."""
    forward = layer.__dict__.get("forward")
    return (type(layer) is nn.Linear and isinstance(forward, functools.partial) and forward.func is _linear_forward
            and not layer._forward_hooks and not layer._forward_pre_hooks)


def linear_act(layer: nn.Module, x, act):
    """act(layer(x)), with the activation inside the matmul where `linear` can do that."""
    return linear(x, layer.weight, layer.bias, act) if _plain(layer) else act(layer(x))


def project(x, *layers) -> tuple:
    """Each of `layers` applied to `x`. A module whose projections read one input declares them in its
    `shared_input` (tuples of child names) and calls them through here: quantized, they were fused into one kernel
    call (quantization.layers.FusedQuant), which runs unless an adapter or a hook wraps one of them."""
    fused = layers[0].__dict__.get("fused_with")  # (a plain attribute: no Module.__getattr__ miss per float call)
    if fused is not None and fused.runs(layers):
        return fused(x)
    return tuple(layer(x) for layer in layers)


def linear_layer(in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> nn.Linear:
    """An nn.Linear whose inference runs through `linear`. Its class is nn.Linear itself, not a subclass, so that
    what goes by the exact class (dynamic quantization, torch.fx's leaf modules) treats it as one; only its
    instance's `forward` differs (a partial, which pickles and deep-copies with the layer)."""
    layer = nn.Linear(in_features, out_features, bias=bias, device=device, dtype=dtype)
    layer.forward = functools.partial(_linear_forward, layer)
    return layer


class LMPredictionHead(nn.Module):
    """Base of the LM heads of the BERT-like families: `decoder` projects to the vocabulary (its weight tied to the
    word embeddings) and adds the head's own `bias` (one parameter under both names; zero when initialised)."""

    def __init__(self, width: int, vocab_size: int):
        super().__init__()
        self.decoder = linear_layer(width, vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        self.decoder.bias = self.bias


def check_inputs(config, input_ids, inputs_embeds, *, max_length: int | None = None, check_ids: bool = True,
                 attention_mask=None, token_type_ids=None, position_ids=None,
                 past_length: int | None = 0) -> tuple[int, int]:
    """Batch size and sequence length of a model's input, with clear errors, before any compute, for the mistakes
    that layers report badly or not at all: both or neither of input_ids/inputs_embeds; ids that are not a tensor of
    integers, lack a batch dimension, are empty or lie outside the vocabulary (the range check reads the ids back
    from the device, so it is skipped when `check_ids` is false); a sequence longer than `max_length`; an
    `attention_mask`, `token_type_ids` or `position_ids` whose shape does not match (a 2-D mask covers the
    `past_length` cached tokens too; None: unknown, e.g. a static cache, and only its batch is checked); token
    types outside `type_vocab_size`."""
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("You must specify exactly one of input_ids or inputs_embeds.")
    if input_ids is not None:
        check_tensor("input_ids", input_ids, integer=True)
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids should be [batch, sequence], got shape {list(input_ids.shape)}; add a "
                             f"batch dimension (input_ids[None]) or use the tokenizer with return_tensors='pt'.")
        batch, length = input_ids.shape
        if check_ids and input_ids.numel() and not compiling():
            low, high = int(input_ids.min()), int(input_ids.max())
            if low < 0 or high >= config.vocab_size:
                raise ValueError(f"input_ids hold ids outside the vocabulary [0, {config.vocab_size}) (found "
                                 f"{low if low < 0 else high}); was the text encoded with this model's tokenizer? "
                                 f"If tokens were added, call model.resize_token_embeddings(len(tokenizer)).")
    else:
        check_tensor("inputs_embeds", inputs_embeds, integer=False)
        if inputs_embeds.dim() != 3:
            raise ValueError(f"inputs_embeds should be [batch, sequence, hidden], got shape "
                             f"{list(inputs_embeds.shape)}.")
        batch, length = inputs_embeds.shape[:2]
    if batch == 0 or length == 0:
        name = "input_ids" if input_ids is not None else "inputs_embeds"
        raise ValueError(f"{name} is empty (shape {list((input_ids if input_ids is not None else inputs_embeds).shape)}"
                         f"); give the model at least one token per row.")
    if max_length is not None and length > max_length:
        raise ValueError(f"The input has {length} tokens but this model takes at most {max_length} "
                         f"(max_position_embeddings). Truncate it: tokenizer(..., truncation=True, "
                         f"max_length={max_length}).")
    if attention_mask is not None:
        check_tensor("attention_mask", attention_mask)
        mask_length = None if past_length is None else past_length + length
        if attention_mask.dim() == 2 and (attention_mask.shape[0] != batch or (
                mask_length is not None and attention_mask.shape[1] != mask_length)):
            needs = (f"[{batch}, ...] (one row per input row)" if mask_length is None else
                     f"[{batch}, {mask_length}] (one row per input row, one column per token"
                     f"{', cached ones included' if past_length else ''})")
            raise ValueError(f"attention_mask has shape {list(attention_mask.shape)} but the input is [batch={batch}"
                             f", sequence={length}]; the mask should be {needs}.")
    for name, value in (("token_type_ids", token_type_ids), ("position_ids", position_ids)):
        if value is not None:
            check_tensor(name, value, integer=True)
            if value.dim() != 2 or value.shape[0] not in (1, batch) or value.shape[1] != length:
                raise ValueError(f"{name} has shape {list(value.shape)} but the input is [batch={batch}, "
                                 f"sequence={length}]; it needs the same shape ([{batch}, {length}]).")
    types = getattr(config, "type_vocab_size", None)
    if token_type_ids is not None and types and token_type_ids.numel() and not compiling():  # (0: ids ignored)
        low, high = int(token_type_ids.min()), int(token_type_ids.max())
        if low < 0 or high >= types:
            raise ValueError(f"token_type_ids hold {low if low < 0 else high}, but this model has "
                             f"type_vocab_size={types} token types (ids 0..{types - 1}).")
    return batch, length


def class_targets(labels, classes: int, what: str = "num_labels", ignore_index: int = -100) -> torch.Tensor:
    """`labels` checked as class indices in [0, classes) (or `ignore_index`) before a cross-entropy, which would
    otherwise fail with an index error (or a device assert) that names nothing; `what` says where `classes` comes
    from. The range check reads the labels back, so it is skipped while compiling."""
    check_tensor("labels", labels, integer=True)
    if labels.numel() and not compiling():
        kept = labels[labels != ignore_index]
        if kept.numel():
            low, high = int(kept.min()), int(kept.max())
            if low < 0 or high >= classes:
                raise ValueError(f"labels hold {low if low < 0 else high}, outside the {classes} classes of this "
                                 f"model ({what}={classes}: labels 0..{classes - 1}, or {ignore_index} to ignore a "
                                 f"position).")
    return labels


def check_tensor(name: str, value, integer: bool | None = None) -> None:
    """`value` is a tensor (of integers / of floats when `integer` says so), or a TypeError naming `name`."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} should be a torch.Tensor, not {type(value).__name__}; wrap it with "
                        f"torch.tensor([...]) (a batch of rows) or use the tokenizer with return_tensors='pt'.")
    if integer is True and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise TypeError(f"{name} should hold integer ids (torch.long), not {value.dtype}; convert with .long() "
                        f"if the values are whole numbers.")
    if integer is False and not value.is_floating_point():
        raise TypeError(f"{name} should be a floating tensor of embeddings, not {value.dtype}.")


class Holder(nn.Module):
    """A named group of submodules, so module paths spell the checkpoint keys (`attention.self.query`)."""

    def __init__(*args, **modules: nn.Module):  # no named `self`: BERT has a submodule called "self"
        holder = args[0]
        super(Holder, holder).__init__()
        for name, module in modules.items():
            holder.add_module(name, module)


def padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A [batch, 1, 1, keys] additive mask from a 0/1 mask, or None when nothing is masked (SDPA's fast path; not
    taken while compiling or exporting, where the graph must serve every mask)."""
    if attention_mask is None or (not compiling() and bool(attention_mask.all())):
        return None
    if attention_mask.dim() == 2:
        attention_mask = attention_mask[:, None, None, :]
    elif attention_mask.dim() == 3:
        attention_mask = attention_mask[:, None, :, :]
    return (1.0 - attention_mask.to(dtype)) * torch.finfo(dtype).min


class Packing:
    """The real tokens of a padded [batch, seq] grid, so that layers can skip padding (`attn_implementation=
    "unpadded"`): projections and feed-forwards run on [tokens, hidden]. Attention runs one sequence at a time on
    its own tokens (no padding, no mask) when the sequences are long enough to pay for a call each, else on the
    re-padded grid with the additive mask. Outputs at padding positions are then zeros, as with the reference's
    variable-length flash attention."""

    # Below this share of padding, re-padding every layer's attention inputs costs more than the padding does.
    min_padding = 0.1
    # From this longest sequence on, a call per sequence beats one masked call over the padded grid (32 sequences,
    # 12 heads of 32: 1.5x faster at 60-120 tokens, 1.15x at 360-384; slower below about 40).
    by_sequence_from = 64

    def __init__(self, attention_mask: torch.Tensor, additive: torch.Tensor, counts: list[int]):
        """`counts`: each row's real tokens (`attention_mask` is non-zero at them)."""
        self.batch, self.length = attention_mask.shape
        self.index = (attention_mask != 0).flatten().nonzero().squeeze(1)
        self.additive = additive
        self.by_sequence = self.by_sequence_for(counts)
        ends = itertools.accumulate(counts)
        self.spans = [(end - count, end) for count, end in zip(counts, ends) if count]  # each row's packed tokens
        self._zeros: dict = {}

    @classmethod
    def by_sequence_for(cls, counts: list[int]) -> bool:
        return max(counts) >= cls.by_sequence_from

    @classmethod
    def pays(cls, counts: list[int], length: int) -> bool:
        """Whether skipping the padding of rows with these real-token counts (padded to `length`) is worth it."""
        return cls.by_sequence_for(counts) or sum(counts) <= (1 - cls.min_padding) * len(counts) * length

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, x.shape[-1]).index_select(0, self.index)

    def pad(self, x: torch.Tensor, scratch: str | None = None) -> torch.Tensor:
        """[tokens, width] back to [batch, length, width], zeros at the padding. With a `scratch` name (the result
        is used and dropped before the next call with that name) and no gradient, every layer writes into one
        buffer of that name, whose padding rows were zeroed once."""
        shape = (self.batch * self.length, x.shape[-1])
        if scratch is None or torch.is_grad_enabled():
            return x.new_zeros(shape).index_copy_(0, self.index, x).view(self.batch, self.length, -1)
        key = (scratch, shape, x.dtype, x.device)
        if key not in self._zeros:
            self._zeros[key] = x.new_zeros(shape)
        return self._zeros[key].index_copy_(0, self.index, x).view(self.batch, self.length, -1)

    def attend(self, q, k, v, num_heads: int, dropout: float, scale: float | None) -> torch.Tensor:
        """Self-attention of packed [tokens, hidden] projections, one sequence at a time: [tokens, hidden]."""
        parts = []
        for start, end in self.spans:
            # [1, heads, tokens, head_dim], contiguous: SDPA's CPU kernel runs a strided or 3-d view much slower
            heads = [t[start:end].unflatten(-1, (num_heads, -1)).transpose(0, 1).contiguous()[None] for t in (q, k, v)]
            out = F.scaled_dot_product_attention(*heads, dropout_p=dropout, scale=scale)
            parts.append(out[0].transpose(0, 1).reshape(end - start, -1))
        return torch.cat(parts)


def encoder_mask(config, attention_mask: torch.Tensor | None, dtype: torch.dtype):
    """What encoder layers take as `mask`: an additive padding mask, None, or a Packing when asked to skip padding
    (`attn_implementation="unpadded"`) and skipping pays: attention goes sequence by sequence, or the batch has
    enough padding (`Packing.min_padding`) to pay for re-padding attention's inputs."""
    mask = padding_mask(attention_mask, dtype)
    if mask is not None and attention_mask.dim() == 2 and getattr(config, "_attn_implementation", None) == "unpadded":
        counts = (attention_mask != 0).sum(1).tolist()
        if Packing.pays(counts, attention_mask.shape[1]):
            return Packing(attention_mask, mask, counts)
    return mask


def attend(q, k, v, mask, num_heads: int, dropout: float = 0.0, output_attentions: bool = False,
           head_mask: torch.Tensor | None = None, scale: float | None = None):
    """Multi-head attention of [batch, seq, hidden] projections (packed [tokens, hidden] ones with a Packing);
    returns the context and (optionally) weights. Scores are divided by sqrt(head_dim), or multiplied by `scale`
    when given (CvT scales by the whole width)."""
    packing = mask if isinstance(mask, Packing) else None
    if packing is not None and packing.by_sequence and not output_attentions and head_mask is None:
        return packing.attend(q, k, v, num_heads, dropout, scale), None
    if packing is not None:
        q, k, v, mask = packing.pad(q, "q"), packing.pad(k, "k"), packing.pad(v, "v"), packing.additive
    batch, q_len, hidden = q.shape
    head_dim = hidden // num_heads
    q, k, v = (t.view(batch, t.shape[1], num_heads, head_dim).transpose(1, 2) for t in (q, k, v))
    if output_attentions or head_mask is not None:
        scores = q @ k.transpose(-1, -2)
        scores = scores / math.sqrt(head_dim) if scale is None else scores * scale
        if mask is not None:
            scores = scores + mask
        weights = scores.softmax(-1)
        weights = F.dropout(weights, dropout)
        if head_mask is not None:
            weights = weights * head_mask
        context = weights @ v
    else:
        weights = None
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=scale)
    context = context.transpose(1, 2).reshape(batch, q_len, hidden)
    if packing is not None:
        context = packing.unpad(context)
    return context, (weights if output_attentions else None)


def per_layer_head_mask(head_mask, num_layers: int, dtype: torch.dtype) -> list:
    """Expand a [heads] or [layers, heads] 0/1 mask into one broadcastable mask per layer (or Nones)."""
    if head_mask is None:
        return [None] * num_layers
    head_mask = head_mask.to(dtype)
    if head_mask.dim() == 1:
        head_mask = head_mask.expand(num_layers, -1)
    return [m[None, :, None, None] for m in head_mask]


@contextlib.contextmanager
def first_token_only(base: nn.Module, wanted: bool = True):
    """For one call of `base`: a head that reads the encoder's output at the first position alone (a pooler's or a
    classifier's token) asks a base model that can (its class has `first_token_only`) to compute only that
    position in its last layer; its last_hidden_state is then [batch, 1, hidden]."""
    if not (wanted and hasattr(type(base), "first_token_only")):
        yield base
        return
    base.first_token_only = True
    try:
        yield base
    finally:
        base.first_token_only = False


def run_layers(owner: nn.Module, layers, hidden, *, mask, head_mask=None, output_attentions=False,
               output_hidden_states=False, layerdrop: float = 0.0, first_token_only: bool = False):
    """Apply `layers` in turn; collect hidden states and attentions; checkpoint activations when asked. While
    training, each layer is skipped with probability `layerdrop` (its attentions are then None). With
    `first_token_only` the last layer runs its `first_token` (the output at the first position alone, [batch, 1,
    hidden]: all that a pooler reads).

    `mask` is what every layer takes, or a list of one per layer (BEiT's relative position biases). `head_mask` is a
    user's [heads] or [layers, heads] mask, or a list already holding what each layer takes."""
    packing = mask if isinstance(mask, Packing) else None
    all_hidden = (hidden,) if output_hidden_states else None
    all_attn = () if output_attentions else None
    masks = head_mask if isinstance(head_mask, list) else per_layer_head_mask(head_mask, len(layers), hidden.dtype)
    layer_masks = mask if isinstance(mask, list) else [mask] * len(layers)
    if packing is not None:
        hidden = packing.unpad(hidden)
    for i, (layer, mask, layer_head_mask) in enumerate(zip(layers, layer_masks, masks)):
        run = layer.first_token if first_token_only and i == len(layers) - 1 else layer
        if layerdrop and owner.training and torch.rand([]) < layerdrop:
            attn = None
            continue_packed = True
        elif getattr(owner, "gradient_checkpointing", False) and owner.training:
            hidden, attn = checkpoint(run, hidden, mask, layer_head_mask, output_attentions,
                                      **getattr(owner, "_checkpoint_kwargs", {"use_reentrant": False}))
            continue_packed = run is layer
        else:
            hidden, attn = run(hidden, mask, layer_head_mask, output_attentions)
            continue_packed = run is layer
        if not continue_packed:
            packing = None  # first_token's output is padded already
        if output_hidden_states:
            all_hidden += (hidden if packing is None else packing.pad(hidden),)
        if output_attentions:
            all_attn += (attn,)
    return (hidden if packing is None else packing.pad(hidden)), all_hidden, all_attn


# ------------------------------------------------------------------------------------------------------------------
# Decoder blocks: norms, rotary position embeddings, the causal mask, attention with a KV cache, the gated MLP.
# ------------------------------------------------------------------------------------------------------------------

_TORCH = tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2])
_SDPA_GQA = _TORCH >= (2, 5)  # scaled_dot_product_attention(enable_gqa=...)


_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", None) or torch._dynamo.is_compiling
_EXPORTING = False  # set by `export_mode`


def compiling() -> bool:
    """Whether torch.compile or an exporter is tracing this code: data-dependent checks and fast paths (e.g. "no
    padding: no mask") must be skipped then, since the graph has to serve every input."""
    return _EXPORTING or _is_compiling()


@contextlib.contextmanager
def export_mode():
    """While tracing a graph for another runtime (ONNX): `compiling()` holds, and only ops every exporter knows are
    used (PyTorch's matmul rather than oneDNN's, kv heads repeated rather than SDPA's grouped-query flag). It swaps
    module globals, so runs outside it pay nothing for it."""
    global _EXPORTING, _onednn, _SDPA_GQA
    kept = _EXPORTING, _onednn, _SDPA_GQA
    _EXPORTING, _onednn, _SDPA_GQA = True, _no_onednn, False
    try:
        yield
    finally:
        _EXPORTING, _onednn, _SDPA_GQA = kept


def _rms_norm(x, eps: float):
    # (F.rms_norm computes the same ops on CPU, behind a wrapper that cost 0.2-0.3 ms per decoded token of a 12-layer
    # model at batch 1)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class RMSNorm(nn.Module):
    """Root-mean-square norm (no centring, no bias), computed in float32 and scaled in the input's dtype.

    With `offset` (Gemma's way) the stored weight is zero-centred: the scale is 1 + weight, applied in float32
    before the cast back.

    `half_weight_sets_dtype`: a float32 input is normed into the weight's dtype when that is float16/bfloat16 (T5,
    whose float16 models keep float32 layers that turn the residual stream float32)."""

    half_weight_sets_dtype = False

    def __init__(self, hidden_size: int, eps: float = 1e-6, offset: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(hidden_size) if offset else torch.ones(hidden_size))
        self.variance_epsilon = eps
        self.offset = offset

    def forward(self, x):
        if self.offset:
            return (_rms_norm(x.float(), self.variance_epsilon) * (1.0 + self.weight.float())).to(x.dtype)
        if x.dtype == torch.float32:
            normed = _rms_norm(x, self.variance_epsilon)
            if self.half_weight_sets_dtype and self.weight.dtype in (torch.float16, torch.bfloat16):
                normed = normed.to(self.weight.dtype)
            return self.weight * normed
        return self.weight * _rms_norm(x.float(), self.variance_epsilon).to(x.dtype)

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, eps={self.variance_epsilon}"


class Conv1D(nn.Module):
    """GPT-2's linear layer: the weight is stored [in, out] (the checkpoint layout), y = x @ W + b.

    For a single row (a decode step at batch 1) the product is split over the inputs, one contiguous block of
    weight rows per thread (a batched matmul), and the partial sums are added: the weights stay as loaded, and each
    thread streams its block. On two cores that took GPT-2 124M from 35 to 26 ms per token; oneDNN's matmul
    reorders an [in, out] weight on every call, and PyTorch's own for one row runs on one core."""

    def __init__(self, out_features: int, in_features: int):
        super().__init__()
        self.nf = out_features
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        shape = x.shape[:-1] + (self.nf,)
        flat = x.reshape(-1, x.shape[-1])
        one_row = flat.shape[0] == 1 and self.weight.is_contiguous() and not compiling()
        blocks = _row_blocks(self.weight.shape[0]) if one_row else 1
        if blocks == 1:
            return linear(flat, self.weight.t(), self.bias).view(shape)
        width = self.weight.shape[0] // blocks
        parts = torch.bmm(flat.reshape(blocks, 1, width), self.weight.view(blocks, width, self.nf))
        return (parts.sum(0) + self.bias).view(shape)

    def extra_repr(self) -> str:
        return f"nf={self.nf}, nx={self.weight.shape[0]}"


def _row_blocks(rows: int) -> int:
    """How many blocks of weight rows a one-row product splits into: one per thread, as many as divide `rows`."""
    threads = torch.get_num_threads()
    return next(n for n in range(min(threads, rows), 0, -1) if rows % n == 0)


class FeedForward(nn.Module):
    """down(act(up(x))), with dropout on the result: the two-projection feed-forward block of GPT-2-style decoders
    and CLIP-style encoders. `names` spell the two projections as the family's checkpoint keys do (`fc1`/`fc2`,
    `c_fc`/`c_proj`, `dense_h_to_4h`/`dense_4h_to_h`, ...); `project(in, out, bias)` makes them (GPT-2 passes its
    Conv1D)."""

    def __init__(self, hidden_size: int, intermediate_size: int, act, *, names=("fc1", "fc2"), bias: bool = True,
                 dropout: float = 0.0, project=linear_layer):
        super().__init__()
        self.names = names
        self.add_module(names[0], project(hidden_size, intermediate_size, bias))
        self.add_module(names[1], project(intermediate_size, hidden_size, bias))
        self.act = activation(act)
        self.dropout = dropout

    def forward(self, x):
        up, down = self.names
        x = self._modules[down](self.act(self._modules[up](x)))
        return F.dropout(x, self.dropout, True) if self.training and self.dropout else x


class GatedMLP(nn.Module):
    """down(act(gate(x)) * up(x)): the feed-forward block of Llama-style decoders. With `fused` the gate and up
    projections are one `gate_up_proj` (Phi-3's checkpoint layout: the gate rows first), one matmul instead of two."""

    shared_input = (("gate_proj", "up_proj"),)  # (see project)

    def __init__(self, hidden_size: int, intermediate_size: int, act="silu", bias: bool = False, fused: bool = False):
        super().__init__()
        if fused:
            self.gate_up_proj = linear_layer(hidden_size, 2 * intermediate_size, bias=bias)
        else:
            self.gate_proj = linear_layer(hidden_size, intermediate_size, bias=bias)
            self.up_proj = linear_layer(hidden_size, intermediate_size, bias=bias)
        self.down_proj = linear_layer(intermediate_size, hidden_size, bias=bias)
        self.act_fn = activation(act)
        self.fused = fused

    def forward(self, x):
        if self.fused:
            gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
            return self.down_proj(up * self.act_fn(gate))
        gate, up = project(x, self.gate_proj, self.up_proj)
        return self.down_proj(self.act_fn(gate) * up)


class PerHeadLayerNorm(nn.Module):
    """A LayerNorm (no bias) of its own for each head of [batch, heads, seq, head_dim] states (StableLM 2's q/k
    norms; the checkpoint keeps one `norms.<head>.weight` each)."""

    def __init__(self, head_dim: int, heads: int, eps: float = 1e-5):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(head_dim, eps=eps, bias=False) for _ in range(heads))
        self.eps = eps

    def forward(self, x):
        weight = torch.stack([norm.weight for norm in self.norms])[:, None, :]  # [heads, 1, head_dim]
        # (the shape from the module, not from x: an ONNX trace needs it constant)
        return F.layer_norm(x, self.norms[0].normalized_shape, eps=self.eps) * weight.to(x.dtype)


# mixture of experts -----------------------------------------------------------------------------------------------


class Expert(nn.Module):
    """One expert of a sparse mixture: w2(act(w1(x)) * w3(x)) (Mixtral's names for gate, down and up)."""

    shared_input = (("w1", "w3"),)  # (see project)

    def __init__(self, hidden_size: int, intermediate_size: int, act="silu"):
        super().__init__()
        self.w1 = linear_layer(hidden_size, intermediate_size, bias=False)
        self.w2 = linear_layer(intermediate_size, hidden_size, bias=False)
        self.w3 = linear_layer(hidden_size, intermediate_size, bias=False)
        self.act_fn = activation(act)

    def forward(self, x):
        gate, up = project(x, self.w1, self.w3)
        return self.w2(self.act_fn(gate) * up)


class SparseMoE(nn.Module):
    """A sparse mixture of experts (Mixtral's `block_sparse_moe`): the router `gate` scores every expert for each
    token, the `top_k` best run on it and their outputs are summed, weighted by the router's softmax renormalised
    over the chosen ones. Returns (output, router logits [tokens, experts]).

    Tokens are grouped by expert once (a sort and one count read back per layer), so each chosen expert runs a
    single matmul over its tokens; experts no token chose are skipped."""

    def __init__(self, hidden_size: int, intermediate_size: int, num_experts: int, top_k: int, act="silu",
                 jitter_noise: float = 0.0):
        super().__init__()
        if not 0 < top_k <= num_experts:
            raise ValueError(f"num_experts_per_tok ({top_k}) must be between 1 and num_local_experts "
                             f"({num_experts}): each token is routed to that many of the experts.")
        self.gate = linear_layer(hidden_size, num_experts, bias=False)
        self.experts = nn.ModuleList(Expert(hidden_size, intermediate_size, act) for _ in range(num_experts))
        self.top_k, self.jitter_noise = top_k, jitter_noise

    def forward(self, x):
        shape = x.shape
        if self.training and self.jitter_noise > 0:
            x = x * torch.empty_like(x).uniform_(1.0 - self.jitter_noise, 1.0 + self.jitter_noise)
        flat = x.reshape(-1, shape[-1])
        router_logits = self.gate(flat)
        weights, chosen = torch.topk(F.softmax(router_logits, dim=1, dtype=torch.float), self.top_k, dim=-1)
        weights = (weights / weights.sum(dim=-1, keepdim=True)).to(x.dtype).flatten()
        chosen = chosen.flatten()  # (token, rank) pairs, rank-major within a token
        order = chosen.argsort(stable=True)
        counts = torch.bincount(chosen, minlength=len(self.experts)).tolist()
        out = torch.zeros_like(flat)
        start = 0
        for expert, count in zip(self.experts, counts):
            if count:
                pairs = order[start:start + count]
                tokens = pairs // self.top_k
                out.index_add_(0, tokens, expert(flat[tokens]) * weights[pairs, None])
                start += count
        return out.view(shape), router_logits


def load_balancing_loss(router_logits: tuple, num_experts: int, top_k: int, attention_mask=None) -> torch.Tensor:
    """The auxiliary loss that keeps a mixture's routing balanced (Switch Transformer's): the number of experts times
    the sum over experts of (share of token slots routed to it) x (mean router probability it gets), over every
    layer's router logits; padding tokens (0 in `attention_mask` [batch, seq]) do not count."""
    logits = torch.cat([layer.to(router_logits[0].device) for layer in router_logits], dim=0)
    probs = F.softmax(logits, dim=-1)
    _, chosen = torch.topk(probs, top_k, dim=-1)
    routed = F.one_hot(chosen, num_experts).float()  # [layers * tokens, top_k, experts]
    if attention_mask is None:
        slots, mean_probs = routed.mean(0), probs.mean(0)
    else:
        layers = logits.shape[0] // attention_mask.numel()
        real = attention_mask.to(logits.device).reshape(1, -1).expand(layers, -1).reshape(-1, 1).float()
        slots = (routed * real[:, :, None]).sum(0) / real.sum(0)[:, None]
        mean_probs = (probs * real).sum(0) / real.sum(0)
    return (slots * mean_probs[None]).sum() * num_experts


# rotary position embeddings ---------------------------------------------------------------------------------------

def rope_frequencies(dim: int, base: float, max_position_embeddings: int, scaling: dict | None = None,
                     seq_len=None, device=None, trained_length: int | None = None) -> tuple[torch.Tensor, float]:
    """Inverse frequencies [dim // 2] (float32) of a rotary embedding and the factor its cos/sin are scaled by.

    `seq_len` (dynamic NTK and LongRoPE) is the sequence length the frequencies are for. `trained_length` is a
    config's top-level `original_max_position_embeddings` (Phi-3's way of giving LongRoPE its factor)."""
    kind = rope_type(scaling)
    exponents = torch.arange(0, dim, 2, dtype=torch.int64, device=device).float() / dim
    inv_freq = 1.0 / (base ** exponents)
    if kind == "default":
        return inv_freq, 1.0
    if kind == "longrope":
        return _longrope(exponents, base, max_position_embeddings, scaling, seq_len, trained_length)
    factor = scaling["factor"]
    if kind == "linear":
        return inv_freq / factor, 1.0
    if kind == "dynamic":
        length = torch.tensor(max(seq_len or 0, max_position_embeddings), dtype=torch.int64)
        stretched = base * ((factor * length / max_position_embeddings) - (factor - 1)) ** (dim / (dim - 2))
        return 1.0 / (stretched.to(device) ** exponents), 1.0
    if kind == "llama3":
        context = scaling["original_max_position_embeddings"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        wavelength = 2 * math.pi / inv_freq
        scaled = torch.where(wavelength > context / low, inv_freq / factor, inv_freq)
        smooth = (context / wavelength - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        middle = (wavelength >= context / high) & (wavelength <= context / low)
        return torch.where(middle, blended, scaled), 1.0
    # yarn: interpolate the low frequencies, keep the high ones, ramp between; scale attention up a little
    context = scaling.get("original_max_position_embeddings") or max_position_embeddings
    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        def mscale(scale, m=1.0):
            return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0
        m, m_all = scaling.get("mscale"), scaling.get("mscale_all_dim")
        attention_factor = float(mscale(factor, m) / mscale(factor, m_all)) if m and m_all else mscale(factor)
    fast, slow = scaling.get("beta_fast") or 32, scaling.get("beta_slow") or 1

    def dim_for(rotations):  # the dimension index completing `rotations` turns over the original context
        return dim * math.log(context / (rotations * 2 * math.pi)) / (2 * math.log(base))

    lo, hi = dim_for(fast), dim_for(slow)
    if scaling.get("truncate", True):
        lo, hi = math.floor(lo), math.ceil(hi)
    lo, hi = max(lo, 0), min(hi, dim - 1)
    if lo == hi:
        hi += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - lo) / (hi - lo)).clamp(0, 1).to(device)
    positions = base ** (torch.arange(0, dim, 2, device=device).float() / dim)
    keep = 1 - ramp
    return (1.0 / (factor * positions)) * (1 - keep) + (1.0 / positions) * keep, attention_factor


def _longrope(exponents, base, max_position_embeddings, scaling, seq_len, trained_length):
    """LongRoPE: one rescaling factor per frequency, the short list within the trained length and the long list
    past it; cos/sin grow by sqrt(1 + ln(factor) / ln(trained length)) unless `attention_factor` is given."""
    if trained_length:
        factor = max_position_embeddings / trained_length
    else:
        trained_length, factor = max_position_embeddings, scaling.get("factor") or 1.0
    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(trained_length))
    stretch = scaling["long_factor"] if seq_len and seq_len > trained_length else scaling["short_factor"]
    stretch = torch.tensor(stretch, dtype=torch.float32, device=exponents.device)
    if stretch.shape != exponents.shape:
        raise ValueError(f"rope_scaling's short_factor and long_factor need {exponents.numel()} numbers each (half "
                         f"the rotary dimension), got {stretch.numel()}.")
    return 1.0 / (stretch * base ** exponents), attention_factor


class RotaryEmbedding(nn.Module):
    """cos/sin of rotary embeddings for the positions in use, computed in float32 from `inv_freq`."""

    def __init__(self, dim: int, base: float = 10000.0, max_position_embeddings: int = 2048,
                 scaling: dict | None = None, trained_length: int | None = None):
        super().__init__()
        self.dim, self.base, self.scaling, self.trained_length = dim, base, scaling, trained_length
        self.rope_type = rope_type(scaling)
        self.original_max_seq_len = self.max_seq_len_cached = max_position_embeddings
        if torch.get_default_device().type == "meta":  # a loading skeleton: materialize_buffers computes them
            # (computing on meta routes through torch._refs, whose first use imports torch._dynamo: ~1 s)
            self._set(torch.empty(dim // 2), 1.0)
        else:
            self._set(*rope_frequencies(dim, base, max_position_embeddings, scaling, trained_length=trained_length))

    def _set(self, inv_freq, attention_scaling) -> None:
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.original_inv_freq = inv_freq
        self.attention_scaling = attention_scaling

    def materialize_buffers(self) -> None:
        self._set(*rope_frequencies(self.dim, self.base, self.original_max_seq_len, self.scaling, device="cpu",
                                    trained_length=self.trained_length))
        self.max_seq_len_cached = self.original_max_seq_len
        self.__dict__.pop("_long_inv_freq", None)

    def _dynamic_update(self, position_ids) -> None:
        """Dynamic NTK: stretch the frequencies past the trained length, go back to them below it."""
        seq_len = int(position_ids.max()) + 1
        if seq_len > self.max_seq_len_cached:
            inv_freq, _ = rope_frequencies(self.dim, self.base, self.original_max_seq_len, self.scaling, seq_len,
                                           device=self.inv_freq.device)
            self.register_buffer("inv_freq", inv_freq, persistent=False)
            self.max_seq_len_cached = seq_len
        if seq_len < self.original_max_seq_len < self.max_seq_len_cached:
            self.register_buffer("inv_freq", self.original_inv_freq.to(self.inv_freq.device), persistent=False)
            self.max_seq_len_cached = self.original_max_seq_len

    def _longrope_update(self, position_ids) -> None:
        """LongRoPE: the long factors once positions pass the trained length, the short ones below it."""
        trained = self.trained_length or self.original_max_seq_len
        if int(position_ids.max()) + 1 > trained:
            if "_long_inv_freq" not in self.__dict__:
                self._long_inv_freq, _ = rope_frequencies(self.dim, self.base, self.original_max_seq_len, self.scaling,
                                                          trained + 1, self.inv_freq.device, self.trained_length)
            self.register_buffer("inv_freq", self._long_inv_freq.to(self.inv_freq.device), persistent=False)
        else:
            self.register_buffer("inv_freq", self.original_inv_freq.to(self.inv_freq.device), persistent=False)

    @torch.no_grad()
    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype,
                interleaved: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """The tables `apply_rotary` takes for `position_ids` [batch, seq]: cos and signed sin [batch, seq, dim],
        cast to `dtype`. The rotated pairs are (i, i + dim/2) (Llama's layout), or (2i, 2i + 1) with `interleaved`
        (GPT-J/CodeGen's); the sin of the first element of each pair is negated (the rotation's sign)."""
        if self.rope_type == "dynamic":
            self._dynamic_update(position_ids)
        elif self.rope_type == "longrope":
            self._longrope_update(position_ids)
        freqs = position_ids[..., None].float() * self.inv_freq.float()
        cos, sin = freqs.cos(), freqs.sin()
        if self.attention_scaling != 1.0:
            cos, sin = cos * self.attention_scaling, sin * self.attention_scaling
        if interleaved:
            cos, sin = cos.repeat_interleave(2, dim=-1), torch.stack((-sin, sin), dim=-1).flatten(-2)
        else:
            cos, sin = torch.cat((cos, cos), dim=-1), torch.cat((-sin, sin), dim=-1)
        return cos.to(dtype), sin.to(dtype)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor,
                 interleaved: bool = False) -> torch.Tensor:
    """Rotate `x` by the tables of `RotaryEmbedding` (broadcastable to it): each pair (a, b) of dims becomes
    (a cos - b sin, b cos + a sin); pairs are (i, i + d/2), or (2i, 2i + 1) when `interleaved`. Tables narrower
    than `x` (partial rotary) rotate its first dims and pass the rest through."""
    rotated = cos.shape[-1]
    if rotated != x.shape[-1]:
        return torch.cat((apply_rotary(x[..., :rotated], cos, signed_sin, interleaved), x[..., rotated:]), dim=-1)
    if interleaved:
        swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)
    else:
        swapped = x.roll(x.shape[-1] // 2, dims=-1)
    return x * cos + swapped * signed_sin


# causal masks -----------------------------------------------------------------------------------------------------


def relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool = True, num_buckets: int = 32,
                             max_distance: int = 128) -> torch.Tensor:
    """The bucket of each (key position - query position), as T5 and CPM-Ant read their relative-position tables.
    Half of the buckets (of each direction, when bidirectional) hold one distance each, the rest log-spaced distances
    up to `max_distance`, the last everything beyond. Causal buckets count keys before the query only (later keys
    fall in bucket 0)."""
    buckets = 0
    if bidirectional:
        num_buckets //= 2
        buckets = (relative_position > 0).long() * num_buckets
        distance = relative_position.abs()
    else:
        distance = (-relative_position).clamp(min=0)
    exact = num_buckets // 2
    far = exact + (torch.log(distance.clamp(min=exact).float() / exact) / math.log(max_distance / exact)
                   * (num_buckets - exact)).long()
    return buckets + torch.where(distance < exact, distance, far.clamp(max=num_buckets - 1))


class RowLayout:
    """How a forward's sequences sit in a cache that holds several independent ones (`SlotCache`), for the masks.

    `segments` [keys]: when several sequences are packed into one row, the sequence of each position (a query sees
    only keys of its own sequence). `query_positions` [batch, queries]: when rows hold sequences of different
    lengths, the cache index of each row's new tokens (causality and sliding windows count from there, not from the
    shared `cache_position`)."""

    __slots__ = ("segments", "query_positions")

    def __init__(self, segments: torch.Tensor | None = None, query_positions: torch.Tensor | None = None):
        self.segments, self.query_positions = segments, query_positions


def causal_mask(attention_mask, cache_position, kv_length: int, dtype, window: int | None = None,
                stacked: bool = False, layout: RowLayout | None = None) -> torch.Tensor:
    """An additive mask [batch or 1, 1, queries, keys]: key j is visible to the query at position p when j <= p,
    p - j < window (if set) and attention_mask[:, j] is 1; hidden keys get the dtype's minimum. A `layout` (see
    RowLayout) gives each row its own query positions, or keeps packed sequences apart.

    `stacked` adds the causal mask to the full one (keys after the query get -inf): then a query that sees no real
    key (left padding) spreads its attention over the keys up to itself rather than over all keys. Only such padding
    rows differ; GPT-2's reference computes them that way."""
    keys = torch.arange(kv_length, device=cache_position.device)
    queries = cache_position[:, None]
    if layout is not None and layout.query_positions is not None:
        queries = layout.query_positions[:, :, None]  # [batch, queries, 1]
    visible = keys <= queries
    if window is not None:
        visible = visible & (keys > queries - window)
    if layout is not None and layout.segments is not None:
        segments = layout.segments
        visible = visible & (segments[None, :] == segments[-cache_position.shape[0]:, None])
    visible = visible[:, None] if visible.dim() == 3 else visible[None, None]
    zero, low = torch.zeros((), dtype=dtype, device=visible.device), torch.finfo(dtype).min
    if attention_mask is None:
        return torch.where(visible, zero, low)
    pad = attention_mask[:, :kv_length].bool()
    if pad.shape[1] < kv_length:  # a static cache's unwritten tail
        pad = F.pad(pad, (0, kv_length - pad.shape[1]), value=False)
    full = torch.where(visible & pad[:, None, None, :], zero, low)
    return full + torch.where(visible, zero, low) if stacked else full


class CausalMasks:
    """The masks of one forward pass, built once and shared by the layers (one per sliding window size).

    Calling it gives (additive mask or None, is_causal): None with is_causal=False means every key is visible (a
    decode step without padding); None with is_causal=True means plain causal attention over a fresh sequence."""

    def __init__(self, attention_mask, cache_position, query_length: int, kv_length: int, dtype,
                 past_length: int | None, stacked: bool = False, layout: RowLayout | None = None):
        if attention_mask is not None and attention_mask.dim() != 2:
            raise ValueError(f"attention_mask should be [batch, past + current tokens] of 0/1, got shape "
                             f"{list(attention_mask.shape)}.")
        # nothing padded: no mask (SDPA's causal fast path, no mask add per layer). Reading the mask is free on the
        # CPU; on accelerators a decode step skips the check rather than wait for the device.
        if attention_mask is not None and (query_length > 1 or attention_mask.device.type == "cpu") \
                and not compiling() and bool(attention_mask.all()):
            attention_mask = None
        self.attention_mask = attention_mask
        self.cache_position = cache_position
        self.query_length, self.kv_length, self.dtype, self.stacked = query_length, kv_length, dtype, stacked
        self.layout = layout  # sequences of a SlotCache (see causal_mask): never the plain causal fast path
        # every key written so far is a past or current token (no static-cache slots ahead)
        self.dense = past_length is not None and kv_length == past_length + query_length
        self.fresh = self.dense and past_length == 0
        self._built: dict = {}

    def __call__(self, window: int | None = None, always: bool = False):
        if window is not None and window >= self.kv_length:
            window = None  # the window reaches every key anyway
        if not always and window is None and self.attention_mask is None and self.dense and self.layout is None:
            if self.query_length == 1:
                return None, False
            if self.fresh:
                return None, True
        if window not in self._built:
            self._built[window] = causal_mask(self.attention_mask, self.cache_position, self.kv_length, self.dtype,
                                              window, self.stacked, self.layout)
        return self._built[window], False


# attention --------------------------------------------------------------------------------------------------------


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """[batch, kv_heads, seq, dim] -> [batch, kv_heads * groups, seq, dim], each kv head repeated `groups` times."""
    if groups == 1:
        return x
    batch, heads, length, dim = x.shape
    return x[:, :, None].expand(batch, heads, groups, length, dim).reshape(batch, heads * groups, length, dim)


def _sdpa_decodes(k: torch.Tensor, heads: int) -> bool:
    """Whether SDPA beats the grouped matmul for one query per row over keys `k` [batch, kv_heads, length, dim].
    Measured on two AVX2 cores (torch 2.13): SDPA, which needs no reshaping, wins up to 64-wide heads at any length
    and up to 2^16 cached key elements otherwise; beyond that the matmul does (1.4x at 8 x 128-wide heads x 512)."""
    return (k.shape[1] == heads or _SDPA_GQA) and (k.shape[-1] <= 64 or k.numel() <= 1 << 16)


def causal_attention(q, k, v, mask=None, *, scaling: float, is_causal: bool = False, dropout: float = 0.0,
                     need_weights: bool = False, head_mask=None, softmax_dtype=torch.float32,
                     softcap: float | None = None):
    """Attention of queries [batch, heads, q_len, dim] over keys/values [batch, kv_heads, k_len, dim] (the cache
    already applied; heads a multiple of kv_heads), with an additive `mask` broadcastable to
    [batch, heads, q_len, k_len] (padding, causality, ALiBi...). Returns ([batch, q_len, heads * dim], weights).
    With `softcap` (Gemma 2) the scaled scores are squashed to (-softcap, softcap) by tanh before the mask.

    Three paths: explicit weights when they are asked for (or a head mask or a softcap is given); for a single query
    (a decode step) over a large cache of wide heads, a matmul that groups the query heads of each kv head, so keys
    are never copied; otherwise SDPA (see `_sdpa_decodes`).

    Keys and values may have fewer rows than the queries (never with `is_causal`): each key row then serves
    `q rows / k rows` consecutive query rows, as one input's encoder states serve all its beams, read once."""
    batch, heads, q_len, dim = q.shape
    if k.shape[0] != batch:
        return _shared_rows_attention(q, k, v, mask, scaling=scaling, dropout=dropout, need_weights=need_weights,
                                      head_mask=head_mask, softmax_dtype=softmax_dtype, softcap=softcap)
    kv_heads = k.shape[1]
    if need_weights or head_mask is not None or (softcap and q_len > 1):
        k, v = repeat_kv(k, heads // kv_heads), repeat_kv(v, heads // kv_heads)
        scores = q @ k.transpose(-1, -2)
        if scaling != 1.0:  # (T5 does not scale)
            scores = scores * scaling
        if softcap:
            scores = torch.tanh(scores / softcap) * softcap
        if is_causal:
            mask = torch.full((q_len, k.shape[2]), torch.finfo(scores.dtype).min, dtype=scores.dtype,
                              device=scores.device).triu(1)
        if mask is not None:
            scores = scores + mask
        weights = scores.softmax(-1, dtype=softmax_dtype).to(q.dtype) if softmax_dtype else scores.softmax(-1)
        if dropout:
            weights = F.dropout(weights, dropout)
        if head_mask is not None:
            weights = weights * head_mask
        out = weights @ v
    elif q_len == 1 and (softcap or not _sdpa_decodes(k, heads)):
        group = heads // kv_heads
        scores = q.reshape(batch, kv_heads, group, dim) @ k.transpose(-1, -2)
        if scaling != 1.0:
            scores = scores * scaling
        if softcap:
            scores = torch.tanh(scores / softcap) * softcap
        if mask is not None:
            scores = scores + (mask.reshape(mask.shape[0], kv_heads, group, -1) if mask.shape[1] > 1
                               else mask.reshape(mask.shape[0], 1, 1, -1))
        weights = scores.softmax(-1, dtype=softmax_dtype) if softmax_dtype else scores.softmax(-1)
        if weights.dtype != v.dtype:
            weights = weights.to(v.dtype)
        if dropout:
            weights = F.dropout(weights, dropout)
        return (weights @ v).reshape(batch, 1, heads * dim), None
    else:
        weights = None
        if kv_heads == heads or _SDPA_GQA:
            gqa = {"enable_gqa": True} if kv_heads != heads else {}
        else:
            k, v, gqa = repeat_kv(k, heads // kv_heads), repeat_kv(v, heads // kv_heads), {}
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal,
                                             scale=scaling, **gqa)
    return out.transpose(1, 2).reshape(batch, q_len, heads * dim), (weights if need_weights else None)


def keys_values(project, x, layer_idx: int, cache=None, cache_position=None, cross=None):
    """The keys and values [batch, heads, seq, head_dim] a decoder layer attends to: for cross-attention the
    encoder's (`cross`, a seq2seq.Cross: projected once, then cached), otherwise `x`'s own, appended to the cache
    when there is one. `project(states)` gives the keys and values of `states`."""
    if cross is not None:
        return cross.kv(layer_idx, project)
    k, v = project(x)
    if cache is not None:
        k, v = cache.update(k, v, layer_idx, {"cache_position": cache_position})
    return k, v


class Attention(nn.Module):
    """Multi-head attention with `q_proj`, `k_proj`, `v_proj` and `out_proj` projections (BART's layout, shared by
    the families built like it): self-attention, cached when given a cache, or cross-attention over an encoder's
    output (`cross`, a seq2seq.Cross, which computes each layer's keys and values once and caches them).

    Scores are scaled by `scaling` (1/sqrt(head_dim) unless given); `mask` is additive, broadcastable to
    [batch, heads, queries, keys]."""

    shared_input = (("q_proj", "k_proj", "v_proj"),)  # (self-attention's; see project)

    def __init__(self, hidden_size: int, num_heads: int, *, bias: bool = True, key_bias: bool | None = None,
                 layer_idx: int | None = None, dropout: float = 0.0, scaling: float | None = None):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"The hidden size ({hidden_size}) is not a multiple of the number of attention heads "
                             f"({num_heads}).")
        self.num_heads, self.head_dim = num_heads, hidden_size // num_heads
        self.scaling = self.head_dim ** -0.5 if scaling is None else scaling
        self.layer_idx, self.dropout = layer_idx, dropout
        self.k_proj = linear_layer(hidden_size, hidden_size, bias=bias if key_bias is None else key_bias)
        self.v_proj = linear_layer(hidden_size, hidden_size, bias=bias)
        self.q_proj = linear_layer(hidden_size, hidden_size, bias=bias)
        self.out_proj = linear_layer(hidden_size, hidden_size, bias=bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], -1, self.head_dim).transpose(1, 2)

    def project_kv(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values [batch, heads, seq, head_dim] of `states`."""
        return self._heads(self.k_proj(states)), self._heads(self.v_proj(states))

    def forward(self, x, mask=None, *, cache=None, cache_position=None, cross=None, is_causal: bool = False,
                need_weights: bool = False, head_mask=None):
        if cross is None:  # (one kernel call for the three once quantized)
            q, k, v = map(self._heads, project(x, self.q_proj, self.k_proj, self.v_proj))
            if cache is not None:
                k, v = cache.update(k, v, self.layer_idx, {"cache_position": cache_position})
        else:
            q, (k, v) = self._heads(self.q_proj(x)), cross.kv(self.layer_idx, self.project_kv)
        out, weights = causal_attention(q, k, v, mask, scaling=self.scaling, is_causal=is_causal,
                                        dropout=self.dropout if self.training else 0.0, need_weights=need_weights,
                                        head_mask=head_mask, softmax_dtype=None)
        return self.out_proj(out), weights


def _shared_rows_attention(q, k, v, mask, **options):
    """causal_attention for queries in groups of consecutive rows that share one row of keys and values: each
    group's queries are stacked as one row's queries, attended, and split back."""
    batch, heads, q_len, dim = q.shape
    rows = k.shape[0]
    if batch % rows:
        raise ValueError(f"Attention got {batch} rows of queries for {rows} rows of keys; the query rows must be a "
                         f"whole multiple (the beams or returned sequences of each input).")
    group = batch // rows
    q = q.view(rows, group, heads, q_len, dim).transpose(1, 2).reshape(rows, heads, group * q_len, dim)
    if mask is not None:
        if mask.shape[0] == batch and rows != batch:
            mask = mask[::group]
        if mask.shape[-2] == q_len and q_len > 1:
            mask = mask.repeat(1, 1, group, 1)
    out, weights = causal_attention(q, k, v, mask, **options)
    out = out.view(rows, group, q_len, -1).reshape(batch, q_len, -1)
    if weights is not None:
        weights = weights.view(rows, heads, group, q_len, -1).transpose(1, 2).reshape(batch, heads, q_len, -1)
    return out, weights
