"""EncoderDecoderModel: any encoder (AutoModel) and any decoder with cross-attention (AutoModelForCausalLM) as one
sequence-to-sequence model, e.g. BERT2BERT, RoBERTa2RoBERTa, BERT2GPT-2 or BERT-Generation pairs.

The config (`model_type` "encoder-decoder") holds the two parts' configs under `encoder` and `decoder`; the
checkpoint holds their weights under `encoder.*` and `decoder.*` (plus `enc_to_dec_proj` when their hidden sizes
differ). `from_encoder_decoder_pretrained` composes two checkpoints, adding the decoder's cross-attention layers.
"""

from __future__ import annotations

import inspect

import torch.nn.functional as F
from torch import nn

from ..auto import AutoConfig
from ..config import PretrainedConfig
from ..generation.utils import GenerationMixin
from ..hub import HUB_KWARGS
from ..layers import linear_layer
from ..logging import get_logger
from ..modeling import PreTrainedModel
from ..outputs import Seq2SeqLMOutput
from ..seq2seq import as_encoder_output, shift_tokens_right

logger = get_logger(__name__)


def _part_config(value, name: str) -> PretrainedConfig:
    """The `encoder`/`decoder` sub-configuration from a config or its dict (a copy either way)."""
    data = dict(value.to_dict() if isinstance(value, PretrainedConfig) else value)
    model_type = data.pop("model_type", None)
    if not model_type:
        raise ValueError(f"The `{name}` sub-configuration of an encoder-decoder config has no \"model_type\", so "
                         f"henkan cannot tell which architecture it is. Pass a config (e.g. BertConfig()) or a dict "
                         f"with a model_type.")
    return AutoConfig.for_model(model_type, **data)


class EncoderDecoderConfig(PretrainedConfig):
    """A composite config: `encoder` and `decoder` are the parts' own configs."""

    model_type = "encoder-decoder"
    is_composition = True
    sub_configs = {"encoder": AutoConfig, "decoder": AutoConfig}

    def __init__(self, **kwargs):
        if "encoder" not in kwargs or "decoder" not in kwargs:
            raise ValueError(f"A configuration of type {self.model_type} cannot be instantiated because both "
                             f"`encoder` and `decoder` sub-configurations were not passed, only {kwargs}. Use "
                             f"EncoderDecoderConfig.from_encoder_decoder_configs(encoder_config, decoder_config).")
        encoder, decoder = kwargs.pop("encoder"), kwargs.pop("decoder")
        super().__init__(**kwargs)
        self.encoder = _part_config(encoder, "encoder")
        self.decoder = _part_config(decoder, "decoder")
        self.is_encoder_decoder = True

    @classmethod
    def from_encoder_decoder_configs(cls, encoder_config: PretrainedConfig, decoder_config: PretrainedConfig,
                                     **kwargs) -> "EncoderDecoderConfig":
        """The composite of two configs; the decoder's is switched to a decoder with cross-attention (in place, as
        the reference does)."""
        logger.info("Set `config.is_decoder=True` and `config.add_cross_attention=True` for decoder_config")
        decoder_config.is_decoder = True
        decoder_config.add_cross_attention = True
        return cls(encoder=encoder_config.to_dict(), decoder=decoder_config.to_dict(), **kwargs)

    def get_text_config(self, decoder=None, encoder=None) -> PretrainedConfig:
        """The config of the part that reads (encoder=True: this config) or writes text (the decoder's)."""
        return self if encoder and not decoder else self.decoder


class EncoderDecoderModel(GenerationMixin, PreTrainedModel):
    """An encoder and a decoder (which attends to the encoder's output), built from a config, from the two models,
    or from two checkpoints with `from_encoder_decoder_pretrained`."""

    config_class = EncoderDecoderConfig
    base_model_prefix = "encoder_decoder"
    main_input_name = "input_ids"

    def __init__(self, config: EncoderDecoderConfig | None = None, encoder: PreTrainedModel | None = None,
                 decoder: PreTrainedModel | None = None):
        if config is None and (encoder is None or decoder is None):
            raise ValueError("Either a configuration or an encoder and a decoder has to be provided.")
        if decoder is not None:
            _check_cross_attention(decoder)
        if config is None:
            config = EncoderDecoderConfig.from_encoder_decoder_configs(encoder.config, decoder.config)
        elif not isinstance(config, EncoderDecoderConfig):
            raise ValueError(f"Config: {config} has to be of type {EncoderDecoderConfig}")
        cross_size = config.decoder.cross_attention_hidden_size
        if cross_size is not None and cross_size != config.encoder.hidden_size:
            raise ValueError(f"If `cross_attention_hidden_size` is specified in the decoder's configuration, it has "
                             f"to be equal to the encoder's `hidden_size`. Got {cross_size} for "
                             f"`config.decoder.cross_attention_hidden_size` and {config.encoder.hidden_size} for "
                             f"`config.encoder.hidden_size`.")
        super().__init__(config)
        from ..auto import AutoModel, AutoModelForCausalLM

        if encoder is None:
            encoder = AutoModel.from_config(config.encoder)
        if decoder is None:
            decoder = AutoModelForCausalLM.from_config(config.decoder)
            _check_cross_attention(decoder)
        self.encoder, self.decoder = encoder, decoder
        for name, part in (("encoder", encoder), ("decoder", decoder)):
            shared = getattr(config, name)
            if part.config.to_dict() != shared.to_dict():
                logger.warning(f"Config of the {name}: {type(part)} is overwritten by shared {name} config: {shared}")
            shared._attn_implementation = part.config._attn_implementation
            part.config = shared  # one config object: changes to config.encoder/decoder reach the parts
        if encoder.config.hidden_size != decoder.config.hidden_size and cross_size is None:
            self.enc_to_dec_proj = linear_layer(encoder.config.hidden_size, decoder.config.hidden_size)
        if encoder.get_output_embeddings() is not None:
            raise ValueError(f"The encoder {type(encoder).__name__} should not have a LM Head. Please use a model "
                             f"without LM Head (e.g. AutoModel rather than AutoModelForMaskedLM).")
        if "encoder_hidden_states" not in inspect.signature(decoder.forward).parameters:
            raise ValueError(f"The decoder {type(decoder).__name__} cannot attend to an encoder: its forward takes "
                             f"no encoder_hidden_states. Use a decoder with cross-attention (BERT, RoBERTa, "
                             f"BERT-Generation or GPT-2 as AutoModelForCausalLM with add_cross_attention=True).")
        self.tie_weights()

    @property
    def _rows_share_encoder_states(self) -> bool:
        """Whether the decoder's cross-attention reads each input's encoder states once for all of its beams
        (henkan's decoders do: their cross-attention is layers.causal_attention)."""
        return getattr(self.decoder, "_rows_share_encoder_states", False)

    # parts and weights -----------------------------------------------------------------------------------------
    def get_encoder(self):
        return self.encoder

    def get_decoder(self):
        return self.decoder

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def get_output_embeddings(self):
        return self.decoder.get_output_embeddings()

    def set_output_embeddings(self, new_embeddings):
        return self.decoder.set_output_embeddings(new_embeddings)

    def resize_token_embeddings(self, *args, **kwargs):
        raise NotImplementedError("Resizing the embedding layers via the EncoderDecoderModel directly is not "
                                  "supported. Please use the respective methods of the wrapped objects "
                                  "(model.encoder.resize_token_embeddings(...) or "
                                  "model.decoder.resize_token_embeddings(...))")

    def tie_weights(self) -> None:
        """Each part ties its own weights; with `tie_encoder_decoder` the encoder also shares the decoder's base
        model weights wherever their module paths agree (the decoder's cross-attention stays its own)."""
        self.encoder.tie_weights()
        self.decoder.tie_weights()
        tied = []
        if self.config.tie_encoder_decoder:
            _share(self.decoder.base_model, self.encoder, "encoder", tied)
        # the decoder's tied output weights; encoder weights taken from the decoder are not saved (the reference
        # keeps the decoder's copy)
        self._tied_weights_keys = ["decoder." + key for key in self.decoder._tied_weights_keys] + tied
        self._keys_to_ignore_on_save = [f"^{key}$".replace(".", r"\.") for key in tied]

    def _init_weights(self, module: nn.Module) -> None:
        for part in (self.encoder, self.decoder):
            if any(module is m for m in part.modules()):
                return part._init_weights(module)
        return super()._init_weights(module)

    # composing two checkpoints ----------------------------------------------------------------------------------
    @classmethod
    def from_encoder_decoder_pretrained(cls, encoder_pretrained_model_name_or_path=None,
                                        decoder_pretrained_model_name_or_path=None, *model_args, **kwargs):
        """An encoder-decoder from an encoder checkpoint (loaded with AutoModel) and a decoder checkpoint (loaded
        with AutoModelForCausalLM as a decoder with cross-attention: those layers are newly initialised).

        `encoder_`/`decoder_`-prefixed keyword arguments go to the part's loading (config overrides, loading
        options; `encoder_model=`/`decoder_model=` give a ready model, `decoder_config=` a config); the others to
        the composite config."""
        from ..auto import AutoModel, AutoModelForCausalLM

        parts = {}
        for prefix in ("encoder_", "decoder_"):
            parts[prefix] = {k[len(prefix):]: v for k, v in kwargs.items() if k.startswith(prefix)}
            kwargs = {k: v for k, v in kwargs.items() if not k.startswith(prefix)}
        encoder = parts["encoder_"].pop("model", None)
        if encoder is None:
            encoder_kwargs = parts["encoder_"]
            if encoder_pretrained_model_name_or_path is None:
                raise ValueError("If `encoder_model` is not defined as an argument, a "
                                 "`encoder_pretrained_model_name_or_path` has to be defined.")
            if "config" not in encoder_kwargs:
                config, encoder_kwargs = _part_pretrained_config(encoder_pretrained_model_name_or_path,
                                                                 encoder_kwargs)
                if config.is_decoder or config.add_cross_attention:
                    logger.info(f"Initializing {encoder_pretrained_model_name_or_path} as a encoder model from a "
                                f"decoder model. Cross-attention and causal mask are disabled.")
                    config.is_decoder = False
                    config.add_cross_attention = False
                encoder_kwargs["config"] = config
            encoder = AutoModel.from_pretrained(encoder_pretrained_model_name_or_path, *model_args, **encoder_kwargs)
        decoder = parts["decoder_"].pop("model", None)
        if decoder is None:
            decoder_kwargs, name = parts["decoder_"], decoder_pretrained_model_name_or_path
            if name is None:
                raise ValueError("If `decoder_model` is not defined as an argument, a "
                                 "`decoder_pretrained_model_name_or_path` has to be defined.")
            if "config" not in decoder_kwargs:
                config, decoder_kwargs = _part_pretrained_config(name, decoder_kwargs)
                if not config.is_decoder or not config.add_cross_attention:
                    logger.info(f"Initializing {name} as a decoder model. Cross attention layers are added to {name} "
                                f"and randomly initialized if {name}'s architecture allows for cross attention "
                                f"layers.")
                    config.is_decoder = True
                    config.add_cross_attention = True
                decoder_kwargs["config"] = config
            if not decoder_kwargs["config"].is_decoder or not decoder_kwargs["config"].add_cross_attention:
                logger.warning(f"Decoder model {name} is not initialized as a decoder. In order to initialize {name} "
                               f"as a decoder, make sure that the attributes `is_decoder` and `add_cross_attention` "
                               f"of `decoder_config` passed to `.from_encoder_decoder_pretrained(...)` are set to "
                               f"`True` or do not pass a `decoder_config` to `.from_encoder_decoder_pretrained(...)`")
            decoder = AutoModelForCausalLM.from_pretrained(name, **decoder_kwargs)
        config = EncoderDecoderConfig.from_encoder_decoder_configs(encoder.config, decoder.config, **kwargs)
        return cls(encoder=encoder, decoder=decoder, config=config)

    # forward ----------------------------------------------------------------------------------------------------
    def prepare_decoder_input_ids_from_labels(self, labels):
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, inputs_embeds=None, decoder_inputs_embeds=None,
                labels=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                **kwargs):
        """Encode (unless `encoder_outputs` are given), then decode with cross-attention to the encoder's last
        hidden state. Other keyword arguments go to the encoder, or with a `decoder_` prefix to the decoder. With
        `labels` (and no decoder inputs) the decoder reads the labels shifted right (`decoder_start_token_id`
        first, padding masked); the loss is the cross-entropy of the logits against the labels (-100 ignored)."""
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        encoder_kwargs = {k: v for k, v in kwargs.items() if not k.startswith("decoder_")}
        decoder_kwargs = {k[len("decoder_"):]: v for k, v in kwargs.items() if k.startswith("decoder_")}
        if "num_items_in_batch" in encoder_kwargs:
            decoder_kwargs["num_items_in_batch"] = encoder_kwargs.pop("num_items_in_batch")
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                           inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                                           output_hidden_states=output_hidden_states, return_dict=True,
                                           **encoder_kwargs)
        else:
            encoder_outputs = as_encoder_output(encoder_outputs)
        encoder_states = encoder_outputs[0]
        projection = getattr(self, "enc_to_dec_proj", None)
        if projection is not None:
            encoder_states = projection(encoder_states)
        if labels is not None and decoder_input_ids is None and decoder_inputs_embeds is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
            if decoder_attention_mask is None:
                decoder_attention_mask = (decoder_input_ids != self.config.pad_token_id).to(decoder_input_ids.dtype)
        decoder_outputs = self.decoder(input_ids=decoder_input_ids, attention_mask=decoder_attention_mask,
                                       encoder_hidden_states=encoder_states, encoder_attention_mask=attention_mask,
                                       inputs_embeds=decoder_inputs_embeds, output_attentions=output_attentions,
                                       output_hidden_states=output_hidden_states, use_cache=use_cache,
                                       past_key_values=past_key_values, return_dict=True, **decoder_kwargs)
        logits = decoder_outputs.logits
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, self.decoder.config.vocab_size),
                                   labels.to(logits.device).reshape(-1))
        if not return_dict:
            return ((loss,) if loss is not None else ()) + decoder_outputs.to_tuple() + encoder_outputs.to_tuple()
        return Seq2SeqLMOutput(
            loss=loss, logits=logits, past_key_values=decoder_outputs.past_key_values,
            decoder_hidden_states=decoder_outputs.hidden_states, decoder_attentions=decoder_outputs.attentions,
            cross_attentions=getattr(decoder_outputs, "cross_attentions", None),
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
            encoder_hidden_states=encoder_outputs.hidden_states, encoder_attentions=encoder_outputs.attentions)


def _check_cross_attention(decoder: nn.Module) -> None:
    if not getattr(decoder.base_model, "has_cross_attention", True):
        raise ValueError(f"The decoder {type(decoder).__name__} has no cross-attention layers, so it cannot attend "
                         f"to the encoder. Build it from a config with is_decoder=True and add_cross_attention=True, "
                         f"or load both parts with EncoderDecoderModel.from_encoder_decoder_pretrained(...), which "
                         f"sets them.")


def _part_pretrained_config(name, kwargs: dict):
    """A part's config with its overrides applied, and the keyword arguments left for loading its weights (the
    download options go to both)."""
    from ..auto import _LOAD_OPTIONS

    options = {k: v for k, v in kwargs.items() if k in _LOAD_OPTIONS}
    overrides = {k: v for k, v in kwargs.items() if k not in _LOAD_OPTIONS}
    hub = {k: v for k, v in options.items() if k in HUB_KWARGS}
    config, rest = AutoConfig.from_pretrained(name, **hub, **overrides, return_unused_kwargs=True)
    return config, {**rest, **options}


def _share(decoder: nn.Module, encoder: nn.Module, path: str, tied: list) -> None:
    """Make `encoder` use `decoder`'s weight and bias wherever their submodules have the same path; record the
    encoder's keys that became shared in `tied`."""
    if "weight" in decoder._parameters and "weight" in encoder._parameters:
        for name in ("weight", "bias"):
            if decoder._parameters.get(name) is not None and name in encoder._parameters:
                setattr(encoder, name, decoder._parameters[name])
                tied.append(f"{path}.{name}")
        return
    for name, child in decoder.named_children():
        other = getattr(encoder, name, None)
        if isinstance(other, nn.Module) and name in encoder._modules:
            _share(child, other, f"{path}.{name}", tied)
