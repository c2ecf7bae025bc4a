"""The task pipelines."""

from __future__ import annotations

import warnings

import numpy as np

from .base import Pipeline


class FeatureExtractionPipeline(Pipeline):
    """Token vectors: `[[vector per token]]` per input (the last hidden state, padding removed)."""

    def _sanitize_parameters(self, truncation=None, tokenize_kwargs=None, return_tensors=None, **kwargs):
        super()._sanitize_parameters(**kwargs)
        pre = dict(tokenize_kwargs or {})
        if truncation is not None:
            if "truncation" in pre:
                raise ValueError("truncation is given twice, as an argument and in tokenize_kwargs: give it once.")
            pre["truncation"] = truncation
        return pre, {}, ({"return_tensors": return_tensors} if return_tensors is not None else {})

    def preprocess(self, item, **kwargs):
        if self._may_truncate:  # a text past the model's maximum is cut to it (the reference's model crashes)
            kwargs.setdefault("truncation", True)
        return self.tokenizer(item, **kwargs)

    def postprocess(self, outputs, return_tensors=False):
        real = outputs["attention_mask"].bool()
        hidden = outputs["last_hidden_state"][real][None]
        return hidden if return_tensors else hidden.tolist()


class TextClassificationPipeline(Pipeline):
    """`[{"label", "score"}]` for a text, or a text pair given as `{"text": ..., "text_pair": ...}`.

    By default the best label alone, as a one-item list for one text (a dict per input otherwise); `top_k=n` gives
    the n best (`None`: every label), best first. `function_to_apply` ("softmax", "sigmoid", "none") turns logits
    into scores; by default softmax, sigmoid for one label or multi-label problems, none for regression. Other
    keywords (`truncation`, `max_length`, `padding`) go to the tokenizer."""

    _UNSET = object()

    def _sanitize_parameters(self, return_all_scores=None, function_to_apply=None, top_k=_UNSET, **tokenizer_kwargs):
        post = {}
        config = self.model.config
        if return_all_scores is None:
            return_all_scores = getattr(config, "return_all_scores", None)
        if top_k is None or isinstance(top_k, int):
            post.update(top_k=top_k, _legacy=False)
        elif top_k is not self._UNSET:
            raise ValueError(f"top_k must be an integer or None (every label), not {top_k!r}.")
        elif return_all_scores is not None:
            warnings.warn("return_all_scores is deprecated: use top_k=None for every label, top_k=1 for the best.",
                          UserWarning, stacklevel=3)
            post["top_k"] = None if return_all_scores else 1
        if function_to_apply is not None:
            name = str(getattr(function_to_apply, "name", function_to_apply)).lower()
            if name not in _SCORE_FUNCTIONS:
                raise ValueError(f"function_to_apply={function_to_apply!r} is not one of "
                                 f"{', '.join(_SCORE_FUNCTIONS)}.")
            post["function_to_apply"] = name
        unknown = set(tokenizer_kwargs) - _TOKENIZER_OPTIONS
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected argument(s): {', '.join(sorted(unknown))}.")
        return tokenizer_kwargs, {}, post

    def __call__(self, inputs, *args, **kwargs):
        result = super().__call__(inputs, *args, **kwargs)
        return [result] if isinstance(inputs, str) and "top_k" not in kwargs else result

    def preprocess(self, item, **tokenizer_kwargs):
        if self._may_truncate:  # a text past the model's maximum is cut to it (the reference's model crashes)
            tokenizer_kwargs.setdefault("truncation", True)
        if isinstance(item, dict):
            if "text" not in item:
                raise ValueError(f"A text pair is a dict with 'text' and 'text_pair'; {sorted(item)} has no 'text'.")
            return self.tokenizer(item["text"], item.get("text_pair"), **tokenizer_kwargs)
        if isinstance(item, list) and len(item) == 1 and isinstance(item[0], list) and len(item[0]) == 2:
            return self.tokenizer(item[0][0], item[0][1], **tokenizer_kwargs)
        if not isinstance(item, str):
            raise ValueError(f"text-classification takes texts, or text pairs as {{'text': ..., 'text_pair': ...}} "
                             f"dicts; got a {type(item).__name__}: {item!r:.80}.")
        return self.tokenizer(item, **tokenizer_kwargs)

    def _row(self, outputs: dict, row: int, item) -> dict:
        return {"logits": outputs["logits"][row].float().cpu().numpy()}

    def postprocess(self, outputs, function_to_apply=None, top_k=1, _legacy=True):
        config = self.model.config
        if function_to_apply is None:
            if config.problem_type == "regression":
                function_to_apply = "none"
            elif config.problem_type == "multi_label_classification" or config.num_labels == 1:
                function_to_apply = "sigmoid"
            else:
                function_to_apply = "softmax"
        scores = _SCORE_FUNCTIONS[function_to_apply](outputs["logits"])
        if top_k == 1 and _legacy:
            return {"label": config.id2label[scores.argmax().item()], "score": scores.max().item()}
        ranked = [{"label": config.id2label[i], "score": score.item()} for i, score in enumerate(scores)]
        if not _legacy:
            ranked.sort(key=lambda r: r["score"], reverse=True)
            if top_k is not None:
                ranked = ranked[:top_k]
        return ranked


def _softmax(logits):
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


_SCORE_FUNCTIONS = {"softmax": _softmax, "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)), "none": lambda x: x}
_TOKENIZER_OPTIONS = {"truncation", "padding", "max_length", "add_special_tokens", "stride", "return_token_type_ids"}
