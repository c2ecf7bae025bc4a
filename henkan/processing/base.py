"""What every preprocessing object shares: `BatchFeature` (what a call returns) and the settings mixin that reads and
writes `preprocessor_config.json` (`from_pretrained` / `save_pretrained` / `to_dict` / the JSON repr).

A preprocessor's settings are its instance attributes: whatever a config file holds is kept (unknown keys too), and
saved back. Attributes starting with "_" and those a class lists in `_transient` (derived arrays such as mel filter
banks) are not settings.
"""

from __future__ import annotations

import copy
import json
import os
from collections import UserDict
from typing import Any

import numpy as np

from ..hub import PushToHubMixin, pop_hub_kwargs, pop_upload_kwargs, resolve_file, upload_folder
from ..logging import get_logger
from ..utils import TensorType, atomic_write_text, read_json

logger = get_logger(__name__)

PREPROCESSOR_FILE = "preprocessor_config.json"  # image processors and feature extractors
PROCESSOR_FILE = "processor_config.json"  # processors (5.x nests their parts' settings in it)


class BatchFeature(UserDict):
    """A dict of model inputs (`pixel_values`, `input_values`, `input_features`, `attention_mask`, ...) whose keys
    read as attributes, turned into PyTorch ("pt") or NumPy ("np") arrays when `tensor_type` says so."""

    def __init__(self, data: dict[str, Any] | None = None, tensor_type: str | TensorType | None = None):
        super().__init__(data)
        self.convert_to_tensors(tensor_type=tensor_type)

    def __getitem__(self, item: str) -> Any:
        if isinstance(item, str):
            return self.data[item]
        raise KeyError("Indexing with integers is not available when using Python based feature extractors")

    def __getattr__(self, item: str):
        try:
            return self.data[item]
        except KeyError:
            raise AttributeError(item) from None

    def __getstate__(self):
        return {"data": self.data}

    def __setstate__(self, state):
        if "data" in state:
            self.data = state["data"]

    def convert_to_tensors(self, tensor_type: str | TensorType | None = None):
        """Turn every value into a tensor of `tensor_type`, in place; returns self."""
        if tensor_type is None:
            return self
        as_tensor, is_tensor = _tensor_functions(TensorType(tensor_type))
        for key, value in self.items():
            if is_tensor(value):
                continue
            try:
                self[key] = as_tensor(value)
            except Exception as e:
                if key == "overflowing_values":
                    raise ValueError("Unable to create tensor returning overflowing values of different lengths. ") \
                        from e
                raise ValueError(
                    f"Unable to create a tensor from `{key}` (its items differ in shape). Pass padding=True (or "
                    "padding='max_length' with max_length=...) to have batched tensors with the same length, or "
                    "return_tensors=None to get a list.") from e
        return self

    def to(self, *args, **kwargs) -> BatchFeature:
        """Move tensors to a device, and cast the floating-point ones when given a dtype (as `Tensor.to` does)."""
        import torch

        device = kwargs.get("device")
        non_blocking = kwargs.get("non_blocking", False)
        if device is None and args:
            arg = args[0]
            if isinstance(arg, torch.dtype):
                pass
            elif isinstance(arg, (str, int, torch.device)):
                device = arg
            else:
                raise ValueError(f"Attempting to cast a BatchFeature to type {arg}. This is not supported.")

        def move(value):
            if isinstance(value, torch.Tensor) and torch.is_floating_point(value):
                return value.to(*args, **kwargs)
            if isinstance(value, torch.Tensor) and device is not None:
                return value.to(device=device, non_blocking=non_blocking)
            return value

        self.data = {k: move(v) for k, v in self.items()}
        return self


def _tensor_functions(tensor_type: TensorType):
    """(as_tensor, is_tensor) for PyTorch or NumPy."""
    if tensor_type == TensorType.PYTORCH:
        import torch

        def as_torch(value):
            if isinstance(value, (list, tuple)) and value:
                first = value[0]
                if isinstance(first, np.ndarray) or (isinstance(first, (list, tuple)) and first
                                                     and isinstance(first[0], np.ndarray)):
                    value = np.array(value)
            if isinstance(value, np.ndarray):
                return torch.from_numpy(value)
            return torch.tensor(value)

        return as_torch, torch.is_tensor
    if tensor_type == TensorType.NUMPY:
        def as_numpy(value, dtype=None):
            if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
                if len({len(v) for v in value}) > 1 and dtype is None:
                    value = as_numpy([np.asarray(v) for v in value], dtype=object)
            return np.asarray(value, dtype=dtype)

        return as_numpy, lambda value: isinstance(value, np.ndarray)
    raise ValueError(f"return_tensors={tensor_type.value!r} is not supported by henkan: use 'pt' (PyTorch) or 'np' "
                     "(NumPy).")


def resolve_preprocessor_file(name_or_path, filename: str = PREPROCESSOR_FILE, what: str = "preprocessor",
                              **hub) -> str:
    """The path of the settings file of a folder, file or Hub id: `filename`, else a 5.x `processor_config.json`."""
    name = os.fspath(name_or_path)
    if os.path.isfile(name):
        return name
    for candidate in dict.fromkeys((filename, PROCESSOR_FILE)):
        path = resolve_file(name, candidate, required=False, **hub)
        if path is not None:
            return path
    raise OSError(f"Can't load {what} for '{name}': it has no {filename} (nor {PROCESSOR_FILE}). Point to a folder "
                  f"saved with save_pretrained(), to the JSON file itself, or to the Hub id of a model that has one.")


class PreprocessorMixin(PushToHubMixin):
    """Settings as attributes, read from and written to `preprocessor_config.json`; the JSON repr of the reference.

    Subclasses name the key recording their class (`_type_key`) and the section of a 5.x `processor_config.json`
    holding their settings (`_sections`)."""

    _type_key = "feature_extractor_type"
    _sections: tuple[str, ...] = ("feature_extractor",)
    _transient: tuple[str, ...] = ()  # derived attributes that are not settings (not saved)
    _auto_class = None

    def __init__(self, **kwargs):
        self._processor_class = kwargs.pop("processor_class", None)
        for key, value in kwargs.items():
            try:
                setattr(self, key, value)
            except AttributeError as err:
                raise AttributeError(f"Can't set {key} with value {value!r} for {type(self).__name__}") from err

    def _set_processor_class(self, processor_class: str) -> None:
        self._processor_class = processor_class

    # --- loading

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, cache_dir=None, force_download: bool = False,
                        local_files_only: bool = False, token=None, revision: str = "main", **kwargs):
        """Load the settings saved in a folder (or Hub id, or JSON file); `kwargs` naming settings override them."""
        hub = {"cache_dir": cache_dir, "force_download": force_download, "local_files_only": local_files_only,
               "token": token, "revision": revision, **pop_hub_kwargs(kwargs)}
        config, kwargs = cls.get_config_dict(pretrained_model_name_or_path, **hub, **kwargs)
        return cls.from_dict(config, **kwargs)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs) -> tuple[dict, dict]:
        """(the saved settings, the kwargs that are not download options)."""
        hub = pop_hub_kwargs(kwargs)
        for key in ("_from_pipeline", "_from_auto", "trust_remote_code"):
            kwargs.pop(key, None)
        filename = kwargs.pop("image_processor_filename", PREPROCESSOR_FILE)
        path = resolve_preprocessor_file(pretrained_model_name_or_path, filename, cls._what(), **hub)
        return section_of(read_json(path), cls._sections, path), kwargs

    get_feature_extractor_dict = get_config_dict
    get_image_processor_dict = get_config_dict

    @classmethod
    def _what(cls) -> str:
        return cls._type_key.replace("_type", "").replace("_", " ")

    @classmethod
    def from_dict(cls, config: dict[str, Any], **kwargs):
        """Build from saved settings; `kwargs` naming settings override them (`return_unused_kwargs=True` also
        returns the others)."""
        config = dict(config)
        return_unused = kwargs.pop("return_unused_kwargs", False)
        for key in list(kwargs):
            if key in config:
                config[key] = kwargs.pop(key)
        obj = cls(**config)
        return (obj, kwargs) if return_unused else obj

    @classmethod
    def from_json_file(cls, json_file):
        return cls(**read_json(json_file))

    # --- saving

    def to_dict(self) -> dict[str, Any]:
        """The settings, as saved (with the class name under `feature_extractor_type` / `image_processor_type`)."""
        output = {key: copy.deepcopy(value) for key, value in self.__dict__.items()
                  if not key.startswith("_") and key not in self._transient}
        output[self._type_key] = type(self).__name__
        return output

    def to_json_string(self) -> str:
        settings = self.to_dict()
        if self._processor_class is not None:
            settings["processor_class"] = self._processor_class
        return json.dumps(_jsonable(settings), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file_path) -> None:
        atomic_write_text(json_file_path, self.to_json_string())

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs) -> list[str]:
        """Write `preprocessor_config.json` into `save_directory` (made if missing); returns the files written."""
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            raise AssertionError(f"Provided path ({save_directory}) should be a directory, not a file")
        os.makedirs(save_directory, exist_ok=True)
        path = os.path.join(save_directory, PREPROCESSOR_FILE)
        self.to_json_file(path)
        if push_to_hub:
            upload_folder(save_directory, **{"commit_message": f"Upload {self._what()}", **pop_upload_kwargs(kwargs)})
        return [path]

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoFeatureExtractor") -> None:
        cls._auto_class = auto_class if isinstance(auto_class, str) else auto_class.__name__


def section_of(config: dict, sections: tuple[str, ...], path) -> dict:
    """A part's settings in a settings file: the file itself (4.x), or its section in a 5.x processor_config.json."""
    for section in sections:
        value = config.get(section)
        if isinstance(value, dict):
            return dict(value)
    return config


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
