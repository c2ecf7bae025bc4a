"""BROS: a BERT encoder for text laid out on a page, whose attention also scores each pair of tokens by their
relative 2-D position.

`bbox` holds each token's box as 4 (x1, y1, x2, y2; expanded to the 4 corners) or 8 coordinates, scaled by
`bbox_scale`. The corner-wise differences between every two boxes go through sinusoids and a projection
(`bbox_embeddings`) to one head-sized vector per pair, which each head's query meets as an extra score term. The
heads: token classification, and SPADE's entity extraction (first tokens of entities, then each token's next
token) and entity linking (each first token's linked token), where a pair score against a learned `dummy_node`
means "none".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..layers import Holder, attend, check_inputs, linear_layer, padding_mask, run_layers
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPoolingAndCrossAttentions, TokenClassifierOutput, declare_output
from .bert import BertEmbeddings, BertLayer, BertPooler

BrosSpadeOutput = declare_output(
    "BrosSpadeOutput", "loss", "initial_token_logits", "subsequent_token_logits", "hidden_states", "attentions",
    module=__name__, doc="Entity-start logits and next-token pair logits of BrosSpadeEEForTokenClassification.")


class BrosConfig(PretrainedConfig):
    model_type = "bros"
    defaults = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                    initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0, dim_bbox=8, bbox_scale=100.0,
                    n_relations=1, classifier_dropout_prob=0.1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # derived from the sizes (and written to config.json), as the reference does
        self.dim_bbox_sinusoid_emb_2d = self.hidden_size // 4
        self.dim_bbox_sinusoid_emb_1d = self.dim_bbox_sinusoid_emb_2d // self.dim_bbox
        self.dim_bbox_projection = self.hidden_size // self.num_attention_heads


class BrosPreTrainedModel(PreTrainedModel):
    config_class = BrosConfig
    base_model_prefix = "bros"
    input_embeddings_path = "embeddings.word_embeddings"

    def classifier_dropout(self, config) -> float:
        return getattr(config, "classifier_dropout", None) or config.hidden_dropout_prob

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, BrosRelationExtractor):
            nn.init.normal_(module.dummy_node, std=self.config.initializer_range)


class BrosTextEmbeddings(BertEmbeddings):
    """BERT's embeddings, with the position-id table the checkpoints carry (`position_ids`)."""

    def __init__(self, config):
        super().__init__(config)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings)[None])

    def positions(self, input_ids, inputs_embeds, length: int, past=None):
        return self.position_ids[:, :length]


class _Sinusoids(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        if dim < 2:
            raise ValueError(f"BROS needs hidden_size // 4 // dim_bbox >= 2 (dim_bbox_sinusoid_emb_1d = {dim}); "
                             f"use a larger hidden_size.")
        self.register_buffer("inv_freq", 1 / (10000 ** (torch.arange(0.0, dim, 2.0) / dim)))

    def forward(self, x):
        angles = x[..., None] * self.inv_freq
        return torch.cat([angles.sin(), angles.cos()], dim=-1)


class BrosBboxEmbeddings(nn.Module):
    """[batch, seq, seq, head_dim]: the sinusoids of every pair's corner-wise box differences, projected."""

    def __init__(self, config):
        super().__init__()
        d = config.dim_bbox_sinusoid_emb_1d
        self.bbox_sinusoid_emb = Holder(x_pos_emb=_Sinusoids(d), y_pos_emb=_Sinusoids(d))
        self.bbox_projection = linear_layer(config.dim_bbox_sinusoid_emb_2d, config.dim_bbox_projection, bias=False)

    def forward(self, bbox):
        relative = bbox[:, None, :, :] - bbox[:, :, None, :]  # [batch, i, j, coordinate]: box j minus box i
        parts = self.bbox_sinusoid_emb
        waves = [(parts.x_pos_emb if i % 2 == 0 else parts.y_pos_emb)(relative[..., i]) for i in range(bbox.shape[-1])]
        return self.bbox_projection(torch.cat(waves, dim=-1))


class BrosLayer(BertLayer):
    """BERT's layer; each head's scores gain its query times the pair's box embedding."""

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        boxes, padding = mask
        attn = self.attention.self
        q = attn.query(x)
        heads = q.view(*q.shape[:2], self.heads, self.head_dim).transpose(1, 2)
        bias = torch.einsum("bhid,bijd->bhij", heads, boxes) * self.head_dim ** -0.5
        if padding is not None:
            bias = bias + padding
        context, weights = attend(q, attn.key(x), attn.value(x), bias, self.heads,
                                  self.attention_dropout if self.training else 0.0, output_attentions, head_mask)
        x = self._residual(self.attention.output, context, x)
        return self._feed_forward(x), weights


class BrosModel(BrosPreTrainedModel):
    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = BrosTextEmbeddings(config)
        self.bbox_embeddings = BrosBboxEmbeddings(config)
        self.encoder = Holder(layer=nn.ModuleList(BrosLayer(config, i) for i in range(config.num_hidden_layers)))
        self.pooler = BertPooler(config) if add_pooling_layer else None
        self.post_init()

    def forward(self, input_ids=None, bbox=None, attention_mask=None, token_type_ids=None, position_ids=None,
                head_mask=None, inputs_embeds=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        config = self.config
        batch, length = check_inputs(config, input_ids, inputs_embeds, max_length=config.max_position_embeddings)
        if bbox is None or bbox.dim() != 3 or tuple(bbox.shape[:2]) != (batch, length) or \
                bbox.shape[-1] not in (4, config.dim_bbox):
            got = None if bbox is None else list(bbox.shape)
            raise ValueError(f"BROS needs bbox: the boxes of the tokens, [batch, sequence, 4] (x1, y1, x2, y2) or "
                             f"[batch, sequence, {config.dim_bbox}]; got {got} for inputs of {[batch, length]}.")
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            config, output_attentions, output_hidden_states, False, return_dict)
        x = self.embeddings(input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids,
                            inputs_embeds=inputs_embeds)
        if bbox.shape[-1] == 4:  # the four corners, clockwise from the top left
            bbox = bbox[:, :, [0, 1, 2, 1, 2, 3, 0, 3]]
        boxes = self.bbox_embeddings(bbox * config.bbox_scale)
        x, hidden_states, attentions = run_layers(
            self, self.encoder.layer, x, mask=(boxes, padding_mask(attention_mask, x.dtype)), head_mask=head_mask,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        pooled = None if self.pooler is None else self.pooler(x)
        out = BaseModelOutputWithPoolingAndCrossAttentions(last_hidden_state=x, pooler_output=pooled,
                                                           hidden_states=hidden_states, attentions=attentions)
        return out if return_dict else out.to_tuple()


class BrosRelationExtractor(nn.Module):
    """Pair scores [batch, seq, seq + 1] (`n_relations` = 1) of each token against every token and a dummy node."""

    def __init__(self, config):
        super().__init__()
        h, self.relations = config.hidden_size, config.n_relations
        self.query = linear_layer(h, self.relations * h)
        self.key = linear_layer(h, self.relations * h)
        self.dummy_node = nn.Parameter(torch.zeros(1, h))
        self.dropout = config.classifier_dropout_prob

    def forward(self, hidden):  # hidden: [batch, seq, h]
        batch, length, h = hidden.shape
        keys = torch.cat([hidden, self.dummy_node.expand(batch, 1, h)], dim=1)
        q = self.query(F.dropout(hidden, self.dropout, self.training)).view(batch, length, self.relations, h)
        k = self.key(F.dropout(keys, self.dropout, self.training)).view(batch, length + 1, self.relations, h)
        return torch.einsum("binh,bjnh->nbij", q, k)


def _outside(mask: torch.Tensor) -> torch.Tensor:
    """[batch, 1, seq + 1]: the tokens outside `mask` (True = inside), the dummy node being inside."""
    return torch.cat([~mask.bool(), mask.new_zeros(mask.shape[0], 1, dtype=torch.bool)], dim=1)[:, None]


def _off_self(logits: torch.Tensor) -> torch.Tensor:
    length = logits.shape[1]
    itself = torch.eye(length, length + 1, dtype=torch.bool, device=logits.device)
    return logits.masked_fill(itself, torch.finfo(logits.dtype).min)


class _BrosHead(BrosPreTrainedModel):
    _keys_to_ignore_on_load_unexpected = [r"pooler"]

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bros = BrosModel(config)
        self.build_head(config)
        self.post_init()

    def encode(self, a: dict):
        return self.bros(input_ids=a["input_ids"], bbox=a["bbox"], attention_mask=a["attention_mask"],
                         token_type_ids=a["token_type_ids"], position_ids=a["position_ids"], head_mask=a["head_mask"],
                         inputs_embeds=a["inputs_embeds"], output_attentions=a["output_attentions"],
                         output_hidden_states=a["output_hidden_states"], return_dict=True)

    def finish(self, return_dict, out):
        use_dict = self.config.use_return_dict if return_dict is None else return_dict
        return out if use_dict else out.to_tuple()


class BrosForTokenClassification(_BrosHead):
    def build_head(self, config):
        self.dropout = nn.Dropout(self.classifier_dropout(config))
        self.classifier = linear_layer(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, bbox=None, attention_mask=None, bbox_first_token_mask=None,
                token_type_ids=None, position_ids=None, head_mask=None, inputs_embeds=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        outputs = self.encode(locals())
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            flat, targets = logits.view(-1, self.num_labels), labels.view(-1)
            if bbox_first_token_mask is not None:  # only the first token of each box is labelled
                keep = bbox_first_token_mask.view(-1).bool()
                flat, targets = flat[keep], targets[keep]
            loss = F.cross_entropy(flat, targets)
        return self.finish(return_dict, TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions))


class BrosSpadeEEForTokenClassification(_BrosHead):
    def build_head(self, config):
        h, dropout = config.hidden_size, self.classifier_dropout(config)
        self.initial_token_classifier = nn.Sequential(nn.Dropout(dropout), linear_layer(h, h), nn.Dropout(dropout),
                                                      linear_layer(h, config.num_labels))
        self.subsequent_token_classifier = BrosRelationExtractor(config)

    def forward(self, input_ids=None, bbox=None, attention_mask=None, bbox_first_token_mask=None,
                token_type_ids=None, position_ids=None, head_mask=None, inputs_embeds=None,
                initial_token_labels=None, subsequent_token_labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.encode(locals())
        hidden = outputs.last_hidden_state
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
        initial = self.initial_token_classifier(hidden)
        subsequent = self.subsequent_token_classifier(hidden).squeeze(0)
        subsequent = _off_self(subsequent.masked_fill(_outside(attention_mask), torch.finfo(subsequent.dtype).min))
        loss = None
        if initial_token_labels is not None and subsequent_token_labels is not None:
            flat, targets = initial.view(-1, self.num_labels), initial_token_labels.view(-1)
            if bbox_first_token_mask is not None:
                keep = bbox_first_token_mask.view(-1).bool()
                flat, targets = flat[keep], targets[keep]
            real = attention_mask.view(-1).bool()
            loss = F.cross_entropy(flat, targets) + F.cross_entropy(
                subsequent.view(-1, subsequent.shape[-1])[real], subsequent_token_labels.view(-1)[real])
        return self.finish(return_dict, BrosSpadeOutput(
            loss=loss, initial_token_logits=initial, subsequent_token_logits=subsequent,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions))


class BrosSpadeELForTokenClassification(_BrosHead):
    def build_head(self, config):
        self.entity_linker = BrosRelationExtractor(config)

    def forward(self, input_ids=None, bbox=None, attention_mask=None, bbox_first_token_mask=None,
                token_type_ids=None, position_ids=None, head_mask=None, inputs_embeds=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        outputs = self.encode(locals())
        logits = self.entity_linker(outputs.last_hidden_state).squeeze(0)
        loss = None
        if labels is not None:  # (links start from and end at first tokens of boxes only)
            if bbox_first_token_mask is None:
                raise ValueError("BrosSpadeELForTokenClassification needs bbox_first_token_mask with labels.")
            first = bbox_first_token_mask.bool()
            logits = _off_self(logits.masked_fill(_outside(first), torch.finfo(logits.dtype).min))
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1])[first.view(-1)], labels.view(-1)[first.view(-1)])
        return self.finish(return_dict, TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions))
