"""`henkan serve` under load: 16 concurrent chat clients against the same 16 requests served one after another, and
against the reference's `transformers serve` (5.x) on the same checkpoint, side by side.

    python benchmarks/bench_serve.py [--rounds 3] [--reference /path/to/transformers] [--no-reference]

The checkpoint is the 125M Llama shape of bench_generate.py (random weights, fp32) with a 32000-word tokenizer and a
ChatML-style template, written to a temporary folder. Each server runs in its own process (`henkan serve`, and
`transformers serve` from the environment that has transformers 5.x installed with its serving extras); both stay
up and are measured in alternating rounds: henkan with the 16 requests one after another, henkan with 16
concurrent clients, the reference with the same 16 clients. Every request is a streamed greedy chat completion of 128
new tokens; the clients are the official `openai` client in threads. Reported: aggregate completion tokens per
second (all tokens / wall time of the round), p50 / p95 time to first token, and the ratios per round (the machine
may be shared: absolute times are noisy, ratios of neighbouring rounds less so).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
WORDS = 32000
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<|im_start|>", "<|im_end|>"]


def make_checkpoint(folder: str) -> None:
    """The 125M Llama shape (GQA, as bench_generate.py), random weights, and a word-level tokenizer over its 32000
    ids (every id decodes to a word, so both servers stream real text)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from henkan import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=WORDS, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                         num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=2048,
                         tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    LlamaForCausalLM(config).save_pretrained(folder)
    vocab = {token: i for i, token in enumerate(SPECIAL + ["system", "user", "assistant"])}
    for i in range(len(vocab), WORDS):
        vocab[f"w{i}"] = i
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer.add_special_tokens(SPECIAL)
    tokenizer.save(os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "pad_token": "<pad>", "model_max_length": 2048, "chat_template": CHATML}, f)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, what: str, timeout: float = 600) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not start within {timeout} s")


def prompts(count: int) -> list[list[dict]]:
    """`count` chats of different lengths (10 to 85 words)."""
    chats = []
    for i in range(count):
        words = " ".join(f"w{100 + (i * 37 + j * 11) % 30000}" for j in range(10 + 5 * i))
        chats.append([{"role": "user", "content": words}])
    return chats


def one_request(client, model: str, messages, new_tokens: int, results: list, index: int, start) -> None:
    began = time.perf_counter()
    first = None
    tokens = 0
    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=new_tokens, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if first is None:
                first = time.perf_counter()
            tokens += 1
        if getattr(chunk, "usage", None):
            usage = chunk.usage.completion_tokens
    end = time.perf_counter()
    results[index] = {"ttft": (first or end) - began, "tokens": usage if usage is not None else tokens,
                      "end": end - start, "start": began - start}


def run_round(url: str, model: str, chats, new_tokens: int, concurrent: bool) -> dict:
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=3600)
    results = [None] * len(chats)
    start = time.perf_counter()
    if concurrent:
        threads = [threading.Thread(target=one_request, args=(client, model, m, new_tokens, results, i, start))
                   for i, m in enumerate(chats)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i, m in enumerate(chats):
            one_request(client, model, m, new_tokens, results, i, start)
    wall = time.perf_counter() - start
    tokens = sum(r["tokens"] for r in results)
    ttfts = sorted(r["ttft"] for r in results)
    return {"tokens": tokens, "wall": wall, "tps": tokens / wall, "p50": statistics.median(ttfts),
            "p95": ttfts[min(len(ttfts) - 1, round(0.95 * (len(ttfts) - 1)))],
            "short": sum(r["tokens"] < new_tokens for r in results)}


def start_reference(command: str, folder: str, port: int, batching: bool) -> subprocess.Popen:
    args = [command, "serve", folder, "--port", str(port), "--host", "127.0.0.1", "--device", "cpu"]
    if batching:
        args.append("--continuous-batching")
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--reference", default=shutil.which("transformers") or "/work/venvs/ref5/bin/transformers",
                        help="the `transformers` command of an environment with transformers 5.x [serving]")
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = tempfile.mkdtemp(prefix="bench_serve_")
    processes = []
    try:
        make_checkpoint(folder)
        chats = prompts(args.clients)
        env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        port = free_port()
        ours = subprocess.Popen([sys.executable, "-m", "henkan.cli", "serve", folder, "--port", str(port),
                                 "--max-batch-size", str(args.clients), "--max-model-len", "512",
                                 "--log-level", "warning"], env=env, stderr=subprocess.PIPE, text=True)
        processes.append(ours)
        ours_url = f"http://127.0.0.1:{port}"
        wait_ready(ours_url, ours, "henkan serve")
        run_round(ours_url, folder, chats[:2], 4, True)  # warm up
        theirs_url, mode = None, None
        if not args.no_reference:
            for batching in (True, False):
                port = free_port()
                theirs = start_reference(args.reference, folder, port, batching)
                processes.append(theirs)
                url = f"http://127.0.0.1:{port}"
                try:
                    wait_ready(url, theirs, "transformers serve")
                    probe = run_round(url, folder, chats[:2], 4, True)
                    if probe["tokens"] > 0:
                        theirs_url = url
                        mode = "--continuous-batching" if batching else "default (no continuous batching)"
                        break
                except Exception as e:  # noqa: BLE001 - try the other mode, report why
                    print(f"transformers serve {'--continuous-batching ' if batching else ''}failed: {e}")
                theirs.kill()
                theirs.wait()
            if theirs_url is None:
                print("the reference server could not run: measuring henkan alone")
            else:
                print(f"reference: transformers serve, {mode}")
        print(f"{args.clients} clients x {args.new_tokens} greedy tokens, 125M Llama shape (fp32, random weights)")
        header = f"{'round':>5} {'server':<26} {'tok/s':>8} {'wall s':>8} {'ttft p50':>9} {'ttft p95':>9}"
        print(header)
        ratios_seq, ratios_ref = [], []
        for r in range(args.rounds):
            # henkan's concurrent round sits between the two it is compared with
            rows = [("henkan, one after another", run_round(ours_url, folder, chats, args.new_tokens, False)),
                    ("henkan, 16 concurrent", run_round(ours_url, folder, chats, args.new_tokens, True))]
            if theirs_url:
                rows.append(("reference, 16 concurrent", run_round(theirs_url, folder, chats, args.new_tokens,
                                                                   True)))
            for name, m in rows:
                short = f"  ({m['short']} ended early)" if m["short"] else ""
                print(f"{r + 1:>5} {name:<26} {m['tps']:>8.1f} {m['wall']:>8.1f} {m['p50']:>9.2f} {m['p95']:>9.2f}"
                      f"{short}", flush=True)
            ratios_seq.append(rows[1][1]["tps"] / rows[0][1]["tps"])
            if theirs_url:
                ratios_ref.append(rows[1][1]["tps"] / rows[2][1]["tps"])
        print(f"henkan concurrent / henkan one after another: {', '.join(f'{x:.2f}x' for x in ratios_seq)} "
              f"(median {statistics.median(ratios_seq):.2f}x)")
        if ratios_ref:
            print(f"henkan concurrent / reference concurrent:      {', '.join(f'{x:.2f}x' for x in ratios_ref)} "
                  f"(median {statistics.median(ratios_ref):.2f}x)")
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
