"""Shared building blocks: activations, attention over SDPA, masks, and the layer loop with checkpointing."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


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


class Holder(nn.Module):
    """A named group of submodules, so module paths spell the checkpoint keys (`attention.self.query`)."""

    def __init__(*args, **modules: nn.Module):  # no named `self`: BERT has a submodule called "self"
        holder = args[0]
        super(Holder, holder).__init__()
        for name, module in modules.items():
            holder.add_module(name, module)


def padding_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A [batch, 1, 1, keys] additive mask from a 0/1 mask, or None when nothing is masked (SDPA's fast path)."""
    if attention_mask is None or bool(attention_mask.all()):
        return None
    if attention_mask.dim() == 2:
        attention_mask = attention_mask[:, None, None, :]
    elif attention_mask.dim() == 3:
        attention_mask = attention_mask[:, None, :, :]
    return (1.0 - attention_mask.to(dtype)) * torch.finfo(dtype).min


def attend(q, k, v, mask, num_heads: int, dropout: float = 0.0, output_attentions: bool = False,
           head_mask: torch.Tensor | None = None):
    """Multi-head attention of [batch, seq, hidden] projections; returns the context and (optionally) weights."""
    batch, q_len, hidden = q.shape
    head_dim = hidden // num_heads
    q, k, v = (t.view(batch, t.shape[1], num_heads, head_dim).transpose(1, 2) for t in (q, k, v))
    if output_attentions or head_mask is not None:
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(head_dim)
        if mask is not None:
            scores = scores + mask
        weights = scores.softmax(-1)
        weights = F.dropout(weights, dropout)
        if head_mask is not None:
            weights = weights * head_mask
        context = weights @ v
    else:
        weights = None
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    return context.transpose(1, 2).reshape(batch, q_len, hidden), (weights if output_attentions else None)


def per_layer_head_mask(head_mask, num_layers: int, dtype: torch.dtype) -> list:
    """Expand a [heads] or [layers, heads] 0/1 mask into one broadcastable mask per layer (or Nones)."""
    if head_mask is None:
        return [None] * num_layers
    head_mask = head_mask.to(dtype)
    if head_mask.dim() == 1:
        head_mask = head_mask.expand(num_layers, -1)
    return [m[None, :, None, None] for m in head_mask]


def run_layers(owner: nn.Module, layers, hidden, *, mask, head_mask=None, output_attentions=False,
               output_hidden_states=False):
    """Apply `layers` in turn; collect hidden states and attentions; checkpoint activations when asked.

    `head_mask` is a user's [heads] or [layers, heads] mask, or a list already holding what each layer takes."""
    all_hidden = (hidden,) if output_hidden_states else None
    all_attn = () if output_attentions else None
    masks = head_mask if isinstance(head_mask, list) else per_layer_head_mask(head_mask, len(layers), hidden.dtype)
    for layer, layer_head_mask in zip(layers, masks):
        if getattr(owner, "gradient_checkpointing", False) and owner.training:
            hidden, attn = checkpoint(layer, hidden, mask, layer_head_mask, output_attentions,
                                      **getattr(owner, "_checkpoint_kwargs", {"use_reentrant": False}))
        else:
            hidden, attn = layer(hidden, mask, layer_head_mask, output_attentions)
        if output_hidden_states:
            all_hidden += (hidden,)
        if output_attentions:
            all_attn += (attn,)
    return hidden, all_hidden, all_attn
