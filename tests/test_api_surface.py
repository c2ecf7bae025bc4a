"""The API around models and configs that user code, IDEs and other libraries call, written the way they call it."""

import os

import pytest
import torch

import henkan
from henkan import AutoConfig, AutoModel, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, GPT2Model

DECODERS = os.path.join(os.path.dirname(__file__), "fixtures", "decoders")


def tiny_gpt2_config(**kwargs):
    return GPT2Config(n_layer=1, n_embd=32, n_head=4, vocab_size=50, n_positions=16, **kwargs)


def test_get_text_config_and_sub_configs():
    config = tiny_gpt2_config()
    assert config.get_text_config() is config and config.get_text_config(decoder=True) is config
    assert GPT2Config.sub_configs == {}
    assert henkan.EncoderDecoderConfig.sub_configs == {"encoder": AutoConfig, "decoder": AutoConfig}


def test_update_from_string():
    """configuration.md: the example string of the reference's docstring."""
    config = tiny_gpt2_config()
    config.update_from_string("n_embd=64,resid_pdrop=0.2,scale_attn_weights=false,summary_type=cls_index")
    assert (config.n_embd, config.resid_pdrop, config.scale_attn_weights, config.summary_type) == (
        64, 0.2, False, "cls_index")
    with pytest.raises(ValueError, match="key no_such_key isn't in the original config dict"):
        config.update_from_string("no_such_key=1")
    with pytest.raises(ValueError, match="can't derive true or false from maybe"):
        config.update_from_string("scale_attn_weights=maybe")
    with pytest.raises(ValueError, match="n_embd is -4; expected a positive integer"):
        config.update_from_string("n_embd=-4")


def test_can_generate_is_a_classmethod():
    assert GPT2LMHeadModel.can_generate() and not GPT2Model.can_generate()
    assert GPT2LMHeadModel(tiny_gpt2_config()).can_generate()


def test_from_config_and_private_from_config_with_dtype():
    config = tiny_gpt2_config()
    assert GPT2LMHeadModel._from_config(config, torch_dtype=torch.bfloat16).dtype is torch.bfloat16
    assert AutoModelForCausalLM.from_config(config, torch_dtype=torch.float16).dtype is torch.float16
    assert torch.get_default_dtype() is torch.float32
    model = GPT2LMHeadModel.from_config(config, attn_implementation="eager")
    assert model.config._attn_implementation == "eager" and "attn_implementation" not in model.config.to_dict()


def test_from_pretrained_with_none_config_and_state_dict():
    config = tiny_gpt2_config()
    model = GPT2LMHeadModel(config)
    again = GPT2LMHeadModel.from_pretrained(None, config=config, state_dict=model.state_dict())
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    with pytest.raises(ValueError, match=r"from_pretrained\(None, ...\) needs both config="):
        GPT2LMHeadModel.from_pretrained(None, config=config)
    with pytest.raises(TypeError, match="state_dict should be a dict of tensor names to tensors"):
        GPT2LMHeadModel.from_pretrained(None, config=config, state_dict={"a": 1})


def test_attn_implementation():
    model = AutoModelForCausalLM.from_pretrained(os.path.join(DECODERS, "llama"), attn_implementation="sdpa")
    ids = torch.tensor([[1, 2, 3, 4]])
    expected = model(ids).logits
    model.set_attn_implementation("eager")
    assert model.config._attn_implementation == "eager" and model.model.config._attn_implementation == "eager"
    torch.testing.assert_close(model(ids).logits, expected, atol=1e-5, rtol=1e-5)
    for bad in ("flash_attention_2", "flex_attention"):
        with pytest.raises(ValueError, match=f"attn_implementation='{bad}' is not available in henkan"):
            model.set_attn_implementation(bad)
        with pytest.raises(ValueError, match="is not available in henkan"):
            AutoModelForCausalLM.from_pretrained(os.path.join(DECODERS, "llama"), attn_implementation=bad)


def test_capability_flags():
    for cls in (GPT2LMHeadModel, henkan.BertModel, henkan.LlamaForCausalLM, henkan.T5ForConditionalGeneration):
        assert cls._supports_sdpa is True and cls._supports_flash_attn is False and cls._supports_flex_attn is False
        assert cls.supports_gradient_checkpointing is True


def test_from_pretrained_in_a_meta_device_context_is_a_clear_error():
    with torch.device("meta"):
        with pytest.raises(RuntimeError, match="meta device context"):
            AutoModel.from_pretrained(os.path.join(DECODERS, "gpt2"))
        assert GPT2Model(tiny_gpt2_config()).wte.weight.device.type == "meta"  # building empty is fine


def test_registering_again_replaces_a_custom_type():
    """A notebook cell run twice registers its classes twice: custom types are replaced, built-ins stay guarded."""
    class AgainConfig(henkan.PretrainedConfig):
        model_type = "again-model"
        defaults = {"hidden_size": 4}

    class AgainModel(henkan.PreTrainedModel):
        config_class = AgainConfig

        def __init__(self, config):
            super().__init__(config)
            self.proj = torch.nn.Linear(config.hidden_size, config.hidden_size)

    for _ in range(2):
        AutoConfig.register("again-model", AgainConfig)
        AutoModel.register(AgainConfig, AgainModel)
    assert isinstance(AutoConfig.for_model("again-model"), AgainConfig)
    assert isinstance(AutoModel.from_config(AgainConfig()), AgainModel)
    with pytest.raises(ValueError, match="already"):
        AutoConfig.register("bert", type("OtherBertConfig", (henkan.BertConfig,), {"model_type": "bert"}))


def test_mapping_names():
    from henkan import (CONFIG_MAPPING, MODEL_FOR_CAUSAL_LM_MAPPING, MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING, MODEL_MAPPING)

    assert MODEL_FOR_CAUSAL_LM_MAPPING[henkan.LlamaConfig] is henkan.LlamaForCausalLM
    assert MODEL_FOR_CAUSAL_LM_MAPPING_NAMES["gpt2"] == "GPT2LMHeadModel"
    assert henkan.BertConfig in MODEL_MAPPING and henkan.T5Config not in MODEL_FOR_CAUSAL_LM_MAPPING
    assert MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING[henkan.BertConfig] is henkan.BertForSequenceClassification
    assert CONFIG_MAPPING["mistral"] is henkan.MistralConfig and "bert" in CONFIG_MAPPING
    # what a library does to check that a model supports a task
    supported = [cls.__name__ for cls in MODEL_FOR_CAUSAL_LM_MAPPING.values()]
    assert "GPT2LMHeadModel" in supported and "BertLMHeadModel" in supported


def test_model_output_from_a_dict_and_as_a_pytree():
    from dataclasses import dataclass
    from typing import Optional

    x = torch.ones(2)
    out = henkan.BaseModelOutput({"last_hidden_state": x, "hidden_states": None, "attentions": None})
    assert list(out.keys()) == ["last_hidden_state"] and out.last_hidden_state is x
    leaves, spec = torch.utils._pytree.tree_flatten(henkan.BaseModelOutput(last_hidden_state=x, attentions=(x,)))
    assert len(leaves) == 2
    again = torch.utils._pytree.tree_unflatten([t * 2 for t in leaves], spec)
    assert type(again) is henkan.BaseModelOutput and torch.equal(again.attentions[0], x * 2)

    class Doubler(torch.nn.Module):
        def forward(self, x):
            return henkan.BaseModelOutput(last_hidden_state=x * 2)

    exported = torch.export.export(Doubler(), (x,))
    assert torch.equal(exported.module()(x).last_hidden_state, x * 2)

    @dataclass
    class MyOutput(henkan.ModelOutput):
        logits: Optional[torch.Tensor] = None

    assert torch.utils._pytree.tree_flatten(MyOutput(logits=x))[0] == [x]

    class NotADataclass(henkan.ModelOutput):
        logits: Optional[torch.Tensor] = None

    with pytest.raises(TypeError, match="NotADataclass is not a dataclass.*must use the @dataclass decorator"):
        NotADataclass(logits=x)
