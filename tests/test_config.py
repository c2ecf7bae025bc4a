"""Configs: the seed examples, the reference's config.json format, labels, aliases, registration."""

import json
import os

import pytest

import henkan
from henkan import AutoConfig, BertConfig, PretrainedConfig
from conftest import MODELS


@pytest.mark.parametrize("folder", sorted(os.listdir(MODELS)))
def test_config_json_round_trips_exactly(folder, tmp_path):
    """config.json written by the reference is what henkan writes back for the same config."""
    with open(os.path.join(MODELS, folder, "config.json")) as f:
        on_disk = json.load(f)
    config = AutoConfig.from_pretrained(os.path.join(MODELS, folder))
    assert json.loads(config.to_json_string()) == on_disk
    config.save_pretrained(tmp_path)
    with open(tmp_path / "config.json") as f:
        assert json.load(f) == on_disk


def test_seed_distilbert_config_repr():
    """create_a_model.ja.md: printing a DistilBertConfig shows the reference's JSON."""
    config = henkan.DistilBertConfig(activation="relu", attention_dropout=0.4)
    text = repr(config)
    assert text.startswith("DistilBertConfig {\n")
    body = json.loads(text[len("DistilBertConfig "):])
    assert body == {
        "activation": "relu", "attention_dropout": 0.4, "dim": 768, "dropout": 0.1, "hidden_dim": 3072,
        "initializer_range": 0.02, "max_position_embeddings": 512, "model_type": "distilbert", "n_heads": 12,
        "n_layers": 6, "pad_token_id": 0, "qa_dropout": 0.1, "seq_classif_dropout": 0.2,
        "sinusoidal_pos_embds": False, "transformers_version": body["transformers_version"], "vocab_size": 30522}
    assert config.hidden_size == 768 and config.num_attention_heads == 12  # aliases of dim / n_heads
    config.hidden_size = 64
    assert config.dim == 64


def test_seed_save_and_reload(tmp_path, minilm_path):
    """transformers-framework-notes: load, change dropouts, save, reload; create_a_model: from a json path."""
    config = AutoConfig.from_pretrained(minilm_path)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers,
            config.max_position_embeddings) == (384, 12, 6, 512)
    config.hidden_dropout_prob = 0.2
    config.attention_probs_dropout_prob = 0.2
    config.save_pretrained(tmp_path / "custom_config")
    again = AutoConfig.from_pretrained(tmp_path / "custom_config")
    assert type(again) is BertConfig and again.hidden_dropout_prob == 0.2
    assert BertConfig.from_pretrained(str(tmp_path / "custom_config" / "config.json")).hidden_dropout_prob == 0.2
    my = henkan.DistilBertConfig.from_pretrained(os.path.join(MODELS, "distilbert-model"), activation="relu",
                                                 attention_dropout=0.4)
    assert (my.activation, my.attention_dropout, my.dim) == ("relu", 0.4, 32)


def test_overrides_and_unused_kwargs():
    path = os.path.join(MODELS, "bert-model")
    config, unused = BertConfig.from_pretrained(path, hidden_dropout_prob=0.3, foo=1, return_unused_kwargs=True)
    assert config.hidden_dropout_prob == 0.3 and unused == {"foo": 1}
    assert AutoConfig.from_pretrained(path, num_labels=5).num_labels == 5


def test_labels():
    config = BertConfig(id2label={"0": "neg", "1": "pos"})
    assert config.id2label == {0: "neg", 1: "pos"} and config.label2id == {"neg": 0, "pos": 1}
    assert config.num_labels == 2
    config.num_labels = 3
    assert config.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    loaded = AutoConfig.from_pretrained(os.path.join(MODELS, "bert-forsequenceclassification"))
    assert loaded.id2label == {0: "NEG", 1: "NEU", 2: "POS"} and loaded.num_labels == 3


def test_unknown_keys_are_kept_and_written_back(tmp_path):
    config = BertConfig(my_custom_flag=[1, 2], hidden_size=48)
    config.save_pretrained(tmp_path)
    again = AutoConfig.from_pretrained(tmp_path)
    assert again.my_custom_flag == [1, 2] and again.hidden_size == 48
    assert config.to_dict()["my_custom_flag"] == [1, 2]


def test_torch_dtype_alias():
    """Read back as a torch.dtype, as in the reference; written to config.json as its name."""
    import torch

    config = BertConfig(torch_dtype="float16")
    assert config.dtype == torch.float16 and config.torch_dtype == torch.float16
    assert config.to_diff_dict()["dtype"] == "float16"


def test_missing_model_type_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(ValueError, match="model_type"):
        AutoConfig.from_pretrained(tmp_path)


def test_unknown_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-model"}))
    with pytest.raises(ValueError, match="no-such-model"):
        AutoConfig.from_pretrained(tmp_path)


def test_remote_code_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"model_type": "custom-thing", "auto_map": {"AutoConfig": "modeling.MyConfig"}}))
    with pytest.raises(ValueError, match="trust_remote_code"):
        AutoConfig.from_pretrained(tmp_path)


def test_invalid_json(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(OSError, match="not a valid JSON"):
        AutoConfig.from_pretrained(tmp_path)


def test_register_new_model_type(tmp_path):
    """model_doc__auto.md: AutoConfig.register and AutoModel.register."""
    import torch

    class NewModelConfig(PretrainedConfig):
        model_type = "new-model"
        defaults = {"hidden_size": 4}

    class NewModel(henkan.PreTrainedModel):
        config_class = NewModelConfig

        def __init__(self, config):
            super().__init__(config)
            self.proj = torch.nn.Linear(config.hidden_size, config.hidden_size)
            self.post_init()

        def forward(self, x):
            return self.proj(x)

    AutoConfig.register("new-model", NewModelConfig)
    henkan.AutoModel.register(NewModelConfig, NewModel)
    model = henkan.AutoModel.from_config(NewModelConfig())
    model.save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), NewModelConfig)
    again = henkan.AutoModel.from_pretrained(tmp_path)
    assert isinstance(again, NewModel)
    torch.testing.assert_close(again.proj.weight, model.proj.weight)
    with pytest.raises(ValueError, match="must match"):
        AutoConfig.register("other-name", NewModelConfig)
    with pytest.raises(ValueError, match="already"):
        AutoConfig.register("bert", type("MyBertConfig", (BertConfig,), {}))


def test_bare_pretrained_config_to_auto_model_is_a_clear_error():
    """transformers-framework-notes: AutoModel.from_config(PretrainedConfig(...)) names no architecture."""
    with pytest.raises(ValueError, match="bare PretrainedConfig"):
        henkan.AutoModel.from_config(PretrainedConfig(vocab_size=21128, hidden_size=512))
