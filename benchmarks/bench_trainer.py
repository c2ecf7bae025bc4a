"""Trainer training steps per second: henkan against the reference library's Trainer, side by side in one process,
and henkan's loop against a bare PyTorch loop doing the same steps.

Run in an environment that has both henkan and `transformers` (with `accelerate`, which the reference's Trainer
needs):

    python benchmarks/bench_trainer.py [--quick]

The model is a small BERT shape (bert-mini: 4 layers, hidden 256, 4 heads, ffn 1024, vocab 30522) with a
2-label classifier, random weights written by the reference and loaded by both libraries; batch 16 x 128 tokens,
fp32, AdamW (fused), linear schedule, gradient clipping at 1.0, dropout on, 2 threads. A step is forward, backward,
clipping, optimizer and schedule steps, as every loop here does. Each round trains a fresh Trainer for `warmup +
steps` steps and times each of the last `steps` from one step's end to the next (a callback marks the step ends, so
set-up is not counted); the libraries and the bare loop alternate over several rounds, and each reports the median
of all its timed steps (one slow step on a shared machine moves a median little, a total much). Both wall time and
the process's CPU time are measured: on a machine shared with other work, CPU seconds per step are the steadier
comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch

THREADS, BATCH, LENGTH, WARMUP = 2, 16, 128, 2


def checkpoint(folder: str) -> str:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024)
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def rows(steps: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [{"input_ids": torch.randint(1000, 30000, (LENGTH,), generator=g),
             "attention_mask": torch.ones(LENGTH, dtype=torch.long), "labels": i % 2} for i in range(BATCH * steps)]


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def intervals(marks: list) -> list[tuple[float, float]]:
    """(wall, CPU) seconds between consecutive marks."""
    return [(end[0] - start[0], end[1] - start[1]) for start, end in zip(marks, marks[1:])]


def trainer_time(library: str, path: str, data: list[dict], steps: int, out: str) -> list[tuple[float, float]]:
    """Wall and CPU seconds of each of the last `steps` of a `WARMUP + steps` run of `library`'s Trainer."""
    if library == "henkan":
        from henkan import BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments
    else:
        from transformers import BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

    marks = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            marks.append(clock())

    model = BertForSequenceClassification.from_pretrained(path)
    args = TrainingArguments(output_dir=out, max_steps=WARMUP + steps, per_device_train_batch_size=BATCH,
                             save_strategy="no", logging_steps=10_000, report_to=[], disable_tqdm=True,
                             use_cpu=True, dataloader_pin_memory=False)
    Trainer(model=model, args=args, train_dataset=data, callbacks=[Clock()]).train()
    return intervals(marks[WARMUP - 1:])


def bare_time(path: str, data: list[dict], steps: int) -> list[tuple[float, float]]:
    """The same steps in a plain PyTorch loop over henkan's model: batches stacked beforehand, no callbacks."""
    from henkan import BertForSequenceClassification, get_linear_schedule_with_warmup

    torch.manual_seed(42)
    model = BertForSequenceClassification.from_pretrained(path)
    model.train()
    decay = [p for n, p in model.named_parameters() if not n.endswith("bias") and "LayerNorm" not in n]
    rest = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0}, {"params": rest, "weight_decay": 0.0}],
                                  lr=5e-5, fused=True)
    schedule = get_linear_schedule_with_warmup(optimizer, 0, WARMUP + steps)
    batches = [{k: torch.stack([torch.as_tensor(r[k]) for r in data[i * BATCH:(i + 1) * BATCH]]) for k in data[0]}
               for i in range(WARMUP + steps)]
    marks = []
    for i, batch in enumerate(batches):
        if i == WARMUP:
            marks.append(clock())
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        model.zero_grad(set_to_none=True)
        if marks:
            marks.append(clock())
    return intervals(marks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps")
    options = parser.parse_args()
    rounds, steps = (2, 4) if options.quick else (4, 16)
    torch.set_num_threads(THREADS)
    from transformers.utils import logging as reference_logging

    reference_logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as folder:
        path = checkpoint(os.path.join(folder, "bert-mini"))
        data = rows(WARMUP + steps)
        names = ("henkan", "reference", "bare")
        timed = {name: [] for name in names}
        for r in range(rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                if name == "bare":
                    timed[name] += bare_time(path, data, steps)
                else:
                    timed[name] += trainer_time(name, path, data, steps, os.path.join(folder, name))
        wall = {name: statistics.median(w for w, _ in timed[name]) for name in names}
        cpu = {name: statistics.median(c for _, c in timed[name]) for name in names}
        print(f"bert-mini, batch {BATCH} x {LENGTH} tokens, median of {rounds} rounds x {steps} timed steps")
        for name in names:
            print(f"  {name:<10} {1 / wall[name]:7.3f} steps/s   {cpu[name]:7.3f} CPU s/step")
        for label, best in (("wall", wall), ("CPU", cpu)):
            print(f"{label:>4}: henkan / reference {best['reference'] / best['henkan']:.2f}x, henkan loop overhead "
                  f"over the bare loop {best['henkan'] / best['bare'] - 1:+.1%}")


if __name__ == "__main__":
    main()
