"""Tokenizer folders: what `from_pretrained` reads and `save_pretrained` writes.

A folder saved by transformers 4.x holds tokenizer.json (the whole Rust tokenizer), tokenizer_config.json (the
init arguments and `tokenizer_class`), special_tokens_map.json and the vocabulary files of the model's original
tokenizer (vocab.txt, or vocab.json + merges.txt, ...); older folders may lack tokenizer.json or hold
added_tokens.json, and 5.x writes tokenizer.json and tokenizer_config.json only. `TokenizerFilesMixin` reads all of
these, and writes the 4.x layout, which 4.x and 5.x both load.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile

from tokenizers import AddedToken

from ..hub import PushToHubMixin, pop_hub_kwargs, pop_upload_kwargs, resolve_file, upload_folder
from ..logging import get_logger
from ..utils import read_json, remove_stale_temporaries
from .chat import list_chat_template_names, load_chat_templates, save_chat_templates

logger = get_logger(__name__)

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"

_MISSING = object()

# tokenizer classes by name, as tokenizer_config.json's "tokenizer_class" spells them: henkan's own (added as they
# are defined) and those given to AutoTokenizer.register
KNOWN_CLASSES: dict[str, type] = {}


class TokenizerFilesMixin(PushToHubMixin):
    """`from_pretrained` and `save_pretrained` of the tokenizers (part of `PreTrainedTokenizerBase`)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("henkan.") and not cls.__name__.startswith("_"):
            KNOWN_CLASSES[cls.__name__] = cls

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *init_inputs, cache_dir=None, force_download=False,
                        local_files_only=False, token=None, revision="main", trust_remote_code=False, **kwargs):
        """Load a tokenizer from a folder saved with `save_pretrained`, or from a Hub id (downloaded or cached).

        Keyword arguments override what the folder's tokenizer_config.json says (e.g. `padding_side="left"`).
        """
        hub = pop_hub_kwargs(kwargs)
        hub.update(cache_dir=cache_dir, force_download=force_download, local_files_only=local_files_only,
                   token=token, revision=revision)
        for key in ("_from_auto", "_from_pipeline", "from_slow", "gguf_file"):
            kwargs.pop(key, None)
        name = os.fspath(pretrained_model_name_or_path)
        wanted = {"tokenizer_config_file": TOKENIZER_CONFIG_FILE, "special_tokens_map_file": SPECIAL_TOKENS_MAP_FILE,
                  "added_tokens_file": ADDED_TOKENS_FILE, **cls.vocab_files_names}
        files = {key: resolve_file(name, filename, required=False, **hub) for key, filename in wanted.items()}
        files["chat_template"] = load_chat_templates(lambda rel: resolve_file(name, rel, required=False, **hub),
                                                     template_names=list_chat_template_names(name, **hub))
        if cls.vocab_files_names and not any(files[key] or kwargs.get(key) for key in cls.vocab_files_names):
            if not os.path.isdir(name):  # a Hub id: the hub says why (offline and not cached, no such file, ...)
                resolve_file(name, TOKENIZER_FILE, **hub)
            raise OSError(
                f"Can't load tokenizer for '{name}': looked for {', '.join(sorted(wanted.values()))} and found no "
                f"{' or '.join(cls.vocab_files_names.values())}, which a {cls.__name__} needs. Point to a folder "
                "saved with save_pretrained(), or a Hub id whose repository has them."
            )
        return cls._from_files(name, files, init_inputs, kwargs)

    @classmethod
    def _from_files(cls, name: str, files: dict, init_inputs: tuple, overrides: dict):
        config = _read_json(files["tokenizer_config_file"]) or {}
        saved_class = config.pop("tokenizer_class", None)
        for key in ("auto_map", "name_or_path", "special_tokens_map_file", *cls.vocab_files_names):
            config.pop(key, None)
        init_inputs = init_inputs or tuple(config.pop("init_inputs", ()))
        if files.get("chat_template") is not None:  # template files win over tokenizer_config.json
            config["chat_template"] = files["chat_template"]
        _warn_if_other_class(saved_class, cls)
        kwargs = {**config, **overrides}
        for key in cls.vocab_files_names:
            if files[key]:
                kwargs.setdefault(key, files[key])

        added: dict[int, AddedToken] = {}
        if "added_tokens_decoder" in config:
            added = parse_added_tokens(config["added_tokens_decoder"], f"{files['tokenizer_config_file']}: "
                                       "added_tokens_decoder", OSError)
        else:
            special_map = files["special_tokens_map_file"]
            for key, value in (read_json(special_map) if special_map else {}).items():
                if overrides.get(key):
                    continue
                if key == "additional_special_tokens" and isinstance(value, list):
                    value = list(kwargs.get(key) or []) + [
                        t for t in (_saved_token(v, special_map, key) for v in value)
                        if t not in (kwargs.get(key) or [])]
                    kwargs[key] = value
                else:
                    kwargs[key] = _saved_token(value, special_map, key)
            specials = {str(t) for k in cls.SPECIAL_TOKENS_ATTRIBUTES for t in _as_list(kwargs.get(k))}
            added_file = files["added_tokens_file"]
            for content, index in (read_json(added_file) if added_file else {}).items():
                if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                    raise OSError(f"{added_file}: the id of {content!r} must be a non-negative integer, got "
                                  f"{index!r}. Re-save the tokenizer with save_pretrained().")
                special = content in specials
                added[index] = AddedToken(content, rstrip=False, lstrip=False, normalized=not special, special=special)
            if files.get("tokenizer_file"):
                entries = read_json(files["tokenizer_file"]).get("added_tokens", [])
                where = f"{files['tokenizer_file']}: added_tokens"
                if not isinstance(entries, list) or not all(isinstance(e, dict) and "id" in e for e in entries):
                    raise OSError(f"{where} must be a list of objects with an \"id\" and the token's fields. "
                                  "Re-save the tokenizer with save_pretrained(), or re-download it.")
                added.update(parse_added_tokens({e["id"]: {k: v for k, v in e.items() if k != "id"} for e in entries},
                                                where, OSError))
        kwargs["added_tokens_decoder"] = added
        kwargs = _revive_added_tokens(kwargs)
        by_content = {str(t): t for t in added.values()}
        for key in cls.SPECIAL_TOKENS_ATTRIBUTES[:-1]:
            if kwargs.get(key) is not None:
                kwargs[key] = by_content.get(str(kwargs[key]), kwargs[key])
        kwargs["name_or_path"] = name
        try:
            tokenizer = cls(*init_inputs, **kwargs)
        except (TypeError, ValueError) as e:
            if type(e) not in (TypeError, ValueError):
                raise
            source = files["tokenizer_config_file"] or name
            raise type(e)(f"{e} (loading the tokenizer of {name}: the value comes from {source} or from the keyword "
                          "arguments of from_pretrained)") from e
        tokenizer.init_inputs = init_inputs
        return tokenizer

    # --- saving

    def save_pretrained(self, save_directory, legacy_format: bool | None = None, filename_prefix: str | None = None,
                        push_to_hub: bool = False, **kwargs) -> tuple[str, ...]:
        """Write the tokenizer to a folder `from_pretrained` (of henkan, transformers 4.x or 5.x) can load.

        Writes tokenizer_config.json and special_tokens_map.json, the vocabulary files (unless
        `legacy_format=False`) and tokenizer.json (unless `legacy_format=True`). Each file is written under a
        temporary name in the same folder and then moved in place, so a reader never sees half a file.
        Returns the paths written.
        """
        save_directory = os.fspath(save_directory)
        if os.path.isfile(save_directory):
            logger.error(f"Provided path ({save_directory}) should be a directory, not a file")
            return None
        os.makedirs(save_directory, exist_ok=True)
        remove_stale_temporaries(save_directory)
        special_tokens = {k: _token_to_json(v, with_type=False) for k, v in self.special_tokens_map_extended.items()}
        with tempfile.TemporaryDirectory(dir=save_directory, prefix=f".saving-{os.getpid()}-") as staging:
            config, template_files = save_chat_templates(staging, self.chat_template, self._config_to_save(),
                                                         filename_prefix=filename_prefix,
                                                         save_jinja_files=kwargs.pop("save_jinja_files", True))
            staged = [
                _write_json(_prefixed(staging, filename_prefix, TOKENIZER_CONFIG_FILE), config),
                _write_json(_prefixed(staging, filename_prefix, SPECIAL_TOKENS_MAP_FILE), special_tokens),
                *self._save_model_files(staging, legacy_format, filename_prefix),
                *template_files,
            ]
            written = []
            for path in staged:
                target = os.path.join(save_directory, os.path.relpath(path, staging))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(path, target)
                written.append(target)
        if push_to_hub:
            upload_folder(save_directory, **{"commit_message": "Upload tokenizer", **pop_upload_kwargs(kwargs)})
        return tuple(written)

    def _config_to_save(self) -> dict:
        """tokenizer_config.json in the layout of transformers 4.x, which 4.x and 5.x both load."""
        config = copy.deepcopy(self.init_kwargs)
        for key in {*self.init_kwargs, "model_max_length", "clean_up_tokenization_spaces"}:
            value = getattr(self, key, _MISSING)  # the current value of a setting, when it is an attribute
            if value is not _MISSING and not callable(value):
                config[key] = value
        config.update(self.special_tokens_map)
        if self.extra_special_tokens:
            config["extra_special_tokens"] = {k: str(v) for k, v in self.extra_special_tokens.items()}
        if self.init_inputs:
            config["init_inputs"] = list(self.init_inputs)
        for key in ("name_or_path", "special_tokens_map_file", "tokenizer_file", "device_map",
                    *self.vocab_files_names):
            config.pop(key, None)
        config["model_input_names"] = list(self.model_input_names)  # so that 5.x, whose defaults differ, agrees
        config = {k: _token_to_json(v) for k, v in config.items()}
        config["added_tokens_decoder"] = {str(i): t.__getstate__() for i, t in self.added_tokens_decoder.items()}
        config["tokenizer_class"] = self._saved_class_name()
        if self._processor_class is not None:
            config["processor_class"] = self._processor_class
        return config

    @property
    def _model_file_names(self) -> list[str]:
        """The vocabulary files of the model's original tokenizer (vocab.txt, ...), without tokenizer.json."""
        return [name for key, name in self.vocab_files_names.items() if key != "tokenizer_file"]

    # the model's files cannot be written from the Rust tokenizer (a SentencePiece model, Marian's vocabularies,
    # ...): they are copied from where the tokenizer was loaded
    _copies_files = False

    @property
    def can_save_slow_tokenizer(self) -> bool:
        """Whether the vocabulary files of the model's tokenizer can be written (copied ones need the originals)."""
        if self._copies_files:
            files = getattr(self, "_source_files", {})
            return bool(files) and all(os.path.isfile(path) for path in files.values())
        return bool(self._model_file_names)

    def _saved_class_name(self) -> str:
        name = type(self).__name__
        return name[:-4] if name.endswith("Fast") and self.can_save_slow_tokenizer else name

    def _save_model_files(self, directory: str, legacy_format: bool | None, filename_prefix: str | None) -> list[str]:
        written = []
        if legacy_format is not False and self.can_save_slow_tokenizer:
            written += self.save_vocabulary(directory, filename_prefix=filename_prefix)
            added = {t: i for t, i in self.get_added_vocab().items() if i >= self.vocab_size}
            if added:
                written.append(_write_json(_prefixed(directory, filename_prefix, ADDED_TOKENS_FILE), added))
        elif legacy_format is True:
            raise ValueError(f"{type(self).__name__} has no vocabulary-file format; save with legacy_format=None "
                             "or False (tokenizer.json).")
        if legacy_format is not True:
            path = _prefixed(directory, filename_prefix, TOKENIZER_FILE)
            self._tokenizer.no_truncation()  # the file carries no per-call settings
            self._tokenizer.no_padding()
            self._backend_state = None
            self._backend_to_save().save(path)
            written.append(path)
        return written

    def _backend_to_save(self):
        """The Rust tokenizer written to tokenizer.json (a family may write the one the reference's fast class
        expects)."""
        return self._tokenizer

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        """Write the vocabulary files of the model's tokenizer (vocab.txt, or vocab.json + merges.txt, ...)."""
        if self._copies_files:
            if not self.can_save_slow_tokenizer:
                raise ValueError("Your fast tokenizer does not have the necessary information to save the vocabulary "
                                 "for a slow tokenizer.")
            written = []
            for key, path in self._source_files.items():
                target = _prefixed(save_directory, filename_prefix, self.vocab_files_names[key])
                if os.path.abspath(path) != os.path.abspath(target):
                    shutil.copyfile(path, target)
                written.append(target)
            return tuple(written)
        return tuple(self._tokenizer.model.save(save_directory, name=filename_prefix))


def _warn_if_other_class(saved_class: str | None, cls: type) -> None:
    """The reference warns when a folder saved by one tokenizer class is loaded with another known one."""
    if saved_class in KNOWN_CLASSES \
            and saved_class.replace("Fast", "") != cls.__name__.replace("Fast", ""):
        logger.warning(
            "The tokenizer class you load from this checkpoint is not the same type as the class this function is "
            "called from. It may result in unexpected tokenization. \nThe tokenizer class you load from this "
            f"checkpoint is '{saved_class}'. \nThe class this function is called from is '{cls.__name__}'."
        )


def _prefixed(directory: str, filename_prefix: str | None, name: str) -> str:
    return os.path.join(directory, f"{filename_prefix}-{name}" if filename_prefix else name)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [] if value is None else [value]


def _read_json(path: str | None) -> dict | None:
    return None if path is None else read_json(path)


def _write_json(path: str, data) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path


_TOKEN_FIELDS = {"content": str, "single_word": bool, "lstrip": bool, "rstrip": bool, "normalized": bool,
                 "special": bool}


def parse_added_tokens(value, where: str, error: type = ValueError) -> dict[int, AddedToken]:
    """`added_tokens_decoder` ({id: AddedToken or its fields}, ids as ints or digit strings) as {int: AddedToken};
    a malformed one raises `error`, naming `where` (the file and key, or the argument) and the bad entry."""
    if not isinstance(value, dict):
        raise error(f"{where} must map token ids to tokens (an object), got {type(value).__name__}.")
    added = {}
    for key, token in value.items():
        try:
            index = int(key) if not isinstance(key, (bool, float)) else None
        except ValueError:
            index = None
        if index is None or index < 0:
            raise error(f"{where}: the key {key!r} is not a token id (a non-negative integer).")
        if not isinstance(token, AddedToken):
            token = _token_from_fields(token, f"{where}[{key!r}]", error)
        added[index] = token
    return added


def _token_from_fields(fields, where: str, error: type) -> AddedToken:
    if not isinstance(fields, dict) or not isinstance(fields.get("content"), str):
        raise error(f"{where} must be an AddedToken or an object with a string \"content\", got {fields!r:.80}.")
    for key, value in fields.items():
        if key not in _TOKEN_FIELDS or not isinstance(value, _TOKEN_FIELDS[key]):
            expected = f"a {_TOKEN_FIELDS[key].__name__}" if key in _TOKEN_FIELDS else \
                f"one of {sorted(_TOKEN_FIELDS)}"
            raise error(f"{where}: the field {key!r} = {value!r:.40} should be {expected}.")
    return AddedToken(**fields)


def _saved_token(value, path: str, key: str):
    """A special token as special_tokens_map.json spells it: a string, or a dict of AddedToken fields."""
    if isinstance(value, dict):
        return _token_from_fields({**value, "special": True}, f"{path}: {key}", OSError)
    if value is not None and not isinstance(value, str):
        raise OSError(f"{path}: {key} should be a token (a string or an object of token fields), got {value!r:.60}.")
    return value


def _token_to_json(value, with_type: bool = True):
    """AddedTokens (also inside lists and dicts) as JSON; `with_type` adds the reference's "__type" marker."""
    if isinstance(value, AddedToken):
        state = value.__getstate__()
        if with_type:
            return {**state, "__type": "AddedToken"}
        state.pop("special", None)
        return state
    if isinstance(value, (list, tuple)):
        return [_token_to_json(v, with_type) for v in value]
    if isinstance(value, dict):
        return {k: _token_to_json(v, with_type) for k, v in value.items()}
    return value


def _revive_added_tokens(value):
    """The inverse of `_token_to_json(with_type=True)`."""
    if isinstance(value, dict) and value.get("__type") == "AddedToken":
        return AddedToken(**{k: v for k, v in value.items() if k != "__type"})
    if isinstance(value, list):
        return [_revive_added_tokens(v) for v in value]
    if isinstance(value, dict):
        return {k: _revive_added_tokens(v) for k, v in value.items()}
    return value
