"""CANINE: a tokenizer-free encoder over Unicode code points.

Each code point is embedded by `num_hash_functions` hashes into small tables (concatenated), then: one BERT layer
of local attention (the characters attend within chunks of `local_transformer_stride`), a strided convolution down
to one "molecule" per `downsampling_rate` characters (the first character's encoding stays in front as [CLS]), the
deep BERT stack over molecules, and back up: each molecule repeated over its characters, concatenated with the
characters' encodings, a convolution and one more BERT layer over all characters. The pooled output is the first
molecule's. Hidden states and attentions list those of the three stacks in order (for the local layer, the
attention of the first chunk, as in the reference).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..heads import ForMultipleChoice, ForQuestionAnswering, ForSequenceClassification, ForTokenClassification
from ..layers import Holder, activation, check_inputs, padding_mask, run_layers
from ..modeling import PreTrainedModel
from ..outputs import declare_output
from .bert import BertLayer, BertPooler

PRIMES = (31, 43, 59, 61, 73, 97, 103, 113, 137, 149, 157, 173, 181, 193, 211, 223)

CanineModelOutputWithPooling = declare_output(
    "CanineModelOutputWithPooling", "last_hidden_state", "pooler_output", "hidden_states", "attentions",
    module=__name__, doc="CANINE's character states, pooled [CLS] molecule, and the states of its three stacks.")


class CanineConfig(PretrainedConfig):
    model_type = "canine"
    defaults = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                    hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                    max_position_embeddings=16384, type_vocab_size=16, initializer_range=0.02, layer_norm_eps=1e-12,
                    pad_token_id=0, bos_token_id=0xE000, eos_token_id=0xE001, downsampling_rate=4,
                    upsampling_kernel_size=4, num_hash_functions=8, num_hash_buckets=16384,
                    local_transformer_stride=128)


class CaninePreTrainedModel(PreTrainedModel):
    config_class = CanineConfig
    base_model_prefix = "canine"

    def classifier_dropout(self, config) -> float:
        return config.hidden_dropout_prob

    def get_input_embeddings(self):
        raise NotImplementedError("CANINE has no token embedding table: code points are hashed into "
                                  "char_embeddings.HashBucketCodepointEmbedder_*.")


class CanineEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        h, hashes = config.hidden_size, config.num_hash_functions
        if hashes > len(PRIMES) or h % hashes:
            raise ValueError(f"num_hash_functions must be at most {len(PRIMES)} and divide hidden_size ({h}); "
                             f"got {hashes}.")
        for i in range(hashes):
            self.add_module(f"HashBucketCodepointEmbedder_{i}", nn.Embedding(config.num_hash_buckets, h // hashes))
        self.char_position_embeddings = nn.Embedding(config.num_hash_buckets, h)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, h)
        self.LayerNorm = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.hashes, self.buckets = hashes, config.num_hash_buckets
        self.dropout = config.hidden_dropout_prob

    def forward(self, input_ids, token_type_ids, position_ids, inputs_embeds):
        if inputs_embeds is None:
            inputs_embeds = torch.cat([getattr(self, f"HashBucketCodepointEmbedder_{i}")(
                (input_ids + 1) * prime % self.buckets) for i, prime in enumerate(PRIMES[:self.hashes])], dim=-1)
        types = self.token_type_embeddings
        x = inputs_embeds + (types.weight[0] if token_type_ids is None else types(token_type_ids))
        if position_ids is None:
            position_ids = torch.arange(x.shape[1], device=x.device)[None]
        x = x + self.char_position_embeddings(position_ids)
        return F.dropout(self.LayerNorm(x), self.dropout, self.training)


class _Resample(nn.Module):
    """A convolution, the activation and a LayerNorm: `chars_to_molecules` (strided, down) and `projection`
    (padded to keep the length, from the characters and their repeated molecules back to hidden_size)."""

    def __init__(self, config, inputs: int, kernel: int, stride: int):
        super().__init__()
        self.conv = nn.Conv1d(inputs, config.hidden_size, kernel, stride=stride)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.act = activation(config.hidden_act)

    def convolve(self, x, padding=(0, 0)):
        return self.act(self.conv(F.pad(x.transpose(1, 2), padding)).transpose(1, 2))


def _layers(config, n: int) -> Holder:
    return Holder(layer=nn.ModuleList(BertLayer(config, i) for i in range(n)))


class CanineModel(CaninePreTrainedModel):
    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__(config)
        self.char_embeddings = CanineEmbeddings(config)
        self.initial_char_encoder = _layers(config, 1)
        rate = config.downsampling_rate
        self.chars_to_molecules = _Resample(config, config.hidden_size, rate, rate)
        self.encoder = _layers(config, config.num_hidden_layers)
        self.projection = _Resample(config, 2 * config.hidden_size, config.upsampling_kernel_size, 1)
        self.final_char_encoder = _layers(config, 1)
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def _local_layer(self, x, mask, output_attentions):
        """The initial layer, its attention within chunks of local_transformer_stride characters. The chunks are
        stacked on the batch; the padding added to fill the last one is never attended to (-inf), so a chunk
        whose keys are all masked still spreads its weights over its own keys, as in the reference."""
        batch, length, h = x.shape
        chunk = min(self.config.local_transformer_stride, length)
        n = math.ceil(length / chunk)
        extra = n * chunk - length
        keys = torch.zeros(batch, length, dtype=x.dtype, device=x.device) if mask is None else \
            (1.0 - mask.to(x.dtype)) * torch.finfo(x.dtype).min
        keys = F.pad(keys, (0, extra), value=float("-inf")).view(batch * n, 1, 1, chunk)
        chunks = F.pad(x, (0, 0, 0, extra)).view(batch * n, chunk, h)
        layer = self.initial_char_encoder.layer[0]
        out, weights = layer(chunks, keys if mask is not None or extra else None, None, output_attentions)
        out = out.view(batch, n * chunk, h)[:, :length]
        return out, (None if weights is None else weights.view(batch, n, *weights.shape[1:])[:, 0])

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        config = self.config
        _, length = check_inputs(config, input_ids, inputs_embeds, check_ids=False)
        if input_ids is not None and input_ids.numel() and int(input_ids.min()) < 0:
            raise ValueError("CANINE's input_ids are Unicode code points (ord(character)); found a negative id.")
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            config, output_attentions, output_hidden_states, False, return_dict)
        rate = config.downsampling_rate
        if length < rate:
            raise ValueError(f"CANINE needs at least downsampling_rate = {rate} characters; got {length}.")
        chars = self.char_embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        char_mask = None if attention_mask is None or bool(attention_mask.all()) else attention_mask

        encoded, local_weights = self._local_layer(chars, char_mask, output_attentions)
        down = self.chars_to_molecules
        molecules = down.LayerNorm(torch.cat([encoded[:, :1], down.convolve(encoded)[:, :-1]], dim=1))
        molecule_mask = None
        if char_mask is not None:
            molecule_mask = F.max_pool1d(char_mask[:, None].float(), rate, rate)[:, 0]
        molecules, deep_states, deep_weights = run_layers(
            self, self.encoder.layer, molecules, mask=padding_mask(molecule_mask, molecules.dtype),
            head_mask=head_mask, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        pooled = None if self.pooler is None else self.pooler(molecules)

        # each molecule back over its characters (the last one also over the remainder), then the final layer
        repeated = torch.cat([molecules[:, 1:].repeat_interleave(rate, dim=1),
                              molecules[:, -1:].repeat_interleave(length % rate + rate, dim=1)], dim=1)
        up, kernel = self.projection, config.upsampling_kernel_size
        x = torch.cat([encoded, repeated], dim=-1)
        x = F.dropout(up.LayerNorm(up.convolve(x, ((kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2))),
                      config.hidden_dropout_prob, self.training)
        x, final_states, final_weights = run_layers(
            self, self.final_char_encoder.layer, x, mask=padding_mask(char_mask, x.dtype),
            output_attentions=output_attentions, output_hidden_states=output_hidden_states)

        hidden_states = (chars, encoded) + deep_states + final_states if output_hidden_states else None
        attentions = (local_weights,) + deep_weights + final_weights if output_attentions else None
        out = CanineModelOutputWithPooling(last_hidden_state=x, pooler_output=pooled, hidden_states=hidden_states,
                                           attentions=attentions)
        return out if return_dict else out.to_tuple()


class _CanineHead:
    base_model_class = CanineModel
    uses_pooler = True


class CanineForSequenceClassification(_CanineHead, ForSequenceClassification, CaninePreTrainedModel):
    pass


class CanineForMultipleChoice(_CanineHead, ForMultipleChoice, CaninePreTrainedModel):
    pass


class CanineForTokenClassification(_CanineHead, ForTokenClassification, CaninePreTrainedModel):
    pass


class CanineForQuestionAnswering(_CanineHead, ForQuestionAnswering, CaninePreTrainedModel):
    pass
