"""The pipeline machinery every task shares: argument routing, batching, streaming, devices."""

from __future__ import annotations

import itertools
import os
import types

import torch

from ..logging import tqdm

_END = object()  # marks the end of a stream
PROGRESS_MIN_ITEMS = 256  # fewer inputs than this run without a progress bar


def _length(feature: dict) -> int:
    ids = feature.get("input_ids")
    return len(ids) if ids is not None and hasattr(ids, "__len__") else 0


class Pipeline:
    """Subclasses define `preprocess(item, **p) -> dict of tensors`, `postprocess(model_outputs, **p)` and which
    call arguments go to each (`_sanitize_parameters`)."""

    _single_types: tuple = (str, dict)  # inputs that are one item (anything else iterable is many)
    _sort_by_length = True  # batch a list's items by length (less padding), or in the caller's order
    _side_keys: tuple = ()  # what preprocess returns beside the model's inputs, handed back to postprocess per row
    bucket_batches = 8  # a stream is sorted by length this many batches at a time

    def __init__(self, model, tokenizer=None, device=None, task: str = "", batch_size: int = 1,
                 feature_extractor=None, image_processor=None, processor=None, **kwargs):
        self.model, self.tokenizer, self.task = model, tokenizer, task
        self.feature_extractor, self.image_processor, self.processor = feature_extractor, image_processor, processor
        if device is not None:
            self.model.to(torch.device(f"cuda:{device}" if isinstance(device, int) and device >= 0 else
                                       "cpu" if device == -1 else device))
        self.model.eval()
        self.batch_size = batch_size
        self._defaults = self._sanitize_parameters(**kwargs)

    @property
    def _may_truncate(self) -> bool:
        """Whether the tokenizer knows a maximum length to cut over-long texts to (rather than crash the model)."""
        return self.tokenizer is not None and 0 < (self.tokenizer.model_max_length or 0) < 1e12

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
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}.")
        if inputs is None:
            raise ValueError(f"The {self.task or type(self).__name__} pipeline got None: pass an input, a list of "
                             "inputs or a generator of them.")
        if self._is_single(inputs):  # one item; preprocess checks its kind
            return self._run([inputs], batch_size, pre, fwd, post)[0]
        if isinstance(inputs, (list, tuple)):
            return self._run(list(inputs), batch_size, pre, fwd, post, progress=True)
        return self._stream(inputs, batch_size, pre, fwd, post)

    def _is_single(self, inputs) -> bool:
        """Whether `inputs` is one item (else a list, tuple, generator or dataset of them)."""
        return isinstance(inputs, self._single_types + (dict, str, bytes))

    def _stream(self, items, batch_size, pre, fwd, post):
        """Results one by one for a generator or dataset, in input order. Items are read a bucket at a time
        (`bucket_batches` batches), sorted by length within the bucket, so a generator is consumed lazily. A progress
        bar shows once the stream is long (from the start when its length is known)."""
        total = len(items) if hasattr(items, "__len__") and not isinstance(items, types.GeneratorType) else None
        if total is not None and not hasattr(items, "__iter__") and hasattr(items, "__getitem__"):
            dataset = items  # a map-style dataset: its indices, not __getitem__ until it fails
            items = (dataset[i] for i in range(total))
        bar, done = None, 0
        bucket, size = [], batch_size * self.bucket_batches
        for item in itertools.chain(items, [_END]):
            if item is not _END:
                bucket.append(item)
            if bucket and (len(bucket) == size or item is _END):
                yield from self._run(bucket, batch_size, pre, fwd, post)
                done += len(bucket)
                bucket = []
                if bar is None and done > PROGRESS_MIN_ITEMS and (total is None or total > PROGRESS_MIN_ITEMS):
                    bar = tqdm(total=total, initial=done, desc=self.task or "pipeline", unit="item")
                elif bar is not None:
                    bar.update(done - bar.n)
        if bar is not None:
            bar.close()

    def _features(self, item, pre: dict) -> list[dict]:
        """The model inputs one item becomes: one for most pipelines, several for a ChunkPipeline."""
        return [self.preprocess(item, **pre)]

    @torch.inference_mode()
    def _run(self, items: list, batch_size: int, pre, fwd, post, progress: bool = False) -> list:
        """Preprocess every item, run the features in batches of similar lengths (less padding), and give each
        item's rows to postprocess; results come back in the items' order."""
        features = [(i, feature) for i, item in enumerate(items) for feature in self._features(item, pre)]
        order = range(len(features))
        if self._sort_by_length:
            order = sorted(order, key=lambda f: -_length(features[f][1]))
        rows = [None] * len(features)
        bar = tqdm(total=len(features), desc=self.task or "pipeline", unit="input",
                   disable=not progress or len(features) <= PROGRESS_MIN_ITEMS)
        for start in range(0, len(features), batch_size):
            index = order[start:start + batch_size]
            chosen = [features[f][1] for f in index]
            side = [{key: feature.pop(key) for key in self._side_keys if key in feature} for feature in chosen]
            outputs = self._forward(self._collate(chosen), **fwd)
            for row, f in enumerate(index):
                rows[f] = {**self._row(outputs, row, items[features[f][0]]), **side[row]}
            bar.update(len(index))
        bar.close()
        return self._gather(items, [i for i, _ in features], rows, post)

    def _gather(self, items: list, owners: list[int], rows: list, post: dict) -> list:
        return [self.postprocess(row, **post) for row in rows]

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
        outputs = self.run_model(batch)
        return {"attention_mask": batch["attention_mask"], **{k: v for k, v in outputs.items()}}

    def run_model(self, batch: dict):
        """The model on a padded batch. Encoders skip the padding (`attn_implementation="unpadded"`) for the call:
        the pipelines read only the real tokens' outputs, which are the same, and mixed-length batches run faster."""
        config = self.model.config
        previous = getattr(config, "_attn_implementation", None)
        if previous not in (None, "eager", "sdpa") or "attention_mask" not in batch:
            return self.model(**batch)
        config._attn_implementation = "unpadded"
        try:
            return self.model(**batch)
        finally:
            config._attn_implementation = previous

    def preprocess(self, item, **kwargs) -> dict:
        raise NotImplementedError

    def postprocess(self, outputs: dict, **kwargs):
        raise NotImplementedError

    def save_pretrained(self, save_directory, safe_serialization: bool = True, **kwargs) -> None:
        """Save the model and tokenizer into one folder, which `pipeline(task, model=folder)` loads back."""
        if os.path.isfile(save_directory):
            raise ValueError(f"save_directory={str(save_directory)!r} is a file; give a folder to save the pipeline "
                             "into.")
        os.makedirs(save_directory, exist_ok=True)
        self.model.save_pretrained(save_directory, safe_serialization=safe_serialization, **kwargs)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(save_directory, **kwargs)


class ChunkPipeline(Pipeline):
    """A pipeline whose `preprocess` yields several model inputs per item (a long context's windows, a text's
    hypotheses) and whose `postprocess` gets all of one item's rows as a list. The windows of all items are batched
    together, so `batch_size` counts forward rows, whatever the inputs are."""

    def _features(self, item, pre: dict) -> list[dict]:
        features = list(self.preprocess(item, **pre))
        if not features:
            raise ValueError(f"The {self.task or type(self).__name__} pipeline made nothing to run from {item!r:.80}.")
        return features

    def _gather(self, items: list, owners: list[int], rows: list, post: dict) -> list:
        grouped = [[] for _ in items]
        for owner, row in zip(owners, rows):
            grouped[owner].append(row)
        return [self.postprocess(group, **post) for group in grouped]


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
