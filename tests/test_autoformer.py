"""Autoformer and the time-series blocks against goldens of the reference (tests/fixtures/make_autoformer.py).

Forward outputs, the loss and the distribution parameters match the reference bit for bit on these fixtures (the
tolerance below is the contract, 1e-4). generate() samples are *equal* to the reference's under the same torch seed:
the forecast is one decoder pass and one `distribution.sample()` on the same torch.distributions objects, so the
random draws happen in the same order.
"""

import os

import pytest
import torch
from safetensors.torch import load_file

import henkan
from conftest import FIXTURES
from henkan import time_series

AUTOFORMER = os.path.join(FIXTURES, "autoformer")
NAMES = ["student-t", "normal", "negative-binomial"]
LOSS_ONLY = ("future_observed_mask",)


def golden(name: str) -> tuple[str, dict, dict]:
    folder = os.path.join(AUTOFORMER, name)
    data = load_file(os.path.join(folder, "golden.safetensors"))
    inputs = {k.removeprefix("input."): v for k, v in data.items() if k.startswith("input.")}
    return folder, inputs, data


def model_for(folder: str, cls=henkan.AutoformerForPrediction):
    return cls.from_pretrained(folder).eval()


def pick(output, key: str):
    """`output.<field>[.<i>]` of a golden key."""
    field, *index = key.split(".")[1:]
    value = output[field]
    return value[int(index[0])] if index else value


def generate_inputs(inputs: dict) -> dict:
    return {k: v for k, v in inputs.items() if k not in ("future_values", "future_observed_mask")}


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_the_reference(name):
    folder, inputs, data = golden(name)
    with torch.no_grad():
        out = model_for(folder)(**inputs, output_hidden_states=True, output_attentions=True)
    keys = [k for k in data if k.startswith("output.")]
    assert {k.split(".")[1] for k in keys} == set(out.keys())
    for key in keys:
        torch.testing.assert_close(pick(out, key), data[key], atol=1e-4, rtol=0, msg=key)
    torch.testing.assert_close(out.loss, data["output.loss"], atol=0, rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_base_model_matches_the_reference(name):
    folder, inputs, data = golden(name)
    inputs = {k: v for k, v in inputs.items() if k not in LOSS_ONLY}
    with torch.no_grad():
        out = model_for(folder, henkan.AutoformerModel)(**inputs)
    torch.testing.assert_close(out.last_hidden_state, data["base.last_hidden_state"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.trend, data["base.trend"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", NAMES)
def test_generate_samples_equal_the_reference_under_one_seed(name):
    folder, inputs, data = golden(name)
    model = model_for(folder)
    torch.manual_seed(0)
    sequences = model.generate(**generate_inputs(inputs)).sequences
    expected = data["generate.sequences"]
    config = model.config
    assert sequences.shape == expected.shape == (
        inputs["past_values"].shape[0], config.num_parallel_samples, config.prediction_length,
        *(() if config.input_size == 1 else (config.input_size,)))
    torch.testing.assert_close(sequences, expected, atol=1e-4, rtol=0)
    if name == "negative-binomial":
        assert torch.equal(sequences, sequences.round()) and bool((sequences >= 0).all())


def test_forecast_samples_follow_the_predicted_distribution():
    """Many forecasts of one series have the mean and spread of the distributions generate() samples from. (The
    repeats of a series do not all share one distribution: the reference's tiling of delays over [rows * heads], kept
    here, gives repeats different delays; so the check is against the mixture of the per-repeat distributions.)"""
    folder, inputs, _ = golden("normal")
    model = model_for(folder)
    n = model.config.num_parallel_samples = 1000
    built = []
    output_distribution = model.output_distribution
    model.output_distribution = lambda *a, **k: built.append(output_distribution(*a, **k)) or built[-1]
    torch.manual_seed(0)
    samples = model.generate(**generate_inputs(inputs)).sequences
    assert samples.shape == (3, n, 6, 2)
    means, variances = (t.view(3, n, 6, 2) for t in (built[0].mean, built[0].variance))
    mixture_mean = means.mean(dim=1)
    mixture_std = (variances.mean(dim=1) + means.var(dim=1, correction=0)).sqrt()
    assert bool(((samples.mean(dim=1) - mixture_mean).abs() < 5 * mixture_std / n ** 0.5).all())
    torch.testing.assert_close(samples.std(dim=1), mixture_std, rtol=0.1, atol=0)


def test_training_mode_matches_the_reference():
    """In training, auto-correlation picks one set of delays for the whole batch (dropouts are 0 here)."""
    folder, inputs, data = golden("normal")
    model = henkan.AutoformerForPrediction.from_pretrained(folder).train()
    out = model(**inputs)
    torch.testing.assert_close(out.loss, data["train.loss"], atol=0, rtol=1e-6)  # (float32: last bits vary by threads)
    for i, param in enumerate(out.params):
        torch.testing.assert_close(param, data[f"train.params.{i}"], atol=1e-4, rtol=0)
    out.loss.backward()
    weight = model.model.decoder.layers[0].self_attn.q_proj.weight
    grad = weight.grad.clone()
    model.zero_grad()
    model.gradient_checkpointing_enable()
    out = model(**inputs)
    torch.testing.assert_close(out.loss, data["train.loss"], atol=0, rtol=1e-6)  # (float32: last bits vary by threads)
    out.loss.backward()
    torch.testing.assert_close(weight.grad, grad)


HEADS = {"student_t": time_series.StudentTOutput, "normal": time_series.NormalOutput,
         "negative_binomial": time_series.NegativeBinomialOutput}


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("head", sorted(HEADS))
def test_distribution_head_matches_the_reference(head, dim):
    data = load_file(os.path.join(AUTOFORMER, "heads.safetensors"))
    key = f"{head}.{dim}"
    output = HEADS[head](dim=dim)
    raw = [data[f"{key}.raw.{i}"] for i in range(len(output.args_dim))]
    args = output.domain_map(*raw)
    for i, arg in enumerate(args):
        torch.testing.assert_close(arg, data[f"{key}.args.{i}"], atol=0, rtol=0)
    distribution = output.distribution([a.clone() for a in args], loc=data[f"{key}.loc"], scale=data[f"{key}.scale"])
    assert distribution.event_shape == output.event_shape == (() if dim == 1 else (dim,))
    torch.testing.assert_close(distribution.log_prob(data[f"{key}.target"]), data[f"{key}.log_prob"], atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(distribution.mean, data[f"{key}.mean"], atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(distribution.variance, data[f"{key}.variance"], atol=1e-5, rtol=1e-6)
    torch.manual_seed(0)
    torch.testing.assert_close(distribution.sample((2,)), data[f"{key}.sample"], atol=1e-5, rtol=0)
    projection = output.get_parameter_projection(5)
    assert [k for k, _ in projection.named_parameters()][::2] == [f"proj.{i}.weight" for i in range(len(args))]


def test_affine_transformed_moments():
    base = torch.distributions.Normal(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]))
    moved = time_series.AffineTransformed(base, loc=torch.tensor(3.0), scale=torch.tensor(2.0))
    torch.testing.assert_close(moved.mean, torch.tensor([3.0, 5.0]))
    torch.testing.assert_close(moved.stddev, torch.tensor([2.0, 4.0]))


@pytest.mark.parametrize("kind", ["mean", "std", "none"])
def test_scalers_match_the_reference(kind):
    """The scalers of the three settings of `scaling`, on a batch with a partly and a fully unobserved series."""
    data = load_file(os.path.join(AUTOFORMER, "heads.safetensors"))
    scaling = {"mean": True, "std": "std", "none": False}[kind]
    config = henkan.AutoformerConfig(prediction_length=2, scaling=scaling)
    scaler = time_series.scaler_for(config)
    for i, value in enumerate(scaler(data["scalers.data"], data["scalers.observed"])):
        torch.testing.assert_close(value, data[f"scalers.{kind}.{i}"], atol=1e-6, rtol=0)


def test_save_and_load_keep_the_checkpoint_keys_and_outputs(tmp_path):
    folder, inputs, data = golden("student-t")
    model = model_for(folder)
    model.save_pretrained(tmp_path)
    theirs = load_file(os.path.join(folder, "model.safetensors"))
    ours = load_file(os.path.join(tmp_path, "model.safetensors"))
    assert sorted(ours) == sorted(theirs)
    reloaded = henkan.AutoModel.from_pretrained(tmp_path)
    assert type(reloaded) is henkan.AutoformerModel
    again = model_for(tmp_path)
    with torch.no_grad():
        out = again(**inputs)
    torch.testing.assert_close(out.loss, data["output.loss"], atol=0, rtol=1e-6)
    config = henkan.AutoConfig.from_pretrained(tmp_path)
    assert type(config) is henkan.AutoformerConfig and config.feature_size == model.config.feature_size


def test_return_dict_false_gives_the_reference_tuple_order():
    folder, inputs, data = golden("negative-binomial")
    with torch.no_grad():
        loss, params, *rest = model_for(folder)(**inputs, return_dict=False)
    torch.testing.assert_close(loss, data["output.loss"], atol=0, rtol=1e-6)
    # the negative binomial's logits carry log(scale), shifted in place as the reference does
    torch.testing.assert_close(params[1], data["output.params.1"], atol=1e-4, rtol=0)
    encoder_last, loc, scale, static = rest
    torch.testing.assert_close(loc, data["output.loc"])
    torch.testing.assert_close(static, data["output.static_features"])


def test_reference_loads_what_henkan_saves(tmp_path):
    transformers = pytest.importorskip("transformers")
    folder, inputs, data = golden("normal")
    model_for(folder).save_pretrained(tmp_path)
    theirs, info = transformers.AutoformerForPrediction.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values()), info
    with torch.no_grad():
        out = theirs.eval()(**inputs)
    torch.testing.assert_close(out.loss, data["output.loss"], atol=0, rtol=1e-6)


def test_the_seed_pages_example_on_a_local_checkpoint():
    """AutoformerForPrediction's documented flow (training forward and loss.backward(), then generate() and the mean
    forecast), on the tiny checkpoint and batch instead of the Hub's tourism-monthly ones."""
    folder, batch, _ = golden("student-t")
    model = henkan.AutoformerForPrediction.from_pretrained(folder)
    outputs = model(
        past_values=batch["past_values"],
        past_time_features=batch["past_time_features"],
        past_observed_mask=batch["past_observed_mask"],
        static_categorical_features=batch["static_categorical_features"],
        static_real_features=batch["static_real_features"],
        future_values=batch["future_values"],
        future_time_features=batch["future_time_features"],
    )
    loss = outputs.loss
    loss.backward()
    outputs = model.generate(
        past_values=batch["past_values"],
        past_time_features=batch["past_time_features"],
        past_observed_mask=batch["past_observed_mask"],
        static_categorical_features=batch["static_categorical_features"],
        static_real_features=batch["static_real_features"],
        future_time_features=batch["future_time_features"],
    )
    mean_prediction = outputs.sequences.mean(dim=1)
    assert mean_prediction.shape == (2, model.config.prediction_length)

    # the page's tip: a config loaded with more static real features, feature_size raised by hand to match
    folder, batch, _ = golden("negative-binomial")
    configuration = henkan.AutoformerConfig.from_pretrained(folder, num_static_real_features=1)
    configuration.feature_size += 1
    model = henkan.AutoformerForPrediction(configuration)
    outputs = model(past_values=batch["past_values"], past_time_features=batch["past_time_features"],
                    past_observed_mask=batch["past_observed_mask"], static_real_features=torch.ones(2, 1),
                    future_values=batch["future_values"], future_time_features=batch["future_time_features"])
    assert torch.isfinite(outputs.loss)

    # the config page's example
    configuration = henkan.AutoformerConfig(prediction_length=12)
    model = henkan.AutoformerModel(configuration)
    assert model.config.context_length == 12 and model.config.feature_size == 7 + 2


@pytest.mark.parametrize("change, error", [
    (lambda b: b.update(past_values=b["past_values"][:, 3:], past_observed_mask=b["past_observed_mask"][:, 3:]),
     "past_values has 14 time steps.*context_length \\(12\\) \\+ the largest lag"),
    (lambda b: b.update(past_time_features=b["past_time_features"][..., :1],
                        future_time_features=b["future_time_features"][..., :1]),
     "feature_size 10: past_time_features .* have 1 per step"),
    (lambda b: b.update(past_time_features=b["past_time_features"][:, 1:]), "past_time_features has shape"),
    (lambda b: b.pop("static_categorical_features"), "static_categorical_features is missing"),
    (lambda b: b.update(static_categorical_features=torch.tensor([[3], [0]])),
     "static_categorical_features\\[:, 0\\] holds ids outside \\[0, 3\\)"),
    (lambda b: b.pop("future_time_features"), "future_time_features is missing"),
    (lambda b: b.update(future_values=b["future_values"][:, :2]), "future_values has shape"),
    (lambda b: b.update(past_observed_mask=b["past_observed_mask"][:1]), "past_observed_mask has shape"),
    (lambda b: b.update(future_observed_mask=b["future_observed_mask"][:, :1]), "future_observed_mask has shape"),
    (lambda b: b.update(past_values=b["past_values"].long()), "past_values should be a floating tensor"),
    (lambda b: b.update(decoder_attention_mask=torch.ones(2, 10)), "decoder_attention_mask: .*no attention mask"),
])
def test_hostile_inputs_name_the_argument(change, error):
    folder, inputs, _ = golden("student-t")
    change(inputs)
    with pytest.raises((ValueError, TypeError), match=error):
        model_for(folder)(**inputs)


def test_generate_checks_its_future_time_features():
    folder, inputs, _ = golden("student-t")
    inputs = generate_inputs(inputs)
    inputs["future_time_features"] = inputs["future_time_features"][:, :2]
    with pytest.raises(ValueError, match="future_time_features has shape"):
        model_for(folder).generate(**inputs)


@pytest.mark.parametrize("kwargs, error", [
    (dict(prediction_length=4, num_static_categorical_features=2, cardinality=[3]), "cardinality has 1 entries"),
    (dict(prediction_length=4, moving_average=4), "moving_average is 4; expected an odd positive integer"),
    (dict(prediction_length=4, distribution_output="gamma"), "distribution_output is 'gamma'"),
    (dict(prediction_length=4, lags_sequence=[]), "lags_sequence is \\[\\]"),
])
def test_hostile_configs_are_refused_where_they_enter(kwargs, error):
    with pytest.raises(ValueError, match=error):
        henkan.AutoformerConfig(**kwargs)


@pytest.mark.parametrize("kwargs, error", [
    (dict(), "prediction_length is not set"),
    (dict(prediction_length=4), "label_length \\(10\\) must not exceed context_length \\(4\\)"),
])
def test_unusable_configs_fail_when_the_model_is_built(kwargs, error):
    with pytest.raises(ValueError, match=error):
        henkan.AutoformerForPrediction(henkan.AutoformerConfig(**kwargs))


def test_reference_module_paths_resolve():
    from henkan.models.autoformer.modeling_autoformer import AutoformerForPrediction, AutoformerStdScaler, nll
    from henkan.modeling_outputs import SampleTSPredictionOutput, Seq2SeqTSPredictionOutput
    from henkan.time_series_utils import NegativeBinomialOutput, NormalOutput, StudentTOutput

    assert AutoformerForPrediction is henkan.AutoformerForPrediction
    assert AutoformerStdScaler is time_series.StdScaler and nll is time_series.nll
    assert StudentTOutput is time_series.StudentTOutput and NormalOutput and NegativeBinomialOutput
    assert SampleTSPredictionOutput and Seq2SeqTSPredictionOutput
