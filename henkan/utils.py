"""Small helpers shared across the package."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from enum import Enum


class ExplicitEnum(str, Enum):
    """A string enum whose error for an unknown value lists the valid ones."""

    @classmethod
    def _missing_(cls, value):
        raise ValueError(f"{value} is not a valid {cls.__name__}, please select one of {[m.value for m in cls]}")


class PaddingStrategy(ExplicitEnum):
    """How tokenizers and feature extractors pad a batch."""

    LONGEST = "longest"
    MAX_LENGTH = "max_length"
    DO_NOT_PAD = "do_not_pad"


class TensorType(ExplicitEnum):
    """What `return_tensors=` asks for: PyTorch ("pt") or NumPy ("np") arrays (the other names are accepted and
    refused with a clear error where used)."""

    PYTORCH = "pt"
    TENSORFLOW = "tf"
    NUMPY = "np"
    JAX = "jax"
    MLX = "mlx"


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; once the block has written it, it replaces `path` in one step, so a
    reader sees the old file or the whole new one, never a part. On any error the temporary file is removed."""
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(path) or ".", f".tmp-{uuid.uuid4().hex}-{os.path.basename(path)}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    """Write `text` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:  # the umask applies, as for open()
        f.write(text)


def read_json(path, kind: type = dict, max_depth: int | None = None):
    """The JSON value of a file, which must be a `kind` (an object by default) nested at most `max_depth` levels; a
    broken or wrong file is an OSError that names it and says what to do."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OSError(f"{path} is not a valid JSON file ({e}). Re-save or re-download the checkpoint.") from e
    except RecursionError:
        value, max_depth = _TOO_DEEP, 0
    if max_depth is not None and (value is _TOO_DEEP or _json_depth(value, max_depth) > max_depth):
        raise OSError(f"{path} nests JSON values more than {max_depth or 'a few thousand'} levels deep, which no "
                      f"checkpoint file does; it is damaged or hostile. Re-save or re-download the checkpoint.")
    if not isinstance(value, kind):
        raise OSError(f"{path} should hold a JSON {'object' if kind is dict else kind.__name__}, not "
                      f"{_json_type(value)}. Re-save or re-download the checkpoint.")
    return value


_TOO_DEEP = object()


def _json_type(value) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _json_depth(value, limit: int) -> int:
    """How deeply `value` nests (iteratively; stops counting past `limit`)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            todo.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python's, NumPy's and torch's generators (and CUDA's when present) for reproducible runs."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)
