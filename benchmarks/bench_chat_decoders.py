"""Greedy generate() of henkan against the reference library's on the chat families of issue 12: a 125M-parameter
Phi-3 shape (fused qkv and gate_up projections) and a small Mixtral (8 experts, top-2 routing).

Run in an environment that has both henkan and `transformers` (from the repository root):

    PYTHONPATH=. /work/venvs/ref4/bin/python benchmarks/bench_chat_decoders.py [--quick]

The measurement is bench_generate.py's: random checkpoints written by the reference, loaded by both, 2 threads,
fp32, 16-token prompts, 64 greedy tokens, rounds alternating between the libraries, best time of each kept; the
tokens of both must be identical.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch

from bench_generate import THREADS, bench_throughput


def checkpoints(folder: str) -> dict:
    from transformers import MixtralConfig, MixtralForCausalLM, Phi3Config, Phi3ForCausalLM

    torch.manual_seed(0)
    phi3 = Phi3Config(vocab_size=32064, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                      num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=4096,
                      pad_token_id=0, eos_token_id=2)
    mixtral = MixtralConfig(vocab_size=32000, hidden_size=512, intermediate_size=1024, num_hidden_layers=8,
                            num_attention_heads=8, num_key_value_heads=4, num_local_experts=8,
                            num_experts_per_tok=2, max_position_embeddings=4096)
    paths = {}
    for name, model in (("phi3-125m", Phi3ForCausalLM(phi3)), ("mixtral-8x2", MixtralForCausalLM(mixtral))):
        paths[name] = os.path.join(folder, name)
        model.save_pretrained(paths[name])
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rounds = 2 if args.quick else 4
    with tempfile.TemporaryDirectory() as folder:
        paths = checkpoints(folder)
        bench_throughput("phi3-125m", paths["phi3-125m"], 1, rounds)
        bench_throughput("mixtral-8x2", paths["mixtral-8x2"], 1, rounds)
        bench_throughput("mixtral-8x2", paths["mixtral-8x2"], 4, rounds)


if __name__ == "__main__":
    main()
