"""Hostile model and generate() inputs: one clear error each, naming the argument, raised before any compute."""

import os

import pytest
import torch

import henkan
from conftest import MODELS

DECODERS = os.path.join(os.path.dirname(__file__), "fixtures", "decoders")


@pytest.fixture(scope="module")
def classifier():
    return henkan.AutoModelForSequenceClassification.from_pretrained(
        os.path.join(MODELS, "bert-forsequenceclassification")).eval()


@pytest.fixture(scope="module")
def llama():
    return henkan.AutoModelForCausalLM.from_pretrained(os.path.join(DECODERS, "llama")).eval()


IDS = torch.tensor([[5, 6, 7]])


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(input_ids=[[5, 6, 7]]), TypeError, "input_ids should be a torch.Tensor, not list"),
    (dict(input_ids=IDS.float()), TypeError, "input_ids should hold integer ids .*torch.float32"),
    (dict(input_ids=IDS.bool()), TypeError, "input_ids should hold integer ids"),
    (dict(input_ids=torch.zeros(1, 0, dtype=torch.long)), ValueError, r"input_ids is empty \(shape \[1, 0\]\)"),
    (dict(input_ids=torch.zeros(0, 3, dtype=torch.long)), ValueError, "input_ids is empty"),
    (dict(inputs_embeds=torch.zeros(1, 3, 32, dtype=torch.long)), TypeError, "inputs_embeds should be a floating"),
    (dict(input_ids=IDS, attention_mask=torch.ones(1, 4)), ValueError,
     r"attention_mask has shape \[1, 4\] but the input is \[batch=1, sequence=3\]; the mask should be \[1, 3\]"),
    (dict(input_ids=IDS, attention_mask=torch.ones(2, 3)), ValueError, "attention_mask has shape"),
    (dict(input_ids=IDS, attention_mask=[[1, 1, 1]]), TypeError, "attention_mask should be a torch.Tensor"),
    (dict(input_ids=IDS, position_ids=torch.tensor([[0, 1]])), ValueError, r"position_ids has shape \[1, 2\]"),
    (dict(input_ids=IDS, position_ids=torch.tensor([[0.0, 1, 2]])), TypeError, "position_ids should hold integer"),
    (dict(input_ids=IDS, token_type_ids=torch.tensor([[0, 1, 2]])), ValueError,
     "token_type_ids hold 2, but this model has type_vocab_size=2"),
    (dict(input_ids=IDS, token_type_ids=torch.tensor([[0, -1, 0]])), ValueError, "token_type_ids hold -1"),
    (dict(input_ids=IDS, token_type_ids=torch.tensor([[0, 1]])), ValueError, r"token_type_ids has shape \[1, 2\]"),
    (dict(input_ids=IDS, labels=torch.tensor([3])), ValueError,
     r"labels hold 3, outside the 3 classes of this model \(num_labels=3"),
    (dict(input_ids=IDS, labels=torch.tensor([-2])), ValueError, "labels hold -2"),
    (dict(input_ids=IDS, labels=[1]), TypeError, "labels should be a torch.Tensor"),
])
def test_encoder_inputs(classifier, kwargs, error, message):
    with pytest.raises(error, match=message):
        classifier(**kwargs)


def test_encoder_inputs_that_are_fine(classifier):
    """The checks do not refuse what is valid: a broadcast position row, a 4-D mask, ignored labels."""
    out = classifier(input_ids=torch.tensor([[5, 6, 7], [8, 9, 10]]), position_ids=torch.tensor([[0, 1, 2]]),
                     attention_mask=torch.ones(2, 3, dtype=torch.long), labels=torch.tensor([0, 2]))
    assert out.loss is not None
    tokens = henkan.AutoModelForTokenClassification.from_pretrained(os.path.join(MODELS, "bert-fortokenclassification"))
    assert tokens(input_ids=IDS, labels=torch.tensor([[-100, 1, -100]])).loss is not None
    with pytest.raises(ValueError, match=r"labels hold 9, outside the \d+ classes"):
        tokens(input_ids=IDS, labels=torch.tensor([[-100, 9, 0]]))


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(input_ids=[[5, 6, 7]]), TypeError, "input_ids should be a torch.Tensor, not list"),
    (dict(input_ids=IDS.double()), TypeError, "input_ids should hold integer ids"),
    (dict(input_ids=torch.zeros(1, 0, dtype=torch.long)), ValueError, "input_ids is empty"),
    (dict(input_ids=IDS, attention_mask=torch.ones(1, 2)), ValueError, r"the mask should be \[1, 3\]"),
    (dict(input_ids=IDS, position_ids=torch.tensor([[0, 1, 2, 3]])), ValueError, "position_ids has shape"),
    (dict(input_ids=IDS, labels=torch.tensor([[5, 6, 100000]])), ValueError,
     r"labels hold 100000, outside the \d+ classes of this model \(vocab_size="),
])
def test_decoder_inputs(llama, kwargs, error, message):
    with pytest.raises(error, match=message):
        llama(**kwargs)


def test_decoder_mask_covers_the_cache(llama):
    out = llama(input_ids=IDS, use_cache=True)
    step = torch.tensor([[8]])
    llama(input_ids=step, past_key_values=out.past_key_values, attention_mask=torch.ones(1, 4))  # past + new
    with pytest.raises(ValueError, match=r"the mask should be \[1, 5\] .*cached ones included"):
        llama(input_ids=step, past_key_values=out.past_key_values, attention_mask=torch.ones(1, 1))


@pytest.mark.parametrize("kwargs,message", [
    (dict(top_p=1.5), r"`top_p` is 1.5; expected a number in \(0, 1\]"),
    (dict(top_p=0.0, do_sample=True), r"`top_p` is 0.0"),
    (dict(no_repeat_ngram_size=-1), "`no_repeat_ngram_size` is -1; expected a non-negative integer"),
    (dict(max_new_tokens=2.5), "`max_new_tokens` is 2.5; expected a positive integer"),
    (dict(max_new_tokens="10"), "`max_new_tokens` is '10'"),
    (dict(max_new_tokens=0), "`max_new_tokens` is 0"),
    (dict(eos_token_id="</s>"), "`eos_token_id` is '</s>'; expected a token id or a list of token ids"),
    (dict(eos_token_id=[2, 2.5]), "`eos_token_id` is"),
    (dict(num_beams=0), "`num_beams` is 0"),
    (dict(temperature=-1.0, do_sample=True), "`temperature` is -1.0"),
    (dict(repetition_penalty=0), "`repetition_penalty` is 0"),
    (dict(do_sample="yes"), "`do_sample` is 'yes'; expected true or false"),
])
def test_generate_settings_out_of_range(llama, kwargs, message):
    with pytest.raises(ValueError, match=message):
        llama.generate(IDS, **kwargs)
    with pytest.raises(ValueError, match=message):
        henkan.GenerationConfig(**kwargs)


def test_generation_config_file_with_a_bad_value_names_the_file(tmp_path):
    (tmp_path / "generation_config.json").write_text('{"top_p": 7}')
    with pytest.raises(ValueError, match=f"{tmp_path / 'generation_config.json'}: `top_p` is 7"):
        henkan.GenerationConfig.from_pretrained(tmp_path)


def test_generate_accepts_the_valid_forms(llama):
    out = llama.generate(IDS, max_new_tokens=2, eos_token_id=torch.tensor([2, 3]), top_p=1.0, do_sample=False)
    assert out.shape == (1, 5)
    assert llama.generate(IDS, max_new_tokens=2, eos_token_id=[2, 3]).shape[0] == 1


FIXTURES = os.path.dirname(DECODERS)
CHECKPOINTS = sorted(os.path.join(kind, name) for kind in ("models", "decoders", "seq2seq")
                     for name in os.listdir(os.path.join(FIXTURES, kind))
                     if os.path.exists(os.path.join(FIXTURES, kind, name, "model.safetensors")))


@pytest.mark.parametrize("folder", CHECKPOINTS)
def test_every_family_refuses_list_float_and_empty_ids(folder):
    """Encoders, decoders and encoder-decoders alike (before anything is derived from the ids, e.g. decoder inputs
    shifted from them)."""
    path = os.path.join(FIXTURES, folder)
    config = henkan.AutoConfig.from_pretrained(path)
    model_class = getattr(henkan, config.architectures[0])
    model = model_class.from_pretrained(path)
    extra = {"decoder_input_ids": torch.tensor([[1, 2]])} if config.is_encoder_decoder and not hasattr(
        model, "lm_head") else {}
    for ids, error, message in (([[5, 6, 7]], TypeError, "input_ids should be a torch.Tensor, not list"),
                                (torch.tensor([[5.0, 6, 7]]), TypeError, "input_ids should hold integer ids"),
                                (torch.zeros(1, 0, dtype=torch.long), ValueError, "input_ids (is|.*and not) empty")):
        if "multiplechoice" in folder:
            ids = [ids] if isinstance(ids, list) else ids[None]
        with pytest.raises(error, match=message):
            model(input_ids=ids, **extra)
