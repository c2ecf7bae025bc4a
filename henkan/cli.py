"""The `henkan` command. `henkan embed TEXT ...` prints one JSON line per text with its sentence embedding;
`henkan serve [MODEL]` runs an OpenAI-compatible server."""

from __future__ import annotations

import argparse
import json
import os
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


def _serve(args) -> int:
    try:
        import uvicorn

        from .serving.app import Server
    except ImportError as e:
        print(f"henkan serve: {e.name} is missing; install the server's packages with pip install 'henkan[serve]'.",
              file=sys.stderr)
        return 1
    try:
        server = Server(args.model, chat_template=args.chat_template, dtype=args.dtype, device=args.device,
                        max_batch_size=args.max_batch_size, max_model_len=args.max_model_len,
                        api_key=args.api_key or os.environ.get("HENKAN_API_KEY") or None,
                        served_model_name=args.served_model_name, embedding_model=args.embedding_model,
                        prefill_chunk=args.prefill_chunk, max_waiting=args.max_waiting)
    except (OSError, ValueError, NotImplementedError) as e:
        print(f"henkan serve: cannot start: {e}", file=sys.stderr)
        return 1
    names = ", ".join(n for n in (server.model_name, server.embedding_name) if n)
    print(f"henkan serve: {names} on http://{args.host}:{args.port}/v1", file=sys.stderr)
    uvicorn.run(server.app(), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _at_least(low: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value
    return parse


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
    serve = commands.add_parser(
        "serve", help="an OpenAI-compatible server (chat, completions, embeddings)",
        description="Serve a causal LM through the OpenAI API (/v1/chat/completions, /v1/completions) with "
                    "continuous batching, and sentence embeddings (/v1/embeddings). Without MODEL it serves "
                    "embeddings from the embedded all-MiniLM-L6-v2, offline.")
    serve.add_argument("model", nargs="?", default=None, help="a causal LM folder or Hub id")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--chat-template", default=None,
                       help="a Jinja chat template file, or the template text (default: the tokenizer's)")
    serve.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                       help="weights' dtype (default: the checkpoint's)")
    serve.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    serve.add_argument("--max-batch-size", type=_at_least(1), default=16,
                       help="sequences decoded at once: the slots of the KV cache (default 16)")
    serve.add_argument("--max-model-len", type=_at_least(1), default=None,
                       help="longest prompt + completion in tokens (default: the model's, at most 2048)")
    serve.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' (or set HENKAN_API_KEY)")
    serve.add_argument("--served-model-name", default=None, help="the model name clients send (default: MODEL)")
    serve.add_argument("--embedding-model", default=None,
                       help="a sentence-transformers folder or Hub id for /v1/embeddings (default without MODEL: "
                            "all-MiniLM-L6-v2)")
    serve.add_argument("--prefill-chunk", type=_at_least(1), default=512,
                       help="prompt tokens prefilled per engine step (default 512)")
    serve.add_argument("--max-waiting", type=_at_least(0), default=None,
                       help="requests (choices) that may wait for a free slot before the server answers 503 "
                            "(default 4 x --max-batch-size)")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    return _embed(args)


if __name__ == "__main__":
    sys.exit(main())
