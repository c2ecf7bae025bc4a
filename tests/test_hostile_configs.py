"""Hostile configs: every bad value fails where it enters (constructor, from_dict, from_pretrained, assignment) with
the key, the value and what was expected, and the file when it came from one; never later as a shape error."""

import inspect
import json
import os

import pytest
import torch

import henkan
from henkan import AutoConfig, BertConfig, GPT2Config, LlamaConfig, PretrainedConfig
from henkan.config import SIZE, PROBABILITY, choice
from conftest import MODELS


def write_config(folder, **overrides):
    with open(os.path.join(MODELS, "bert-model", "config.json")) as f:
        data = json.load(f)
    data.update(overrides)
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize("key,value,expected", [
    ("hidden_size", -1, "positive integer"), ("hidden_size", 0, "positive integer"),
    ("hidden_size", 32.0, "positive integer"), ("num_hidden_layers", "2", "positive integer"),
    ("vocab_size", True, "positive integer"), ("hidden_dropout_prob", 1.5, r"number in \[0, 1\]"),
    ("attention_probs_dropout_prob", -0.1, r"number in \[0, 1\]"), ("layer_norm_eps", 0, "positive number"),
    ("layer_norm_eps", float("nan"), "positive number"), ("use_cache", "false", "true or false"),
    ("pad_token_id", "0", "integer"), ("eos_token_id", [1, "2"], "list of integers"),
    ("top_p", 2.0, r"number in \[0, 1\]"), ("num_beams", 0, "positive integer"),
    ("problem_type", "ranking", "one of"),
])
def test_bad_value_names_file_key_value_and_expectation(tmp_path, key, value, expected):
    folder = write_config(tmp_path / "ckpt", **{key: value})
    for load in (AutoConfig.from_pretrained, BertConfig.from_pretrained,
                 lambda path: henkan.AutoModel.from_pretrained(path)):
        with pytest.raises(ValueError, match=expected) as info:
            load(folder)
        message = str(info.value)
        assert str(folder / "config.json") in message and key in message and repr(value)[:6] in message
    with pytest.raises(ValueError, match=f"{key} is"):
        BertConfig(**{key: value})
    with pytest.raises(ValueError, match=f"{key} is"):
        BertConfig.from_dict({key: value})


def test_assignment_is_checked_and_aliases_too():
    config = GPT2Config()
    with pytest.raises(ValueError, match="n_embd is -8; expected a positive integer"):
        config.hidden_size = -8  # the alias names the key config.json holds
    with pytest.raises(ValueError, match="resid_pdrop"):
        config.resid_pdrop = 2
    config.resid_pdrop = 0.5
    assert config.resid_pdrop == 0.5


def test_heads_must_divide_hidden_size_at_construction_and_at_model_build():
    with pytest.raises(ValueError, match=r"hidden_size \(30\) must be a multiple of num_attention_heads \(4\)"):
        BertConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match=r"n_embd \(30\) must be a multiple of n_head \(4\)"):
        GPT2Config(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match=r"d_model \(30\) must be a multiple of decoder_attention_heads"):
        henkan.BartConfig(d_model=30, encoder_attention_heads=5, decoder_attention_heads=4)
    with pytest.raises(ValueError, match=r"num_attention_heads \(6\) must be a multiple of num_key_value_heads "
                                         r"\(4\)"):
        LlamaConfig(num_attention_heads=6, num_key_value_heads=4)
    config = BertConfig(hidden_size=32, num_attention_heads=4, num_hidden_layers=1, intermediate_size=8)
    config.num_attention_heads = 5  # each key alone is fine; together they are not
    with pytest.raises(ValueError, match="must be a multiple"):
        henkan.BertModel(config)


def test_label_maps():
    with pytest.raises(ValueError, match="id2label has the key 'neg'"):
        BertConfig(id2label={"neg": 0})
    with pytest.raises(ValueError, match="id2label should be an object"):
        BertConfig(id2label=["a", "b"])
    with pytest.raises(ValueError, match="id2label should number its labels 0..1, but has the id 5"):
        BertConfig(id2label={0: "a", 5: "b"})
    with pytest.raises(ValueError, match="label2id maps 'b' to 7"):
        BertConfig(id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 7})
    with pytest.raises(ValueError, match="label2id should be an object"):
        BertConfig(id2label={0: "a"}, label2id=[["a", 0]])
    with pytest.raises(ValueError, match="num_labels is -1"):
        BertConfig(num_labels=-1)


@pytest.mark.parametrize("scaling,message", [
    ({"rope_type": "linear", "factor": 0}, r"rope_scaling\['factor'\] is 0; expected a number > 0"),
    ({"rope_type": "linear", "factor": "2"}, r"rope_scaling\['factor'\]"),
    ({"rope_type": "linear"}, "needs the keys"),
    ({"rope_type": "yarn", "factor": 4.0, "attention_factor": -1.0}, "attention_factor"),
    ({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 64}, "must be greater than"),
    ({"type": "dynamic", "factor": -2.0}, r"rope_scaling\['factor'\]"),
    ("linear", "rope_scaling should be an object"),
])
def test_rope_scaling_out_of_range(tmp_path, scaling, message):
    with pytest.raises(ValueError, match=message):
        LlamaConfig(rope_scaling=scaling)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "rope_scaling": scaling}))
    with pytest.raises(ValueError, match=str(tmp_path / "config.json")):
        AutoConfig.from_pretrained(tmp_path)


@pytest.mark.parametrize("key", ["to_dict", "save_pretrained", "use_return_dict", "model_type_x" and "defaults",
                                 "attribute_map", "validate"])
def test_reserved_names_are_refused_as_keys(tmp_path, key):
    folder = write_config(tmp_path / "ckpt", **{key: 1})
    with pytest.raises(ValueError, match=f"'{key}' names a method or setting") as info:
        AutoConfig.from_pretrained(folder)
    assert str(folder / "config.json") in str(info.value)
    with pytest.raises(ValueError, match=key):
        BertConfig(**{key: 1})
    config = BertConfig()
    with pytest.raises(ValueError, match=key):
        config.update({key: 1})
    assert callable(config.to_dict)


@pytest.mark.parametrize("text,message", [
    ("[1, 2, 3]", "should hold a JSON object, not an array"), ('"bert"', "not a string"), ("null", "not null"),
    ("[" * 100000 + "]" * 100000, "nests JSON values more than"),
    (json.dumps({"model_type": "bert", "task_specific_params": json.loads("[" * 200 + "]" * 200)}),
     "nests JSON values more than 64 levels"),
])
def test_json_that_is_not_a_config_names_the_file(tmp_path, text, message):
    (tmp_path / "config.json").write_text(text)
    for load in (AutoConfig.from_pretrained, BertConfig.from_pretrained):
        with pytest.raises(OSError, match=message) as info:
            load(tmp_path)
        assert str(tmp_path / "config.json") in str(info.value)


@pytest.mark.parametrize("dtype", ["int8", "torch.int64", "bool", "float17", torch.int32])
def test_non_float_dtype_is_refused_by_name(tmp_path, dtype):
    with pytest.raises(ValueError, match=r"dtype \(torch_dtype\) is .*expected a floating dtype"):
        BertConfig(torch_dtype=dtype)
    if isinstance(dtype, str):
        folder = write_config(tmp_path / "ckpt", dtype=dtype)
        with pytest.raises(ValueError, match="torch_dtype"):
            AutoConfig.from_pretrained(folder)


def test_good_dtypes_read_back_as_torch_dtypes():
    assert BertConfig(torch_dtype="torch.bfloat16").dtype is torch.bfloat16
    assert BertConfig(dtype=torch.float16).torch_dtype is torch.float16
    assert BertConfig(torch_dtype="half").to_dict()["dtype"] == "float16"
    assert BertConfig().dtype is None


def test_unknown_keys_are_kept_unchecked():
    config = BertConfig(my_dropout="anything", custom={"a": [1]})
    assert config.my_dropout == "anything" and config.to_dict()["custom"] == {"a": [1]}


def test_every_committed_config_passes_its_checks():
    for folder in sorted(os.listdir(MODELS)):
        AutoConfig.from_pretrained(os.path.join(MODELS, folder)).validate()


def test_a_new_family_declares_kinds_in_one_line():
    """The mechanism other families use: `fields` beside `defaults`; conventional names need nothing."""

    class ToyConfig(PretrainedConfig):
        model_type = "toy"
        defaults = dict(hidden_size=8, num_attention_heads=2, toy_dropout=0.1, norm_eps=1e-5, mode="a", width=3)
        fields = dict(mode=choice("a", "b"), width=SIZE)
        multiples = (("hidden_size", "num_attention_heads"),)

    assert ToyConfig(width=4).width == 4
    for key, value in (("hidden_size", -8), ("toy_dropout", 3), ("norm_eps", -1), ("mode", "c"), ("width", 0),
                       ("num_attention_heads", 3)):
        with pytest.raises(ValueError, match=key):
            ToyConfig(**{key: value})
    assert PROBABILITY(0.5) and not PROBABILITY(True)


def test_config_signatures_name_their_fields():
    """Code that builds a config from inspect.signature sees the fields and their defaults."""
    params = inspect.signature(BertConfig.__init__).parameters
    assert params["hidden_size"].default == 768 and params["vocab_size"].default == 30522
    assert "kwargs" in params
    assert inspect.signature(BertConfig).parameters["num_attention_heads"].default == 12
    assert inspect.signature(LlamaConfig).parameters["num_key_value_heads"].default is None
    assert inspect.signature(henkan.RobertaConfig).parameters["vocab_size"].default == 50265
    config = BertConfig(**{name: p.default for name, p in inspect.signature(BertConfig).parameters.items()
                           if p.default is not inspect.Parameter.empty})
    assert config == BertConfig()
