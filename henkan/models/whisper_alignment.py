"""Token-level times for Whisper: align generated tokens with the audio through cross-attention.

A few decoder heads (`generation_config.alignment_heads`, [layer, head] pairs chosen per checkpoint) attend to the
audio frame being spoken. Their weights over the generated tokens are standardised per frame column, smoothed along
time with a median filter, averaged over the heads, and a monotonic path through the token x frame matrix is found
by dynamic time warping; each token's time is the frame where the path reaches it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def median_filter(x: torch.Tensor, width: int) -> torch.Tensor:
    """A running median of odd `width` along the last axis, edges mirrored; inputs too short are returned as is."""
    if width <= 0 or width % 2 != 1:
        raise ValueError(f"median_filter_width must be a positive odd number, got {width}.")
    half = width // 2
    if x.shape[-1] <= half:
        return x
    padded = F.pad(x, (half, half, 0, 0), mode="reflect")
    return padded.unfold(-1, width, 1).sort(dim=-1).values[..., half]


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic path through `cost` [tokens, frames] from (0, 0) to the last cell: its token and frame
    index at every step. Accumulated costs are float32 and ties prefer the frame step, then the token step, so the
    path is the one the original implementation finds. Cells of one anti-diagonal are filled together."""
    rows, cols = cost.shape
    total = np.full((rows + 1, cols + 1), np.inf, dtype=np.float32)
    trace = np.full((rows + 1, cols + 1), -1, dtype=np.int8)
    total[0, 0] = 0
    for diagonal in range(2, rows + cols + 1):
        i = np.arange(max(1, diagonal - cols), min(rows, diagonal - 1) + 1)
        j = diagonal - i
        diag, up, left = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
        step = np.full(i.shape, 2, dtype=np.int8)
        step[(up < diag) & (up < left)] = 1
        step[(diag < up) & (diag < left)] = 0
        best = np.where(step == 0, diag, np.where(step == 1, up, left))
        total[i, j] = cost[i - 1, j - 1] + best.astype(np.float64)
        trace[i, j] = step
    trace[0, :], trace[:, 0] = 2, 1
    i, j, tokens, frames = rows, cols, [], []
    while i > 0 or j > 0:
        tokens.append(i - 1)
        frames.append(j - 1)
        move = trace[i, j]
        i, j = (i - 1, j - 1) if move == 0 else (i - 1, j) if move == 1 else (i, j - 1)
    return np.array(tokens[::-1]), np.array(frames[::-1])


def token_timestamps(cross_attentions, alignment_heads, *, prompt_length: int, frames, median_width: int,
                     time_precision: float, beam_indices: torch.Tensor | None = None) -> torch.Tensor:
    """Seconds from the window start for each token of generate()'s `sequences` [rows, prompt + new + 1 values]:
    the prompt's tokens get 0, each generated token the time its path reaches it, and the last token (normally the
    end token, whose cross-attention was never computed) repeats the time before it.

    `cross_attentions`: generate()'s, one tuple per step of [rows (x beams), heads, new tokens, audio positions]
    per layer. `frames`: each row's mel frames of real audio (None: the whole window); attention to the padding
    after them is left out. `beam_indices`: beam search's, to follow each returned sequence through its beams."""
    layers = len(cross_attentions[0])
    for layer, head in alignment_heads:
        if not 0 <= layer < layers:
            raise ValueError(f"generation_config.alignment_heads names decoder layer {layer}, but the model has "
                             f"{layers} layers.")
    per_layer = {layer: torch.cat([step[layer] for step in cross_attentions], dim=2)
                 for layer in {layer for layer, _ in alignment_heads}}
    weights = torch.stack([per_layer[layer][:, head] for layer, head in alignment_heads], dim=1)
    length = weights.shape[2]
    if beam_indices is not None:
        # a returned sequence may have finished before the search did: cut to the longest real one, and follow
        # each sequence's beam at every step (the prompt's steps come from the first step's beam)
        length = int((beam_indices != -1).sum(-1).max())
        beams = beam_indices[:, :length]
        length += prompt_length - 1
        beams = torch.cat([beams[:, :1].expand(-1, prompt_length - 1), beams], dim=1).clamp(min=0)
        weights = torch.stack([weights[beams[:, t], :, t] for t in range(beams.shape[1])], dim=2)
    rows = weights.shape[0]
    out = torch.zeros(rows, length + 1, dtype=torch.float32)
    weights = weights[:, :, prompt_length:]
    if weights.shape[2] == 0:
        return out
    for row in range(rows):
        matrix = weights[row]
        if frames is not None:
            matrix = matrix[..., :int(frames[row]) // 2]
        std = torch.std(matrix, dim=-2, keepdim=True, unbiased=False)
        matrix = (matrix - torch.mean(matrix, dim=-2, keepdim=True)) / std
        matrix = median_filter(matrix, median_width).mean(dim=0)
        tokens, times = dtw_path(-matrix.cpu().double().numpy())
        jumps = np.concatenate([[True], np.diff(tokens) != 0])
        seconds = times[jumps] * time_precision
        out[row] = torch.cat([torch.zeros(prompt_length), torch.tensor(seconds), torch.tensor(seconds[-1:])])
    return out
