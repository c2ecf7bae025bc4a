"""BioGPT: OPT's pre-LayerNorm decoder under other config names, with token embeddings scaled by sqrt(hidden_size)
(`scale_embedding`), dropout after the embeddings and an activation dropout in the MLP. Positions are learned and
offset by 2, counted over the attention mask as OPT counts them. The LM head (`output_projection`) is tied to the
token embeddings."""

from __future__ import annotations

import math

from torch import nn

from ..causal import CausalLM, DecoderSpanHead, LastTokenClassification
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import linear_layer
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPastAndCrossAttentions, CausalLMOutputWithCrossAttentions
from .bart import ScaledEmbedding
from .opt import LearnedPositionDecoder, OPTDecoderLayer, OPTLearnedPositionalEmbedding


class BioGptConfig(PretrainedConfig):
    model_type = "biogpt"
    defaults = dict(vocab_size=42384, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                    intermediate_size=4096, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=1024, initializer_range=0.02,
                    layer_norm_eps=1e-12, scale_embedding=True, use_cache=True, layerdrop=0.0,
                    activation_dropout=0.0, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    multiples = (("hidden_size", "num_attention_heads"),)


class BioGptDecoderLayer(OPTDecoderLayer):
    """(`layer_norm_eps` is not read: the reference's LayerNorms keep PyTorch's 1e-5.)"""

    @staticmethod
    def settings(config) -> dict:
        return dict(ffn_dim=config.intermediate_size, activation=config.hidden_act, bias=True, affine=True,
                    norm_before=True, dropout=config.hidden_dropout_prob,
                    attention_dropout=config.attention_probs_dropout_prob,
                    activation_dropout=config.activation_dropout)


class BioGptPreTrainedModel(PreTrainedModel):
    config_class = BioGptConfig
    base_model_prefix = "biogpt"
    input_embeddings_path = "embed_tokens"
    _no_split_modules = ["BioGptDecoderLayer"]


class BioGptModel(LearnedPositionDecoder, BioGptPreTrainedModel):
    output_class = BaseModelOutputWithPastAndCrossAttentions
    collects_before_norm = True

    def __init__(self, config):
        super().__init__(config)
        hidden = config.hidden_size
        scale = math.sqrt(hidden) if config.scale_embedding else 1.0
        self.embed_tokens = ScaledEmbedding(config.vocab_size, hidden, config.pad_token_id, embed_scale=scale)
        self.embed_positions = OPTLearnedPositionalEmbedding(config.max_position_embeddings, hidden)
        self.layers = nn.ModuleList(BioGptDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.layer_norm = nn.LayerNorm(hidden)
        self.embed_dropout = config.hidden_dropout_prob
        self.post_init()

    def final_norm(self, x):
        return self.layer_norm(x)


_INPUTS = ("input_ids", "attention_mask", "head_mask", "inputs_embeds", "past_key_values", "use_cache",
           "position_ids", "output_attentions", "output_hidden_states", "cache_position")


class BioGptForCausalLM(GenerationMixin, CausalLM, BioGptPreTrainedModel):
    base_model_class = BioGptModel
    base_inputs = _INPUTS
    output_class = CausalLMOutputWithCrossAttentions
    _tied_weights_keys = ["output_projection.weight"]

    def build_head(self, config) -> None:
        self.output_projection = linear_layer(config.hidden_size, config.vocab_size, bias=False)

    def head(self, hidden):
        return self.output_projection(hidden)

    def get_output_embeddings(self):
        return self.output_projection

    def set_output_embeddings(self, new_embeddings):
        self.output_projection = new_embeddings

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None, past_key_values=None,
                labels=None, use_cache=None, position_ids=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


class BioGptForTokenClassification(DecoderSpanHead, BioGptPreTrainedModel):
    """(`token_type_ids` is accepted and unused, as in the reference; labels on padding do not count.)"""

    base_model_class = BioGptModel
    base_inputs = _INPUTS
    classifier_name = "classifier"
    masks_padding_labels = True

    def forward(self, input_ids=None, token_type_ids=None, attention_mask=None, head_mask=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, position_ids=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, cache_position=None, **kwargs):
        return self.classify_tokens(locals())


class BioGptForSequenceClassification(LastTokenClassification, BioGptPreTrainedModel):
    """The score of each row's last real token. (4.57 takes the token at index "number of real tokens - 1", which
    is not the last real one under left padding; 5.x fixed that, and henkan does as 5.x: right-padded rows agree.)"""

    base_model_class = BioGptModel
    base_inputs = _INPUTS

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=None, position_ids=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, **kwargs):
        return self.classify(locals())
