"""The pipeline machinery every task shares: argument routing, batching, streaming, devices."""

from __future__ import annotations

import types

import torch

from ..logging import tqdm


class Pipeline:
    """Subclasses define `preprocess(item, **p) -> dict of tensors`, `postprocess(model_outputs, **p)` and which
    call arguments go to each (`_sanitize_parameters`)."""

    _single_types: tuple = (str, dict)  # inputs that are one item (anything else iterable is many)

    def __init__(self, model, tokenizer=None, device=None, task: str = "", batch_size: int = 1, **kwargs):
        self.model, self.tokenizer, self.task = model, tokenizer, task
        if device is not None:
            self.model.to(torch.device(f"cuda:{device}" if isinstance(device, int) and device >= 0 else
                                       "cpu" if device == -1 else device))
        self.model.eval()
        self.batch_size = batch_size
        self._defaults = self._sanitize_parameters(**kwargs)

    @property
    def device(self) -> torch.device:
        return self.model.device

    def _sanitize_parameters(self, **kwargs) -> tuple[dict, dict, dict]:
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected argument(s): {', '.join(sorted(kwargs))}.")
        return {}, {}, {}

    def __call__(self, inputs, *args, batch_size: int | None = None, **kwargs):
        pre, fwd, post = (dict(d) for d in self._defaults)
        for target, extra in zip((pre, fwd, post), self._sanitize_parameters(**kwargs)):
            target.update(extra)
        batch_size = batch_size or self.batch_size
        if isinstance(inputs, self._single_types):
            return self._run([inputs], batch_size, pre, fwd, post)[0]
        if isinstance(inputs, (list, tuple)):
            return self._run(list(inputs), batch_size, pre, fwd, post)
        return self._stream(inputs, batch_size, pre, fwd, post)

    def _stream(self, items, batch_size, pre, fwd, post):
        """Results one by one for a generator or dataset, a batch at a time, with a progress bar."""
        total = len(items) if hasattr(items, "__len__") and not isinstance(items, types.GeneratorType) else None
        bar = tqdm(total=total, desc=self.task or "pipeline", unit="item")
        batch = []
        for item in items:
            batch.append(item)
            if len(batch) == batch_size:
                yield from self._run(batch, batch_size, pre, fwd, post)
                bar.update(len(batch))
                batch = []
        if batch:
            yield from self._run(batch, batch_size, pre, fwd, post)
            bar.update(len(batch))
        bar.close()

    @torch.inference_mode()
    def _run(self, items: list, batch_size: int, pre, fwd, post) -> list:
        order = sorted(range(len(items)), key=lambda i: -len(str(items[i])))  # similar lengths pad less
        results = [None] * len(items)
        for start in range(0, len(items), batch_size):
            index = order[start:start + batch_size]
            encoded = [self.preprocess(items[i], **pre) for i in index]
            outputs = self._forward(self._collate(encoded), **fwd)
            for row, i in enumerate(index):
                results[i] = self.postprocess(self._row(outputs, row, items[i]), **post)
        return results

    def _row(self, outputs: dict, row: int, item) -> dict:
        """What postprocess gets for one input: its row of the batch's outputs."""
        return {k: v[row] for k, v in outputs.items()}

    def _collate(self, encoded: list[dict]) -> dict:
        batch = self.tokenizer.pad(encoded, return_tensors="pt", verbose=False) if len(encoded) > 1 else \
            {k: torch.as_tensor(v)[None] for k, v in encoded[0].items()}
        return {k: v.to(self.device) for k, v in batch.items()}

    def _forward(self, batch: dict, **kwargs) -> dict:
        outputs = self.model(**batch)
        return {"attention_mask": batch["attention_mask"], **{k: v for k, v in outputs.items()}}

    def preprocess(self, item, **kwargs) -> dict:
        raise NotImplementedError

    def postprocess(self, outputs: dict, **kwargs):
        raise NotImplementedError
