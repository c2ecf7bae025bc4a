"""henkan.logging mirrors the reference's logging module."""

import logging
import subprocess
import sys

from henkan import logging as hlogging


def test_default_level_and_setters():
    assert hlogging.get_verbosity() == hlogging.WARNING
    try:
        hlogging.set_verbosity_info()
        assert hlogging.get_verbosity() == logging.INFO
        hlogging.set_verbosity(hlogging.ERROR)
        assert hlogging.get_verbosity() == 40
        hlogging.set_verbosity_debug()
        assert hlogging.get_logger("henkan.modeling").getEffectiveLevel() == logging.DEBUG
    finally:
        hlogging.set_verbosity_warning()


def test_seed_logger_usage(caplog):
    """main_classes__logging.md: get_logger("transformers") is the library's logger."""
    logger = hlogging.get_logger("transformers")
    assert logger.name == "henkan"
    hlogging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING, logger="henkan"):
            logger.info("INFO")
            logger.warning("WARN")
    finally:
        hlogging.disable_propagation()
    assert {r.message for r in caplog.records} == {"WARN"}


def test_environment_variables():
    code = "from henkan import logging as l; print(l.get_verbosity())"
    for variable, expected in [("TRANSFORMERS_VERBOSITY", "40"), ("HENKAN_VERBOSITY", "10")]:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={variable: "error" if expected == "40" else "debug", "PATH": ""})
        assert out.stdout.strip() == expected


def test_progress_bar_switch():
    hlogging.disable_progress_bar()
    assert not hlogging.is_progress_bar_enabled()
    assert hlogging.tqdm(range(3)).disable
    hlogging.enable_progress_bar()
    assert hlogging.is_progress_bar_enabled()


def test_import_is_light():
    code = "import sys, henkan; henkan.AutoConfig; henkan.AutoModel; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
