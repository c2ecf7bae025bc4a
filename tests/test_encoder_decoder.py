"""EncoderDecoderModel (BERT2BERT, RoBERTa2RoBERTa, BERT2GPT-2, BERT-Generation) and the decoders with
cross-attention it is built from, against reference goldens.

The fixtures come from tests/fixtures/make_seq2seq.py (see its docstring): the composed folders under
tests/fixtures/seq2seq/, the part checkpoints and what the reference's from_encoder_decoder_pretrained builds from
them under seq2seq/parts/."""

import json
import logging
import os

import pytest
import torch
from safetensors import safe_open

import henkan
import test_seq2seq as seq2seq  # the BART family's parity checks, run on the composed folders too
from test_seq2seq import SEQ2SEQ, close, encoder_inputs, golden

PARTS = os.path.join(SEQ2SEQ, "parts")
COMPOSED = ["bert2bert", "roberta2roberta", "bert2gpt2", "bert-generation"]
DECODERS = ["bert-lmhead", "roberta-forcausallm", "bert-lmhead-cross", "roberta-forcausallm-cross", "gpt2-cross"]
CACHE_SPLIT = 4
_BERT = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
             max_position_embeddings=64)


# the composed folders -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", COMPOSED)
def test_forward_and_loss_match_reference(folder):
    """Logits, encoder/decoder hidden states and attentions, cross-attentions; the loss of labels shifted with the
    composed config's decoder_start_token_id and pad_token_id (padding masked in the decoder)."""
    seq2seq.test_forward_and_loss(folder)
    _, data = golden(folder)
    assert torch.equal(seq2seq.model_for(folder).prepare_decoder_input_ids_from_labels(labels=data["input.labels"]),
                       data["input.decoder_input_ids"])


@pytest.mark.parametrize("folder", COMPOSED)
def test_decoding_in_two_pieces_through_the_cache(folder):
    seq2seq.test_cached_decoding_in_two_pieces(folder)


@pytest.mark.parametrize("folder,case", [(folder, case) for folder in COMPOSED
                                         for case in sorted(json.loads(golden(folder)[0]["cases"]))])
def test_generate_matches_reference(folder, case):
    seq2seq.test_generate(folder, case)


@pytest.mark.parametrize("folder", COMPOSED)
def test_save_writes_the_reference_files_and_reloads(folder, tmp_path):
    seq2seq.test_save_writes_the_reference_keys_and_reloads(folder, tmp_path)
    for name in ("config.json", "generation_config.json"):
        with open(os.path.join(SEQ2SEQ, folder, name), encoding="utf-8") as f:
            expected = json.load(f)
        with open(os.path.join(tmp_path, name), encoding="utf-8") as f:
            assert json.load(f) == expected, name


def test_auto_class_and_config_reprs():
    model = henkan.AutoModelForSeq2SeqLM.from_pretrained(os.path.join(SEQ2SEQ, "bert2gpt2"))
    assert (type(model).__name__, type(model.encoder).__name__, type(model.decoder).__name__) == \
        ("EncoderDecoderModel", "BertModel", "GPT2LMHeadModel")
    with open(os.path.join(SEQ2SEQ, "reprs.json"), encoding="utf-8") as f:
        reprs = json.load(f)
    for key in COMPOSED + DECODERS:
        config = henkan.AutoConfig.from_pretrained(os.path.join(SEQ2SEQ, key))
        assert (type(config) is henkan.EncoderDecoderConfig) == (key in COMPOSED)
        got = "\n".join(line for line in repr(config).splitlines() if '"transformers_version"' not in line)
        assert got == reprs[key], key


# the decoders on their own ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", DECODERS)
def test_decoder_on_its_own_matches_reference(folder):
    meta, data = golden(folder)
    model = henkan.AutoModelForCausalLM.from_pretrained(os.path.join(SEQ2SEQ, folder))
    assert type(model).__name__ == meta["class"]
    cross = {k[len("input."):]: v for k, v in data.items()
             if k in ("input.encoder_hidden_states", "input.encoder_attention_mask")}
    inputs = encoder_inputs(data)
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True, output_attentions=True, use_cache=False, **cross)
        seq2seq.check_outputs(out, data, "output", folder)
        assert len(out.hidden_states) == 3 and len(out.attentions) == 2
        assert (out.cross_attentions is not None) == bool(cross)
        loss = model(**inputs, labels=data["input.labels"], **cross).loss
        close(loss, data["output.loss"], f"{folder} loss")
        first = model(input_ids=inputs["input_ids"][:, :CACHE_SPLIT],
                      attention_mask=inputs["attention_mask"][:, :CACHE_SPLIT], use_cache=True, **cross)
        second = model(input_ids=inputs["input_ids"][:, CACHE_SPLIT:], attention_mask=inputs["attention_mask"],
                       past_key_values=first.past_key_values, use_cache=True, **cross)
    close(torch.cat([first.logits, second.logits], dim=1), data["output.cached.logits"], f"{folder} cached")
    if "generate.greedy.sequences" in data:
        left = {"input_ids": data["input.left.input_ids"], "attention_mask": data["input.left.attention_mask"]}
        assert torch.equal(model.generate(**left, max_new_tokens=8, do_sample=False),
                           data["generate.greedy.sequences"])
        beam = model.generate(**left, num_beams=3, length_penalty=0.8, no_repeat_ngram_size=2, max_new_tokens=8,
                              do_sample=False, return_dict_in_generate=True, output_scores=True)
        assert torch.equal(beam.sequences, data["generate.beam3.sequences"])
        close(beam.sequences_scores, data["generate.beam3.sequences_scores"], f"{folder} beam scores")


# composing two part checkpoints ------------------------------------------------------------------------------------


def _from_parts_record():
    with open(os.path.join(PARTS, "from_encoder_decoder.json"), encoding="utf-8") as f:
        return json.load(f)


def _portable(obj):
    """Paths relative to seq2seq/, no transformers_version (as the fixture script records them)."""
    if isinstance(obj, dict):
        return {k: _portable(v) for k, v in obj.items() if k != "transformers_version"}
    if isinstance(obj, list):
        return [_portable(v) for v in obj]
    return obj.replace(SEQ2SEQ + os.sep, "") if isinstance(obj, str) else obj


def _logged_keys(messages, marker):
    """The weight names listed after `marker` in log messages."""
    keys = []
    for message in messages:
        if marker in message:
            listed = message.split(marker, 1)[1].split("]")[0]
            keys += [k.strip(" '[\n") for k in listed.split(",") if k.strip(" '[\n")]
    return keys


class _Logged(logging.Handler):
    """What henkan logs (from INFO up) inside the block."""

    def __enter__(self):
        self.messages, self.previous = [], henkan.logging.get_verbosity()
        henkan.logging.set_verbosity_info()
        logging.getLogger("henkan").addHandler(self)
        return self.messages

    def __exit__(self, *exc):
        logging.getLogger("henkan").removeHandler(self)
        henkan.logging.set_verbosity(self.previous)

    def emit(self, record):
        self.messages.append(_portable(record.getMessage()))


@pytest.mark.parametrize("pair", ["bert2bert", "bert2gpt2"])
def test_from_encoder_decoder_pretrained_builds_what_the_reference_builds(pair, tmp_path):
    expected = _from_parts_record()[pair]
    enc, dec = expected["call"].split("'")[1::2]
    with _Logged() as messages:
        model = henkan.EncoderDecoderModel.from_encoder_decoder_pretrained(os.path.join(SEQ2SEQ, enc),
                                                                           os.path.join(SEQ2SEQ, dec))
    assert (type(model.encoder).__name__, type(model.decoder).__name__) == \
        (expected["encoder_class"], expected["decoder_class"])
    assert model.config.decoder.is_decoder and model.config.decoder.add_cross_attention
    decoder_info = next(m for m in expected["messages"] if "as a decoder model" in m)
    assert decoder_info in messages

    # the newly initialised weights are the decoder's cross-attention (and the LM head a BertModel part lacks);
    # the reference also names the LM head's decoder.bias, the same parameter as its bias: compare parameters
    state = model.decoder.state_dict(keep_vars=True)
    ours = _logged_keys(messages, "newly initialized: ")
    assert {id(state[k]) for k in ours} == {id(state[k]) for k in expected["newly_initialized"]}
    assert sorted(_logged_keys(messages, ": [")) == sorted(ours + expected["not_used"])

    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == expected["saved_files"]
    for name in ("config.json", "generation_config.json"):
        with open(os.path.join(tmp_path, name), encoding="utf-8") as f:
            assert _portable(json.load(f)) == expected[name], name


def test_decoder_kwargs_and_encoder_kwargs_go_to_their_parts():
    model = henkan.EncoderDecoderModel.from_encoder_decoder_pretrained(
        os.path.join(PARTS, "bert"), os.path.join(PARTS, "gpt2"), encoder_hidden_dropout_prob=0.0,
        decoder_resid_pdrop=0.0, pad_token_id=7)
    assert model.config.encoder.hidden_dropout_prob == 0.0 and model.config.decoder.resid_pdrop == 0.0
    assert model.config.pad_token_id == 7
    assert model.encoder.config is model.config.encoder and model.decoder.config is model.config.decoder


# the seed page's BERT2BERT example, on a real BERT checkpoint ------------------------------------------------------


def test_seed_bert2bert_example(minilm_path):
    from henkan import BertGenerationDecoder, BertGenerationEncoder, BertTokenizer, EncoderDecoderModel

    # leverage checkpoints for Bert2Bert model...
    # use BERT's cls token as BOS token and sep token as EOS token
    encoder = BertGenerationEncoder.from_pretrained(minilm_path, bos_token_id=101, eos_token_id=102)
    # add cross attention layers and use BERT's cls token as BOS token and sep token as EOS token
    decoder = BertGenerationDecoder.from_pretrained(
        minilm_path, add_cross_attention=True, is_decoder=True, bos_token_id=101, eos_token_id=102
    )
    bert2bert = EncoderDecoderModel(encoder=encoder, decoder=decoder)

    # create tokenizer...
    tokenizer = BertTokenizer.from_pretrained(minilm_path)

    input_ids = tokenizer(
        "This is a long article to summarize", add_special_tokens=False, return_tensors="pt"
    ).input_ids
    labels = tokenizer("This is a short summary", return_tensors="pt").input_ids

    # train...
    loss = bert2bert(input_ids=input_ids, decoder_input_ids=labels, labels=labels).loss
    loss.backward()

    assert loss.dim() == 0 and torch.isfinite(loss)
    assert encoder.embeddings.word_embeddings.weight.grad is not None
    assert decoder.bert.encoder.layer[0].crossattention.self.query.weight.grad is not None
    assert bert2bert.config.decoder.is_decoder and bert2bert.config.decoder.add_cross_attention
    assert "token_type_embeddings" not in dict(encoder.named_parameters())
    # generation starts from the decoder's bos ([CLS]) and stops at [SEP]
    out = bert2bert.generate(input_ids, max_new_tokens=3)
    assert out[0, 0].item() == 101 and out.shape[1] <= 4


# auto classes, bad input ---------------------------------------------------------------------------------------------


def test_auto_classes_for_decoders():
    assert henkan.AutoModelForCausalLM.from_config(henkan.BertConfig(**_BERT, is_decoder=True)).__class__ \
        is henkan.BertLMHeadModel
    assert isinstance(henkan.AutoModelForCausalLM.from_config(henkan.RobertaConfig(**_BERT, is_decoder=True)),
                      henkan.RobertaForCausalLM)
    assert isinstance(henkan.AutoModelForCausalLM.from_config(henkan.BertGenerationConfig(**_BERT, is_decoder=True)),
                      henkan.BertGenerationDecoder)
    assert isinstance(henkan.AutoModel.from_config(henkan.BertGenerationConfig(**_BERT)), henkan.BertGenerationEncoder)


def test_generate_needs_a_start_token():
    model = henkan.EncoderDecoderModel(henkan.EncoderDecoderConfig.from_encoder_decoder_configs(
        henkan.BertConfig(**_BERT), henkan.BertConfig(**_BERT)))
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=2)


def test_labels_need_start_and_pad_tokens():
    config = henkan.EncoderDecoderConfig.from_encoder_decoder_configs(henkan.BertConfig(**_BERT),
                                                                        henkan.BertConfig(**_BERT))
    model = henkan.EncoderDecoderModel(config)
    ids, labels = torch.tensor([[5, 6, 7]]), torch.tensor([[8, 9, -100]])
    with pytest.raises(ValueError, match="decoder_start_token_id is not set"):
        model(input_ids=ids, labels=labels)
    config.decoder_start_token_id = 2
    with pytest.raises(ValueError, match="pad_token_id is not set"):
        model(input_ids=ids, labels=labels)
    config.pad_token_id = 0
    assert torch.isfinite(model(input_ids=ids, labels=labels).loss)


def test_a_decoder_without_cross_attention_is_refused():
    encoder = henkan.BertModel(henkan.BertConfig(**_BERT))
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        henkan.EncoderDecoderModel(encoder=encoder, decoder=henkan.BertLMHeadModel(
            henkan.BertConfig(**_BERT, is_decoder=True)))
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        henkan.EncoderDecoderModel(encoder=encoder, decoder=henkan.GPT2LMHeadModel(
            henkan.GPT2Config(vocab_size=99, n_embd=32, n_layer=1, n_head=4)))
    config = henkan.EncoderDecoderConfig.from_encoder_decoder_configs(henkan.BertConfig(**_BERT),
                                                                        henkan.BertConfig(**_BERT))
    config.decoder.add_cross_attention = False
    with pytest.raises(ValueError, match="no cross-attention layers"):
        henkan.EncoderDecoderModel(config)
    # the decoders on their own, given encoder states they cannot attend to
    states = torch.zeros(1, 3, 32)
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        henkan.BertLMHeadModel(henkan.BertConfig(**_BERT, is_decoder=True))(
            input_ids=torch.tensor([[5, 6]]), encoder_hidden_states=states)
    with pytest.raises(ValueError, match="add_cross_attention=True"):
        henkan.GPT2LMHeadModel(henkan.GPT2Config(vocab_size=99, n_embd=32, n_layer=1, n_head=4))(
            input_ids=torch.tensor([[5, 6]]), encoder_hidden_states=states)
    with pytest.raises(ValueError, match="is_decoder=True"):
        henkan.BertModel(henkan.BertConfig(**_BERT, add_cross_attention=True))
    with pytest.raises(ValueError, match="LM Head"):
        henkan.EncoderDecoderModel(encoder=henkan.BertForMaskedLM(henkan.BertConfig(**_BERT)),
                                   decoder=henkan.BertLMHeadModel(henkan.BertConfig(**_BERT, is_decoder=True,
                                                                                    add_cross_attention=True)))


def test_mismatched_hidden_sizes_get_a_projection():
    config = henkan.EncoderDecoderConfig.from_encoder_decoder_configs(
        henkan.BertConfig(**dict(_BERT, hidden_size=48)), henkan.BertConfig(**_BERT), decoder_start_token_id=2,
        pad_token_id=0)
    model = henkan.EncoderDecoderModel(config)
    assert tuple(model.enc_to_dec_proj.weight.shape) == (32, 48)
    out = model(input_ids=torch.tensor([[5, 6, 7]]), labels=torch.tensor([[8, 9]]))
    assert out.encoder_last_hidden_state.shape[-1] == 48 and torch.isfinite(out.loss)
    config.decoder.cross_attention_hidden_size = 40
    with pytest.raises(ValueError, match="cross_attention_hidden_size"):
        henkan.EncoderDecoderModel(config)


def test_config_needs_both_parts():
    with pytest.raises(ValueError, match="both `encoder` and `decoder`"):
        henkan.EncoderDecoderConfig()
    with pytest.raises(ValueError, match="model_type"):
        henkan.EncoderDecoderConfig(encoder={"hidden_size": 8}, decoder=henkan.BertConfig().to_dict())


def test_tie_encoder_decoder_shares_weights_and_saves_the_decoder_copy(tmp_path):
    config = henkan.EncoderDecoderConfig.from_encoder_decoder_configs(
        henkan.BertConfig(**_BERT), henkan.BertConfig(**_BERT), tie_encoder_decoder=True)
    model = henkan.EncoderDecoderModel(config).eval()
    assert model.encoder.encoder.layer[1].attention.self.query.weight is \
        model.decoder.bert.encoder.layer[1].attention.self.query.weight
    model.save_pretrained(tmp_path)
    with safe_open(os.path.join(tmp_path, "model.safetensors"), "pt") as f:
        assert [k for k in f.keys() if k.startswith("encoder.")] == ["encoder.pooler.dense.bias",
                                                                    "encoder.pooler.dense.weight"]
    reloaded, info = henkan.EncoderDecoderModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not any(info.values())
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        close(reloaded(input_ids=ids, decoder_input_ids=ids).logits, model(input_ids=ids, decoder_input_ids=ids).logits,
              "tied reload")
