"""Extractive question answering: the span of a context that answers a question, with its score and offsets.

A context longer than `max_seq_len` tokens (with the question) is read in windows that overlap by `doc_stride`
tokens; each window is a forward row, batched with the other windows and questions. Answers found in several
windows are merged (their scores added), as 4.57 does.
"""

from __future__ import annotations

import warnings

import numpy as np

from .base import ChunkPipeline


class SquadExample:
    """One question about one context (the SQuAD record's fields; answers are not needed to predict)."""

    def __init__(self, qas_id, question_text, context_text, answer_text, start_position_character, title,
                 answers=(), is_impossible=False):
        self.qas_id, self.question_text, self.context_text = qas_id, question_text, context_text
        self.answer_text, self.start_position_character, self.title = answer_text, start_position_character, title
        self.answers, self.is_impossible = list(answers), is_impossible

    def __repr__(self) -> str:
        return f"SquadExample(question={self.question_text!r:.60}, context={self.context_text!r:.60})"


def _example(item) -> SquadExample:
    """A SquadExample from a `{"question", "context"}` dict (or one given as is), with both texts checked."""
    if isinstance(item, SquadExample):
        return item
    if not isinstance(item, dict):
        raise ValueError(f"question-answering takes question= and context=, or dicts with both keys; got a "
                         f"{type(item).__name__}: {item!r:.80}.")
    for key in ("question", "context"):
        if key not in item:
            raise KeyError(f"A question-answering input needs the keys 'question' and 'context'; {sorted(item)} "
                           f"lacks {key!r}.")
        if not isinstance(item[key], str):
            raise ValueError(f"`{key}` must be a string, not {type(item[key]).__name__}.")
        if not item[key]:
            raise ValueError(f"`{key}` cannot be empty: there is nothing to {'ask' if key == 'question' else 'read'}.")
    return SquadExample(None, item["question"], item["context"], None, None, None)


def _examples(args: tuple, kwargs: dict):
    """The call's examples from its positional arguments or `question=` / `context=` (texts or lists of texts)."""
    if args:
        if len(args) == 2 and all(isinstance(a, str) for a in args):
            return [{"question": args[0], "context": args[1]}]
        inputs = args[0] if len(args) == 1 else list(args)
    elif "question" in kwargs or "context" in kwargs:
        question, context = kwargs.pop("question", None), kwargs.pop("context", None)
        if question is None or context is None:
            raise ValueError("question-answering needs both question= and context=.")
        if isinstance(question, list) and isinstance(context, str):
            return [{"question": q, "context": context} for q in question]
        if isinstance(question, list) and isinstance(context, list):
            if len(question) != len(context):
                raise ValueError(f"question= has {len(question)} entries and context= has {len(context)}; give one "
                                 "context per question, or one context for all.")
            return [{"question": q, "context": c} for q, c in zip(question, context)]
        if isinstance(question, str) and isinstance(context, str):
            return [{"question": question, "context": context}]
        raise ValueError(f"question= and context= must be texts or lists of texts, not {type(question).__name__} "
                         f"and {type(context).__name__}.")
    else:
        raise ValueError("question-answering needs question= and context= (or a dict, a list of dicts, or a "
                         "generator of them).")
    if isinstance(inputs, (dict, SquadExample)):
        return [inputs]
    if isinstance(inputs, (list, tuple)):
        return list(inputs)
    if isinstance(inputs, (str, bytes)) or not hasattr(inputs, "__iter__"):
        raise ValueError(f"question-answering takes question= and context=; got a {type(inputs).__name__}.")
    return inputs  # a generator or dataset: its items are checked as they come


class QuestionAnsweringPipeline(ChunkPipeline):
    """`{"score", "start", "end", "answer"}` for a question about a context (a list of `top_k` of them when
    `top_k` > 1), start and end being character offsets into the context.

    Options: `top_k` (1), `doc_stride` (window overlap, default min(max_seq_len // 2, 128)), `max_answer_len` (15
    tokens), `max_seq_len` (min(model_max_length, 384)), `max_question_len` (64; used by slow tokenizers only),
    `handle_impossible_answer` (also offer the empty answer, scored by the [CLS] position), `align_to_words`
    (widen spans to whole words, True), `padding`."""

    _side_keys = ("p_mask", "encoding", "example")
    _single_types = (dict, SquadExample)

    @staticmethod
    def create_sample(question, context):
        """SquadExample(s) for a question and its context, or lists of both."""
        if isinstance(question, list):
            return [SquadExample(None, q, c, None, None, None) for q, c in zip(question, context)]
        return SquadExample(None, question, context, None, None, None)

    def __call__(self, *args, **kwargs):
        if args and not (len(args) == 2 and all(isinstance(a, str) for a in args)):
            warnings.warn("Passing SQuAD examples positionally is deprecated; pass question= and context=.",
                          FutureWarning, stacklevel=2)
        examples = _examples(args, kwargs)
        if isinstance(examples, list):
            examples = [_example(item) for item in examples]
            if len(examples) == 1:
                return super().__call__(examples[0], **kwargs)
        return super().__call__(examples, **kwargs)

    def _sanitize_parameters(self, padding=None, topk=None, top_k=None, doc_stride=None, max_answer_len=None,
                             max_seq_len=None, max_question_len=None, handle_impossible_answer=None,
                             align_to_words=None, **kwargs):
        super()._sanitize_parameters(**kwargs)
        pre = {key: value for key, value in (("padding", padding), ("doc_stride", doc_stride),
                                             ("max_question_len", max_question_len), ("max_seq_len", max_seq_len))
               if value is not None}
        post = {}
        if topk is not None and top_k is None:
            warnings.warn("topk is deprecated; use top_k.", UserWarning, stacklevel=3)
            top_k = topk
        for name, value in (("top_k", top_k), ("max_answer_len", max_answer_len)):
            if value is not None:
                if not isinstance(value, int) or value < 1:
                    raise ValueError(f"{name} must be an integer >= 1, not {value!r}.")
                post[name] = value
        if handle_impossible_answer is not None:
            post["handle_impossible_answer"] = handle_impossible_answer
        if align_to_words is not None:
            post["align_to_words"] = align_to_words
        return pre, {}, post

    def preprocess(self, example, padding="do_not_pad", doc_stride=None, max_question_len=64, max_seq_len=None):
        example = _example(example)
        if max_seq_len is None:
            max_seq_len = min(self.tokenizer.model_max_length, 384)
        if doc_stride is None:
            doc_stride = min(max_seq_len // 2, 128)
        if doc_stride > max_seq_len:
            raise ValueError(f"doc_stride ({doc_stride}) is larger than max_seq_len ({max_seq_len}): the windows "
                             "over the context would not advance.")
        question_first = self.tokenizer.padding_side == "right"
        texts = (example.question_text, example.context_text)
        first, second = texts if question_first else texts[::-1]
        try:
            encoded = self.tokenizer(first, second, padding=padding,
                                     truncation="only_second" if question_first else "only_first",
                                     max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True,
                                     return_overflowing_tokens=True, return_offsets_mapping=True)
        except Exception as e:
            if "truncat" not in str(e).lower():
                raise
            raise ValueError(f"The question is too long for max_seq_len={max_seq_len} with doc_stride={doc_stride}: "
                             "no room is left for the context. Shorten the question, or raise max_seq_len / lower "
                             f"doc_stride. ({e})") from e
        names = [name for name in self.tokenizer.model_input_names if name in encoded]
        cls_id = self.tokenizer.cls_token_id
        for window in range(len(encoded["input_ids"])):
            ids = encoded["input_ids"][window]
            # 1 where the answer cannot be: everything but the context, except [CLS] (the "no answer" position)
            p_mask = [int(seq != 1) if question_first else 0 for seq in encoded.sequence_ids(window)]
            if cls_id is not None:
                for place, token in enumerate(ids):
                    if token == cls_id:
                        p_mask[place] = 0
            yield {**{name: encoded[name][window] for name in names}, "p_mask": p_mask,
                   "encoding": encoded.encodings[window], "example": example}

    def _forward(self, batch: dict) -> dict:
        outputs = self.run_model(batch)
        return {"start": outputs["start_logits"], "end": outputs["end_logits"],
                "attention_mask": batch["attention_mask"]}

    def _row(self, outputs: dict, row: int, item) -> dict:
        real = outputs["attention_mask"][row].bool()
        return {"start": outputs["start"][row][real].float().cpu().numpy(),
                "end": outputs["end"][row][real].float().cpu().numpy()}

    def postprocess(self, windows: list[dict], top_k=1, handle_impossible_answer=False, max_answer_len=15,
                    align_to_words=True):
        null_score = 1000000
        answers = []
        sequence_index = 1 if self.tokenizer.padding_side == "right" else 0
        for window in windows:
            starts, ends, scores, null_score = _best_spans(
                window["start"], window["end"], np.asarray(window["p_mask"]), null_score,
                top_k * 2 + 10 if align_to_words else top_k, handle_impossible_answer, max_answer_len)
            context = window["example"].context_text
            for s, e, score in zip(starts, ends, scores):
                begin, finish = _char_span(window["encoding"], int(s), int(e), sequence_index, align_to_words)
                text = context[begin:finish]
                same = next((a for a in answers if a["answer"].lower() == text.lower()), None)
                if same is not None:
                    same["score"] += score.item()
                else:
                    answers.append({"score": score.item(), "start": begin, "end": finish, "answer": text})
        if handle_impossible_answer:
            answers.append({"score": null_score, "start": 0, "end": 0, "answer": ""})
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers


def _best_spans(start, end, p_mask, null_score, top_k, handle_impossible_answer, max_answer_len):
    """The `top_k` best (start, end) token spans of one window by start x end probability, over the context only
    and at most `max_answer_len` tokens long, and the lowest "no answer" score seen so far. Computed in numpy
    float32 as 4.57 does, so equal logits give equal scores and equal ties."""
    allowed = p_mask == 0
    start = np.where(allowed, start, np.float32(-10000.0))
    end = np.where(allowed, end, np.float32(-10000.0))
    start = np.exp(start - start.max())
    start = start / start.sum()
    end = np.exp(end - end.max())
    end = end / end.sum()
    if handle_impossible_answer:
        null_score = min(null_score, (start[0] * end[0]).item())
    start[0] = end[0] = 0.0
    # span (i, j) scores start[i] * end[j] for i <= j < i + max_answer_len
    table = np.tril(np.triu(np.outer(start, end)), max_answer_len - 1)
    flat = table.ravel()
    if top_k == 1:
        picks = np.array([np.argmax(flat)])
    elif flat.size < top_k:
        picks = np.argsort(-flat)
    else:
        best = np.argpartition(-flat, top_k)[:top_k]
        picks = best[np.argsort(-flat[best])]
    starts, ends = np.unravel_index(picks, table.shape)
    # position 0 always passes this filter in 4.57 (its row index of the mask's nonzero() counts), so keep it
    usable = np.append(np.flatnonzero(allowed), 0)
    keep = np.isin(starts, usable) & np.isin(ends, usable)
    starts, ends = starts[keep], ends[keep]
    return starts, ends, table[starts, ends], null_score


def _char_span(encoding, s: int, e: int, sequence_index: int, align_to_words: bool) -> tuple[int, int]:
    """Character offsets into the context of tokens s..e, widened to whole words when asked and possible."""
    if align_to_words:
        try:
            first, last = encoding.token_to_word(s), encoding.token_to_word(e)
            return (encoding.word_to_chars(first, sequence_index=sequence_index)[0],
                    encoding.word_to_chars(last, sequence_index=sequence_index)[1])
        except Exception:  # a token outside any word ([CLS], padding): its own offsets
            pass
    return encoding.offsets[s][0], encoding.offsets[e][1]

