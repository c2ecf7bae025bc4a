"""BigBird-Pegasus's block-sparse encoder in henkan against the reference library's, side by side in one process.

Run in an environment that has both henkan and `transformers`:

    python benchmarks/bench_bigbird_pegasus.py [--length 4096] [--rounds 3]

A base-size shape (d_model 768, 12 heads, feed-forward 3072, 12 encoder layers, block_size 64, 3 random blocks) with
random weights, written by the reference to a temporary folder and loaded by both libraries; the decoder has one
layer (it does not run). 2 threads, fp32, one sequence of `--length` tokens, eval mode. Two cases: the whole encoder
forward, and one layer's self-attention alone (the block-sparse part; the rest of a layer is the same matrix
products in both). Each runs alternately for both libraries over several rounds and keeps the best time of each (the
machine may be shared); the largest difference of their outputs is printed too.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from bench_generate import THREADS, best_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.length <= 704:
        parser.error("--length must exceed (5 + 2 * 3) * 64 = 704 tokens: shorter inputs attend fully")
    torch.set_num_threads(THREADS)

    import transformers
    from transformers.models.bigbird_pegasus import modeling_bigbird_pegasus as reference

    import henkan
    from henkan.sparse_attention import BlockSparseLayout

    config = transformers.BigBirdPegasusConfig(d_model=768, encoder_attention_heads=12, encoder_ffn_dim=3072,
                                               encoder_layers=12, decoder_layers=1, max_position_embeddings=4096)
    with tempfile.TemporaryDirectory() as folder:
        torch.manual_seed(0)
        transformers.BigBirdPegasusModel(config).save_pretrained(folder)
        theirs = transformers.BigBirdPegasusModel.from_pretrained(folder, attn_implementation="eager").eval()
        ours = henkan.BigBirdPegasusModel.from_pretrained(folder).eval()
    ids = torch.randint(3, config.vocab_size, (1, args.length), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    x = torch.randn(1, args.length, config.d_model, generator=torch.Generator().manual_seed(1))
    block = config.block_size
    their_attention = theirs.encoder.layers[0].self_attn
    our_attention = ours.encoder.layers[0].self_attn

    def their_layer():
        blocked, band, from_mask, to_mask = reference.BigBirdPegasusEncoder.create_masks_for_block_sparse_attn(
            mask, block)
        return their_attention(x, band_mask=band, from_mask=from_mask, to_mask=to_mask, from_blocked_mask=blocked,
                               to_blocked_mask=blocked)[0]

    def our_layer():
        return our_attention(x, BlockSparseLayout(mask, block, config.num_random_blocks, x.dtype))[0]

    cases = {
        "encoder": (lambda: theirs.encoder(input_ids=ids).last_hidden_state,
                    lambda: ours.encoder(input_ids=ids).last_hidden_state),
        "self-attention, 1 layer": (their_layer, our_layer),
    }
    print(f"BigBird-Pegasus encoder, base shape, {args.length} tokens, {THREADS} threads, fp32, best of "
          f"{args.rounds} rounds")
    with torch.no_grad():
        for name, (run_theirs, run_ours) in cases.items():
            difference = (run_theirs() - run_ours()).abs().max().item()
            times = {"reference": float("inf"), "henkan": float("inf")}
            for _ in range(args.rounds):
                times["reference"] = min(times["reference"], best_time(run_theirs, 1))
                times["henkan"] = min(times["henkan"], best_time(run_ours, 1))
            print(f"  {name:24s} reference {times['reference'] * 1e3:8.0f} ms   henkan {times['henkan'] * 1e3:8.0f} ms"
                  f"   {times['reference'] / times['henkan']:.2f}x   max |difference| {difference:.1e}")


if __name__ == "__main__":
    main()
