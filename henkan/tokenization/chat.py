"""Chat templates: turning a conversation (a list of role/content messages) into the prompt text a chat model expects.

A chat template is a Jinja program shipped with a tokenizer. This module renders it in a locked-down Jinja
environment (sandboxed, immutable), with the options and helpers that chat templates published on the Hub are
written against, so that the text comes out byte for byte as the Transformers 4.x library renders it:

* `trim_blocks` / `lstrip_blocks`, `{% break %}` / `{% continue %}`, and a `{% generation %}` block that marks
  the assistant's text (for `return_assistant_tokens_mask`);
* the `tojson` filter writes plain JSON (non-ASCII kept, no HTML escaping) and takes `ensure_ascii`, `indent`,
  `separators` and `sort_keys`;
* `raise_exception(message)` aborts rendering with `ChatTemplateError`; `strftime_now(format)` gives the local time.

Rendering has a budget, because servers render templates and conversations they did not write: a wall-clock limit
and a size limit on what the template builds (`chat_template_limits`, or HENKAN_CHAT_TEMPLATE_SECONDS /
HENKAN_CHAT_TEMPLATE_MAX_CHARS; 1 s and 2**25 characters by default). Loops, calls and output are checked against
it, operations that would build a string or list past it are refused before they run, and a template that runs out
fails with `ChatTemplateLimitError` instead of hanging or exhausting memory.

It also holds `get_json_schema` (Python function -> tool schema), `ChatTemplateMixin` (the tokenizer's
`apply_chat_template` / `get_chat_template`), and the helpers that read and write a tokenizer folder's templates
(`chat_template.jinja`, `additional_chat_templates/*.jinja`, or the `chat_template` entry of tokenizer_config.json).

Jinja is imported on first use, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import inspect
import json
import os
import re
import sys
import time
import types
import typing
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from ..logging import get_logger

logger = get_logger(__name__)

CHAT_TEMPLATE_FILE = "chat_template.jinja"
CHAT_TEMPLATE_DIR = "additional_chat_templates"
SPECIAL_TOKEN_ATTRIBUTES = (
    "bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token",
    "additional_special_tokens",
)

# Appended to the text of the final message when continuing it, to find where that text ends in the output.
_CONTINUE_MARK = "CONTINUE_FINAL_MESSAGE_TAG "
_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")

__all__ = [
    "ChatTemplateError", "ChatTemplateMixin", "TypeHintParsingException", "DocstringParsingException",
    "get_json_schema", "render_chat_template", "render_chat_template_batch", "compile_chat_template",
    "load_chat_templates", "save_chat_templates", "list_chat_template_names", "normalize_chat_template",
    "CHAT_TEMPLATE_FILE", "CHAT_TEMPLATE_DIR", "ChatTemplateLimitError", "ChatTemplateLimits", "chat_template_limits",
    "set_chat_template_limits",
]


# --------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------


class TypeHintParsingException(ValueError):
    """A tool function has a type hint that cannot be written as JSON schema."""


class DocstringParsingException(ValueError):
    """A tool function's docstring lacks what `get_json_schema` needs (a description of every argument)."""


@functools.lru_cache(maxsize=None)
def _chat_template_error_class() -> type:
    from jinja2.exceptions import TemplateError

    class ChatTemplateError(TemplateError):
        """Raised by a chat template through `raise_exception(message)`: the template refuses the conversation.

        `str(error)` and `error.message` are the template's own message (e.g. "System role not supported").
        A subclass of `jinja2.exceptions.TemplateError`, so code catching that keeps working.
        """

    ChatTemplateError.__module__ = __name__
    ChatTemplateError.__qualname__ = "ChatTemplateError"
    return ChatTemplateError


@functools.lru_cache(maxsize=None)
def _limit_error_class() -> type:
    from jinja2.exceptions import TemplateError

    class ChatTemplateLimitError(TemplateError):
        """A chat template ran out of its budget: it did not finish within the time limit, would have built more
        than the size limit, or recursed too deeply. A subclass of `jinja2.exceptions.TemplateError`."""

    ChatTemplateLimitError.__module__ = __name__
    ChatTemplateLimitError.__qualname__ = "ChatTemplateLimitError"
    return ChatTemplateLimitError


def __getattr__(name: str):
    # The error classes subclass a Jinja class; they are created on first use so that importing
    # henkan.tokenization.chat does not import Jinja.
    if name == "ChatTemplateError":
        return _chat_template_error_class()
    if name == "ChatTemplateLimitError":
        return _limit_error_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------------------------
# The rendering budget
# --------------------------------------------------------------------------------------------------------------


class ChatTemplateLimits(typing.NamedTuple):
    """How long one rendering may take (seconds) and how large the strings and lists it builds, and its output,
    may grow (characters, or items)."""

    seconds: float
    max_chars: int


_limits = [ChatTemplateLimits(float(os.environ.get("HENKAN_CHAT_TEMPLATE_SECONDS", 1.0)),
                              int(os.environ.get("HENKAN_CHAT_TEMPLATE_MAX_CHARS", 2**25)))]
_scoped_limits: contextvars.ContextVar[ChatTemplateLimits | None] = contextvars.ContextVar("henkan_chat_limits",
                                                                                           default=None)


def _checked_limits(current: ChatTemplateLimits, seconds, max_chars) -> ChatTemplateLimits:
    seconds = current.seconds if seconds is None else seconds
    max_chars = current.max_chars if max_chars is None else max_chars
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"seconds must be a positive number, got {seconds!r}.")
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars <= 0:
        raise ValueError(f"max_chars must be a positive integer, got {max_chars!r}.")
    return ChatTemplateLimits(float(seconds), max_chars)


def set_chat_template_limits(seconds: float | None = None, max_chars: int | None = None) -> ChatTemplateLimits:
    """Set the budget of every chat template rendering in this process (None keeps a value); returns the old one."""
    old = _limits[0]
    _limits[0] = _checked_limits(old, seconds, max_chars)
    return old


@contextlib.contextmanager
def chat_template_limits(seconds: float | None = None, max_chars: int | None = None):
    """Within the block (this thread or task only), renderings have this budget (None keeps a value)."""
    token = _scoped_limits.set(_checked_limits(_scoped_limits.get() or _limits[0], seconds, max_chars))
    try:
        yield
    finally:
        _scoped_limits.reset(token)


class _Budget:
    """What one rendering may still spend: checked by the guards the template is compiled with."""

    __slots__ = ("deadline", "limits", "buffered", "cpu_start")

    def __init__(self, limits: ChatTemplateLimits):
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.cpu_start = time.thread_time()
        self.buffered = 0  # characters written into macro, call and set-block buffers

    def check_time(self) -> None:
        """Past the wall-clock limit, the rendering stops, unless its thread spent less than half of it working
        (a loaded machine that left it waiting, rather than a template that runs too long)."""
        if time.monotonic() > self.deadline and time.thread_time() - self.cpu_start >= self.limits.seconds / 2:
            raise _limit_error_class()(
                f"The chat template did not finish rendering within {self.limits.seconds:g} s (a loop that runs too "
                "long?); rendering was stopped. If the template is trusted and the conversation that long, raise "
                "the limit with henkan.tokenization.chat.chat_template_limits(seconds=...).")

    def refuse(self, what: str, size: int):
        raise _limit_error_class()(
            f"The chat template {what} of {size} characters or items, more than its memory budget of "
            f"{self.limits.max_chars} (a string or list that grows without bound?). If the template is trusted, raise "
            "the limit with henkan.tokenization.chat.chat_template_limits(max_chars=...).")

    def check_size(self, value, what: str = "built a value"):
        if isinstance(value, (str, list, tuple, dict)) and len(value) > self.limits.max_chars:
            self.refuse(what, len(value))
        return value

    def check_planned(self, size: int, what: str) -> None:
        if size > self.limits.max_chars:
            self.refuse(what, size)


_active_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("henkan_chat_budget", default=None)

_DIGITS = re.compile(r"\d+")


def _largest_number(text: str) -> int:
    """The largest number written in a format string (widths and precisions such as "%99999999s" or "{:>9999}")."""
    return max((int(d) for d in _DIGITS.findall(text) if len(d) < 30), default=0) if len(text) < 10**6 else 0


def _planned_size(obj, args: tuple, kwargs: dict) -> tuple[int, tuple]:
    """How large a str method called from a template would make its result (0 for the ones that cannot grow), and
    the arguments to call it with (what `join` joins, as a list, so that it can be counted first)."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    if not isinstance(owner, str):
        return 0, args
    name = getattr(target, "__name__", "")
    numbers = [v for v in (*args, *kwargs.values()) if isinstance(v, int)]
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(numbers, default=0), args
    if name == "expandtabs":
        return len(owner) * max(numbers, default=8), args
    if name in ("format", "format_map"):
        return max(_largest_number(owner), *numbers, 0), args
    if name == "join" and args:
        items = args[0] if hasattr(args[0], "__len__") else list(args[0])
        return len(owner) * len(items), (items, *args[1:])
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        found = owner.count(args[0]) if args[0] else len(owner) + 1
        return len(owner) + found * len(args[1]), args
    return 0, args


def _size_of_filter(name: str, value, args: tuple, kwargs: dict) -> int:
    """How large a growing Jinja filter would make its result, before it runs."""
    def arg(i, key, default):
        return args[i] if len(args) > i else kwargs.get(key, default)

    def length(v):
        return len(v) if hasattr(v, "__len__") else 0

    if name == "center":
        return arg(0, "width", 80)
    if name == "indent":
        width = arg(0, "width", 4)
        width = len(width) if isinstance(width, str) else width
        return length(value) + (str(value).count("\n") + 1) * width if isinstance(width, int) else 0
    if name == "wordwrap":
        wrap = arg(2, "wrapstring", None) or "\n"
        return length(value) * (1 + length(wrap))
    if name in ("batch", "slice"):
        return arg(0, "linecount" if name == "batch" else "slices", 0)
    if name == "format":
        numbers = [v for v in (*args, *kwargs.values()) if isinstance(v, int)]
        return max(_largest_number(value) if isinstance(value, str) else 0, *numbers, 0)
    if name == "join":
        return length(value) * length(arg(0, "d", ""))
    if name == "replace":
        old, new = arg(0, "old", None), arg(1, "new", None)
        if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
            return length(value) + (value.count(old) if old else length(value) + 1) * len(new)
    if name == "tojson":
        indent = arg(1, "indent", None)
        indent = len(indent) if isinstance(indent, str) else indent
        if isinstance(indent, int) and indent > 0:
            return len(json.dumps(value, default=str)) * (1 + indent)
    return 0


_GROWING_FILTERS = ("center", "indent", "wordwrap", "batch", "slice", "format", "join", "replace", "tojson")


def _guarded_filter(name: str, func):
    """`func` (a Jinja filter that can build a large result from a small input) refusing results past the budget
    before it builds them, and checking what it built."""
    skip = 1 if hasattr(func, "jinja_pass_arg") else 0  # the environment or evaluation context comes first

    @functools.wraps(func)
    def guarded(*args, **kwargs):
        budget = _active_budget.get()
        if budget is None:
            return func(*args, **kwargs)
        if len(args) > skip and name == "join" and not hasattr(args[skip], "__len__"):
            args = (*args[:skip], list(args[skip]), *args[skip + 1:])
        if len(args) > skip:
            budget.check_planned(_size_of_filter(name, args[skip], args[skip + 1:], kwargs),
                                 f"asked the '{name}' filter for a result")
        result = func(*args, **kwargs)
        return result if name in ("batch", "slice") else budget.check_size(result, f"built with '{name}' a value")

    return guarded


# --------------------------------------------------------------------------------------------------------------
# Tool functions -> JSON schema
# --------------------------------------------------------------------------------------------------------------

_ARG_LINE = re.compile(r"\s*(\w+):")
_ARGS_HEADER = re.compile(r"\n\s*Args:\n")
_RETURNS_HEADER = re.compile(r"\n\s*Returns:\n")
_CHOICES_OPEN = re.compile(r"\(choices:", re.IGNORECASE)
_LINE_BREAKS = re.compile(r"\s*\n+\s*")


def _cut_at_first(text: str, markers: Iterable[str]) -> str:
    positions = [p for p in (text.find(m) for m in markers) if p >= 0]
    return text[: min(positions)] if positions else text


def _section(doc: str, header: re.Pattern, stops: tuple[str, ...]) -> str | None:
    found = header.search(doc)
    if found is None:
        return None
    return _cut_at_first(doc[found.end():], stops).strip()


def _parse_arg_descriptions(block: str) -> dict[str, str]:
    """`name: text` lines start an argument; other lines continue the current one (a bare `name:` always takes
    the next line as its text)."""
    entries: list[tuple[str, list[str]]] = []
    take_next = False
    for line in block.split("\n"):
        if not line.strip():
            continue
        match = None if take_next else _ARG_LINE.match(line)
        if match is not None:
            rest = line[match.end():]
            entries.append((match.group(1), [rest]))
            take_next = not rest.strip()
        else:
            if entries:
                entries[-1][1].append(line)
            take_next = False
    return {name: _LINE_BREAKS.sub(" ", "\n".join(parts).strip()) for name, parts in entries}


def parse_google_format_docstring(docstring: str) -> tuple[str | None, dict[str, str], str | None]:
    """Split a Google-style docstring into (summary, {argument: description}, description of the return value)."""
    summary = _cut_at_first(docstring, ("Args:", "Returns:", "Raises:")).strip()
    args_block = _section(docstring, _ARGS_HEADER, ("Returns:", "Raises:"))
    returns = _section(docstring, _RETURNS_HEADER, ("Raises:",))
    arguments = _parse_arg_descriptions(args_block) if args_block is not None else {}
    return summary, arguments, returns


def _basic_type_schema(hint) -> dict:
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is type(None):
        return {"type": "null"}
    if hint is Any:
        return {}
    pil_image = sys.modules.get("PIL.Image")
    if pil_image is not None and hint is getattr(pil_image, "Image", None):
        return {"type": "image"}
    torch = sys.modules.get("torch")
    if torch is not None and hint is getattr(torch, "Tensor", None):
        return {"type": "audio"}
    # Any other class (a bare `list`, a dataclass, ...) is described as a JSON object, as the reference does.
    return {"type": "object"}


def _all_single_types(members: list[dict], hint) -> bool:
    """Whether every member of a Union is one plain JSON type (then the Union is a list of type names)."""
    for member in members:
        if "type" not in member:
            raise TypeHintParsingException(
                f"Cannot write the type hint {hint} as JSON schema: `Any` inside a Union with other types has no "
                "JSON schema type. Use `Any` alone, or list the accepted types."
            )
        if not isinstance(member["type"], str):
            return False
    return True


def _hint_schema(hint) -> dict:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None:
        return _basic_type_schema(hint)
    if origin is typing.Union or origin is getattr(types, "UnionType", None):
        members = [_hint_schema(a) for a in args if a is not type(None)]
        if len(members) == 1:
            schema = members[0]
        elif _all_single_types(members, hint):
            schema = {"type": sorted(m["type"] for m in members)}
        else:
            schema = {"anyOf": members}
        if type(None) in args:
            schema["nullable"] = True
        return schema
    if origin is typing.Literal and args:
        json_types: list[str] = []
        for value in args:
            if type(value) not in (int, float, str, bool, type(None)):
                raise TypeHintParsingException(
                    f"Literal values must be int, float, str, bool or None to be written as JSON; got {value!r} "
                    f"in {hint}."
                )
            name = _basic_type_schema(type(value))["type"]
            if name not in json_types:
                json_types.append(name)
        return {"type": json_types[0] if len(json_types) == 1 else json_types, "enum": list(args)}
    if origin is list:
        return {"type": "array", "items": _hint_schema(args[0])} if args else {"type": "array"}
    if origin is tuple:
        if not args:
            return {"type": "array"}
        if len(args) == 1:
            raise TypeHintParsingException(
                f"The type hint {hint} is a tuple of exactly one element, which is not converted to JSON schema. "
                "Use list[...] if it can hold several items, or drop the tuple if it is a single value."
            )
        if ... in args:
            raise TypeHintParsingException(
                f"The type hint {hint} is a variable-length tuple (`...`), which is not converted to JSON schema. "
                "Use list[...] for variable-length inputs."
            )
        return {"type": "array", "prefixItems": [_hint_schema(a) for a in args]}
    if origin is dict:
        schema = {"type": "object"}
        if len(args) == 2:
            schema["additionalProperties"] = _hint_schema(args[1])
        return schema
    raise TypeHintParsingException(
        f"Cannot write the type hint {hint} as JSON schema (it is likely a custom or unsupported generic type). "
        "Use int, float, str, bool, Literal, list, tuple, dict, Optional/Union of these, or pass a hand-written "
        "JSON schema dict as the tool instead of the function."
    )


def _parameters_schema(func: Callable) -> dict:
    name = getattr(func, "__name__", repr(func))
    try:
        hints = typing.get_type_hints(func)
    except Exception as e:  # an annotation naming something undefined, etc.
        raise TypeHintParsingException(f"Cannot read the type hints of {name}: {e}") from e
    required = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeHintParsingException(
                f"Cannot write a JSON schema for {name}: *{param.name} / **{param.name} arguments have no JSON "
                "schema equivalent. Give the tool explicit named arguments."
            )
        if param.annotation is inspect.Parameter.empty:
            raise TypeHintParsingException(f"Argument {param.name} is missing a type hint in function {name}")
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    properties = {arg: _hint_schema(hint) for arg, hint in hints.items()}
    schema: dict = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def get_json_schema(func: Callable) -> dict:
    """The tool schema of a Python function, from its type hints and Google-style docstring.

    The function needs a docstring with a summary and an `Args:` section describing every argument, and a type
    hint on every argument. A description may end with `(choices: [...])` (a JSON list), which becomes an `enum`.
    A `Returns:` section and a return type hint are optional and go under "return".

        >>> def multiply(a: float, b: float = 1.0):
        ...     '''Multiply two numbers.
        ...
        ...     Args:
        ...         a: the first factor
        ...         b: the second factor
        ...     '''
        >>> get_json_schema(multiply)["function"]["parameters"]["required"]
        ['a']

    The result has the shape {"type": "function", "function": {"name", "description", "parameters"}} that chat
    templates expect in `tools`.
    """
    name = getattr(func, "__name__", repr(func))
    doc = inspect.getdoc(func)
    if not doc:
        raise DocstringParsingException(f"Cannot generate JSON schema for {name} because it has no docstring!")
    summary, descriptions, returns_doc = parse_google_format_docstring(doc.strip())
    parameters = _parameters_schema(func)
    return_schema = parameters["properties"].pop("return", None)
    if return_schema is not None and returns_doc is not None:
        return_schema["description"] = returns_doc
    for arg, schema in parameters["properties"].items():
        if arg not in descriptions:
            raise DocstringParsingException(
                f"Cannot generate JSON schema for {name} because the docstring has no description for the "
                f"argument '{arg}'"
            )
        text = descriptions[arg]
        if text.rstrip().endswith(")"):
            opening = _CHOICES_OPEN.search(text)
            if opening is not None:
                payload = text[opening.end(): len(text.rstrip()) - 1].strip()
                try:
                    choices = json.loads(payload)
                except ValueError as e:
                    raise DocstringParsingException(
                        f"The `(choices: ...)` of argument '{arg}' of {name} is not a JSON list: {payload!r}"
                    ) from e
                if not isinstance(choices, list):
                    raise DocstringParsingException(
                        f"The `(choices: ...)` of argument '{arg}' of {name} must be a JSON list, got {payload!r}"
                    )
                schema["enum"] = [c.strip() if isinstance(c, str) else c for c in choices]
                text = text[: opening.start()].strip()
        schema["description"] = text
    function = {"name": name, "description": summary, "parameters": parameters}
    if return_schema is not None:
        function["return"] = return_schema
    return {"type": "function", "function": function}


# --------------------------------------------------------------------------------------------------------------
# The Jinja environment
# --------------------------------------------------------------------------------------------------------------


class _GenerationSpans:
    """Where `{% generation %}` blocks land in the text being rendered (character offsets)."""

    __slots__ = ("offset", "spans")

    def __init__(self):
        self.offset = 0
        self.spans: list[tuple[int, int]] = []


_active_spans: contextvars.ContextVar[_GenerationSpans | None] = contextvars.ContextVar("henkan_chat_spans",
                                                                                         default=None)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise_exception(message):
    raise _chat_template_error_class()(message)


def _strftime_now(format):  # noqa: A002 - the name templates use
    return datetime.now().strftime(format)


class _DictMaker:
    """What templates see as `dict`: it builds dicts (`dict(a=1)`, `dict.fromkeys(...)`) and is nothing else."""

    def __call__(self, *args, **kwargs):
        return dict(*args, **kwargs)

    def fromkeys(self, *args, **kwargs):
        return dict.fromkeys(*args, **kwargs)


@functools.lru_cache(maxsize=None)
def _environment():
    import jinja2
    import jinja2.ext
    import jinja2.nodes
    import jinja2.utils
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class GenerationExtension(jinja2.ext.Extension):
        """`{% generation %}...{% endgeneration %}`: renders its body and, while spans are being recorded,
        notes where that text starts and ends in the output."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return jinja2.nodes.CallBlock(self.call_method("_mark"), [], [], body).set_lineno(lineno)

        def _mark(self, caller):
            text = caller()
            recorder = _active_spans.get()
            if recorder is not None:
                recorder.spans.append((recorder.offset, recorder.offset + len(text)))
            return text

    class SafeNamespace(jinja2.utils.Namespace):
        """`namespace(...)` that refuses attribute names starting with an underscore."""

        def __init__(*args, **kwargs):  # noqa: N805 - `self` may be a keyword of namespace(), as in Jinja
            self, args = args[0], args[1:]
            values = dict(*args, **kwargs)
            for key in values:
                SafeNamespace._check(key)
            jinja2.utils.Namespace.__init__(self, values)

        def __setitem__(self, key, value):
            SafeNamespace._check(key)
            jinja2.utils.Namespace.__setitem__(self, key, value)

        @staticmethod
        def _check(key):
            if isinstance(key, str) and key.startswith("_"):
                raise SecurityError(f"A chat template may not set the namespace attribute {key!r} (names starting "
                                    "with an underscore are reserved).")

    class ChatEnvironment(ImmutableSandboxedEnvironment):
        """The immutable sandbox, except that touching an unsafe attribute fails at once (Jinja's sandbox hands
        back an undefined value that only fails when used, so `{{ x.__class__ }}` would print nothing), and that
        calls and the operators that can build large values (`*`, `%`, `**`) are held to the rendering budget."""

        intercepted_binops = frozenset({"*", "%", "**"})

        def unsafe_undefined(self, obj, attribute):
            raise SecurityError(
                f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe: chat templates run "
                "in a sandbox and cannot reach Python internals or modify their inputs."
            )

        def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - names as in Jinja's
            budget = _active_budget.get()
            if budget is None:
                return super().call(__context, __obj, *args, **kwargs)
            budget.check_time()
            size, args = _planned_size(__obj, args, kwargs)
            budget.check_planned(size, "asked a string method for a result")
            return budget.check_size(super().call(__context, __obj, *args, **kwargs), "built a value")

        def call_binop(self, context, operator, left, right):
            budget = _active_budget.get()
            if budget is not None:
                if operator == "*":
                    for seq, n in ((left, right), (right, left)):
                        if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                            budget.check_planned(len(seq) * n, "asked for a repetition")
                elif operator == "%" and isinstance(left, str):
                    numbers = [v for v in (right if isinstance(right, tuple) else (right,)) if isinstance(v, int)]
                    budget.check_planned(max(_largest_number(left), *numbers, 0), "asked for a formatted string")
                elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
                    budget.check_planned(right * max(abs(left).bit_length() - 1, 0) // 3, "asked for a number")
            return super().call_binop(context, operator, left, right)

    env = ChatEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[GenerationExtension, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    for name in _GROWING_FILTERS:
        env.filters[name] = _guarded_filter(name, env.filters[name])
    env.filters.update({_LOOP: jinja2.pass_context(_budget_loop), _SIZE: jinja2.pass_context(_budget_size),
                        _OUT: jinja2.pass_context(_budget_out)})
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["namespace"] = SafeNamespace
    env.globals["dict"] = _DictMaker()
    env.globals["lipsum"] = _guarded_lipsum(env.globals["lipsum"])
    return env


# the guards compiled into every template (see _guard_template); they take the context (pass_context), which keeps
# Jinja from running them at compile time on constant arguments
_LOOP, _SIZE, _OUT = "henkan_budget_loop", "henkan_budget_size", "henkan_budget_out"


def _budget_loop(context, iterable):
    """What a `{% for %}` loop iterates: the time limit is checked as the loop starts, and at each item of a long
    or unsized iterable (a short loop's items add little between the checks of the loops and calls around it)."""
    budget = _active_budget.get()
    if budget is None:
        return iterable
    budget.check_time()
    if isinstance(iterable, (list, tuple, dict, str)) and len(iterable) <= _SHORT_LOOP:
        return iterable
    return _ticking(iterable, budget)


_SHORT_LOOP = 1000


def _ticking(iterable, budget: _Budget):
    deadline, now = budget.deadline, time.monotonic
    for item in iterable:
        if now() > deadline:
            budget.check_time()
        yield item


def _budget_size(context, value):
    """A value assigned with `{% set %}` / `{% with %}` or captured by a set block, held to the size limit."""
    budget = _active_budget.get()
    return value if budget is None else budget.check_size(value, "assigned a value")


def _budget_out(context, value):
    """Output written into a buffer (a macro's, a call or filter block's, a set block's): counted, because such a
    buffer is joined into one string only at its end."""
    budget = _active_budget.get()
    if budget is not None and hasattr(value, "__len__"):
        budget.buffered += len(value)
        budget.check_planned(budget.buffered, "wrote into macros and blocks a total")
    return value


def _guarded_lipsum(lipsum):
    @functools.wraps(lipsum)
    def guarded(n=5, html=True, min=20, max=100):  # noqa: A002 - Jinja's names
        budget = _active_budget.get()
        if budget is not None and isinstance(n, int) and isinstance(max, int):
            budget.check_planned(n * max * 12, "asked lipsum for a text")
        return lipsum(n, html, min, max)
    return guarded


def _guard_template(ast):
    """Compile the budget checks into a parsed template: every `{% for %}` iterates through the time check, every
    assigned value passes the size check, and output written into buffers is counted."""
    from jinja2 import nodes
    from jinja2.visitor import NodeTransformer

    def guard(name: str, node):
        return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno if node is not None else 1)

    class Guard(NodeTransformer):
        buffered = 0  # how many buffered bodies (macros, call/filter/set blocks, recursive loops) enclose a node

        def _in_buffer(self, node):
            self.buffered += 1
            try:
                return self.generic_visit(node)
            finally:
                self.buffered -= 1

        visit_Macro = visit_CallBlock = visit_FilterBlock = _in_buffer

        def visit_AssignBlock(self, node):
            node = self._in_buffer(node)
            node.filter = guard(_SIZE, node.filter)
            return node

        def visit_For(self, node):
            node = self._in_buffer(node) if node.recursive else self.generic_visit(node)
            node.iter = guard(_LOOP, node.iter)
            return node

        def visit_Assign(self, node):
            node = self.generic_visit(node)
            node.node = guard(_SIZE, node.node)
            return node

        def visit_With(self, node):
            node = self.generic_visit(node)
            node.values = [guard(_SIZE, value) for value in node.values]
            return node

        def visit_Output(self, node):
            node = self.generic_visit(node)
            if self.buffered:
                node.nodes = [guard(_OUT, child) for child in node.nodes]
            return node

    return Guard().visit(ast)


@functools.lru_cache(maxsize=128)
def compile_chat_template(template: str):
    """The compiled `jinja2.Template` of a chat template, with the budget checks compiled in (cached: compiling
    the same string again is free)."""
    if not isinstance(template, str):
        raise TypeError(f"A chat template is a string of Jinja source, got {type(template).__name__}.")
    env = _environment()
    # Jinja evaluates filters on constants while compiling ("{{ 'a'|center(10**10) }}"): under a budget too
    token = _active_budget.set(_Budget(_scoped_limits.get() or _limits[0]))
    try:
        code = env.compile(_guard_template(env.parse(template)))
    except RecursionError:
        raise _limit_error_class()("The chat template is nested too deeply to compile (brackets or blocks "
                                   "nested thousands of levels deep?).") from None
    finally:
        _active_budget.reset(token)
    return env.template_class.from_code(env, code, env.make_globals(None), None)


# --------------------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------------------


def _tool_schemas(tools) -> list[dict] | None:
    if tools is None:
        return None
    schemas = []
    for tool in tools:
        if isinstance(tool, dict):
            schemas.append(tool)
        elif inspect.isfunction(tool):
            schemas.append(get_json_schema(tool))
        else:
            raise ValueError(
                f"Each tool must be a JSON schema dict or a plain Python function (with type hints and a Google-style "
                f"docstring, converted by get_json_schema); got {type(tool).__name__}."
            )
    return schemas


def _messages_of(conversation):
    return conversation.messages if hasattr(conversation, "messages") else conversation


def _mark_final_message(chat) -> tuple[list, str]:
    """A copy of `chat` whose final text carries the continuation mark, and the final text as it was."""
    if not chat:
        raise ValueError("continue_final_message is set but the conversation is empty: there is no message to "
                         "continue.")
    chat = copy.deepcopy(list(chat))
    last = chat[-1]
    content = last.get("content") if isinstance(last, Mapping) else None
    if isinstance(content, (list, tuple)):
        for block in reversed(content):
            if isinstance(block, Mapping) and "text" in block:
                original = block["text"]
                block["text"] = original + _CONTINUE_MARK
                return chat, original
        raise ValueError("continue_final_message is set but the final message has no text block to continue.")
    if not isinstance(content, str):
        raise ValueError(
            "continue_final_message is set but the final message has no text content to continue "
            f"(its 'content' is {type(content).__name__})."
        )
    last["content"] = content + _CONTINUE_MARK
    return chat, content


def _cut_after_final_message(rendered: str, original: str) -> str:
    mark = _CONTINUE_MARK.strip()
    if original.strip() not in rendered or mark not in rendered:
        raise ValueError(
            "continue_final_message is set but the final message does not appear in the rendered chat: the chat "
            "template dropped or changed it (e.g. it does not render messages of that role). Check that the "
            "template renders the final message, or use add_generation_prompt instead."
        )
    at = rendered.rindex(mark)
    if rendered.startswith(_CONTINUE_MARK, at):
        return rendered[:at]
    # The template stripped the text's trailing space (and the mark's with it): cut any space before the mark too.
    return rendered[:at].rstrip()


def _render_all(template: str, conversations, *, tools, documents, add_generation_prompt: bool,
                continue_final_message: bool, record_generation: bool, extra: dict):
    if add_generation_prompt and continue_final_message:
        raise ValueError(
            "add_generation_prompt and continue_final_message cannot both be set: add_generation_prompt opens a new "
            "assistant message, continue_final_message leaves the final message open for the model to continue."
        )
    if record_generation and not _GENERATION_TAG.search(template):
        logger.warning_once(
            "return_assistant_tokens_mask=True, but this chat template has no {% generation %} block marking the "
            "assistant's text, so the assistant mask will be all zeros."
        )
    compiled = compile_chat_template(template)
    tool_schemas = _tool_schemas(tools)
    if documents is not None:
        for document in documents:
            if not isinstance(document, dict):
                raise TypeError("Documents should be a list of dicts with 'title' and 'text' keys!")
    texts, all_spans = [], []
    limits = _scoped_limits.get() or _limits[0]
    for i, conversation in enumerate(conversations):
        chat = _messages_of(conversation)
        _check_conversation(chat, f"conversation[{i}]" if len(conversations) > 1 else "conversation")
        if continue_final_message:
            chat, original = _mark_final_message(chat)
        variables = dict(extra, messages=chat, tools=tool_schemas, documents=documents,
                         add_generation_prompt=add_generation_prompt)
        recorder = _GenerationSpans() if record_generation else None
        text = _render_within(compiled, variables, _Budget(limits), recorder)
        if record_generation:
            all_spans.append(recorder.spans)
        if continue_final_message:
            text = _cut_after_final_message(text, original)
        texts.append(text)
    return texts, all_spans


def _render_within(compiled, variables: dict, budget: _Budget, recorder: _GenerationSpans | None) -> str:
    """Render with `budget` active: the output is counted piece by piece, and running out of stack is reported as
    the template's recursion."""
    budget_token = _active_budget.set(budget)
    spans_token = _active_spans.set(recorder)
    limit = budget.limits.max_chars
    parts, size = [], 0
    append = parts.append
    try:
        pieces = compiled.root_render_func(compiled.new_context(variables))
        if recorder is None:
            for piece in pieces:  # (loops and calls check the time)
                append(piece)
                size += len(piece)
                if size > limit:
                    budget.refuse("wrote an output", size)
        else:
            for piece in pieces:
                append(piece)
                size += len(piece)
                if size > limit:
                    budget.refuse("wrote an output", size)
                recorder.offset += len(piece)
    except RecursionError:
        raise _limit_error_class()("The chat template recursed too deeply (a macro or recursive loop that calls "
                                   "itself without end?); rendering was stopped.") from None
    except MemoryError:
        raise _limit_error_class()("The chat template ran out of memory (a string or list that grows without "
                                   "bound?); rendering was stopped.") from None
    except Exception:
        compiled.environment.handle_exception()  # re-raises with the template's lines in the traceback
    finally:
        _active_spans.reset(spans_token)
        _active_budget.reset(budget_token)
    return "".join(parts)


_PLAIN_CONTENT = (str, type(None))


def _check_conversation(chat, name: str) -> None:
    """A conversation is a list of messages: dicts with a string "role" and, if any, a "content" that is a string,
    a list of typed parts (dicts), a dict (a tool's result) or None (an assistant message that only calls tools)."""
    if not isinstance(chat, (list, tuple)):
        raise TypeError(f"{name} must be a list of messages (dicts with 'role' and 'content'), got "
                        f"{type(chat).__name__}.")
    try:  # the common case, quickly; then each message, to name the first that is wrong
        if all([type(message["role"]) is str and type(message.get("content")) in _PLAIN_CONTENT
                for message in chat]):
            return
    except (TypeError, KeyError, AttributeError):
        pass
    for j, message in enumerate(chat):
        where = f"{name}[{j}]"
        if not isinstance(message, Mapping):
            raise TypeError(f"{where} must be a message: a dict with 'role' and 'content', got "
                            f"{type(message).__name__} ({str(message)[:40]!r}).")
        if not isinstance(message.get("role"), str):
            raise ValueError(f"{where}['role'] must be a string such as 'user' or 'assistant', got "
                             f"{message.get('role')!r:.40}.")
        content = message.get("content")
        if content is None or isinstance(content, (str, Mapping)):  # (a dict: a tool's structured result)
            continue
        if not isinstance(content, (list, tuple)):
            raise TypeError(f"{where}['content'] must be a string or a list of parts such as "
                            f"{{'type': 'text', 'text': ...}}, got {type(content).__name__} ({str(content)[:40]!r}).")
        for k, part in enumerate(content):
            if not isinstance(part, Mapping):
                raise TypeError(f"{where}['content'][{k}] must be a part such as {{'type': 'text', 'text': ...}}, "
                                f"got {type(part).__name__} ({str(part)[:40]!r}).")


def _check_reserved(extra: dict) -> None:
    clash = {"messages", "tools", "documents", "add_generation_prompt"} & extra.keys()
    if clash:
        raise TypeError(f"{sorted(clash)} cannot be passed as extra template variables: they are set from the "
                        "conversation and the named arguments.")


def render_chat_template(template: str, messages, *, add_generation_prompt: bool = False,
                         continue_final_message: bool = False, tools=None, documents=None, **extra) -> str:
    """Render one conversation with a chat template.

    `messages` is a list of {"role": ..., "content": ...} dicts. `tools` are JSON schema dicts or Python functions
    (converted with `get_json_schema`); `documents` are dicts (usually "title"/"text"). Every other keyword is a
    template variable (e.g. bos_token="<s>", or a template option such as date_string=...).

    `add_generation_prompt` asks the template to open an assistant turn. `continue_final_message` instead leaves
    the final message open: the text is cut right after that message's content, dropping whatever the template
    writes to close it, so the model continues it. The two cannot be combined.
    """
    _check_reserved(extra)
    texts, _ = _render_all(template, [messages], tools=tools, documents=documents,
                           add_generation_prompt=add_generation_prompt,
                           continue_final_message=continue_final_message, record_generation=False, extra=extra)
    return texts[0]


def render_chat_template_batch(template: str, conversations, *, add_generation_prompt: bool = False,
                               continue_final_message: bool = False, tools=None, documents=None,
                               return_generation_indices: bool = False, **extra):
    """`render_chat_template` over a list of conversations: returns a list of strings.

    With `return_generation_indices=True` returns (texts, spans), where spans[i] lists the (start, end) character
    offsets of the `{% generation %}` blocks in texts[i].
    """
    _check_reserved(extra)
    texts, spans = _render_all(template, conversations, tools=tools, documents=documents,
                               add_generation_prompt=add_generation_prompt,
                               continue_final_message=continue_final_message,
                               record_generation=return_generation_indices, extra=extra)
    return (texts, spans) if return_generation_indices else texts


# --------------------------------------------------------------------------------------------------------------
# The tokenizer side
# --------------------------------------------------------------------------------------------------------------


def _is_batch(conversation) -> bool:
    if not isinstance(conversation, (list, tuple)):
        return False
    if not conversation:
        raise ValueError("apply_chat_template got an empty conversation: pass a list of messages "
                         "(dicts with 'role' and 'content'), or a list of such lists for a batch.")
    first = conversation[0]
    return isinstance(first, (list, tuple)) or hasattr(first, "messages")


class ChatTemplateMixin:
    """`apply_chat_template` and `get_chat_template` for a tokenizer.

    The tokenizer provides `chat_template` (a template string, a dict of named templates, or None), its special
    tokens (`special_tokens_map`, or the `bos_token`, `eos_token`, ... attributes), and `__call__(text,
    add_special_tokens=False, padding=..., truncation=..., max_length=..., return_tensors=..., **kwargs)` returning a
    dict-like with "input_ids" (and `char_to_token` for `return_assistant_tokens_mask`).
    """

    chat_template: str | dict | None = None

    def get_chat_template(self, chat_template: str | None = None, tools: list | None = None) -> str:
        """The template source to use: `chat_template` if given (a template, or the name of one of this tokenizer's
        templates), else the tokenizer's own; among named templates, "tool_use" when tools are given and the
        tokenizer has one, else "default"."""
        own = getattr(self, "chat_template", None)
        if isinstance(own, dict):
            if chat_template is not None and chat_template in own:
                return own[chat_template]
            if chat_template is None:
                if tools is not None and "tool_use" in own:
                    return own["tool_use"]
                if "default" in own:
                    return own["default"]
                raise ValueError(
                    "This tokenizer has several chat templates and none is named 'default'. Pass the one to use as "
                    f"chat_template=<name> (available: {sorted(own)}), or pass a template string."
                )
            return chat_template
        if chat_template is not None:
            return chat_template
        if own is None:
            raise ValueError(
                "Cannot use apply_chat_template because this tokenizer does not have a chat template "
                "(tokenizer.chat_template is None) and no chat_template argument was given. Pass the template "
                "with apply_chat_template(..., chat_template='...'), or set it once with "
                "tokenizer.chat_template = '...' (save_pretrained then stores it as chat_template.jinja). Base "
                "models usually have no template; their instruct/chat variants do."
            )
        return own

    def _chat_template_variables(self) -> dict:
        special = getattr(self, "special_tokens_map", None)
        if isinstance(special, Mapping):
            return dict(special)
        found = {}
        for name in SPECIAL_TOKEN_ATTRIBUTES:
            value = getattr(self, name, None)
            if value:
                found[name] = value if isinstance(value, (str, list)) else str(value)
        return found

    def apply_chat_template(
        self,
        conversation,
        tools: list | None = None,
        documents: list | None = None,
        chat_template: str | None = None,
        add_generation_prompt: bool = False,
        continue_final_message: bool = False,
        tokenize: bool = True,
        padding=False,
        truncation: bool = False,
        max_length: int | None = None,
        return_tensors=None,
        return_dict: bool = False,
        return_assistant_tokens_mask: bool = False,
        tokenizer_kwargs: dict | None = None,
        **kwargs,
    ):
        """Format a conversation with the chat template, and by default tokenize it.

        `conversation` is a list of {"role", "content"} dicts, or a list of such lists (a batch). Extra keyword
        arguments become template variables, next to the special tokens (bos_token, eos_token, ...).

        Returns the text (tokenize=False), the token ids (the template already holds the special tokens, so none
        are added), or with return_dict=True the tokenizer's full output (with "assistant_masks" when
        return_assistant_tokens_mask=True and the template marks the assistant's text with {% generation %}).
        """
        if return_dict and not tokenize:
            raise ValueError("return_dict=True needs tokenize=True: without tokenizing there is no dict of "
                             "tokenizer outputs to return.")
        if return_assistant_tokens_mask and not return_dict:
            raise ValueError("return_assistant_tokens_mask=True needs return_dict=True (the mask is returned as "
                             "the 'assistant_masks' entry of the dict).")
        _check_reserved(kwargs)
        template = self.get_chat_template(chat_template, tools)
        batched = _is_batch(conversation)
        conversations = conversation if batched else [conversation]
        if continue_final_message:
            if add_generation_prompt:
                raise ValueError(
                    "continue_final_message and add_generation_prompt cannot both be set: use continue_final_message "
                    "to let the model continue the final message, add_generation_prompt to have it start a new "
                    "assistant message."
                )
            if return_assistant_tokens_mask:
                raise ValueError("continue_final_message cannot be combined with return_assistant_tokens_mask.")
        variables = {**self._chat_template_variables(), **kwargs}
        texts, spans = _render_all(template, conversations, tools=tools, documents=documents,
                                   add_generation_prompt=add_generation_prompt,
                                   continue_final_message=continue_final_message,
                                   record_generation=return_assistant_tokens_mask, extra=variables)
        rendered = texts if batched else texts[0]
        if not tokenize:
            return rendered
        out = self(rendered, padding=padding, truncation=truncation, max_length=max_length, add_special_tokens=False,
                   return_tensors=return_tensors, **(tokenizer_kwargs or {}))
        if not return_dict:
            return out["input_ids"]
        if return_assistant_tokens_mask:
            ids = out["input_ids"] if (batched or return_tensors) else [out["input_ids"]]
            masks = []
            for i in range(len(ids)):
                mask = [0] * len(ids[i])
                for start_char, end_char in spans[i]:
                    first = out.char_to_token(i, start_char)
                    last = out.char_to_token(i, end_char - 1)
                    if first is None:  # truncated away
                        break
                    stop = last + 1 if last is not None else len(ids[i])
                    for t in range(first, stop):
                        mask[t] = 1
                masks.append(mask)
            out["assistant_masks"] = masks if (batched or return_tensors) else masks[0]
            if return_tensors:
                out.convert_to_tensors(tensor_type=return_tensors)
        return out

    def encode_message_with_chat_template(self, message: dict, conversation_history: list | None = None,
                                          **kwargs) -> list[int]:
        """The token ids that `message` adds to `conversation_history` (best effort: the ids after the first
        position where the tokenized history and the tokenized history + message differ)."""
        if "add_generation_prompt" in kwargs:
            raise ValueError("encode_message_with_chat_template does not take add_generation_prompt; add the "
                             "generation prompt separately.")
        if not conversation_history:
            return self.apply_chat_template([message], add_generation_prompt=False, tokenize=True, **kwargs)
        full = self.apply_chat_template([*conversation_history, message], add_generation_prompt=False,
                                        tokenize=True, **kwargs)
        prefix = self.apply_chat_template(conversation_history, add_generation_prompt=False, tokenize=True, **kwargs)
        for i, (a, b) in enumerate(zip(prefix, full)):
            if a != b:
                return full[i:]
        return full[min(len(prefix), len(full)):]


# --------------------------------------------------------------------------------------------------------------
# Reading and writing a tokenizer folder's templates
# --------------------------------------------------------------------------------------------------------------


def normalize_chat_template(value):
    """A `chat_template` init value as the tokenizer stores it: the legacy tokenizer_config.json form (a list of
    {"name", "template"} dicts) becomes a {name: template} dict; a string, a dict or None is kept."""
    if isinstance(value, (list, tuple)):
        return {entry["name"]: entry["template"] for entry in value}
    return value


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:  # text mode: \r\n becomes \n, as the reference reads these files
        return f.read()


def list_chat_template_names(name_or_path, *, subfolder: str = "", revision: str | None = None, token=None,
                             cache_dir: str | None = None, local_files_only: bool = False, **_ignored) -> list[str]:
    """The names of the templates in `additional_chat_templates/` of a local folder or a Hub repository (sorted).

    For a Hub id the repository is listed online; offline (HF_HUB_OFFLINE / local_files_only) or when the Hub
    cannot be reached, the cached snapshot is looked at instead. Missing folders give [].
    """
    name = os.fspath(name_or_path)
    if os.path.isdir(name):
        folder = os.path.join(name, subfolder or "", CHAT_TEMPLATE_DIR)
        if not os.path.isdir(folder):
            return []
        return sorted(f[: -len(".jinja")] for f in os.listdir(folder)
                      if f.endswith(".jinja") and os.path.isfile(os.path.join(folder, f)))
    if os.path.exists(name):  # a single file: it has no template folder
        return []
    from ..hub import default_cache_dir, hub_reachable, is_offline

    prefix = "/".join(p for p in ((subfolder or "").strip("/"), CHAT_TEMPLATE_DIR) if p)
    if not (local_files_only or is_offline()) and hub_reachable():
        try:
            from huggingface_hub import list_repo_tree

            found = [entry.path for entry in list_repo_tree(name, path_in_repo=prefix, revision=revision,
                                                            token=token, recursive=False)]
            return sorted(p.rsplit("/", 1)[-1][: -len(".jinja")] for p in found if p.endswith(".jinja"))
        except Exception as e:  # no folder, no network, ...: fall back to the cache
            from huggingface_hub import errors

            if isinstance(e, (errors.GatedRepoError, errors.RepositoryNotFoundError, errors.RevisionNotFoundError)):
                raise
    try:
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(name, revision=revision, cache_dir=cache_dir or default_cache_dir(),
                                     local_files_only=True)
    except Exception:
        return []
    return list_chat_template_names(snapshot, subfolder=subfolder)


def load_chat_templates(source, config_value=None, *, template_names: Iterable[str] | None = None,
                        subfolder: str = ""):
    """The `chat_template` a tokenizer loaded from `source` gets: a string, a {name: template} dict, or None.

    `source` is a local folder, or a callable `resolve(relative_path) -> local file path or None` (for Hub
    repositories, e.g. `lambda f: henkan.hub.resolve_file(repo, f, required=False, **hub_kwargs)`).
    `chat_template.jinja` is the "default" template and `additional_chat_templates/<name>.jinja` the named ones;
    with a callable, the names to fetch come from `template_names` (see `list_chat_template_names`); with a
    folder they are listed. Template files win over `config_value`, the "chat_template" entry of
    tokenizer_config.json (a string or the legacy list of {"name", "template"}), which is used when there are none.
    A lone default template is returned as a string, several as a dict.
    """
    if callable(source):
        resolve = source
        names = sorted(template_names or ())
    else:
        folder = os.path.join(os.fspath(source), subfolder or "")

        def resolve(relative):
            path = os.path.join(folder, *relative.split("/"))
            return path if os.path.isfile(path) else None

        names = sorted(template_names) if template_names is not None else list_chat_template_names(folder)
    templates = {}
    path = resolve(CHAT_TEMPLATE_FILE)
    if path is not None:
        templates["default"] = _read_text(path)
    for name in names:
        path = resolve(f"{CHAT_TEMPLATE_DIR}/{name}.jinja")
        if path is not None:
            templates[name] = _read_text(path)
    if not templates:
        return normalize_chat_template(config_value)
    if list(templates) == ["default"]:
        return templates["default"]
    return templates


def save_chat_templates(save_directory, chat_template, tokenizer_config: dict, *, filename_prefix: str | None = None,
                        save_jinja_files: bool = True) -> tuple[dict, list[str]]:
    """Write a tokenizer's `chat_template` into `save_directory` as 4.57 does; returns (tokenizer_config, files).

    With `save_jinja_files` (the default) a string goes to chat_template.jinja, and a dict puts "default" there and
    every other template in additional_chat_templates/<name>.jinja; "chat_template" is then removed from
    `tokenizer_config`. With save_jinja_files=False nothing is written and the template goes into
    `tokenizer_config["chat_template"]` (a string, or a list of {"name", "template"} for a dict). `filename_prefix`
    prefixes chat_template.jinja and the folder name, as for the tokenizer's other files.
    `tokenizer_config` is updated in place and also returned; `files` are the paths written.
    """
    def write(path, text):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(path)

    prefix = f"{filename_prefix}-" if filename_prefix else ""
    main_file = os.path.join(os.fspath(save_directory), prefix + CHAT_TEMPLATE_FILE)
    extra_dir = os.path.join(os.fspath(save_directory), prefix + CHAT_TEMPLATE_DIR)
    written: list[str] = []
    if chat_template is None:
        return tokenizer_config, written
    if not save_jinja_files:
        if isinstance(chat_template, dict):
            tokenizer_config["chat_template"] = [{"name": k, "template": v} for k, v in chat_template.items()]
        else:
            tokenizer_config["chat_template"] = chat_template
        return tokenizer_config, written
    if isinstance(chat_template, dict):
        for name, text in chat_template.items():
            if name == "default":
                write(main_file, text)
            else:
                os.makedirs(extra_dir, exist_ok=True)
                write(os.path.join(extra_dir, f"{name}.jinja"), text)
    else:
        write(main_file, chat_template)
    for path in written:
        logger.info(f"chat template saved in {path}")
    tokenizer_config.pop("chat_template", None)
    return tokenizer_config, written
