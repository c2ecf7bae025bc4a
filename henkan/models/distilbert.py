"""DistilBERT: a 6-layer BERT without token types or pooler, with its own key names (`dim`, `n_heads`, ...)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import PretrainedConfig
from ..heads import (ForMaskedLM, ForMultipleChoice, ForQuestionAnswering, ForSequenceClassification,
                     ForTokenClassification)
from ..layers import Holder, activation, attend, check_inputs, encoder_mask, linear_layer, run_layers
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutput


class DistilBertConfig(PretrainedConfig):
    model_type = "distilbert"
    attribute_map = {"hidden_size": "dim", "num_attention_heads": "n_heads", "num_hidden_layers": "n_layers"}
    defaults = dict(vocab_size=30522, max_position_embeddings=512, sinusoidal_pos_embds=False, n_layers=6,
                    n_heads=12, dim=768, hidden_dim=3072, dropout=0.1, attention_dropout=0.1, activation="gelu",
                    initializer_range=0.02, qa_dropout=0.1, seq_classif_dropout=0.2, pad_token_id=0)
    multiples = (("hidden_size", "num_attention_heads"),)


def sinusoidal_positions(n_positions: int, dim: int) -> torch.Tensor:
    """Fixed position table: sine on even features, cosine on odd ones, wavelengths up to 10000 * 2pi."""
    angle = torch.arange(n_positions, dtype=torch.float64)[:, None] / torch.pow(
        10000.0, (2 * (torch.arange(dim) // 2)).double() / dim)
    return torch.where(torch.arange(dim) % 2 == 0, angle.sin(), angle.cos()).float()


class DistilBertPreTrainedModel(PreTrainedModel):
    config_class = DistilBertConfig
    base_model_prefix = "distilbert"
    input_embeddings_path = "embeddings.word_embeddings"

    def classifier_dropout(self, config) -> float:
        return config.dropout

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, DistilBertEmbeddings) and self.config.sinusoidal_pos_embds:
            table = module.position_embeddings.weight
            with torch.no_grad():
                table.copy_(sinusoidal_positions(*table.shape))
            table.requires_grad_(False)

    def get_position_embeddings(self) -> nn.Embedding:
        return self.base_model.embeddings.position_embeddings

    def resize_position_embeddings(self, new_num_position_embeddings: int) -> None:
        """Grow (new rows initialised) or cut the position table; a sinusoidal table is recomputed."""
        config, old = self.config, self.get_position_embeddings()
        if new_num_position_embeddings == config.max_position_embeddings:
            return
        new = nn.Embedding(new_num_position_embeddings, config.dim, device=old.weight.device,
                           dtype=old.weight.dtype)
        self._init_weights(new)
        with torch.no_grad():
            keep = min(new_num_position_embeddings, old.num_embeddings)
            new.weight[:keep] = old.weight[:keep]
            if config.sinusoidal_pos_embds:
                new.weight.copy_(sinusoidal_positions(new_num_position_embeddings, config.dim))
        new.weight.requires_grad_(old.weight.requires_grad)
        self.base_model.embeddings.position_embeddings = new
        config.max_position_embeddings = new_num_position_embeddings


class DistilBertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.dim, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.dim)
        self.LayerNorm = nn.LayerNorm(config.dim, eps=1e-12)
        self.dropout = config.dropout

    def forward(self, input_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        positions = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device)
        x = self.LayerNorm(inputs_embeds + self.position_embeddings(positions))
        return F.dropout(x, self.dropout, self.training)


class DistilBertLayer(nn.Module):
    """Post-LayerNorm block; unlike BERT, no dropout on the attention output."""

    def __init__(self, config):
        super().__init__()
        d = config.dim
        if d % config.n_heads:
            raise ValueError(f"n_heads ({config.n_heads}) must divide dim ({d}) evenly.")
        self.attention = Holder(q_lin=linear_layer(d, d), k_lin=linear_layer(d, d), v_lin=linear_layer(d, d),
                                out_lin=linear_layer(d, d))
        self.sa_layer_norm = nn.LayerNorm(d, eps=1e-12)
        self.ffn = Holder(lin1=linear_layer(d, config.hidden_dim), lin2=linear_layer(config.hidden_dim, d))
        self.output_layer_norm = nn.LayerNorm(d, eps=1e-12)
        self.act = activation(config.activation)
        self.heads, self.dropout, self.attention_dropout = config.n_heads, config.dropout, config.attention_dropout

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        a = self.attention
        context, weights = attend(a.q_lin(x), a.k_lin(x), a.v_lin(x), mask, self.heads,
                                  self.attention_dropout if self.training else 0.0, output_attentions, head_mask)
        x = self.sa_layer_norm(a.out_lin(context) + x)
        h = F.dropout(self.ffn.lin2(self.act(self.ffn.lin1(x))), self.dropout, self.training)
        return self.output_layer_norm(h + x), weights


class DistilBertModel(DistilBertPreTrainedModel):
    def __init__(self, config, add_pooling_layer: bool = False):  # no pooler; the flag is accepted for the heads
        super().__init__(config)
        self.embeddings = DistilBertEmbeddings(config)
        self.transformer = Holder(layer=nn.ModuleList(DistilBertLayer(config) for _ in range(config.n_layers)))
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        config = self.config
        check_inputs(config, input_ids, inputs_embeds, max_length=config.max_position_embeddings,
                     attention_mask=attention_mask)
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        x = self.embeddings(input_ids=input_ids, inputs_embeds=inputs_embeds)
        x, hidden_states, attentions = run_layers(
            self, self.transformer.layer, x, mask=encoder_mask(config, attention_mask, x.dtype), head_mask=head_mask,
            output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        out = BaseModelOutput(last_hidden_state=x, hidden_states=hidden_states, attentions=attentions)
        return out if (config.use_return_dict if return_dict is None else return_dict) else out.to_tuple()


class _DistilBertHead:
    """Placed before the shared head so that its choices win over the head's defaults. The forward signature is
    DistilBERT's: no token_type_ids or position_ids (its tokenizer makes neither)."""

    base_model_class = DistilBertModel

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, head_mask=head_mask,
                               inputs_embeds=inputs_embeds, labels=labels, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=return_dict)


class _FirstTokenHead(_DistilBertHead):
    """Sentence-level heads: first token, `pre_classifier`, ReLU, dropout `seq_classif_dropout`, `classifier`."""

    def classifier_dropout(self, config) -> float:
        return config.seq_classif_dropout

    def build_head(self, config):
        self.pre_classifier = linear_layer(config.dim, config.dim)
        super().build_head(config)

    def head(self, outputs):
        return self.classifier(self.dropout(F.relu(self.pre_classifier(outputs.last_hidden_state[:, 0]))))


class DistilBertForSequenceClassification(_FirstTokenHead, ForSequenceClassification, DistilBertPreTrainedModel):
    pass


class DistilBertForMultipleChoice(_FirstTokenHead, ForMultipleChoice, DistilBertPreTrainedModel):
    pass


class DistilBertForTokenClassification(_DistilBertHead, ForTokenClassification, DistilBertPreTrainedModel):
    pass


class DistilBertForQuestionAnswering(ForQuestionAnswering, DistilBertPreTrainedModel):
    base_model_class = DistilBertModel

    def build_head(self, config):
        if config.num_labels != 2:
            raise ValueError(f"DistilBertForQuestionAnswering needs config.num_labels == 2 (start and end "
                             f"logits), not {config.num_labels}.")
        super().build_head(config)
        self.dropout = nn.Dropout(config.qa_dropout)

    def head(self, outputs):
        return self.qa_outputs(self.dropout(outputs.last_hidden_state))

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, inputs_embeds=None, start_positions=None,
                end_positions=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        return super().forward(input_ids=input_ids, attention_mask=attention_mask, head_mask=head_mask,
                               inputs_embeds=inputs_embeds, start_positions=start_positions,
                               end_positions=end_positions, output_attentions=output_attentions,
                               output_hidden_states=output_hidden_states, return_dict=return_dict)


class DistilBertForMaskedLM(_DistilBertHead, ForMaskedLM, DistilBertPreTrainedModel):
    _tied_weights_keys = ["vocab_projector.weight"]

    def build_head(self, config):
        self.act = activation(config.activation)
        self.vocab_transform = linear_layer(config.dim, config.dim)
        self.vocab_layer_norm = nn.LayerNorm(config.dim, eps=1e-12)
        self.vocab_projector = linear_layer(config.dim, config.vocab_size)

    def head(self, outputs):
        hidden = self.act(self.vocab_transform(outputs.last_hidden_state))
        return self.vocab_projector(self.vocab_layer_norm(hidden))

    def get_output_embeddings(self):
        return self.vocab_projector
