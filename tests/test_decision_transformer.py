"""Decision Transformer: trajectories (returns-to-go, states, actions, timesteps, a padding mask) through GPT-2's
blocks give the reference's state, action and return predictions (fixtures: fixtures/make_decision_transformer.py)."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file

import henkan
from conftest import FIXTURES

FOLDER = os.path.join(FIXTURES, "decision_transformer")
GOLDEN = load_file(os.path.join(FOLDER, "golden.safetensors"))


def given(name):
    prefix = f"input.{name}."
    return {k[len(prefix):]: v for k, v in GOLDEN.items() if k.startswith(prefix)}


def close(actual, expected, msg):
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0, msg=lambda m: f"{msg}: {m}")


@pytest.fixture(scope="module")
def model():
    return henkan.AutoModel.from_pretrained(FOLDER).eval()


def test_left_padded_batch_matches_reference(model):
    assert type(model) is henkan.DecisionTransformerModel
    assert type(model.encoder) is henkan.DecisionTransformerGPT2Model
    with torch.no_grad():
        out = model(**given("batch"), output_hidden_states=True, output_attentions=True)
    assert list(out.keys()) == ["state_preds", "action_preds", "return_preds", "hidden_states", "attentions",
                                "last_hidden_state"]
    for key in ("state_preds", "action_preds", "return_preds", "last_hidden_state"):
        close(out[key], GOLDEN[f"output.batch.{key}"], key)
    for field in ("hidden_states", "attentions"):
        assert len(out[field]) == sum(k.startswith(f"output.batch.{field}.") for k in GOLDEN)
        for i, t in enumerate(out[field]):
            close(t, GOLDEN[f"output.batch.{field}.{i}"], f"{field}.{i}")


def test_seed_example(model):
    """The reference's DecisionTransformerModel example on a local checkpoint (no gym: a random state): one step,
    zero action and reward, a target return, timestep 0, an attention mask of zeros, return_dict=False."""
    config = model.config
    state = GOLDEN["input.seed.states"].reshape(config.state_dim)
    states = state.reshape(1, 1, config.state_dim).to(dtype=torch.float32)
    actions = torch.zeros((1, 1, config.act_dim), dtype=torch.float32)
    rewards = torch.zeros(1, 1, dtype=torch.float32)
    target_return = torch.tensor(3600.0, dtype=torch.float32).reshape(1, 1, 1)
    timesteps = torch.tensor(0, dtype=torch.long).reshape(1, 1)
    attention_mask = torch.zeros(1, 1, dtype=torch.float32)
    with torch.no_grad():
        state_preds, action_preds, return_preds = model(
            states=states, actions=actions, rewards=rewards, returns_to_go=target_return, timesteps=timesteps,
            attention_mask=attention_mask, return_dict=False)
    close(state_preds, GOLDEN["output.seed.state_preds"], "state_preds")
    close(action_preds, GOLDEN["output.seed.action_preds"], "action_preds")
    close(return_preds, GOLDEN["output.seed.return_preds"], "return_preds")


def test_save_round_trip_keeps_the_reference_keys(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert set(load_file(str(tmp_path / "model.safetensors"))) == set(load_file(os.path.join(FOLDER,
                                                                                           "model.safetensors")))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "decision_transformer" and saved["state_dim"] == 5 and saved["act_dim"] == 3


def test_bad_trajectories_are_named(model):
    batch = given("batch")
    with pytest.raises(ValueError, match=r"states should be \[batch, steps, 5\]"):
        model(**{**batch, "states": batch["states"][..., :4]})
    with pytest.raises(ValueError, match="returns_to_go covers"):
        model(**{**batch, "returns_to_go": batch["returns_to_go"][:, :3]})
    with pytest.raises(ValueError, match=r"timesteps should lie in \[0, max_ep_len=64\)"):
        model(**{**batch, "timesteps": batch["timesteps"] + 60})
    with pytest.raises(TypeError, match="timesteps should hold integer ids"):
        model(**{**batch, "timesteps": batch["timesteps"].float()})
    with pytest.raises(ValueError, match="attention_mask should be"):
        model(**{**batch, "attention_mask": batch["attention_mask"][:, 1:]})
    with pytest.raises(TypeError, match="not_an_argument"):
        model(**batch, not_an_argument=1)
