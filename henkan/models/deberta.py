"""DeBERTa and DeBERTa-v2: BERT-like encoders whose attention adds disentangled relative-position terms.

A score is content-to-content plus content-to-position (`c2p`: the query against the embedding of the key's
relative distance) and position-to-content (`p2c`: the key against the embedding of the query's distance), over
sqrt(head_dim * (1 + the number of position terms)). Distances index one table, `encoder.rel_embeddings`, shared by
all layers; each layer projects it with its own weights. DeBERTa fuses q/k/v into `in_proj` (per head) with separate
query and value biases. DeBERTa-v2 projects them apart and may bucket long distances logarithmically
(`position_buckets`), layer-normalise the table (`norm_rel_ebd`), reuse the content projections for positions
(`share_att_key`) and add a convolution to the first layer's output (`conv_kernel_size`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..heads import (ForMaskedLM, ForMultipleChoice, ForQuestionAnswering, ForSequenceClassification,
                     ForTokenClassification, classification_loss)
from ..layers import Holder, LMPredictionHead, activation, check_inputs, linear_layer
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutput
from .bert import BertLayer

_DEFAULTS = dict(vocab_size=50265, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                 max_position_embeddings=512, type_vocab_size=0, initializer_range=0.02, layer_norm_eps=1e-7,
                 relative_attention=False, max_relative_positions=-1, pad_token_id=0, position_biased_input=True,
                 pos_att_type=None, pooler_dropout=0, pooler_hidden_act="gelu", legacy=True)


class DebertaConfig(PretrainedConfig):
    model_type = "deberta"
    defaults = _DEFAULTS
    fused_qkv = True  # DeBERTa's `in_proj`; DeBERTa-v2 has query_proj/key_proj/value_proj

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(self.pos_att_type, str):  # the older "c2p|p2c" spelling
            self.pos_att_type = [part.strip() for part in self.pos_att_type.lower().split("|")]
        if getattr(self, "pooler_hidden_size", None) is None:
            self.pooler_hidden_size = self.hidden_size


class DebertaV2Config(DebertaConfig):
    model_type = "deberta-v2"
    defaults = {**_DEFAULTS, "vocab_size": 128100, "hidden_size": 1536, "num_hidden_layers": 24,
                "num_attention_heads": 24, "intermediate_size": 6144}
    fused_qkv = False


def log_buckets(relative: torch.Tensor, buckets: int, max_position: int) -> torch.Tensor:
    """Distances within buckets // 2 kept; longer ones on a log scale up to `max_position`, in buckets // 2 steps."""
    mid = buckets // 2
    sign = torch.sign(relative)
    near = (relative < mid) & (relative > -mid)
    magnitude = torch.where(near, torch.tensor(mid - 1).type_as(relative), relative.abs())
    scale = torch.log(torch.tensor((max_position - 1) / mid))
    logs = torch.ceil(torch.log(magnitude / mid) / scale * (mid - 1)) + mid
    return torch.where(magnitude <= mid, relative.type_as(logs), logs * sign).long()


class RelativePositions:
    """What every layer of one forward shares: the rows of the distance table in use (`table`, already
    layer-normalised where the config says so) and, per (query, key), the row of their distance (`c2p`) and of the
    reverse distance (`p2c`, read from the keys' side)."""

    def __init__(self, table: torch.Tensor, length: int, span: int, buckets: int, max_position: int):
        positions = torch.arange(length, device=table.device)
        relative = positions[:, None] - positions[None, :]
        if buckets > 0:
            relative = log_buckets(relative, buckets, max_position)
            low, high = 0, 2 * span
        else:  # only the rows of distances below `length` are read: project those alone
            low, high = max(0, span - length + 1), min(2 * span, span + length)
        self.table = table[low:high]
        self.c2p = (relative + span).clamp(0, 2 * span - 1) - low
        self.p2c = (span - relative).clamp(0, 2 * span - 1) - low


class DisentangledSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        h, self.heads = config.hidden_size, config.num_attention_heads
        if h % self.heads:
            raise ValueError(f"hidden_size ({h}) is not a multiple of num_attention_heads ({self.heads}).")
        self.fused = config.fused_qkv
        self.head_dim = h // self.heads if self.fused else getattr(config, "attention_head_size", h // self.heads)
        width = self.heads * self.head_dim
        types = config.pos_att_type or []
        self.relative = bool(config.relative_attention)
        self.c2p, self.p2c = self.relative and "c2p" in types, self.relative and "p2c" in types
        self.scaling = (self.head_dim * (1 + ("c2p" in types) + ("p2c" in types))) ** -0.5
        self.share_att_key = not self.fused and getattr(config, "share_att_key", False)
        self.talking_head = self.fused and getattr(config, "talking_head", False)
        if self.fused:
            self.in_proj = linear_layer(h, 3 * width, bias=False)
            self.q_bias = nn.Parameter(torch.zeros(width))
            self.v_bias = nn.Parameter(torch.zeros(width))
            if self.talking_head:
                self.head_logits_proj = linear_layer(self.heads, self.heads, bias=False)
                self.head_weights_proj = linear_layer(self.heads, self.heads, bias=False)
            if self.c2p:
                self.pos_proj = linear_layer(h, width, bias=False)
            if self.p2c:
                self.pos_q_proj = linear_layer(h, width)
        else:
            self.query_proj, self.key_proj, self.value_proj = (linear_layer(h, width) for _ in range(3))
            if not self.share_att_key:
                if self.c2p:
                    self.pos_key_proj = linear_layer(h, width)
                if self.p2c:
                    self.pos_query_proj = linear_layer(h, width)
        self.dropout = config.attention_probs_dropout_prob
        self.position_dropout = config.hidden_dropout_prob

    def _heads(self, x):
        return x.view(*x.shape[:-1], self.heads, self.head_dim).transpose(-2, -3)

    def _project(self, x):
        if self.fused:
            return self._fused_qkv(x)
        return self._heads(self.query_proj(x)), self._heads(self.key_proj(x)), self._heads(self.value_proj(x))

    def _fused_qkv(self, x):
        """`in_proj` holds, head after head, that head's query, key and value rows."""
        qkv = self.in_proj(x).view(*x.shape[:-1], self.heads, 3, self.head_dim)
        q, k, v = (qkv[..., i, :].transpose(1, 2) for i in range(3))
        return (q + self.q_bias.view(self.heads, 1, self.head_dim), k,
                v + self.v_bias.view(self.heads, 1, self.head_dim))

    def _position_projections(self, table):
        if self.fused:
            return (self.pos_proj(table) if self.c2p else None), (self.pos_q_proj(table) if self.p2c else None)
        if self.share_att_key:
            return self.key_proj(table), self.query_proj(table)
        return ((self.pos_key_proj(table) if self.c2p else None),
                (self.pos_query_proj(table) if self.p2c else None))

    def position_bias(self, q, k, positions: RelativePositions):
        """The c2p and p2c terms of the scores, [batch, heads, queries, keys], before scaling."""
        table = F.dropout(positions.table, self.position_dropout, self.training)
        pos_key, pos_query = self._position_projections(table)
        bias = 0
        batch, length = q.shape[0], q.shape[2]
        if self.c2p:
            scores = q @ self._heads(pos_key).transpose(-1, -2)  # [batch, heads, queries, distances]
            bias = bias + scores.gather(-1, positions.c2p.expand(batch, self.heads, length, length))
        if self.p2c:
            scores = k @ self._heads(pos_query).transpose(-1, -2)  # [batch, heads, keys, distances]
            bias = bias + scores.gather(-1, positions.p2c.expand(batch, self.heads, length, length)).transpose(-1, -2)
        return bias

    def forward(self, x, mask, positions: RelativePositions | None, output_attentions: bool = False):
        q, k, v = self._project(x)
        bias = self.position_bias(q, k, positions) if positions is not None and self.relative else None
        dropout = self.dropout if self.training else 0.0
        if output_attentions or self.talking_head:
            scores = q @ k.transpose(-1, -2)
            if bias is not None:
                scores = scores + bias
            scores = scores * self.scaling
            if self.talking_head:
                scores = self.head_logits_proj(scores.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            if mask is not None:
                scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            weights = F.dropout(scores.softmax(-1), dropout, self.training)
            if self.talking_head:
                weights = self.head_weights_proj(weights.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            context = weights @ v
        else:
            additive = None if bias is None else bias * self.scaling
            if mask is not None:
                additive = (torch.zeros((), dtype=q.dtype, device=q.device) if additive is None else additive)
                additive = additive.masked_fill(~mask, torch.finfo(q.dtype).min)
            weights = None
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=additive, dropout_p=dropout,
                                                     scale=self.scaling)
        return context.transpose(1, 2).flatten(2), weights


class DebertaLayer(BertLayer):
    """BERT's post-LayerNorm layer around disentangled attention."""

    def __init__(self, config):
        super().__init__(config)
        self.attention.self = DisentangledSelfAttention(config)

    def forward(self, x, mask, positions, output_attentions=False):
        context, weights = self.attention.self(x, mask, positions, output_attentions)
        x = self._residual(self.attention.output, context, x)
        return self._feed_forward(x), weights


class DebertaEmbeddings(nn.Module):
    """Word (+ absolute position, + token type) embeddings, projected to hidden_size when narrower, normalised and
    zeroed at padding."""

    def __init__(self, config):
        super().__init__()
        width = getattr(config, "embedding_size", None) or config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        if config.position_biased_input:
            self.position_embeddings = nn.Embedding(config.max_position_embeddings, width)
        if config.type_vocab_size > 0:
            self.token_type_embeddings = nn.Embedding(config.type_vocab_size, width)
        if width != config.hidden_size:
            self.embed_proj = linear_layer(width, config.hidden_size, bias=False)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = config.hidden_dropout_prob

    def forward(self, input_ids, token_type_ids, position_ids, inputs_embeds, mask):
        x = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        if hasattr(self, "position_embeddings"):
            if position_ids is None:
                position_ids = torch.arange(x.shape[1], device=x.device)[None]
            x = x + self.position_embeddings(position_ids.long())
        if hasattr(self, "token_type_embeddings"):
            types = self.token_type_embeddings
            x = x + (types.weight[0] if token_type_ids is None else types(token_type_ids))
        if hasattr(self, "embed_proj"):
            x = self.embed_proj(x)
        x = self.LayerNorm(x)
        if mask is not None:
            x = x * mask[:, :, None].to(x.dtype)
        return F.dropout(x, self.dropout, self.training)


class DebertaConv(nn.Module):
    """DeBERTa-v2's convolution over the embeddings, added to the first layer's output (`encoder.conv`)."""

    def __init__(self, config):
        super().__init__()
        size = config.conv_kernel_size
        self.conv = nn.Conv1d(config.hidden_size, config.hidden_size, size, padding=(size - 1) // 2,
                              groups=getattr(config, "conv_groups", 1))
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.act = activation(getattr(config, "conv_act", "tanh"))
        self.dropout = config.hidden_dropout_prob

    def forward(self, embeddings, x, mask):
        out = self.conv(embeddings.transpose(1, 2)).transpose(1, 2)
        keep = mask[:, :, None].to(out.dtype) if mask is not None else None
        if keep is not None:
            out = out * keep
        out = self.LayerNorm(x + self.act(F.dropout(out, self.dropout, self.training)))
        return out if keep is None else out * keep


class DebertaEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList(DebertaLayer(config) for _ in range(config.num_hidden_layers))
        v2 = not config.fused_qkv
        self.max_relative_positions = config.max_relative_positions
        if self.max_relative_positions < 1:
            self.max_relative_positions = config.max_position_embeddings
        self.buckets = getattr(config, "position_buckets", -1) if v2 else -1
        self.span = self.buckets if self.buckets > 0 else self.max_relative_positions
        if config.relative_attention:
            self.rel_embeddings = nn.Embedding(2 * self.span, config.hidden_size)
        norms = [part.strip() for part in str(getattr(config, "norm_rel_ebd", "none")).lower().split("|")]
        if v2 and "layer_norm" in norms:
            self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        if v2 and getattr(config, "conv_kernel_size", 0) > 0:
            self.conv = DebertaConv(config)

    def positions(self, length: int) -> RelativePositions | None:
        if not hasattr(self, "rel_embeddings"):
            return None
        table = self.rel_embeddings.weight
        if hasattr(self, "LayerNorm"):
            table = self.LayerNorm(table)
        return RelativePositions(table, length, self.span, self.buckets, self.max_relative_positions)


class DebertaPreTrainedModel(PreTrainedModel):
    config_class = DebertaConfig
    base_model_prefix = "deberta"
    input_embeddings_path = "embeddings.word_embeddings"
    _keys_to_ignore_on_load_unexpected = ["position_embeddings"]

    def classifier_dropout(self, config) -> float:
        return config.hidden_dropout_prob


class DebertaModel(DebertaPreTrainedModel):
    """The encoder stack (no pooler: the classification heads pool on their own)."""

    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = DebertaEmbeddings(config)
        self.encoder = DebertaEncoder(config)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        config = self.config
        batch, length = check_inputs(config, input_ids, inputs_embeds)
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            config, output_attentions, output_hidden_states, False, return_dict)
        if attention_mask is not None and tuple(attention_mask.shape) != (batch, length):
            raise ValueError(f"attention_mask should be [batch, sequence] = {[batch, length]} of 0/1, got shape "
                             f"{list(attention_mask.shape)}.")
        padded = attention_mask is not None and not bool(attention_mask.all())
        x = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds,
                            attention_mask if padded else None)
        pair_mask = None
        if padded:  # a padded query sees nothing: its weights come out uniform, as in the reference
            real = attention_mask.bool()
            pair_mask = (real[:, None, :, None] & real[:, None, None, :])
        positions = self.encoder.positions(length)
        embeddings = x
        hidden_states = (x,) if output_hidden_states else None
        attentions = () if output_attentions else None
        for i, layer in enumerate(self.encoder.layer):
            x, weights = layer(x, pair_mask, positions, output_attentions)
            if i == 0 and hasattr(self.encoder, "conv"):
                x = self.encoder.conv(embeddings, x, attention_mask if padded else None)
            if output_hidden_states:
                hidden_states += (x,)
            if output_attentions:
                attentions += (weights,)
        out = BaseModelOutput(last_hidden_state=x, hidden_states=hidden_states, attentions=attentions)
        return out if return_dict else out.to_tuple()


class DebertaLegacyLMHead(LMPredictionHead):
    """`cls.predictions` (config.legacy): transform to embedding_size, then the tied decoder with its own bias."""

    def __init__(self, config):
        width = getattr(config, "embedding_size", None) or config.hidden_size
        super().__init__(width, config.vocab_size)
        self.transform = Holder(dense=linear_layer(config.hidden_size, width),
                                LayerNorm=nn.LayerNorm(width, eps=config.layer_norm_eps))
        self.act = activation(config.hidden_act)

    def forward(self, hidden):
        t = self.transform
        return self.decoder(t.LayerNorm(self.act(t.dense(hidden))))


class DebertaLMHead(nn.Module):
    """`lm_predictions.lm_head` (legacy=False): transform, then the word embeddings themselves, plus a bias."""

    def __init__(self, config):
        super().__init__()
        self.dense = linear_layer(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.act = activation(config.hidden_act)

    def forward(self, hidden, word_embeddings):
        return F.linear(self.LayerNorm(self.act(self.dense(hidden))), word_embeddings.weight, self.bias)


class ContextPooler(nn.Module):
    """`pooler`: the first token, through dense and pooler_hidden_act (its own dropout before)."""

    def __init__(self, config):
        super().__init__()
        self.dense = linear_layer(config.pooler_hidden_size, config.pooler_hidden_size)
        self.act = activation(config.pooler_hidden_act)
        self.dropout = config.pooler_dropout

    def forward(self, hidden):
        return self.act(self.dense(F.dropout(hidden[:, 0], self.dropout, self.training)))


class _Pooled:
    """The sequence-level heads of DeBERTa: ContextPooler, dropout (cls_dropout), then the classifier."""

    def build_head(self, config, outputs: int):
        self.num_labels = config.num_labels
        self.pooler = ContextPooler(config)
        dropout = getattr(config, "cls_dropout", None)
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = linear_layer(config.pooler_hidden_size, outputs)

    def head(self, outputs):
        return self.classifier(self.dropout(self.pooler(outputs.last_hidden_state)))


def deberta_classification_loss(logits, labels, config):
    """Without a problem_type, DeBERTa's own rule (not recorded in the config): one label is regression, integer
    labels are classes (negative ones ignored), a [batch, labels] float matrix is soft targets."""
    if config.problem_type is not None:
        return classification_loss(logits, labels, config)
    if logits.shape[-1] == 1:
        return F.mse_loss(logits.view(-1).to(labels.dtype), labels.view(-1))
    if labels.dim() == 1 or labels.shape[-1] == 1:
        labels = labels.view(-1).long()
        keep = labels >= 0
        if not bool(keep.any()):
            return logits.new_zeros(())
        return F.cross_entropy(logits[keep].float(), labels[keep])
    return -(F.log_softmax(logits, -1) * labels).sum(-1).mean()


class DebertaForSequenceClassification(_Pooled, ForSequenceClassification, DebertaPreTrainedModel):
    base_model_class = DebertaModel

    def build_head(self, config):
        _Pooled.build_head(self, config, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.encode(locals())
        logits = self.head(outputs)
        loss = deberta_classification_loss(logits, labels, self.config) if labels is not None else None
        return self.finish(return_dict, loss, outputs, logits=logits)


class DebertaForTokenClassification(ForTokenClassification, DebertaPreTrainedModel):
    base_model_class = DebertaModel


class DebertaForQuestionAnswering(ForQuestionAnswering, DebertaPreTrainedModel):
    base_model_class = DebertaModel


class DebertaForMaskedLM(ForMaskedLM, DebertaPreTrainedModel):
    base_model_class = DebertaModel
    _tied_weights_keys = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]

    def build_head(self, config):
        if config.legacy:
            self.cls = Holder(predictions=DebertaLegacyLMHead(config))
        else:
            self.lm_predictions = Holder(lm_head=DebertaLMHead(config))

    def head(self, outputs):
        if self.config.legacy:
            return self.cls.predictions(outputs.last_hidden_state)
        return self.lm_predictions.lm_head(outputs.last_hidden_state, self.deberta.embeddings.word_embeddings)

    def get_output_embeddings(self):
        return self.cls.predictions.decoder if self.config.legacy else None


class DebertaV2PreTrainedModel(DebertaPreTrainedModel):
    config_class = DebertaV2Config


def _v2(cls: type, base: type | None = None) -> type:
    """The DeBERTa-v2 class of a DeBERTa class: the same code on DebertaV2Config."""
    attributes = {"config_class": DebertaV2Config, "__module__": __name__}
    if base is not None:
        attributes["base_model_class"] = base
    return type(cls.__name__.replace("Deberta", "DebertaV2"), (cls,), attributes)


DebertaV2Model = _v2(DebertaModel)
DebertaV2ForSequenceClassification = _v2(DebertaForSequenceClassification, DebertaV2Model)
DebertaV2ForTokenClassification = _v2(DebertaForTokenClassification, DebertaV2Model)
DebertaV2ForQuestionAnswering = _v2(DebertaForQuestionAnswering, DebertaV2Model)
DebertaV2ForMaskedLM = _v2(DebertaForMaskedLM, DebertaV2Model)


class DebertaV2ForMultipleChoice(_Pooled, ForMultipleChoice, DebertaV2PreTrainedModel):
    base_model_class = DebertaV2Model

    def build_head(self, config):
        _Pooled.build_head(self, config, 1)
