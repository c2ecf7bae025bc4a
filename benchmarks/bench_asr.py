"""The automatic-speech-recognition pipeline of henkan against the reference library's, side by side in one
process: a minute of audio through a Whisper-tiny-shaped model (random weights), chunked in 30 s windows, the
outputs compared.

Run in an environment that has both henkan and `transformers`:

    python benchmarks/bench_asr.py [--seconds 60] [--batch-size 1] [--max-new-tokens 48] [--rounds 2]

The reference writes the random checkpoint (Whisper-tiny: d_model 384, 4 + 4 layers, 6 heads, ffn 1536, 80 mel
bins, 1500 source and 448 target positions, vocab 51865) to a temporary folder with the tiny Whisper tokenizer of
the test fixtures (the ids it does not have are suppressed in the generation config, so the full-vocabulary head is
still computed at every step) and a 30 s WhisperFeatureExtractor. Both libraries' `pipeline(
"automatic-speech-recognition", model=folder)` load it and transcribe the same waveform (tones and seeded noise at
16 kHz) with `chunk_length_s=30` (5 s strides: windows at 0, 20 and 40 s) and the pipeline's default beam search
(5 beams). 2 threads, fp32; the libraries run alternately for `--rounds`
rounds and the best time of each is kept (the machine may be shared). Outputs are equal when the dicts are.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_generate import THREADS

TOKENIZER = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "processing" / "processors" / "whisper"
WHISPER_TINY = dict(d_model=384, encoder_layers=4, decoder_layers=4, encoder_attention_heads=6,
                    decoder_attention_heads=6, encoder_ffn_dim=1536, decoder_ffn_dim=1536, num_mel_bins=80,
                    max_source_positions=1500, max_target_positions=448, vocab_size=51865)


def checkpoint(folder: str) -> str:
    import transformers

    processor = transformers.WhisperProcessor.from_pretrained(TOKENIZER)
    processor.feature_extractor = transformers.WhisperFeatureExtractor()  # 80 mel bins, 30 s windows
    tok = processor.tokenizer
    tok.pad_token = "<|endoftext|>"
    eot, sot = tok.convert_tokens_to_ids("<|endoftext|>"), tok.convert_tokens_to_ids("<|startoftranscript|>")
    vocab = WHISPER_TINY["vocab_size"]
    config = transformers.WhisperConfig(**WHISPER_TINY, pad_token_id=eot, bos_token_id=eot, eos_token_id=eot,
                                        decoder_start_token_id=sot, begin_suppress_tokens=[eot])
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config).eval()
    model.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot, max_length=448,
        begin_suppress_tokens=[eot], suppress_tokens=list(range(eot + 1, vocab)),
        is_multilingual=True, no_timestamps_token_id=tok.convert_tokens_to_ids("<|notimestamps|>"),
        lang_to_id={"<|en|>": tok.convert_tokens_to_ids("<|en|>")},
        task_to_id={task: tok.convert_tokens_to_ids(f"<|{task}|>") for task in ("translate", "transcribe")})
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def audio(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 16000)) / 16000
    tones = sum(0.2 * np.sin(2 * np.pi * f * t) * (0.5 + 0.5 * np.sin(2 * np.pi * r * t))
                for f, r in ((220, 0.3), (660, 0.11), (1500, 0.05)))
    return (tones + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import transformers

    import henkan

    transformers.logging.set_verbosity_error()
    waveform = audio(args.seconds)
    with tempfile.TemporaryDirectory() as folder:
        path = checkpoint(folder)
        pipes = {"henkan": henkan.pipeline("automatic-speech-recognition", model=path),
                 "reference": transformers.pipeline("automatic-speech-recognition", model=path)}
        call = dict(chunk_length_s=30, batch_size=args.batch_size,
                    generate_kwargs={"max_new_tokens": args.max_new_tokens})
        results, times = {}, {label: float("inf") for label in pipes}
        for label, pipe in pipes.items():  # warm-up
            pipe(waveform[:16000], **{**call, "generate_kwargs": {"max_new_tokens": 4}})
        for _ in range(args.rounds):
            for label, pipe in pipes.items():
                start = time.perf_counter()
                results[label] = pipe(waveform, **call)
                times[label] = min(times[label], time.perf_counter() - start)
    print(f"automatic-speech-recognition, Whisper-tiny shape, {args.seconds:g} s chunked by 30 s, 5 beams, "
          f"max_new_tokens {args.max_new_tokens}, batch {args.batch_size} | henkan {times['henkan']:.2f} s | "
          f"reference {times['reference']:.2f} s | {times['reference'] / times['henkan']:.2f}x | same outputs: "
          f"{results['henkan'] == results['reference']} ({len(results['henkan']['text'])} characters)", flush=True)


if __name__ == "__main__":
    main()
