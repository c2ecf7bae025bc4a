"""Data collators: turn a list of dataset rows into a batch of tensors (padding, label padding, LM masking).

Masked-LM masking draws from torch's generator in the reference's order (positions, then [MASK] replacement, then
random replacement), so a seeded run masks the same tokens under henkan and the reference.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..tokenization.batch_encoding import PaddingStrategy

__all__ = ["default_data_collator", "DefaultDataCollator", "DataCollatorWithPadding",
           "DataCollatorForTokenClassification", "DataCollatorForSeq2Seq", "DataCollatorForLanguageModeling",
           "DataCollatorForWholeWordMask", "DataCollatorMixin"]


def _check_pt(return_tensors: str) -> None:
    if return_tensors != "pt":
        raise ValueError(f"return_tensors={return_tensors!r}: henkan's collators build PyTorch batches ('pt').")


def _rows(features) -> list:
    if not features:
        raise ValueError("The collator got an empty list of rows; the dataset or the batch is empty.")
    return [f if isinstance(f, Mapping) else vars(f) for f in features]


def default_data_collator(features: list, return_tensors: str = "pt") -> dict[str, Any]:
    """Stack rows that are already the same length into tensors. `label` / `label_ids` become `labels` (long for
    ints, float otherwise); strings and None values are left out."""
    _check_pt(return_tensors)
    features = _rows(features)
    first = features[0]
    batch = {}
    for name in ("label", "label_ids"):
        value = first.get(name)
        if value is not None:
            if isinstance(value, torch.Tensor) and value.dim():
                batch["labels"] = torch.stack([f[name] for f in features])
            else:
                probe = value.item() if isinstance(value, (torch.Tensor, np.generic)) else value
                probe = probe[0] if isinstance(probe, (list, tuple)) and probe else probe
                dtype = torch.long if isinstance(probe, (int, np.integer)) else torch.float
                batch["labels"] = torch.tensor(np.array([_plain(f[name]) for f in features]), dtype=dtype)
            break
    for key, value in first.items():
        if key in ("label", "label_ids") or value is None or isinstance(value, str):
            continue
        try:
            if isinstance(value, torch.Tensor):
                batch[key] = torch.stack([f[key] for f in features])
            elif isinstance(value, np.ndarray):
                batch[key] = torch.from_numpy(np.stack([f[key] for f in features]))
            else:
                batch[key] = torch.tensor([f[key] for f in features])
        except (ValueError, RuntimeError, TypeError) as e:
            raise ValueError(f"Could not stack the {key!r} values of the batch into one tensor ({e}). Rows of "
                             f"different lengths need padding: use DataCollatorWithPadding(tokenizer) or pad when "
                             f"tokenizing (padding='max_length').") from e
        except KeyError as e:
            raise ValueError(f"A row of the batch has no {key!r} while the first row has it; every row needs the "
                             f"same columns.") from e
    return batch


def _plain(value):
    return value.tolist() if isinstance(value, (torch.Tensor, np.ndarray, np.generic)) else value


class DataCollatorMixin:
    """Dispatch on `return_tensors` (henkan builds PyTorch batches)."""

    def __call__(self, features, return_tensors=None):
        _check_pt(return_tensors or self.return_tensors)
        return self.torch_call(features)


@dataclass
class DefaultDataCollator(DataCollatorMixin):
    """`default_data_collator` as an object (the form the task guides use)."""

    return_tensors: str = "pt"

    def torch_call(self, features):
        return default_data_collator(features)


def _pad(tokenizer, features, **kwargs):
    """tokenizer.pad without the fast-tokenizer notice (collators pad pre-tokenized rows by design)."""
    if tokenizer is None:
        raise ValueError("This collator pads with a tokenizer: pass tokenizer=... (the model's tokenizer).")
    return tokenizer.pad(features, verbose=False, **kwargs)


def _label_name(features) -> str:
    return "label" if "label" in features[0] else "labels"


def _pad_rows(rows, length: int, value: int, side: str) -> list[list[int]]:
    rows = [_plain(r) for r in rows]
    for r in rows:
        if len(r) > length:
            raise ValueError(f"A label row of length {len(r)} is longer than the padded batch ({length}); truncate "
                             f"the labels with the inputs.")
    return [r + [value] * (length - len(r)) if side == "right" else [value] * (length - len(r)) + r for r in rows]


@dataclass
class DataCollatorWithPadding:
    """Pad the rows' token columns to the longest row (or `max_length` / a multiple of `pad_to_multiple_of`)."""

    tokenizer: Any
    padding: bool | str | PaddingStrategy = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"

    def __call__(self, features):
        _check_pt(self.return_tensors)
        batch = _pad(self.tokenizer, _rows(features), padding=self.padding, max_length=self.max_length,
                     pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")
        for old in ("label", "label_ids"):
            if old in batch:
                batch["labels"] = batch.pop(old)
        return batch


@dataclass
class DataCollatorForTokenClassification(DataCollatorMixin):
    """Pad the inputs, and the per-token labels with `label_pad_token_id` (-100: ignored by the loss)."""

    tokenizer: Any
    padding: bool | str | PaddingStrategy = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    return_tensors: str = "pt"

    def torch_call(self, features):
        features = _rows(features)
        name = _label_name(features)
        labels = [f[name] for f in features] if name in features[0] else None
        batch = _pad(self.tokenizer, [{k: v for k, v in f.items() if k != name} for f in features],
                     padding=self.padding, max_length=self.max_length, pad_to_multiple_of=self.pad_to_multiple_of,
                     return_tensors="pt")
        if labels is not None:
            padded = _pad_rows(labels, batch["input_ids"].shape[1], self.label_pad_token_id,
                               self.tokenizer.padding_side)
            batch[name] = torch.tensor(padded, dtype=torch.int64)
        return batch


@dataclass
class DataCollatorForSeq2Seq:
    """Pad inputs and labels (with -100); given the `model`, also build `decoder_input_ids` from the labels with the
    model's own shift (so the decoder inputs are padded with the pad token, not -100)."""

    tokenizer: Any
    model: Any = None
    padding: bool | str | PaddingStrategy = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = -100
    return_tensors: str = "pt"

    def __call__(self, features, return_tensors=None):
        _check_pt(return_tensors or self.return_tensors)
        features = _rows(features)
        name = _label_name(features)
        labels = [f[name] for f in features] if name in features[0] else None
        if labels is not None and all(label is None for label in labels):
            labels = None
        batch = _pad(self.tokenizer, [{k: v for k, v in f.items() if k != name} for f in features],
                     padding=self.padding, max_length=self.max_length, pad_to_multiple_of=self.pad_to_multiple_of,
                     return_tensors="pt")
        if labels is not None:
            if self.padding is False or self.padding == PaddingStrategy.DO_NOT_PAD:
                batch["labels"] = [_plain(label) for label in labels]
                return batch
            fixed = self.padding in ("max_length", PaddingStrategy.MAX_LENGTH) and self.max_length is not None
            length = self.max_length if fixed else max(len(label) for label in labels)
            if self.pad_to_multiple_of:
                length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
            batch["labels"] = torch.tensor(_pad_rows(labels, length, self.label_pad_token_id,
                                                     self.tokenizer.padding_side), dtype=torch.int64)
            shift = getattr(self.model, "prepare_decoder_input_ids_from_labels", None)
            if shift is not None and "decoder_input_ids" not in batch:
                batch["decoder_input_ids"] = shift(labels=batch["labels"])
        return batch


def _collate_ids(examples, tokenizer, pad_to_multiple_of):
    """Stack rows of token ids, padding them with the tokenizer's pad token when their lengths differ."""
    rows = [torch.as_tensor(_plain(e), dtype=torch.long) for e in examples]
    length = max(r.shape[0] for r in rows)
    if pad_to_multiple_of:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    if all(r.shape[0] == length for r in rows):
        return torch.stack(rows)
    if tokenizer.pad_token_id is None:
        raise ValueError(f"The rows have different lengths and the tokenizer ({type(tokenizer).__name__}) has no pad "
                         f"token; set one (e.g. tokenizer.pad_token = tokenizer.eos_token).")
    out = rows[0].new_full((len(rows), length), tokenizer.pad_token_id)
    for i, r in enumerate(rows):
        if tokenizer.padding_side == "right":
            out[i, :r.shape[0]] = r
        else:
            out[i, length - r.shape[0]:] = r
    return out


@dataclass
class DataCollatorForLanguageModeling(DataCollatorMixin):
    """Batches for language modelling. `mlm=True`: `mlm_probability` of the non-special tokens become targets, of
    which `mask_replace_prob` are replaced by [MASK], `random_replace_prob` by a random token, the rest kept; other
    labels are -100. `mlm=False` (causal LM): labels are the inputs with padding set to -100 (the model shifts)."""

    tokenizer: Any
    mlm: bool = True
    whole_word_mask: bool = False
    mlm_probability: float | None = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    pad_to_multiple_of: int | None = None
    tf_experimental_compile: bool = False
    return_tensors: str = "pt"
    seed: int | None = None

    def __post_init__(self):
        if self.mlm:
            if self.tokenizer.mask_token is None:
                raise ValueError("This tokenizer has no mask token, which masked language modelling needs; pass "
                                 "mlm=False to train a causal language model instead.")
            if self.mlm_probability is None or not 0 <= self.mlm_probability <= 1:
                raise ValueError(f"mlm_probability must be in [0, 1], not {self.mlm_probability}.")
        elif self.whole_word_mask:
            raise ValueError("whole_word_mask=True needs mlm=True.")
        for name in ("mask_replace_prob", "random_replace_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], not {getattr(self, name)}.")
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise ValueError("mask_replace_prob + random_replace_prob must not exceed 1.")
        self.generator = torch.Generator().manual_seed(self.seed) if self.seed is not None else None

    def torch_call(self, examples):
        if isinstance(examples[0], Mapping):
            batch = dict(_pad(self.tokenizer, list(examples), return_tensors="pt",
                              pad_to_multiple_of=self.pad_to_multiple_of))
        else:
            batch = {"input_ids": _collate_ids(examples, self.tokenizer, self.pad_to_multiple_of)}
        special = batch.pop("special_tokens_mask", None)
        offsets = batch.pop("offset_mapping", None)
        if self.mlm:
            batch["input_ids"], batch["labels"] = self.torch_mask_tokens(batch["input_ids"], special, offsets)
        else:
            labels = batch["input_ids"].clone()
            if self.tokenizer.pad_token_id is not None:
                labels[labels == self.tokenizer.pad_token_id] = -100
            batch["labels"] = labels
        return batch

    def _protected(self, labels, special_tokens_mask) -> torch.Tensor:
        """Positions that are never masked: special tokens (and padding)."""
        if special_tokens_mask is None:
            special_tokens_mask = [self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                                   for row in labels.tolist()]
        protected = torch.as_tensor(special_tokens_mask).bool()
        if self.tokenizer.pad_token_id is not None:
            protected |= labels == self.tokenizer.pad_token_id
        return protected

    def torch_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        """Choose the targets and corrupt the inputs; returns (inputs, labels)."""
        labels = inputs.clone()
        probability = torch.full(labels.shape, self.mlm_probability)
        probability.masked_fill_(self._protected(labels, special_tokens_mask), 0.0)
        masked = torch.bernoulli(probability, generator=self.generator).bool()
        return self._corrupt(inputs, labels, masked)

    def _corrupt(self, inputs, labels, masked):
        labels[~masked] = -100
        replaced = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob),
                                   generator=self.generator).bool() & masked
        inputs[replaced] = self.tokenizer.convert_tokens_to_ids(self.tokenizer.mask_token)
        if self.mask_replace_prob == 1 or self.random_replace_prob == 0:
            return inputs, labels
        scaled = self.random_replace_prob / (1 - self.mask_replace_prob)
        randomized = torch.bernoulli(torch.full(labels.shape, scaled), generator=self.generator).bool() & masked \
            & ~replaced
        words = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long, generator=self.generator)
        inputs[randomized] = words[randomized]
        return inputs, labels


@dataclass
class DataCollatorForWholeWordMask(DataCollatorForLanguageModeling):
    """Masked LM that masks whole words: a word-piece continuation (`##...`) is masked with its word. Words are
    drawn until about `mlm_probability` of the tokens are targets; [MASK]/random/keep as in the parent."""

    def torch_call(self, examples):
        rows = [e["input_ids"] if isinstance(e, Mapping) else e for e in examples]
        inputs = _collate_ids(rows, self.tokenizer, self.pad_to_multiple_of)
        chosen = torch.zeros(inputs.shape, dtype=torch.bool)
        for i, row in enumerate(rows):
            ids = _plain(row)
            for position in self._word_mask(self.tokenizer.convert_ids_to_tokens(ids)):
                offset = position if self.tokenizer.padding_side == "right" else inputs.shape[1] - len(ids) + position
                chosen[i, offset] = True
        chosen &= ~self._protected(inputs, None)
        inputs, labels = self._corrupt(inputs, inputs.clone(), chosen)
        return {"input_ids": inputs, "labels": labels}

    def torch_mask_tokens(self, inputs, mask_labels=None, offset_mapping=None):
        """Corrupt `inputs` at the word positions marked in `mask_labels` (1 = chosen); returns (inputs, labels)."""
        if mask_labels is None:
            raise ValueError("DataCollatorForWholeWordMask.torch_mask_tokens needs mask_labels (the chosen words).")
        chosen = torch.as_tensor(mask_labels).bool() & ~self._protected(inputs, None)
        return self._corrupt(inputs, inputs.clone(), chosen)

    def _word_mask(self, tokens: list[str], max_predictions: int = 512) -> list[int]:
        """Positions of whole words drawn at random (Python's `random`) until ~mlm_probability of the tokens."""
        special = set(self.tokenizer.all_special_tokens)
        words: list[list[int]] = []
        for i, token in enumerate(tokens):
            if token in special:
                continue
            if words and token.startswith("##"):
                words[-1].append(i)
            else:
                words.append([i])
        random.shuffle(words)
        budget = min(max_predictions, max(1, round(len(tokens) * self.mlm_probability)))
        picked: list[int] = []
        for word in words:
            if len(picked) + len(word) > budget:
                continue
            picked.extend(word)
            if len(picked) >= budget:
                break
        return picked
