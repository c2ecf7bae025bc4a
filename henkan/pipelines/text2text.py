"""The encoder-decoder pipelines: text2text-generation, summarization and translation, through `model.generate()`.

Each text gives a list of `num_return_sequences` records, `{"<name>_text": ...}` (generated, summary, translation),
or `{"<name>_token_ids": tensor}` with `return_tensors=True`; a list of texts gives one such list per text, flattened
to one record per text when each has one. Unless the checkpoint says otherwise, they search with 4 beams for up to
256 new tokens. These are the 4.x line's pipelines (the reference's 5.x dropped them); they behave as 4.57's.
"""

from __future__ import annotations

import warnings

import torch

from ..logging import get_logger
from .base import GenerationPipeline

logger = get_logger(__name__)


class Text2TextGenerationPipeline(GenerationPipeline):
    """Text in, generated text out: `[{"generated_text": ...}]` per input. The config's `prefix` (or the task's, in
    `task_specific_params`) goes before each input; keywords other than the pipeline's own go to `generate()`."""

    return_name = "generated"
    default_generation = {"max_new_tokens": 256, "num_beams": 4}
    _model_hint = "AutoModelForSeq2SeqLM"
    _single_types = (str,)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict):
            self._check_text(inputs)
        result = super().__call__(inputs, *args, **kwargs)
        if isinstance(inputs, (list, tuple)) and all(isinstance(item, str) for item in inputs) and \
                all(len(records) == 1 for records in result):
            return [records[0] for records in result]
        return result

    # arguments -----------------------------------------------------------------------------------------------------
    def _sanitize_parameters(self, return_tensors=None, return_text=None, return_type=None,
                             clean_up_tokenization_spaces=None, truncation=None, stop_sequence=None,
                             **generate_kwargs):
        pre = {} if truncation is None else {"truncation": truncation}
        post = {}
        if return_type is None and return_tensors is not None:
            return_type = "tensors" if return_tensors else "text"
        if return_type is not None:
            post["return_type"] = _return_type(return_type)
        if clean_up_tokenization_spaces is not None:
            post["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if stop_sequence is not None:
            ids = self.tokenizer.encode(stop_sequence, add_special_tokens=False)
            if not ids:
                raise ValueError(f"stop_sequence={stop_sequence!r} has no tokens to stop on.")
            if len(ids) > 1:
                warnings.warn(f"stop_sequence={stop_sequence!r} is {len(ids)} tokens; generation stops on its first "
                              "token only.", UserWarning, stacklevel=3)
            generate_kwargs["eos_token_id"] = ids[0]
        return pre, generate_kwargs, post

    def check_inputs(self, input_length: int, min_length: int, max_length: int) -> bool:
        """Warn where the lengths asked for look wrong for the task (nothing to check in general)."""
        return True

    # the three steps -----------------------------------------------------------------------------------------------
    def preprocess(self, text, truncation=None):
        self._check_text(text)
        encoded = self.tokenizer((self.prefix or "") + text, truncation=truncation or False)
        return {key: encoded[key] for key in ("input_ids", "attention_mask") if key in encoded}

    def _check_text(self, text) -> None:
        if not isinstance(text, str):
            raise TypeError(f"The {self.task or 'text2text-generation'} pipeline takes a text or a list of texts; one "
                            f"input is a {type(text).__name__}: {text!r:.80}.")

    def _forward(self, batch: dict, **generate_kwargs) -> dict:
        rows, length = batch["input_ids"].shape
        config = self.generation_config
        self.check_inputs(length, generate_kwargs.get("min_length", config.min_length),
                          generate_kwargs.get("max_length", config.max_length))
        generate_kwargs.setdefault("generation_config", config)
        output = self.model.generate(**batch, **generate_kwargs)
        sequences = output if isinstance(output, torch.Tensor) else output.sequences
        return {"output_ids": sequences.reshape(rows, -1, sequences.shape[-1])}

    def postprocess(self, outputs, return_type="text", clean_up_tokenization_spaces=False):
        if return_type == "tensors":
            return [{f"{self.return_name}_token_ids": ids} for ids in outputs["output_ids"]]
        return [{f"{self.return_name}_text": self.tokenizer.decode(
            ids, skip_special_tokens=True, clean_up_tokenization_spaces=clean_up_tokenization_spaces)}
            for ids in outputs["output_ids"]]


def _return_type(value) -> str:
    """"text" or "tensors", from those names or an enum member named TEXT / TENSORS (the reference's ReturnType)."""
    name = str(getattr(value, "name", value)).lower()
    if name not in ("text", "tensors"):
        raise ValueError(f"return_type={value!r} is not one of 'text', 'tensors'.")
    return name


class SummarizationPipeline(Text2TextGenerationPipeline):
    """Summaries: `[{"summary_text": ...}]` per document. Warns when `max_length` is under `min_length`, and when it
    is over the input's length (summaries are meant to be shorter)."""

    return_name = "summary"

    def check_inputs(self, input_length: int, min_length: int, max_length: int) -> bool:
        if max_length is None:
            return True
        if min_length is not None and max_length < min_length:
            logger.warning(f"Your min_length={min_length} must be inferior than your max_length={max_length}.")
        if input_length < max_length:
            logger.warning(
                f"Your max_length is set to {max_length}, but your input_length is only {input_length}. Since this "
                "is a summarization task, where outputs shorter than the input are typically wanted, you might "
                f"consider decreasing max_length manually, e.g. summarizer('...', max_length={input_length // 2})")
        return True


class TranslationPipeline(Text2TextGenerationPipeline):
    """Translations: `[{"translation_text": ...}]` per text.

    A task named `translation_<src>_to_<tgt>` gives the languages (`src_lang=` / `tgt_lang=` override them). A
    tokenizer with language codes (mBART, mBART-50) encodes the input in the source language and names the target's
    code, which generate() forces as the first token (`forced_bos_token_id`); other tokenizers take the text as it is,
    after the prefix. Warns when the input is over 90% of `max_length`."""

    return_name = "translation"

    def _sanitize_parameters(self, src_lang=None, tgt_lang=None, **kwargs):
        pre, forward, post = super()._sanitize_parameters(**kwargs)
        if src_lang is None and tgt_lang is None:
            parts = (self.task or "").split("_")
            if len(parts) == 4:
                src_lang, tgt_lang = parts[1], parts[3]
        pre.update({key: value for key, value in (("src_lang", src_lang), ("tgt_lang", tgt_lang))
                    if value is not None})
        return pre, forward, post

    def check_inputs(self, input_length: int, min_length: int, max_length: int) -> bool:
        if max_length is not None and input_length > 0.9 * max_length:
            logger.warning(
                f"Your input_length: {input_length} is bigger than 0.9 * max_length: {max_length}. You might consider "
                "increasing your max_length manually, e.g. translator('...', max_length=400)")
        return True

    def preprocess(self, text, truncation=None, src_lang=None, tgt_lang=None):
        build = getattr(self.tokenizer, "_build_translation_inputs", None)
        if build is None:
            return super().preprocess(text, truncation=truncation)
        self._check_text(text)
        encoded = build(text, return_tensors=None, truncation=truncation or False, src_lang=src_lang,
                        tgt_lang=tgt_lang)
        return {key: encoded[key] for key in ("input_ids", "attention_mask", "forced_bos_token_id") if key in encoded}

    def _collate(self, encoded: list[dict]) -> dict:
        forced = {item.pop("forced_bos_token_id") for item in encoded if "forced_bos_token_id" in item}
        batch = super()._collate(encoded)
        if len(forced) > 1:
            raise ValueError(f"One batch asks for several target languages ({sorted(forced)}); translate each "
                             "target language in its own call.")
        if forced:
            batch["forced_bos_token_id"] = forced.pop()
        return batch
