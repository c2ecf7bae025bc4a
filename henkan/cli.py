"""The `henkan` command.

`henkan run TASK [TEXT ...] --model M` runs a pipeline over texts or JSON lines; `henkan embed TEXT ...` prints one
JSON line per text with its sentence embedding; `henkan serve [MODEL]` runs an OpenAI-compatible server; `henkan env`
reports versions, devices and the cache; `henkan download MODEL` fills the cache; `henkan cache scan` / `delete`
list and free it. Input that is not UTF-8 or not JSON is named by line and skipped; output piped into a reader that
stops early (`| head`) ends quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


class InputError(ValueError):
    """A problem with the command's input, reported as one line without a traceback."""


def _stdin_lines(command: str, problems: list):
    """Standard input's lines, decoded as UTF-8 one by one; a line that is not UTF-8 is reported and skipped."""
    source = getattr(sys.stdin, "buffer", None)
    for number, raw in enumerate(source if source is not None else sys.stdin, 1):  # text streams: already decoded
        try:
            line = raw if isinstance(raw, str) else raw.decode("utf-8")
        except UnicodeDecodeError as e:
            _problem(command, problems, f"standard input line {number} is not UTF-8 text (byte 0x{raw[e.start]:02x} "
                                        f"at column {e.start + 1}); convert it first, e.g. iconv -f latin1 -t utf-8")
            continue
        yield number, line.rstrip("\r\n")


def _problem(command: str, problems: list, message: str) -> None:
    problems.append(message)
    print(f"henkan {command}: {message}", file=sys.stderr)


def _check_arguments(command: str, texts: list[str]) -> None:
    """Arguments that are not UTF-8 reach Python as lone surrogates: name the first such argument."""
    for number, text in enumerate(texts, 1):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(f"text argument {number} is not UTF-8 text; convert it first (e.g. with iconv)") from None


def _embed(args) -> int:
    problems = []
    _check_arguments("embed", args.texts)
    texts = args.texts or [line for _, line in _stdin_lines("embed", problems) if line.strip()]
    if not texts and problems:
        return 1
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
    return 1 if problems else 0


# run ---------------------------------------------------------------------------------------------------------------

# flag -> (call argument, parser, help)
TASK_OPTIONS = {
    "top-k": ("top_k", int, "answers / labels per input (text-classification: 0 means every label)"),
    "candidate-labels": ("candidate_labels", str, "zero-shot-classification: the labels, comma-separated"),
    "hypothesis-template": ("hypothesis_template", str, "zero-shot-classification: e.g. 'This example is {}.'"),
    "multi-label": ("multi_label", bool, "zero-shot-classification: score each label on its own"),
    "function-to-apply": ("function_to_apply", str, "text-classification: softmax, sigmoid or none"),
    "aggregation-strategy": ("aggregation_strategy", str, "token-classification: none, simple, first, average, max"),
    "stride": ("stride", int, "token-classification: read long texts in windows overlapping by this many tokens"),
    "question": ("question", str, "question-answering: the question asked of every text (the texts are contexts)"),
    "doc-stride": ("doc_stride", int, "question-answering: overlap of the windows over long contexts"),
    "max-answer-len": ("max_answer_len", int, "question-answering: longest answer in tokens"),
    "max-seq-len": ("max_seq_len", int, "question-answering: tokens per window"),
    "handle-impossible-answer": ("handle_impossible_answer", bool, "question-answering: allow the empty answer"),
    "max-new-tokens": ("max_new_tokens", int, "generation tasks: tokens to generate"),
    "truncation": ("truncation", bool, "truncate inputs longer than the model's maximum"),
}


def _call_options(args) -> dict:
    options = {}
    for flag, (name, kind, _) in TASK_OPTIONS.items():
        value = getattr(args, flag.replace("-", "_"))
        if value is None or value is False:
            continue
        options[name] = None if name == "top_k" and value == 0 else value
    for item in args.option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--option {item!r}: write KEY=VALUE (VALUE read as JSON when it parses, else as text)")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def _jsonable(value):
    """Pipeline outputs as JSON: numpy scalars and arrays, tensors, tuples."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _run_inputs(args, problems: list, question: str | None):
    """The inputs, one per argument or standard-input line: texts, or JSON values with --jsonl."""
    if args.texts:
        lines = list(enumerate(args.texts, 1))
        where = "argument"
    else:
        lines, where = _stdin_lines("run", problems), "line"
    for number, line in lines:
        if args.jsonl:
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as e:
                _problem("run", problems, f"{where} {number} is not JSON ({e.msg} at column {e.colno}); skipped")
                continue
        else:
            if not args.texts and not line.strip():
                continue
            item = line
        if question is not None and isinstance(item, str):
            item = {"question": question, "context": item}
        yield item


def _run(args) -> int:
    problems = []
    _check_arguments("run", args.texts)
    options = _call_options(args)
    question = options.pop("question", None)
    from .pipelines import PIPELINE_REGISTRY, pipeline

    try:
        PIPELINE_REGISTRY.check_task(args.task)
    except KeyError as e:
        raise InputError(e.args[0]) from None
    construct = {key: value for key, value in (("device", args.device), ("dtype", args.dtype)) if value}
    try:
        pipe = pipeline(args.task, model=args.model, batch_size=args.batch_size, **construct)
    except (OSError, ValueError, NotImplementedError, TypeError) as e:
        print(f"henkan run: cannot load the model: {e}", file=sys.stderr)
        return 1
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # inputs come as a stream, which is not deprecated
    out = sys.stdout
    try:
        for result in pipe(_run_inputs(args, problems, question), **options):
            out.write(json.dumps(_jsonable(result), ensure_ascii=False) + "\n")
            out.flush()
    except (ValueError, KeyError, TypeError) as e:  # an input or option the pipeline refuses: its own message
        print(f"henkan run: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 1
    return 1 if problems else 0


# env, download, cache ----------------------------------------------------------------------------------------------

def _env(args) -> int:
    import platform

    import torch
    from huggingface_hub import constants

    from . import __version__
    from .hub import default_cache_dir, hub_reachable, is_offline

    versions = {"henkan": __version__, "python": platform.python_version(), "torch": torch.__version__}
    for package in ("tokenizers", "safetensors", "huggingface_hub", "numpy"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            versions[package] = None
    offline = is_offline()
    report = {
        **versions,
        "platform": platform.platform(),
        "device": "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu",
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "cache": default_cache_dir(),
        "hub_endpoint": constants.ENDPOINT,
        "offline_mode": offline,
        "hub_reachable": None if offline else hub_reachable(),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


def _download(args) -> int:
    from huggingface_hub import snapshot_download

    from .hub import default_cache_dir, hub_reachable, is_offline

    cache = args.cache_dir or default_cache_dir()
    if is_offline() or not hub_reachable():
        why, fix = ("offline mode is on (HF_HUB_OFFLINE)", "unset HF_HUB_OFFLINE") if is_offline() else \
            ("the Hub cannot be reached", "check the network (or HTTPS_PROXY)")
        print(f"henkan download: {why}; {args.model} cannot be downloaded into {cache}: {fix}.", file=sys.stderr)
        return 1
    patterns = None if args.all else ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken",
                                       "*.py.txt", "tokenizer*", "vocab*", "merges*"]
    try:
        folder = snapshot_download(args.model, revision=args.revision, cache_dir=cache, token=args.token,
                                   allow_patterns=patterns)
        if patterns and not any(name.endswith(".safetensors") for _, _, names in os.walk(folder) for name in names):
            folder = snapshot_download(args.model, revision=args.revision, cache_dir=cache, token=args.token,
                                       allow_patterns=patterns + ["*.bin"])  # weights as PyTorch files only
    except Exception as e:  # huggingface_hub's errors: name the model and say why, without a traceback
        print(f"henkan download: cannot download {args.model}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(folder)
    return 0


def _scan(cache_dir: str | None):
    from huggingface_hub import scan_cache_dir

    from .hub import default_cache_dir

    cache = cache_dir or default_cache_dir()
    if not os.path.isdir(cache):
        raise InputError(f"there is no cache at {cache} (set HF_HUB_CACHE or pass --cache-dir)")
    return cache, scan_cache_dir(cache)


def _age(timestamp: float) -> str:
    import time

    seconds = max(0, time.time() - timestamp)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


def _cache_scan(args) -> int:
    cache, info = _scan(args.cache_dir)
    repos = sorted(info.repos, key=lambda r: (r.repo_type, r.repo_id))
    if args.json:
        print(json.dumps({"cache": cache, "size_on_disk": info.size_on_disk, "repos": [{
            "repo_id": r.repo_id, "repo_type": r.repo_type, "size_on_disk": r.size_on_disk, "nb_files": r.nb_files,
            "last_accessed": r.last_accessed, "last_modified": r.last_modified, "path": str(r.repo_path),
            "revisions": [{"commit_hash": rev.commit_hash, "refs": sorted(rev.refs), "size_on_disk": rev.size_on_disk,
                           "nb_files": rev.nb_files, "last_modified": rev.last_modified}
                          for rev in sorted(r.revisions, key=lambda rev: rev.last_modified)]} for r in repos]}))
    else:
        print(f"{'REPO ID':40} {'TYPE':8} {'SIZE':>9} {'FILES':>5} {'LAST USED':>16}  REVISIONS")
        for r in repos:
            revisions = ", ".join(f"{rev.commit_hash[:8]} ({', '.join(sorted(rev.refs)) or 'detached'})"
                                  for rev in sorted(r.revisions, key=lambda rev: rev.last_modified))
            print(f"{r.repo_id:40} {r.repo_type:8} {r.size_on_disk_str:>9} {r.nb_files:>5} "
                  f"{_age(r.last_accessed):>16}  {revisions}")
        print(f"\n{len(repos)} repo(s), {info.size_on_disk_str} in {cache}")
    for warning in info.warnings:
        print(f"henkan cache scan: warning: {warning}", file=sys.stderr)
    return 0


def _cache_delete(args) -> int:
    cache, info = _scan(args.cache_dir)
    chosen = set()
    for target in args.targets:
        repos = [r for r in info.repos if r.repo_id == target]
        revisions = [rev for r in info.repos for rev in r.revisions if len(target) >= 4 and
                     rev.commit_hash.startswith(target)]
        if not repos and not revisions:
            raise InputError(f"{target!r} is neither a cached repo id nor a cached revision in {cache}; see "
                             "`henkan cache scan`")
        if len(revisions) > 1 and not repos:
            raise InputError(f"revision prefix {target!r} matches {len(revisions)} revisions; give more of the hash")
        chosen.update(rev.commit_hash for r in repos for rev in r.revisions)
        chosen.update(rev.commit_hash for rev in revisions)
    if args.detached:
        chosen.update(rev.commit_hash for r in info.repos for rev in r.revisions if not rev.refs)
    if not chosen:
        print("henkan cache delete: nothing chosen: name repo ids or revisions, or pass --detached.", file=sys.stderr)
        return 2
    strategy = info.delete_revisions(*sorted(chosen))
    for r in info.repos:
        for rev in r.revisions:
            if rev.commit_hash in chosen:
                print(f"  {r.repo_id} {rev.commit_hash[:8]} ({', '.join(sorted(rev.refs)) or 'detached'}) "
                      f"{rev.size_on_disk_str}")
    print(f"{len(chosen)} revision(s), {strategy.expected_freed_size_str} to free.")
    if args.dry_run:
        print("Dry run: nothing deleted.")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print("henkan cache delete: not asking without a terminal; pass --yes to delete.", file=sys.stderr)
            return 2
        if input("Delete them? [y/N] ").strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return 0
    strategy.execute()
    print(f"Deleted; {strategy.expected_freed_size_str} freed.")
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


def _export(args) -> int:
    """`henkan export onnx MODEL OUT_DIR --task T`: load MODEL with the task's head, export, check, report."""
    try:
        from .auto import AutoConfig
        from .onnx import convert, features

        convert._require_runtime()
        folder = convert._output_folder(args.output)
        config = AutoConfig.from_pretrained(args.model)
        task = args.task or features._default_feature(config.model_type)
        model = features.FeaturesManager.get_model_from_feature(task, args.model)
        graphs = convert.export(model, folder, task=task, opset=args.opset, atol=args.atol)
    except (OSError, ValueError, KeyError, TypeError, NotImplementedError, ImportError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"henkan export: {message}", file=sys.stderr)
        return 1
    _copy_preprocessor(args.model, folder)
    for graph in graphs:
        print(f"{graph.path}: checked with onnxruntime, max difference {graph.max_difference:.2e} "
              f"(inputs: {', '.join(graph.inputs)})")
    return 0


def _copy_preprocessor(model: str, folder) -> None:
    """The tokenizer's files next to the graphs, when the model has a tokenizer (what ONNX Runtime users load)."""
    from .tokenization import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError):
        print(f"henkan export: {model} has no tokenizer to save next to the graphs.", file=sys.stderr)
        return
    tokenizer.save_pretrained(folder)


def _at_least(low: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    """The command; output cut short by its reader (`| head`) ends it quietly."""
    try:
        return _main(argv)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
        return 141  # 128 + SIGPIPE, as a shell reports a reader that stopped early
    except InputError as e:
        print(f"henkan: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _main(argv: list[str] | None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(prog="henkan", description="henkan: Transformers-compatible models, fast.")
    parser.add_argument("--version", action="version", version=f"henkan {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="run a pipeline over texts or JSON lines (JSON lines out)",
        description="Run pipeline(TASK) over texts given as arguments or one per line on standard input; with "
                    "--jsonl each line is a JSON value (a text, or e.g. {\"question\": ..., \"context\": ...}). "
                    "Prints one JSON line per input. A line that is not UTF-8 or not JSON is reported and skipped.")
    run.add_argument("task", help="a pipeline task, e.g. text-classification, question-answering")
    run.add_argument("texts", nargs="*", help="inputs (default: lines of standard input)")
    run.add_argument("--model", default=None, help="a model folder or Hub id (default: the task's default)")
    run.add_argument("--jsonl", action="store_true", help="read each input as a JSON value")
    run.add_argument("--batch-size", type=_at_least(1), default=8, help="inputs per forward pass (default 8)")
    run.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ...")
    run.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"], help="weights' dtype")
    for flag, (name, kind, text) in TASK_OPTIONS.items():
        if kind is bool:
            run.add_argument(f"--{flag}", action="store_true", help=text)
        else:
            run.add_argument(f"--{flag}", type=kind, default=None, help=text)
    run.add_argument("--option", action="append", metavar="KEY=VALUE",
                     help="any other call argument of the pipeline (VALUE as JSON, else text); repeatable")
    env = commands.add_parser("env", help="versions, device, threads, cache and offline state")
    env.add_argument("--json", action="store_true", help="one JSON object")
    download = commands.add_parser("download", help="download a model into the Hub cache",
                                   description="Download a model's config, tokenizer and safetensors weights (or "
                                               "its PyTorch weights when it has no safetensors) into the cache.")
    download.add_argument("model", help="a Hub id, e.g. sentence-transformers/all-MiniLM-L6-v2")
    download.add_argument("--revision", default=None, help="a branch, tag or commit (default main)")
    download.add_argument("--cache-dir", default=None, help="the cache folder (default: HF_HUB_CACHE's)")
    download.add_argument("--token", default=None, help="a Hub token for gated or private models")
    download.add_argument("--all", action="store_true", help="every file of the repository")
    cache = commands.add_parser("cache", help="list or free the Hub cache")
    cache_commands = cache.add_subparsers(dest="cache_command", required=True)
    scan = cache_commands.add_parser("scan", help="repos, sizes, revisions and last use")
    scan.add_argument("--cache-dir", default=None, help="the cache folder (default: HF_HUB_CACHE's)")
    scan.add_argument("--json", action="store_true", help="one JSON object with exact sizes in bytes")
    delete = cache_commands.add_parser(
        "delete", help="delete cached repos or revisions",
        description="Delete every revision of the named repos, or the named revisions (a commit hash or its first "
                    "8+ characters), after a confirmation.")
    delete.add_argument("targets", nargs="*", help="repo ids or revision hashes")
    delete.add_argument("--detached", action="store_true",
                        help="also every revision no branch or tag points to (an old download)")
    delete.add_argument("--cache-dir", default=None, help="the cache folder (default: HF_HUB_CACHE's)")
    delete.add_argument("--yes", action="store_true", help="delete without asking (for scripts)")
    delete.add_argument("--dry-run", action="store_true", help="show what would be deleted and stop")
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
    export = commands.add_parser("export", help="export a model to another format (onnx)")
    formats = export.add_subparsers(dest="format", required=True)
    to_onnx = formats.add_parser(
        "onnx", help="ONNX graphs with dynamic batch and sequence axes, checked with onnxruntime",
        description="Write MODEL's graphs for TASK into OUT_DIR (model.onnx; encoder_model.onnx, decoder_model.onnx "
                    "and decoder_with_past_model.onnx for encoder-decoders) with its config and tokenizer, and check "
                    "each against the PyTorch model with onnxruntime.")
    to_onnx.add_argument("model", help="a model folder or Hub id")
    to_onnx.add_argument("output", metavar="OUT_DIR", help="the folder to write (created when missing)")
    to_onnx.add_argument("--task", default=None,
                         help="e.g. sequence-classification, causal-lm-with-past, seq2seq-lm-with-past (default: "
                              "the language-model head with the cache, else the base model)")
    to_onnx.add_argument("--opset", type=int, default=None, help="ONNX opset, 14 to 17 (default 17)")
    to_onnx.add_argument("--atol", type=float, default=None,
                         help="largest difference allowed between onnxruntime and PyTorch (default 1e-4)")
    args, extra = parser.parse_known_args(argv)
    if args.command == "run":  # texts may come after the options too
        args.texts += [item for item in extra if not item.startswith("-")]
        extra = [item for item in extra if item.startswith("-")]
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "serve":
        return _serve(args)
    if args.command == "export":
        return _export(args)
    if args.command == "run":
        return _run(args)
    if args.command == "env":
        return _env(args)
    if args.command == "download":
        return _download(args)
    if args.command == "cache":
        return _cache_scan(args) if args.cache_command == "scan" else _cache_delete(args)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    return _embed(args)


if __name__ == "__main__":
    sys.exit(main())
