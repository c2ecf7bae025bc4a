"""`henkan serve` through the official `openai` client: a real uvicorn server on a free localhost port, in a thread,
over the tiny chat Llama of tests/fixtures/text_generation (and the embedded MiniLM for embeddings).

Greedy answers are compared with `generate()` on the same rendered prompt, token for token; the seed's Phi-3
template must render exactly; hostile templates, bad requests, overload and vanished clients must leave the
server serving.
"""

import base64
import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

import torch  # noqa: E402

from conftest import FIXTURES  # noqa: E402
from henkan import AutoModelForCausalLM, AutoTokenizer, SentenceEmbedder  # noqa: E402
from henkan.serving.app import Server  # noqa: E402

MODEL = os.path.join(FIXTURES, "text_generation", "llama")
PHI3 = os.path.join(FIXTURES, "chat", "phi3.jinja")
KEY = "test-key"
# the seed's Phi-3 example (transformers-memo.ja.md, "chat template の例"): the conversation and its rendering
SEED_CHAT = [
    {"role": "system", "content": "You are a helpful assistant who provides clear and concise answers. Be polite "
                                  "and informative."},
    {"role": "user", "content": "Hello, how are you?"},
    {"role": "assistant", "content": "I'm doing great. How can I help you today?"},
    {"role": "user", "content": "I'd like to show off how chat templating works!"},
]
SEED_TEXT = ("<|system|>\nYou are a helpful assistant who provides clear and concise answers. Be polite and "
             "informative.<|end|>\n<|user|>\nHello, how are you?<|end|>\n<|assistant|>\nI'm doing great. How can I "
             "help you today?<|end|>\n<|user|>\nI'd like to show off how chat templating works!<|end|>\n"
             "<|endoftext|>")


@contextlib.contextmanager
def serving(model=MODEL, **options):
    """A Server on a free port, run by uvicorn in a thread: yields (base url, server)."""
    server = Server(model, **options)
    runner = uvicorn.Server(uvicorn.Config(server.app(), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    while not runner.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    port = runner.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        runner.should_exit = True
        thread.join()


def client(url, key=KEY):
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def main_server(minilm_path):
    with serving(api_key=KEY, max_model_len=256, prefill_chunk=64, embedding_model=minilm_path,
                 template_timeout=1.0) as running:
        yield running


@pytest.fixture(scope="module")
def api(main_server):
    return client(main_server[0])


@pytest.fixture(scope="module")
def local():
    return AutoModelForCausalLM.from_pretrained(MODEL), AutoTokenizer.from_pretrained(MODEL)


def expected_tokens(local, ids, max_new_tokens, **sampling):
    model, _ = local
    out = model.generate(torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=bool(sampling), **sampling)
    return out[0, len(ids):].tolist()


def token_ids(choice):
    return [int(entry.token.split(":")[1]) for entry in choice.logprobs.content]


def chat_ids(local, messages):
    return local[1].apply_chat_template(messages, add_generation_prompt=True)


def text_of(local, ids):
    return local[1].decode(ids, skip_special_tokens=True)


CHATS = [[{"role": "user", "content": content}] for content in (
    "hello there", "a b", "the cat sat on the mat and then it looked at the dog for a long time",
    "once upon a time", "hi", "what is the capital of france", "x", "tell me a story about a hobbit in a hole",
    "the the the the the the", "one two three four five six seven eight nine ten eleven twelve", "ok",
    "why is the sky blue", "sing", "translate this into french please", "abc def ghi", "z y x w v")]
CHATS[2] = [{"role": "system", "content": "be brief " * 12}] + CHATS[2]  # longer than prefill_chunk: chunked


# ---------------------------------------------------------------------------------------------------------------
# the API as the openai client uses it
# ---------------------------------------------------------------------------------------------------------------
def test_health_and_models(main_server, api, minilm_path):
    url, _ = main_server
    assert httpx.get(url + "/health").json() == {"status": "ok"}
    assert [m.id for m in api.models.list().data] == [MODEL, minilm_path]


def test_greedy_chat_equals_generate_alone(api, local):
    for messages, max_tokens in ((CHATS[0], 12), (CHATS[2], 20), (CHATS[7], 30)):
        ids = chat_ids(local, messages)
        expected = expected_tokens(local, ids, max_tokens)
        response = api.chat.completions.create(model=MODEL, messages=messages, max_tokens=max_tokens,
                                               temperature=0, logprobs=True,
                                               extra_body={"return_tokens_as_token_ids": True})
        choice = response.choices[0]
        assert token_ids(choice) == expected
        assert choice.message.content == text_of(local, expected)
        assert choice.message.role == "assistant"
        assert choice.finish_reason == ("stop" if expected[-1] == 2 else "length")
        assert response.usage.prompt_tokens == len(ids)
        assert response.usage.completion_tokens == len(expected)
        assert response.usage.total_tokens == len(ids) + len(expected)


def test_greedy_chat_beside_15_others_equals_generate(api, local, main_server):
    lengths = [8 + 3 * i for i in range(16)]
    results = [None] * 16

    def ask(i):
        results[i] = api.chat.completions.create(model=MODEL, messages=CHATS[i], max_tokens=lengths[i],
                                                 temperature=0, logprobs=True,
                                                 extra_body={"return_tokens_as_token_ids": True})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(16):
        expected = expected_tokens(local, chat_ids(local, CHATS[i]), lengths[i])
        assert token_ids(results[i].choices[0]) == expected, i
        assert results[i].choices[0].message.content == text_of(local, expected)
    stats = main_server[1].engine.stats()
    assert stats["running"] == 0 and stats["free_slots"] == 16


def test_streamed_chat(api, local):
    messages = CHATS[5]
    expected = expected_tokens(local, chat_ids(local, messages), 16)
    chunks = list(api.chat.completions.create(model=MODEL, messages=messages, max_tokens=16, temperature=0,
                                              stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == text_of(local, expected)
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert reasons == ["stop" if expected[-1] == 2 else "length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(expected)
    # the raw stream ends with data: [DONE]
    with httpx.stream("POST", str(api.base_url) + "chat/completions", headers={"Authorization": f"Bearer {KEY}"},
                      json={"model": MODEL, "messages": messages, "max_tokens": 3, "stream": True}) as raw:
        lines = [line for line in raw.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_completions(api, local):
    _, tokenizer = local
    prompt = "the cat sat on"
    ids = tokenizer(prompt)["input_ids"]
    expected = expected_tokens(local, ids, 10)
    response = api.completions.create(model=MODEL, prompt=prompt, max_tokens=10, temperature=0)
    assert response.object == "text_completion"
    assert response.choices[0].text == text_of(local, expected)
    assert response.usage.prompt_tokens == len(ids)
    # echo, n, several prompts, token-id prompts
    response = api.completions.create(model=MODEL, prompt=[prompt, "a b"], max_tokens=10, temperature=0, n=2,
                                      echo=True)
    texts = [c.text for c in sorted(response.choices, key=lambda c: c.index)]
    other = expected_tokens(local, tokenizer("a b")["input_ids"], 10)
    assert texts == [prompt + text_of(local, expected)] * 2 + ["a b" + text_of(local, other)] * 2
    assert response.usage.completion_tokens == 2 * (len(expected) + len(other))
    response = api.completions.create(model=MODEL, prompt=ids, max_tokens=10, temperature=0, echo=True)
    assert response.choices[0].text == tokenizer.decode(ids) + text_of(local, expected)
    assert api.completions.create(model=MODEL, prompt=prompt, max_tokens=0, echo=True).choices[0].text == prompt
    # log-probabilities in the completions format
    response = api.completions.create(model=MODEL, prompt=prompt, max_tokens=4, temperature=0, logprobs=3)
    lp = response.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert all(len(top) <= 3 and max(top.values()) == pytest.approx(chosen)
               for top, chosen in zip(lp.top_logprobs, lp.token_logprobs))
    assert "".join(lp.tokens) == response.choices[0].text
    # streamed completions
    chunks = list(api.completions.create(model=MODEL, prompt=prompt, max_tokens=10, temperature=0, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == text_of(local, expected)


def test_logprobs_of_chat(api):
    response = api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=5, temperature=0,
                                           logprobs=True, top_logprobs=3)
    content = response.choices[0].logprobs.content
    assert len(content) == 5
    for entry in content:
        assert len(entry.top_logprobs) == 3
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob)  # greedy: the top token
        assert entry.bytes == list(entry.token.encode())
    assert "".join(e.token for e in content) == response.choices[0].message.content


def test_seeded_sampling_equals_generate(api, local):
    ids = chat_ids(local, CHATS[3])
    runs = [api.chat.completions.create(model=MODEL, messages=CHATS[3], max_tokens=12, temperature=0.8, top_p=0.9,
                                        seed=7, logprobs=True, extra_body={"return_tokens_as_token_ids": True})
            for _ in range(2)]
    assert token_ids(runs[0].choices[0]) == token_ids(runs[1].choices[0])
    torch.manual_seed(7)
    expected = expected_tokens(local, ids, 12, temperature=0.8, top_p=0.9, top_k=0)
    assert token_ids(runs[0].choices[0]) == expected
    # n choices sample independently from one prompt
    several = api.chat.completions.create(model=MODEL, messages=CHATS[3], max_tokens=12, temperature=1.0, n=3,
                                          seed=3)
    assert [c.index for c in several.choices] == [0, 1, 2]
    assert len({c.message.content for c in several.choices}) > 1
    assert several.usage.prompt_tokens == len(ids)


def test_stop_strings(api, local):
    expected = text_of(local, expected_tokens(local, chat_ids(local, CHATS[7]), 30))
    stop = expected[len(expected) // 2: len(expected) // 2 + 2]
    cut = expected[: expected.index(stop)]
    response = api.chat.completions.create(model=MODEL, messages=CHATS[7], max_tokens=30, temperature=0,
                                           stop=[stop, "never-there"])
    assert response.choices[0].message.content == cut
    assert response.choices[0].finish_reason == "stop"
    chunks = list(api.chat.completions.create(model=MODEL, messages=CHATS[7], max_tokens=30, temperature=0,
                                              stop=stop, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == cut


def test_logit_bias_and_penalties(api, local):
    tokenizer = local[1]
    target = tokenizer.convert_tokens_to_ids("▁the") if "▁the" in tokenizer.get_vocab() else 10
    response = api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=6, temperature=0,
                                           logit_bias={str(target): 100}, logprobs=True,
                                           extra_body={"return_tokens_as_token_ids": True})
    assert token_ids(response.choices[0]) == [target] * 6
    # a frequency penalty makes the greedy answer avoid repeating itself
    plain = api.chat.completions.create(model=MODEL, messages=CHATS[8], max_tokens=40, temperature=0, logprobs=True,
                                        extra_body={"return_tokens_as_token_ids": True})
    penalised = api.chat.completions.create(model=MODEL, messages=CHATS[8], max_tokens=40, temperature=0,
                                            frequency_penalty=2.0, presence_penalty=2.0, logprobs=True,
                                            extra_body={"return_tokens_as_token_ids": True})
    plain_ids, penalised_ids = token_ids(plain.choices[0]), token_ids(penalised.choices[0])
    assert len(set(penalised_ids)) / len(penalised_ids) >= len(set(plain_ids)) / len(plain_ids)
    assert penalised_ids != plain_ids


def test_penalty_processor_counts_generated_tokens_only():
    from henkan.serving.engine import PenaltyProcessor

    scores = torch.zeros(1, 5)
    ids = torch.tensor([[4, 4, 1, 1, 1, 2]])  # prompt [4, 4], generated [1, 1, 1, 2]
    out = PenaltyProcessor(presence=0.5, frequency=0.25, prompt_length=2)(ids, scores)
    assert out.tolist() == [[0.0, -1.25, -0.75, 0.0, 0.0]]


def test_tools_reach_the_template(api, local):
    template = ("{% for tool in tools or [] %}[{{ tool['function']['name'] }}]{% endfor %}"
                "{% for m in messages %}{{ m['content'] }}{% endfor %}")
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                               "parameters": {"type": "object", "properties": {}}}}]
    with_tools = api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=1, tools=tools,
                                             extra_body={"chat_template": template})
    without = api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=1, tools=tools,
                                          tool_choice="none", extra_body={"chat_template": template})
    tokenizer = local[1]
    assert with_tools.usage.prompt_tokens == len(tokenizer("[get_weather]hello there", add_special_tokens=False)
                                                 ["input_ids"])
    assert without.usage.prompt_tokens == len(tokenizer("hello there", add_special_tokens=False)["input_ids"])


def test_embeddings(api, minilm_path):
    texts = ["A man is eating food.", "A man is riding a horse."]
    embedder = SentenceEmbedder(minilm_path)
    expected = embedder.encode(texts, convert_to_tensor=True)
    response = api.embeddings.create(model=minilm_path, input=texts)
    got = torch.tensor([d.embedding for d in response.data])
    assert torch.allclose(got, expected, atol=1e-6)
    assert response.usage.prompt_tokens == sum(len(x) for x in embedder.tokenizer(texts)["input_ids"])
    # base64: little-endian float32
    raw = api.embeddings.with_raw_response.create(model=minilm_path, input=texts[0], encoding_format="base64")
    data = base64.b64decode(json.loads(raw.text)["data"][0]["embedding"])
    assert torch.allclose(torch.tensor(struct.unpack(f"<{len(data) // 4}f", data)), expected[0], atol=1e-6)
    # token ids embed as their text does
    ids = embedder.tokenizer(texts[1])["input_ids"]
    assert torch.allclose(torch.tensor(api.embeddings.create(model=minilm_path, input=ids).data[0].embedding),
                          expected[1], atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# chat templates: --chat-template from a file and from a string, the seed's Phi-3, hostile templates
# ---------------------------------------------------------------------------------------------------------------
def test_chat_template_file_renders_the_seed_phi3_exactly(local):
    tokenizer = local[1]
    seed_ids = tokenizer(SEED_TEXT, add_special_tokens=False)["input_ids"]
    with serving(chat_template=PHI3) as (url, _):
        api = client(url, key="unused")
        chat = api.chat.completions.create(
            model=MODEL, messages=SEED_CHAT, max_tokens=10, temperature=0, logprobs=True,
            extra_body={"add_generation_prompt": False, "chat_template_kwargs": {"eos_token": "<|endoftext|>"},
                        "return_tokens_as_token_ids": True})
        # the same prompt sent as token ids to /v1/completions, echoed back: same tokens in, same tokens out
        plain = api.completions.create(model=MODEL, prompt=seed_ids, max_tokens=10, temperature=0, echo=True,
                                       logprobs=None)
    assert chat.usage.prompt_tokens == len(seed_ids)
    assert plain.choices[0].text.startswith(tokenizer.decode(seed_ids))
    assert token_ids(chat.choices[0]) == expected_tokens(local, seed_ids, 10)
    assert plain.choices[0].text == tokenizer.decode(seed_ids) + chat.choices[0].message.content


def test_chat_template_string_changes_the_prompt(local):
    tokenizer = local[1]
    template = "{% for m in messages %}<<{{ m['content'] }}>>{% endfor %}"
    with serving(chat_template=template) as (url, _):
        response = client(url).chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=4, temperature=0)
    assert response.usage.prompt_tokens == len(tokenizer("<<hello there>>", add_special_tokens=False)["input_ids"])
    assert response.usage.prompt_tokens != len(chat_ids(local, CHATS[0]))


def test_chat_template_argument_must_be_a_file_or_a_template():
    with pytest.raises(ValueError, match="neither a file nor a Jinja template"):
        Server(MODEL, chat_template="no/such/template.jinja")


@pytest.mark.parametrize("template, reason", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "did not finish"),
    ("{{ 'x' * 100000000000 }}", "memory"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursed"),
    ("{{ raise_exception('no system messages') }}", "no system messages"),
    ("{{ messages.__class__ }}", "unsafe"),
])
def test_hostile_template_from_a_request_cannot_stall_the_server(api, template, reason):
    with pytest.raises(openai.BadRequestError) as error:
        api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=2,
                                    extra_body={"chat_template": template})
    assert reason in error.value.body["message"]
    assert error.value.body["code"] == "chat_template_error"
    # still serving (the reply is sampled, so its text may be empty: count its tokens)
    assert api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=2).usage.completion_tokens


def test_hostile_template_file(tmp_path):
    path = tmp_path / "loop.jinja"
    path.write_text("{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}")
    with serving(chat_template=str(path), template_timeout=1.0) as (url, _):
        api = client(url)
        with pytest.raises(openai.BadRequestError, match="did not finish rendering"):
            api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=2)
        assert api.completions.create(model=MODEL, prompt="hello", max_tokens=2).usage.completion_tokens


# ---------------------------------------------------------------------------------------------------------------
# bad requests: the OpenAI error object, the right status, and the server keeps serving
# ---------------------------------------------------------------------------------------------------------------
def _error(response, status):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_error_shapes(main_server, api):
    url, _ = main_server
    headers = {"Authorization": f"Bearer {KEY}"}
    post = lambda body, **kw: httpx.post(url + "/v1/chat/completions", headers=kw.get("headers", headers),  # noqa
                                         **({"content": body} if isinstance(body, bytes) else {"json": body}))
    good = {"model": MODEL, "messages": CHATS[0], "max_tokens": 2}
    assert "JSON" in _error(post(b'{"model": "x", messages: [}'), 400)["message"]
    assert "JSON" in _error(httpx.post(url + "/v1/completions", headers=headers, content=b"not json"), 400)["message"]
    error = _error(post({**good, "temprature": 0.5}), 400)
    assert error["param"] == "temprature" and "Unrecognized" in error["message"]
    error = _error(post({**good, "messages": [{"role": "user", "content": "hello " * 300}]}), 400)
    assert error["code"] == "context_length_exceeded" and "256" in error["message"]
    error = _error(post({**good, "max_tokens": 250}), 400)
    assert error["code"] == "context_length_exceeded" and error["param"] == "max_tokens"
    assert _error(post({**good, "n": 17}), 400)["param"] == "n"
    assert _error(post({**good, "temperature": 3}), 400)["param"] == "temperature"
    assert _error(post({k: v for k, v in good.items() if k != "messages"}), 400)["param"] == "messages"
    assert _error(post({**good, "top_logprobs": 2}), 400)["param"] == "top_logprobs"
    assert _error(post({**good, "tool_choice": "required"}), 400)["param"] == "tool_choice"
    assert _error(post({**good, "model": "gpt-4"}), 404)["code"] == "model_not_found"
    assert _error(post(good, headers={"Authorization": "Bearer wrong"}), 401)["code"] == "invalid_api_key"
    assert _error(post(good, headers={}), 401)["code"] == "invalid_api_key"
    assert _error(httpx.get(url + "/v1/nothing", headers=headers), 404)["code"] == "not_found"
    error = _error(httpx.post(url + "/v1/completions", headers=headers,
                              json={"model": MODEL, "prompt": "a", "suffix": "b"}), 400)
    assert error["param"] == "suffix"
    error = _error(httpx.post(url + "/v1/embeddings", headers=headers, json={"model": MODEL, "input": "a"}), 404)
    assert error["code"] == "model_not_found"
    # the client sees the same errors as exceptions
    with pytest.raises(openai.AuthenticationError):
        client(url, key="wrong").models.list()
    with pytest.raises(openai.NotFoundError):
        api.chat.completions.create(model="nope", messages=CHATS[0])
    # and the server still serves
    assert api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=2).usage.completion_tokens


def _wait_idle(engine):
    while engine.stats()["active"]:
        time.sleep(0.01)


def test_overloaded_server_answers_503():
    with serving(max_batch_size=1, max_waiting=0, max_model_len=512) as (url, server):
        api = client(url)
        body = {"model": MODEL, "messages": CHATS[0], "max_tokens": 400, "temperature": 0, "stream": True}
        with httpx.stream("POST", url + "/v1/chat/completions", json=body) as busy:
            lines = busy.iter_lines()
            next(lines)
            while server.engine.stats()["running"] == 0:
                time.sleep(0.01)
            with pytest.raises(openai.InternalServerError) as error:
                api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=2)
            assert error.value.status_code == 503 and error.value.body["code"] == "overloaded"
        # the first client left: its slot frees, the next request is served
        _wait_idle(server.engine)
        assert api.chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=2).usage.completion_tokens


def test_disconnect_mid_stream_frees_the_slot():
    with serving(max_batch_size=1, max_model_len=512) as (url, server):
        body = {"model": MODEL, "messages": CHATS[0], "max_tokens": 400, "temperature": 0, "stream": True}
        for _ in range(5):  # on a busy machine the engine may finish all tokens before this client thread goes
            with httpx.stream("POST", url + "/v1/chat/completions", json=body) as response:
                lines = response.iter_lines()
                next(lines)
                next(lines)
            _wait_idle(server.engine)
            if server.engine.stats()["cancelled"]:
                break
        assert server.engine.stats()["cancelled"] == 1
        served = server.engine.stats()["served"]
        assert client(url).chat.completions.create(model=MODEL, messages=CHATS[0], max_tokens=3).usage
        _wait_idle(server.engine)  # the reply's last chunk can reach the client before the engine retires the row
        assert server.engine.stats()["served"] == served + 1


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
def test_memory_stays_flat_over_200_requests():
    with serving(max_batch_size=4, max_model_len=128) as (url, server):
        api = client(url)
        body = {"model": MODEL, "messages": CHATS[1], "max_tokens": 100, "temperature": 0, "stream": True}

        def one(i):
            if i % 2:  # a client that goes away after the first token
                with httpx.stream("POST", url + "/v1/chat/completions", json=body) as response:
                    lines = response.iter_lines()
                    next(lines)
                    next(lines)
            else:
                api.chat.completions.create(model=MODEL, messages=CHATS[(0, 1, 3, 4)[i % 4]], max_tokens=8)

        for i in range(40):  # warm up: allocator pools, thread pools
            one(i)
        _wait_idle(server.engine)
        before = _rss()
        for i in range(200):
            one(i)
        _wait_idle(server.engine)
        grown = _rss() - before
        stats = server.engine.stats()
    assert stats["served"] + stats["cancelled"] == 240 and stats["free_slots"] == 4
    assert grown < 32 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MB over 200 requests"


# ---------------------------------------------------------------------------------------------------------------
# embeddings only (no MODEL), and the command
# ---------------------------------------------------------------------------------------------------------------
def test_embeddings_only_server_serves_minilm(minilm_path):
    with serving(model=None) as (url, server):
        api = client(url)
        assert [m.id for m in api.models.list().data] == ["sentence-transformers/all-MiniLM-L6-v2"]
        vector = api.embeddings.create(model="sentence-transformers/all-MiniLM-L6-v2", input="hello").data[0]
        assert len(vector.embedding) == 384
        with pytest.raises(openai.NotFoundError, match="no chat/completion model"):
            api.chat.completions.create(model="sentence-transformers/all-MiniLM-L6-v2", messages=CHATS[0])
        with pytest.raises(openai.BadRequestError, match="dimensions"):
            api.embeddings.create(model="sentence-transformers/all-MiniLM-L6-v2", input="a", dimensions=12)


@pytest.mark.slow
def test_command_starts_a_server():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root, HF_HUB_OFFLINE="1")
    process = subprocess.Popen([sys.executable, "-m", "henkan.cli", "serve", MODEL, "--port", str(port),
                                "--chat-template", PHI3, "--served-model-name", "tiny", "--api-key", "secret",
                                "--max-model-len", "128", "--log-level", "warning"],
                               env=env, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        response = client(f"http://127.0.0.1:{port}", key="secret").chat.completions.create(
            model="tiny", messages=CHATS[0], max_tokens=3)
        assert response.model == "tiny" and response.usage.completion_tokens >= 1
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_command_refuses_a_missing_template_file(capsys):
    from henkan.cli import main

    assert main(["serve", MODEL, "--chat-template", "missing.jinja"]) == 1
    assert "neither a file nor a Jinja template" in capsys.readouterr().err
