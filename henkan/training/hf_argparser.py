"""HfArgumentParser: command-line flags from dataclass fields (TrainingArguments and the script's own), as the
example scripts use it: `parser.parse_args_into_dataclasses()`, `parse_dict`, `parse_json_file`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from enum import Enum


def string_to_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if value.lower() in ("yes", "true", "t", "y", "1"):
        return True
    if value.lower() in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"Expected a boolean (true/false, yes/no, 1/0), got {value!r}.")


def _plain_type(kind):
    """The argparse type of a field annotation: Optional/Union collapse to their first non-None member, with str
    winning over an Enum (the dataclass checks the value)."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        members = [k for k in typing.get_args(kind) if k is not type(None)]
        return str if str in members else _plain_type(members[0])
    return kind


class HfArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser with one `--name` flag per init field of the given dataclasses (bools as `--name` /
    `--name false` and `--no_name` for those true by default; lists as several values; enums by value)."""

    def __init__(self, dataclass_types, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(**kwargs)
        self.dataclass_types = list(dataclass_types) if isinstance(dataclass_types, (list, tuple)) \
            else [dataclass_types]
        for kind in self.dataclass_types:
            hints = typing.get_type_hints(kind)
            for field in dataclasses.fields(kind):
                if field.init:
                    self._add_field(field, hints[field.name])

    def _add_field(self, field: dataclasses.Field, annotation) -> None:
        options = {k: v for k, v in field.metadata.items() if k != "aliases"}
        kind = _plain_type(annotation)
        origin = typing.get_origin(kind)
        if field.default is not dataclasses.MISSING:
            options["default"] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            options["default"] = field.default_factory()
        else:
            options["required"] = True
        if kind is bool:
            options.update(type=string_to_bool, nargs="?", const=True)
        elif isinstance(kind, type) and issubclass(kind, Enum):
            options.update(type=str, choices=[m.value for m in kind])
            if isinstance(options.get("default"), Enum):
                options["default"] = options["default"].value
        elif origin in (list, tuple):
            options.update(type=typing.get_args(kind)[0] if typing.get_args(kind) else str, nargs="+")
        elif kind in (int, float, str):
            options["type"] = kind
        else:  # dicts, Any: passed on as a string (JSON or a path, as TrainingArguments accepts)
            options["type"] = str
        self.add_argument(f"--{field.name}", *field.metadata.get("aliases", []), **options)
        if kind is bool and options.get("default") is True:
            self.add_argument(f"--no_{field.name}", action="store_false", dest=field.name)

    def _build(self, values: dict) -> list:
        out = []
        for kind in self.dataclass_types:
            names = {f.name for f in dataclasses.fields(kind) if f.init}
            out.append(kind(**{k: values.pop(k) for k in list(values) if k in names}))
        return out

    def parse_args_into_dataclasses(self, args=None, return_remaining_strings: bool = False,
                                    look_for_args_file: bool = True, args_filename=None, args_file_flag=None):
        """One instance per dataclass from the command line (`args`, default sys.argv); unknown flags are an
        error unless `return_remaining_strings`."""
        namespace, remaining = self.parse_known_args(args)
        values = vars(namespace)
        out = self._build(values)
        if values:
            out.append(argparse.Namespace(**values))
        if return_remaining_strings:
            return (*out, remaining)
        if remaining:
            raise ValueError(f"Some specified arguments are not used by the HfArgumentParser: {remaining}")
        return tuple(out)

    def parse_dict(self, args: dict, allow_extra_keys: bool = False) -> tuple:
        values = dict(args)
        out = self._build(values)
        if values and not allow_extra_keys:
            raise ValueError(f"Some keys are not used by the HfArgumentParser: {sorted(values)}")
        return tuple(out)

    def parse_json_file(self, json_file, allow_extra_keys: bool = False) -> tuple:
        with open(json_file, encoding="utf-8") as f:
            return self.parse_dict(json.load(f), allow_extra_keys=allow_extra_keys)
