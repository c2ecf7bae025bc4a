"""OPT: a decoder with learned positions (offset by 2, counted over the attention mask so that left padding does
not shift them), BART-style attention and a ReLU MLP. Most sizes put the LayerNorms before each block; OPT-350m puts
them after (`do_layer_norm_before=False`) and embeds words in a smaller `word_embed_proj_dim`, projected in and out
of the hidden size. The LM head is tied to the token embeddings."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .. import causal
from ..causal import CausalLM, DecoderSpanHead, LastTokenClassification
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..layers import Attention, CausalMasks, activation, linear_layer, per_layer_head_mask
from ..modeling import PreTrainedModel
from ..outputs import BaseModelOutputWithPast


class OPTConfig(PretrainedConfig):
    model_type = "opt"
    keys_to_ignore_at_inference = ["past_key_values"]
    defaults = dict(vocab_size=50272, hidden_size=768, num_hidden_layers=12, ffn_dim=3072,
                    max_position_embeddings=2048, do_layer_norm_before=True, _remove_final_layer_norm=False,
                    word_embed_proj_dim=None, dropout=0.1, attention_dropout=0.0, num_attention_heads=12,
                    activation_function="relu", layerdrop=0.0, init_std=0.02, use_cache=True, pad_token_id=1,
                    bos_token_id=2, eos_token_id=2, enable_bias=True, layer_norm_elementwise_affine=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.word_embed_proj_dim is None:
            self.word_embed_proj_dim = self.hidden_size


class OPTLearnedPositionalEmbedding(nn.Embedding):
    """The position table, two rows longer than max_position_embeddings: position p is row p + 2."""

    offset = 2

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__(num_embeddings + self.offset, embedding_dim)

    def forward(self, position_ids):
        return super().forward(position_ids + self.offset)


class OPTDecoderLayer(nn.Module):
    """Self-attention then a two-layer MLP, each with a residual and a LayerNorm (before the block, or after the
    sum). `settings` reads the sizes and options from a config (BioGPT's layer is this one under other names)."""

    def __init__(self, config, layer_idx: int):
        super().__init__()
        hidden, o = config.hidden_size, self.settings(config)
        self.layer_idx = layer_idx
        self.self_attn = Attention(hidden, config.num_attention_heads, bias=o["bias"], layer_idx=layer_idx,
                                   dropout=o["attention_dropout"])
        self.self_attn_layer_norm = nn.LayerNorm(hidden, elementwise_affine=o["affine"])
        self.fc1 = linear_layer(hidden, o["ffn_dim"], bias=o["bias"])
        self.fc2 = linear_layer(o["ffn_dim"], hidden, bias=o["bias"])
        self.final_layer_norm = nn.LayerNorm(hidden, elementwise_affine=o["affine"])
        self.activation_fn = activation(o["activation"])
        self.before = o["norm_before"]
        self.dropout, self.activation_dropout = o["dropout"], o["activation_dropout"]

    @staticmethod
    def settings(config) -> dict:
        return dict(ffn_dim=config.ffn_dim, activation=config.activation_function, bias=config.enable_bias,
                    affine=config.layer_norm_elementwise_affine, norm_before=config.do_layer_norm_before,
                    dropout=config.dropout, attention_dropout=config.attention_dropout, activation_dropout=0.0)

    def forward(self, x, step):
        mask, is_causal = step.masks()
        head_mask = step.extra[self.layer_idx] if step.extra is not None else None
        h = self.self_attn_layer_norm(x) if self.before else x
        h, weights = self.self_attn(h, mask, cache=step.cache, cache_position=step.cache_position,
                                    is_causal=is_causal, need_weights=step.output_attentions, head_mask=head_mask)
        x = x + F.dropout(h, self.dropout, self.training)
        if not self.before:
            x = self.self_attn_layer_norm(x)
        h = self.final_layer_norm(x) if self.before else x
        h = F.dropout(self.activation_fn(self.fc1(h)), self.activation_dropout, self.training)
        x = x + F.dropout(self.fc2(h), self.dropout, self.training)
        return (x if self.before else self.final_layer_norm(x)), weights


class OPTPreTrainedModel(PreTrainedModel):
    config_class = OPTConfig
    base_model_prefix = "model"
    input_embeddings_path = "decoder.embed_tokens"
    _no_split_modules = ["OPTDecoderLayer"]

    def _init_weights(self, module):
        std = self.config.init_std
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
            if module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()
        elif isinstance(module, nn.LayerNorm) and module.weight is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class LearnedPositionDecoder:
    """The base-model forward of OPT and BioGPT: token embeddings (`embed_tokens`, projected in by `project_in` if
    there is one), plus learned positions counted over the attention mask (`embed_positions`), dropout
    (`embed_dropout`), the layers, then the family's `final_norm`."""

    output_class = BaseModelOutputWithPast
    embed_dropout = 0.0
    collects_before_norm = False  # True: the last of `hidden_states` is the state before `final_norm` (BioGPT's)

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def final_norm(self, x):
        raise NotImplementedError

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, past_key_values=None, inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                position_ids=None, cache_position=None, **kwargs):
        config = self.config
        step, batch, length = causal.start(self, input_ids, inputs_embeds, past_key_values, cache_position, kwargs,
                                           use_cache=use_cache, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=return_dict,
                                           max_positions=config.max_position_embeddings, position_ids=position_ids)
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if position_ids is None:  # counted over the mask: padding gets position -1
            if attention_mask is None:
                position_ids = step.cache_position[None]
            else:
                mask = attention_mask.long()
                position_ids = ((mask.cumsum(-1) * mask) - 1)[:, -length:]
        project_in = getattr(self, "project_in", None)
        x = project_in(inputs_embeds) if project_in is not None else inputs_embeds
        x = F.dropout(x + self.embed_positions(position_ids).to(x.device), self.embed_dropout, self.training)
        step.masks = CausalMasks(attention_mask, step.cache_position, length, causal.kv_length(step, length),
                                 x.dtype, step.past_length, layout=step.layout)
        if head_mask is not None:
            step.extra = per_layer_head_mask(head_mask, config.num_hidden_layers, x.dtype)
        x, hidden_states, attentions = causal.run_layers(self, self.layers, x, step, layerdrop=config.layerdrop)
        return causal.finish(step, self.final_norm(x), hidden_states, attentions, self.output_class,
                             collected=x if self.collects_before_norm else None)


class OPTDecoder(LearnedPositionDecoder, OPTPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        hidden, words = config.hidden_size, config.word_embed_proj_dim
        self.embed_tokens = nn.Embedding(config.vocab_size, words, config.pad_token_id)
        self.embed_positions = OPTLearnedPositionalEmbedding(config.max_position_embeddings, hidden)
        self.project_out = linear_layer(hidden, words, bias=False) if words != hidden else None
        self.project_in = linear_layer(words, hidden, bias=False) if words != hidden else None
        self.final_layer_norm = None
        if config.do_layer_norm_before and not config._remove_final_layer_norm:
            self.final_layer_norm = nn.LayerNorm(hidden, elementwise_affine=config.layer_norm_elementwise_affine)
        self.layers = nn.ModuleList(OPTDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.post_init()

    def final_norm(self, x):
        if self.final_layer_norm is not None:
            x = self.final_layer_norm(x)
        return self.project_out(x) if self.project_out is not None else x


class OPTModel(OPTPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.decoder = OPTDecoder(config)
        self.post_init()

    def get_decoder(self):
        return self.decoder

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, past_key_values=None, inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                position_ids=None, cache_position=None, **kwargs):
        return self.decoder(input_ids=input_ids, attention_mask=attention_mask, head_mask=head_mask,
                            past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
                            output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                            return_dict=return_dict, position_ids=position_ids, cache_position=cache_position,
                            **kwargs)


_OPT_INPUTS = ("input_ids", "attention_mask", "head_mask", "past_key_values", "inputs_embeds", "use_cache",
               "output_attentions", "output_hidden_states", "position_ids", "cache_position")


class OPTForCausalLM(GenerationMixin, CausalLM, OPTPreTrainedModel):
    base_model_class = OPTModel
    base_inputs = _OPT_INPUTS
    head_input_size = "word_embed_proj_dim"
    _tied_weights_keys = ["lm_head.weight"]

    def get_decoder(self):
        return self.model.decoder

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                position_ids=None, cache_position=None, logits_to_keep=0, **kwargs):
        return self.lm_forward(locals())


class OPTForSequenceClassification(LastTokenClassification, OPTPreTrainedModel):
    base_model_class = OPTModel
    base_inputs = _OPT_INPUTS
    head_input_size = "word_embed_proj_dim"

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, past_key_values=None, inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                position_ids=None, **kwargs):
        return self.classify(locals())


class OPTForQuestionAnswering(DecoderSpanHead, OPTPreTrainedModel):
    base_model_class = OPTModel
    base_inputs = _OPT_INPUTS
    head_input_size = "word_embed_proj_dim"
    answers_spans = True

    def forward(self, input_ids=None, attention_mask=None, head_mask=None, past_key_values=None, inputs_embeds=None,
                start_positions=None, end_positions=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, position_ids=None, **kwargs):
        return self.answer_span(locals())
