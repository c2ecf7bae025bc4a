"""The reference's deeper module paths work after the one-word swap, as aliases of henkan's modules, and
`import henkan` stays cheap."""

import subprocess
import sys

import pytest


def run(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_henkan_imports_no_torch_and_no_submodule():
    run("import sys, henkan\n"
        "assert 'torch' not in sys.modules, 'torch'\n"
        "assert not [m for m in sys.modules if m.startswith('henkan.') and m != 'henkan.aliases'], sys.modules\n")


def test_seed_style_deep_imports():
    """The imports seed pages and user code write, each giving henkan's own object."""
    import henkan
    from henkan.utils import logging
    import henkan.utils.logging
    from henkan.tokenization_utils_base import BatchEncoding, PaddingStrategy, PreTrainedTokenizerBase
    from henkan.modeling_outputs import BaseModelOutput, SequenceClassifierOutput
    from henkan.modeling_utils import PreTrainedModel
    from henkan.configuration_utils import PretrainedConfig
    from henkan.optimization import AdamW, get_linear_schedule_with_warmup
    from henkan.trainer_utils import EvalPrediction, IntervalStrategy

    assert logging is henkan.logging and henkan.utils.logging is henkan.logging
    logging.get_logger(__name__).info("deep import")
    assert (BatchEncoding, PaddingStrategy, PreTrainedTokenizerBase) == (
        henkan.BatchEncoding, henkan.PaddingStrategy, henkan.PreTrainedTokenizerBase)
    assert (BaseModelOutput, SequenceClassifierOutput, PreTrainedModel, PretrainedConfig) == (
        henkan.BaseModelOutput, henkan.SequenceClassifierOutput, henkan.PreTrainedModel, henkan.PretrainedConfig)
    assert (AdamW, get_linear_schedule_with_warmup, EvalPrediction, IntervalStrategy) == (
        henkan.AdamW, henkan.get_linear_schedule_with_warmup, henkan.EvalPrediction, henkan.IntervalStrategy)
    assert henkan.modeling_outputs is henkan.outputs  # attribute access, as on the reference's package


@pytest.mark.parametrize("model_type", ["bert", "roberta", "xlm-roberta", "llama", "mistral", "qwen2", "gpt2", "t5",
                                        "bart", "blenderbot-small", "encoder-decoder", "bigbird_pegasus"])
def test_family_paths(model_type):
    import importlib

    import henkan
    from henkan.auto import FAMILIES, family_class

    name = model_type.replace("-", "_")
    config_class = family_class(model_type, "Config")
    configuration = importlib.import_module(f"henkan.models.{name}.configuration_{name}")
    assert getattr(configuration, config_class.__name__) is config_class
    _, prefix, tasks = FAMILIES[model_type]
    modeling = importlib.import_module(f"henkan.models.{name}.modeling_{name}")
    model_class = family_class(model_type, tasks[0])
    assert getattr(modeling, model_class.__name__) is model_class
    assert importlib.import_module(f"henkan.models.{name}") is modeling
    assert importlib.import_module(f"henkan.models.{name}.tokenization_{name}_fast") is henkan.tokenization


def test_auto_and_tokenizer_paths():
    from henkan.models.auto import AutoConfig
    from henkan.models.auto.modeling_auto import AutoModelForCausalLM
    from henkan.models.auto.tokenization_auto import AutoTokenizer
    from henkan.models.bert.tokenization_bert import BertTokenizer
    import henkan

    assert (AutoConfig, AutoModelForCausalLM, AutoTokenizer, BertTokenizer) == (
        henkan.AutoConfig, henkan.AutoModelForCausalLM, henkan.AutoTokenizer, henkan.BertTokenizer)


def test_unknown_paths_are_import_errors():
    with pytest.raises(ModuleNotFoundError, match="henkan.models.nosuch"):
        import henkan.models.nosuch.modeling_nosuch  # noqa: F401
    with pytest.raises(ImportError, match="NoSuchModel"):
        from henkan.models.bert.modeling_bert import NoSuchModel  # noqa: F401
