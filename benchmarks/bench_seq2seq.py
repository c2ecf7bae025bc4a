"""generate() of henkan against the reference library's for encoder-decoders, side by side in one process: tokens
per second on the issue's model shapes, the tokens compared.

Run in an environment that has both henkan and `transformers`:

    python benchmarks/bench_seq2seq.py [--quick] [--case NAME ...]

Each case names a reference model class, a config (random weights, written by the reference to a temporary folder
and loaded by both libraries), the batch, the encoder's input length and the generate() settings. 2 threads, fp32;
the same random input ids for both; each case runs alternately for both libraries over several rounds and keeps the
best time of each (the machine may be shared). Generated tokens per second count every returned row's new tokens.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass, field

import torch

from bench_generate import THREADS, best_time


@dataclass
class Case:
    name: str
    model_class: str  # the class in both libraries
    config_class: str
    config: dict
    batch: int
    source_length: int
    generate: dict = field(default_factory=dict)

    @property
    def new_tokens(self) -> int:
        return self.generate["max_new_tokens"]


T5_SMALL = dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8,
                feed_forward_proj="relu", decoder_start_token_id=0)
BART_BASE = dict(vocab_size=50265, d_model=768, encoder_layers=6, decoder_layers=6, encoder_attention_heads=12,
                 decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072)
CASES = [
    Case("bart-base beam", "BartForConditionalGeneration", "BartConfig", BART_BASE, batch=4, source_length=128,
         generate=dict(max_new_tokens=32, min_new_tokens=32, num_beams=4, do_sample=False)),
    Case("t5-small greedy", "T5ForConditionalGeneration", "T5Config", T5_SMALL, batch=1, source_length=64,
         generate=dict(max_new_tokens=64, min_new_tokens=64, do_sample=False)),
    Case("t5-small greedy", "T5ForConditionalGeneration", "T5Config", T5_SMALL, batch=4, source_length=64,
         generate=dict(max_new_tokens=64, min_new_tokens=64, do_sample=False)),
]


def checkpoint(case: Case, folder: str, made: dict) -> str:
    """The folder of the case's random checkpoint (cases with the same model share one)."""
    import transformers

    key = (case.model_class, case.config_class, repr(sorted(case.config.items())))
    if key not in made:
        torch.manual_seed(0)
        model = getattr(transformers, case.model_class)(getattr(transformers, case.config_class)(**case.config))
        made[key] = os.path.join(folder, str(len(made)))
        model.save_pretrained(made[key])
    return made[key]


def bench(case: Case, path: str, rounds: int) -> None:
    import transformers

    import henkan

    ours = getattr(henkan, case.model_class).from_pretrained(path).eval()
    theirs = getattr(transformers, case.model_class).from_pretrained(path).eval()
    torch.manual_seed(1)
    vocab = ours.config.vocab_size
    ids = torch.randint(3, vocab, (case.batch, case.source_length))
    ids[:, -1] = ours.config.eos_token_id
    settings = dict(case.generate, eos_token_id=None)
    models = (("henkan", ours), ("reference", theirs))
    with torch.no_grad():
        tokens = {label: model.generate(ids, **settings) for label, model in models}  # warm-up; tokens to compare
        times = {label: [] for label, _ in models}
        for _ in range(rounds):
            for label, model in models:
                times[label].append(best_time(lambda: model.generate(ids, **settings), 1))
    best = {label: min(t) for label, t in times.items()}
    rows = tokens["henkan"].shape[0]
    rate = {label: rows * case.new_tokens / t for label, t in best.items()}
    same = tokens["henkan"].shape == tokens["reference"].shape and torch.equal(tokens["henkan"], tokens["reference"])
    extra = ", ".join(f"{k}={v}" for k, v in case.generate.items() if k not in ("max_new_tokens", "min_new_tokens"))
    print(f"{case.name:18s} batch {case.batch}, {case.source_length} in, {case.new_tokens} out ({extra}) | henkan "
          f"{rate['henkan']:7.1f} tok/s | reference {rate['reference']:7.1f} tok/s | "
          f"{best['reference'] / best['henkan']:.2f}x | same tokens: {same}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--case", nargs="*", help="run only the cases whose name contains one of these")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rounds = 2 if args.quick else 4
    cases = [c for c in CASES if not args.case or any(part in c.name for part in args.case)]
    made: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        for case in cases:
            bench(case, checkpoint(case, folder, made), rounds)


if __name__ == "__main__":
    main()
