"""Chat templates: rendering matches the reference byte for byte, the sandbox holds, tools become JSON schema,
templates load and save in the reference's layout, and `apply_chat_template` returns what the reference returns.

Goldens come from tests/fixtures/make_chat_templates.py (run with the reference library)."""

import datetime
import json
import os
import sys
import threading

import pytest

from conftest import FIXTURES

import henkan.tokenization.chat as chat
from henkan.tokenization.chat import (
    ChatTemplateMixin, compile_chat_template, get_json_schema, load_chat_templates, render_chat_template,
    render_chat_template_batch, save_chat_templates,
)

sys.path.insert(0, FIXTURES)
import chat_tools  # noqa: E402

CHAT = os.path.join(FIXTURES, "chat")
with open(os.path.join(CHAT, "golden.json"), encoding="utf-8") as _f:
    GOLDEN = json.load(_f)
TEMPLATES = {name: open(os.path.join(CHAT, f"{name}.jinja"), encoding="utf-8").read()
             for name in GOLDEN["tokenizer_kwargs"]}


def _tools(tools):
    if tools is None:
        return None
    return [chat_tools.BY_NAME[t["$function"]] if "$function" in t else t for t in tools]


def _render_inputs(case):
    return dict(
        add_generation_prompt=case.get("add_generation_prompt", False),
        continue_final_message=case.get("continue_final_message", False),
        tools=_tools(case.get("tools")), documents=case.get("documents"),
        **case["template_variables"], **case.get("extra", {}),
    )


def _check_error(excinfo, expected):
    from jinja2.exceptions import TemplateError

    error = excinfo.value
    if expected["template_error"]:
        assert isinstance(error, TemplateError)
        assert isinstance(error, chat.ChatTemplateError)  # all template errors in the goldens are raise_exception
        assert str(error) == expected["message"]
    else:
        assert isinstance(error, ValueError)


def _by_name(cases):
    return pytest.mark.parametrize("case", cases, ids=[c["name"] for c in cases])


# --- rendering ------------------------------------------------------------------------------------------------


@_by_name(GOLDEN["cases"])
def test_render_matches_reference(case):
    template = TEMPLATES[case["template"]]
    if "error" in case:
        with pytest.raises(Exception) as excinfo:
            render_chat_template(template, case["messages"], **_render_inputs(case))
        _check_error(excinfo, case["error"])
    else:
        assert render_chat_template(template, case["messages"], **_render_inputs(case)) == case["text"]


@_by_name(GOLDEN["batch_cases"])
def test_render_batch_matches_reference(case):
    texts = render_chat_template_batch(TEMPLATES[case["template"]], case["conversations"], **_render_inputs(case))
    assert texts == case["text"]


def test_phi3_seed_example():
    """transformers-memo.ja.md: the Phi-3 template renders exactly the text the notes show."""
    seed = GOLDEN["phi3_seed"]
    assert seed["template"] == TEMPLATES["phi3"]
    text = render_chat_template(seed["template"], seed["messages"], eos_token=seed["eos_token"])
    assert text == seed["expected"]
    assert text.endswith("<|end|>\n<|endoftext|>")
    prompt = render_chat_template(seed["template"], seed["messages"], add_generation_prompt=True)
    assert prompt == seed["expected"][: -len("<|endoftext|>")] + "<|assistant|>\n"


@pytest.mark.parametrize("case", GOLDEN["phi3_tokenizer"], ids=[c["name"] for c in GOLDEN["phi3_tokenizer"]])
def test_phi3_tokenizer_folder_matches_reference(case):
    """The seed's Phi-3 template in a tokenizer folder laid out as Phi-3-mini-4k-instruct's (its role markers strip
    the newline after them): the rendered text, the ids and the decoded text are the reference's, with and without
    the generation prompt, with and without a system message, over several turns."""
    from henkan import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(os.path.join(CHAT, "phi3-mini-4k-instruct"))
    assert tokenizer.chat_template == GOLDEN["phi3_seed"]["template"]
    options = {"add_generation_prompt": case["add_generation_prompt"]}
    assert tokenizer.apply_chat_template(case["messages"], tokenize=False, **options) == case["text"]
    ids = tokenizer.apply_chat_template(case["messages"], **options)
    assert ids == case["ids"]
    assert tokenizer.decode(ids) == case["decoded"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == case["decoded_plain"]


def test_template_is_compiled_once():
    source = "{{ messages | length }}-" + str(id(object()))
    assert compile_chat_template(source) is compile_chat_template(source)


def test_both_generation_prompt_and_continue_is_an_error():
    with pytest.raises(ValueError, match="add_generation_prompt and continue_final_message"):
        render_chat_template(TEMPLATES["chatml"], GOLDEN["cases"][0]["messages"], add_generation_prompt=True,
                             continue_final_message=True)


@pytest.mark.parametrize("messages, match", [
    ([], "empty"),
    ([{"role": "assistant", "content": None}], "no text content"),
    ([{"role": "assistant", "content": [{"type": "image"}]}], "no text block"),
])
def test_continue_final_message_errors(messages, match):
    with pytest.raises(ValueError, match=match):
        render_chat_template(TEMPLATES["chatml"], messages, continue_final_message=True)


def test_continue_final_message_does_not_change_the_input():
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [{"type": "text", "text": "Yo"}]}]
    before = json.dumps(messages)
    assert render_chat_template(TEMPLATES["chatml"], messages, continue_final_message=True).endswith("assistant\nYo")
    assert json.dumps(messages) == before


def test_generation_indices_cover_the_assistant_text():
    case = next(c for c in GOLDEN["cases"] if c["name"] == "chatml_basic")
    texts, spans = render_chat_template_batch(TEMPLATES["chatml"], [case["messages"]], return_generation_indices=True)
    assistant = [m["content"] + "<|im_end|>" for m in case["messages"] if m["role"] == "assistant"]
    assert [texts[0][s:e] for s, e in spans[0]] == assistant
    # without recording, the block renders the same text
    assert render_chat_template(TEMPLATES["chatml"], case["messages"]) == texts[0]


def test_generation_indices_are_per_thread():
    messages = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a" * 50}]
    results, errors = [], []

    def work(n):
        try:
            for _ in range(20):
                msgs = [messages[0], {"role": "assistant", "content": "b" * n}]
                texts, spans = render_chat_template_batch(TEMPLATES["chatml"], [msgs], return_generation_indices=True)
                results.append(texts[0][spans[0][0][0]:spans[0][0][1]] == "b" * n + "<|im_end|>")
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and all(results) and len(results) == 160


# --- template helpers -----------------------------------------------------------------------------------------


def test_raise_exception_gives_a_clear_error():
    from jinja2.exceptions import TemplateError

    with pytest.raises(chat.ChatTemplateError) as excinfo:
        render_chat_template(TEMPLATES["gemma"], [{"role": "system", "content": "x"}], bos_token="<bos>")
    assert str(excinfo.value) == "System role not supported"
    assert isinstance(excinfo.value, TemplateError)
    assert type(excinfo.value).__module__ == "henkan.tokenization.chat"


def test_strftime_now():
    before = datetime.datetime.now()
    text = render_chat_template("{{ strftime_now('%Y-%m-%d') }}|{{ strftime_now('%d %b %Y') }}", [])
    after = datetime.datetime.now()
    day, long_day = text.split("|")
    assert day in {before.strftime("%Y-%m-%d"), after.strftime("%Y-%m-%d")}
    assert long_day in {before.strftime("%d %b %Y"), after.strftime("%d %b %Y")}


def test_tojson_options():
    data = {"b": "é<&>'", "a": [1, None]}
    out = render_chat_template(
        "{{ x | tojson }}\n{{ x | tojson(indent=2) }}\n{{ x | tojson(sort_keys=true, separators=(',', ':')) }}"
        "\n{{ x | tojson(ensure_ascii=true) }}", [], x=data)
    assert out.split("\n", 1)[0] == json.dumps(data, ensure_ascii=False)
    assert out.endswith(json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
                        + json.dumps(data))
    assert json.dumps(data, indent=2, ensure_ascii=False) in out


def test_whitespace_control_and_loop_controls():
    template = "{% for m in messages %}\n  {% if loop.index == 2 %}{% continue %}{% endif %}\n" \
               "  {% if loop.index == 4 %}{% break %}{% endif %}\n{{ m.content }}\n{% endfor %}"
    messages = [{"role": "user", "content": str(i)} for i in range(1, 6)]
    assert render_chat_template(template, messages) == "1\n3\n"


def test_inputs_are_immutable():
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        render_chat_template("{{ messages.append({'role': 'user'}) }}", [])
    with pytest.raises(SecurityError):
        render_chat_template("{% set _ = messages[0].update({'content': 'x'}) %}", [{"role": "user", "content": "y"}])
    # namespace() is the way to keep state
    assert render_chat_template("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
                                "{% endfor %}{{ ns.n }}", [{"role": "user"}] * 3) == "3"


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__['os'] }}",
    "{{ lipsum.__globals__['os'].system('echo hacked') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ raise_exception.__globals__ }}",
    "{{ strftime_now.__globals__['datetime'] }}",
    "{{ self.__init__.__globals__ }}",
    "{{ ''.__class__ }}",
    "{{ ''|attr('__class__') }}",
    "{{ '{0.__class__.__mro__}'.format('') }}",
    "{{ dict.__call__.__globals__ }}",
    "{{ messages.__class__.__base__ }}",
    "{{ (1).__class__.__base__.__subclasses__() }}",
    "{% set ns = namespace(__init__=1) %}",
    "{% set ns = namespace() %}{% set ns.__dict__ = 1 %}",
])
def test_sandbox_escapes_raise(template):
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        render_chat_template(template, [{"role": "user", "content": "hi"}])


def test_documents_must_be_dicts():
    with pytest.raises(TypeError, match="Documents"):
        render_chat_template(TEMPLATES["chatml"], [], documents=["just text"])


def test_tools_must_be_schemas_or_functions():
    with pytest.raises(ValueError, match="tool"):
        render_chat_template(TEMPLATES["qwen2"], [{"role": "user", "content": "x"}], tools=[len])


# --- tools as Python functions --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN["schemas"]))
def test_get_json_schema_matches_reference(name):
    expected = GOLDEN["schemas"][name]
    func = chat_tools.BY_NAME[name]
    if "error" in expected:
        with pytest.raises(Exception) as excinfo:
            get_json_schema(func)
        assert type(excinfo.value).__name__ == expected["error"]["type"]
        assert isinstance(excinfo.value, ValueError)
        assert func.__name__ in str(excinfo.value) or "tuple" in str(excinfo.value)
    else:
        assert get_json_schema(func) == expected["schema"]
        # key order matters: templates print schemas with tojson
        assert json.dumps(get_json_schema(func)) == json.dumps(expected["schema"])


def test_get_json_schema_rejects_var_args():
    def tool(*values: int):
        """Sum.

        Args:
            values: The values.
        """

    with pytest.raises(chat.TypeHintParsingException, match=r"\*values"):
        get_json_schema(tool)


def test_get_json_schema_bad_choices():
    def tool(x: str):
        """T.

        Args:
            x: The x (choices: [oops])
        """

    with pytest.raises(chat.DocstringParsingException, match="choices"):
        get_json_schema(tool)


# --- the mixin, with a stand-in tokenizer ---------------------------------------------------------------------


class StubTokenizer(ChatTemplateMixin):
    """Just what ChatTemplateMixin needs for tokenize=False."""

    def __init__(self, chat_template, special_tokens_map):
        self.chat_template = chat_template
        self.special_tokens_map = special_tokens_map


def _apply_kwargs(case):
    kwargs = dict(tools=_tools(case.get("tools")), documents=case.get("documents"),
                  add_generation_prompt=case.get("add_generation_prompt", False),
                  continue_final_message=case.get("continue_final_message", False), **case.get("extra", {}))
    if "chat_template" in case:
        kwargs["chat_template"] = case["chat_template"]
    return kwargs


@_by_name(GOLDEN["cases"] + GOLDEN["batch_cases"])
def test_mixin_text_matches_reference(case):
    tokenizer = StubTokenizer(TEMPLATES[case["template"]], case["template_variables"])
    inputs = case.get("messages", case.get("conversations"))
    if "error" in case:
        with pytest.raises(Exception) as excinfo:
            tokenizer.apply_chat_template(inputs, tokenize=False, **_apply_kwargs(case))
        _check_error(excinfo, case["error"])
    else:
        assert tokenizer.apply_chat_template(inputs, tokenize=False, **_apply_kwargs(case)) == case["text"]


def _named_stub():
    templates = {k: TEMPLATES[v] for k, v in GOLDEN["named_templates"].items()}
    return StubTokenizer(templates, GOLDEN["named_cases"][0]["template_variables"])


@_by_name(GOLDEN["named_cases"])
def test_mixin_named_templates(case):
    tokenizer = _named_stub()
    assert tokenizer.apply_chat_template(case["messages"], tokenize=False, **_apply_kwargs(case)) == case["text"]


def test_get_chat_template_choices():
    tokenizer = _named_stub()
    assert tokenizer.get_chat_template() == TEMPLATES["chatml"]
    assert tokenizer.get_chat_template(tools=[{}]) == TEMPLATES["qwen2"]
    assert tokenizer.get_chat_template("tool_use") == TEMPLATES["qwen2"]
    assert tokenizer.get_chat_template("{{ 1 }}") == "{{ 1 }}"
    single = StubTokenizer("{{ 2 }}", {})
    assert single.get_chat_template() == "{{ 2 }}" and single.get_chat_template("{{ 3 }}") == "{{ 3 }}"


def test_mixin_errors():
    with pytest.raises(ValueError, match="Cannot use apply_chat_template because this tokenizer does not have"):
        StubTokenizer(None, {}).apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
    with pytest.raises(ValueError, match=r"\['rag', 'tool_use'\]"):
        StubTokenizer({"rag": "a", "tool_use": "b"}, {}).apply_chat_template([{"role": "user", "content": "x"}],
                                                                            tokenize=False)
    stub = StubTokenizer("{{ 1 }}", {})
    with pytest.raises(ValueError, match="tokenize=True"):
        stub.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False, return_dict=True)
    with pytest.raises(ValueError, match="return_dict=True"):
        stub.apply_chat_template([{"role": "user", "content": "x"}], return_assistant_tokens_mask=True)
    with pytest.raises(ValueError, match="empty"):
        stub.apply_chat_template([], tokenize=False)


def test_mixin_passes_special_tokens_and_kwargs():
    stub = StubTokenizer("{{ bos_token }}|{{ eos_token }}|{{ foo }}", {"bos_token": "<s>", "eos_token": "</s>"})
    chat = [{"role": "user", "content": "hi"}]
    assert stub.apply_chat_template(chat, tokenize=False, foo="bar") == "<s>|</s>|bar"
    assert stub.apply_chat_template(chat, tokenize=False, eos_token="E") == "<s>|E|"  # kwargs win


# --- loading and saving templates -----------------------------------------------------------------------------


def _layout(name):
    return next(entry for entry in GOLDEN["save_layouts"] if entry["name"] == name)


@pytest.mark.parametrize("entry", [e for e in GOLDEN["save_layouts"] if "files" in e],
                         ids=lambda e: e["name"])
def test_save_chat_templates_like_reference(entry, tmp_path):
    config = {"chat_template": "stale", "model_max_length": 5}
    config, written = save_chat_templates(tmp_path, entry["chat_template"], config,
                                          filename_prefix=entry["kwargs"].get("filename_prefix"),
                                          save_jinja_files=entry["kwargs"].get("save_jinja_files", True))
    files = {}
    for root, _, names in os.walk(tmp_path):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), tmp_path).replace(os.sep, "/")
            files[rel] = open(os.path.join(root, n), encoding="utf-8").read()
    assert files == entry["files"]
    assert sorted(os.path.relpath(p, tmp_path).replace(os.sep, "/") for p in written) == sorted(entry["files"])
    if entry["chat_template"] is None:
        assert config["chat_template"] == "stale"  # left alone
    else:
        assert ("chat_template" in config) == entry["config_has_chat_template"]
        assert config.get("chat_template") == entry["config_chat_template"]
    assert config["model_max_length"] == 5


@pytest.mark.parametrize("entry", [e for e in GOLDEN["save_layouts"] if "loaded" in e], ids=lambda e: e["name"])
def test_load_chat_templates_like_reference(entry, tmp_path):
    for rel, text in entry["files"].items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    config_value = entry["config_chat_template"]
    assert load_chat_templates(tmp_path, config_value) == entry["loaded"]
    # through a resolver (as for a Hub repository), with the names listed separately
    names = chat.list_chat_template_names(tmp_path)

    def resolve(relative):
        path = tmp_path / relative
        return str(path) if path.is_file() else None

    assert load_chat_templates(resolve, config_value, template_names=names) == entry["loaded"]


def test_template_files_win_over_config(tmp_path):
    entry = _layout("config_vs_files")
    assert load_chat_templates(tmp_path, entry["config_chat_template"]) == entry["loaded_legacy"]
    (tmp_path / "chat_template.jinja").write_text(TEMPLATES["phi3"], encoding="utf-8")
    assert load_chat_templates(tmp_path, entry["config_chat_template"]) == entry["loaded_override"]
    (tmp_path / "chat_template.jinja").unlink()
    (tmp_path / "additional_chat_templates").mkdir()
    with open(tmp_path / "additional_chat_templates" / "rag.jinja", "w", encoding="utf-8", newline="") as f:
        f.write("{{ 'rag' }}\r\n")
    assert load_chat_templates(tmp_path, entry["config_chat_template"]) == entry["loaded_extra_only"]


def test_load_without_templates(tmp_path):
    assert load_chat_templates(tmp_path) is None
    assert load_chat_templates(tmp_path, "{{ x }}") == "{{ x }}"
    assert chat.list_chat_template_names(tmp_path) == []


def test_save_then_load_round_trip(tmp_path):
    templates = {"default": TEMPLATES["chatml"], "tool_use": TEMPLATES["qwen2"], "rag": "{{ documents }}"}
    config, _ = save_chat_templates(tmp_path, templates, {})
    assert "chat_template" not in config
    assert load_chat_templates(tmp_path, config.get("chat_template")) == templates


# --- with henkan's tokenizer ----------------------------------------------------------------------------------


def _henkan_tokenizer_class():
    try:
        from henkan.tokenization import PreTrainedTokenizerFast
    except Exception:  # not written yet
        return None
    return PreTrainedTokenizerFast if hasattr(PreTrainedTokenizerFast, "apply_chat_template") else None


needs_tokenizer = pytest.mark.skipif(_henkan_tokenizer_class() is None,
                                     reason="henkan.tokenization has no apply_chat_template yet")


_TOKENIZERS = {}


def _tokenizer(minilm_path, template_name, chat_template):
    key = (template_name, json.dumps(chat_template))
    if key not in _TOKENIZERS:
        cls = _henkan_tokenizer_class()
        tokenizer = cls(tokenizer_file=os.path.join(minilm_path, "tokenizer.json"),
                        **GOLDEN["tokenizer_kwargs"][template_name])
        tokenizer.chat_template = chat_template
        _TOKENIZERS[key] = tokenizer
    return _TOKENIZERS[key]


def _plain(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "keys"):
        return {k: _plain(value[k]) for k in value.keys()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


_TOKENIZER_OPTIONS = ("padding", "return_tensors", "return_dict", "return_assistant_tokens_mask")


@needs_tokenizer
@_by_name([c for c in GOLDEN["cases"] + GOLDEN["batch_cases"] if "ids" in c])
def test_apply_chat_template_matches_reference(case, minilm_path):
    tokenizer = _tokenizer(minilm_path, case["template"], TEMPLATES[case["template"]])
    assert tokenizer.special_tokens_map == case["template_variables"]
    inputs = case.get("messages", case.get("conversations"))
    kwargs = _apply_kwargs(case)
    assert tokenizer.apply_chat_template(inputs, tokenize=False, **kwargs) == case["text"]
    assert _plain(tokenizer.apply_chat_template(inputs, **kwargs)) == case["ids"]
    options = {k: case[k] for k in _TOKENIZER_OPTIONS if k in case}
    if options:
        assert _plain(tokenizer.apply_chat_template(inputs, **kwargs, **options)) == case["output"]


@needs_tokenizer
@_by_name(GOLDEN["named_cases"])
def test_apply_chat_template_named_matches_reference(case, minilm_path):
    templates = {k: TEMPLATES[v] for k, v in GOLDEN["named_templates"].items()}
    tokenizer = _tokenizer(minilm_path, "qwen2", templates)
    assert tokenizer.apply_chat_template(case["messages"], tokenize=False, **_apply_kwargs(case)) == case["text"]
    assert tokenizer.apply_chat_template(case["messages"], **_apply_kwargs(case)) == case["ids"]


@needs_tokenizer
def test_tokenizer_round_trips_templates(minilm_path, tmp_path):
    cls = _henkan_tokenizer_class()
    templates = {"default": TEMPLATES["chatml"], "tool_use": TEMPLATES["qwen2"]}
    tokenizer = _tokenizer(minilm_path, "qwen2", templates)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "chat_template.jinja").read_text(encoding="utf-8") == TEMPLATES["chatml"]
    assert (tmp_path / "additional_chat_templates" / "tool_use.jinja").read_text(encoding="utf-8") == \
        TEMPLATES["qwen2"]
    assert "chat_template" not in json.loads((tmp_path / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert cls.from_pretrained(tmp_path).chat_template == templates


# --- the rendering budget: time, size, recursion --------------------------------------------------------------

USER = [{"role": "user", "content": "hi"}]
LOOP = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize("template", [
    LOOP,
    "{% set r = range(100000) %}{% for i in r %}{% for j in r %}{% for k in r %}{% endfor %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ 'x' }}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{{ range(100000)|list|sort|length }}{% endfor %}",
], ids=["nested", "assigned-range", "output", "work-in-filters"])
def test_endless_loops_stop_at_the_time_limit(template):
    with chat.chat_template_limits(seconds=0.2):
        with pytest.raises(chat.ChatTemplateLimitError, match=r"did not finish rendering within 0\.2 s"):
            render_chat_template(template, USER)


@pytest.mark.parametrize("template, named", [
    ("{{ 'x' * 10000000000 }}", "asked for a repetition of 10000000000"),
    ("{{ [1] * 10000000000 }}", "asked for a repetition of 10000000000"),
    ("{{ 10 ** 10000000000 }}", "asked for a number of"),
    ("{{ '%10000000000s' % 'a' }}", "asked for a formatted string of 10000000000"),
    ("{{ '{:>10000000000}'.format('a') }}", "asked a string method for a result of 10000000000"),
    ("{{ 'a'.center(10000000000) }}", "asked a string method for a result of 10000000000"),
    ("{{ ('x' * 1000000).join(range(100000)|map('string')|list) }}", "asked a string method for a result"),
    ("{{ ('x' * 1000000).join(range(100000)|map('string')) }}", "asked a string method for a result"),
    ("{{ 'a b c d e f'|wordwrap(1, wrapstring='w' * 10000000) }}", "asked the 'wordwrap' filter"),
    ("{{ 'a'|center(10000000000) }}", "asked the 'center' filter for a result of 10000000000"),
    ("{{ range(100000)|join('x' * 1000000) }}", "asked the 'join' filter"),
    ("{{ ('a' * 100000)|replace('a', 'b' * 1000000) }}", "asked the 'replace' filter"),
    ("{{ ('a\n' * 10000)|indent(10000000) }}", "asked the 'indent' filter"),
    ("{{ [1]|batch(10000000000, 'x')|list }}", "asked the 'batch' filter"),
    ("{{ messages|tojson(indent=1000000000) }}", "asked the 'tojson' filter"),
    ("{{ lipsum(n=10000000) }}", "asked lipsum for a text"),
    ("{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "assigned a value of 67108864"),
    ("{% set s = 'x' %}" + "{% set s = s + s %}" * 60, "assigned a value of 67108864"),
    ("{% with s = 'x' * 30000000 %}{% with t = s ~ s %}{% endwith %}{% endwith %}", "assigned a value of 60000000"),
    ("{% macro f() %}{% for i in range(100000) %}{% for j in range(1000) %}" + "y" * 1000 +
     "{% endfor %}{% endfor %}{% endmacro %}{{ f()|length }}", "wrote into macros and blocks a total"),
    ("{% set s %}{% for i in range(100000) %}{{ 'z' * 1000000 }}{% endfor %}{% endset %}",
     "wrote into macros and blocks a total"),
    ("{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{% set ns = namespace(s='x') %}{% for i in range(60) %}"
     "{% set ns.s = d(ns.s) %}{% endfor %}", "wrote into macros and blocks a total"),
    ("{% for i in range(100000) %}{{ 'w' * 1000000 }}{% endfor %}", "wrote an output of"),
], ids=lambda v: v[:30] if isinstance(v, str) and "{" in v else None)
def test_values_past_the_size_limit_are_refused_before_they_exhaust_memory(template, named):
    with chat.chat_template_limits(max_chars=50_000_000):
        with pytest.raises(chat.ChatTemplateLimitError) as error:
            render_chat_template(template, USER)
    assert named in str(error.value) and "more than its memory budget of 50000000" in str(error.value)


@pytest.mark.parametrize("template", [
    "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{% for m in messages recursive %}{{ loop(messages) }}{% endfor %}",
])
def test_endless_recursion_is_named(template):
    with pytest.raises(chat.ChatTemplateLimitError, match="recursed too deeply"):
        render_chat_template(template, USER)


def test_a_template_nested_too_deeply_to_compile_is_named():
    with pytest.raises(chat.ChatTemplateLimitError, match="nested too deeply to compile"):
        render_chat_template("{{ " + "(" * 100000 + "1" + ")" * 100000 + " }}", USER)


def test_limits_are_settable_and_ordinary_templates_render_within_them():
    long_chat = [{"role": "user", "content": "x" * 1000}] * 50
    expected = render_chat_template(TEMPLATES["phi3"], long_chat, eos_token="<|endoftext|>")
    with chat.chat_template_limits(max_chars=len(expected) - 1):
        with pytest.raises(chat.ChatTemplateLimitError, match=f"wrote an output of {len(expected)}"):
            render_chat_template(TEMPLATES["phi3"], long_chat, eos_token="<|endoftext|>")
        with chat.chat_template_limits(max_chars=len(expected)):  # nested: the inner block wins
            assert render_chat_template(TEMPLATES["phi3"], long_chat, eos_token="<|endoftext|>") == expected
    old = chat.set_chat_template_limits(seconds=0.1)
    try:
        with pytest.raises(chat.ChatTemplateLimitError, match=r"within 0\.1 s"):
            render_chat_template(LOOP, USER)
    finally:
        chat.set_chat_template_limits(*old)
    with pytest.raises(ValueError, match="seconds must be a positive number, got -1"):
        chat.chat_template_limits(seconds=-1).__enter__()
    with pytest.raises(ValueError, match="max_chars must be a positive integer, got 1.5"):
        chat.set_chat_template_limits(max_chars=1.5)


def test_the_budget_holds_for_apply_chat_template_and_is_a_template_error():
    from jinja2.exceptions import TemplateError

    stub = StubTokenizer(LOOP, {})
    with chat.chat_template_limits(seconds=0.1), pytest.raises(TemplateError, match="did not finish rendering"):
        stub.apply_chat_template(USER, tokenize=False)
    assert stub.apply_chat_template(USER, tokenize=False, chat_template="{{ messages[0].content }}") == "hi"


# --- the conversation's shape ---------------------------------------------------------------------------------


@pytest.mark.parametrize("conversation, error, named", [
    ([{"role": "user", "content": "a"}, "hello"], TypeError, "conversation[1] must be a message: a dict with 'role'"),
    ([{"content": "a"}], ValueError, "conversation[0]['role'] must be a string such as 'user'"),
    ([{"role": 3, "content": "a"}], ValueError, "conversation[0]['role'] must be a string such as 'user' or 'assistant', got 3"),
    ([{"role": "user", "content": 42}], TypeError, "conversation[0]['content'] must be a string or a list of parts"),
    ([{"role": "user", "content": ["a"]}], TypeError, "conversation[0]['content'][0] must be a part such as"),
    ({"role": "user"}, TypeError, "conversation must be a list of messages"),
])
def test_the_conversation_shape_is_checked_before_rendering(conversation, error, named):
    with pytest.raises(error) as info:
        render_chat_template("{{ messages|length }}", conversation)
    assert named in str(info.value)


def test_a_batch_names_the_conversation():
    with pytest.raises(ValueError, match=r"conversation\[1\]\[0\]\['role'\]"):
        render_chat_template_batch("{{ messages|length }}", [USER, [{"role": None}]])


def test_allowed_shapes_render():
    ok = [{"role": "system"}, {"role": "assistant", "content": None, "tool_calls": []},
          {"role": "tool", "content": {"temperature": 20}}, {"role": "user", "content": [{"type": "text", "text": "a"}]}]
    assert render_chat_template("{{ messages|length }}", ok) == "4"
