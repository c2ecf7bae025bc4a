"""GPTQ: its checkpoint layout (read and written; AWQ's GEMM layout, read) and its calibration, run by
`from_pretrained(..., quantization_config=GPTQConfig(bits=4, dataset=[...texts...], tokenizer=tokenizer))`.

Calibration quantizes a loaded float model block by block. The calibration texts run up to the first block of the
model's layer stack, whose inputs (hidden states and everything else the block is called with: masks, rotary
angles...) are kept. For each block, hooks add up every linear layer's Hessian H = 2 X^T X / n over the real
(non-padding) tokens it sees; each layer's weight is then rounded to 4 bits column by column (in descending diag(H)
order with `desc_act`), each column's rounding error spread over the columns not yet rounded through the Cholesky
factor of the damped inverse Hessian. The quantized block runs again on the kept inputs to give the next block's.
Embeddings and the output layer stay in full precision, as GPTQ leaves them.

The float model stays in memory until the end (as the reference's calibration keeps it); calibration costs a few
forward passes of the calibration texts per block, and a short Python loop per weight column.

Rounding grid: 16 levels per group of `group_size` input columns, with an integer zero point (GPTQ's layout); `sym`
fixes the zero point at 8 (levels symmetric about zero, as GPTQ defines it). Each group's range is the one of
several clipped ranges (as in henkan's round-to-nearest int4) whose rounding error is least, as GPTQ's own `mse`
grid search does. Scales are rounded to bfloat16, so that they survive both the float16 of a GPTQ checkpoint and
the bfloat16 of the kernel unchanged: a saved model reloads to identical outputs.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from ..layers import Conv1D
from ..logging import get_logger
from .layers import _SHRINKS, QuantLinear, pack_nibbles, unpack_nibbles

logger = get_logger(__name__)

_MIN_SCALE = 2.0 ** -16  # below this a bfloat16 scale loses bits in float16 (subnormal)
_SHIFTS = torch.arange(0, 32, 4, dtype=torch.int32)


# the checkpoint layout --------------------------------------------------------------------------------------------
def gptq_to_saved(parts: dict, module: QuantLinear, scheme, name: str):
    """GPTQ's packed int4 (qweight [in/8, out] and qzeros [groups, out/8] int32, eight 4-bit values per word from
    the low bits up; scales [groups, out]; g_idx [in], the group of each input column) -> the saved form, input
    columns in group order, and that order (None when it is the natural one). The "gptq" format stores zero - 1."""
    qweight, qzeros, scales = parts["qweight"], parts["qzeros"], parts["scales"]
    k, n, group = module.in_features, module.out_features, scheme.group_size
    groups = k // group
    _check_shapes("GPTQ", name, parts, {"qweight": (k // 8, n), "qzeros": (groups, n // 8), "scales": (groups, n)},
                  k, n, group)
    q = ((qweight.to(torch.int32)[:, None, :] >> _SHIFTS[None, :, None]) & 15).reshape(k, n)
    zeros = ((qzeros.to(torch.int32)[:, :, None] >> _SHIFTS) & 15).reshape(groups, n)
    if scheme.packed == "gptq":
        zeros = zeros + 1
    g_idx = parts.get("g_idx")
    g_idx = torch.arange(k) // group if g_idx is None else g_idx.long()
    if g_idx.shape != (k,) or g_idx.min() < 0 or g_idx.max() >= groups or \
            not bool((torch.bincount(g_idx, minlength=groups) == group).all()):
        raise RuntimeError(f"GPTQ tensor {name}.g_idx does not put {group} input columns in each of {groups} groups; "
                           f"the checkpoint is damaged or its group_size is wrong.")
    return _saved_form(q, zeros, scales.float(), g_idx)


_AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)  # the output (of each eight) held by bits 4j..4j+3 of an AWQ word


def awq_to_saved(parts: dict, module: QuantLinear, scheme, name: str):
    """AWQ's GEMM layout (qweight [in, out/8] and qzeros [groups, out/8] int32, eight 4-bit values per word along
    the outputs, bits 4j..4j+3 holding output 8w + _AWQ_ORDER[j]; scales [groups, out]; groups of consecutive input
    columns; w = (q - zero) * scale) -> the saved form (and no column order)."""
    k, n, group = module.in_features, module.out_features, scheme.group_size
    groups = k // group
    _check_shapes("AWQ", name, parts, {"qweight": (k, n // 8), "qzeros": (groups, n // 8), "scales": (groups, n)},
                  k, n, group)
    order = torch.tensor(_AWQ_ORDER)

    def unpack(words: torch.Tensor) -> torch.Tensor:  # [rows, n / 8] -> [rows, n] in output order
        nibbles = (words.to(torch.int32)[..., None] >> _SHIFTS) & 15
        values = torch.empty_like(nibbles)
        values[..., order] = nibbles
        return values.reshape(words.shape[0], n)

    return _saved_form(unpack(parts["qweight"]), unpack(parts["qzeros"]), parts["scales"].float(),
                       torch.arange(k) // group)


def _check_shapes(kind: str, name: str, parts: dict, expect: dict, k: int, n: int, group: int) -> None:
    for part, shape in expect.items():
        if tuple(parts[part].shape) != shape:
            raise RuntimeError(f"{kind} tensor {name}.{part} has shape {list(parts[part].shape)}, expected "
                               f"{list(shape)} for a {k} -> {n} layer with group_size {group}; check "
                               f"quantization_config in config.json.")


def _saved_form(q: torch.Tensor, zeros: torch.Tensor, scales: torch.Tensor, g_idx: torch.Tensor):
    """GPTQ's logical tensors (q [in, out] in [0, 15], integer zero points and scales [groups, out], g_idx [in]) ->
    (henkan's saved form, the input columns in group order or None when natural): w = (q - 8) * scale + zero with
    zero = scale * (8 - zero point)."""
    perm = torch.argsort(g_idx, stable=True)
    natural = bool((perm == torch.arange(len(perm))).all())
    q = q[perm].T.contiguous().to(torch.uint8)
    scale = scales.T.contiguous()
    zero = scale * (8 - zeros.float().T)
    return {"weight": pack_nibbles(q), "weight_scale": scale, "weight_zero": zero}, None if natural else perm


def saved_to_gptq(saved: dict, perm: torch.Tensor | None, group: int) -> dict:
    """henkan's saved int4 form (whose offsets are whole steps, as calibration makes them) -> GPTQ's "gptq" (v1)
    checkpoint tensors, which other GPTQ loaders read: the inverse of `gptq_to_saved`."""
    q = unpack_nibbles(saved["weight"]).to(torch.int32)  # [out, in], columns in group order
    scale, zero = saved["weight_scale"].float(), saved["weight_zero"].float()
    out, k = q.shape
    points = torch.round(8 - zero / scale).to(torch.int32)  # [out, groups]
    g_idx = torch.arange(k, dtype=torch.int32) // group
    if perm is not None:
        original = torch.empty_like(q)
        original[:, perm] = q
        q, g_idx = original, g_idx[torch.argsort(perm)]
    stored = (points - 1).T  # [groups, out]: v1 stores the zero point minus one
    return {"qweight": _words(q.T.reshape(k // 8, 8, out).transpose(1, 2)),
            "qzeros": _words(stored.reshape(-1, out // 8, 8)), "scales": scale.T.contiguous().half(), "g_idx": g_idx}


def _words(nibbles: torch.Tensor) -> torch.Tensor:
    """[..., 8] values in [0, 15] -> int32 words, the first value in the lowest bits."""
    word = (nibbles.long() << _SHIFTS.long()).sum(-1)
    return torch.where(word >= 2 ** 31, word - 2 ** 32, word).to(torch.int32)


# calibration ------------------------------------------------------------------------------------------------------
class _Stop(Exception):
    """Raised by a hook when the rest of a forward pass is not needed (past the first block's inputs, or past the
    layers a true-sequential step quantizes)."""


@torch.no_grad()
def calibrate(model, config, scheme, skip) -> dict[str, QuantLinear]:
    """Quantize `model`'s blocks in place with GPTQ (see the module doc) and return the new layers by name (still in
    the saved form). `config` is the GPTQConfig, `scheme` henkan's Scheme of it, `skip(name)` whether a layer named
    in `modules_to_not_convert` stays in full precision."""
    model.eval()
    batches = calibration_batches(config, model)
    stack, blocks = find_blocks(model, config.block_name_to_quantize)
    inputs = _first_block_inputs(model, blocks[0], batches)
    masks = [batch["attention_mask"].bool() if not batch["attention_mask"].all() else None for batch in batches]
    tokens = sum(int(batch["attention_mask"].sum()) for batch in batches)
    quantized = {}
    for index, block in enumerate(blocks):
        prefix = f"{stack}.{index}."
        pending = {name: module for name, module in block.named_modules()
                   if isinstance(module, (nn.Linear, Conv1D)) and _eligible(prefix + name, module, scheme, skip)}
        widest = max((_shape(module)[0] for module in pending.values()), default=0)
        if index == 0 and tokens < widest:
            logger.warning(f"GPTQ calibration has {tokens} tokens, fewer than the {widest} inputs of this model's "
                           f"widest layer: the rounding then fits these texts at the expense of other text, and can "
                           f"do worse than plain round-to-nearest there. Pass more text: several times that many "
                           f"tokens.")
        while pending:
            hessians, stages, stopped = _observe(block, pending, inputs, masks, config.true_sequential)
            for name in [] if stopped else [name for name in pending if name not in hessians]:
                logger.info("%s stays in full precision: the calibration texts never reach it.", prefix + name)
                del pending[name]
            factors = {}  # layers reading the same input share one Hessian, factored once
            for name in (stages[0] if config.true_sequential and stages else list(hessians)):
                hessian = hessians[name]
                if id(hessian) not in factors:
                    factors[id(hessian)] = _factor(hessian, config.damp_percent, config.desc_act)
                quantized[prefix + name] = _quantize_layer(pending.pop(name), factors[id(hessian)], config, scheme)
        if index + 1 < len(blocks):
            inputs = [_with_hidden(args, kwargs, block(*args, **kwargs)) for args, kwargs in inputs]
    for name, layer in quantized.items():
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, layer)
    return quantized


def _shape(module: nn.Module) -> tuple[int, int]:
    """(inputs, outputs) of a linear layer (GPT-2's Conv1D stores its weight [in, out])."""
    return tuple(module.weight.shape) if isinstance(module, Conv1D) else (module.in_features, module.out_features)


def _eligible(name: str, module: nn.Module, scheme, skip) -> bool:
    width, outputs = _shape(module)
    if skip(name):
        return False
    if width % scheme.group_size or outputs % 8:
        logger.info("%s stays in full precision: GPTQ's layout wants inputs in whole groups of %d and outputs in "
                    "eights (it has %d -> %d).", name, scheme.group_size, width, outputs)
        return False
    return True


def _observe(block: nn.Module, layers: dict, inputs: list, masks: list, first_stage: bool):
    """Run `block` on the kept inputs with hooks on `layers`: (each one's Hessian 2 X^T X / n over the real tokens,
    the stages of true-sequential quantization, whether the passes stopped early). Stages are the layers in the
    order first called, those reading the very same input tensor (such as q/k/v) together: they share one Hessian
    object. With `first_stage` each pass stops at the first layer past the first stage."""
    sums, counts, stages, state = {}, {}, [], {"mask": None, "last": None, "stopped": False}
    shared = set()  # layers whose Hessian is an earlier layer's

    def observe(name):
        def hook(module, args, output):
            x = args[0]
            if name not in sums:
                if stages and x is state["last"]:
                    sums[name] = sums[stages[-1][0]]
                    shared.add(name)
                    stages[-1].append(name)
                elif stages and first_stage:
                    state["stopped"] = True
                    raise _Stop
                else:
                    sums[name], counts[name] = torch.zeros(x.shape[-1], x.shape[-1]), 0
                    stages.append([name])
            state["last"] = x
            if name in shared:
                return
            mask = state["mask"]
            if mask is not None and x.dim() == 3 and x.shape[:2] == mask.shape:
                x = x[mask]
            x = x.reshape(-1, x.shape[-1]).float()
            sums[name].addmm_(x.T, x)
            counts[name] += x.shape[0]
        return hook

    handles = [module.register_forward_hook(observe(name)) for name, module in layers.items()]
    try:
        for (args, kwargs), mask in zip(inputs, masks):
            state["mask"] = mask
            try:
                block(*args, **kwargs)
            except _Stop:
                pass
    finally:
        for handle in handles:
            handle.remove()
    hessians = {name: sums[name].mul_(2 / max(counts[name], 1)) for name in counts}
    return {name: hessians[stage[0]] for stage in stages for name in stage}, stages, state["stopped"]


def _quantize_layer(module: nn.Module, factor: tuple, config, scheme) -> QuantLinear:
    """A float layer's GPTQ-rounded QuantLinear (saved form, GPTQ's layout on save); the float layer's weight is
    overwritten with the rounded one, so that the block's later layers see its quantized output."""
    conv = isinstance(module, Conv1D)
    weight = module.weight.t() if conv else module.weight
    outputs, width = weight.shape
    group = scheme.group_size
    q, scales, points = _gptq(weight, factor, group, config.sym)
    g_idx = torch.arange(width) // group
    order = factor[0]
    if order is not None:  # position j of the rounding order is input column order[j]
        q = q[:, torch.argsort(order)]
        g_idx = g_idx[torch.argsort(order)]
    dequantized = (q.float() - points[:, g_idx]) * scales[:, g_idx]
    weight.copy_(dequantized.to(weight.dtype))
    layer = QuantLinear(width, outputs, module.bias is not None, 4, group, scheme.compute_dtype)
    tensors, layer.weight_perm = _saved_form(q.T, points.T, scales.T, g_idx)
    for name, tensor in tensors.items():
        setattr(layer, name, tensor)
    if module.bias is not None:
        layer.bias = nn.Parameter(module.bias.detach().float(), requires_grad=False)
    layer.gptq_layout = True
    return layer


def _factor(hessian: torch.Tensor, damp_percent: float, desc_act: bool):
    """(the rounding order: None for the natural one, else descending diag(H); the inputs that were always zero;
    the upper Cholesky factor of the damped inverse Hessian, in rounding order)."""
    h = hessian.clone()
    dead = h.diagonal() == 0  # their weights cannot matter
    h[dead, dead] = 1
    order = torch.argsort(h.diagonal(), descending=True, stable=True) if desc_act else None
    if order is not None:
        h = h[order][:, order]
    h.diagonal().add_(damp_percent * h.diagonal().mean())
    factor, info = torch.linalg.cholesky_ex(h)
    if info == 0:
        factor, info = torch.linalg.cholesky_ex(torch.cholesky_inverse(factor), upper=True)
    if info != 0:
        raise RuntimeError(f"GPTQ: a layer's Hessian is not positive definite even with damp_percent="
                           f"{damp_percent}; pass more (or longer) calibration texts, or a larger damp_percent.")
    return order, dead, factor


def _gptq(weight: torch.Tensor, factor: tuple, group: int, sym: bool):
    """GPTQ rounding of weight [out, in] (`factor` from _factor): levels uint8 [out, in], scales and zero points
    [out, groups], all in rounding order (groups are consecutive columns of it). The work runs on the transposed
    weight, so that each column and each update is contiguous memory."""
    order, dead, hinv = factor
    w = weight.detach().float().clone()
    w[:, dead] = 0
    wt = (w if order is None else w[:, order]).T.contiguous()  # [in, out]
    cols, rows = wt.shape
    levels = torch.empty(cols, rows)
    scales, points = torch.empty(rows, cols // group), torch.empty(rows, cols // group)
    for g, start in enumerate(range(0, cols, group)):
        end = start + group
        block, local = wt[start:end], hinv[start:end, start:end]
        scale, point = _grid(block.T, sym)
        scales[:, g], points[:, g] = scale, point
        errors = torch.empty_like(block)
        for j in range(group):
            level = levels[start + j]
            torch.div(block[j], scale, out=level).round_().add_(point).clamp_(0, 15)
            torch.sub(level, point, out=errors[j]).mul_(scale).neg_().add_(block[j]).div_(local[j, j])
            block[j + 1:].addr_(local[j, j + 1:], errors[j], alpha=-1)
        wt[end:].addmm_(hinv[start:end, end:].T, errors, alpha=-1)
    return levels.T.to(torch.uint8), scales, points


def _grid(block: torch.Tensor, sym: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's scale (bfloat16-exact) and integer zero point in [1, 15] over a group of columns: of the ranges
    [low, high] (zero included) shrunk by the factors of _SHRINKS, the one with the least squared rounding error."""
    low, high = block.amin(1).clamp(max=0), block.amax(1).clamp(min=0)
    if sym:
        high = torch.maximum(-low, high)
        low = -high
    best = None
    for shrink in _SHRINKS:
        scale = ((high - low) * shrink / 15).clamp_min(_MIN_SCALE).bfloat16().float()
        point = torch.full_like(scale, 8) if sym else torch.round(-low * shrink / scale).clamp(1, 15)
        level = torch.clamp(torch.round(block / scale[:, None]) + point[:, None], 0, 15)
        error = ((level - point[:, None]) * scale[:, None] - block).square().sum(1)
        if best is None:
            best = [error, scale, point]
        else:
            better = error < best[0]
            best = [torch.where(better, new, old) for new, old in zip((error, scale, point), best)]
    return best[1], best[2]


# the calibration data and the blocks ------------------------------------------------------------------------------
def find_blocks(model: nn.Module, name: str | None = None) -> tuple[str, nn.ModuleList]:
    """The stack of blocks to quantize: `name` (GPTQConfig.block_name_to_quantize), else the one list of
    same-typed modules holding linear layers (model.layers, encoder.layer, transformer.h...)."""
    if name is not None:
        try:
            stack = model.get_submodule(name)
        except AttributeError:
            stack = None
        if not isinstance(stack, nn.ModuleList):
            raise ValueError(f"block_name_to_quantize={name!r} is not a list of blocks in {type(model).__name__}; "
                             f"name one, e.g. \"model.layers\".")
        return name, stack
    stacks = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m)
              and len({type(block) for block in m}) == 1
              and any(isinstance(x, (nn.Linear, Conv1D)) for x in m[0].modules())]
    stacks = [(n, m) for n, m in stacks if not any(n.startswith(other + ".") for other, _ in stacks)]
    if len(stacks) != 1:
        found = ", ".join(n for n, _ in stacks) or "none"
        raise ValueError(f"GPTQ calibration quantizes one stack of blocks, and {type(model).__name__} has "
                         f"{len(stacks)} ({found}); choose one with GPTQConfig(block_name_to_quantize=...).")
    return stacks[0]


def _first_block_inputs(model: nn.Module, first: nn.Module, batches: list[dict]) -> list[tuple[tuple, dict]]:
    """What the first block is called with (positional and keyword arguments), for each calibration batch."""
    kept = []

    def grab(module, args, kwargs):
        kept.append((args, kwargs))
        raise _Stop

    options = {"use_cache": False} if "use_cache" in inspect.signature(model.forward).parameters else {}
    handle = first.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        for batch in batches:
            try:
                model(**batch, **options)
            except _Stop:
                pass
    finally:
        handle.remove()
    if len(kept) != len(batches):
        raise RuntimeError(f"GPTQ calibration: {type(model).__name__}'s forward did not reach its first block.")
    return kept


def _with_hidden(args: tuple, kwargs: dict, output) -> tuple[tuple, dict]:
    """A block's inputs with its hidden states replaced by `output` (the previous block's, first item if a tuple)."""
    hidden = output[0] if isinstance(output, (tuple, list)) else output
    if args:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


def calibration_batches(config, model) -> list[dict]:
    """The calibration texts tokenized (each truncated to `model_seqlen` tokens, by default the model's maximum
    positions up to 4096), or windows of a named dataset, in batches of `batch_size` padded on the right."""
    tokenizer = config.tokenizer
    if isinstance(tokenizer, (str, bytes)) or hasattr(tokenizer, "__fspath__"):
        from ..tokenization.auto import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    seqlen = config.model_seqlen or min(4096, _max_positions(model.config))
    if isinstance(config.dataset, str):
        sequences = _named_dataset(config.dataset, tokenizer, seqlen)
    else:
        sequences = [list(tokenizer(text, truncation=True, max_length=seqlen)["input_ids"]) for text in config.dataset]
    sequences = [ids for ids in sequences if ids]
    if not sequences:
        raise ValueError("GPTQConfig.dataset gives no tokens to calibrate on; pass a list of non-empty texts.")
    pad = next((p for p in (config.pad_token_id, getattr(tokenizer, "pad_token_id", None),
                            getattr(model.config, "pad_token_id", None)) if isinstance(p, int)), 0)
    batches = []
    for start in range(0, len(sequences), config.batch_size):
        chunk = sequences[start:start + config.batch_size]
        length = max(map(len, chunk))
        ids = torch.tensor([s + [pad] * (length - len(s)) for s in chunk])
        mask = torch.tensor([[1] * len(s) + [0] * (length - len(s)) for s in chunk])
        batches.append({"input_ids": ids, "attention_mask": mask})
    return batches


def _max_positions(config) -> int:
    for key in ("max_position_embeddings", "n_positions", "seq_length", "max_seq_len"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def check_named_dataset(name: str) -> None:
    """Fail before anything loads when a named calibration dataset (GPTQConfig(dataset="c4")) cannot be had."""
    from ..hub import hub_reachable, is_offline

    try:
        import datasets  # noqa: F401
    except ImportError:
        why = "the `datasets` package that reads it is not installed (pip install datasets)"
    else:
        why = "offline mode is on (HF_HUB_OFFLINE)" if is_offline() else \
            "the Hub cannot be reached" if not hub_reachable() else None
    if why is not None:
        raise ValueError(f"GPTQConfig(dataset={name!r}) names a dataset to download, but {why}; pass the "
                         f"calibration texts as a list of strings instead, e.g. dataset=[\"...\", ...] (a hundred or "
                         f"so paragraphs of text like the model's).")


def _named_dataset(name: str, tokenizer, seqlen: int, samples: int = 128) -> list[list[int]]:
    """`samples` windows of `seqlen` tokens drawn (seed 0) from the GPTQ paper's calibration data as its code draws
    them: from the first 1000 lines of WikiText-2's training split as one text, or from C4 documents long enough
    (the first shard of its English training split, "c4" and "c4-new" alike)."""
    import random

    from datasets import load_dataset

    pick = random.Random(0)
    if name == "wikitext2":
        lines = load_dataset("wikitext", "wikitext-2-raw-v1", split="train")["text"][:1000]
        ids = list(tokenizer("".join(" \n" if line == "" else line for line in lines))["input_ids"])
        starts = [pick.randint(0, max(len(ids) - seqlen - 1, 0)) for _ in range(samples)]
        return [ids[start:start + seqlen] for start in starts]
    documents = load_dataset("allenai/c4", data_files={"train": "en/c4-train.00000-of-01024.json.gz"},
                             split="train")
    out = []
    for _ in range(samples * 100):  # (most documents are shorter than a window)
        ids = list(tokenizer(documents[pick.randint(0, len(documents) - 1)]["text"])["input_ids"])
        if len(ids) >= seqlen:
            start = pick.randint(0, len(ids) - seqlen)
            out.append(ids[start:start + seqlen])
            if len(out) == samples:
                break
    return out
