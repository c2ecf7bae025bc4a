"""BigBird-Pegasus: a Pegasus-style encoder-decoder whose encoder reads long inputs with block-sparse attention.

The decoder and the task heads are BART's (models/bart.py) under this family's layout: pre-norm layers, a learned
position table without offset, token embeddings scaled by sqrt(d_model), the norm after the last layer named
`layernorm_embedding`, and attention biases only when `use_bias`. The encoder is this module's: its self-attention
keeps BigBird's checkpoint keys (`self_attn.self.query/key/value`, `self_attn.output`) and runs
`sparse_attention.block_sparse_attention` (`attention_type="block_sparse"`) or full attention (`"original_full"`).

Block-sparse inputs are padded to a multiple of `block_size` (with the pad token's embedding, masked out) and the
last hidden state drops that padding again; the per-layer hidden states and attentions keep it, as the reference's
do. Inputs of at most (5 + 2 * num_random_blocks) * block_size tokens attend fully. The reference switches its
encoder to full attention for good once it sees such an input (later long inputs stay on full attention); henkan
decides per call, which is what a freshly loaded reference model computes. `encoder.set_attention_type` switches
deliberately.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import choice
from ..layers import Holder, attend, linear_layer, padding_mask
from ..logging import get_logger
from ..sparse_attention import (ATTENTION_TYPES, BlockSparseLayout, block_sparse_attention, check_attention_type,
                                padding_to_blocks, use_block_sparse)
from .bart import (_ALL_HEADS, _ATTRIBUTE_MAP, BartEncoder, BartPreTrainedModel, Layout, _BartLikeConfig, _family,
                   _FeedForward)

logger = get_logger(__name__)


class BigBirdPegasusConfig(_BartLikeConfig):
    model_type = "bigbird_pegasus"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {**_ATTRIBUTE_MAP, "attention_probs_dropout_prob": "attention_dropout"}
    layout = Layout(pre_norm=True, final_norm="layernorm_embedding", scaled_embedding_module=True,
                    attention_bias="use_bias")
    defaults = dict(vocab_size=96103, max_position_embeddings=4096, encoder_layers=16, encoder_ffn_dim=4096,
                    encoder_attention_heads=16, decoder_layers=16, decoder_ffn_dim=4096, decoder_attention_heads=16,
                    encoder_layerdrop=0.0, decoder_layerdrop=0.0, use_cache=True, is_encoder_decoder=True,
                    activation_function="gelu_new", d_model=1024, dropout=0.1, attention_dropout=0.0,
                    activation_dropout=0.0, init_std=0.02, decoder_start_token_id=2, classifier_dropout=0.0,
                    scale_embedding=True, pad_token_id=0, bos_token_id=2, eos_token_id=1,
                    attention_type="block_sparse", block_size=64, num_random_blocks=3, use_bias=False)
    fields = dict(attention_type=choice(*ATTENTION_TYPES))


class BigBirdPegasusPreTrainedModel(BartPreTrainedModel):
    config_class = BigBirdPegasusConfig
    _no_split_modules = ["BigBirdPegasusEncoderLayer", "BartDecoderLayer"]


class BigBirdPegasusEncoderAttention(nn.Module):
    """Self-attention under BigBird's names: `self.query/key/value`, then `output`; block-sparse when the encoder
    hands it a BlockSparseLayout, full otherwise."""

    def __init__(self, config):
        super().__init__()
        d, bias = config.d_model, config.use_bias
        self.self = Holder(query=linear_layer(d, d, bias=bias), key=linear_layer(d, d, bias=bias),
                           value=linear_layer(d, d, bias=bias))
        self.output = linear_layer(d, d, bias=bias)
        self.num_heads, self.dropout = config.encoder_attention_heads, config.attention_dropout

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        q, k, v = self.self.query(x), self.self.key(x), self.self.value(x)
        if isinstance(mask, BlockSparseLayout):
            if head_mask is not None:
                logger.warning_once("head_mask is not applied by block-sparse attention (nor by the reference's); "
                                    "set attention_type='original_full' to mask heads.")
            context, weights = block_sparse_attention(q, k, v, mask, self.num_heads, training=self.training,
                                                      output_attentions=output_attentions)
        else:
            context, weights = attend(q, k, v, mask, self.num_heads, self.dropout if self.training else 0.0,
                                      output_attentions, head_mask)
        return self.output(context), weights


class BigBirdPegasusEncoderLayer(_FeedForward):
    def __init__(self, config, layer_idx: int | None = None):
        super().__init__()
        self.self_attn = BigBirdPegasusEncoderAttention(config)
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model)
        self._init_common(config, config.encoder_ffn_dim)
        self.activation_dropout = 0.0  # the encoder's feed-forward has no dropout after its activation

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        x, weights = self._residual(x, self.self_attn_layer_norm, lambda h: self.self_attn(
            h, mask, head_mask, output_attentions))
        x, _ = self._residual(x, self.final_layer_norm, self._mlp)
        return x, weights


class BigBirdPegasusEncoder(BartEncoder, BigBirdPegasusPreTrainedModel):
    """BART's encoder stack with this family's layers, padding long inputs to whole blocks for block-sparse
    attention. (Built inside a model; call post_init() to initialise one made on its own.)"""

    layer_class = BigBirdPegasusEncoderLayer

    def __init__(self, config, embed_tokens: nn.Embedding | None = None):
        super().__init__(config, embed_tokens)
        self.attention_type = config.attention_type

    def set_attention_type(self, value: str) -> None:
        """Use block-sparse ('block_sparse') or full ('original_full') attention from now on."""
        self.attention_type = check_attention_type(value)

    def layer_inputs(self, x, attention_mask):
        config = self.config
        batch, length = x.shape[:2]
        if self.attention_type != "block_sparse" or not use_block_sparse(length, config.block_size,
                                                                         config.num_random_blocks):
            return x, padding_mask(attention_mask, x.dtype)
        if attention_mask is None:
            attention_mask = torch.ones(batch, length, dtype=torch.long, device=x.device)
        padding = padding_to_blocks(length, config.block_size)
        if padding:
            pad_ids = torch.full((batch, padding), config.pad_token_id, dtype=torch.long, device=x.device)
            x = torch.cat([x, self.embed_tokens(pad_ids).to(x.dtype)], dim=1)
            attention_mask = F.pad(attention_mask, (0, padding), value=0)
        return x, BlockSparseLayout(attention_mask, config.block_size, config.num_random_blocks, x.dtype)


globals().update(_family("BigBirdPegasus", BigBirdPegasusConfig, _ALL_HEADS, module=__name__,
                         pretrained=BigBirdPegasusPreTrainedModel,
                         Model={"encoder_class": BigBirdPegasusEncoder}))
