"""The `henkan` command. `henkan embed TEXT ...` prints one JSON line per text with its sentence embedding."""

from __future__ import annotations

import argparse
import json
import sys


def _embed(args) -> int:
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        print("henkan embed: no text given. Pass texts as arguments or one per line on standard input.",
              file=sys.stderr)
        return 2
    from .sentence import SentenceEmbedder

    try:
        embedder = SentenceEmbedder(args.model)
    except (OSError, ValueError, NotImplementedError) as e:
        print(f"henkan embed: cannot load the model: {e}", file=sys.stderr)
        return 1
    vectors = embedder.encode(texts, batch_size=args.batch_size, convert_to_tensor=True)
    out = sys.stdout
    if args.similarity:
        for row in embedder.similarity(vectors, vectors).tolist():
            out.write(json.dumps(row) + "\n")
    else:
        for text, vector in zip(texts, vectors.tolist()):
            out.write(json.dumps({"text": text, "embedding": vector}, ensure_ascii=False) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="henkan", description="henkan: Transformers-compatible models, fast.")
    commands = parser.add_subparsers(dest="command", required=True)
    embed = commands.add_parser("embed", help="sentence embeddings (JSON lines), offline by default",
                                description="Embed texts with a sentence-transformers checkpoint (default: the "
                                            "embedded all-MiniLM-L6-v2). Texts come as arguments or one per line "
                                            "on standard input.")
    embed.add_argument("texts", nargs="*", help="texts to embed (default: read lines from standard input)")
    embed.add_argument("--model", default=None, help="a model folder or Hub id (default: all-MiniLM-L6-v2)")
    embed.add_argument("--similarity", action="store_true", help="print the cosine similarity matrix instead")
    embed.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    return _embed(args)


if __name__ == "__main__":
    sys.exit(main())
