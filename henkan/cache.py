"""Key/value caches for decoder models.

A cache holds, per layer, the keys and values already computed, each shaped [batch, kv_heads, seq, head_dim].
`DynamicCache` grows: it keeps a buffer with spare room (grown geometrically), writes new states in place and hands
out views of the filled part, so a decode step copies one token's states instead of the whole history.
`StaticCache` is allocated once at its full length and written at `cache_position`: shapes never change, which is
what `torch.compile` wants.

Both keep every position; a sliding-window model masks old positions out instead of dropping them, so the outputs
are those of the reference library's window-trimming caches.

`SlotCache` is a server's cache: a fixed number of slots, each holding one sequence, allocated once; sequences of
different lengths start, decode side by side and leave without any reallocation.
"""

from __future__ import annotations

import torch

from .layers import RowLayout

__all__ = ["Cache", "DynamicCache", "StaticCache", "EncoderDecoderCache", "SlotCache"]

_GRANULE = 256  # first allocations are rounded up to this many positions


class _Layer:
    """One layer's keys and values: a buffer and how much of it is filled."""

    __slots__ = ("k", "v", "length")

    def __init__(self):
        self.k = self.v = None
        self.length = 0

    @property
    def keys(self):
        return None if self.k is None else self.k[:, :, : self.length]

    @property
    def values(self):
        return None if self.v is None else self.v[:, :, : self.length]

    def apply(self, fn) -> None:
        """Replace both buffers by `fn(buffer)` (a batch reordering / selection / repetition)."""
        if self.k is not None:
            self.k, self.v = fn(self.k), fn(self.v)


class Cache:
    """Base class: a list of per-layer key/value stores with the methods generation uses."""

    is_compileable = False
    # how the next forward's sequences sit in a cache of independent sequences (layers.RowLayout; SlotCache), which
    # the masks follow; None: the usual batch (one sequence per row, new tokens at cache_position)
    layout = None

    def __init__(self):
        self.layers: list[_Layer] = []

    def _layer(self, layer_idx: int) -> _Layer:
        while len(self.layers) <= layer_idx:
            self.layers.append(_Layer())
        return self.layers[layer_idx]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int,
               cache_kwargs: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new states of a layer and return all its keys and values (old and new)."""
        raise NotImplementedError

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """How many positions a layer holds."""
        if layer_idx >= len(self.layers):
            return 0
        return self.layers[layer_idx].length

    def get_max_cache_shape(self, layer_idx: int = 0) -> int:
        """The most positions the cache can hold; -1 when it grows without limit."""
        return -1

    def get_mask_sizes(self, cache_position: torch.Tensor, layer_idx: int = 0) -> tuple[int, int]:
        """(number of keys the next `update` returns, offset of the first) for `cache_position` new tokens."""
        return self.get_seq_length(layer_idx) + cache_position.shape[0], 0

    # batch manipulations (beam search, contrastive search, ...) ------------------------------------------------
    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        for layer in self.layers:
            layer.apply(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        for layer in self.layers:
            layer.apply(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        for layer in self.layers:
            layer.apply(lambda t: t[indices])

    def crop(self, max_length: int) -> None:
        """Keep the first `max_length` positions (a negative value drops that many from the end)."""
        for layer in self.layers:
            keep = layer.length + max_length if max_length < 0 else max_length
            layer.length = max(0, min(layer.length, keep))

    def reset(self) -> None:
        for layer in self.layers:
            if layer.k is not None:
                layer.k.zero_()
                layer.v.zero_()
            layer.length = 0

    # the legacy tuple format -----------------------------------------------------------------------------------
    def to_legacy_cache(self) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        return tuple((layer.keys, layer.values) for layer in self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self.layers) <= layer_idx < len(self.layers):
            raise KeyError(f"Cache only has {len(self.layers)} layers, attempted to access layer with index "
                           f"{layer_idx}")
        layer = self.layers[layer_idx]
        return layer.keys, layer.values

    def __iter__(self):
        for layer in self.layers:
            yield layer.keys, layer.values

    @property
    def key_cache(self) -> list[torch.Tensor]:
        return [layer.keys for layer in self.layers]

    @property
    def value_cache(self) -> list[torch.Tensor]:
        return [layer.values for layer in self.layers]

    @property
    def is_initialized(self) -> bool:
        return bool(self.layers) and all(layer.k is not None for layer in self.layers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(layers={len(self.layers)}, seq_length={self.get_seq_length()})"


class DynamicCache(Cache):
    """A cache that grows with the sequence. The default of every decoder model.

    `DynamicCache()` starts empty; `DynamicCache(pairs)` starts from an iterable of (keys, values) per layer. `config`
    is accepted for compatibility (every layer keeps all positions here).
    """

    def __init__(self, ddp_cache_data=None, config=None, **kwargs):
        super().__init__()
        for layer_idx, (keys, values) in enumerate(ddp_cache_data or ()):
            self.update(keys, values, layer_idx)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Reorder the rows in place, and only the filled positions (not the spare room of the buffers)."""
        for layer in self.layers:
            if layer.k is None:
                continue
            if layer.k.requires_grad and torch.is_grad_enabled():
                layer.apply(lambda t: t.index_select(0, beam_idx.to(t.device)))
                continue
            index = beam_idx.to(layer.k.device)
            for buffer in (layer.k, layer.v):
                filled = buffer[:, :, : layer.length]
                filled.copy_(filled.index_select(0, index))

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        layer = self._layer(layer_idx)
        new = key_states.shape[-2]
        if torch.is_grad_enabled() and (key_states.requires_grad or value_states.requires_grad):
            # training: no in-place writes, autograd must see every tensor it saved unchanged
            if layer.k is None or layer.length == 0:
                layer.k, layer.v = key_states, value_states
            else:
                layer.k = torch.cat((layer.keys, key_states), dim=-2)
                layer.v = torch.cat((layer.values, value_states), dim=-2)
            layer.length = layer.k.shape[-2]
            return layer.k, layer.v
        end = layer.length + new
        if layer.k is None or end > layer.k.shape[-2]:
            self._grow(layer, key_states, value_states, end)
        layer.k[:, :, layer.length:end] = key_states
        layer.v[:, :, layer.length:end] = value_states
        layer.length = end
        return layer.k[:, :, :end], layer.v[:, :, :end]

    @staticmethod
    def _grow(layer: _Layer, key_states, value_states, needed: int) -> None:
        old = 0 if layer.k is None else layer.k.shape[-2]
        capacity = max(needed, 2 * old) if old else -(-needed // _GRANULE) * _GRANULE
        batch, heads, _, dim = key_states.shape
        k = key_states.new_empty((batch, heads, capacity, dim))
        v = value_states.new_empty((batch, value_states.shape[1], capacity, value_states.shape[-1]))
        if layer.length:
            k[:, :, : layer.length] = layer.keys
            v[:, :, : layer.length] = layer.values
        layer.k, layer.v = k, v

    def to_legacy_cache(self):
        return tuple((layer.keys, layer.values) for layer in self.layers)

    @classmethod
    def from_legacy_cache(cls, past_key_values) -> "DynamicCache":
        """A cache holding the states of a tuple of (keys, values) per layer (None gives an empty cache)."""
        return cls(past_key_values)


class StaticCache(Cache):
    """A cache of fixed length `max_cache_len`, written at `cache_position`; for `torch.compile` and CUDA graphs.

    With a `config` (and `max_batch_size`) every layer is allocated up front; otherwise each layer is allocated at
    its first update from the shape, dtype and device of the states it receives.
    """

    is_compileable = True

    def __init__(self, config=None, max_batch_size: int | None = None, max_cache_len: int | None = None,
                 device=None, dtype=None, **kwargs):
        super().__init__()
        if max_cache_len is None:
            max_cache_len = kwargs.pop("max_length", None) or getattr(config, "max_position_embeddings", None)
        if max_cache_len is None:
            raise ValueError("StaticCache needs max_cache_len (the most tokens it will hold: prompt + new tokens).")
        max_batch_size = max_batch_size if max_batch_size is not None else kwargs.pop("batch_size", None)
        self.max_cache_len = int(max_cache_len)
        self.max_batch_size = max_batch_size
        self.device = None if device is None else torch.device(device)
        self.dtype = dtype
        if config is not None and max_batch_size is not None:
            heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
            head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
            shape = (max_batch_size, heads, self.max_cache_len, head_dim)
            for layer_idx in range(config.num_hidden_layers):
                layer = self._layer(layer_idx)
                layer.k = torch.zeros(shape, dtype=dtype or torch.float32, device=self.device)
                layer.v = torch.zeros(shape, dtype=dtype or torch.float32, device=self.device)

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        layer = self._layer(layer_idx)
        if layer.k is None:
            batch, heads, _, dim = key_states.shape
            shape = (batch, heads, self.max_cache_len, dim)
            device = self.device or key_states.device
            layer.k = torch.zeros(shape, dtype=self.dtype or key_states.dtype, device=device)
            layer.v = torch.zeros((batch, value_states.shape[1], self.max_cache_len, value_states.shape[-1]),
                                  dtype=self.dtype or value_states.dtype, device=device)
        position = None if cache_kwargs is None else cache_kwargs.get("cache_position")
        if position is None:  # append after what is there
            start = self.get_seq_length(layer_idx)
            position = torch.arange(start, start + key_states.shape[-2], device=layer.k.device)
            length = start + key_states.shape[-2]
        else:
            length = None  # known again only when asked: get_seq_length reads the buffer
        layer.k.index_copy_(2, position, key_states.to(layer.k.dtype))
        layer.v.index_copy_(2, position, value_states.to(layer.v.dtype))
        layer.length = length
        return layer.k, layer.v

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Positions written so far: slots holding any non-zero key (of the first sequence and head)."""
        if layer_idx >= len(self.layers) or self.layers[layer_idx].k is None:
            return 0
        layer = self.layers[layer_idx]
        if layer.length is None:
            layer.length = int(layer.k[0, 0].any(dim=-1).sum())
        return layer.length

    def get_max_cache_shape(self, layer_idx: int = 0) -> int:
        return self.max_cache_len

    def get_mask_sizes(self, cache_position: torch.Tensor, layer_idx: int = 0) -> tuple[int, int]:
        return self.max_cache_len, 0

    def crop(self, max_length: int) -> None:
        raise NotImplementedError("A StaticCache cannot be cropped; use a DynamicCache.")

    def to_legacy_cache(self):
        return tuple((layer.k, layer.v) for layer in self.layers)

    def __getitem__(self, layer_idx: int):
        layer = self.layers[layer_idx]
        return layer.k, layer.v

    def __iter__(self):
        for layer in self.layers:
            yield layer.k, layer.v


class EncoderDecoderCache(Cache):
    """The cache of an encoder-decoder's decoder: a self-attention cache that grows with the generated tokens, and a
    cross-attention cache holding each layer's keys and values of the encoder output, computed once (at the first
    decoder step) and reused by every later step.

    `EncoderDecoderCache(self_attention_cache, cross_attention_cache)` wraps two caches;
    `EncoderDecoderCache(pairs)` starts from (keys, values[, cross keys, cross values]) per layer. `is_updated[i]` says
    whether layer i's cross-attention states are in the cache.
    """

    def __init__(self, *caches):  # (no Cache.__init__: the layers are the self-attention cache's)
        if len(caches) == 2 and all(isinstance(c, Cache) for c in caches):
            self.self_attention_cache, self.cross_attention_cache = caches
        elif len(caches) <= 1:
            self.self_attention_cache, self.cross_attention_cache = DynamicCache(), DynamicCache()
            for layer_idx, states in enumerate(caches[0] if caches else ()):
                self.self_attention_cache.update(states[0], states[1], layer_idx)
                if len(states) > 2:
                    self.store_cross(layer_idx, states[2], states[3])
        else:
            raise TypeError(f"EncoderDecoderCache takes a self-attention Cache and a cross-attention Cache (or one "
                            f"iterable of per-layer states), not {', '.join(type(c).__name__ for c in caches)}.")
        self.is_updated = {i: layer.k is not None for i, layer in enumerate(self.cross_attention_cache.layers)}

    @property
    def layers(self) -> list[_Layer]:
        return self.self_attention_cache.layers

    def store_cross(self, layer_idx: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Keep a layer's cross-attention keys and values as they are (they never grow: no buffer, no copy)."""
        layer = self.cross_attention_cache._layer(layer_idx)
        layer.k, layer.v, layer.length = keys, values, keys.shape[-2]
        self.is_updated[layer_idx] = True

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        return self.self_attention_cache.update(key_states, value_states, layer_idx, cache_kwargs)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.self_attention_cache.get_seq_length(layer_idx)

    def get_max_cache_shape(self, layer_idx: int = 0) -> int:
        return self.self_attention_cache.get_max_cache_shape(layer_idx)

    def get_mask_sizes(self, cache_position: torch.Tensor, layer_idx: int = 0) -> tuple[int, int]:
        return self.self_attention_cache.get_mask_sizes(cache_position, layer_idx)

    @property
    def is_compileable(self) -> bool:
        return self.self_attention_cache.is_compileable

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.self_attention_cache.reorder_cache(beam_idx)
        self.cross_attention_cache.reorder_cache(beam_idx)

    def batch_repeat_interleave(self, repeats: int) -> None:
        self.self_attention_cache.batch_repeat_interleave(repeats)
        self.cross_attention_cache.batch_repeat_interleave(repeats)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.self_attention_cache.batch_select_indices(indices)
        self.cross_attention_cache.batch_select_indices(indices)

    def crop(self, max_length: int) -> None:
        self.self_attention_cache.crop(max_length)

    def reset(self) -> None:
        self.self_attention_cache.reset()
        self.cross_attention_cache.reset()
        self.is_updated = {i: False for i in self.is_updated}

    def to_legacy_cache(self) -> tuple:
        own = self.self_attention_cache.to_legacy_cache()
        if not len(self.cross_attention_cache):
            return own
        return tuple(mine + cross for mine, cross in zip(own, self.cross_attention_cache.to_legacy_cache()))

    @classmethod
    def from_legacy_cache(cls, past_key_values) -> "EncoderDecoderCache":
        """A cache holding a tuple of (keys, values, cross keys, cross values) per layer."""
        return cls(past_key_values or ())

    def __getitem__(self, layer_idx: int):
        if not -len(self) <= layer_idx < len(self):
            raise KeyError(f"Cache only has {len(self)} layers, attempted to access layer with index {layer_idx}")
        cross = self.cross_attention_cache
        extra = cross[layer_idx] if layer_idx < len(cross) or -len(cross) <= layer_idx < 0 else ()
        return tuple(self.self_attention_cache[layer_idx]) + tuple(extra)

    def __iter__(self):
        for layer_idx in range(len(self)):
            yield self[layer_idx]

    def __len__(self) -> int:
        return len(self.self_attention_cache)

    def __repr__(self) -> str:
        return (f"EncoderDecoderCache(self_attention_cache={self.self_attention_cache!r}, "
                f"cross_attention_cache={self.cross_attention_cache!r})")


class SlotCache(Cache):
    """Keys and values of up to `max_batch_size` independent sequences ("slots") of up to `max_cache_len` positions
    each, allocated once: what a server needs, whose requests start, decode side by side and finish at different
    times. Slot i is row i of every layer's buffer; `lengths[i]` is how many positions it holds.

    Before each forward the caller says which slots it feeds and how (the model then runs as usual on this cache):

    * `plan_decode(rows)`: one new token for each of slots 0..rows-1, each written after its own length. The rows
      look to the model like a right-padded batch whose longest row holds `max(lengths)` positions; the
      `attention_mask` and `position_ids` to pass are returned.
    * `plan_prefill(slot, new)`: `new` tokens of one sequence, after what its slot holds (a prompt, or the next
      chunk of a long one).
    * `plan_packed(slots, sizes)`: the prompts of several empty slots concatenated into one row; each token
      attends to its own prompt only. Returns the `position_ids` and the index of each prompt's last
      token.

    Free slots keep stale states; they are never read (positions past a slot's length are masked).
    """

    def __init__(self, config, max_batch_size: int, max_cache_len: int, device=None, dtype=None):
        super().__init__()
        if max_batch_size < 1 or max_cache_len < 1:
            raise ValueError(f"SlotCache needs max_batch_size >= 1 and max_cache_len >= 1, got {max_batch_size} "
                             f"and {max_cache_len}.")
        self.max_batch_size, self.max_cache_len = int(max_batch_size), int(max_cache_len)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype or torch.float32
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        shape = (self.max_batch_size, heads, self.max_cache_len, head_dim)
        for layer_idx in range(config.num_hidden_layers):
            layer = self._layer(layer_idx)
            layer.k = torch.zeros(shape, dtype=self.dtype, device=self.device)
            layer.v = torch.zeros(shape, dtype=self.dtype, device=self.device)
        self.lengths = [0] * self.max_batch_size
        self._plan = None

    # planning one forward ------------------------------------------------------------------------------------
    def _check_room(self, slot: int, new: int) -> None:
        if self.lengths[slot] + new > self.max_cache_len:
            raise ValueError(f"Slot {slot} holds {self.lengths[slot]} positions; {new} more exceed max_cache_len "
                             f"({self.max_cache_len}).")

    def plan_decode(self, rows: int) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Prepare a forward of one token for each of slots 0..rows-1; returns (attention_mask or None when every
        row has the same length, position_ids [rows, 1])."""
        lengths = self.lengths[:rows]
        for slot in range(rows):
            self._check_room(slot, 1)
        longest = max(lengths)
        at = torch.tensor(lengths, dtype=torch.long, device=self.device)
        mask = None
        self.layout = None
        if min(lengths) != longest:
            mask = (torch.arange(longest + 1, device=self.device) <= at[:, None]).long()
            self.layout = RowLayout(query_positions=at[:, None])
        self._plan = ("decode", rows, longest, torch.arange(rows, device=self.device), at)
        for slot in range(rows):
            self.lengths[slot] += 1
        return mask, at[:, None]

    def plan_prefill(self, slot: int, new: int) -> None:
        """Prepare a forward of `new` tokens of one sequence into `slot`, after what it holds."""
        self._check_room(slot, new)
        self._plan = ("prefill", slot, self.lengths[slot])
        self.lengths[slot] += new
        self.layout = None

    def plan_packed(self, slots: list[int], sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Prepare a forward of several whole prompts (sizes[i] tokens for the empty slot slots[i]) packed into one
        row in that order; returns (position_ids [1, total], index of each prompt's last token [len(slots)])."""
        for slot, size in zip(slots, sizes):
            if self.lengths[slot]:
                raise ValueError(f"plan_packed fills empty slots; slot {slot} holds {self.lengths[slot]} positions.")
            self._check_room(slot, size)
        device = self.device
        sizes_t = torch.tensor(sizes, dtype=torch.long, device=device)
        starts = torch.cumsum(sizes_t, 0) - sizes_t
        total = int(sizes_t.sum())
        segments = torch.repeat_interleave(torch.arange(len(sizes), device=device), sizes_t)
        positions = torch.arange(total, device=device) - starts[segments]
        rows = torch.tensor(slots, dtype=torch.long, device=device)[segments]
        self._plan = ("packed", rows, positions, total)
        for slot, size in zip(slots, sizes):
            self.lengths[slot] = size
        self.layout = RowLayout(segments=segments) if len(slots) > 1 else None
        return positions[None], starts + sizes_t - 1

    # the model's side -----------------------------------------------------------------------------------------
    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        layer = self.layers[layer_idx]
        kind = self._plan[0]
        if kind == "decode":
            _, rows, longest, row_index, at = self._plan
            layer.k[row_index, :, at] = key_states[:, :, 0].to(layer.k.dtype)
            layer.v[row_index, :, at] = value_states[:, :, 0].to(layer.v.dtype)
            return layer.k[:rows, :, : longest + 1], layer.v[:rows, :, : longest + 1]
        if kind == "prefill":
            _, slot, start = self._plan
            end = start + key_states.shape[-2]
            layer.k[slot:slot + 1, :, start:end] = key_states
            layer.v[slot:slot + 1, :, start:end] = value_states
            return layer.k[slot:slot + 1, :, :end], layer.v[slot:slot + 1, :, :end]
        _, rows, positions, _ = self._plan
        layer.k[rows, :, positions] = key_states[0].transpose(0, 1).to(layer.k.dtype)
        layer.v[rows, :, positions] = value_states[0].transpose(0, 1).to(layer.v.dtype)
        return key_states, value_states

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Positions before the new tokens of the planned forward (the longest row's, for a decode step)."""
        if self._plan is None:
            return 0
        kind = self._plan[0]
        return self._plan[2] if kind in ("decode", "prefill") else 0

    def get_mask_sizes(self, cache_position: torch.Tensor, layer_idx: int = 0) -> tuple[int, int]:
        if self._plan is not None and self._plan[0] == "packed":
            return self._plan[3], 0
        return self.get_seq_length(layer_idx) + cache_position.shape[0], 0

    def get_max_cache_shape(self, layer_idx: int = 0) -> int:
        return self.max_cache_len

    # slots ----------------------------------------------------------------------------------------------------
    def copy_slot(self, source: int, target: int) -> None:
        """Make slot `target` hold what slot `source` holds (its filled positions)."""
        length = self.lengths[source]
        if source != target:
            for layer in self.layers:
                layer.k[target, :, :length] = layer.k[source, :, :length]
                layer.v[target, :, :length] = layer.v[source, :, :length]
        self.lengths[target] = length

    def free(self, slot: int) -> None:
        """Forget what `slot` holds (its states stay, unread, until the slot is filled again)."""
        self.lengths[slot] = 0

    def reorder_cache(self, beam_idx):
        raise NotImplementedError("A SlotCache serves independent sequences; beam search uses a DynamicCache.")

    def batch_repeat_interleave(self, repeats):
        raise NotImplementedError("A SlotCache has a fixed number of slots; fill more with copy_slot().")

    def batch_select_indices(self, indices):
        raise NotImplementedError("A SlotCache has a fixed number of slots; free them with free().")

    def crop(self, max_length: int) -> None:
        raise NotImplementedError("A SlotCache cannot be cropped; free() a slot instead.")

    def reset(self) -> None:
        self.lengths = [0] * self.max_batch_size
        self._plan, self.layout = None, None

    def __repr__(self) -> str:
        used = sum(1 for n in self.lengths if n)
        return (f"SlotCache(layers={len(self.layers)}, slots={self.max_batch_size}, used={used}, "
                f"max_cache_len={self.max_cache_len})")
