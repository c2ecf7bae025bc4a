"""BERT: a post-LayerNorm transformer encoder with token-type embeddings and a tanh pooler.

With `is_decoder=True` the same layers run as a decoder (causal self-attention over a KV cache, through
`causal.start`/`causal.run_layers`), and with `add_cross_attention=True` each layer also attends to an encoder's
output (`crossattention`): the decoder of BERT2BERT-style `EncoderDecoderModel`s, and `BertLMHeadModel`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import CausalLM
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..heads import (EncoderHead, ForMaskedLM, ForMultipleChoice, ForQuestionAnswering, ForSequenceClassification,
                     ForTokenClassification)
from ..layers import (CausalMasks, Holder, LMPredictionHead, Packing, activation, attend, causal_attention,
                      check_inputs, class_targets, encoder_mask, keys_values, linear_act, linear_layer,
                      per_layer_head_mask, run_layers)
from ..logging import get_logger
from ..modeling import PreTrainedModel
from ..outputs import (BaseModelOutputWithPoolingAndCrossAttentions, CausalLMOutputWithCrossAttentions,
                       NextSentencePredictorOutput, declare_output)

logger = get_logger(__name__)


class BertConfig(PretrainedConfig):
    model_type = "bert"
    defaults = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                    intermediate_size=3072, hidden_act="gelu", hidden_dropout_prob=0.1,
                    attention_probs_dropout_prob=0.1, max_position_embeddings=512, type_vocab_size=2,
                    initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0,
                    position_embedding_type="absolute", use_cache=True, classifier_dropout=None)
    multiples = (("hidden_size", "num_attention_heads"),)


class BertPreTrainedModel(PreTrainedModel):
    config_class = BertConfig
    base_model_prefix = "bert"
    _rows_share_encoder_states = True  # (as a decoder: see EncoderDecoderModel)
    input_embeddings_path = "embeddings.word_embeddings"

    def classifier_dropout(self, config) -> float:
        return config.hidden_dropout_prob if config.classifier_dropout is None else config.classifier_dropout


class BertEmbeddings(nn.Module):
    token_types = True  # BERT-Generation's embeddings have no token-type table

    def __init__(self, config, width: int | None = None):  # width: ALBERT embeds narrower than hidden_size
        super().__init__()
        kind = getattr(config, "position_embedding_type", "absolute")  # (BigBird's config has no such key)
        if kind != "absolute":
            raise NotImplementedError(f"position_embedding_type={kind!r} is not "
                                      f"supported; henkan's {config.model_type} uses absolute positions.")
        width = config.hidden_size if width is None else width
        self.word_embeddings = nn.Embedding(config.vocab_size, width, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, width)
        if self.token_types:
            self.token_type_embeddings = nn.Embedding(config.type_vocab_size, width)
        self.LayerNorm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        self.dropout = config.hidden_dropout_prob
        self.position_offset = 0  # positions the table reserves before the first token

    def positions(self, input_ids, inputs_embeds, length: int, past=None) -> torch.Tensor:
        """Position ids of the tokens; `past` (a decoder's cached length) shifts them."""
        device = (input_ids if input_ids is not None else inputs_embeds).device
        positions = torch.arange(length, device=device)[None]
        return positions if past is None else positions + past

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None, past=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:
            position_ids = self.positions(input_ids, inputs_embeds, inputs_embeds.shape[1], past)
        x = inputs_embeds + self.position_embeddings(position_ids)
        if self.token_types:
            types = self.token_type_embeddings
            x = x + (types.weight[0] if token_type_ids is None else types(token_type_ids))
        return F.dropout(self.LayerNorm(x), self.dropout, self.training)


def _attention_block(h: int, eps: float) -> Holder:
    """`self.query/key/value`, then `output.dense` and the residual's `output.LayerNorm`."""
    return Holder(self=Holder(query=linear_layer(h, h), key=linear_layer(h, h), value=linear_layer(h, h)),
                  output=Holder(dense=linear_layer(h, h), LayerNorm=nn.LayerNorm(h, eps=eps)))


class BertLayer(nn.Module):
    """One post-LayerNorm transformer layer. In an encoder, `forward(x, mask, head_mask, output_attentions)` with
    the padding mask (additive, None, or a Packing); in a decoder, `forward(x, step)` with the causal.Step, and
    then also cross-attention (`crossattention`, built when `add_cross_attention`) when the step carries an
    encoder's output."""

    def __init__(self, config, layer_idx: int | None = None):
        super().__init__()
        h, eps = config.hidden_size, config.layer_norm_eps
        self.layer_idx = layer_idx
        self.attention = _attention_block(h, eps)
        if config.add_cross_attention:
            if not config.is_decoder:
                raise ValueError(f"{config.model_type} config has add_cross_attention=True but is_decoder=False: "
                                 f"cross-attention layers only run in a decoder. Set is_decoder=True as well.")
            self.crossattention = _attention_block(h, eps)
        self.intermediate = Holder(dense=linear_layer(h, config.intermediate_size))
        self.output = Holder(dense=linear_layer(config.intermediate_size, h), LayerNorm=nn.LayerNorm(h, eps=eps))
        self.act = activation(config.hidden_act)
        self.heads = config.num_attention_heads
        self.head_dim = h // self.heads
        self.dropout, self.attention_dropout = config.hidden_dropout_prob, config.attention_probs_dropout_prob

    def forward(self, x, mask, head_mask=None, output_attentions=False):
        if isinstance(mask, causal.Step):
            return self._decode(x, mask)
        attn = self.attention.self
        context, weights = attend(attn.query(x), attn.key(x), attn.value(x), mask, self.heads,
                                  self.attention_dropout if self.training else 0.0, output_attentions, head_mask)
        x = self._residual(self.attention.output, context, x)
        return self._feed_forward(x), weights

    def first_token(self, x, mask, head_mask=None, output_attentions=False):
        """The encoder layer's output at the first position alone ([batch, 1, hidden]), all that a pooler reads:
        keys and values of every token, the query, attention and feed-forward of the first."""
        if isinstance(mask, Packing):
            x, mask = mask.pad(x, "x"), mask.additive
        attn = self.attention.self
        first = x[:, :1].contiguous()
        context, weights = attend(attn.query(first), attn.key(x), attn.value(x), mask, self.heads,
                                  self.attention_dropout if self.training else 0.0, output_attentions, head_mask)
        return self._feed_forward(self._residual(self.attention.output, context, first)), weights

    def _residual(self, block, h, x):
        """`block.LayerNorm(x + block.dense(h))` (dropout on the branch while training)."""
        return block.LayerNorm(F.dropout(block.dense(h), self.dropout, self.training) + x)

    def _feed_forward(self, x):
        return self._residual(self.output, linear_act(self.intermediate.dense, x, self.act), x)

    def _decode(self, x, step):
        head_mask = step.extra[self.layer_idx] if step.extra is not None else None
        mask, is_causal = step.masks()
        x, weights = self._attend(self.attention, x, mask, step, head_mask, is_causal=is_causal)
        if step.cross is not None:  # (the reference masks the cross-attention heads with the same head mask)
            x, cross_weights = self._attend(self.crossattention, x, step.cross.mask, step, head_mask,
                                            cross=step.cross)
            weights = (weights, cross_weights)
        return self._feed_forward(x), weights

    def _heads(self, t):
        return t.view(t.shape[0], t.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def _attend(self, block, x, mask, step, head_mask, is_causal: bool = False, cross=None):
        attn = block.self
        k, v = keys_values(lambda states: (self._heads(attn.key(states)), self._heads(attn.value(states))), x,
                           self.layer_idx, step.cache, step.cache_position, cross)
        context, weights = causal_attention(
            self._heads(attn.query(x)), k, v, mask, scaling=self.head_dim ** -0.5, is_causal=is_causal,
            dropout=self.attention_dropout if self.training else 0.0, need_weights=step.output_attentions,
            head_mask=head_mask, softmax_dtype=None)
        return self._residual(block.output, context, x), weights


class BertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = linear_layer(config.hidden_size, config.hidden_size)

    def forward(self, hidden):
        return torch.tanh(self.dense(hidden[:, 0]))


class BertModel(BertPreTrainedModel):
    """The encoder stack; with `is_decoder` in its config, a decoder (see the module docstring)."""

    embeddings_class = BertEmbeddings
    layer_class = BertLayer
    pooler_class = BertPooler
    output_class = BaseModelOutputWithPoolingAndCrossAttentions
    # Set (for one call) by a head that reads the first position alone (EncoderHead.reads_first_token): the last
    # layer then computes only that position, and last_hidden_state is [batch, 1, hidden].
    first_token_only = False

    def __init__(self, config, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = self.embeddings_class(config)
        self.encoder = Holder(layer=nn.ModuleList(self.layer_class(config, i)
                                                  for i in range(config.num_hidden_layers)))
        self.pooler = self.pooler_class(config) if add_pooling_layer else None
        self.has_cross_attention = bool(config.add_cross_attention)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, past_key_values=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                cache_position=None):
        return self.run(locals())

    def run(self, a: dict):
        """The forward pass on a forward's arguments (`a`): encoder or decoder as the config says. (Encoders ignore
        the decoder-only arguments, as the reference does.)"""
        config = self.config
        if config.is_decoder:
            return self._decode(a)
        input_ids, inputs_embeds = a["input_ids"], a["inputs_embeds"]
        check_inputs(config, input_ids, inputs_embeds,
                     max_length=config.max_position_embeddings - self.embeddings.position_offset,
                     attention_mask=a["attention_mask"], token_type_ids=a.get("token_type_ids"),
                     position_ids=a["position_ids"])
        output_attentions, output_hidden_states, _, return_dict = causal.flags(
            config, a["output_attentions"], a["output_hidden_states"], False, a["return_dict"])
        x = self.embeddings(input_ids=input_ids, token_type_ids=a.get("token_type_ids"),
                            position_ids=a["position_ids"], inputs_embeds=inputs_embeds)
        first_only = (self.first_token_only and not output_hidden_states and not output_attentions
                      and type(self.encoder.layer[-1]).forward is BertLayer.forward
                      and (self.pooler is None or type(self.pooler).forward is BertPooler.forward))
        x, hidden_states, attentions = run_layers(
            self, self.encoder.layer, x, mask=encoder_mask(config, a["attention_mask"], x.dtype),
            head_mask=a["head_mask"], output_attentions=output_attentions, output_hidden_states=output_hidden_states,
            first_token_only=first_only)
        pooled = {} if self.pooler is None else {"pooler_output": self.pooler(x)}
        out = self.output_class(last_hidden_state=x, hidden_states=hidden_states, attentions=attentions, **pooled)
        return out if return_dict else out.to_tuple()

    def _decode(self, a: dict):
        config = self.config
        encoder_states = a["encoder_hidden_states"]
        if encoder_states is not None and not self.has_cross_attention:
            raise ValueError(f"encoder_hidden_states were given, but this {type(self).__name__} was built without "
                             f"cross-attention layers. Build the decoder with add_cross_attention=True (and "
                             f"is_decoder=True), as EncoderDecoderModel.from_encoder_decoder_pretrained does.")
        step, _, length = causal.start(
            self, a["input_ids"], a["inputs_embeds"], a["past_key_values"], a["cache_position"], {},
            use_cache=a["use_cache"], output_attentions=a["output_attentions"],
            output_hidden_states=a["output_hidden_states"], return_dict=a["return_dict"],
            max_positions=config.max_position_embeddings - self.embeddings.position_offset,
            position_ids=a["position_ids"], encoder_hidden_states=encoder_states,
            encoder_attention_mask=a["encoder_attention_mask"], attention_mask=a["attention_mask"],
            token_type_ids=a.get("token_type_ids"))
        past = step.past_length if step.past_length is not None else step.cache_position[0]
        x = self.embeddings(input_ids=a["input_ids"], token_type_ids=a.get("token_type_ids"),
                            position_ids=a["position_ids"], inputs_embeds=a["inputs_embeds"], past=past)
        step.masks = CausalMasks(a["attention_mask"], step.cache_position, length, causal.kv_length(step, length),
                                 x.dtype, step.past_length)
        if a["head_mask"] is not None:
            step.extra = per_layer_head_mask(a["head_mask"], config.num_hidden_layers, x.dtype)
        x, hidden_states, attentions = causal.run_layers(self, self.encoder.layer, x, step)
        pooled = {} if self.pooler is None else {"pooler_output": self.pooler(x)}
        return causal.finish(step, x, hidden_states, attentions, self.output_class, **pooled)


class BertLMHead(LMPredictionHead):
    """`cls.predictions`: transform, then a decoder tied to the word embeddings, with its own bias."""

    def __init__(self, config):
        super().__init__(config.hidden_size, config.vocab_size)
        h = config.hidden_size
        self.transform = Holder(dense=linear_layer(h, h), LayerNorm=nn.LayerNorm(h, eps=config.layer_norm_eps))
        self.act = activation(config.hidden_act)

    def forward(self, hidden):
        t = self.transform
        return self.decoder(t.LayerNorm(self.act(t.dense(hidden))))


class BertForSequenceClassification(ForSequenceClassification, BertPreTrainedModel):
    base_model_class = BertModel


class BertForTokenClassification(ForTokenClassification, BertPreTrainedModel):
    base_model_class = BertModel


class BertForQuestionAnswering(ForQuestionAnswering, BertPreTrainedModel):
    base_model_class = BertModel


class BertForMultipleChoice(ForMultipleChoice, BertPreTrainedModel):
    base_model_class = BertModel


class BertForMaskedLM(ForMaskedLM, BertPreTrainedModel):
    base_model_class = BertModel
    _tied_weights_keys = ["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"]

    def build_head(self, config):
        self.cls = Holder(predictions=BertLMHead(config))

    def head(self, outputs):
        return self.cls.predictions(outputs.last_hidden_state)

    def get_output_embeddings(self):
        return self.cls.predictions.decoder


BertForPreTrainingOutput = declare_output("BertForPreTrainingOutput", "loss", "prediction_logits",
                                          "seq_relationship_logits", "hidden_states", "attentions", module=__name__)


def _next_sentence_loss(logits, labels):
    return F.cross_entropy(logits.view(-1, 2), class_targets(labels, 2, "next-sentence classes").view(-1))


class BertForPreTraining(BertForMaskedLM):
    """BERT's pretraining heads: masked LM (`cls.predictions`) and next-sentence prediction on the pooled output
    (`cls.seq_relationship`); the loss is the sum of both when both labels are given."""

    uses_pooler = True
    output_class = BertForPreTrainingOutput

    def build_head(self, config):
        self.cls = Holder(predictions=BertLMHead(config), seq_relationship=linear_layer(config.hidden_size, 2))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, next_sentence_label=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.encode(locals())
        prediction = self.cls.predictions(outputs.last_hidden_state)
        relationship = self.cls.seq_relationship(outputs.pooler_output)
        loss = None
        if labels is not None and next_sentence_label is not None:
            vocab = prediction.shape[-1]
            loss = (F.cross_entropy(prediction.view(-1, vocab), class_targets(labels, vocab, "vocab_size").view(-1))
                    + _next_sentence_loss(relationship, next_sentence_label))
        return self.finish(return_dict, loss, outputs, prediction_logits=prediction,
                           seq_relationship_logits=relationship)


class BertForNextSentencePrediction(EncoderHead, BertPreTrainedModel):
    """Whether the second segment follows the first: `cls.seq_relationship` on the pooled output (label 0: it
    does)."""

    base_model_class = BertModel
    uses_pooler = True
    reads_first_token = True
    output_class = NextSentencePredictorOutput

    def build_head(self, config):
        self.cls = Holder(seq_relationship=linear_layer(config.hidden_size, 2))

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.encode(locals())
        logits = self.cls.seq_relationship(outputs.pooler_output)
        loss = _next_sentence_loss(logits, labels) if labels is not None else None
        return self.finish(return_dict, loss, outputs, logits=logits)


class BertLMHeadModel(GenerationMixin, CausalLM, BertPreTrainedModel):
    """BERT as a left-to-right language model (`is_decoder=True`), the decoder of BERT2BERT encoder-decoders: the
    masked-LM head `cls.predictions` on a causal BERT, the shifted LM loss."""

    base_model_class = BertModel
    base_model_kwargs = {"add_pooling_layer": False}
    output_class = CausalLMOutputWithCrossAttentions
    base_inputs = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "head_mask", "inputs_embeds",
                   "encoder_hidden_states", "encoder_attention_mask", "past_key_values", "use_cache",
                   "output_attentions", "output_hidden_states", "cache_position")
    _tied_weights_keys = ["cls.predictions.decoder.bias", "cls.predictions.decoder.weight"]

    def __init__(self, config):
        if not config.is_decoder:
            logger.warning(f"If you want to use `{type(self).__name__}` as a standalone, add `is_decoder=True.`")
        super().__init__(config)

    def build_head(self, config) -> None:
        self.cls = Holder(predictions=BertLMHead(config))

    def lm_head_module(self) -> nn.Module:
        """The LM head (RoBERTa and BERT-Generation keep theirs as `lm_head`): a projection `decoder` to the
        vocabulary, tied to the word embeddings, whose bias is the head's `bias`."""
        return self.cls.predictions

    def head(self, hidden):
        return self.lm_head_module()(hidden)

    def get_output_embeddings(self):
        return self.lm_head_module().decoder

    def set_output_embeddings(self, new_embeddings):
        head = self.lm_head_module()
        head.decoder = new_embeddings
        head.bias = new_embeddings.bias

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, encoder_hidden_states=None, encoder_attention_mask=None, labels=None,
                past_key_values=None, use_cache=None, output_attentions=None, output_hidden_states=None,
                return_dict=None, cache_position=None, logits_to_keep=0, **kwargs):
        if labels is not None:
            use_cache = False
        return self.lm_forward(locals())
