"""The pipeline machinery every task shares: argument routing, batching, streaming, devices."""

from __future__ import annotations

import types

import torch

from ..logging import tqdm


class Pipeline:
    """Subclasses define `preprocess(item, **p) -> dict of tensors`, `postprocess(model_outputs, **p)` and which
    call arguments go to each (`_sanitize_parameters`)."""

    _single_types: tuple = (str, dict)  # inputs that are one item (anything else iterable is many)
    _sort_by_length = True  # batch a list's items by length (less padding), or in the caller's order

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
        if self._is_single(inputs):
            return self._run([inputs], batch_size, pre, fwd, post)[0]
        if isinstance(inputs, (list, tuple)):
            return self._run(list(inputs), batch_size, pre, fwd, post)
        return self._stream(inputs, batch_size, pre, fwd, post)

    def _is_single(self, inputs) -> bool:
        """Whether `inputs` is one item (else a list, tuple, generator or dataset of them)."""
        return isinstance(inputs, self._single_types)

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
        order = range(len(items))
        if self._sort_by_length:
            order = sorted(order, key=lambda i: -len(str(items[i])))  # similar lengths pad less
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
        if len(encoded) > 1 and self.tokenizer.pad_token_id is None:
            raise ValueError("Batching inputs needs a padding token and this tokenizer has none: set one (e.g. "
                             "pipe.tokenizer.pad_token_id = pipe.model.config.eos_token_id), or use batch_size=1.")
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


class GenerationPipeline(Pipeline):
    """A pipeline that calls `model.generate()`.

    Its generation config is, by priority: the construction arguments, the checkpoint's generation config, the
    pipeline's `default_generation`; a `max_length` the checkpoint sets wins over the default `max_new_tokens`. Then
    the model config's `task_specific_params[task]` update it, their `prefix` (else the config's `prefix`) kept as
    `self.prefix` for the inputs. A padding token the tokenizer has is given to generate(). Batches keep the
    caller's order: the generated ids carry their batch's padding, as the reference's do."""

    default_generation: dict = {}
    _model_hint = "AutoModelForCausalLM"  # what to load a model with that can generate, for the error
    _sort_by_length = False

    def __init__(self, model, tokenizer=None, device=None, task: str = "", batch_size: int = 1, **kwargs):
        from ..generation import GenerationConfig

        if not (hasattr(model, "can_generate") and model.can_generate()):
            raise TypeError(f"The {task or type(self).__name__} pipeline needs a model with generate(); "
                            f"{type(model).__name__} has none. Load it with {self._model_hint}.")
        defaults = GenerationConfig(**self.default_generation)
        self.generation_config, kwargs = model._prepare_generation_config(defaults, use_model_defaults=True, **kwargs)
        config = self.generation_config
        if defaults.max_new_tokens is not None and config.max_new_tokens == defaults.max_new_tokens and \
                config.max_length not in (None, 20):
            config.max_new_tokens = None  # the checkpoint's own max_length wins over the pipeline's length
        self.prefix = getattr(model.config, "prefix", None)
        task_params = (getattr(model.config, "task_specific_params", None) or {}).get(task)
        if task_params:
            task_params = dict(task_params)
            self.prefix = task_params.pop("prefix", self.prefix)
            config.update(**task_params)
        if tokenizer is not None and tokenizer.pad_token_id is not None and config.pad_token_id is None:
            config.pad_token_id = tokenizer.pad_token_id
        super().__init__(model, tokenizer, device=device, task=task, batch_size=batch_size,
                         **self._with_model_defaults(kwargs))

    def _with_model_defaults(self, kwargs: dict) -> dict:
        """The construction arguments, with any the pipeline takes from the model added."""
        return kwargs
