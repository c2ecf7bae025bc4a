"""Seq2SeqTrainer: the Trainer whose evaluate/predict can decode with `generate()` (`predict_with_generate`)."""

from __future__ import annotations

import contextlib

import torch

from .trainer import Trainer


class Seq2SeqTrainer(Trainer):
    """With `args.predict_with_generate`, predictions are generated token ids (padded with the pad token to the
    generation length, so `compute_metrics` can decode them); the loss is still the teacher-forced one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = getattr(self.args, "generation_config", None)
        if config is not None:
            from ..generation import GenerationConfig

            if not isinstance(config, GenerationConfig):
                config = GenerationConfig.from_pretrained(config)
            self.model.generation_config = config
        self._gen_kwargs = {}

    @property
    def _prediction_pad(self) -> int:
        return self._pad_token_id() if self.args.predict_with_generate else -100

    def _pad_token_id(self) -> int:
        tokenizer = self.processing_class
        for source in (tokenizer, getattr(self.model, "generation_config", None), getattr(self.model, "config", None)):
            for name in ("pad_token_id", "eos_token_id"):
                value = getattr(source, name, None) if source is not None else None
                if isinstance(value, list):
                    value = value[0] if value else None
                if value is not None:
                    return value
        raise ValueError("Padding generated tokens needs a pad_token_id (or eos_token_id) on the tokenizer or the "
                         "model config.")

    def _generation_kwargs(self, gen_kwargs: dict) -> dict:
        out = dict(gen_kwargs)
        if out.get("max_length") is None and out.get("max_new_tokens") is None \
                and self.args.generation_max_length is not None:
            out["max_length"] = self.args.generation_max_length
        if out.get("num_beams") is None and self.args.generation_num_beams is not None:
            out["num_beams"] = self.args.generation_num_beams
        return {k: v for k, v in out.items() if v is not None}

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval", **gen_kwargs) -> dict:
        self._gen_kwargs = self._generation_kwargs(gen_kwargs)
        return super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def predict(self, test_dataset, ignore_keys=None, metric_key_prefix: str = "test", **gen_kwargs):
        self._gen_kwargs = self._generation_kwargs(gen_kwargs)
        return super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)

    def _pad_to(self, tensor: torch.Tensor, length: int) -> torch.Tensor:
        if tensor.shape[-1] >= length:
            return tensor
        out = tensor.new_full((tensor.shape[0], length), self._pad_token_id())
        out[:, :tensor.shape[-1]] = tensor
        return out

    def prediction_step(self, model, inputs: dict, prediction_loss_only: bool, ignore_keys=None, **gen_kwargs):
        if not self.args.predict_with_generate or prediction_loss_only:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        inputs = self._prepare_inputs(inputs)
        has_labels = "labels" in inputs
        kwargs = self._generation_kwargs(gen_kwargs) if gen_kwargs else dict(self._gen_kwargs)
        generation_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "decoder_input_ids",
                                                                          "decoder_attention_mask")}
        model.eval()
        gather = contextlib.nullcontext()
        if self._sharded:  # generate() steps the unwrapped model: gather its full weights for the call
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

            gather = FSDP.summon_full_params(self.model_wrapped, writeback=False)
        with torch.no_grad():
            with gather:
                generated = self.model.generate(**generation_inputs, **kwargs)
            loss = None
            if has_labels:
                with self.compute_loss_context_manager():
                    loss = self.compute_loss(model, dict(inputs)).detach().mean()
        config = self.model.generation_config
        length = kwargs.get("max_length") or config.max_length
        if kwargs.get("max_new_tokens") or config.max_new_tokens:
            length = (kwargs.get("max_new_tokens") or config.max_new_tokens) + 1
        generated = self._pad_to(generated, length)
        labels = self._pad_to(inputs["labels"], length) if has_labels else None
        return loss, generated, labels
