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
