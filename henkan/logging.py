"""The library's logging: one `henkan` logger tree, a verbosity switch and a progress-bar switch.

The default level is WARNING. `HENKAN_VERBOSITY` (or `TRANSFORMERS_VERBOSITY`, for code written against the
reference) sets the starting level to one of debug, info, warning, error, critical.
`TRANSFORMERS_NO_ADVISORY_WARNINGS=1` silences `logger.warning_advice`.
"""

from __future__ import annotations

import functools
import logging as _logging
import os
import sys
import threading

from tqdm import auto as _tqdm_auto

CRITICAL = FATAL = _logging.CRITICAL
ERROR = _logging.ERROR
WARNING = WARN = _logging.WARNING
INFO = _logging.INFO
DEBUG = _logging.DEBUG
NOTSET = _logging.NOTSET

_LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR, "critical": CRITICAL}
_ROOT = "henkan"
_lock = threading.Lock()
_handler: _logging.Handler | None = None
_progress_bars = True


def _env_level() -> int:
    for var in ("HENKAN_VERBOSITY", "TRANSFORMERS_VERBOSITY"):
        value = os.environ.get(var)
        if not value:
            continue
        if value.lower() in _LEVELS:
            return _LEVELS[value.lower()]
        _logging.getLogger(_ROOT).warning(
            "Unknown %s=%r; use one of %s.", var, value, ", ".join(_LEVELS)
        )
    return WARNING


def _root() -> _logging.Logger:
    global _handler
    logger = _logging.getLogger(_ROOT)
    if _handler is None:
        with _lock:
            if _handler is None:
                _handler = _logging.StreamHandler(sys.stderr)
                _handler.flush = sys.stderr.flush
                logger.addHandler(_handler)
                logger.setLevel(_env_level())
                logger.propagate = False
    return logger


def _warning_advice(self: _logging.Logger, *args, **kwargs) -> None:
    if not os.environ.get("TRANSFORMERS_NO_ADVISORY_WARNINGS") and not os.environ.get("HENKAN_NO_ADVISORY_WARNINGS"):
        self.warning(*args, **kwargs)


@functools.lru_cache(None)
def _warning_once(self: _logging.Logger, *args, **kwargs) -> None:
    self.warning(*args, **kwargs)


_logging.Logger.warning_advice = _warning_advice  # type: ignore[attr-defined]
_logging.Logger.warning_once = _warning_once  # type: ignore[attr-defined]


def get_logger(name: str | None = None) -> _logging.Logger:
    """A logger under the library's tree. `transformers...` names are mapped onto `henkan...`."""
    _root()
    if name is None:
        return _logging.getLogger(_ROOT)
    if name == "transformers" or name.startswith("transformers."):
        name = _ROOT + name[len("transformers"):]
    return _logging.getLogger(name)


def get_verbosity() -> int:
    return _root().getEffectiveLevel()


def set_verbosity(verbosity: int) -> None:
    _root().setLevel(verbosity)


def set_verbosity_debug() -> None:
    set_verbosity(DEBUG)


def set_verbosity_info() -> None:
    set_verbosity(INFO)


def set_verbosity_warning() -> None:
    set_verbosity(WARNING)


def set_verbosity_error() -> None:
    set_verbosity(ERROR)


def enable_default_handler() -> None:
    logger = _root()
    if _handler not in logger.handlers:
        logger.addHandler(_handler)


def disable_default_handler() -> None:
    _root().removeHandler(_handler)


def add_handler(handler: _logging.Handler) -> None:
    _root().addHandler(handler)


def remove_handler(handler: _logging.Handler) -> None:
    _root().removeHandler(handler)


def enable_propagation() -> None:
    _root().propagate = True


def disable_propagation() -> None:
    _root().propagate = False


def enable_explicit_format() -> None:
    fmt = _logging.Formatter("[%(levelname)s|%(filename)s:%(lineno)s] %(asctime)s >> %(message)s")
    for handler in _root().handlers:
        handler.setFormatter(fmt)


def reset_format() -> None:
    for handler in _root().handlers:
        handler.setFormatter(None)


def captureWarnings(capture: bool) -> None:  # noqa: N802 - the name users know
    """Route `warnings.warn` messages through logging, under this library's verbosity."""
    _logging.captureWarnings(capture)
    warnings_logger = _logging.getLogger("py.warnings")
    if capture:
        if _handler not in warnings_logger.handlers:
            warnings_logger.addHandler(_root().handlers[0])
        warnings_logger.setLevel(get_verbosity())
    else:
        warnings_logger.handlers = [h for h in warnings_logger.handlers if h is not _handler]


def is_progress_bar_enabled() -> bool:
    return _progress_bars and not os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")


def enable_progress_bar() -> None:
    global _progress_bars
    _progress_bars = True


def disable_progress_bar() -> None:
    global _progress_bars
    _progress_bars = False


def tqdm(*args, **kwargs):
    """A tqdm progress bar that honours `disable_progress_bar()`."""
    if not is_progress_bar_enabled():
        kwargs["disable"] = True
    return _tqdm_auto.tqdm(*args, **kwargs)
