"""The `henkan` command: run, env, download, cache scan / delete; bad streams; output cut short by its reader."""

import io
import json
import os
import shutil
import subprocess
import sys

import pytest

import henkan
from conftest import FIXTURES, assert_outputs_close
from henkan.cli import main

HERE = os.path.join(FIXTURES, "text_pipelines")


def stdin(monkeypatch, data: bytes):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


def lines(out: str) -> list:
    return [json.loads(line) for line in out.splitlines()]


def test_version(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out.strip() == f"henkan {henkan.__version__}"


def test_run_over_stdin_equals_the_pipeline(capsys, monkeypatch):
    texts = ["we love the hobbit", "a hole", "she sells sea shells by the shore"]
    stdin(monkeypatch, ("\n".join(texts) + "\n").encode())
    assert main(["run", "text-classification", "--model", os.path.join(HERE, "bert-nli"), "--top-k", "2"]) == 0
    expected = henkan.pipeline("text-classification", model=os.path.join(HERE, "bert-nli"))(texts, top_k=2)
    assert_outputs_close(lines(capsys.readouterr().out), expected)


def test_run_json_lines_skips_malformed_ones(capsys, monkeypatch):
    items = [{"question": "who lived?", "context": "the hobbit lived in a hole"},
             {"question": "what sells?", "context": "she sells sea shells by the shore"}]
    data = json.dumps(items[0]) + "\n{not json\n\n" + json.dumps(items[1]) + "\n"
    stdin(monkeypatch, data.encode())
    assert main(["run", "question-answering", "--model", os.path.join(HERE, "bert-qa"), "--jsonl",
                 "--max-answer-len", "4"]) == 1
    captured = capsys.readouterr()
    expected = henkan.pipeline("question-answering", model=os.path.join(HERE, "bert-qa"))(items, max_answer_len=4)
    assert_outputs_close(lines(captured.out), expected)
    assert captured.err.strip() == "henkan run: line 2 is not JSON (Expecting property name enclosed in double " \
                                   "quotes at column 2); skipped"


def test_run_task_flags_and_arguments(capsys):
    model = os.path.join(HERE, "bert-nli")
    assert main(["run", "zero-shot-classification", "a phone in a hole", "--model", model,
                 "--candidate-labels", "phone,tablet", "--multi-label"]) == 0
    expected = henkan.pipeline("zero-shot-classification", model=model)(
        ["a phone in a hole"], candidate_labels=["phone", "tablet"], multi_label=True)
    assert_outputs_close(lines(capsys.readouterr().out), expected)
    assert main(["run", "question-answering", "--model", os.path.join(HERE, "bert-qa"), "--question", "who?",
                 "the hobbit lived in a hole", "--option", "top_k=2"]) == 0
    assert len(lines(capsys.readouterr().out)[0]) == 2


def test_run_bad_input(capsys, monkeypatch):
    model = os.path.join(HERE, "bert-cls")
    stdin(monkeypatch, b"caf\xe9 au lait\nhello\n")
    assert main(["run", "text-classification", "--model", model]) == 1
    captured = capsys.readouterr()
    assert len(lines(captured.out)) == 1
    assert captured.err.strip() == ("henkan run: standard input line 1 is not UTF-8 text (byte 0xe9 at column 4); "
                                    "convert it first, e.g. iconv -f latin1 -t utf-8")
    assert main(["run", "text-classification", "--model", model, "ok", "\udcff\udcfe"]) == 2
    assert capsys.readouterr().err.strip() == "henkan: text argument 2 is not UTF-8 text; convert it first (e.g. " \
                                              "with iconv)"
    assert main(["run", "text-clasification", "--model", model, "x"]) == 2
    assert "Did you mean 'text-classification'" in capsys.readouterr().err
    assert main(["run", "zero-shot-classification", "--model", os.path.join(HERE, "bert-nli"), "x"]) == 1
    assert "candidate_labels is empty" in capsys.readouterr().err
    stdin(monkeypatch, bytes(range(256)) * 4)
    assert main(["embed"]) == 1
    assert "standard input line 2 is not UTF-8 text (byte 0x80 at column 118)" in capsys.readouterr().err


def test_output_cut_short_ends_quietly():
    model = os.path.join(HERE, "bert-cls")
    command = (f"yes 'the hobbit' | head -n 2000 | {sys.executable} -m henkan.cli run text-classification "
               f"--model {model} | head -n 1")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"})
    assert json.loads(result.stdout)["label"] in ("NEGATIVE", "POSITIVE")
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def test_embed_without_a_padding_token(minilm_path, capsys, monkeypatch):
    embedder = henkan.SentenceEmbedder(minilm_path)
    texts = ["a hobbit", "she sells sea shells by the shore"]
    alone = [embedder.encode(text) for text in texts]
    embedder.tokenizer.pad_token = None
    assert embedder.tokenizer.pad_token_id is None
    together = embedder.encode(texts, batch_size=2)
    for one, both in zip(alone, together):
        assert abs(one - both).max() < 1e-5


def test_env(capsys):
    assert main(["env", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["henkan"] == henkan.__version__ and report["offline_mode"] is True
    assert report["cache"] and report["threads"] >= 1 and "torch" in report


def test_download_offline_says_why(capsys):
    assert main(["download", "org/model"]) == 1
    assert "offline mode is on (HF_HUB_OFFLINE)" in capsys.readouterr().err


def make_cache(root):
    """A hub cache by hand: one model with a branch and a detached revision sharing a blob, one dataset."""
    model = root / "models--org--tiny"
    for name, content in (("aaa", b"x" * 100), ("bbb", b"y" * 50), ("ccc", b"z" * 7)):
        (model / "blobs").mkdir(parents=True, exist_ok=True)
        (model / "blobs" / name).write_bytes(content)
    (model / "refs").mkdir()
    (model / "refs" / "main").write_text("1" * 40)
    for commit, files in (("1" * 40, {"config.json": "aaa", "model.safetensors": "bbb"}),
                          ("2" * 40, {"config.json": "aaa", "old.bin": "ccc"})):
        folder = model / "snapshots" / commit
        folder.mkdir(parents=True)
        for name, blob in files.items():
            (folder / name).symlink_to(os.path.relpath(model / "blobs" / blob, folder))
    data = root / "datasets--org--set"
    (data / "blobs").mkdir(parents=True)
    (data / "blobs" / "ddd").write_bytes(b"d" * 30)
    (data / "refs").mkdir()
    (data / "refs" / "main").write_text("3" * 40)
    (data / "snapshots" / ("3" * 40)).mkdir(parents=True)
    (data / "snapshots" / ("3" * 40) / "data.csv").symlink_to("../../blobs/ddd")
    return root


def test_cache_scan_equals_huggingface_hub(tmp_path, capsys):
    from huggingface_hub import scan_cache_dir

    cache = make_cache(tmp_path / "hub")
    assert main(["cache", "scan", "--cache-dir", str(cache), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    info = scan_cache_dir(cache)
    assert report["size_on_disk"] == info.size_on_disk == 187
    expected = {(r.repo_id, r.repo_type): (r.size_on_disk, {rev.commit_hash: (rev.size_on_disk, sorted(rev.refs))
                                                            for rev in r.revisions}) for r in info.repos}
    found = {(r["repo_id"], r["repo_type"]): (r["size_on_disk"], {rev["commit_hash"]: (rev["size_on_disk"],
                                                                                       rev["refs"])
                                                                  for rev in r["revisions"]})
             for r in report["repos"]}
    assert found == expected
    assert main(["cache", "scan", "--cache-dir", str(cache)]) == 0
    table = capsys.readouterr().out
    assert "org/tiny" in table and "11111111 (main)" in table and "22222222 (detached)" in table
    assert main(["cache", "scan", "--cache-dir", str(tmp_path / "none")]) == 2
    assert "there is no cache at" in capsys.readouterr().err


def test_cache_delete(tmp_path, capsys, monkeypatch):
    cache = make_cache(tmp_path / "hub")
    assert main(["cache", "delete", "--cache-dir", str(cache), "--detached", "--dry-run"]) == 0
    assert "1 revision(s), 7.0 to free" in capsys.readouterr().out
    assert (cache / "models--org--tiny" / "snapshots" / ("2" * 40)).exists()
    stdin(monkeypatch, b"")
    assert main(["cache", "delete", "--cache-dir", str(cache), "--detached"]) == 2
    assert "pass --yes" in capsys.readouterr().err
    assert main(["cache", "delete", "--cache-dir", str(cache), "--detached", "--yes"]) == 0
    assert not (cache / "models--org--tiny" / "snapshots" / ("2" * 40)).exists()
    assert not (cache / "models--org--tiny" / "blobs" / "ccc").exists()
    assert (cache / "models--org--tiny" / "blobs" / "aaa").exists()
    assert main(["cache", "delete", "--cache-dir", str(cache), "org/set", "--yes"]) == 0
    assert not (cache / "datasets--org--set").exists()
    assert main(["cache", "delete", "--cache-dir", str(cache), "org/nothing", "--yes"]) == 2
    assert "neither a cached repo id nor a cached revision" in capsys.readouterr().err
