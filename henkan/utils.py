"""Small helpers shared across the package."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
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


_TEMPORARY = re.compile(r"\.(?:tmp|saving)-(\d+)-")  # what atomic_paths and the tokenizer's staging folder create


def temporary_name(path, kind: str = "tmp") -> str:
    """A hidden name beside `path` for a file being written: it carries the writer's process id, so that a later
    save can tell the leftovers of a killed writer (see `remove_stale_temporaries`) from files being written now."""
    path = os.fspath(path)
    return os.path.join(os.path.dirname(path) or ".", f".{kind}-{os.getpid()}-{uuid.uuid4().hex}-"
                                                      f"{os.path.basename(path)}")


@contextlib.contextmanager
def atomic_paths(paths):
    """Yield one temporary path beside each of `paths`; once the block has written them all, each is synced to
    disk and they replace `paths`, in order, one rename each. A kill while writing leaves every old file as it was
    (and hidden temporary files, which the next save removes); on an error the temporary files are removed.

    Files get the permissions `open()` gives (the umask applies), whatever the writer used (safetensors writes
    0600)."""
    paths = [os.fspath(p) for p in paths]
    tmps = [temporary_name(p) for p in paths]
    try:
        with open(tmps[0], "wb"):  # learn the mode open() gives, to restore it on files the writer made 0600
            pass
        mode = stat.S_IMODE(os.stat(tmps[0]).st_mode)
        yield tmps
        for tmp in tmps:
            if stat.S_IMODE(os.stat(tmp).st_mode) != mode:
                os.chmod(tmp, mode)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        for tmp, path in zip(tmps, paths):
            os.replace(tmp, path)
        for folder in dict.fromkeys(os.path.dirname(p) or "." for p in paths):
            fsync_dir(folder)
    except BaseException:
        for tmp in tmps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; once the block has written it, it replaces `path` in one step, so a
    reader sees the old file or the whole new one, never a part (see `atomic_paths`)."""
    with atomic_paths([path]) as (tmp,):
        yield tmp


def atomic_write_text(path, text: str) -> None:
    """Write `text` to `path` atomically (see `atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def fsync_dir(path: str) -> None:
    """Make a rename inside `path` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder) -> None:
    """Remove the temporary files and folders that saves killed midway left in `folder` (those whose writing
    process is gone). Only where a process can be probed without harm (POSIX)."""
    if os.name != "posix" or not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        found = _TEMPORARY.match(name)
        if found is None or _running(int(found.group(1))):
            continue
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # (e.g. EPERM: another user's live process)
        return True
    return True


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
