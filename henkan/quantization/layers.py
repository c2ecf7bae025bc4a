"""Low-bit layers: `QuantLinear` (weight-only int8 per output channel, or int4 per group of input columns) and
`QuantEmbedding` (int8 rows).

Both run on PyTorch's CPU kernel for 4-bit packed weights (`_weight_int4pack_mm_for_cpu`, bfloat16 activations),
the only low-bit CPU matmul in PyTorch that beats float32 for the few rows of a decode step (its int8 counterpart,
`_weight_int8pack_mm`, is slower than float32 there). An int8 weight q = 16 * hi + lo is run as two 4-bit planes
(hi + 8 and lo, each in [0, 15]) stacked along the outputs, and the two halves of the product are added: exactly
q * scale, at one byte per weight.

A layer keeps one of two forms. The *saved* form is portable and is what state_dict() holds and checkpoints store:
`weight` (int8 [out, in], or uint8 [out, in / 2] with column 2j in the low nibble of byte j), `weight_scale` and for
int4 `weight_zero` (float32 [out, groups]; w = q * scale for int8, (q - 8) * scale + zero for int4) and, for GPTQ
act-order checkpoints, `weight_perm` (the input columns in group order); a layer quantized by GPTQ calibration
writes GPTQ's checkpoint layout instead (gptq.py). The *packed* form is the kernel's CPU-specific layout; `pack()`
turns one into the other and state_dict() turns it back. With a float32 compute dtype (or a shape the kernel does
not take) the layer stays in the saved form and multiplies by its dequantized weight: exact float32 products,
slower.

Packed layers that read one input (a model's q/k/v projections, its gate and up projections) are fused once loaded
(`FusedQuant`): one kernel call computes them all, which a decode step, made of many small calls, feels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import GROUP_SIZES


_PACK_ROWS = 1024
_SHRINKS = [1 - i / 20 for i in range(11)]  # the clipping ranges int4 tries per group: the full range down to half


def _kernel(x: torch.Tensor, packed: torch.Tensor, group: int, scales_zeros: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, group, scales_zeros)


def _unpack_planes(packed: torch.Tensor, in_features: int, group: int, rows: int) -> torch.Tensor:
    """The 4-bit values [rows, in] inside a packed weight, read back through the kernel itself (an identity input,
    unit scales, zero offsets: exact in bfloat16), so no knowledge of its CPU-specific layout is needed."""
    unit = torch.zeros(in_features // group, rows, 2, dtype=torch.bfloat16)
    unit[..., 0], unit[..., 1] = 1, 8
    out = torch.empty(rows, in_features, dtype=torch.uint8)
    for start in range(0, in_features, 1024):
        eye = torch.eye(in_features, dtype=torch.bfloat16)[start:start + 1024]
        out[:, start:start + eye.shape[0]] = _kernel(eye, packed, group, unit).T.to(torch.uint8)
    return out


def _pad_rows(t: torch.Tensor, rows: int) -> torch.Tensor:
    return t if t.shape[0] == rows else torch.cat((t, t.new_zeros(rows - t.shape[0], *t.shape[1:])))


def quantize_int8_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 with one scale per row: (q int8, scale float32 [rows, 1])."""
    weight = weight.float()
    scale = (weight.abs().amax(dim=1, keepdim=True) / 127).clamp_min(1e-12)
    return torch.round(weight / scale).clamp_(-127, 127).to(torch.int8), scale


def quantize_int4_groups(weight: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric int4 over groups of `group` columns: (q uint8 [rows, cols] in [0, 15], scale, zero [rows, groups])
    with w ~ (q - 8) * scale + zero. Each group's 16 levels span its [min, max] shrunk by the factor (of `_SHRINKS`)
    that gives the least squared error: clipping a few outliers buys a finer step for all the other weights."""
    rows, cols = weight.shape
    grouped = weight.float().reshape(rows, cols // group, group)
    low, high = grouped.amin(dim=-1), grouped.amax(dim=-1)
    best = None
    for shrink in _SHRINKS:
        lo = low * shrink
        scale = ((high * shrink - lo) / 15).clamp_min(1e-12)
        q = torch.round((grouped - lo[..., None]) / scale[..., None]).clamp_(0, 15)
        error = q.mul_(scale[..., None]).add_(lo[..., None]).sub_(grouped).square_().sum(dim=-1)
        if best is None:
            best = [error, scale, lo]
        else:
            better = error < best[0]
            best = [torch.where(better, new, old) for new, old in zip((error, scale, lo), best)]
    _, scale, low = best
    q = torch.round((grouped - low[..., None]) / scale[..., None]).clamp_(0, 15).to(torch.uint8)
    return q.reshape(rows, cols), scale, low + 8 * scale


def pack_nibbles(q: torch.Tensor) -> torch.Tensor:
    """uint8 values in [0, 15], [rows, cols] -> [rows, cols / 2], column 2j in the low nibble of byte j."""
    return q[:, 0::2] | (q[:, 1::2] << 4)


def unpack_nibbles(packed: torch.Tensor) -> torch.Tensor:
    return torch.stack((packed & 15, packed >> 4), dim=-1).reshape(packed.shape[0], -1)


class QuantLinear(nn.Module):
    """y = x @ dequantized(W).T + b with W stored in 8 or 4 bits (see the module docstring for the two forms)."""

    def __init__(self, in_features: int, out_features: int, bias: bool, bits: int, group_size: int | None = None,
                 compute_dtype: torch.dtype | None = None):
        super().__init__()
        if bits == 4 and (group_size not in GROUP_SIZES or in_features % group_size):
            raise ValueError(f"int4 needs in_features ({in_features}) to be a multiple of group_size "
                             f"({group_size}, one of {GROUP_SIZES}).")
        self.in_features, self.out_features, self.bits = in_features, out_features, bits
        self.group_size = group_size if bits == 4 else in_features
        self.compute_dtype = compute_dtype
        groups = in_features // self.group_size
        self.register_buffer("weight", torch.empty(out_features, in_features if bits == 8 else in_features // 2,
                                                   dtype=torch.int8 if bits == 8 else torch.uint8))
        self.register_buffer("weight_scale", torch.empty(out_features, groups))
        if bits == 4:
            self.register_buffer("weight_zero", torch.empty(out_features, groups))
        self.register_buffer("weight_perm", None)
        self.bias = nn.Parameter(torch.empty(out_features), requires_grad=False) if bias else None
        self.gptq_layout = False  # saved as GPTQ's qweight / qzeros / scales / g_idx (a GPTQ-calibrated layer)
        self.register_buffer("packed", None, persistent=False)
        self.register_buffer("scales_zeros", None, persistent=False)
        self.fused_with: FusedQuant | None = None  # the group of siblings this packed layer runs in (see FusedQuant)
        self.kernel_group = next((g for g in reversed(GROUP_SIZES) if in_features % g == 0 and g <= self.group_size
                                  and self.group_size % g == 0), None)

    def extra_repr(self) -> str:
        group = f", group_size={self.group_size}" if self.bits == 4 else ""
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"bits={self.bits}{group}, packed={self.packed is not None}")

    # forms ------------------------------------------------------------------------------------------------------
    def saved_form(self, weight: torch.Tensor) -> dict[str, torch.Tensor]:
        """The saved-form tensors of a float weight [out, in]."""
        if self.bits == 8:
            q, scale = quantize_int8_rows(weight)
            return {"weight": q, "weight_scale": scale}
        q, scale, zero = quantize_int4_groups(weight, self.group_size)
        return {"weight": pack_nibbles(q), "weight_scale": scale, "weight_zero": zero}

    def _values(self) -> torch.Tensor:
        """The integer weight [out, in] of the saved form (int8, or uint8 in [0, 15])."""
        return self.weight if self.bits == 8 else unpack_nibbles(self.weight)

    def dequantize(self) -> torch.Tensor:
        """The float32 weight [out, in] this layer multiplies by (columns in `weight_perm` order if any)."""
        if self.packed is not None:
            return self._unpacked()["weight_dequantized"]
        q = self._values().float().reshape(self.out_features, -1, self.group_size)
        if self.bits == 8:
            return (q * self.weight_scale[..., None]).reshape(self.out_features, self.in_features)
        return ((q - 8) * self.weight_scale[..., None] + self.weight_zero[..., None]).reshape(
            self.out_features, self.in_features)

    def can_pack(self) -> bool:
        return self.compute_dtype in (None, torch.bfloat16) and self.kernel_group is not None

    def pack(self) -> None:
        """Saved form -> the kernel's packed form (bfloat16 scales), dropping the saved tensors."""
        if self.packed is not None or not self.can_pack():
            return
        rows = -(-self.out_features // 64) * 64  # whole 64-row tiles: row blocks then pack independently
        repeat = self.group_size // self.kernel_group
        scale = self.weight_scale.float().repeat_interleave(repeat, dim=1)
        if self.bits == 8:
            q = _pad_rows(self.weight, rows)
            planes = [lambda i, j: (q[i:j].to(torch.int32) >> 4) + 8, lambda i, j: q[i:j].to(torch.int32) & 15]
            scales = torch.cat((_pad_rows(16 * scale, rows), _pad_rows(scale, rows)))
            zeros = torch.cat((torch.zeros_like(_pad_rows(scale, rows)), _pad_rows(8 * scale, rows)))
        else:
            q = _pad_rows(self.weight, rows)
            planes = [lambda i, j: unpack_nibbles(q[i:j]).to(torch.int32)]
            scales = _pad_rows(scale, rows)
            zeros = _pad_rows(self.weight_zero.float().repeat_interleave(repeat, dim=1), rows)
        # row blocks of _PACK_ROWS (a multiple of the kernel's 64-row tiles) pack independently, each straight into
        # its rows of the result: this bounds the int32 temporaries the packing op wants to a few MB
        self.packed = torch.empty(len(planes) * rows, self.in_features // 2, dtype=torch.uint8)
        for p, plane in enumerate(planes):
            for i in range(0, rows, _PACK_ROWS):
                block = torch.ops.aten._convert_weight_to_int4pack_for_cpu(plane(i, i + _PACK_ROWS), 8)
                self.packed[p * rows + i:p * rows + i + block.shape[0]] = block.view(block.shape[0], -1)
        self.scales_zeros = torch.stack((scales, zeros), dim=-1).transpose(0, 1).contiguous().to(torch.bfloat16)
        self.rows = rows
        # the widths of the kernel's output columns: the outputs, then the padding of the last tile if any; twice for
        # int8 (its high plane, then its low one)
        pad = [rows - self.out_features] if rows > self.out_features else []
        self.segments = ([self.out_features] + pad) * (2 if self.bits == 8 else 1)
        del self.weight, self.weight_scale
        if self.bits == 4:
            del self.weight_zero

    def _unpacked(self) -> dict[str, torch.Tensor]:
        """The saved form recovered from the packed one (scales as the kernel holds them, in bfloat16)."""
        total = self.packed.shape[0]
        values = _unpack_planes(self.packed, self.in_features, self.kernel_group, total).to(torch.int32)
        sz = self.scales_zeros.float().transpose(0, 1)[:, ::self.group_size // self.kernel_group]  # [rows, groups, 2]
        n = self.out_features
        if self.bits == 8:
            q = (values[:n] - 8) * 16 + values[self.rows:self.rows + n]
            scale = sz[self.rows:self.rows + n, :, 0]
            out = {"weight": q.to(torch.int8), "weight_scale": scale.contiguous()}
            out["weight_dequantized"] = q.float() * scale
        else:
            scale, zero = sz[:n, :, 0].contiguous(), sz[:n, :, 1].contiguous()
            q = values[:n].to(torch.uint8)
            out = {"weight": pack_nibbles(q), "weight_scale": scale, "weight_zero": zero}
            grouped = (q.float().reshape(n, -1, self.group_size) - 8) * scale[..., None] + zero[..., None]
            out["weight_dequantized"] = grouped.reshape(n, self.in_features)
        return out

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.packed is not None:
            for name, tensor in self._unpacked().items():
                if name != "weight_dequantized":
                    destination[prefix + name] = tensor
        if self.gptq_layout:
            from .gptq import saved_to_gptq

            saved = {name: destination.pop(prefix + name) for name in ("weight", "weight_scale", "weight_zero")}
            perm = destination.pop(prefix + "weight_perm", None)
            for name, tensor in saved_to_gptq(saved, perm, self.group_size).items():
                destination[prefix + name] = tensor

    # compute ----------------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        if self.weight_perm is not None:
            flat = flat.index_select(1, self.weight_perm)
        if self.packed is not None:
            out = _kernel(flat.to(torch.bfloat16), self.packed, self.kernel_group, self.scales_zeros)
            out = out.to(x.dtype).view(*x.shape[:-1], -1)
            return self.combine(out.split_with_sizes(self.segments, dim=-1) if len(self.segments) > 1 else [out])
        dtype = self.compute_dtype or x.dtype
        out = F.linear(flat.to(dtype), self.dequantize().to(dtype)).to(x.dtype)
        if self.bias is not None:
            out = out + self.bias.to(out.dtype)
        return out.reshape(*x.shape[:-1], self.out_features)

    def combine(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """The outputs from the kernel's columns split by `segments` (cast back): the two planes of int8 added,
        the bias."""
        y = parts[0] if self.bits == 4 else parts[0] + parts[len(parts) // 2]
        return y if self.bias is None else y + self.bias.to(y.dtype)


class FusedQuant:
    """Packed sibling layers that read the same input, run as one kernel call: their packed rows stacked (each
    layer's `packed` becomes a view of its rows, so nothing is held twice), their scales expanded to the finest
    kernel group among them (an int8 layer's group spans its whole input), each layer's outputs split back out.
    Built by `fuse`; `layers.project` runs it when called with exactly these layers, unwrapped (no adapter, no hook),
    and calls them one by one otherwise."""

    def __init__(self, layers: list[QuantLinear]):
        self.layers = tuple(layers)
        self.group = min(layer.kernel_group for layer in layers)
        self.scales_zeros = torch.cat([layer.scales_zeros.repeat_interleave(layer.kernel_group // self.group, dim=0)
                                       for layer in layers], dim=1)
        self.packed = torch.cat([layer.packed for layer in layers])
        self.segments = [width for layer in layers for width in layer.segments]
        self.counts = [len(layer.segments) for layer in layers]
        start = 0
        for layer in layers:
            layer.packed = self.packed[start:start + layer.packed.shape[0]]
            layer.fused_with = self
            start += layer.packed.shape[0]

    @classmethod
    def fuse(cls, layers: list) -> FusedQuant | None:
        """The group of `layers` if they can run as one call (packed QuantLinear layers of one input width, none
        reading its inputs permuted), else None."""
        if len(layers) < 2 or not all(isinstance(layer, QuantLinear) and layer.packed is not None
                                      and layer.weight_perm is None and layer.fused_with is None for layer in layers):
            return None
        if len({layer.in_features for layer in layers}) > 1:
            return None
        return cls(layers)

    def runs(self, layers: tuple) -> bool:
        return layers == self.layers and not any(
            "forward" in layer.__dict__ or layer._forward_hooks or layer._forward_pre_hooks for layer in layers)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = _kernel(x.reshape(-1, x.shape[-1]).to(torch.bfloat16), self.packed, self.group, self.scales_zeros)
        parts = out.to(x.dtype).view(*x.shape[:-1], -1).split_with_sizes(self.segments, dim=-1)
        results, start = [], 0
        for layer, count in zip(self.layers, self.counts):
            results.append(layer.combine(parts[start:start + count]))
            start += count
        return tuple(results)


class QuantEmbedding(nn.Module):
    """An embedding table in int8 with one scale per row: a lookup reads the rows and scales them."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None):
        super().__init__()
        self.num_embeddings, self.embedding_dim, self.padding_idx = num_embeddings, embedding_dim, padding_idx
        self.register_buffer("weight", torch.empty(num_embeddings, embedding_dim, dtype=torch.int8))
        self.register_buffer("weight_scale", torch.empty(num_embeddings, 1))

    @staticmethod
    def saved_form(weight: torch.Tensor) -> dict[str, torch.Tensor]:
        q, scale = quantize_int8_rows(weight)
        return {"weight": q, "weight_scale": scale}

    def dequantize(self) -> torch.Tensor:
        return self.weight.float() * self.weight_scale

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(input_ids, self.weight).float() * F.embedding(input_ids, self.weight_scale)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, bits=8"
