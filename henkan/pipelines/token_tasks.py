"""The pipelines that read the model's scores at each token: fill-mask and token-classification (NER)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..logging import get_logger
from .base import ChunkPipeline, Pipeline

logger = get_logger(__name__)

AGGREGATIONS = ("none", "simple", "first", "average", "max")


class _PerTokenPipeline(Pipeline):
    """Gives postprocess one input's tokens: its `input_ids` and `logits` with the padding cut off, the input itself
    as `text`, and what preprocess returned under `_side_keys` (per-token facts the model does not take)."""

    def _forward(self, batch: dict) -> dict:
        return {"logits": self.run_model(batch)["logits"], "input_ids": batch["input_ids"],
                "attention_mask": batch["attention_mask"]}

    def _row(self, outputs: dict, row: int, item) -> dict:
        real = outputs["attention_mask"][row].bool()
        return {"input_ids": outputs["input_ids"][row][real].cpu(),
                "logits": outputs["logits"][row][real].float().cpu(), "text": item}


class FillMaskPipeline(_PerTokenPipeline):
    """Guess the token behind each mask token of a text: the `top_k` (5) best `{"score", "token", "token_str",
    "sequence"}`, best first. A text with several masks gives one such list per mask, each mask scored on its own
    and its sequence decoded with the special tokens. `targets` (a word or a list) limits the guesses to those
    tokens; a word outside the vocabulary stands for its first token."""

    def _sanitize_parameters(self, top_k=None, targets=None, tokenizer_kwargs=None, **kwargs):
        super()._sanitize_parameters(**kwargs)
        if self.tokenizer.mask_token_id is None:
            raise ValueError("The fill-mask pipeline needs a tokenizer with a mask token; this one has none.")
        post = {} if top_k is None else {"top_k": top_k}
        if targets is not None:
            post["target_ids"] = self._target_ids([targets] if isinstance(targets, str) else targets)
        return ({"tokenizer_kwargs": tokenizer_kwargs} if tokenizer_kwargs else {}), {}, post

    def _target_ids(self, targets) -> list[int]:
        vocab, ids = self.tokenizer.get_vocab(), []
        for target in targets:
            if target in vocab:
                ids.append(vocab[target])
                continue
            first = self.tokenizer(target, add_special_tokens=False)["input_ids"][:1]
            if first:
                logger.warning(f"The target {target!r} is not in the vocabulary; scoring its first token "
                               f"{self.tokenizer.convert_ids_to_tokens(first[0])!r} instead.")
            else:
                logger.warning(f"The target {target!r} gives no token; it is left out.")
            ids += first
        if not ids:
            raise ValueError(f"targets={targets!r} gives no token to score.")
        return list(set(ids))

    def __call__(self, inputs, *args, **kwargs):
        result = super().__call__(inputs, *args, **kwargs)
        return result[0] if isinstance(inputs, list) and len(inputs) == 1 else result

    def preprocess(self, text, tokenizer_kwargs=None):
        encoded = self.tokenizer(text, **(tokenizer_kwargs or {}))
        if self.tokenizer.mask_token_id not in encoded["input_ids"]:
            raise ValueError(f"No mask token ({self.tokenizer.mask_token}) in {text!r}: fill-mask fills the places "
                             "marked with it.")
        return encoded

    def postprocess(self, outputs, top_k=5, target_ids=None):
        ids, pad_id = outputs["input_ids"], self.tokenizer.pad_token_id
        places = (ids == self.tokenizer.mask_token_id).nonzero()[:, 0].tolist()
        probs = outputs["logits"][places].softmax(-1)
        if target_ids is not None:
            probs, top_k = probs[:, target_ids], min(top_k, len(target_ids))
        single = len(places) == 1
        results = []
        for place, scores, picks in zip(places, *probs.topk(top_k)):
            guesses = []
            for score, pick in zip(scores.tolist(), picks.tolist()):
                token = pick if target_ids is None else target_ids[pick]
                filled = ids.clone()
                filled[place] = token
                if pad_id is not None:
                    filled = filled[filled != pad_id]
                guesses.append({"score": score, "token": token, "token_str": self.tokenizer.decode([token]),
                                "sequence": self.tokenizer.decode(filled.tolist(), skip_special_tokens=single)})
            results.append(guesses)
        return results[0] if single else results


def _split_label(label: str) -> tuple[bool, str]:
    """(whether the label begins an entity, the entity type): "B-PER" -> (True, "PER"); "I-PER", "PER" -> False."""
    if label.startswith(("B-", "I-")):
        return label[0] == "B", label[2:]
    return False, label


class _WithOffsets:
    """One input of a batch called with `offset_mapping=`: the text and its own offsets."""

    def __init__(self, text, offsets):
        self.text, self.offsets = text, offsets


class TokenClassificationPipeline(ChunkPipeline):
    """Label the tokens of texts: per text, `{"entity", "score", "index", "word", "start", "end"}` for each token whose
    label is not in `ignore_labels` (["O"]); start and end are character offsets into the text, scores numpy float32
    as 4.57 gives them.

    Other `aggregation_strategy` values give `{"entity_group", "score", "word", "start", "end"}` for runs of tokens of
    one entity type (a B- label starts a new run), the score being their mean. "simple" labels tokens on their own;
    "first", "average" and "max" give each word one label first: its first token's, the best of its tokens' averaged
    scores, or that of its most confident token. Words are found by the subword prefix of WordPiece vocabularies,
    else by the spaces around each token.

    A text longer than the model's maximum is truncated, or with `stride=n` read in windows overlapping by n tokens
    whose entities are merged (the longer, then the more confident, of overlapping ones). `is_split_into_words=True`
    takes lists of words (joined by `delimiter`, " ", for the offsets); `offset_mapping=` gives the tokens' character
    offsets where the tokenizer has none."""

    _side_keys = ("special_tokens_mask", "offset_mapping", "sentence", "word_ids", "word_to_chars_map")

    def __call__(self, inputs, **kwargs):
        if isinstance(inputs, (list, tuple)) and not inputs or inputs is None:
            raise ValueError("token-classification needs at least one text.")
        if kwargs.get("is_split_into_words") and isinstance(inputs, (list, tuple)) and \
                not all(isinstance(item, (list, tuple)) for item in inputs):
            inputs = [list(inputs)]  # one pre-split text: a batch of one, as 4.57 answers it
        offsets = kwargs.pop("offset_mapping", None)
        if offsets:
            if isinstance(offsets, list) and isinstance(offsets[0], tuple):
                offsets = [offsets]
            texts = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(texts, list) or len(offsets) != len(texts):
                raise ValueError(f"offset_mapping gives offsets for {len(offsets)} text(s) and the input has "
                                 f"{len(texts) if isinstance(texts, list) else 'a stream of'}; give one list of "
                                 "(start, end) pairs per text.")
            wrapped = [_WithOffsets(text, offset) for text, offset in zip(texts, offsets)]
            inputs = wrapped[0] if isinstance(inputs, str) else wrapped
        return super().__call__(inputs, **kwargs)

    _single_types = (str, _WithOffsets)

    def _sanitize_parameters(self, ignore_labels=None, aggregation_strategy=None, grouped_entities=None,
                             ignore_subwords=None, is_split_into_words=False, stride=None, delimiter=None,
                             **kwargs):
        super()._sanitize_parameters(**kwargs)
        if grouped_entities is not None or ignore_subwords is not None:
            aggregation_strategy = "none" if not grouped_entities else "first" if ignore_subwords else "simple"
            warnings.warn("grouped_entities and ignore_subwords are deprecated; use "
                          f"aggregation_strategy={aggregation_strategy!r}.", FutureWarning)
        pre = {"is_split_into_words": bool(is_split_into_words)}
        if is_split_into_words:
            pre["delimiter"] = " " if delimiter is None else delimiter
        post = {} if ignore_labels is None else {"ignore_labels": ignore_labels}
        if aggregation_strategy is not None:
            strategy = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
            if strategy not in AGGREGATIONS:
                raise ValueError(f"Unknown aggregation_strategy {aggregation_strategy!r}; the strategies are "
                                 f"{', '.join(AGGREGATIONS)}.")
            post["aggregation_strategy"] = strategy
        if stride is not None:
            if not isinstance(stride, int) or stride < 0 or stride >= self.tokenizer.model_max_length:
                raise ValueError(f"stride={stride!r} must be an integer from 0 to below the tokenizer's "
                                 f"model_max_length ({self.tokenizer.model_max_length}), less its special tokens.")
            if post.get("aggregation_strategy") == "none":
                raise ValueError('stride reads a long text in windows, whose tokens cannot be merged with '
                                 'aggregation_strategy="none": choose "simple", "first", "average" or "max".')
            pre["stride"] = stride
        return pre, {}, post

    def preprocess(self, item, is_split_into_words=False, delimiter=None, stride=None):
        given = None
        if isinstance(item, _WithOffsets):
            item, given = item.text, item.offsets
        word_spans = None
        if is_split_into_words:
            if not isinstance(item, (list, tuple)) or not all(isinstance(w, str) for w in item):
                raise ValueError("With is_split_into_words=True each input is a list of words (strings).")
            sentence, word_spans, place = delimiter.join(item), [], 0
            for word in item:
                word_spans.append((place, place + len(word)))
                place += len(word) + len(delimiter)
            text = list(item)
        elif not isinstance(item, str):
            raise ValueError(f"token-classification labels texts (or lists of words with is_split_into_words=True); "
                             f"got a {type(item).__name__}.")
        else:
            sentence = text = item
        options = {"return_overflowing_tokens": True, "stride": stride} if stride is not None else {}
        encoded = self.tokenizer([text], truncation=self._may_truncate,
                                 is_split_into_words=is_split_into_words, return_special_tokens_mask=True,
                                 return_offsets_mapping=True, **options)
        encoded.pop("overflow_to_sample_mapping", None)
        names = [name for name in encoded if name not in ("special_tokens_mask", "offset_mapping")]
        for window in range(len(encoded["input_ids"])):
            yield {**{name: encoded[name][window] for name in names},
                   "special_tokens_mask": encoded["special_tokens_mask"][window],
                   "offset_mapping": given if given is not None else encoded["offset_mapping"][window],
                   "sentence": sentence, "word_ids": encoded.word_ids(window) if word_spans else None,
                   "word_to_chars_map": word_spans}

    def _forward(self, batch: dict) -> dict:
        return {"logits": self.run_model(batch)["logits"], "input_ids": batch["input_ids"],
                "attention_mask": batch["attention_mask"]}

    def _row(self, outputs: dict, row: int, item) -> dict:
        real = outputs["attention_mask"][row].bool()
        return {"input_ids": outputs["input_ids"][row][real].tolist(),
                "logits": outputs["logits"][row][real].float().cpu().numpy()}

    def postprocess(self, windows: list[dict], aggregation_strategy="none", ignore_labels=("O",)):
        entities = []
        for window in windows:
            logits = window["logits"]
            scores = np.exp(logits - logits.max(-1, keepdims=True))
            tokens = self._tokens(window, scores / scores.sum(-1, keepdims=True), aggregation_strategy)
            if aggregation_strategy in ("none", "simple"):
                found = [{**self._label(t["scores"]), **{k: t[k] for k in ("index", "word", "start", "end")}}
                         for t in tokens]
            else:
                found = [self._word(group, aggregation_strategy) for group in self._words(tokens)]
            if aggregation_strategy != "none":
                found = self._entity_groups(found)
            entities += [e for e in found if e.get("entity") not in ignore_labels and
                         e.get("entity_group") not in ignore_labels]
        return _merge_overlaps(entities) if len(windows) > 1 else entities

    def _tokens(self, window, scores, strategy) -> list[dict]:
        """A window's tokens (special ones left out) with their scores, offsets, and whether each continues a
        word."""
        text, tokenizer = window["sentence"], self.tokenizer
        word_ids, word_spans = window["word_ids"], window["word_to_chars_map"]
        by_prefix = bool(getattr(tokenizer.backend_tokenizer.model, "continuing_subword_prefix", None))
        if not by_prefix and strategy in ("first", "average", "max"):
            warnings.warn("This tokenizer marks no subwords: a token continues a word when no space precedes it.")
        tokens = []
        for index, (token_id, special, (start, end)) in enumerate(
                zip(window["input_ids"], window["special_tokens_mask"], window["offset_mapping"])):
            if special:
                continue
            if word_ids is not None and word_ids[index] is not None:  # offsets within the word: into the text
                start, end = start + word_spans[word_ids[index]][0], end + word_spans[word_ids[index]][0]
            word, piece = tokenizer.convert_ids_to_tokens(token_id), text[start:end]
            if by_prefix:
                continues = len(word) != len(piece)
            else:
                continues = start > 0 and " " not in text[start - 1:start + 1]
            if token_id == tokenizer.unk_token_id:
                word, continues = piece, False  # the text's own characters say more than "[UNK]"
            tokens.append({"word": word, "scores": scores[index], "start": start, "end": end, "index": index,
                           "continues": continues})
        return tokens

    def _label(self, scores) -> dict:
        best = scores.argmax()
        return {"entity": self.model.config.id2label[int(best)], "score": scores[best]}

    @staticmethod
    def _words(tokens: list[dict]) -> list[list[dict]]:
        words = []
        for token in tokens:
            if words and token["continues"]:
                words[-1].append(token)
            else:
                words.append([token])
        return words

    def _word(self, tokens: list[dict], strategy: str) -> dict:
        if strategy == "first":
            scores = tokens[0]["scores"]
        elif strategy == "max":
            scores = max((t["scores"] for t in tokens), key=lambda s: s.max())
        else:
            scores = np.nanmean(np.stack([t["scores"] for t in tokens]), axis=0)
        return {**self._label(scores), "word": self.tokenizer.convert_tokens_to_string([t["word"] for t in tokens]),
                "start": tokens[0]["start"], "end": tokens[-1]["end"]}

    def _entity_groups(self, entities: list[dict]) -> list[dict]:
        runs = []
        for entity in entities:
            begins, kind = _split_label(entity["entity"])
            if runs and not begins and kind == _split_label(runs[-1][-1]["entity"])[1]:
                runs[-1].append(entity)
            else:
                runs.append([entity])
        return [{"entity_group": run[0]["entity"].split("-", 1)[-1],
                 "score": np.mean(np.nanmean([e["score"] for e in run])),
                 "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in run]),
                 "start": run[0]["start"], "end": run[-1]["end"]} for run in runs]


def _merge_overlaps(entities: list[dict]) -> list[dict]:
    """Entities of overlapping windows, each overlap settled for the longer entity, then the more confident."""
    if not entities:
        return entities
    entities = sorted(entities, key=lambda e: e["start"])
    merged, kept = [], entities[0]
    for entity in entities:
        if kept["start"] <= entity["start"] < kept["end"]:
            length, kept_length = entity["end"] - entity["start"], kept["end"] - kept["start"]
            if length > kept_length or (length == kept_length and entity["score"] > kept["score"]):
                kept = entity
        else:
            merged.append(kept)
            kept = entity
    merged.append(kept)
    return merged
