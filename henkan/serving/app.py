"""The HTTP side of `henkan serve`: an OpenAI-compatible API (FastAPI) over the batching engine.

Routes: `POST /v1/chat/completions`, `POST /v1/completions`, `POST /v1/embeddings`, `GET /v1/models`, `GET /health`.
Errors are OpenAI error objects with the matching status (400 bad request, 401 wrong API key, 404 unknown model or
route, 413 body too large, 503 overloaded). Chat templates render in a bounded child process (`templates`);
tokenizing and embedding run in worker threads, generation in the engine's thread, so the event loop only moves
bytes.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import os
import threading
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .engine import ContextLengthError, Engine, Overloaded, SamplingParams
from .protocol import APIError, ChatCompletionRequest, CompletionRequest, EmbeddingRequest
from .templates import TemplateError, TemplateRenderer

__all__ = ["Server"]

DEFAULT_EMBEDDING_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def _read_template(value: str) -> str:
    """`--chat-template`: a file's path, or the template itself."""
    if os.path.isfile(value):
        with open(value, encoding="utf-8") as f:
            return f.read()
    if "{{" in value or "{%" in value:
        return value
    raise ValueError(f"--chat-template {value!r} is neither a file nor a Jinja template (no '{{{{' or '{{%' in it). "
                     f"Pass the path of a .jinja file or the template text.")


class Server:
    """One `henkan serve`: a chat model with its engine and/or an embedding model, and the settings of the API.

    `model` is a causal LM folder or Hub id (None: embeddings only, from `embedding_model` or the embedded
    all-MiniLM-L6-v2). `app()` is the FastAPI application; the engine runs while the application runs."""

    def __init__(self, model: str | None = None, *, chat_template: str | None = None, dtype: str = "auto",
                 device: str = "cpu", max_batch_size: int = 16, max_model_len: int | None = None,
                 api_key: str | None = None, served_model_name: str | None = None,
                 embedding_model: str | None = None, prefill_chunk: int = 512, max_waiting: int | None = None,
                 template_timeout: float = 2.0, max_body_bytes: int = 32 * 2**20):
        import torch

        from ..auto import AutoModelForCausalLM
        from ..sentence import SentenceEmbedder
        from ..tokenization import AutoTokenizer

        self.api_key, self.max_body_bytes = api_key, max_body_bytes
        self.created = int(time.time())
        self.engine = self.tokenizer = self.template = None
        self.model_name = None
        if model is not None:
            torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
            lm = AutoModelForCausalLM.from_pretrained(model, torch_dtype=torch_dtype)
            lm.to(device)
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.engine = Engine(lm, self.tokenizer, max_batch_size=max_batch_size, max_model_len=max_model_len,
                                 prefill_chunk=prefill_chunk, max_waiting=max_waiting)
            self.model_name = served_model_name or model
            if chat_template is not None:
                self.template = _read_template(chat_template)
            elif self.tokenizer.chat_template is not None:
                self.template = self.tokenizer.chat_template
        elif chat_template is not None:
            raise ValueError("--chat-template needs a chat MODEL to serve.")
        self.embedder = None
        self.embedding_name = None
        if embedding_model is not None or model is None:
            self.embedder = SentenceEmbedder(embedding_model, device=device)
            self.embedding_name = (served_model_name if model is None and served_model_name else
                                   embedding_model or DEFAULT_EMBEDDING_NAME)
        self.renderer = TemplateRenderer(timeout=template_timeout)
        self._encode_lock = threading.Lock()  # the tokenizer's padding/truncation state is shared
        self._embed_lock = threading.Lock()

    # ---------------------------------------------------------------------------------------------------------
    def app(self):
        """The ASGI application (FastAPI behind the API-key and body-size guard)."""
        @asynccontextmanager
        async def lifespan(app):
            if self.engine is not None:
                self.engine.start()
                self.renderer.start()
            try:
                yield
            finally:
                if self.engine is not None:
                    self.engine.stop()
                self.renderer.close()

        app = FastAPI(title="henkan", lifespan=lifespan, docs_url=None, redoc_url=None)
        app.add_exception_handler(APIError, _api_error)
        app.add_exception_handler(RequestValidationError, _validation_error)
        app.add_exception_handler(StarletteHTTPException, _http_error)
        app.add_exception_handler(Exception, _server_error)

        @app.get("/health")
        async def health():
            return {"status": "ok"}

        @app.get("/v1/models")
        async def models():
            names = [n for n in (self.model_name, self.embedding_name) if n]
            return {"object": "list", "data": [{"id": n, "object": "model", "created": self.created,
                                                "owned_by": "henkan"} for n in names]}

        @app.post("/v1/chat/completions")
        async def chat(body: ChatCompletionRequest, request: Request):
            return await self._chat(body, request)

        @app.post("/v1/completions")
        async def completions(body: CompletionRequest, request: Request):
            return await self._completions(body, request)

        @app.post("/v1/embeddings")
        async def embeddings(body: EmbeddingRequest):
            return await self._embeddings(body)

        return _Guard(app, self.api_key, self.max_body_bytes)

    # ---------------------------------------------------------------------------------------------------------
    # chat and completions
    # ---------------------------------------------------------------------------------------------------------
    def _check_model(self, name: str, embeddings: bool = False) -> None:
        served = self.embedding_name if embeddings else self.model_name
        if name != served:
            what = "embedding" if embeddings else "chat/completion"
            available = f"the {what} model is {served!r}" if served else f"this server has no {what} model"
            raise APIError(404, f"The model {name!r} does not exist: {available} (see GET /v1/models).",
                           param="model", code="model_not_found")

    def _params(self, body, max_tokens: int | None, prompt_len: int, logprobs: int | None) -> SamplingParams:
        if max_tokens is None:
            max_tokens = max(self.engine.max_model_len - prompt_len, 1)
        if body.n > self.engine.max_batch_size:
            raise APIError(400, f"n is {body.n}, more than this server's limit of {self.engine.max_batch_size} "
                                f"(its --max-batch-size).", param="n")
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        logit_bias = None
        if body.logit_bias:
            try:
                logit_bias = {int(k): v for k, v in body.logit_bias.items()}
            except ValueError:
                raise APIError(400, "logit_bias keys must be token ids (integers as strings).",
                               param="logit_bias") from None
            if any(not -100 <= v <= 100 for v in logit_bias.values()):
                raise APIError(400, "logit_bias values must be between -100 and 100.", param="logit_bias")
        return SamplingParams(max_tokens=max_tokens, temperature=body.temperature, top_p=body.top_p,
                              top_k=body.top_k, min_p=body.min_p, repetition_penalty=body.repetition_penalty,
                              presence_penalty=body.presence_penalty, frequency_penalty=body.frequency_penalty,
                              logit_bias=logit_bias, seed=body.seed, stop=stop, n=body.n, logprobs=logprobs)

    def _render(self, body: ChatCompletionRequest) -> list[int]:
        template = body.chat_template or self.template
        if template is None:
            raise APIError(400, "This model has no chat template: start the server with --chat-template (a file "
                                "or the template text), or send one as `chat_template`.", param="chat_template")
        messages = []
        for i, message in enumerate(body.messages):
            entry = message.model_dump(exclude_none=True)
            if entry["role"] == "developer":  # OpenAI's newer name for the system message
                entry["role"] = "system"
            content = entry.get("content")
            if isinstance(content, list):
                texts = []
                for part in content:
                    if part.get("type") != "text" or not isinstance(part.get("text"), str):
                        raise APIError(400, f"messages[{i}].content: only text parts are supported, got a part "
                                            f"of type {part.get('type')!r}.", param=f"messages[{i}].content")
                    texts.append(part["text"])
                entry["content"] = "\n".join(texts)
            messages.append(entry)
        tools = body.tools
        if body.tool_choice not in (None, "auto", "none"):
            raise APIError(400, f"tool_choice {body.tool_choice!r} is not supported: the tools are passed to the "
                                f"chat template and the model decides ('auto'), or not passed ('none').",
                           param="tool_choice")
        if body.tool_choice == "none":
            tools = None
        extra = dict(body.chat_template_kwargs or {})
        reserved = {"messages", "tools", "documents", "add_generation_prompt"} & extra.keys()
        if reserved:
            raise APIError(400, f"chat_template_kwargs cannot set {sorted(reserved)}.", param="chat_template_kwargs")
        if body.add_generation_prompt and body.continue_final_message:
            raise APIError(400, "add_generation_prompt and continue_final_message cannot both be true.",
                           param="continue_final_message")
        variables = {**self.tokenizer._chat_template_variables(), **extra}
        try:
            text = self.renderer.render(template, messages, tools=tools,
                                        add_generation_prompt=body.add_generation_prompt,
                                        continue_final_message=body.continue_final_message, variables=variables)
        except TemplateError as e:
            raise APIError(400, str(e), param="messages", code="chat_template_error") from None
        with self._encode_lock:
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _encode_prompts(self, prompt) -> list[tuple[list[int], str]]:
        """Completion prompts as (token ids, text) pairs."""
        if isinstance(prompt, str):
            prompt = [prompt]
        if not prompt:
            raise APIError(400, "prompt is empty.", param="prompt")
        if all(isinstance(p, int) for p in prompt):
            prompt = [prompt]
        out = []
        vocab = self.engine.model.config.vocab_size
        for p in prompt:
            if isinstance(p, str):
                with self._encode_lock:
                    out.append((self.tokenizer(p)["input_ids"], p))
            else:
                if any(not 0 <= t < vocab for t in p):
                    raise APIError(400, f"prompt holds token ids outside the vocabulary [0, {vocab}).",
                                   param="prompt")
                out.append((list(p), self.tokenizer.decode(p)))
        return out

    def _submit(self, prompt: list[int], params: SamplingParams, emit):
        try:
            return self.engine.submit(prompt, params, emit)
        except ContextLengthError as e:
            raise APIError(400, str(e), param="max_tokens" if "max_tokens" in str(e) else "messages",
                           code="context_length_exceeded") from None
        except Overloaded as e:
            raise APIError(503, str(e), type="server_error", code="overloaded") from None
        except ValueError as e:
            raise APIError(400, str(e)) from None

    async def _chat(self, body: ChatCompletionRequest, http: Request):
        self._check_model(body.model)
        if body.response_format and body.response_format.get("type") != "text":
            raise APIError(400, "response_format: only {'type': 'text'} is supported.", param="response_format")
        if body.top_logprobs is not None and not body.logprobs:
            raise APIError(400, "top_logprobs needs logprobs=true.", param="top_logprobs")
        prompt = await run_in_threadpool(self._render, body)
        max_tokens = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
        params = self._params(body, max_tokens, len(prompt), (body.top_logprobs or 0) if body.logprobs else None)
        stream = _Stream(self, [prompt], params, http)
        as_ids = body.return_tokens_as_token_ids
        ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": self.model_name}

        def logprobs(choice):
            if choice.logprob is None:
                return None
            return {"content": [self._token_logprob(choice.token_id, choice.logprob, as_ids)]}

        if body.stream:
            usage_wanted = body.stream_options is not None and body.stream_options.include_usage

            async def events():
                extra = {"usage": None} if usage_wanted else {}
                for index in range(params.n):
                    yield _sse({**head, "choices": [{"index": index, "delta": {"role": "assistant", "content": ""},
                                                     "logprobs": None, "finish_reason": None}], **extra})
                async for _, choice in stream:
                    delta = {"content": choice.text} if choice.text else {}
                    if not delta and choice.logprob is None and choice.finish_reason is None:
                        continue
                    yield _sse({**head, "choices": [{"index": choice.index, "delta": delta,
                                                     "logprobs": logprobs(choice),
                                                     "finish_reason": choice.finish_reason}], **extra})
                if usage_wanted:
                    yield _sse({**head, "choices": [], "usage": stream.usage()})
                yield "data: [DONE]\n\n"

            return StreamingResponse(stream.guard(events()), media_type="text/event-stream")
        texts, contents, reasons = await stream.collect(lambda c: self._token_logprob(c.token_id, c.logprob, as_ids))
        choices = [{"index": i, "message": {"role": "assistant", "content": texts[i]},
                    "logprobs": {"content": contents[i]} if params.logprobs is not None else None,
                    "finish_reason": reasons[i]} for i in range(params.n)]
        return {"id": ident, "object": "chat.completion", "created": created, "model": self.model_name,
                "choices": choices, "usage": stream.usage()}

    async def _completions(self, body: CompletionRequest, http: Request):
        self._check_model(body.model)
        if body.suffix is not None:
            raise APIError(400, "suffix is not supported (this server does not fill in the middle).", param="suffix")
        if body.best_of is not None and body.best_of != body.n:
            raise APIError(400, "best_of is not supported (it must equal n).", param="best_of")
        if body.echo and body.logprobs is not None:
            raise APIError(400, "echo with logprobs is not supported (no prompt log-probabilities).",
                           param="logprobs")
        prompts = await run_in_threadpool(self._encode_prompts, body.prompt)
        max_tokens = 16 if body.max_tokens is None else body.max_tokens
        n = body.n
        ident, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": ident, "object": "text_completion", "created": created, "model": self.model_name}
        as_ids = body.return_tokens_as_token_ids
        echo = [text if body.echo else "" for _, text in prompts]
        if max_tokens == 0:  # the prompts alone (echo)
            usage = {"prompt_tokens": sum(len(ids) for ids, _ in prompts), "completion_tokens": 0}
            usage["total_tokens"] = usage["prompt_tokens"]
            choices = [{"index": p * n + j, "text": echo[p], "logprobs": None, "finish_reason": "length"}
                       for p in range(len(prompts)) for j in range(n)]
            return {**head, "choices": choices, "usage": usage}
        params = self._params(body, max_tokens, max(len(ids) for ids, _ in prompts), body.logprobs)
        stream = _Stream(self, [ids for ids, _ in prompts], params, http)

        def logprobs(choice, offset):
            if choice.logprob is None:
                return None
            text, logprob, top = choice.logprob
            token = f"token_id:{choice.token_id}" if as_ids else text
            alternatives = {(f"token_id:{t}" if as_ids else s): lp for t, s, lp in top}
            return {"tokens": [token], "token_logprobs": [logprob], "top_logprobs": [alternatives],
                    "text_offset": [offset]}

        if body.stream:
            usage_wanted = body.stream_options is not None and body.stream_options.include_usage

            async def events():
                offsets = [len(echo[p]) for p in range(len(prompts)) for _ in range(n)]
                started = set()
                async for p, choice in stream:
                    index = p * n + choice.index
                    text = choice.text
                    if index not in started:
                        started.add(index)
                        text = echo[p] + text
                    lp = logprobs(choice, offsets[index])
                    offsets[index] += len(text)
                    yield _sse({**head, "choices": [{"index": index, "text": text, "logprobs": lp,
                                                     "finish_reason": choice.finish_reason}],
                                **({"usage": None} if usage_wanted else {})})
                if usage_wanted:
                    yield _sse({**head, "choices": [], "usage": stream.usage()})
                yield "data: [DONE]\n\n"

            return StreamingResponse(stream.guard(events()), media_type="text/event-stream")
        choices = []
        results = await stream.collect_all()
        for p in range(len(prompts)):
            for j in range(n):
                pieces = results[p][j]
                text, offset = echo[p], len(echo[p])
                lp = None
                if params.logprobs is not None:
                    lp = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
                for choice in pieces:
                    if lp is not None:
                        one = logprobs(choice, offset)
                        for key in lp:
                            lp[key] += one[key]
                    text += choice.text
                    offset += len(choice.text)
                choices.append({"index": p * n + j, "text": text, "logprobs": lp,
                                "finish_reason": pieces[-1].finish_reason})
        return {**head, "choices": choices, "usage": stream.usage()}

    @staticmethod
    def _token_logprob(token_id: int, logprob, as_ids: bool) -> dict:
        def entry(t, text, lp):
            text = f"token_id:{t}" if as_ids else text
            return {"token": text, "logprob": lp, "bytes": list(text.encode("utf-8"))}

        text, value, top = logprob
        return {**entry(token_id, text, value), "top_logprobs": [entry(*alternative) for alternative in top]}

    # ---------------------------------------------------------------------------------------------------------
    # embeddings
    # ---------------------------------------------------------------------------------------------------------
    async def _embeddings(self, body: EmbeddingRequest):
        self._check_model(body.model, embeddings=True)
        dim = self.embedder.get_sentence_embedding_dimension()
        if body.dimensions is not None and body.dimensions != dim:
            raise APIError(400, f"dimensions: this model's embeddings have {dim} dimensions; it cannot give "
                                f"{body.dimensions}.", param="dimensions")
        inputs = body.input
        if isinstance(inputs, str):
            inputs = [inputs]
        elif inputs and all(isinstance(t, int) for t in inputs):
            inputs = [inputs]
        if not inputs:
            raise APIError(400, "input is empty: pass a string, a list of strings, or token ids.", param="input")
        vectors, tokens = await run_in_threadpool(self._embed, inputs)
        data = []
        for i, vector in enumerate(vectors):
            if body.encoding_format == "base64":
                value = base64.b64encode(vector.numpy().astype("<f4").tobytes()).decode("ascii")
            else:
                value = vector.tolist()
            data.append({"object": "embedding", "index": i, "embedding": value})
        return {"object": "list", "data": data, "model": self.embedding_name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    def _embed(self, inputs: list) -> tuple[list, int]:
        embedder = self.embedder
        limit = embedder.max_seq_length
        vocab = embedder.model.config.vocab_size
        with self._embed_lock:
            texts = [(i, t) for i, t in enumerate(inputs) if isinstance(t, str)]
            ids = [(i, list(t)) for i, t in enumerate(inputs) if not isinstance(t, str)]
            for _, t in ids:
                if not t or any(not isinstance(x, int) or not 0 <= x < vocab for x in t):
                    raise APIError(400, f"input: token lists must be non-empty and hold ids in [0, {vocab}).",
                                   param="input")
            vectors = [None] * len(inputs)
            tokens = 0
            if texts:
                encoded = embedder.tokenizer([t for _, t in texts], truncation=True, max_length=limit)
                tokens += sum(len(x) for x in encoded["input_ids"])
                for (i, _), vector in zip(texts, embedder.encode([t for _, t in texts], convert_to_tensor=True)):
                    vectors[i] = vector
            if ids:
                rows = [t[:limit] for _, t in ids]
                tokens += sum(len(t) for t in rows)
                batch = embedder.tokenizer.pad({"input_ids": rows}, return_tensors="pt")
                for (i, _), vector in zip(ids, embedder.embed_encoded(batch, embedder.normalize).float().cpu()):
                    vectors[i] = vector
        return vectors, tokens


# -------------------------------------------------------------------------------------------------------------
# streaming results from the engine's thread to the event loop
# -------------------------------------------------------------------------------------------------------------
class _Stream:
    """The engine requests of one HTTP request (one per prompt), as an async iterator of (prompt index, Choice).

    Leaving the iteration early (the client went away, an error) cancels the engine requests, which frees their
    slots at the next engine step."""

    def __init__(self, server: Server, prompts: list[list[int]], params: SamplingParams, http: Request):
        self.server, self.http, self.params = server, http, params
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.prompt_tokens = sum(len(p) for p in prompts)
        self.completion_tokens = 0
        self.requests = []
        self.open = 0
        try:
            for index, prompt in enumerate(prompts):
                self.requests.append(server._submit(prompt, params, self._emitter(index)))
                self.open += params.n
        except BaseException:
            self.cancel()
            raise

    def _emitter(self, index: int):
        def emit(item):
            try:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, (index, item))
            except RuntimeError:  # the event loop is gone (shutting down)
                pass
        return emit

    def cancel(self) -> None:
        for request in self.requests:
            self.server.engine.cancel(request)

    def usage(self) -> dict:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}

    async def __aiter__(self):
        while self.open:
            index, item = await self.queue.get()
            if isinstance(item, Exception):
                raise APIError(500, f"Generation failed: {type(item).__name__}: {item}", type="server_error")
            for choice in item:
                self.completion_tokens += 1
                if choice.finish_reason is not None:
                    self.open -= 1
                yield index, choice

    async def guard(self, events):
        """Pass `events` through; whatever ends them early (a disconnect, an error) cancels the requests."""
        finished = False
        try:
            async for event in events:
                yield event
            finished = True
        finally:
            if not finished:
                self.cancel()

    async def collect_all(self) -> list[list[list]]:
        """Every choice's pieces, per prompt; watches for the client going away meanwhile."""
        results = [[[] for _ in range(self.params.n)] for _ in self.requests]
        iterator = self.__aiter__().__aiter__()
        finished = False
        try:
            while True:
                step = asyncio.ensure_future(iterator.__anext__())
                while True:
                    done, _ = await asyncio.wait({step}, timeout=0.5)
                    if done:
                        break
                    if await self.http.is_disconnected():
                        step.cancel()
                        return results
                try:
                    index, choice = step.result()
                except StopAsyncIteration:
                    finished = True
                    return results
                results[index][choice.index].append(choice)
        finally:
            if not finished:
                self.cancel()

    async def collect(self, token_logprob) -> tuple[list, list, list]:
        """(texts, logprob entries, finish reasons) of the choices of a single prompt."""
        results = (await self.collect_all())[0]
        texts = ["".join(c.text for c in pieces) for pieces in results]
        contents = [[token_logprob(c) for c in pieces if c.logprob is not None] for pieces in results]
        reasons = [pieces[-1].finish_reason if pieces else None for pieces in results]
        return texts, contents, reasons


def _sse(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


# -------------------------------------------------------------------------------------------------------------
# errors and the guard
# -------------------------------------------------------------------------------------------------------------
async def _api_error(request, error: APIError):
    return JSONResponse(error.body(), status_code=error.status)


async def _validation_error(request, error: RequestValidationError):
    problems = error.errors()
    first = problems[0] if problems else {}
    location = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(location) or None
    kind = first.get("type", "")
    if kind == "json_invalid":
        param = None
        message = f"The request body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}."
    elif kind == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}."
    elif kind == "missing":
        message = f"Missing required parameter: {param}." if param else "The request body is missing."
    else:
        message = f"Invalid value for {param}: {first.get('msg')}." if param else str(first.get("msg"))
    if len(problems) > 1:
        message += f" ({len(problems) - 1} more problem{'s' if len(problems) > 2 else ''} in the request.)"
    return JSONResponse(APIError(400, message, param=param).body(), status_code=400)


async def _http_error(request, error: StarletteHTTPException):
    kind = "not_found" if error.status_code == 404 else None
    message = f"{request.method} {request.url.path}: {error.detail}"
    return JSONResponse(APIError(error.status_code, message, code=kind).body(), status_code=error.status_code)


async def _server_error(request, error: Exception):
    return JSONResponse(APIError(500, f"Internal error: {type(error).__name__}: {error}", type="server_error").body(),
                        status_code=500)


class _Guard:
    """ASGI middleware in front of the API: the API key (Authorization: Bearer ...) and the body size limit, checked
    before anything is read. /health needs no key."""

    def __init__(self, app, api_key: str | None, max_body_bytes: int):
        self.app, self.api_key, self.max_body_bytes = app, api_key, max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/v1"):
            headers = dict(scope["headers"])
            error = None
            if self.api_key is not None:
                given = headers.get(b"authorization", b"").decode("latin-1")
                token = given[7:] if given[:7].lower() == "bearer " else ""
                if not hmac.compare_digest(token.encode(), self.api_key.encode()):
                    error = APIError(401, "Incorrect API key provided. Send it as 'Authorization: Bearer <key>' "
                                          "(the openai client's api_key).", code="invalid_api_key")
            length = headers.get(b"content-length")
            if error is None and length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                error = APIError(413, f"The request body has {int(length)} bytes, more than the limit of "
                                      f"{self.max_body_bytes}.", code="request_too_large")
            if error is not None:
                await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)
                return
            if scope["method"] == "POST" and b"json" not in headers.get(b"content-type", b""):
                # the API speaks JSON only: read the body as JSON whatever the client labelled it
                scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k != b"content-type"]
                             + [(b"content-type", b"application/json")])
        await self.app(scope, receive, send)
