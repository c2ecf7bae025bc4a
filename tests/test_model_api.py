"""The PreTrainedModel surface users touch: outputs, sizes, embeddings, training helpers, seed examples."""

import os

import pytest
import torch

import henkan
from henkan import (AutoModel, AutoModelForMaskedLM, AutoModelForQuestionAnswering,
                    AutoModelForSequenceClassification, BertConfig, BertForMaskedLM)
from conftest import MODELS

SEQCLS = os.path.join(MODELS, "bert-forsequenceclassification")
IDS = torch.tensor([[5, 6, 7, 8, 9], [9, 8, 7, 6, 5]])


def test_model_output_is_dict_and_tuple():
    """main_classes__output.md: loss first when labels are given, None fields skipped, outputs[:2]."""
    model = AutoModelForSequenceClassification.from_pretrained(SEQCLS)
    outputs = model(IDS, labels=torch.tensor([1, 0]))
    assert list(outputs.keys()) == ["loss", "logits"]
    loss, logits = outputs[:2]
    assert loss is outputs.loss and logits is outputs["logits"] and outputs.attentions is None
    assert len(outputs.to_tuple()) == 2
    as_tuple = model(IDS, return_dict=False)
    torch.testing.assert_close(as_tuple[0], outputs.logits)


def test_problem_types():
    model = AutoModelForSequenceClassification.from_pretrained(SEQCLS)
    model(IDS, labels=torch.tensor([2, 0]))
    assert model.config.problem_type == "single_label_classification"
    multi = AutoModelForSequenceClassification.from_pretrained(SEQCLS, problem_type="multi_label_classification")
    assert multi(IDS, labels=torch.tensor([[1.0, 0, 1], [0, 1, 0]])).loss > 0
    regression = AutoModelForSequenceClassification.from_pretrained(
        os.path.join(MODELS, "bert-forsequenceclassification-regression"))
    regression(IDS, labels=torch.tensor([0.5, -1.0]))
    assert regression.config.problem_type == "regression"


def test_sizes():
    model = AutoModel.from_pretrained(os.path.join(MODELS, "bert-model"))
    total = sum(p.numel() for p in model.parameters())
    assert model.num_parameters() == total
    embeddings = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    assert model.num_parameters(exclude_embeddings=True) == total - embeddings
    assert model.get_memory_footprint() == total * 4


def test_tied_embeddings_and_resize():
    model = AutoModelForMaskedLM.from_pretrained(os.path.join(MODELS, "bert-formaskedlm"))
    decoder = model.get_output_embeddings()
    assert decoder.weight is model.get_input_embeddings().weight
    assert decoder.bias is model.cls.predictions.bias
    model.resize_token_embeddings(120)
    assert model.config.vocab_size == 120 and model.get_input_embeddings().weight.shape == (120, 32)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert model(torch.tensor([[119, 3]])).logits.shape == (1, 2, 120)
    assert model.resize_token_embeddings(121, pad_to_multiple_of=8).num_embeddings == 128


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                        vocab_size=99, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForMaskedLM(config).train()
    labels = IDS.clone()
    model(IDS, labels=labels).loss.backward()
    plain = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.gradient_checkpointing_enable()
    assert model.is_gradient_checkpointing
    model(IDS, labels=labels).loss.backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, plain[name], msg=name)


def test_from_config_and_seed_create_a_model(tmp_path):
    """create_a_model.ja.md: a model from a custom config; the same checkpoint under other heads."""
    my_config = henkan.DistilBertConfig.from_pretrained(os.path.join(MODELS, "distilbert-model"), activation="relu")
    model = henkan.DistilBertModel(my_config)
    assert model.config.activation == "relu"
    path = os.path.join(MODELS, "distilbert-model")
    assert henkan.DistilBertModel.from_pretrained(path, config=my_config).config.activation == "relu"
    for cls in (henkan.DistilBertForSequenceClassification, henkan.DistilBertForQuestionAnswering,
                henkan.AutoModelForTokenClassification):
        assert cls.from_pretrained(path) is not None
    built = AutoModel.from_config(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                             intermediate_size=37, vocab_size=99), torch_dtype=torch.bfloat16)
    assert built.dtype == torch.bfloat16


def test_seed_classification_and_qa_with_minilm(minilm_path):
    """transformers-framework-notes: sequence classification (num_labels=2) and extractive QA on a BERT."""
    tokenizer = henkan.AutoTokenizer.from_pretrained(minilm_path)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2)
    inputs = tokenizer("This product is very convenient.", return_tensors="pt")
    probabilities = torch.softmax(model(**inputs).logits, dim=-1)
    assert probabilities.shape == (1, 2) and torch.allclose(probabilities.sum(), torch.tensor(1.0))
    qa = AutoModelForQuestionAnswering.from_pretrained(minilm_path)
    inputs = tokenizer("What is this?", "This is an apple. Apple is a fruit.", return_tensors="pt")
    outputs = qa(**inputs)
    start, end = torch.argmax(outputs.start_logits), torch.argmax(outputs.end_logits)
    assert isinstance(tokenizer.decode(inputs["input_ids"][0][start:end + 1]), str)


def test_bad_inputs_have_clear_errors():
    model = AutoModel.from_pretrained(os.path.join(MODELS, "bert-model"))
    with pytest.raises(ValueError, match="at most 64"):
        model(torch.ones(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.tensor([[1, 500]]))
    with pytest.raises(ValueError, match="batch dimension"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="exactly one"):
        model()


@pytest.mark.parametrize("folder", ["bert-formaskedlm", "roberta-formaskedlm", "albert-formaskedlm",
                                    "distilbert-formaskedlm"])
def test_resize_keeps_shared_biases_shared(folder, tmp_path):
    model = AutoModelForMaskedLM.from_pretrained(os.path.join(MODELS, folder))
    model.resize_token_embeddings(120)
    biases = {id(p): n for n, p in model.named_parameters(remove_duplicate=False) if n.endswith("bias")
              and p.shape[0] in (99, 120)}
    assert all(model.get_parameter(name).shape[0] == 120 for name in biases.values())
    model.save_pretrained(tmp_path)
    again = AutoModelForMaskedLM.from_pretrained(tmp_path)
    ids = torch.tensor([[119, 4, 5]])
    torch.testing.assert_close(again(ids).logits, model(ids).logits)


@pytest.mark.parametrize("folder", ["distilbert-model", "albert-model", "roberta-model"])
def test_too_long_input_is_a_clear_error(folder):
    model = AutoModel.from_pretrained(os.path.join(MODELS, folder))
    with pytest.raises(ValueError, match="Truncate it"):
        model(torch.full((1, 70), 5, dtype=torch.long))


def test_linear_matches_f_linear_with_and_without_gradients():
    from henkan.layers import linear, linear_layer

    torch.manual_seed(0)
    layer = linear_layer(512, 1024)  # large enough for oneDNN's matmul when no gradient is wanted
    assert type(layer) is torch.nn.Linear
    for x in (torch.randn(512), torch.randn(3, 512), torch.randn(2, 5, 512), torch.randn(0, 512)):
        expected = torch.nn.functional.linear(x, layer.weight, layer.bias).detach()
        with torch.no_grad():
            torch.testing.assert_close(layer(x), expected, atol=1e-4, rtol=1e-5)
            torch.testing.assert_close(linear(x, layer.weight.t().contiguous().t(), None),  # a strided weight
                                       expected - layer.bias, atol=1e-4, rtol=1e-5)
    with torch.no_grad():
        half = layer.to(torch.bfloat16)
        x = torch.randn(2, 512, dtype=torch.bfloat16)
        torch.testing.assert_close(half(x), torch.nn.functional.linear(x, half.weight, half.bias), atol=0.1, rtol=0.02)
    layer = layer.float()
    x = torch.randn(4, 512, requires_grad=True)
    layer(x).sum().backward()  # with gradients: PyTorch's own matmul and its backward
    torch.testing.assert_close(x.grad, layer.weight.sum(0).expand(4, -1))


def test_models_keep_plain_linear_layers_for_quantization_and_copies(tmp_path):
    import copy
    import warnings

    model = henkan.AutoModelForCausalLM.from_pretrained(os.path.join(MODELS, "..", "decoders", "llama")).eval()
    x = torch.tensor([[1, 5, 7]])
    with torch.no_grad():
        expected = model(x).logits
        assert torch.equal(copy.deepcopy(model)(x).logits, expected)
        torch.save(model, tmp_path / "whole.pt")
        assert torch.equal(torch.load(tmp_path / "whole.pt", weights_only=False)(x).logits, expected)
        assert torch.fx.Tracer().is_leaf_module(model.model.layers[0].self_attn.q_proj, "q_proj")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization says it is deprecated
            quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        assert type(quantized.model.layers[0].self_attn.q_proj).__module__.startswith("torch.ao.nn.quantized")
        assert quantized(x).logits.shape == expected.shape  # int8 weights: close only on real, smooth models


def test_onednn_failure_falls_back_to_pytorch_matmul(monkeypatch):
    """Under an address-space limit (`ulimit -v`) oneDNN may fail to allocate where PyTorch's matmul runs: the
    first failure turns the route off for the process and the call is answered by F.linear."""
    from henkan import layers

    def failing(*args):
        raise RuntimeError("could not allocate memory for the scratchpad")

    monkeypatch.setattr(layers, "_onednn", lambda: failing)
    layer = layers.linear_layer(512, 512)
    x = torch.randn(2, 512)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias))
    assert layers._onednn() is None  # off from now on (monkeypatch restores the real route after the test)


def test_models_run_under_an_address_space_limit():
    """`ulimit -v 4G`, common on shared clusters: a forward and a generate run."""
    import subprocess
    import sys

    code = ("import resource, torch, henkan\n"
            "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
            "config = henkan.LlamaConfig(vocab_size=512, hidden_size=256, intermediate_size=512, num_hidden_layers=2,"
            " num_attention_heads=4)\n"
            "model = henkan.LlamaForCausalLM(config).eval()\n"
            "out = model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=3, do_sample=False)\n"
            "assert out.shape == (1, 6)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_gradient_checkpointing_in_the_config_takes_effect(tmp_path):
    """An older config.json key: the model turns checkpointing on when built, and the key is not saved again."""
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
                        vocab_size=99, gradient_checkpointing=True)
    model = BertForMaskedLM(config)
    assert model.is_gradient_checkpointing
    assert not hasattr(model.config, "gradient_checkpointing")
    model.save_pretrained(tmp_path)
    assert "gradient_checkpointing" not in (tmp_path / "config.json").read_text()
    assert not BertForMaskedLM.from_pretrained(tmp_path).is_gradient_checkpointing
