"""Quantizing while loading: `Quantizer` swaps a skeleton model's linear layers (and untied input embeddings) for
low-bit ones, turns each checkpoint tensor into their saved form as it is read (a float weight is quantized, a GPTQ
module's packed tensors are re-laid), and packs them for the kernel once loaded. No float copy of the whole model
exists at any time: a float weight lives only while it is quantized. GPTQ calibration is the exception: it needs
the loaded float model (see gptq.py).
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers import Conv1D
from ..logging import get_logger
from .config import Scheme
from .gptq import awq_to_saved, calibrate, gptq_to_saved
from .layers import FusedQuant, QuantEmbedding, QuantLinear

logger = get_logger(__name__)
_GPTQ_PARTS = ("qweight", "qzeros", "scales", "g_idx")
_ROWS_PER_STEP = 4096  # float rows quantized at a time: bounds the temporaries of one large weight
# attention value and output projections, by the names the families give them (Scheme.sensitive_8bit)
_SENSITIVE = ("v_proj", "o_proj", "out_proj", "value", "attention.output.dense", "attn.c_proj",
              "self_attention.dense")


def _block(name: str) -> tuple[str, int] | None:
    """(the stack, the block's index) of a layer inside a stack of blocks: the path up to its first index."""
    parts = name.split(".")
    at = next((i for i, part in enumerate(parts) if part.isdigit()), None)
    return None if at is None else (".".join(parts[:at]), int(parts[at]))


def _sensitive(names) -> set[str]:
    """The layers (besides the output layer) kept in int8 under Scheme.sensitive_8bit: attention value / output
    projections, and every layer of a stack's first and last blocks."""
    blocks = {name: _block(name) for name in names}
    last = {}
    for block in filter(None, blocks.values()):
        last[block[0]] = max(last.get(block[0], 0), block[1])
    return {name for name, block in blocks.items() if (block is not None and block[1] in (0, last[block[0]]))
            or any(name == s or name.endswith("." + s) for s in _SENSITIVE)}


def _skipped(name: str, skip) -> bool:
    dotted = "." + name + "."
    return any(entry == name or ("." + entry + ".") in dotted or name.endswith("." + entry) for entry in skip)


class Quantizer:
    """Replaces modules of a meta-device skeleton and converts checkpoint tensors for them (see the module doc)."""

    def __init__(self, scheme: Scheme):
        self.scheme = scheme
        self.modules: dict[str, nn.Module] = {}
        self.transposed: set[str] = set()  # Conv1D layers: their float weights are stored [in, out]
        self.parts: dict[str, dict[str, torch.Tensor]] = {}  # GPTQ tensors per module, converted in flush()
        self.eight: set[str] = set()  # linear layers kept in int8 under a 4-bit scheme

    # which modules ----------------------------------------------------------------------------------------------
    def replace(self, model, checkpoint_keys) -> None:
        scheme = self.scheme
        if scheme.calibration is not None:
            chosen = set()  # the float model loads as it is; finish() quantizes it
        elif scheme.packed or scheme.saved:
            marker = ".qweight" if scheme.packed else ".weight_scale"
            wanted = set()
            for key in checkpoint_keys:
                if key.endswith(marker):
                    names = model._checkpoint_key_candidates(key)
                    wanted.update(n.rpartition(".")[0] for n in names)
            chosen = {name for name, _ in model.named_modules() if name in wanted}
            if not chosen:
                kind = {"awq": "AWQ", None: "henkan"}.get(scheme.packed, "GPTQ")
                raise ValueError(f"The checkpoint's config says it is quantized ({kind})"
                                 f" but no tensor ends with {marker!r}; the weights do not match config.json.")
            if scheme.saved and scheme.bits == 4:  # a 4-bit layer has offsets, an int8 one does not
                four = {n.rpartition(".")[0] for key in checkpoint_keys if key.endswith(".weight_zero")
                        for n in model._checkpoint_key_candidates(key)}
                self.eight = {name for name in chosen if name not in four
                              and not isinstance(model.get_submodule(name), nn.Embedding)}
        else:
            chosen = self._float_targets(model)
        with torch.device("meta"):
            for name in chosen:
                self._swap(model, name)
        model.is_quantized = True
        model.is_loaded_in_8bit, model.is_loaded_in_4bit = scheme.bits == 8, scheme.bits == 4

    def _float_targets(self, model) -> set[str]:
        """Modules quantized from a float checkpoint: every linear layer, and the input embeddings unless tied to
        the output layer (tied pairs stay in full precision, as one tensor), minus the skipped names."""
        skip = self.scheme.skip
        output, embeddings = model.get_output_embeddings(), None
        try:
            embeddings = model.get_input_embeddings()
        except NotImplementedError:
            pass
        tied = output is not None and embeddings is not None and getattr(model.config, "tie_word_embeddings", True) \
            and bool(model._tied_weights_keys)
        chosen = set()
        sensitive = _sensitive([n for n, m in model.named_modules() if isinstance(m, (nn.Linear, Conv1D))])
        for name, module in model.named_modules():
            if _skipped(name, skip) or (tied and module in (output, embeddings)):
                continue
            if isinstance(module, (nn.Linear, Conv1D)):
                width = module.in_features if isinstance(module, nn.Linear) else module.weight.shape[0]
                if self.scheme.sensitive_8bit and (module is output or name in sensitive):
                    self.eight.add(name)
                elif self.scheme.bits == 4 and width % self.scheme.group_size:
                    logger.info("%s stays in full precision: its %d inputs are not a multiple of group_size %d.",
                                name, width, self.scheme.group_size)
                    continue
                chosen.add(name)
            elif module is embeddings and isinstance(module, nn.Embedding) and type(module) is nn.Embedding:
                chosen.add(name)
        return chosen

    def _swap(self, model, name: str) -> None:
        old = model.get_submodule(name)
        if isinstance(old, nn.Embedding):
            new = QuantEmbedding(old.num_embeddings, old.embedding_dim, old.padding_idx)
        else:
            if isinstance(old, Conv1D):
                width, outputs = old.weight.shape
                self.transposed.add(name)
            else:
                width, outputs = old.in_features, old.out_features
            new = QuantLinear(width, outputs, old.bias is not None, 8 if name in self.eight else self.scheme.bits,
                              self.scheme.group_size, self.scheme.compute_dtype)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, new)
        self.modules[name] = new

    # tensors ----------------------------------------------------------------------------------------------------
    def take(self, model, ckpt_key: str, state) -> dict | None:
        """The saved-form tensors (by model key) a checkpoint tensor becomes, {} when it is held for later, or None
        when it is not a quantized layer's business."""
        for candidate in model._checkpoint_key_candidates(ckpt_key):
            name, _, attr = candidate.rpartition(".")
            module = self.modules.get(name)
            if module is not None:
                break
        else:
            return None
        if self.scheme.packed and attr in _GPTQ_PARTS:
            self.parts.setdefault(name, {})[attr] = state.read(ckpt_key)
            return {}
        if attr == "weight_perm" and isinstance(module, QuantLinear):
            module.weight_perm = state.read(ckpt_key).long()
            return {}
        if attr != "weight" or self.scheme.saved or not state.is_float(ckpt_key):
            return None
        weight = state.read(ckpt_key)
        if name in self.transposed:
            weight = weight.t()
        rows, cols = (module.out_features, module.in_features) if isinstance(module, QuantLinear) else (
            module.num_embeddings, module.embedding_dim)
        if tuple(weight.shape) != (rows, cols):
            raise RuntimeError(f"{ckpt_key} in {state.describe()} has shape {list(weight.shape)} but the model built "
                               f"from its config wants {[rows, cols]}; check that config.json belongs to these "
                               f"weights.")
        steps = [module.saved_form(weight[i:i + _ROWS_PER_STEP]) for i in range(0, rows, _ROWS_PER_STEP)]
        out = {f"{name}.{key}": torch.cat([s[key] for s in steps]) for key in steps[0]}
        del weight, steps
        _release_freed_memory()
        return out

    def flush(self, state) -> dict:
        """GPTQ (or AWQ) modules held by take(), converted to the saved form."""
        out = {}
        awq = self.scheme.packed == "awq"
        for name, parts in self.parts.items():
            missing = [p for p in ("qweight", "qzeros", "scales") if p not in parts]
            if missing:
                raise OSError(f"The {'AWQ' if awq else 'GPTQ'} checkpoint at {state.describe()} lacks "
                              f"{', '.join(name + '.' + p for p in missing)}; every quantized layer needs qweight, "
                              f"qzeros and scales. Re-download or re-export the checkpoint.")
            module = self.modules[name]
            tensors, module.weight_perm = (awq_to_saved if awq else gptq_to_saved)(parts, module, self.scheme, name)
            out.update({f"{name}.{key}": value for key, value in tensors.items()})
        self.parts.clear()
        return out

    def finish(self, model) -> None:
        if self.scheme.calibration is not None:
            self.modules = calibrate(model, self.scheme.calibration, self.scheme,
                                     lambda name: _skipped(name, self.scheme.skip))
        for module in self.modules.values():
            if isinstance(module, QuantLinear):
                module.pack()
                _release_freed_memory()  # (each layer's saved form, freed: else the heap grows by them all)
        for module in model.modules():  # the sibling projections a module declares (layers.project runs them)
            for names in getattr(module, "shared_input", ()):
                if FusedQuant.fuse([module._modules.get(name) for name in names]):
                    _release_freed_memory()  # (the layers' own packed weights, now copied into the group's)
        model.config.quantization_config = self.scheme.record()


def _release_freed_memory() -> None:
    """Hand the float weights' freed pages back to the system. glibc keeps freed blocks below its (adaptive, up to
    32 MB) mmap threshold in the heap, so without this a process that quantized a model stays as large as if it
    held the float weights."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
