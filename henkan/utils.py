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


def read_json(path, kind: type = dict):
    """The JSON value of a file, which must be a `kind` (an object by default); a broken or wrong file is an OSError
    that names it and says what to do."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OSError(f"{path} is not a valid JSON file ({e}). Re-save or re-download the checkpoint.") from e
    if not isinstance(value, kind):
        raise OSError(f"{path} should hold a JSON {'object' if kind is dict else kind.__name__}, not "
                      f"{type(value).__name__}. Re-save or re-download the checkpoint.")
    return value


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
