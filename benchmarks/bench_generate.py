"""generate() of henkan against the reference library's, side by side in one process: greedy tokens per second on
the issue's model shapes, the floor they are measured against, long-prompt prefill and decode, and the loop's own
overhead on a tiny model.

Run in an environment that has both henkan and `transformers`:

    python benchmarks/bench_generate.py [--quick]

Checkpoints are random, written by the reference to a temporary folder and loaded by both libraries. 2 threads,
fp32, 16-token prompts, 64 greedy tokens. Each case runs alternately for both libraries over several rounds and
keeps the best time of each (the machine may be shared). The floor is the time of the same weights' matrix products
for one token (one `F.linear` per weight matrix, lm_head included), with nothing else. PyTorch's F.linear for a few
rows runs well below the memory bandwidth on CPU, so henkan (which takes oneDNN's matmul there) can pass 100% of it;
the memory floor, the time to read every weight once (`Tensor.sum`), is printed as well.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch
import torch.nn.functional as F

THREADS, PROMPT, NEW = 2, 16, 64


def checkpoints(folder: str) -> dict:
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    llama = LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                        num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=2048,
                        tie_word_embeddings=False)
    tiny = LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    paths = {}
    for name, model in (("llama-125m-gqa", LlamaForCausalLM(llama)), ("gpt2-124m", GPT2LMHeadModel(GPT2Config())),
                        ("tiny-llama", LlamaForCausalLM(tiny))):
        paths[name] = os.path.join(folder, name)
        model.save_pretrained(paths[name])
    return paths


def floor_per_step(model, batch: int) -> tuple[float, float]:
    """Seconds for one token's worth of the model's weight matmuls at this batch size, and for reading the weights."""
    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    weights += [m.weight.T for m in model.modules() if type(m).__name__ == "Conv1D"]
    if model.get_output_embeddings() is not None and all(model.get_output_embeddings().weight is not w
                                                         for w in weights):
        weights.append(model.get_output_embeddings().weight)
    inputs = {w.shape[1]: torch.randn(batch, w.shape[1]) for w in weights}
    with torch.no_grad():
        for _ in range(3):
            for w in weights:
                F.linear(inputs[w.shape[1]], w)
        matmuls = best_time(lambda: [F.linear(inputs[w.shape[1]], w) for w in weights], 20)
        reads = best_time(lambda: [w.sum() for w in weights], 20)
    return matmuls, reads


def best_time(run, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return best


def load_both(path: str):
    import transformers

    import henkan

    ours = henkan.AutoModelForCausalLM.from_pretrained(path)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(path)
    return ours.eval(), theirs.eval()


def bench_throughput(name: str, path: str, batch: int, rounds: int) -> None:
    ours, theirs = load_both(path)
    torch.manual_seed(1)
    ids = torch.randint(3, 1000, (batch, PROMPT))
    settings = dict(max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, eos_token_id=None, pad_token_id=0)
    results, tokens = {}, {}
    with torch.no_grad():
        for label, model in (("henkan", ours), ("reference", theirs)):
            tokens[label] = model.generate(ids, **settings)  # warm-up, and the tokens to compare
        times = {"henkan": [], "reference": []}
        for _ in range(rounds):
            for label, model in (("henkan", ours), ("reference", theirs)):
                times[label].append(best_time(lambda: model.generate(ids, **settings), 1))
    results = {label: min(t) for label, t in times.items()}
    floor, memory = (t * NEW for t in floor_per_step(ours, batch))
    same = torch.equal(tokens["henkan"], tokens["reference"])
    rate = {label: NEW * batch / t for label, t in results.items()}
    print(f"{name:15s} batch {batch} | henkan {rate['henkan']:6.1f} tok/s ({floor / results['henkan']:.0%} of "
          f"floor, {memory / results['henkan']:.0%} of memory) | reference {rate['reference']:6.1f} tok/s "
          f"({floor / results['reference']:.0%}, {memory / results['reference']:.0%}) | "
          f"{results['reference'] / results['henkan']:.2f}x | floor {NEW * batch / floor:.1f} tok/s, memory "
          f"{NEW * batch / memory:.1f} tok/s | same tokens: {same}")


def bench_long_prompt(path: str, rounds: int, length: int = 1024, new: int = 32) -> None:
    ours, theirs = load_both(path)
    torch.manual_seed(2)
    ids = torch.randint(3, 1000, (1, length))
    common = dict(do_sample=False, eos_token_id=None, pad_token_id=0)
    with torch.no_grad():
        prefill, decode = {}, {}
        for label, model in (("henkan", ours), ("reference", theirs)):
            model.generate(ids, max_new_tokens=2, **common)
        for label, model in (("henkan", ours), ("reference", theirs)):
            one = best_time(lambda: model.generate(ids, max_new_tokens=1, **common), rounds)
            many = best_time(lambda: model.generate(ids, max_new_tokens=new + 1, min_new_tokens=new + 1, **common),
                             rounds)
            prefill[label], decode[label] = one, (many - one) / new
    print(f"long prompt     {length} tokens | prefill henkan {prefill['henkan'] * 1e3:.0f} ms, reference "
          f"{prefill['reference'] * 1e3:.0f} ms ({prefill['reference'] / prefill['henkan']:.2f}x) | decode "
          f"henkan {decode['henkan'] * 1e3:.1f} ms/token, reference {decode['reference'] * 1e3:.1f} ms/token "
          f"({decode['reference'] / decode['henkan']:.2f}x)")


def bench_overhead(path: str, rounds: int) -> None:
    """Per-token cost of generate() over a bare decode loop (forward with cache + argmax), on a tiny model."""
    from transformers.cache_utils import DynamicCache as ReferenceCache

    from henkan import DynamicCache

    ours, theirs = load_both(path)
    ids = torch.randint(3, 1000, (1, PROMPT))
    settings = dict(max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, eos_token_id=None, pad_token_id=0)

    def bare(model, cache_class):
        cache, length = cache_class(), ids.shape[1]
        out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        token = out.logits[:, -1].argmax(-1)
        for i in range(NEW - 1):
            out = model(input_ids=token[:, None], past_key_values=cache, use_cache=True,
                        position_ids=torch.tensor([[length + i]]), cache_position=torch.tensor([length + i]),
                        logits_to_keep=1)
            token = out.logits[:, -1].argmax(-1)

    with torch.no_grad():
        numbers = {}
        for label, model, cache in (("henkan", ours, DynamicCache), ("reference", theirs, ReferenceCache)):
            bare(model, cache)
            loop = best_time(lambda: bare(model, cache), rounds)
            full = best_time(lambda: model.generate(ids, **settings), rounds)
            numbers[label] = (loop / NEW * 1e6, full / NEW * 1e6, full / loop)
    h, r = numbers["henkan"], numbers["reference"]
    print(f"loop overhead   tiny Llama | bare loop henkan {h[0]:.0f} us/token, reference {r[0]:.0f} | generate "
          f"henkan {h[1]:.0f} us/token ({h[2]:.2f}x its bare loop), reference {r[1]:.0f} ({r[2]:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rounds = 2 if args.quick else 4
    with tempfile.TemporaryDirectory() as folder:
        paths = checkpoints(folder)
        bench_throughput("llama-125m-gqa", paths["llama-125m-gqa"], 1, rounds)
        bench_throughput("gpt2-124m", paths["gpt2-124m"], 1, rounds)
        bench_throughput("gpt2-124m", paths["gpt2-124m"], 8, rounds)
        bench_long_prompt(paths["llama-125m-gqa"], max(1, rounds // 2))
        bench_overhead(paths["tiny-llama"], rounds)


if __name__ == "__main__":
    main()
