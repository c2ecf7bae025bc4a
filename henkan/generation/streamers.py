"""Streamers: receive token ids as `generate()` produces them and turn them into text as soon as it is stable."""

from __future__ import annotations

import asyncio
from queue import Queue

# CJK Unified Ideographs and their extensions/compatibility blocks: each such character is a word of its own, so
# text ending in one can be shown at once.
_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
               (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


class BaseStreamer:
    """What `generate(streamer=...)` calls: `put(token_ids)` for the prompt and each new token, `end()` once."""

    def put(self, value):
        raise NotImplementedError()

    def end(self):
        raise NotImplementedError()


class TextStreamer(BaseStreamer):
    """Print text to stdout as it is generated, a word at a time.

    Tokens are decoded together (so multi-token characters and spaces come out right); text is released up to the
    last space, at a newline (which also resets the buffer), or right away when it ends in a CJK character.
    `skip_prompt=True` leaves out the prompt; other keyword arguments go to `tokenizer.decode`.
    """

    def __init__(self, tokenizer, skip_prompt: bool = False, **decode_kwargs):
        self.tokenizer = tokenizer
        self.skip_prompt = skip_prompt
        self.decode_kwargs = decode_kwargs
        self.token_cache: list[int] = []
        self.print_len = 0
        self.next_tokens_are_prompt = True

    def put(self, value):
        if value.dim() > 1:
            if value.shape[0] > 1:
                raise ValueError("TextStreamer only supports batch size 1")
            value = value[0]
        if self.skip_prompt and self.next_tokens_are_prompt:
            self.next_tokens_are_prompt = False
            return
        self.token_cache.extend(value.tolist())
        text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
        if text.endswith("\n"):
            ready = text[self.print_len:]
            self.token_cache = []
            self.print_len = 0
        elif text and self._is_chinese_char(ord(text[-1])):
            ready = text[self.print_len:]
            self.print_len += len(ready)
        else:
            ready = text[self.print_len: text.rfind(" ") + 1]
            self.print_len += len(ready)
        self.on_finalized_text(ready)

    def end(self):
        if self.token_cache:
            text = self.tokenizer.decode(self.token_cache, **self.decode_kwargs)
            ready = text[self.print_len:]
            self.token_cache = []
            self.print_len = 0
        else:
            ready = ""
        self.next_tokens_are_prompt = True
        self.on_finalized_text(ready, stream_end=True)

    def on_finalized_text(self, text: str, stream_end: bool = False):
        """Where released text goes; override to send it elsewhere."""
        print(text, flush=True, end=None if stream_end else "")

    @staticmethod
    def _is_chinese_char(cp: int) -> bool:
        return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


class TextIteratorStreamer(TextStreamer):
    """Put released text in a queue; iterate over the streamer (usually in another thread than `generate`).

    `timeout` (seconds) bounds each wait on the queue; `queue.Empty` is raised when it runs out.
    """

    def __init__(self, tokenizer, skip_prompt: bool = False, timeout: float | None = None, **decode_kwargs):
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue: Queue = Queue()
        self.stop_signal = None
        self.timeout = timeout

    def on_finalized_text(self, text: str, stream_end: bool = False):
        self.text_queue.put(text, timeout=self.timeout)
        if stream_end:
            self.text_queue.put(self.stop_signal, timeout=self.timeout)

    def __iter__(self):
        return self

    def __next__(self):
        value = self.text_queue.get(timeout=self.timeout)
        if value == self.stop_signal:
            raise StopIteration()
        return value


class AsyncTextIteratorStreamer(TextStreamer):
    """Like TextIteratorStreamer for asyncio: `async for text in streamer`. Create it inside the running loop."""

    def __init__(self, tokenizer, skip_prompt: bool = False, timeout: float | None = None, **decode_kwargs):
        super().__init__(tokenizer, skip_prompt, **decode_kwargs)
        self.text_queue: asyncio.Queue = asyncio.Queue()
        self.stop_signal = None
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()

    def on_finalized_text(self, text: str, stream_end: bool = False):
        self.loop.call_soon_threadsafe(self.text_queue.put_nowait, text)
        if stream_end:
            self.loop.call_soon_threadsafe(self.text_queue.put_nowait, self.stop_signal)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            value = await asyncio.wait_for(self.text_queue.get(), self.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError() from None
        if value == self.stop_signal:
            raise StopAsyncIteration()
        return value


__all__ = ["BaseStreamer", "TextStreamer", "TextIteratorStreamer", "AsyncTextIteratorStreamer"]
