"""The task pipelines."""

from __future__ import annotations

import torch

from .base import Pipeline


class FeatureExtractionPipeline(Pipeline):
    """Token vectors: `[[vector per token]]` per input (the last hidden state, padding removed)."""

    def _sanitize_parameters(self, truncation=None, tokenize_kwargs=None, return_tensors=None, **kwargs):
        super()._sanitize_parameters(**kwargs)
        pre = dict(tokenize_kwargs or {})
        if truncation is not None:
            pre["truncation"] = truncation
        return pre, {}, ({"return_tensors": return_tensors} if return_tensors is not None else {})

    def preprocess(self, item, **kwargs):
        return self.tokenizer(item, **kwargs)

    def postprocess(self, outputs, return_tensors=False):
        real = outputs["attention_mask"].bool()
        hidden = outputs["last_hidden_state"][real][None]
        return hidden if return_tensors else hidden.tolist()


class TextClassificationPipeline(Pipeline):
    """`[{"label": ..., "score": ...}]` per text; `top_k=None` gives every label, best first."""

    _UNSET = object()

    def _sanitize_parameters(self, top_k=_UNSET, function_to_apply=None, return_all_scores=None, truncation=None,
                             **kwargs):
        super()._sanitize_parameters(**kwargs)
        post = {}
        if top_k is not self._UNSET:
            post["top_k"] = top_k
        elif return_all_scores is not None:
            post["top_k"] = None if return_all_scores else 1
        if function_to_apply is not None:
            post["function_to_apply"] = function_to_apply
        return ({"truncation": truncation} if truncation is not None else {}), {}, post

    def preprocess(self, item, truncation=None):
        if isinstance(item, dict):
            return self.tokenizer(item["text"], item.get("text_pair"), truncation=truncation)
        return self.tokenizer(item, truncation=truncation)

    def __call__(self, inputs, *args, **kwargs):
        result = super().__call__(inputs, *args, **kwargs)
        single = isinstance(inputs, (str, dict))
        top_k = kwargs.get("top_k", self._defaults[2].get("top_k", 1))
        if single and top_k == 1 and "top_k" not in kwargs and "return_all_scores" not in kwargs:
            return [result]
        return result

    def postprocess(self, outputs, top_k=1, function_to_apply=None):
        config = self.model.config
        logits = outputs["logits"].float()
        if function_to_apply is None:
            multi = config.problem_type == "multi_label_classification" or config.num_labels == 1
            function_to_apply = "sigmoid" if multi else "softmax"
        scores = {"sigmoid": torch.sigmoid, "softmax": lambda x: x.softmax(-1), "none": lambda x: x}[
            str(function_to_apply).lower()](logits)
        ranked = [{"label": config.id2label[i], "score": s.item()} for i, s in enumerate(scores)]
        if top_k == 1:
            return max(ranked, key=lambda r: r["score"])
        ranked.sort(key=lambda r: -r["score"])
        return ranked if top_k is None else ranked[:top_k]
