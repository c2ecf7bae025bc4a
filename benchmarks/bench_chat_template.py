"""apply_chat_template of henkan against the reference library's, side by side in one process: the seed's Phi-3
template (transformers-memo.ja.md) on the seed's conversation, rendered to text and tokenized; and henkan's
budget-checked renderer on a long conversation.

Run in an environment that has both henkan and `transformers`:

    python benchmarks/bench_chat_template.py [--quick]

Both libraries load the same tokenizer folder (tests/fixtures/tokenizers/gpt2) and get the same template. Each case
runs alternately for both libraries over several rounds of many calls and keeps the best time of each (the machine
may be shared); the texts and ids are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")


def best_per_call(run, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run()
    return (time.perf_counter() - start) / calls


def bench(name: str, tokenizers: dict, chat: list, rounds: int, calls: int, **options) -> None:
    outputs = {label: tok.apply_chat_template(chat, **options) for label, tok in tokenizers.items()}
    times = {label: float("inf") for label in tokenizers}
    for _ in range(rounds):
        for label, tok in tokenizers.items():
            times[label] = min(times[label], best_per_call(lambda: tok.apply_chat_template(chat, **options), calls))
    ours, theirs = times["henkan"], times["reference"]
    print(f"{name:34s} | henkan {ours * 1e6:8.1f} us | reference {theirs * 1e6:8.1f} us | {theirs / ours:.2f}x | "
          f"same output: {outputs['henkan'] == outputs['reference']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    import henkan

    with open(os.path.join(FIXTURES, "chat", "phi3.jinja"), encoding="utf-8") as f:
        template = f.read()
    with open(os.path.join(FIXTURES, "chat", "golden.json"), encoding="utf-8") as f:
        seed = json.load(f)["phi3_seed"]
    folder = os.path.join(FIXTURES, "tokenizers", "gpt2")
    tokenizers = {"henkan": henkan.AutoTokenizer.from_pretrained(folder),
                  "reference": transformers.AutoTokenizer.from_pretrained(folder)}
    for tok in tokenizers.values():
        tok.chat_template = template
    rounds = 3 if args.quick else 7
    chat = seed["messages"]
    long_chat = [{"role": ("user", "assistant")[i % 2], "content": f"message {i} " * 20} for i in range(200)]
    bench("phi-3 seed chat, text", tokenizers, chat, rounds, 2000, tokenize=False, add_generation_prompt=True)
    bench("phi-3 seed chat, token ids", tokenizers, chat, rounds, 1000, add_generation_prompt=True)
    bench("phi-3 200-message chat, text", tokenizers, long_chat, rounds, 100, tokenize=False)


if __name__ == "__main__":
    main()
