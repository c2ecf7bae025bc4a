"""Decision Transformer: offline reinforcement learning as sequence modelling on GPT-2's blocks. Each step of a
trajectory becomes three tokens (return-to-go, state, action), each embedded by its own linear layer plus the
step's timestep embedding, then LayerNorm; GPT-2 (`encoder`, no token or position information: every position id
is 0) runs over them causally, and the outputs at the state tokens predict actions, those at the action tokens
the next state and return."""

from __future__ import annotations

import torch
from torch import nn

from .. import causal
from ..causal import reject_unknown
from ..config import PretrainedConfig
from ..layers import check_tensor
from ..modeling import PreTrainedModel
from ..outputs import declare_output
from .gpt2 import GPT2Model, GPT2PreTrainedModel


class DecisionTransformerConfig(PretrainedConfig):
    model_type = "decision_transformer"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {"max_position_embeddings": "n_positions", "num_attention_heads": "n_head",
                     "num_hidden_layers": "n_layer"}
    defaults = dict(state_dim=17, act_dim=4, hidden_size=128, max_ep_len=4096, action_tanh=True, vocab_size=1,
                    n_positions=1024, n_layer=3, n_head=1, n_inner=None, activation_function="relu",
                    resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1, layer_norm_epsilon=1e-5,
                    initializer_range=0.02, scale_attn_weights=True, use_cache=True, bos_token_id=50256,
                    eos_token_id=50256, scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False)
    multiples = (("hidden_size", "n_head"),)


DecisionTransformerOutput = declare_output(
    "DecisionTransformerOutput", "state_preds", "action_preds", "return_preds", "hidden_states", "attentions",
    "last_hidden_state", module=__name__)


class DecisionTransformerGPT2PreTrainedModel(GPT2PreTrainedModel):
    config_class = DecisionTransformerConfig


class DecisionTransformerGPT2Model(DecisionTransformerGPT2PreTrainedModel, GPT2Model):
    """GPT-2's base model under the Decision Transformer's config (the same weights layout), masked as the
    reference's copy of GPT-2 masks: the dtype's minimum on future keys, plus the dtype's minimum on padding (a
    future padding key is then -inf; a padding query attends evenly to its past and to the real keys after it)."""

    def masks(self, step, attention_mask, length: int, dtype):
        keys = torch.arange(causal.kv_length(step, length), device=step.cache_position.device)
        low = torch.finfo(dtype).min
        mask = torch.zeros((), dtype=dtype, device=keys.device).masked_fill(
            keys[None] > step.cache_position[:, None], low)
        if attention_mask is not None:
            mask = mask + (1.0 - attention_mask[:, None, None, :keys.shape[0]].to(dtype)) * low
        return lambda window=None, always=False: (mask, False)


class DecisionTransformerPreTrainedModel(PreTrainedModel):
    config_class = DecisionTransformerConfig
    base_model_prefix = "decision_transformer"
    main_input_name = "states"


def _check_trajectory(config, states, actions, returns_to_go, timesteps, attention_mask) -> None:
    """Shapes and ranges of the trajectory inputs, with errors that name the argument."""
    for name, value, width in (("states", states, config.state_dim), ("actions", actions, config.act_dim),
                               ("returns_to_go", returns_to_go, 1)):
        check_tensor(name, value, integer=False)
        if value.dim() != 3 or value.shape[-1] != width:
            raise ValueError(f"{name} should be [batch, steps, {width}] (the config's "
                             f"{'state_dim' if name == 'states' else 'act_dim' if name == 'actions' else 'one return'}"
                             f"), got shape {list(value.shape)}.")
        if value.shape[:2] != states.shape[:2]:
            raise ValueError(f"{name} covers {list(value.shape[:2])} [batch, steps] but states cover "
                             f"{list(states.shape[:2])}.")
    check_tensor("timesteps", timesteps, integer=True)
    if timesteps.shape != states.shape[:2]:
        raise ValueError(f"timesteps should be [batch, steps] = {list(states.shape[:2])}, got shape "
                         f"{list(timesteps.shape)}.")
    if timesteps.numel() and (int(timesteps.min()) < 0 or int(timesteps.max()) >= config.max_ep_len):
        raise ValueError(f"timesteps should lie in [0, max_ep_len={config.max_ep_len}), found "
                         f"{int(timesteps.min())}..{int(timesteps.max())}.")
    if attention_mask is not None and attention_mask.shape != states.shape[:2]:
        raise ValueError(f"attention_mask should be [batch, steps] = {list(states.shape[:2])}, got shape "
                         f"{list(attention_mask.shape)}.")


class DecisionTransformerModel(DecisionTransformerPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        hidden = config.hidden_size
        self.hidden_size = hidden
        self.encoder = DecisionTransformerGPT2Model(config)
        self.embed_timestep = nn.Embedding(config.max_ep_len, hidden)
        self.embed_return = nn.Linear(1, hidden)
        self.embed_state = nn.Linear(config.state_dim, hidden)
        self.embed_action = nn.Linear(config.act_dim, hidden)
        self.embed_ln = nn.LayerNorm(hidden)
        self.predict_state = nn.Linear(hidden, config.state_dim)
        self.predict_action = nn.Sequential(nn.Linear(hidden, config.act_dim),
                                            *([nn.Tanh()] if config.action_tanh else []))
        self.predict_return = nn.Linear(hidden, 1)
        self.post_init()

    def forward(self, states=None, actions=None, rewards=None, returns_to_go=None, timesteps=None,
                attention_mask=None, output_hidden_states=None, output_attentions=None, return_dict=None, **kwargs):
        """`rewards` is accepted and unused, as in the reference (the returns-to-go carry the reward signal)."""
        reject_unknown(self, kwargs)
        config = self.config
        _check_trajectory(config, states, actions, returns_to_go, timesteps, attention_mask)
        batch, steps = states.shape[:2]
        if attention_mask is None:
            attention_mask = torch.ones((batch, steps), dtype=torch.long, device=states.device)
        time = self.embed_timestep(timesteps)
        tokens = torch.stack((self.embed_return(returns_to_go) + time, self.embed_state(states) + time,
                              self.embed_action(actions) + time), dim=2).reshape(batch, 3 * steps, self.hidden_size)
        mask = attention_mask[:, :, None].expand(batch, steps, 3).reshape(batch, 3 * steps)
        encoded = self.encoder(inputs_embeds=self.embed_ln(tokens), attention_mask=mask,
                               position_ids=torch.zeros_like(mask, dtype=torch.long), use_cache=False,
                               output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                               return_dict=True)
        x = encoded.last_hidden_state.reshape(batch, steps, 3, self.hidden_size)
        state_preds = self.predict_state(x[:, :, 2])  # the next state, from the action token
        action_preds = self.predict_action(x[:, :, 1])  # the action, from the state token
        return_preds = self.predict_return(x[:, :, 2])  # the next return, from the action token
        if not (config.use_return_dict if return_dict is None else return_dict):
            return state_preds, action_preds, return_preds
        return DecisionTransformerOutput(state_preds=state_preds, action_preds=action_preds,
                                         return_preds=return_preds, hidden_states=encoded.hidden_states,
                                         attentions=encoded.attentions, last_hidden_state=encoded.last_hidden_state)
