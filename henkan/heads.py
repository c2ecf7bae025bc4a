"""Task heads shared by every encoder family: the forward pass, the loss and the output are written once here.

A family plugs in by subclassing a head together with its `...PreTrainedModel` and naming its base model class;
where its head layout differs (RoBERTa's classification head, DistilBERT's pre-classifier), it overrides
`build_head` and `head`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import check_tensor, class_targets, first_token_only, linear_layer
from .outputs import (MaskedLMOutput, MultipleChoiceModelOutput, QuestionAnsweringModelOutput,
                      SequenceClassifierOutput, TokenClassifierOutput)

_BASE_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "head_mask", "inputs_embeds")
_FLAGS = ("output_attentions", "output_hidden_states")


class LayerMix:
    """`use_weighted_layer_sum` (the speech classifiers): the states of every layer, embeddings included, mixed by
    learned weights; otherwise the last hidden state."""

    def build_layer_mix(self, config) -> None:
        if config.use_weighted_layer_sum:
            layers = config.num_hidden_layers + 1
            self.layer_weights = nn.Parameter(torch.ones(layers) / layers)

    def mixed_states(self, outputs):
        if not self.config.use_weighted_layer_sum:
            return outputs.last_hidden_state
        stacked = torch.stack(outputs.hidden_states, dim=1)
        return (stacked * F.softmax(self.layer_weights, dim=-1).view(-1, 1, 1)).sum(dim=1)



def classification_loss(logits: torch.Tensor, labels: torch.Tensor, config) -> torch.Tensor:
    """Loss by `config.problem_type`, inferred (and recorded) on first use as the reference does."""
    num_labels = logits.shape[-1]
    if config.problem_type is None:
        if num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        if num_labels == 1:
            return F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
        return F.mse_loss(logits, labels.to(logits.dtype))
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.view(-1, num_labels), class_targets(labels, num_labels).view(-1))
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def span_loss(start_logits, end_logits, start_positions, end_positions) -> torch.Tensor:
    """Mean of start and end cross-entropies; positions outside the sequence are ignored."""
    ignored = start_logits.shape[1]
    start = start_positions.view(-1).clamp(0, ignored)
    end = end_positions.view(-1).clamp(0, ignored)
    return (F.cross_entropy(start_logits, start, ignore_index=ignored)
            + F.cross_entropy(end_logits, end, ignore_index=ignored)) / 2


class EncoderHead:
    """What all heads share: a base model under `base_model_prefix`, a call into it, the output shape.

    The family's `...PreTrainedModel` says how much dropout goes before a classifier (`classifier_dropout`)."""

    base_model_class: type = None
    uses_pooler = False
    # The head reads the encoder's output at the first position alone (the pooler's token), so a base model that
    # can (its `first_token_only`) computes only that position in its last layer. A family whose head reads more
    # sets this False.
    reads_first_token = False
    output_class: type = None
    _keys_to_ignore_on_load_unexpected = [r"pooler"]

    def __init__(self, config):
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.base_model_class(config, add_pooling_layer=self.uses_pooler))
        self.build_head(config)
        self.post_init()

    def build_head(self, config) -> None:
        raise NotImplementedError

    def encode(self, arguments: dict, reshape=None):
        """Run the base model on the model inputs among a forward's `arguments` that were given (so a family
        without token types never sees them), each passed through `reshape` if set."""
        inputs = {k: arguments[k] for k in _BASE_INPUTS + _FLAGS if arguments.get(k) is not None}
        if reshape is not None:
            inputs = {k: reshape(v) if k in _BASE_INPUTS and k != "head_mask" else v for k, v in inputs.items()}
        with first_token_only(self.base_model, self.reads_first_token) as base:
            return base(**inputs, return_dict=True)

    def finish(self, return_dict, loss, outputs, **fields):
        result = self.output_class(loss=loss, **fields, hidden_states=outputs.hidden_states,
                                   attentions=outputs.attentions)
        use_dict = self.config.use_return_dict if return_dict is None else return_dict
        return result if use_dict else result.to_tuple()


class ForSequenceClassification(EncoderHead):
    uses_pooler = True
    reads_first_token = True
    output_class = SequenceClassifierOutput

    def build_head(self, config):
        self.num_labels = config.num_labels
        self.dropout = nn.Dropout(self.classifier_dropout(config))
        self.classifier = linear_layer(config.hidden_size, config.num_labels)

    def head(self, outputs):
        return self.classifier(self.dropout(outputs.pooler_output))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.encode(locals())
        logits = self.head(outputs)
        loss = classification_loss(logits, labels, self.config) if labels is not None else None
        return self.finish(return_dict, loss, outputs, logits=logits)


class ForTokenClassification(EncoderHead):
    output_class = TokenClassifierOutput

    def build_head(self, config):
        self.num_labels = config.num_labels
        self.dropout = nn.Dropout(self.classifier_dropout(config))
        self.classifier = linear_layer(config.hidden_size, config.num_labels)

    def head(self, outputs):
        return self.classifier(self.dropout(outputs.last_hidden_state))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.encode(locals())
        logits = self.head(outputs)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, self.num_labels), class_targets(labels, self.num_labels).view(-1))
        return self.finish(return_dict, loss, outputs, logits=logits)


class ForQuestionAnswering(EncoderHead):
    output_class = QuestionAnsweringModelOutput

    def build_head(self, config):
        self.num_labels = config.num_labels
        self.qa_outputs = linear_layer(config.hidden_size, config.num_labels)

    def head(self, outputs):
        return self.qa_outputs(outputs.last_hidden_state)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.encode(locals())
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in self.head(outputs).split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return self.finish(return_dict, loss, outputs, start_logits=start_logits, end_logits=end_logits)


class ForMaskedLM(EncoderHead):
    """Masked LM: the family provides `build_head` (its LM head layout) and `get_output_embeddings`."""

    output_class = MaskedLMOutput

    def head(self, outputs):
        raise NotImplementedError

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        output = self.get_output_embeddings()
        output.weight = new_embeddings.weight
        if getattr(new_embeddings, "bias", None) is not None:
            output.bias = new_embeddings.bias

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.encode(locals())
        logits = self.head(outputs)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, logits.shape[-1]),
                                   class_targets(labels, logits.shape[-1], "vocab_size").to(logits.device).view(-1))
        return self.finish(return_dict, loss, outputs, logits=logits)


class ForMultipleChoice(EncoderHead):
    """Scores each of `num_choices` sequences with one logit; inputs are [batch, num_choices, seq]."""

    uses_pooler = True
    reads_first_token = True
    output_class = MultipleChoiceModelOutput

    def build_head(self, config):
        self.dropout = nn.Dropout(self.classifier_dropout(config))
        self.classifier = linear_layer(config.hidden_size, 1)

    def head(self, outputs):
        return self.classifier(self.dropout(outputs.pooler_output))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        name = "input_ids" if input_ids is not None else "inputs_embeds"
        given = input_ids if input_ids is not None else inputs_embeds
        check_tensor(name, given)
        if given.dim() != (3 if name == "input_ids" else 4) or not given.numel():
            raise ValueError(f"{name} of a multiple-choice model should be [batch, choices, sequence"
                             f"{', hidden' if name == 'inputs_embeds' else ''}] and not empty, got shape {list(given.shape)}.")
        num_choices = given.shape[1]
        outputs = self.encode(locals(), reshape=lambda t: t.reshape(-1, *t.shape[2:]))
        logits = self.head(outputs).view(-1, num_choices)
        loss = F.cross_entropy(logits, class_targets(labels, num_choices, "choices")) if labels is not None else None
        return self.finish(return_dict, loss, outputs, logits=logits)
