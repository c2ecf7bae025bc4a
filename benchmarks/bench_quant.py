"""Quantized decoding against henkan's own float32, side by side: greedy tokens per second, the model's resident
memory, and how close its logits stay to float32, on the 125M Llama shape (bench_generate's `llama-125m-gqa`).

    PYTHONPATH=. python benchmarks/bench_quant.py [--quick]

The checkpoint is random (written by henkan to a temporary folder). 2 threads, 16-token prompts, 32 greedy tokens;
the variants run alternately over several rounds and each keeps its best time (the machine may be shared).
`int4-mixed` keeps the sensitive layers in int8 (`keep_sensitive_in_8bit`: output layer, attention v/o, first and
last blocks). Memory is measured in a fresh process per variant, over the same process before loading (but after a
tiny checkpoint went through the same load and generate, so that imports are not counted; the model's own pages,
file-mapped ones included): the resident set once every weight has been read (a float model maps its checkpoint, so
right after a short prompt it holds only the embedding rows of the tokens seen: "after prompt"; a server's varied
text reads them all in time, while a quantized table is resident from the start), and the process's peak while
loading.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

THREADS, PROMPT, NEW = 2, 16, 32
VARIANTS = {"fp32": {}, "int8": {"load_in_8bit": True}, "int4-g128": {"group_size": 128},
            "int4-g64": {"group_size": 64}, "int4-g32": {"group_size": 32},
            "int4-mixed": {"group_size": 128, "keep_sensitive_in_8bit": True}}
TIMED = ("fp32", "int8", "int4-g128", "int4-mixed")  # the group size changes memory and accuracy, hardly speed


def load(path: str, variant: str):
    import henkan

    options = dict(VARIANTS[variant])
    if "group_size" in options:
        options = {"quantization_config": henkan.TorchAoConfig("int4_weight_only", **options)}
    return henkan.AutoModelForCausalLM.from_pretrained(path, **options).eval()


def checkpoint(folder: str) -> str:
    import henkan

    torch.manual_seed(0)
    config = henkan.LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                                num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=2048,
                                tie_word_embeddings=False)
    path = os.path.join(folder, "llama-125m-gqa")
    henkan.LlamaForCausalLM(config).save_pretrained(path)
    tiny = henkan.LlamaConfig(vocab_size=128, hidden_size=128, intermediate_size=128, num_hidden_layers=1,
                              num_attention_heads=4, num_key_value_heads=2)
    henkan.LlamaForCausalLM(tiny).save_pretrained(os.path.join(folder, "tiny"))
    return path


def rss_kib(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def memory_child(path: str, variant: str) -> None:
    """Run in a fresh process: print the memory numbers of one variant as JSON."""
    torch.set_num_threads(1)
    with torch.no_grad():  # the same load and generate on a tiny checkpoint first: imports are not counted
        load(os.path.join(os.path.dirname(path), "tiny"), variant).generate(
            torch.ones(1, PROMPT, dtype=torch.long), max_new_tokens=2, do_sample=False, pad_token_id=0)
    before = rss_kib()
    model = load(path, variant)
    with torch.no_grad():
        model.generate(torch.ones(1, PROMPT, dtype=torch.long), max_new_tokens=2, do_sample=False, pad_token_id=0)
        after_prompt, peak = rss_kib(), rss_kib("VmHWM")
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            if tensor.numel():  # every page read once (as bytes: no wider temporaries), as a server's varied text
                tensor.detach().contiguous().view(-1).view(torch.uint8).max()  # reads every embedding row in time
    print(json.dumps({"resident": (rss_kib() - before) * 1024, "prompt": (after_prompt - before) * 1024,
                      "peak": (peak - before) * 1024, "footprint": model.get_memory_footprint()}))


def memory(path: str, variant: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--memory-child", path, variant], check=True,
                         capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads (1 on a crowded machine)")
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(*args.memory_child)
    torch.set_num_threads(args.threads)
    rounds = 2 if args.quick else 4
    with tempfile.TemporaryDirectory() as folder:
        path = checkpoint(folder)
        mem = {variant: memory(path, variant) for variant in VARIANTS}
        models = {variant: load(path, variant) for variant in TIMED}
        torch.manual_seed(1)
        ids = torch.randint(3, 32000, (1, PROMPT))
        settings = dict(max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False, eos_token_id=None, pad_token_id=0)
        times = {variant: float("inf") for variant in TIMED}
        with torch.no_grad():
            reference = models["fp32"](ids).logits[0]
            cosine = {v: torch.nn.functional.cosine_similarity(m(ids).logits[0], reference, dim=-1).min().item()
                      for v, m in models.items()}
            tokens = {v: m.generate(ids, **settings) for v, m in models.items()}  # warm-up
            for _ in range(rounds):
                for variant, model in models.items():
                    start = time.perf_counter()
                    model.generate(ids, **settings)
                    times[variant] = min(times[variant], time.perf_counter() - start)
    base = mem["fp32"]
    print(f"llama-125m-gqa, {args.threads} thread(s), load {os.getloadavg()[0]:.1f} (1-minute average at the end)")
    for variant in VARIANTS:
        if variant not in TIMED:
            print(f"{variant:9s} resident {mem[variant]['resident'] / 2**20:6.1f} MiB "
                  f"({mem[variant]['resident'] / base['resident']:.0%}) | footprint "
                  f"{mem[variant]['footprint'] / 2**20:6.1f} MiB ({mem[variant]['footprint'] / base['footprint']:.0%})")
            continue
        same = (tokens[variant] == tokens["fp32"]).float().mean().item()
        print(f"{variant:9s} {NEW / times[variant]:6.1f} tok/s ({times['fp32'] / times[variant]:.2f}x fp32) | "
              f"resident {mem[variant]['resident'] / 2**20:6.1f} MiB ({mem[variant]['resident'] / base['resident']:.0%};"
              f" after prompt {mem[variant]['prompt'] / base['prompt']:.0%})"
              f" | footprint {mem[variant]['footprint'] / 2**20:6.1f} MiB "
              f"({mem[variant]['footprint'] / base['footprint']:.0%}) | load peak "
              f"{mem[variant]['peak'] / 2**20:6.1f} MiB | min cosine {cosine[variant]:.4f} | "
              f"tokens equal to fp32 {same:.0%}")


if __name__ == "__main__":
    main()
