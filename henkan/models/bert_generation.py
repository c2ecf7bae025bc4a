"""BERT-Generation: BERT without token types or pooler, made to be an EncoderDecoderModel's encoder and decoder
(`BertGenerationEncoder`, `BertGenerationDecoder`); BERT or RoBERTa checkpoints load into it (their extra weights
are left out). Its keys sit at the top level (`embeddings.*`, `encoder.layer.N.*`); the decoder adds `lm_head`."""

from __future__ import annotations

from torch import nn

from ..config import PretrainedConfig
from ..layers import LMPredictionHead
from ..outputs import BaseModelOutputWithPastAndCrossAttentions
from .bert import BertEmbeddings, BertLMHeadModel, BertModel, BertPreTrainedModel


class BertGenerationConfig(PretrainedConfig):
    model_type = "bert-generation"
    defaults = dict(vocab_size=50358, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                    intermediate_size=4096, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=512, initializer_range=0.02,
                    layer_norm_eps=1e-12, pad_token_id=0, bos_token_id=2, eos_token_id=1,
                    position_embedding_type="absolute", use_cache=True)
    multiples = (("hidden_size", "num_attention_heads"),)


class BertGenerationPreTrainedModel(BertPreTrainedModel):
    config_class = BertGenerationConfig


class BertGenerationEmbeddings(BertEmbeddings):
    token_types = False


class BertGenerationEncoder(BertGenerationPreTrainedModel, BertModel):
    """The BERT stack without token types or pooler: an encoder, or with `is_decoder` a decoder (see bert.py)."""

    embeddings_class = BertGenerationEmbeddings
    output_class = BaseModelOutputWithPastAndCrossAttentions

    def __init__(self, config):
        super().__init__(config, add_pooling_layer=False)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None, use_cache=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, cache_position=None):
        return self.run(locals())


class BertGenerationOnlyLMHead(LMPredictionHead):
    """`lm_head`: one projection to the vocabulary (tied to the word embeddings) with its own `bias`."""

    def __init__(self, config):
        super().__init__(config.hidden_size, config.vocab_size)

    def forward(self, hidden):
        return self.decoder(hidden)


class BertGenerationDecoder(BertGenerationPreTrainedModel, BertLMHeadModel):
    """BERT-Generation as a left-to-right language model, the decoder of BERT2BERT-style encoder-decoders."""

    base_model_class = BertGenerationEncoder
    base_model_kwargs = {}
    base_inputs = tuple(name for name in BertLMHeadModel.base_inputs if name != "token_type_ids")
    _tied_weights_keys = ["lm_head.decoder.weight", "lm_head.decoder.bias"]

    def build_head(self, config) -> None:
        self.lm_head = BertGenerationOnlyLMHead(config)

    def lm_head_module(self) -> nn.Module:
        return self.lm_head

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, head_mask=None, inputs_embeds=None,
                encoder_hidden_states=None, encoder_attention_mask=None, labels=None, past_key_values=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None, logits_to_keep=0, **kwargs):
        if labels is not None:
            use_cache = False
        return self.lm_forward(locals())
