"""The text-generation pipeline: prompts or chats in, `[{"generated_text": ...}]` out, through `model.generate()`."""

from __future__ import annotations

import copy
import types

import torch

from .base import GenerationPipeline

FULL_TEXT, NEW_TEXT, TENSORS = "full_text", "new_text", "tensors"


class Chat:
    """A conversation given to the pipeline: a list of {"role": ..., "content": ...} messages."""

    def __init__(self, messages):
        messages = list(messages)
        for message in messages:
            if not isinstance(message, dict) or "role" not in message or "content" not in message:
                raise ValueError(f"A chat is a list of messages with 'role' and 'content' keys; got {message!r}.")
        self.messages = messages

    def __repr__(self) -> str:
        return f"Chat({self.messages!r})"


def _as_chats(inputs):
    """A single chat (a list of message dicts) or many (a list of such lists) as Chat objects; texts as they are."""
    if isinstance(inputs, (list, tuple)) and inputs:
        if isinstance(inputs[0], dict):
            return Chat(inputs)
        if isinstance(inputs[0], (list, tuple)):
            return [Chat(chat) for chat in inputs]
    if isinstance(inputs, types.GeneratorType):
        return (Chat(item) if isinstance(item, (list, tuple)) else item for item in inputs)
    return inputs


class TextGenerationPipeline(GenerationPipeline):
    """Continue texts, or answer chats with the tokenizer's chat template.

    Each input gives a list of `num_return_sequences` records: `{"generated_text": prompt + new text}` (for a chat,
    the conversation with the answer appended), or only the new text with `return_full_text=False`, or
    `{"generated_token_ids": [...]}` with `return_tensors=True`. Any other keyword goes to `generate()`. Unless the
    checkpoint's generation config says otherwise, the pipeline samples (temperature 0.7) up to 256 new tokens."""

    _single_types = (str, Chat)
    default_generation = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}

    def _with_model_defaults(self, kwargs: dict) -> dict:
        if self.prefix and "prefix" not in kwargs:
            kwargs["prefix"] = self.prefix
        return kwargs

    def __call__(self, text_inputs, *args, **kwargs):
        return super().__call__(_as_chats(text_inputs), *args, **kwargs)

    # arguments -----------------------------------------------------------------------------------------------------
    def _sanitize_parameters(self, return_full_text=None, return_tensors=None, return_text=None, return_type=None,
                             clean_up_tokenization_spaces=None, prefix=None, handle_long_generation=None,
                             stop_sequence=None, truncation=None, max_length=None, continue_final_message=None,
                             skip_special_tokens=None, tokenizer_encode_kwargs=None, **generate_kwargs):
        pre = {key: generate_kwargs.pop(key) for key in ("add_special_tokens", "padding") if key in generate_kwargs}
        add_special_tokens = pre.get("add_special_tokens", False)
        if truncation is not None:
            pre["truncation"] = truncation
        if max_length is not None:
            pre["max_length"] = generate_kwargs["max_length"] = max_length
        if prefix is not None:
            pre["prefix"] = prefix
        if prefix:
            generate_kwargs["prefix_length"] = len(self.tokenizer(prefix, add_special_tokens=add_special_tokens)
                                                   ["input_ids"])
        if handle_long_generation is not None:
            if handle_long_generation != "hole":
                raise ValueError(f"handle_long_generation={handle_long_generation!r} is not supported; the one "
                                 "strategy is 'hole' (drop the start of prompts that leave no room to generate).")
            pre["handle_long_generation"] = handle_long_generation
        if continue_final_message is not None:
            pre["continue_final_message"] = continue_final_message
        if tokenizer_encode_kwargs is not None:
            pre["tokenizer_encode_kwargs"] = tokenizer_encode_kwargs
        pre["generate_kwargs"] = generate_kwargs
        if stop_sequence is not None:
            generate_kwargs["eos_token_id"] = self.tokenizer.encode(stop_sequence, add_special_tokens=False)

        post = {}
        if return_type is None:
            if return_full_text is not None:
                if return_text is not None or return_tensors is not None:
                    raise ValueError("return_full_text cannot be combined with return_text or return_tensors: pick "
                                     "one.")
                return_type = FULL_TEXT if return_full_text else NEW_TEXT
            elif return_tensors is not None:
                if return_text is not None:
                    raise ValueError("return_text cannot be combined with return_tensors: pick one.")
                return_type = TENSORS
        if return_type is not None:
            post["return_type"] = getattr(return_type, "value", return_type)
        if clean_up_tokenization_spaces is not None:
            post["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        if continue_final_message is not None:
            post["continue_final_message"] = continue_final_message
        if skip_special_tokens is not None:
            post["skip_special_tokens"] = skip_special_tokens
        return pre, generate_kwargs, post

    # the three steps -----------------------------------------------------------------------------------------------
    def preprocess(self, prompt, prefix="", handle_long_generation=None, add_special_tokens=None, truncation=None,
                   padding=None, max_length=None, continue_final_message=None, tokenizer_encode_kwargs=None,
                   generate_kwargs=None):
        options = {key: value for key, value in (("add_special_tokens", add_special_tokens),
                                                 ("truncation", truncation), ("padding", padding),
                                                 ("max_length", max_length)) if value is not None}
        options.update(tokenizer_encode_kwargs or {})
        if isinstance(prompt, Chat):
            options.pop("add_special_tokens", None)  # the template decides
            if continue_final_message is None:
                continue_final_message = prompt.messages[-1]["role"] == "assistant"
            encoded = self.tokenizer.apply_chat_template(
                prompt.messages, add_generation_prompt=not continue_final_message,
                continue_final_message=continue_final_message, return_dict=True, **options)
        else:
            encoded = self.tokenizer(prefix + prompt, **options)
        encoded = {key: encoded[key] for key in ("input_ids", "attention_mask") if key in encoded}
        if handle_long_generation == "hole":
            self._make_room(encoded, generate_kwargs or {})
        return encoded

    def _make_room(self, encoded: dict, generate_kwargs: dict) -> None:
        """Drop the start of a prompt so that it and the new tokens fit the tokenizer's model_max_length."""
        length = len(encoded["input_ids"])
        new = generate_kwargs.get("max_new_tokens")
        if new is None:
            new = generate_kwargs.get("max_length", self.generation_config.max_length) - length
            if new < 0:
                raise ValueError("handle_long_generation='hole' needs to know how many tokens to generate: pass "
                                 "max_new_tokens.")
        limit = self.tokenizer.model_max_length
        if length + new > limit:
            keep = limit - new
            if keep <= 0:
                raise ValueError(f"max_new_tokens={new} leaves no room for the prompt within the model's "
                                 f"{limit} positions; ask for fewer new tokens.")
            for key in encoded:
                encoded[key] = encoded[key][-keep:]

    def _forward(self, batch: dict, prefix_length: int = 0, **generate_kwargs) -> dict:
        input_ids, mask = batch["input_ids"], batch.get("attention_mask")
        if prefix_length and "max_new_tokens" not in generate_kwargs and \
                getattr(generate_kwargs.get("generation_config"), "max_new_tokens", None) is None:
            # lengths given in tokens count the prompt; the prefix was not part of what the user wrote
            base = generate_kwargs.get("max_length") or self.generation_config.max_length
            generate_kwargs["max_length"] = base + prefix_length
            if "min_length" in generate_kwargs and "min_new_tokens" not in generate_kwargs:
                generate_kwargs["min_length"] += prefix_length
        generate_kwargs.setdefault("generation_config", self.generation_config)
        empty = input_ids.shape[1] == 0  # nothing to continue: generate() starts from the BOS token
        output = self.model.generate(input_ids=None if empty else input_ids, attention_mask=None if empty else mask,
                                     **generate_kwargs)
        sequences = output if isinstance(output, torch.Tensor) else output.sequences
        return {"generated_sequence": sequences.reshape(input_ids.shape[0], -1, sequences.shape[-1]),
                "input_ids": input_ids}

    def _row(self, outputs: dict, row: int, item) -> dict:
        return {"generated_sequence": outputs["generated_sequence"][row], "input_ids": outputs["input_ids"][row],
                "prompt": item}

    def postprocess(self, outputs, return_type=FULL_TEXT, clean_up_tokenization_spaces=True,
                    continue_final_message=None, skip_special_tokens=None):
        prompt = outputs["prompt"]
        if skip_special_tokens is None:
            skip_special_tokens = True
        decode = {"skip_special_tokens": skip_special_tokens,
                  "clean_up_tokenization_spaces": clean_up_tokenization_spaces}
        sequences = outputs["generated_sequence"].tolist()
        if return_type == TENSORS:
            return [{"generated_token_ids": sequence} for sequence in sequences]
        # the new text: each decoded sequence past the decoded prompt (decoding need not split at token edges)
        prompt_length = len(self.tokenizer.decode(outputs["input_ids"], **decode))
        records = []
        for sequence in sequences:
            text = self.tokenizer.decode(sequence, **decode)[prompt_length:]
            if return_type == FULL_TEXT:
                text = self._with_prompt(prompt, text, continue_final_message)
            records.append({"generated_text": text})
        return records

    @staticmethod
    def _with_prompt(prompt, text: str, continue_final_message):
        if isinstance(prompt, str):
            return prompt + text
        messages = copy.copy(prompt.messages)
        if continue_final_message is None:
            continue_final_message = messages[-1]["role"] == "assistant"
        if continue_final_message:
            last = messages.pop()
            return [*messages, {"role": last["role"], "content": last["content"] + text}]
        return [*messages, {"role": "assistant", "content": text}]
