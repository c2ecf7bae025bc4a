"""The image-classification pipeline of henkan against the reference library's, side by side in one process: images
per second over a set of mixed-size images on a ViT-base-shaped classifier (random weights), the outputs compared.

Run in an environment that has both henkan and `transformers`:

    python benchmarks/bench_vision.py [--images 256] [--batch-size 8] [--rounds 2]

The reference writes the random checkpoint (ViT-base/16 at 224 pixels, 1000 labels) and its ViTImageProcessor to
a temporary folder; both libraries' `pipeline("image-classification", model=folder)` load it. The images are PIL
images of random sizes (24 to 640 pixels a side; RGB, with every 8th grayscale and every 16th RGBA) made from a
fixed seed, so decoding is not timed. 2 threads, fp32; the libraries run alternately for `--rounds` rounds and the
best time of each is kept (the machine may be shared). Outputs are equal when every image's labels are the same and
every score agrees within 1e-4.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from bench_generate import THREADS

VIT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                image_size=224, patch_size=16, num_labels=1000)


def checkpoint(folder: str) -> str:
    import transformers

    torch.manual_seed(0)
    model = transformers.ViTForImageClassification(transformers.ViTConfig(**VIT_BASE))
    model.save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(folder)
    return folder


def images(count: int) -> list:
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i in range(count):
        width, height = (int(v) for v in rng.integers(24, 641, 2))
        pixels = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).resize((width, height), Image.BILINEAR)  # smooth, photo-like content
        out.append(image.convert("L") if i % 8 == 7 else image.convert("RGBA") if i % 16 == 15 else image)
    return out


def same(ours: list, theirs: list) -> bool:
    return all(len(a) == len(b) and all(x["label"] == y["label"] and abs(x["score"] - y["score"]) < 1e-4
                                        for x, y in zip(a, b)) for a, b in zip(ours, theirs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    import henkan

    transformers.logging.set_verbosity_error()
    batch = images(args.images)
    with tempfile.TemporaryDirectory() as folder:
        path = checkpoint(folder)
        pipes = {"henkan": henkan.pipeline("image-classification", model=path),
                 "reference": transformers.pipeline("image-classification", model=path)}
        results, times = {}, {label: float("inf") for label in pipes}
        for label, pipe in pipes.items():  # warm-up
            pipe(batch[:args.batch_size], batch_size=args.batch_size)
        for _ in range(args.rounds):
            for label, pipe in pipes.items():
                start = time.perf_counter()
                results[label] = pipe(batch, batch_size=args.batch_size)
                times[label] = min(times[label], time.perf_counter() - start)
    rate = {label: args.images / t for label, t in times.items()}
    print(f"image-classification, ViT-base/16 224, {args.images} mixed-size images, batch {args.batch_size} | "
          f"henkan {rate['henkan']:.2f} img/s | reference {rate['reference']:.2f} img/s | "
          f"{times['reference'] / times['henkan']:.2f}x | same outputs: {same(results['henkan'], results['reference'])}",
          flush=True)


if __name__ == "__main__":
    main()
