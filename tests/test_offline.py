"""An uncached Hub id with the Hub unreachable fails fast, naming the model, the cache and HF_HUB_OFFLINE=1."""

import time

import pytest

import henkan
from henkan import hub


@pytest.fixture
def unreachable_hub(monkeypatch, tmp_path):
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setattr(hub, "_PROBES", {})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.mark.parametrize("load", [henkan.AutoTokenizer.from_pretrained, henkan.AutoModelForCausalLM.from_pretrained])
def test_uncached_id_fails_fast_and_says_why(unreachable_hub, load):
    started = time.monotonic()
    with pytest.raises(OSError) as caught:
        load("Qwen/Qwen2-0.5B-Instruct")
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "Qwen/Qwen2-0.5B-Instruct" in message and str(unreachable_hub) in message
    assert "HF_HUB_OFFLINE=1" in message and "could not be reached" in message


def test_the_probe_is_asked_once_per_load(unreachable_hub, monkeypatch):
    asked = []
    real = hub.socket.create_connection
    monkeypatch.setattr(hub.socket, "create_connection", lambda *a, **k: asked.append(a) or real(*a, **k))
    with pytest.raises(OSError):
        henkan.AutoModelForCausalLM.from_pretrained("Qwen/Qwen2-0.5B-Instruct")
    with pytest.raises(OSError):
        henkan.AutoTokenizer.from_pretrained("Qwen/Qwen2-0.5B-Instruct")
    assert len(asked) == 1


def test_first_load_of_each_family_does_not_import_torch_dynamo():
    """Computing on the meta device goes through torch._refs, whose first use imports torch._dynamo (~1 s of a
    command-line run); building the loading skeleton must not compute anything."""
    import os
    import subprocess
    import sys

    from conftest import FIXTURES

    folders = [os.path.join(FIXTURES, "decoders", name) for name in ("llama", "llama-rope-yarn", "mistral", "bloom",
                                                                      "codegen", "gpt2")]
    folders += [os.path.join(FIXTURES, "seq2seq", name) for name in ("t5", "bart", "marian", "pegasus", "mbart")]
    script = ("import sys, henkan\n"
              "for folder in sys.argv[1:]:\n"
              "    henkan.AutoModel.from_pretrained(folder)\n"
              "print('torch._dynamo' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script, *folders], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"})
    assert result.stdout.strip() == "False"
