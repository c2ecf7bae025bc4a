"""BigBird: BERT's encoder (same checkpoint keys, under `bert.`) whose self-attention is block-sparse on long inputs.

With `attention_type="block_sparse"`, inputs longer than (5 + 2 * num_random_blocks) * block_size tokens run
`sparse_attention.block_sparse_attention`: they are padded to whole blocks (pad token ids, the next positions,
token type 0, masked out), the per-layer hidden states and attentions keep that padding and the last hidden state
drops it, as in the reference. Shorter inputs attend fully. The reference switches a model to full attention for
good once it sees a short input (later long inputs stay on full attention); henkan decides per call, which is
what a freshly loaded reference model computes; `set_attention_type` switches deliberately. As a decoder
(`is_decoder`, BigBirdForCausalLM) attention is always full, as in the reference.

Heads: BERT's, with BigBird's classification head (dense, hidden_act, projection on the first token), its
question-answering head (a feed-forward block before the span logits; question tokens, up to the first
[SEP], cannot be answers) and pre-training heads (masked LM + next sentence).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..config import PretrainedConfig
from ..heads import (EncoderHead, ForMultipleChoice, ForQuestionAnswering, ForSequenceClassification,
                     ForTokenClassification, span_loss)
from ..layers import Holder, activation, check_inputs, linear_layer, run_layers
from ..logging import get_logger
from ..outputs import declare_output
from ..sparse_attention import (BlockSparseLayout, block_sparse_attention, check_attention_type, padding_to_blocks,
                                use_block_sparse)
from .bert import (BertEmbeddings, BertForMaskedLM, BertLayer, BertLMHead, BertLMHeadModel, BertModel,
                   BertPreTrainedModel)
from .roberta import HiddenActClassification

logger = get_logger(__name__)

BigBirdForPreTrainingOutput = declare_output(
    "BigBirdForPreTrainingOutput", "loss", "prediction_logits", "seq_relationship_logits", "hidden_states",
    "attentions", doc="Masked-LM and next-sentence logits of BigBirdForPreTraining.", module=__name__)
BigBirdForQuestionAnsweringModelOutput = declare_output(
    "BigBirdForQuestionAnsweringModelOutput", "loss", "start_logits", "end_logits", "pooler_output",
    "hidden_states", "attentions", doc="Span logits of BigBirdForQuestionAnswering.", module=__name__)


class BigBirdConfig(PretrainedConfig):
    model_type = "big_bird"
    defaults = dict(vocab_size=50358, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu_new", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=4096, type_vocab_size=2,
                    initializer_range=0.02, layer_norm_eps=1e-12, use_cache=True, pad_token_id=0, bos_token_id=1,
                    eos_token_id=2, sep_token_id=66, attention_type="block_sparse", use_bias=True,
                    rescale_embeddings=False, block_size=64, num_random_blocks=3, classifier_dropout=None)


class BigBirdPreTrainedModel(BertPreTrainedModel):
    config_class = BigBirdConfig
    base_model_prefix = "bert"


class BigBirdEmbeddings(BertEmbeddings):
    """BERT's embeddings; word vectors scaled by sqrt(hidden_size) with `rescale_embeddings`."""

    def __init__(self, config):
        super().__init__(config)
        self.scale = config.hidden_size ** 0.5 if config.rescale_embeddings else 1.0

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, past=None):
        if self.scale != 1.0:
            inputs_embeds = (self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds) * self.scale
        return super().forward(input_ids, token_type_ids, position_ids, inputs_embeds, past)


class BigBirdLayer(BertLayer):
    """BERT's layer (query/key/value biases only with `use_bias`), block-sparse when handed a BlockSparseLayout."""

    def __init__(self, config, layer_idx: int | None = None):
        super().__init__(config, layer_idx)
        if not config.use_bias:
            h = config.hidden_size
            for block in (self.attention, getattr(self, "crossattention", None)):
                if block is not None:
                    block.self = Holder(query=linear_layer(h, h, bias=False), key=linear_layer(h, h, bias=False),
                                        value=linear_layer(h, h, bias=False))

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        if not isinstance(mask, BlockSparseLayout):
            return super().forward(x, mask, head_mask, output_attentions)
        if head_mask is not None:
            logger.warning_once("head_mask is not applied by block-sparse attention (nor by the reference's); set "
                                "attention_type='original_full' to mask heads.")
        attn = self.attention.self
        context, weights = block_sparse_attention(attn.query(x), attn.key(x), attn.value(x), mask, self.heads,
                                                  training=self.training, output_attentions=output_attentions)
        x = self._residual(self.attention.output, context, x)
        return self._feed_forward(x), weights


class BigBirdPooler(nn.Linear):
    """`pooler`: tanh of a projection of the first token (a bare Linear in the checkpoint)."""

    def __init__(self, config):
        super().__init__(config.hidden_size, config.hidden_size)

    def forward(self, hidden):
        return torch.tanh(super().forward(hidden[:, 0]))


class BigBirdModel(BigBirdPreTrainedModel, BertModel):
    embeddings_class = BigBirdEmbeddings
    layer_class = BigBirdLayer
    pooler_class = BigBirdPooler

    def __init__(self, config, add_pooling_layer: bool = True):
        check_attention_type(config.attention_type)
        if config.block_size < 1 or config.num_random_blocks < 0:
            raise ValueError(f"block_size must be at least 1 and num_random_blocks at least 0; the config has "
                             f"block_size={config.block_size}, num_random_blocks={config.num_random_blocks}.")
        super().__init__(config, add_pooling_layer)
        self.attention_type = config.attention_type

    def set_attention_type(self, value: str) -> None:
        """Use block-sparse ('block_sparse') or full ('original_full') attention from now on."""
        self.attention_type = check_attention_type(value)

    def run(self, a: dict):
        config = self.config
        input_ids, embeds = a["input_ids"], a["inputs_embeds"]
        if config.is_decoder or self.attention_type != "block_sparse":
            return super().run(a)
        batch, length = check_inputs(config, input_ids, embeds, max_length=config.max_position_embeddings)
        if not use_block_sparse(length, config.block_size, config.num_random_blocks):
            return super().run(a)
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            config, a["output_attentions"], a["output_hidden_states"], False, a["return_dict"])
        device = (input_ids if input_ids is not None else embeds).device
        mask = a["attention_mask"]
        mask = torch.ones(batch, length, dtype=torch.long, device=device) if mask is None else mask
        types, positions = a.get("token_type_ids"), a["position_ids"]
        padding = padding_to_blocks(length, config.block_size)
        if padding:
            pad = config.pad_token_id
            if input_ids is not None:
                input_ids = F.pad(input_ids, (0, padding), value=pad)
            else:  # (the reference pads given embeddings with the whole embedding output of pad tokens)
                pad_ids = torch.full((batch, padding), pad, dtype=torch.long, device=device)
                embeds = torch.cat([embeds, self.embeddings(input_ids=pad_ids)], dim=1)
            if positions is not None:
                positions = F.pad(positions, (0, padding), value=pad)
            if types is not None:
                types = F.pad(types, (0, padding), value=0)
            mask = F.pad(mask, (0, padding), value=0)
        x = self.embeddings(input_ids=input_ids, token_type_ids=types, position_ids=positions, inputs_embeds=embeds)
        layout = BlockSparseLayout(mask, config.block_size, config.num_random_blocks, x.dtype)
        x, hidden_states, attentions = run_layers(
            self, self.encoder.layer, x, mask=layout, head_mask=a["head_mask"], output_attentions=output_attentions,
            output_hidden_states=output_hidden_states)
        pooled = {} if self.pooler is None else {"pooler_output": self.pooler(x)}
        out = self.output_class(last_hidden_state=x[:, :length], hidden_states=hidden_states,
                                attentions=attentions, **pooled)
        return out if return_dict else out.to_tuple()


class _Pooled:
    """BigBird builds its base model with the pooler for every head but question answering."""

    uses_pooler = True
    base_model_class = BigBirdModel


class BigBirdForMaskedLM(_Pooled, BigBirdPreTrainedModel, BertForMaskedLM):
    pass


class BigBirdForCausalLM(BigBirdPreTrainedModel, BertLMHeadModel):
    base_model_class = BigBirdModel
    base_model_kwargs = {"add_pooling_layer": True}


class BigBirdForTokenClassification(_Pooled, ForTokenClassification, BigBirdPreTrainedModel):
    pass


class BigBirdForMultipleChoice(_Pooled, ForMultipleChoice, BigBirdPreTrainedModel):
    pass


class BigBirdForSequenceClassification(HiddenActClassification, _Pooled, ForSequenceClassification,
                                       BigBirdPreTrainedModel):
    pass


class BigBirdForQuestionAnswering(ForQuestionAnswering, BigBirdPreTrainedModel):
    """Span logits after a feed-forward block (`qa_classifier`); the question (the tokens up to the first
    sep_token_id, or `question_lengths`) is masked out of the answers and, without token_type_ids, gets type 0 and
    the rest type 1."""

    base_model_class = BigBirdModel
    output_class = BigBirdForQuestionAnsweringModelOutput

    def __init__(self, config, add_pooling_layer: bool = False):
        config.num_labels = 2
        self.uses_pooler = add_pooling_layer
        super().__init__(config)

    def build_head(self, config):
        h = config.hidden_size
        self.num_labels = config.num_labels
        self.qa_classifier = Holder(
            intermediate=Holder(dense=linear_layer(h, config.intermediate_size)),
            output=Holder(dense=linear_layer(config.intermediate_size, h),
                          LayerNorm=nn.LayerNorm(h, eps=config.layer_norm_eps)),
            qa_outputs=linear_layer(h, config.num_labels))
        self.act = activation(config.hidden_act)
        self.dropout = config.hidden_dropout_prob

    def head(self, outputs):
        q, x = self.qa_classifier, outputs.last_hidden_state
        h = self.act(q.intermediate.dense(F.dropout(x, self.dropout, self.training)))
        h = q.output.LayerNorm(F.dropout(q.output.dense(h), self.dropout, self.training) + x)
        return q.qa_outputs(h)

    def forward(self, input_ids=None, attention_mask=None, question_lengths=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, start_positions=None, end_positions=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        if question_lengths is None and input_ids is not None:
            question_lengths = input_ids.eq(self.config.sep_token_id).int().argmax(-1, keepdim=True) + 1
        question = None
        if question_lengths is not None:
            question = torch.arange(length, device=question_lengths.device)[None] < question_lengths.view(-1, 1)
            if token_type_ids is None:
                token_type_ids = (~question).long()
            question[:, 0] = False
        outputs = self.encode(locals())
        logits = self.head(outputs)
        if question is not None:
            logits = logits - question[:, :, None] * 1e6
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in logits.split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return self.finish(return_dict, loss, outputs, start_logits=start_logits, end_logits=end_logits,
                           pooler_output=outputs.get("pooler_output"))


class BigBirdForPreTraining(_Pooled, EncoderHead, BigBirdPreTrainedModel):
    """Masked-LM logits (`cls.predictions`) and next-sentence logits of the pooled first token
    (`cls.seq_relationship`); the loss sums both when both labels are given."""

    output_class = BigBirdForPreTrainingOutput
    _tied_weights_keys = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]

    def build_head(self, config):
        self.cls = Holder(predictions=BertLMHead(config), seq_relationship=linear_layer(config.hidden_size, 2))

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, next_sentence_label=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.encode(locals())
        prediction = self.cls.predictions(outputs.last_hidden_state)
        relationship = self.cls.seq_relationship(outputs.pooler_output)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(prediction.view(-1, prediction.shape[-1]), labels.view(-1))
            if next_sentence_label is not None:
                loss = loss + F.cross_entropy(relationship.view(-1, 2), next_sentence_label.view(-1))
        return self.finish(return_dict, loss, outputs, prediction_logits=prediction,
                           seq_relationship_logits=relationship)
