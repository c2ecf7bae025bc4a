"""Whisper's transcription loop (`WhisperForConditionalGeneration.generate`).

The decoder is steered with a prompt of special tokens: `<|startoftranscript|>`, a language (given, or detected from
the audio), a task (`transcribe` / `translate`) and `<|notimestamps|>` unless timestamps are asked for. Audio is
decoded 30-second window by window: the model marks segment ends with timestamp tokens, and the next window starts
where the last complete segment ended (the same loop transcribes short clips, in one window, and long recordings).
Windows whose output looks hallucinated are decoded again at higher temperatures.
"""

from __future__ import annotations

import math
import zlib

import torch
import torch.nn.functional as F

from ..generation.logits_process import (LogitsProcessorList, SuppressTokensAtBeginLogitsProcessor,
                                         SuppressTokensLogitsProcessor, WhisperTimeStampLogitsProcessor)
from ..generation.utils import GenerationMixin
from ..seq2seq import as_encoder_output
from .whisper_alignment import token_timestamps
from .whisper_languages import LANGUAGES, TO_LANGUAGE_CODE

_TASKS = ("transcribe", "translate")


def _require(config, name: str, argument: str):
    if getattr(config, name, None) is None:
        raise ValueError(f"`{argument}` needs `{name}` in the generation config, which this checkpoint's "
                         f"generation_config.json lacks. Copy the generation_config.json of the original Whisper "
                         f"checkpoint of this size into the model folder.")
    return getattr(config, name)


def _language_token(config, language: str) -> int:
    """The token id of a language given as a token (`<|fr|>`), a code (`fr`) or a name (`french`)."""
    table = _require(config, "lang_to_id", "language")
    key = language.lower()
    if key in table:
        token = key
    elif key in TO_LANGUAGE_CODE:
        token = f"<|{TO_LANGUAGE_CODE[key]}|>"
    elif key in LANGUAGES:
        token = f"<|{key}|>"
    else:
        raise ValueError(f"Unknown language {language!r}: give a code such as 'en' or a name such as 'english' "
                         f"(Whisper knows {len(LANGUAGES)}: {', '.join(sorted(LANGUAGES))}).")
    if token not in table:
        raise ValueError(f"{token} is not a language of this checkpoint (not in generation_config.lang_to_id).")
    return table[token]


def _compression_ratio(tokens: torch.Tensor, vocab_size: int) -> float:
    """How well the token bytes compress: repetitive (hallucinated) output compresses far better than speech."""
    width = int(math.log2(vocab_size) / 8) + 1
    raw = b"".join(t.to_bytes(width, "little") for t in tokens.tolist())
    return len(raw) / len(zlib.compress(raw))


def _average_logprob(scores: list, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    scores = torch.stack(scores).to(tokens.device)
    if scores.shape[0] > tokens.shape[0]:
        scores = scores[:tokens.shape[0]]
    else:
        tokens = tokens[-scores.shape[0]:]
    scale = temperature if temperature is not None and temperature > 0.0 else 1
    logprobs = F.log_softmax((scores * scale).float(), dim=-1).to(scores.dtype)
    return logprobs[torch.arange(tokens.shape[0]), tokens].sum() / tokens.shape[0]


def _padded(rows: list, pad: int, *, left: bool = False, first: torch.Tensor | None = None,
            keep_last: int | None = None, width: int | None = None) -> torch.Tensor:
    """Stack token rows padded to one width (the longest, or `width`): `keep_last` keeps each row's last tokens,
    `first` goes before each (a `<|startofprev|>` token)."""
    rows = [row[-keep_last:] if keep_last is not None else row for row in rows]
    if first is not None:
        rows = [torch.cat([first, row]) for row in rows]
    width = width if width is not None else max((len(row) for row in rows), default=0)
    out = [F.pad(row, (width - len(row), 0) if left else (0, width - len(row)), value=pad) for row in rows]
    return torch.stack(out) if out else torch.empty(0, 0, dtype=torch.long)


def _padded_times(rows: list) -> torch.Tensor:
    """Stack token-time rows, each padded on the right with its last time (0 for an empty row)."""
    width = max((len(row) for row in rows), default=0)
    return torch.stack([F.pad(row, (0, width - len(row)), value=float(row[-1]) if len(row) else 0.0)
                        for row in rows])


class _Segment(dict):
    """One transcribed stretch: `start` / `end` seconds, its `tokens`, and the generate() `result` it came from."""


class WhisperGenerationMixin(GenerationMixin):
    """Transcription: the special-token prompt, language detection, timestamps, and the window-by-window loop."""

    _prepend_decoder_start = False

    def detect_language(self, input_features=None, encoder_outputs=None, generation_config=None,
                        num_segment_frames: int = 3000) -> torch.Tensor:
        """The most likely language token of each input (argmax over the language tokens of the first step)."""
        if (input_features is None) == (encoder_outputs is None):
            raise ValueError("detect_language takes either input_features or encoder_outputs (exactly one).")
        config = generation_config or self.generation_config
        table = _require(config, "lang_to_id", "detect_language")
        if input_features is not None:
            inputs = {"input_features": input_features[:, :, :num_segment_frames]}
            rows = input_features.shape[0]
        else:
            inputs = {"encoder_outputs": encoder_outputs}
            rows = as_encoder_output(encoder_outputs).last_hidden_state.shape[0]
        start = torch.full((rows, 1), config.decoder_start_token_id, dtype=torch.long, device=self.device)
        with torch.no_grad():
            logits = self(**inputs, decoder_input_ids=start, use_cache=False).logits[:, -1]
        allowed = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
        allowed[list(table.values())] = True
        return logits.masked_fill(~allowed, -math.inf).argmax(-1)

    def _settle(self, config, *, frames: int, window: int, return_timestamps, language, task, is_multilingual,
                condition_on_prev_tokens, prompt_condition_type, thresholds: dict) -> None:
        """Write this call's transcription settings into `config` (a copy), checking them."""
        if return_timestamps is None:
            return_timestamps = getattr(config, "return_timestamps", None)
        if frames > window:
            if return_timestamps is False:
                raise ValueError(f"The input has {frames} mel frames, more than one {window}-frame window: long-form "
                                 f"transcription follows the timestamps the model predicts, so it cannot run with "
                                 f"return_timestamps=False. Pass return_timestamps=True or cut the audio.")
            return_timestamps = True
        if return_timestamps:
            _require(config, "no_timestamps_token_id", "return_timestamps")
        config.return_timestamps = bool(return_timestamps)
        if is_multilingual is not None:
            _require(config, "is_multilingual", "is_multilingual")
            config.is_multilingual = is_multilingual
        if getattr(config, "is_multilingual", None) is False and (task is not None or language is not None):
            raise ValueError("This checkpoint is English-only: it takes neither `language` nor `task` (pass "
                             "is_multilingual=True if it is in fact multilingual).")
        if language is not None:
            _require(config, "lang_to_id", "language")
            config.language = language
        if task is not None:
            _require(config, "task_to_id", "task")
            if task not in _TASKS:
                raise ValueError(f"Unknown task {task!r}: Whisper does one of {_TASKS}.")
            config.task = task
        for name, value in thresholds.items():
            setattr(config, name, value if value is not None else getattr(config, name, None))
        if config.no_speech_threshold is not None:
            _require(config, "no_timestamps_token_id", "no_speech_threshold")
            if config.logprob_threshold is None:
                raise ValueError("no_speech_threshold needs logprob_threshold too: a window is skipped as silence "
                                 "when its <|nospeech|> probability is above no_speech_threshold and its average "
                                 "log-probability below logprob_threshold. Pass logprob_threshold (e.g. -1.0).")
        if config.logprob_threshold is not None:  # (judging a window reads its scores)
            config.return_dict_in_generate = config.output_scores = True
        if condition_on_prev_tokens is None:
            condition_on_prev_tokens = getattr(config, "condition_on_prev_tokens", None)
        prompt_condition_type = prompt_condition_type or "first-segment"
        if prompt_condition_type not in ("first-segment", "all-segments"):
            raise ValueError(f"prompt_condition_type is 'first-segment' or 'all-segments', not "
                             f"{prompt_condition_type!r}.")
        if prompt_condition_type == "all-segments" and condition_on_prev_tokens is not True:
            raise ValueError("prompt_condition_type='all-segments' needs condition_on_prev_tokens=True.")
        config.prompt_condition_type = prompt_condition_type
        config.condition_on_prev_tokens = bool(condition_on_prev_tokens)

    def _prompt_tokens(self, config, input_features, encoder_outputs, rows: int, window: int) -> torch.Tensor:
        """Each row's special-token prompt: start, language, task, and <|notimestamps|> when not timing."""
        tokens = [config.decoder_start_token_id]
        task, language = getattr(config, "task", None), getattr(config, "language", None)
        if task is None and language is None:
            forced = getattr(config, "forced_decoder_ids", None) or getattr(self.config, "forced_decoder_ids", None)
            if forced:
                position = 1
                while forced and forced[0][0] == position:
                    tokens.append(forced[0][1])
                    forced, position = forced[1:], position + 1
                if forced:
                    raise ValueError(f"forced_decoder_ids must give positions 1, 2, ... in order (Whisper's prompt); "
                                     f"{forced} do not follow.")
        undecided = len(tokens) < 2 or tokens[1] is None
        if isinstance(language, (list, tuple)):
            if any(item is None for item in language):
                raise TypeError("`language` is one language, or a list of one per input, without None in it.")
            if len(language) != rows:
                raise ValueError(f"`language` lists {len(language)} languages for {rows} inputs: give one per input "
                                 f"(or a single one for all).")
            languages = list(language)
        else:
            languages = [language] * rows
        prompts = [list(tokens) for _ in range(rows)]
        if language is not None:
            ids = [_language_token(config, item) for item in languages]
        elif undecided and getattr(config, "lang_to_id", None):
            ids = self.detect_language(input_features, encoder_outputs, config, window).tolist()
        else:
            ids = None
        for i, prompt in enumerate(prompts):
            if ids is not None:
                if len(prompt) > 1:
                    prompt[1] = ids[i]
                else:
                    prompt.append(ids[i])
            task_ids = getattr(config, "task_to_id", None) or {}
            if task is not None:
                prompt.append(task_ids[task])
            elif language is not None and task_ids and not any(t in prompt for t in task_ids.values()):
                prompt.append(task_ids["transcribe"])
            no_timestamps = getattr(config, "no_timestamps_token_id", None)
            if not config.return_timestamps and no_timestamps is not None and prompt[-1] != no_timestamps:
                prompt.append(no_timestamps)
            elif config.return_timestamps and prompt[-1] == no_timestamps:
                prompt.pop()
            prompts[i] = [t for t in prompt if t is not None]
        return torch.tensor(prompts, dtype=torch.long, device=self.device)

    def _processors(self, config, custom, begin: int, device) -> LogitsProcessorList:
        """Whisper's own processors ahead of the caller's: tokens suppressed at the first step and always, and the
        timestamp rules when timing."""
        processors = []
        if config.begin_suppress_tokens is not None:
            processors.append(SuppressTokensAtBeginLogitsProcessor(config.begin_suppress_tokens, begin, device=device))
            config.begin_suppress_tokens = None
        if config.suppress_tokens is not None:
            processors.append(SuppressTokensLogitsProcessor(config.suppress_tokens, device=device))
            config.suppress_tokens = None
        if config.return_timestamps:
            processors.append(WhisperTimeStampLogitsProcessor(config, begin_index=begin))
        return LogitsProcessorList(processors + list(custom or []))

    def generate(self, input_features=None, generation_config=None, logits_processor=None, stopping_criteria=None,
                 prefix_allowed_tokens_fn=None, synced_gpus=None, return_timestamps=None, task=None, language=None,
                 is_multilingual=None, prompt_ids=None, prompt_condition_type=None, condition_on_prev_tokens=None,
                 temperature=None, compression_ratio_threshold=None, logprob_threshold=None,
                 no_speech_threshold=None, num_segment_frames=None, attention_mask=None, time_precision=0.02,
                 time_precision_features=0.01, return_token_timestamps=None, return_segments=False,
                 return_dict_in_generate=None, force_unique_generate_call=None, monitor_progress=None, **kwargs):
        """Transcribe (or translate) `input_features`: returns the generated tokens of each input, without the
        special-token prompt, padded with pad_token_id; with `return_segments=True` (or timestamps and
        `return_dict_in_generate=True`) a dict with `sequences` and each input's `segments`. With
        `return_token_timestamps=True` the dict also has `token_timestamps`: each token's time in seconds from the
        start of its window (each segment carries its own, from the recording's start), aligned by
        `generation_config.alignment_heads`. With `no_speech_threshold` (and `logprob_threshold`), windows that
        look silent are skipped."""
        if "inputs" in kwargs:
            input_features = kwargs.pop("inputs")
        if kwargs.get("decoder_input_ids") is not None:
            raise ValueError("Whisper builds its own decoder prompt: pass prompt_ids (previous text) instead of "
                             "decoder_input_ids.")
        config, kwargs = self._prepare_generation_config(generation_config, **kwargs)
        if return_dict_in_generate is not None:
            config.return_dict_in_generate = return_dict_in_generate
        wants_dict = config.return_dict_in_generate
        if return_token_timestamps:
            if getattr(config, "alignment_heads", None) is None:
                raise ValueError("return_token_timestamps needs `alignment_heads` in the generation config: the "
                                 "[layer, head] pairs of the cross-attention heads that follow the audio. Set "
                                 "model.generation_config.alignment_heads = [[layer, head], ...] (the original "
                                 "checkpoint's generation_config.json lists them for each Whisper size).")
            config.return_dict_in_generate = config.output_attentions = config.output_scores = True
        encoder = self.get_encoder()
        stride = encoder.conv1.stride[0] * encoder.conv2.stride[0]
        window = num_segment_frames or stride * self.config.max_source_positions
        encoder_outputs = kwargs.get("encoder_outputs")
        if input_features is not None:
            rows, frames = input_features.shape[0], input_features.shape[-1]
        elif encoder_outputs is not None:
            states = as_encoder_output(encoder_outputs).last_hidden_state
            rows, frames = states.shape[0], states.shape[1] * stride
        else:
            raise ValueError("generate() needs input_features (or precomputed encoder_outputs).")
        self._settle(config, frames=frames, window=window, return_timestamps=return_timestamps, language=language,
                     task=task, is_multilingual=is_multilingual, condition_on_prev_tokens=condition_on_prev_tokens,
                     prompt_condition_type=prompt_condition_type,
                     thresholds=dict(logprob_threshold=logprob_threshold, no_speech_threshold=no_speech_threshold,
                                     compression_ratio_threshold=compression_ratio_threshold))
        prompts = self._prompt_tokens(config, input_features, encoder_outputs, rows, window)
        timestamp_begin = (config.no_timestamps_token_id + 1 if getattr(config, "no_timestamps_token_id", None)
                           is not None else self.config.vocab_size + 1)
        device = input_features.device if input_features is not None else self.device
        processors = self._processors(config, logits_processor, prompts.shape[1], device)
        temperatures = list(temperature) if isinstance(temperature, (list, tuple)) else [temperature]

        if frames > window and rows > 1:
            if attention_mask is None:
                raise ValueError("Batched long-form transcription needs the attention_mask of the features, to know "
                                 "where each recording ends: processor(audio, return_attention_mask=True, ...).")
            max_frames = attention_mask.sum(-1).cpu().long()
        else:
            max_frames = torch.full((rows,), frames, dtype=torch.long)
        seek = torch.zeros(rows, dtype=torch.long)
        # with token timestamps, the frames of real audio (alignment ignores the padding after them)
        audio_frames = attention_mask.sum(-1).cpu().long() if return_token_timestamps and \
            attention_mask is not None else None
        copies = config.num_return_sequences or 1
        if copies > 1:  # each returned sequence runs its own transcription
            input_features = input_features.repeat_interleave(copies, dim=0) if input_features is not None else None
            seek, max_frames = seek.repeat_interleave(copies), max_frames.repeat_interleave(copies)
            if audio_frames is not None:
                audio_frames = audio_frames.repeat_interleave(copies)
            prompts = prompts.repeat_interleave(copies, dim=0)
            rows, config.num_return_sequences = rows * copies, 1
        condition = [config.condition_on_prev_tokens] * rows
        segments = [[] for _ in range(rows)]
        if prompt_ids is not None and config.prompt_condition_type == "first-segment":
            previous_text = prompt_ids[1:] if prompt_ids[0] == getattr(config, "prev_sot_token_id", None) else \
                prompt_ids
            segments = [[_Segment(tokens=previous_text)] for _ in range(rows)]
        unique = force_unique_generate_call if force_unique_generate_call is not None else \
            getattr(config, "force_unique_generate_call", False)
        active = list(range(rows))  # the input each row of the running batch belongs to
        features = input_features
        last_result = output_class = None
        while bool((seek < max_frames).any()):
            if monitor_progress is not None:
                monitor_progress(torch.stack((seek, max_frames), dim=1))
            keep = [i for i, row in enumerate(active) if seek[row] < max_frames[row]]
            if features is not None and len(keep) < len(active):
                features = features[keep]
            active = [active[i] for i in keep]
            offsets = seek.double() * time_precision / stride
            lengths = (max_frames - seek).clamp(max=window)
            window_input = None
            if features is not None:
                window_input = torch.cat([F.pad(features[i:i + 1, :, seek[row]:seek[row] + lengths[row]],
                                                (0, max(0, window - int(lengths[row]))))
                                          for i, row in enumerate(active)])
            decoder_input_ids, call_kwargs = self._window_prompt(config, prompts[active], segments, active, condition,
                                                                 prompt_ids, timestamp_begin, kwargs)
            self._fit_length(config, decoder_input_ids)
            for processor in processors:
                if hasattr(processor, "set_begin_index"):
                    processor.set_begin_index(decoder_input_ids.shape[-1])
            alignment = None
            if return_token_timestamps:
                alignment = {"frames": None if audio_frames is None else (audio_frames - seek)[active],
                             "time_precision": time_precision}
            tokens, results, skip, output_class = self._generate_with_fallback(
                config, window_input, decoder_input_ids, active, temperatures, condition, processors,
                stopping_criteria, prefix_allowed_tokens_fn, call_kwargs, prompts.shape[1], alignment)
            last_result = results
            for i, row in enumerate(active):
                if skip[i]:  # silence: nothing transcribed, on to the next window
                    seek[row] += lengths[row]
                    continue
                found, advance = self._split_segments(tokens[i], results[i], offsets[row], timestamp_begin,
                                                      lengths[row], time_precision, time_precision_features,
                                                      stride, decoder_input_ids.shape[-1])
                seek[row] += advance
                segments[row] += found
            if unique:
                break

        final = [s[1:] for s in segments] if prompt_ids is not None and \
            config.prompt_condition_type == "first-segment" else segments
        wants_dict = wants_dict and config.return_dict_in_generate
        if wants_dict and (unique or not config.return_timestamps):
            return self._stacked_results(last_result, output_class, config.pad_token_id)
        times = None
        if unique:
            sequences = torch.stack([s[0]["result"] if torch.is_tensor(s[0]["result"]) else
                                     s[0]["result"]["sequences"] for s in final])
            if return_token_timestamps:
                times = torch.stack([s[0]["result"]["token_timestamps"] for s in final])
        else:
            sequences = _padded([torch.cat([s["tokens"] for s in row]) if row else
                                 torch.empty(0, dtype=torch.long, device=self.device) for row in final],
                                config.pad_token_id)
            if return_token_timestamps:  # (seconds from the start of each segment's window)
                times = _padded_times([torch.cat([s["result"]["token_timestamps"][slice(*s["idxs"])] for s in row])
                                       if row else torch.empty(0) for row in final])
        if not (wants_dict or return_segments or return_token_timestamps):
            return sequences
        out = {"sequences": sequences}
        if times is not None:
            out["token_timestamps"] = times
        if wants_dict or return_segments:
            out["segments"] = final
        return out

    def _window_prompt(self, config, prompts, segments, active, condition, prompt_ids, timestamp_begin, kwargs):
        """The decoder input of the next window: the special tokens, after the previous text when conditioning on
        it (the last tokens of the earlier segments, or `prompt_ids`)."""
        kwargs = dict(kwargs)
        kwargs.pop("decoder_attention_mask", None)
        if any(condition) and len(segments[0]) > 0:
            if prompt_ids is not None and config.prompt_condition_type == "all-segments":
                first = prompt_ids
            else:
                start = getattr(config, "prev_sot_token_id", None)
                first = torch.tensor([start], device=prompts.device) if start is not None else None
            previous = []
            for row in active:
                if not condition[row]:
                    previous.append(torch.empty(0, dtype=torch.long, device=prompts.device))
                    continue
                parts = [s["tokens"][:-1] if len(s["tokens"]) > 2 and s["tokens"][-2] >= timestamp_begin
                         else s["tokens"] for s in segments[row]]
                previous.append(torch.cat(parts) if parts else torch.empty(0, dtype=torch.long))
            limit = self.config.max_target_positions // 2 - 1
            static = config.cache_implementation == "static"
            if not static and not any(len(row) for row in previous):
                first = None  # no previous text in any row: no <|startofprev|> either (4.57 drops it too)
            previous = _padded(previous, config.pad_token_id, left=True, first=first, keep_last=limit,
                               width=(limit + 1) if static else None)
            decoder_input_ids = torch.cat([previous.to(prompts.device), prompts], dim=-1)
            kwargs["decoder_attention_mask"] = decoder_input_ids != config.pad_token_id
        elif prompt_ids is not None:
            decoder_input_ids = torch.cat([prompt_ids[None].expand(prompts.shape[0], -1).to(prompts.device),
                                           prompts], dim=-1)
        else:
            decoder_input_ids = prompts
        return decoder_input_ids, kwargs

    def _fit_length(self, config, decoder_input_ids) -> None:
        limit = self.config.max_target_positions
        new = config.max_new_tokens or 0
        if new + decoder_input_ids.shape[-1] > limit:
            raise ValueError(f"The decoder prompt ({decoder_input_ids.shape[-1]} tokens: special tokens, prompt_ids "
                             f"and previous text) plus max_new_tokens ({new}) exceed the model's "
                             f"max_target_positions ({limit}). Shorten the prompt or lower max_new_tokens.")

    def _generate_with_fallback(self, config, window_input, decoder_input_ids, active, temperatures, condition,
                                processors, stopping_criteria, prefix_allowed_tokens_fn, kwargs, prompt_length,
                                alignment):
        """Decode one window; rows whose output looks hallucinated (too compressible, or too unlikely) are decoded
        again at the next temperature, unless it looks like silence (then the row is skipped). Returns each row's
        new tokens (no prompt, no end token), each row's result, whether to skip it, and the output class of
        generate(). `alignment` (frames, time_precision) asks for token timestamps."""
        rows = decoder_input_ids.shape[0]
        tokens, results, skip = [None] * rows, [None] * rows, [False] * rows
        pending = list(range(rows))
        no_speech = None
        if config.no_speech_threshold is not None:
            no_speech = self._no_speech_probs(config, window_input, decoder_input_ids, prompt_length, kwargs)
        for attempt, temperature in enumerate(temperatures):
            config.do_sample = temperature is not None and temperature > 0.0
            config.temperature = temperature if config.do_sample else 1.0
            if config.do_sample:
                config.num_beams = 1
            call = {k: v for k, v in kwargs.items() if k not in ("do_sample", "temperature", "num_beams")}
            if "decoder_attention_mask" in call:
                call["decoder_attention_mask"] = call["decoder_attention_mask"][pending]
            out = GenerationMixin.generate(
                self, window_input[pending] if window_input is not None else None, generation_config=config,
                logits_processor=processors, stopping_criteria=stopping_criteria,
                prefix_allowed_tokens_fn=prefix_allowed_tokens_fn, synced_gpus=None,
                decoder_input_ids=decoder_input_ids[pending], use_model_defaults=False, **call)
            times = None
            if alignment is not None:
                frames = alignment["frames"]
                times = token_timestamps(out.cross_attentions, config.alignment_heads,
                                         prompt_length=decoder_input_ids.shape[-1],
                                         frames=None if frames is None else frames[pending],
                                         median_width=self.config.median_filter_width,
                                         time_precision=alignment["time_precision"],
                                         beam_indices=out.get("beam_indices"))
            new, split = self._split_rows(out, decoder_input_ids.shape[-1], times)
            retry = []
            for i, row in enumerate(pending):
                seq = new[i]
                if seq[-1] == config.pad_token_id:
                    pads = int((seq == config.pad_token_id).sum()) - (config.pad_token_id == config.eos_token_id)
                    if pads:
                        seq = seq[:-pads]
                fallback, skip[row] = self._judge(config, seq, split[i], temperature,
                                                  None if no_speech is None else float(no_speech[row]))
                if fallback:
                    retry.append(row)
                if seq[-1] == config.eos_token_id:
                    seq = seq[:-1]
                tokens[row], results[row] = seq, split[i]
                condition[active[row]] = config.condition_on_prev_tokens and (temperature is None or
                                                                             temperature < 0.5)
            if not retry or attempt == len(temperatures) - 1:
                break
            pending = retry
        return tokens, results, skip, type(out)

    def _no_speech_probs(self, config, window_input, decoder_input_ids, prompt_length: int, kwargs) -> torch.Tensor:
        """Each row's probability of <|nospeech|> (the token before <|notimestamps|>) where the model reads
        <|startoftranscript|> (after any previous text), from one extra forward over the window's prompt."""
        inputs = {"input_features": window_input} if window_input is not None else \
            {"encoder_outputs": kwargs["encoder_outputs"]}
        mask = kwargs.get("decoder_attention_mask")
        if mask is not None:
            positions = mask.long().cumsum(-1) - 1
            inputs.update(decoder_attention_mask=mask, decoder_position_ids=positions.masked_fill(mask == 0, 1))
        with torch.no_grad():
            logits = self(**inputs, decoder_input_ids=decoder_input_ids, use_cache=False).logits
        # a prompt of <|startoftranscript|> alone is read at the last position (the first step's scores)
        position = decoder_input_ids.shape[-1] - prompt_length if prompt_length > 1 else -1
        return logits[:, position].float().softmax(dim=-1)[:, config.no_timestamps_token_id - 1].cpu()

    def _judge(self, config, seq, result, temperature, no_speech_prob) -> tuple[bool, bool]:
        """(decode again at the next temperature, skip as silence) for one row's output."""
        fallback = False
        threshold = config.compression_ratio_threshold
        if threshold is not None and _compression_ratio(seq, self.config.vocab_size) > threshold:
            fallback = True
        if config.logprob_threshold is not None:
            logprob = result["sequences_scores"] if "sequences_scores" in result else \
                _average_logprob(result["scores"], seq, temperature)
            if logprob < config.logprob_threshold:
                if no_speech_prob is not None and no_speech_prob > config.no_speech_threshold:
                    return False, True
                fallback = True
        return fallback, False

    @staticmethod
    def _split_rows(out, prompt_length: int, times: torch.Tensor | None = None):
        """generate()'s output as each row's new tokens and each row's own result (a tensor, or a dict of its
        parts, with its `token_timestamps` when `times` are given)."""
        if torch.is_tensor(out):
            return out[:, prompt_length:], list(out)
        sequences = out.sequences
        rows = []
        for i in range(sequences.shape[0]):
            row = {}
            for key, value in out.items():
                if key == "past_key_values" or value is None:
                    continue
                if key in ("scores", "logits", "encoder_attentions", "encoder_hidden_states"):
                    beams = out.get("beam_indices")
                    if key == "scores" and beams is not None:
                        row[key] = [step[b].cpu() for step, b in zip(value, beams[i][:len(value)])]
                    else:
                        row[key] = [step[i].cpu() for step in value]
                elif key in ("decoder_attentions", "decoder_hidden_states", "cross_attentions"):
                    row[key] = tuple(tuple(layer[i][None].cpu() for layer in step) for step in value)
                else:
                    row[key] = value[i].cpu()
            if times is not None:
                row["token_timestamps"] = times[i]
            rows.append(row)
        return sequences[:, prompt_length:], rows

    @staticmethod
    def _split_segments(seq, result, offset, timestamp_begin, frames, time_precision, time_precision_features,
                        stride, prompt_length):
        """Cut a window's tokens into segments at each pair of timestamp tokens. Returns the segments and how many
        frames the window advanced: all of it when the output ends in a lone timestamp or holds no pair, else up to
        the last complete segment (what follows is decoded again in the next window)."""
        times = result.get("token_timestamps") if isinstance(result, dict) else None

        def segment(**fields):
            if times is not None:  # (the window's token times, shifted to the recording's)
                fields["token_timestamps"] = times[slice(*fields["idxs"])] + offset
            return _Segment(**fields, result=result)

        is_stamp = seq.ge(timestamp_begin)
        lone_ending = is_stamp[-2:].tolist() == [False, True]
        pair_ends = (torch.where(is_stamp[:-1] & is_stamp[1:])[0] + 1).tolist()
        if not pair_ends:
            stamps = seq[is_stamp]
            end = int(frames * time_precision_features / time_precision)
            if stamps.numel() and stamps[-1] != timestamp_begin:
                end = (stamps[-1] - timestamp_begin).double()
            return [segment(start=offset, end=offset + end * time_precision, tokens=seq,
                            idxs=(prompt_length, prompt_length + len(seq)))], frames
        cuts = pair_ends + [len(seq)] if lone_ending else pair_ends[:-1] + [pair_ends[-1] + 1]
        found, begin = [], 0
        for n, cut in enumerate(cuts):
            piece = seq[begin:cut]
            last = n == len(cuts) - 1
            end_stamp = piece[-1 if not last or lone_ending else -2]
            found.append(segment(start=offset + (piece[0] - timestamp_begin).double() * time_precision,
                                 end=offset + (end_stamp - timestamp_begin).double() * time_precision,
                                 tokens=piece, idxs=(prompt_length + begin, prompt_length + cut)))
            begin = cut
        if lone_ending:
            return found, frames
        return found, int(seq[begin - 2] - timestamp_begin) * stride

    @staticmethod
    def _stacked_results(results, output_class, pad: int):
        """The per-row results of the last window as one generate() output (sequences padded to one length)."""
        if torch.is_tensor(results[0]):
            return _padded(results, pad)
        fields = {"sequences": _padded([r["sequences"] for r in results], pad)}
        for key in ("scores", "logits"):
            if key in results[0]:
                steps = min(len(r[key]) for r in results)
                fields[key] = tuple(torch.stack([r[key][t] for r in results]) for t in range(steps))
        if "sequences_scores" in results[0]:
            fields["sequences_scores"] = torch.stack([r["sequences_scores"] for r in results])
        if "token_timestamps" in results[0]:  # (not a field of generate()'s output classes: a plain dict)
            fields["token_timestamps"] = torch.stack([r["token_timestamps"] for r in results])
            return fields
        return output_class(**fields)
