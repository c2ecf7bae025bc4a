"""Block-sparse attention (BigBird's ITC pattern), for the encoders of BigBird-Pegasus and BigBird.

The sequence is cut into blocks of `block_size` tokens. The first and the last block are global: their queries see
every key, and every query sees them. Each other query block i sees the window of blocks i-1, i, i+1, the two global
blocks and `num_random_blocks` more blocks: 5 + num_random_blocks blocks instead of all of them. Inputs of at most
(5 + 2 * num_random_blocks) blocks gain nothing from it; the models attend fully to those (`use_block_sparse`).

Random blocks: in eval mode the reference library picks block 0 for every one of them (its random choice only runs
while training), so each non-global query block sees the first block 1 + num_random_blocks times; henkan computes
the same. While training they are drawn with torch's generator, for each layer and head, uniformly among the blocks
outside the query's window and the global blocks. With num_random_blocks=0 (which the reference cannot run) each
query block sees its window and the global blocks.

Masking is the reference's: a padded key adds -10000 to its score; the padding of the query side also masks the
window and random keys of the middle query blocks and the random keys of the second and second-to-last blocks (it
only shows in the attention weights of padded queries); the outputs at padded queries are zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .logging import get_logger

logger = get_logger(__name__)

MASK_PENALTY = -10000.0
ATTENTION_TYPES = ("original_full", "block_sparse")


def check_attention_type(value) -> str:
    if value not in ATTENTION_TYPES:
        raise ValueError(f"attention_type must be 'original_full' or 'block_sparse', not {value!r}.")
    return value


def use_block_sparse(length: int, block_size: int, num_random_blocks: int) -> bool:
    """Whether `length` tokens are long enough for block-sparse attention to differ from full attention; a warning
    (once) says when they are not and full attention is used instead."""
    threshold = (5 + 2 * num_random_blocks) * block_size
    if length > threshold:
        return True
    logger.warning_once(
        f"Block-sparse attention needs more than (5 + 2 * num_random_blocks) * block_size = {threshold} tokens "
        f"(2 global, 3 sliding and 2 * {num_random_blocks} random blocks of {block_size}); shorter inputs attend "
        f"fully ('original_full').")
    return False


def padding_to_blocks(length: int, block_size: int) -> int:
    """How many tokens pad `length` to a multiple of `block_size` (a warning, once, says when any are added)."""
    padding = -length % block_size
    if padding:
        logger.warning_once(f"Inputs are padded from {length} to {length + padding} tokens, a multiple of "
                            f"config.block_size ({block_size}), for block-sparse attention; the outputs drop the "
                            f"padding again.")
    return padding


class BlockSparseLayout:
    """What every layer of one forward pass shares: the blocks each query block attends to and the masks of the
    batch (`attention_mask`: [batch, seq] of 0/1, seq a multiple of `block_size`), in the dtype of the scores."""

    def __init__(self, attention_mask: torch.Tensor, block_size: int, num_random_blocks: int, dtype: torch.dtype):
        batch, length = attention_mask.shape
        if length % block_size:
            raise ValueError(f"Block-sparse attention needs a length that is a multiple of block_size "
                             f"({block_size}); got {length}. Pad the input (the models do).")
        n = self.num_blocks = length // block_size
        if n <= 4 + num_random_blocks:
            raise ValueError(f"Block-sparse attention needs more than {4 + num_random_blocks} blocks of "
                             f"{block_size} tokens; got {n}. Use full attention for inputs this short.")
        self.block_size, self.num_random_blocks, self.dtype = block_size, num_random_blocks, dtype
        device = attention_mask.device
        rows = torch.arange(1, n - 1, device=device)
        # the key blocks of query block i: slots 0-2 its window, 3 and 4 the global blocks, then the random blocks
        self.window = torch.stack([rows - 1, rows, rows + 1, torch.zeros_like(rows), torch.full_like(rows, n - 1)],
                                  dim=-1)  # [n - 2, 5]
        slots = 5 + num_random_blocks
        # the second block's window starts at block 0 and the second-to-last's ends at the last block: those copies
        # of a global block are masked out (the global slot counts it once)
        self.duplicate = torch.zeros(n - 2, slots, dtype=torch.bool, device=device)
        self.duplicate[0, 0] = self.duplicate[-1, 2] = True
        # the slots whose keys the query side's padding masks too
        self.query_masked = torch.zeros(n - 2, slots, dtype=torch.bool, device=device)
        self.query_masked[:, 5:] = True
        self.query_masked[1:-1, :3] = True
        mask = attention_mask.to(dtype)
        self.padded = not bool(mask.all())
        self.blocked_mask = mask.view(batch, n, block_size)
        self.key_penalty = ((1.0 - mask) * MASK_PENALTY)[:, None, None, :] if self.padded else None
        self.query_mask = mask[:, :, None] if self.padded else None
        self._eval_parts = {}

    def random_blocks(self, heads: int, training: bool) -> torch.Tensor:
        """[heads or 1, n - 2, num_random_blocks]: the random blocks of each non-global query block."""
        n, r, device = self.num_blocks, self.num_random_blocks, self.window.device
        if not training:
            return torch.zeros(1, n - 2, r, dtype=torch.long, device=device)
        blocks = torch.arange(n, device=device)
        allowed = (blocks > 0) & (blocks < n - 1) & ((blocks - self.window[:, 1:2]).abs() > 1)  # [n - 2, n]
        draws = torch.rand(heads, n - 2, n, device=device).masked_fill_(~allowed, -1.0)
        return draws.topk(r, dim=-1).indices

    def parts(self, heads: int, training: bool, query_side: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The key blocks of each non-global query block, [heads or 1, n - 2, slots], and the additive mask of
        their scores, [batch or 1, heads * (n - 2), block_size or 1, slots * block_size]. The padding of the query
        side is left out unless `query_side`: it only changes the weights of padded queries, whose outputs are
        zeroed. In eval mode both are the same for every layer and are computed once."""
        key = (heads, query_side)
        if not training and key in self._eval_parts:
            return self._eval_parts[key]
        random = self.random_blocks(heads, training)
        index = torch.cat([self.window.expand(random.shape[0], -1, -1), random], dim=-1)
        size = self.block_size
        duplicate = self.duplicate.repeat_interleave(size, dim=-1)[None, None, :, None]  # [1, 1, n - 2, 1, keys]
        if self.padded:
            visible = self.blocked_mask[:, index].flatten(-2)[:, :, :, None]  # [batch, H, n - 2, 1, keys]
            if query_side:
                queries = self.blocked_mask[:, None, 1:-1, :, None]  # [batch, 1, n - 2, size, 1]
                query_masked = self.query_masked.repeat_interleave(size, dim=-1)[:, None]  # [n - 2, 1, keys]
                visible = visible * torch.where(query_masked, queries, 1.0)
            penalty = (1.0 - visible) * MASK_PENALTY
        else:
            penalty = torch.zeros(duplicate.shape, dtype=self.dtype, device=duplicate.device)
        penalty = penalty.masked_fill(duplicate, float("-inf"))
        batch, _, rows, queries, keys = penalty.shape
        penalty = penalty.expand(batch, heads, rows, queries, keys).reshape(batch, heads * rows, queries, keys)
        if not training:
            self._eval_parts[key] = (index, penalty)
        return index, penalty


def _attention(q, k, v, penalty, need_weights: bool):
    """Softmax attention of [batch, heads, queries, dim] with an additive mask: explicit when the weights are
    wanted, SDPA otherwise."""
    if not need_weights:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=penalty), None
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    weights = (scores if penalty is None else scores + penalty).softmax(-1)
    return weights @ v, weights


def block_sparse_attention(q, k, v, layout: BlockSparseLayout, num_heads: int, *, training: bool = False,
                           output_attentions: bool = False):
    """Block-sparse multi-head attention of [batch, seq, hidden] projections (seq padded to whole blocks). Returns
    the context [batch, seq, hidden] and, with `output_attentions`, the weights spread over a dense
    [batch, heads, seq, seq] float32 matrix (zeros where a query does not look), as the reference returns them."""
    batch, length, hidden = q.shape
    size, n = layout.block_size, layout.num_blocks
    head_dim = hidden // num_heads
    q, k, v = (t.view(batch, length, num_heads, head_dim).transpose(1, 2) for t in (q, k, v))
    blocks = [t.view(batch, num_heads, n, size, head_dim) for t in (q, k, v)]

    # the first and last query blocks attend to every key
    global_queries = torch.cat([blocks[0][:, :, 0], blocks[0][:, :, -1]], dim=2)
    global_context, global_weights = _attention(global_queries, k, v, layout.key_penalty, output_attentions)

    # every other query block attends to its window, the global blocks and its random blocks, gathered per head
    # (the query blocks of all heads are one batch dimension of the attention)
    index, penalty = layout.parts(num_heads, training, query_side=output_attentions)
    heads = torch.arange(num_heads, device=index.device)[:, None, None]
    rows = num_heads * (n - 2)
    keys, values = (t[:, heads, index].view(batch, rows, -1, head_dim) for t in blocks[1:])
    queries = blocks[0][:, :, 1:-1].reshape(batch, rows, size, head_dim)
    context, weights = _attention(queries, keys, values, penalty, output_attentions)

    # both parts written straight into the [batch, seq, heads, dim] layout of the output
    out = q.new_empty(batch, n, size, num_heads, head_dim)
    out[:, 1:-1] = context.view(batch, num_heads, n - 2, size, head_dim).permute(0, 2, 3, 1, 4)
    out[:, ::n - 1] = global_context.view(batch, num_heads, 2, size, head_dim).permute(0, 2, 3, 1, 4)
    out = out.view(batch, length, hidden)
    if layout.query_mask is not None:
        out = out * layout.query_mask
    if not output_attentions:
        return out, None
    weights = weights.view(batch, num_heads, n - 2, size, -1)
    return out, _dense_weights(global_weights, weights, index, n, size)


def _dense_weights(global_weights, weights, index, n: int, size: int) -> torch.Tensor:
    """The sparse weights written into a dense [batch, heads, seq, seq] matrix, block by block: the window and global
    slots first, then the random ones in order, so that where a random block repeats a block already written (block
    0, in eval mode) the last random copy's weights are what show, as in the reference."""
    batch, heads = global_weights.shape[:2]
    dense = torch.zeros(batch, heads, n, n, size, size, dtype=torch.float32, device=weights.device)
    rows = global_weights.view(batch, heads, 2, size, n, size).transpose(3, 4)
    dense[:, :, 0], dense[:, :, -1] = rows[:, :, 0], rows[:, :, 1]
    slots = weights.view(batch, heads, n - 2, size, -1, size).permute(0, 1, 2, 4, 3, 5)
    head_index = torch.arange(heads, device=index.device)[:, None]
    query_blocks = torch.arange(1, n - 1, device=index.device)
    for slot in range(index.shape[-1]):
        dense[:, head_index, query_blocks, index[..., slot]] = slots[:, :, :, slot].float()
    return dense.transpose(3, 4).reshape(batch, heads, n * size, n * size)
