"""Zero-shot classification: an NLI model scores each candidate label as a hypothesis about the text."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..logging import get_logger
from .base import ChunkPipeline

logger = get_logger(__name__)


def _labels(candidate_labels) -> list[str]:
    """A list of labels, from a list or a comma-separated string."""
    if isinstance(candidate_labels, str):
        return [label.strip() for label in candidate_labels.split(",") if label.strip()]
    return list(candidate_labels)


class ZeroShotClassificationPipeline(ChunkPipeline):
    """`{"sequence", "labels", "scores"}` per text, the labels best first.

    Each of `candidate_labels` becomes the hypothesis `hypothesis_template.format(label)` ("This example is {}.")
    paired with the text; the model's entailment logit (the config label starting with "entail") scores it. The
    scores are a softmax over the labels, or with `multi_label=True` (or a single label) each label's own softmax of
    entailment against contradiction."""

    _side_keys = ("candidate_label", "sequence")
    _single_types = (str,)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.entailment_id == -1:
            logger.warning("No label of the model's config starts with 'entail' (label2id: "
                           f"{dict(self.model.config.label2id)}): the last label is taken as entailment. Give the "
                           "config descriptive labels (entailment, neutral, contradiction) for correct scores.")

    @property
    def entailment_id(self) -> int:
        for label, index in self.model.config.label2id.items():
            if label.lower().startswith("entail"):
                return index
        return -1

    def __call__(self, sequences, *args, **kwargs):
        if len(args) == 1 and "candidate_labels" not in kwargs:
            kwargs["candidate_labels"] = args[0]
        elif args:
            raise ValueError(f"zero-shot-classification takes the texts and candidate_labels; {len(args)} more "
                             "positional argument(s) given.")
        return super().__call__(sequences, **kwargs)

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, multi_label=None,
                             multi_class=None, **kwargs):
        super()._sanitize_parameters(**kwargs)
        if multi_class is not None:
            warnings.warn("multi_class is deprecated; use multi_label.", FutureWarning, stacklevel=3)
            multi_label = multi_class if multi_label is None else multi_label
        pre = {}
        if candidate_labels is not None:
            pre["candidate_labels"] = _labels(candidate_labels)
        if hypothesis_template is not None:
            pre["hypothesis_template"] = hypothesis_template
        return pre, {}, ({"multi_label": multi_label} if multi_label is not None else {})

    def preprocess(self, sequence, candidate_labels=None, hypothesis_template="This example is {}."):
        if not isinstance(sequence, str):
            raise ValueError(f"zero-shot-classification classifies texts; got a {type(sequence).__name__}.")
        if not candidate_labels:
            raise ValueError("candidate_labels is empty or missing: pass the labels to choose from, e.g. "
                             "candidate_labels=['sports', 'politics'].")
        if not sequence:
            raise ValueError("An empty text cannot be classified: pass at least one character.")
        if hypothesis_template.format(candidate_labels[0]) == hypothesis_template:
            raise ValueError(f"hypothesis_template={hypothesis_template!r} has no {{}} for the label: write e.g. "
                             "'This example is {}.'")
        for label in candidate_labels:
            pair = (sequence, hypothesis_template.format(label))
            try:
                encoded = self.tokenizer(*pair, truncation="only_first")
            except Exception as e:  # the hypothesis alone is over the length: encode in full, as 4.57 does
                if "too short" not in str(e):
                    raise
                encoded = self.tokenizer(*pair, truncation=False)
            yield {**encoded, "candidate_label": label, "sequence": sequence}

    def _forward(self, batch: dict) -> dict:
        return {"logits": self.run_model(batch)["logits"]}

    def _row(self, outputs: dict, row: int, item) -> dict:
        return {"logits": outputs["logits"][row].float().cpu().numpy()}

    def postprocess(self, rows: list[dict], multi_label=False):
        labels = [row["candidate_label"] for row in rows]
        logits = np.stack([row["logits"] for row in rows])
        entail = self.entailment_id
        if multi_label or len(labels) == 1:
            pairs = logits[:, [-1 if entail == 0 else 0, entail]]
            scores = (np.exp(pairs) / np.exp(pairs).sum(-1, keepdims=True))[:, 1]
        else:
            scores = np.exp(logits[:, entail])
            scores = scores / scores.sum(-1, keepdims=True)
        best = list(reversed(scores.argsort()))
        return {"sequence": rows[0]["sequence"], "labels": [labels[i] for i in best],
                "scores": scores[best].tolist()}


class ContrastiveZeroShot:
    """What zero-shot image and audio classification share: each of `candidate_labels` becomes the text
    `hypothesis_template.format(label)`, and the contrastive model's similarity logits (`logits_name`) of an input
    with the texts become a softmax over the labels, best first. Inputs sharing their labels are batched with one
    pass of the text tower. The pipeline names its preprocessed tensors (`input_keys`) and its default template."""

    input_keys: tuple[str, ...] = ()
    logits_name = ""
    default_template = ""

    def _require_tokenizer(self, tokenizer, task: str | None) -> None:
        if tokenizer is None:
            raise ValueError(f"{task or type(self).__name__} needs the model's tokenizer for the candidate labels: "
                             "pass tokenizer=, or load the pipeline from a checkpoint folder that has one.")

    def __call__(self, inputs=None, *args, **kwargs):
        if len(args) == 1 and "candidate_labels" not in kwargs:
            kwargs["candidate_labels"] = args[0]
        elif args:
            raise ValueError(f"{self.task or type(self).__name__} takes the inputs and candidate_labels; "
                             f"{len(args)} more positional argument(s) given.")
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(self, candidate_labels=None, hypothesis_template=None, timeout=None,
                             tokenizer_kwargs=None, **kwargs):
        super()._sanitize_parameters(**kwargs)
        pre = {}
        for key, value in (("candidate_labels", candidate_labels), ("hypothesis_template", hypothesis_template),
                           ("timeout", timeout), ("tokenizer_kwargs", tokenizer_kwargs)):
            if value is not None:
                pre[key] = value
        return pre, {}, {}

    def encode_labels(self, candidate_labels, hypothesis_template=None, tokenizer_kwargs=None) -> dict:
        """The labels and their tokenized texts, as preprocess hands them on."""
        template = self.default_template if hypothesis_template is None else hypothesis_template
        if isinstance(candidate_labels, str):
            candidate_labels = [candidate_labels]
        if not candidate_labels:
            raise ValueError("candidate_labels is empty or missing: pass the labels to choose from, e.g. "
                             "candidate_labels=['dog', 'rain'].")
        texts = [template.format(label) for label in candidate_labels]
        if len(candidate_labels) > 1 and len(set(texts)) == 1:
            raise ValueError(f"hypothesis_template={template!r} has no {{}} for the label: write e.g. "
                             f"{self.default_template!r}")
        text = self.tokenizer(texts, return_tensors="pt", **{"padding": True, **(tokenizer_kwargs or {})})
        return {"labels": tuple(candidate_labels), "text": dict(text)}

    def _collate(self, encoded: list[dict]) -> dict:
        batch = {}
        for key in self.input_keys:
            value = torch.cat([item[key] for item in encoded])
            batch[key] = value.to(self.device, self.model.dtype if value.is_floating_point() else None)
        return {**batch, "labels": [item["labels"] for item in encoded], "text": [item["text"] for item in encoded]}

    def _forward(self, batch: dict, **kwargs) -> dict:
        inputs, texts = {key: batch[key] for key in self.input_keys}, batch["text"]
        same = all(labels == batch["labels"][0] and text["input_ids"].equal(texts[0]["input_ids"])
                   for labels, text in zip(batch["labels"], texts))
        groups = [(slice(None), texts[0])] if same else [(slice(i, i + 1), text) for i, text in enumerate(texts)]
        logits = []
        for rows, text in groups:
            text = {key: value.to(self.device) for key, value in text.items()}
            out = self.model(**{key: value[rows] for key, value in inputs.items()}, **text)
            logits.extend(getattr(out, self.logits_name).float().unbind())
        return {"logits": logits, "labels": batch["labels"]}

    def _row(self, outputs: dict, row: int, item) -> dict:
        return {"logits": outputs["logits"][row], "labels": outputs["labels"][row]}

    def postprocess(self, outputs):
        scores = outputs["logits"].softmax(-1).tolist()
        ranked = sorted(zip(scores, outputs["labels"]), key=lambda pair: -pair[0])
        return [{"score": score, "label": label} for score, label in ranked]
