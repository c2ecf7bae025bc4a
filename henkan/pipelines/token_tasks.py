"""The pipelines that read the model's scores at each token: fill-mask and token-classification (NER)."""

from __future__ import annotations

import warnings

import torch

from ..logging import get_logger
from .base import Pipeline

logger = get_logger(__name__)

AGGREGATIONS = ("none", "simple", "first", "average", "max")


class _PerTokenPipeline(Pipeline):
    """Gives postprocess one input's tokens: its `input_ids` and `logits` with the padding cut off, the input itself
    as `text`, and what preprocess returned under `_side_keys` (per-token facts the model does not take)."""

    def _forward(self, batch: dict) -> dict:
        return {"logits": self.model(**batch)["logits"], "input_ids": batch["input_ids"],
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


class TokenClassificationPipeline(_PerTokenPipeline):
    """Label the tokens of texts: per text, `{"entity", "score", "index", "word", "start", "end"}` for each token whose
    label is not in `ignore_labels` (["O"]); start and end are character offsets into the text.

    Other `aggregation_strategy` values give `{"entity_group", "score", "word", "start", "end"}` for runs of tokens of
    one entity type (a B- label starts a new run), the score being their mean. "simple" labels tokens on their own;
    "first", "average" and "max" give each word one label first: its first token's, the best of its tokens' averaged
    scores, or that of its most confident token. Words are found by the subword prefix of WordPiece vocabularies,
    else by the spaces around each token."""

    _side_keys = ("special_tokens_mask", "offset_mapping")

    def _sanitize_parameters(self, ignore_labels=None, aggregation_strategy=None, grouped_entities=None,
                             ignore_subwords=None, **kwargs):
        super()._sanitize_parameters(**kwargs)
        if grouped_entities is not None or ignore_subwords is not None:
            aggregation_strategy = "none" if not grouped_entities else "first" if ignore_subwords else "simple"
            warnings.warn("grouped_entities and ignore_subwords are deprecated; use "
                          f"aggregation_strategy={aggregation_strategy!r}.", FutureWarning)
        post = {} if ignore_labels is None else {"ignore_labels": ignore_labels}
        if aggregation_strategy is not None:
            strategy = str(getattr(aggregation_strategy, "value", aggregation_strategy)).lower()
            if strategy not in AGGREGATIONS:
                raise ValueError(f"Unknown aggregation_strategy {aggregation_strategy!r}; the strategies are "
                                 f"{', '.join(AGGREGATIONS)}.")
            post["aggregation_strategy"] = strategy
        return {}, {}, post

    def preprocess(self, text):
        if not isinstance(text, str):
            raise ValueError(f"token-classification labels texts; got a {type(text).__name__}.")
        return self.tokenizer(text, truncation=bool(self.tokenizer.model_max_length), return_special_tokens_mask=True,
                              return_offsets_mapping=True)

    def postprocess(self, outputs, aggregation_strategy="none", ignore_labels=("O",)):
        logits = outputs["logits"]
        scores = (logits - logits.max(-1, keepdim=True).values).exp()
        tokens = self._tokens(outputs, scores / scores.sum(-1, keepdim=True), aggregation_strategy)
        if aggregation_strategy in ("none", "simple"):
            entities = [{**self._label(t["scores"]), **{k: t[k] for k in ("index", "word", "start", "end")}}
                        for t in tokens]
        else:
            entities = [self._word(group, aggregation_strategy) for group in self._words(tokens)]
        if aggregation_strategy != "none":
            entities = self._entity_groups(entities)
        return [e for e in entities if e.get("entity") not in ignore_labels and e.get("entity_group") not in
                ignore_labels]

    def _tokens(self, outputs, scores, strategy) -> list[dict]:
        """The text's tokens (special ones left out) with their scores, offsets, and whether each continues a word."""
        text, tokenizer = outputs["text"], self.tokenizer
        by_prefix = bool(getattr(tokenizer.backend_tokenizer.model, "continuing_subword_prefix", None))
        if not by_prefix and strategy in ("first", "average", "max"):
            warnings.warn("This tokenizer marks no subwords: a token continues a word when no space precedes it.")
        tokens = []
        for index, (token_id, special, (start, end)) in enumerate(
                zip(outputs["input_ids"].tolist(), outputs["special_tokens_mask"], outputs["offset_mapping"])):
            if special:
                continue
            word, piece = tokenizer.convert_ids_to_tokens(token_id), text[start:end]
            if token_id == tokenizer.unk_token_id:
                word, continues = piece, False  # the text's own characters say more than "[UNK]"
            elif by_prefix:
                continues = len(word) != len(piece)
            else:
                continues = start > 0 and " " not in text[start - 1:start + 1]
            tokens.append({"word": word, "scores": scores[index], "start": start, "end": end, "index": index,
                           "continues": continues})
        return tokens

    def _label(self, scores) -> dict:
        best = int(scores.argmax())
        return {"entity": self.model.config.id2label[best], "score": scores[best].item()}

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
            scores = max((t["scores"] for t in tokens), key=lambda s: s.max().item())
        else:
            scores = torch.stack([t["scores"] for t in tokens]).nanmean(0)
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
                 "score": torch.tensor([e["score"] for e in run]).nanmean().item(),
                 "word": self.tokenizer.convert_tokens_to_string([e["word"] for e in run]),
                 "start": run[0]["start"], "end": run[-1]["end"]} for run in runs]
