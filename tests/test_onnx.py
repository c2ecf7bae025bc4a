"""ONNX export (henkan.onnx, `henkan export onnx`): every exported graph run by onnxruntime on inputs of other shapes
than the traced example (other batch sizes and lengths, padded rows, other cache lengths) gives the PyTorch model's
outputs within 1e-4; greedy decoding through the exported decoders gives henkan's generate tokens; bad input gets
clear errors.

The graphs of one (fixture, task) are exported once per session (each export takes about a second)."""

import os

import pytest
import torch

import henkan
from conftest import FIXTURES, MODELS
from henkan.cli import main
from henkan.onnx import (FeaturesManager, OnnxConfig, OnnxConfigWithPast, OnnxSeq2SeqConfigWithPast, export)

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

ATOL = 1e-4
DECODERS = os.path.join(FIXTURES, "decoders")
SEQ2SEQ = os.path.join(FIXTURES, "seq2seq")
_EXPORTS = {}


@pytest.fixture(scope="module")
def out_root(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


def exported(out_root, folder, auto, task):
    """(model, {file name: onnxruntime session}, export result) for a fixture folder exported as `task`."""
    key = (folder, task)
    if key not in _EXPORTS:
        model = getattr(henkan, auto).from_pretrained(folder)
        target = out_root / f"{os.path.basename(folder)}-{task}"
        graphs = export(model, target, task=task)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        sessions = {g.path.name: ort.InferenceSession(str(g.path), options, providers=["CPUExecutionProvider"])
                    for g in graphs}
        _EXPORTS[key] = model, sessions, graphs
    return _EXPORTS[key]


def run(session, **inputs):
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {k: v.numpy() for k, v in inputs.items()})
    return {name: torch.from_numpy(value) for name, value in zip(names, values)}


def close(actual, expected, what):
    assert actual.shape == expected.shape, f"{what}: shape {list(actual.shape)} != {list(expected.shape)}"
    difference = float((actual - expected).abs().max())
    assert difference <= ATOL, f"{what}: max difference {difference:.3g}"


def ids(vocab, *shape, seed=0):
    return torch.randint(3, vocab, shape, generator=torch.Generator().manual_seed(seed))


# encoders ---------------------------------------------------------------------------------------------------------

ENCODER_HEADS = [("bert-model", "AutoModel", "default", "last_hidden_state"),
                 ("bert-forsequenceclassification", "AutoModelForSequenceClassification", "sequence-classification",
                  "logits"),
                 ("bert-fortokenclassification", "AutoModelForTokenClassification", "token-classification", "logits"),
                 ("bert-forquestionanswering", "AutoModelForQuestionAnswering", "question-answering", "start_logits"),
                 ("bert-formaskedlm", "AutoModelForMaskedLM", "masked-lm", "logits"),
                 ("bert-formultiplechoice", "AutoModelForMultipleChoice", "multiple-choice", "logits"),
                 ("distilbert-model", "AutoModel", "feature-extraction", "last_hidden_state"),
                 ("roberta-forsequenceclassification", "AutoModelForSequenceClassification", "text-classification",
                  "logits")]


@pytest.mark.parametrize("folder,auto,task,first", ENCODER_HEADS, ids=[h[0] for h in ENCODER_HEADS])
def test_encoder_heads_match_pytorch_on_other_shapes(out_root, folder, auto, task, first):
    model, sessions, graphs = exported(out_root, os.path.join(MODELS, folder), auto, task)
    (graph,) = graphs
    assert graph.path.name == "model.onnx" and graph.max_difference <= ATOL and graph.outputs[0] == first
    session = sessions["model.onnx"]
    wants_types = "token_type_ids" in graph.inputs
    assert wants_types == (model.config.model_type == "bert" or model.config.model_type == "roberta")
    # (traced with 2 rows of 3 tokens; checked by export on 3 rows of 4 with a padded row)
    for rows, length in ((1, 11), (4, 2), (5, 7)):
        shape = (rows, 3, length) if task == "multiple-choice" else (rows, length)
        inputs = {"input_ids": ids(model.config.vocab_size, *shape, seed=rows),
                  "attention_mask": torch.ones(shape, dtype=torch.long)}
        if rows > 1:
            inputs["attention_mask"].view(-1, length)[-1, length // 2 + 1:] = 0  # a padded row
        if wants_types:
            inputs["token_type_ids"] = torch.zeros(shape, dtype=torch.long)
            inputs["token_type_ids"][..., length // 2:] = 1 if model.config.type_vocab_size > 1 else 0
        got = run(session, **inputs)
        with torch.no_grad():
            expected = model(**inputs)
        for name in graph.outputs:
            close(got[name], expected[name], f"{folder} {name} {list(shape)}")


def test_encoder_axes_are_dynamic(out_root):
    _, _, (graph,) = exported(out_root, os.path.join(MODELS, "bert-formultiplechoice"),
                              "AutoModelForMultipleChoice", "multiple-choice")
    proto = onnx.load(str(graph.path), load_external_data=False)
    axes = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert axes["input_ids"] == ["batch", "choice", "sequence"]
    outputs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in proto.graph.output}
    assert outputs["logits"][0] == "batch"


# decoders ---------------------------------------------------------------------------------------------------------

def positions(mask):
    return (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)


def empty_past(config, rows):
    """The cache inputs of a first step: [rows, kv_heads, 0, head_dim] per layer."""
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    empty = torch.zeros(rows, kv_heads, 0, head_dim)
    return {f"past_key_values.{i}.{kv}": empty for i in range(config.num_hidden_layers) for kv in ("key", "value")}


def as_past(outputs, part=""):
    """present.* outputs (of `part`, e.g. ".decoder.") renamed as the next step's past_key_values.* inputs."""
    return {"past_key_values." + k[len("present."):]: v for k, v in outputs.items()
            if k.startswith("present.") and part in k}


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_decoder_with_past_names_and_steps(out_root, family):
    model, sessions, (graph,) = exported(out_root, os.path.join(DECODERS, family), "AutoModelForCausalLM",
                                         "causal-lm-with-past")
    layers = model.config.num_hidden_layers
    assert graph.inputs == ["input_ids", "attention_mask", "position_ids"] + [
        f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    assert graph.outputs == ["logits"] + [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    session = sessions["model.onnx"]
    # a prompt from an empty cache (a left-padded row), then two steps of 1 and 3 tokens
    vocab = model.config.vocab_size
    prompt = ids(vocab, 3, 6)
    mask = torch.ones(3, 6, dtype=torch.long)
    mask[1, :3] = 0
    past, cache = empty_past(model.config, 3), None
    new = prompt
    for step, length in enumerate((6, 1, 3)):
        if step:
            new = ids(vocab, 3, length, seed=step)
            mask = torch.cat((mask, torch.ones(3, length, dtype=torch.long)), dim=1)
        position_ids = positions(mask)[:, -length:]
        got = run(session, input_ids=new, attention_mask=mask, position_ids=position_ids, **past)
        with torch.no_grad():
            expected = model(input_ids=new, attention_mask=mask, position_ids=position_ids, past_key_values=cache,
                             use_cache=True)
        cache = expected.past_key_values
        close(got["logits"], expected.logits, f"{family} step {step} logits")
        for i in range(layers):
            close(got[f"present.{i}.key"], cache[i][0], f"{family} step {step} present.{i}.key")
            close(got[f"present.{i}.value"], cache[i][1], f"{family} step {step} present.{i}.value")
        past = as_past(got)


@pytest.mark.parametrize("family", ["gpt2", "llama", "stablelm-2"])  # (StableLM 2: per-head q/k norms)
def test_greedy_decoding_through_onnxruntime_equals_generate(out_root, family):
    model, sessions, (graph,) = exported(out_root, os.path.join(DECODERS, family), "AutoModelForCausalLM",
                                         "causal-lm-with-past")
    session = sessions["model.onnx"]
    config = model.config
    prompt = ids(config.vocab_size, 2, 5, seed=7)
    mask = torch.ones(2, 5, dtype=torch.long)
    mask[0, :2] = 0  # left padding
    prompt[0, :2] = config.pad_token_id
    expected = model.generate(prompt, attention_mask=mask, max_new_tokens=10, do_sample=False,
                              pad_token_id=config.pad_token_id)
    past = empty_past(config, 2)
    tokens, new, done = prompt, prompt, torch.zeros(2, dtype=torch.bool)
    for _ in range(10):
        got = run(session, input_ids=new, attention_mask=mask, position_ids=positions(mask)[:, -new.shape[1]:],
                  **past)
        chosen = got["logits"][:, -1].argmax(-1)
        chosen = torch.where(done, torch.tensor(config.pad_token_id), chosen)
        done |= chosen == config.eos_token_id
        tokens = torch.cat((tokens, chosen[:, None]), dim=1)
        if done.all():
            break
        new = chosen[:, None]
        mask = torch.cat((mask, torch.ones(2, 1, dtype=torch.long)), dim=1)
        past = as_past(got)
    assert tokens.tolist() == expected.tolist()


def test_decoder_without_cache(out_root):
    model, sessions, (graph,) = exported(out_root, os.path.join(DECODERS, "llama"), "AutoModelForCausalLM",
                                         "causal-lm")
    assert graph.inputs == ["input_ids", "attention_mask", "position_ids"] and graph.outputs == ["logits"]
    for rows, length in ((1, 9), (4, 2)):
        input_ids = ids(model.config.vocab_size, rows, length, seed=length)
        mask = torch.ones(rows, length, dtype=torch.long)
        mask[-1, :1] = 0
        got = run(sessions["model.onnx"], input_ids=input_ids, attention_mask=mask, position_ids=positions(mask))
        with torch.no_grad():
            expected = model(input_ids=input_ids, attention_mask=mask, position_ids=positions(mask)).logits
        close(got["logits"], expected, f"llama {rows}x{length}")


# encoder-decoders -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", ["bart", "t5"])
def test_seq2seq_files_and_greedy_decoding(out_root, family):
    model, sessions, graphs = exported(out_root, os.path.join(SEQ2SEQ, family), "AutoModelForSeq2SeqLM",
                                       "seq2seq-lm-with-past")
    assert [g.path.name for g in graphs] == ["encoder_model.onnx", "decoder_model.onnx",
                                             "decoder_with_past_model.onnx"]
    layers = len(model.get_decoder().layers if hasattr(model.get_decoder(), "layers") else model.get_decoder().block)
    names = [f"past_key_values.{i}.{part}.{kv}" for i in range(layers) for part in ("decoder", "encoder")
             for kv in ("key", "value")]
    assert graphs[1].inputs == ["input_ids", "encoder_attention_mask", "encoder_hidden_states"]
    assert graphs[1].outputs == ["logits"] + [n.replace("past_key_values", "present") for n in names]
    assert graphs[2].inputs == ["input_ids", "encoder_attention_mask"] + names
    assert graphs[2].outputs == ["logits"] + [n.replace("past_key_values", "present") for n in names
                                              if ".decoder." in n]
    config = model.config
    source = ids(config.vocab_size, 2, 7, seed=3)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0
    source[1, 5:] = config.pad_token_id
    expected = model.generate(source, attention_mask=mask, max_new_tokens=8, do_sample=False, num_beams=1,
                              forced_eos_token_id=None)
    states = run(sessions["encoder_model.onnx"], input_ids=source, attention_mask=mask)["last_hidden_state"]
    with torch.no_grad():
        close(states, model.get_encoder()(input_ids=source, attention_mask=mask).last_hidden_state,
              f"{family} encoder")
    start = torch.full((2, 1), config.decoder_start_token_id)
    got = run(sessions["decoder_model.onnx"], input_ids=start, encoder_attention_mask=mask,
              encoder_hidden_states=states)
    cross = as_past(got, ".encoder.")  # computed once; the decoder with past returns the decoder's part only
    tokens, done = start, torch.zeros(2, dtype=torch.bool)
    for _ in range(8):
        chosen = torch.where(done, torch.tensor(config.pad_token_id), got["logits"][:, -1].argmax(-1))
        done |= chosen == config.eos_token_id
        tokens = torch.cat((tokens, chosen[:, None]), dim=1)
        if done.all():
            break
        got = run(sessions["decoder_with_past_model.onnx"], input_ids=chosen[:, None], encoder_attention_mask=mask,
                  **as_past(got, ".decoder."), **cross)
    assert tokens.tolist() == expected.tolist()


def test_seq2seq_without_cache_writes_two_files(out_root):
    model, sessions, graphs = exported(out_root, os.path.join(SEQ2SEQ, "t5"), "AutoModelForSeq2SeqLM", "seq2seq-lm")
    assert [g.path.name for g in graphs] == ["encoder_model.onnx", "decoder_model.onnx"]
    assert graphs[1].outputs == ["logits"]
    source, target = ids(model.config.vocab_size, 1, 10), ids(model.config.vocab_size, 1, 6, seed=1)
    mask = torch.ones_like(source)
    states = run(sessions["encoder_model.onnx"], input_ids=source, attention_mask=mask)["last_hidden_state"]
    got = run(sessions["decoder_model.onnx"], input_ids=target, encoder_attention_mask=mask,
              encoder_hidden_states=states)
    with torch.no_grad():
        expected = model(input_ids=source, attention_mask=mask, decoder_input_ids=target).logits
    close(got["logits"], expected, "t5 logits")


# the seed's classes -----------------------------------------------------------------------------------------------

def test_onnx_configs_and_features_manager():
    config = henkan.AutoConfig.from_pretrained(os.path.join(MODELS, "distilbert-model"))
    features = FeaturesManager.get_supported_features_for_model_type("distilbert")
    assert list(features) == ["default", "masked-lm", "sequence-classification", "token-classification",
                              "question-answering", "multiple-choice"]
    onnx_config = OnnxConfig(config)
    assert list(onnx_config.inputs) == ["input_ids", "attention_mask"]
    assert list(onnx_config.outputs) == ["last_hidden_state"]
    assert onnx_config.default_onnx_opset == 17 and onnx_config.atol_for_validation == 1e-4
    assert FeaturesManager.get_model_class_for_feature("sequence-classification") \
        is henkan.AutoModelForSequenceClassification
    llama = henkan.AutoConfig.from_pretrained(os.path.join(DECODERS, "llama"))
    with_past = OnnxConfigWithPast.with_past(llama, task="causal-lm")
    assert with_past.num_attention_heads == 2 and with_past.outputs["present.1.value"] == {
        0: "batch", 2: "past_sequence + sequence"}
    assert FeaturesManager.get_config("llama", "causal-lm-with-past")(llama).use_past
    bart = henkan.AutoConfig.from_pretrained(os.path.join(SEQ2SEQ, "bart"))
    seq2seq = OnnxSeq2SeqConfigWithPast.with_past(bart, task="seq2seq-lm")
    assert "past_key_values.0.encoder.value" in seq2seq.inputs and "present.1.decoder.key" in seq2seq.outputs
    model = henkan.AutoModelForSequenceClassification.from_pretrained(os.path.join(MODELS,
                                                                                  "distilbert-forsequenceclassification"))
    model_type, factory = FeaturesManager.check_supported_model_or_raise(model, feature="sequence-classification")
    assert model_type == "distilbert" and list(factory(model.config).outputs) == ["logits"]
    # the seed's dummy inputs: the tokenizer's encoding of unknown tokens, batch 2 x sequence 8 by default
    folder = os.path.join(FIXTURES, "text_pipelines", "bert-cls")
    tokenizer = henkan.AutoTokenizer.from_pretrained(folder)
    dummy = OnnxConfig(henkan.AutoConfig.from_pretrained(folder)).generate_dummy_inputs(tokenizer)
    assert list(dummy) == ["input_ids", "attention_mask", "token_type_ids"]
    assert dummy["input_ids"].shape == (2, 8) and set(dummy["input_ids"][0, 1:-1].tolist()) == {tokenizer.unk_token_id}


# the transformers.onnx form ---------------------------------------------------------------------------------------

TEXT_CLS = os.path.join(FIXTURES, "text_pipelines", "bert-cls")
GPT2 = os.path.join(FIXTURES, "text_generation", "gpt2")


def legacy_export(out_root, folder, auto, feature):
    """The old flow as a 4.x script writes it, up to the export: (tokenizer, model, onnx_config, path, inputs,
    outputs); exported once per session."""
    key = ("legacy", folder, feature)
    if key not in _EXPORTS:
        from pathlib import Path

        from henkan.onnx.features import FeaturesManager as Features  # (the old deep import path)

        tokenizer = henkan.AutoTokenizer.from_pretrained(folder)
        model = getattr(henkan, auto).from_pretrained(folder)
        model_kind, model_onnx_config = Features.check_supported_model_or_raise(model, feature=feature)
        onnx_config = model_onnx_config(model.config)
        path = Path(out_root) / f"legacy-{model_kind}-{feature}" / "model.onnx"
        onnx_inputs, onnx_outputs = export(tokenizer, model, onnx_config, onnx_config.default_onnx_opset, path)
        _EXPORTS[key] = tokenizer, model, onnx_config, path, onnx_inputs, onnx_outputs
    return _EXPORTS[key]


def test_legacy_flow_encoder_head(out_root):
    import logging.handlers

    from henkan.onnx.convert import validate_model_outputs

    tokenizer, model, onnx_config, path, onnx_inputs, onnx_outputs = legacy_export(
        out_root, TEXT_CLS, "AutoModelForSequenceClassification", "sequence-classification")
    # what transformers 4.57's export returns for this model: its forward's arguments, the config's outputs
    assert onnx_inputs == ["input_ids", "attention_mask", "token_type_ids"] and onnx_outputs == ["logits"]
    assert sorted(os.listdir(path.parent)) == ["model.onnx"]
    level, kept = henkan.logging.get_verbosity(), logging.handlers.BufferingHandler(100)
    henkan.logging.set_verbosity_info()
    logging.getLogger("henkan").addHandler(kept)
    try:
        validate_model_outputs(onnx_config, tokenizer, model, path, onnx_outputs, onnx_config.atol_for_validation)
    finally:
        logging.getLogger("henkan").removeHandler(kept)
        henkan.logging.set_verbosity(level)
    logged = "\n".join(record.getMessage() for record in kept.buffer)
    assert "-[✓] logits: shape [3, 2], max difference" in logged  # (on a batch of 3, one more than the export's)
    assert "All good: model.onnx gives BertForSequenceClassification's outputs within atol=0.0001" in logged
    encoded = tokenizer(["the hobbit lived in a hole", "a hole"], padding=True, return_tensors="pt")
    got = run(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]), **encoded)
    with torch.no_grad():
        close(got["logits"], model(**encoded).logits, "legacy bert logits")


def test_legacy_flow_gpt2_with_past(out_root):
    from henkan.onnx import validate_model_outputs

    tokenizer, model, onnx_config, path, onnx_inputs, onnx_outputs = legacy_export(
        out_root, GPT2, "AutoModelForCausalLM", "causal-lm-with-past")
    # (4.57's GPT-2 graph has no position_ids; henkan's takes them, for left-padded batches)
    assert onnx_inputs == ["input_ids", "past_key_values", "attention_mask", "position_ids"]
    assert onnx_outputs == ["logits"] + [f"present.{i}.{kv}" for i in range(2) for kv in ("key", "value")]
    validate_model_outputs(onnx_config, tokenizer, model, path, onnx_outputs, onnx_config.atol_for_validation)
    dummy = onnx_config.generate_dummy_inputs(tokenizer, batch_size=3, seq_length=9)
    assert list(dummy) == list(onnx_config.inputs)
    length = dummy["input_ids"].shape[1]
    assert dummy["past_key_values.1.value"].shape == (3, 4, length + 2, 8)
    assert dummy["attention_mask"].shape == (3, 2 * length + 2)
    assert dummy["position_ids"][0].tolist() == list(range(length + 2, 2 * length + 2))


def test_legacy_tokenizer_argument_and_device(tmp_path):
    from pathlib import Path

    from henkan.onnx import validate_model_outputs

    tokenizer = henkan.AutoTokenizer.from_pretrained(TEXT_CLS)
    model = henkan.AutoModelForSequenceClassification.from_pretrained(TEXT_CLS)
    onnx_config = FeaturesManager.check_supported_model_or_raise(model, "sequence-classification")[1](model.config)
    path = Path(tmp_path) / "sub" / "model.onnx"
    with pytest.warns(FutureWarning, match="tokenizer argument is deprecated"):
        onnx_inputs, onnx_outputs = export(None, model, onnx_config, 14, path, tokenizer=tokenizer, device="cpu")
    with pytest.warns(FutureWarning, match="tokenizer argument is deprecated"):
        validate_model_outputs(onnx_config, None, model, path, onnx_outputs, 1e-4, tokenizer=tokenizer)
    # the keyword form of the old docs
    assert export(preprocessor=tokenizer, model=model, config=onnx_config, opset=17, output=path) == (
        onnx_inputs, onnx_outputs)


def test_legacy_bad_input(out_root, tmp_path):
    import onnx.numpy_helper
    from pathlib import Path

    from henkan.onnx import validate_model_outputs

    tokenizer, model, onnx_config, path, _, outputs = legacy_export(
        out_root, TEXT_CLS, "AutoModelForSequenceClassification", "sequence-classification")
    target = Path(tmp_path) / "model.onnx"
    with pytest.raises(ValueError, match=r"Opset 13 is not sufficient to export BertForSequenceClassification: "
                                         r"henkan needs at least 14 \(config.default_onnx_opset is 17\)"):
        export(tokenizer, model, onnx_config, 13, target)
    with pytest.raises(TypeError, match=r"export takes a model first, export\(model, path, task=...\), or a "
                                        r"tokenizer / processor first, export\(preprocessor, model, config, opset, "
                                        r"output\) as transformers.onnx did; got str"):
        export("bert-base-uncased", model, onnx_config, 17, target)
    with pytest.raises(TypeError, match=r"export: too many positional arguments; this form is export\(model, path"):
        export(model, tokenizer, onnx_config, 17, target)  # (the old form's first two arguments swapped)
    with pytest.raises(ValueError, match="Pass either preprocessor or tokenizer to export the model, not both"):
        export(tokenizer, model, onnx_config, 17, target, tokenizer=tokenizer)
    with pytest.raises(ValueError, match=r"output .* is a folder; this form of export writes one file"):
        export(tokenizer, model, onnx_config, 17, tmp_path)
    # a config for a head the model does not have: the features' error
    token_config = FeaturesManager.get_config("bert", "token-classification")(model.config)
    with pytest.raises(ValueError, match="BertForSequenceClassification has no token-classification head to export"):
        export(tokenizer, model, token_config, 17, target)
    t5 = henkan.AutoModelForSeq2SeqLM.from_pretrained(os.path.join(SEQ2SEQ, "t5"))
    t5_config = FeaturesManager.get_config("t5", "seq2seq-lm")(t5.config)
    with pytest.raises(ValueError, match=r"henkan exports an encoder-decoder as 2 graphs \(encoder_model.onnx, "
                                         r"decoder_model.onnx\), not one file: call export\(model, folder, "
                                         r"task='seq2seq-lm'\)"):
        export(tokenizer, t5, t5_config, 17, target)
    assert not target.exists()
    # a graph whose weights were changed after the export: validate names the output and the difference
    proto = onnx.load(str(path))
    (bias,) = [t for t in proto.graph.initializer if onnx.numpy_helper.to_array(t).shape == (2,)]
    bias.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(bias) + 0.01, bias.name))
    onnx.save(proto, str(target))
    with pytest.raises(ValueError, match=r"model.onnx: output logits differs from PyTorch's by 0.01, more than "
                                         r"atol=0.0001 \(inputs: input_ids \[3, 9\]"):
        validate_model_outputs(onnx_config, tokenizer, model, target, outputs, 1e-4)
    # an output renamed: not one of the model's
    proto.graph.output[0].name = "scores"
    for node in proto.graph.node:
        node.output[:] = ["scores" if name == "logits" else name for name in node.output]
    onnx.save(proto, str(target))
    with pytest.raises(ValueError, match=r"model.onnx: output scores is not an output of "
                                         r"BertForSequenceClassification \(it gives logits\)"):
        validate_model_outputs(onnx_config, tokenizer, model, target, ["scores"], 1e-4)
    with pytest.raises(ValueError, match="model.onnx has no output logits; its outputs are scores"):
        validate_model_outputs(onnx_config, tokenizer, model, target, outputs, 1e-4)
    with pytest.raises(FileNotFoundError, match="is not a file; pass the path export wrote"):
        validate_model_outputs(onnx_config, tokenizer, model, tmp_path / "missing.onnx", outputs, 1e-4)


def test_transformers_onnx_names_and_paths():
    import henkan.onnx
    from henkan.onnx.config import EXTERNAL_DATA_FORMAT_SIZE_LIMIT, OnnxConfig as Config, PatchingSpec  # noqa: F401
    from henkan.onnx.convert import export as convert_export, validate_model_outputs  # noqa: F401
    from henkan.onnx.features import FeaturesManager as Features
    from henkan.onnx.utils import ParameterFormat, compute_serialized_parameters_size

    assert Config is OnnxConfig and Features is FeaturesManager and convert_export is export
    assert set(henkan.onnx.__all__) >= {"export", "validate_model_outputs", "OnnxConfig", "OnnxConfigWithPast",
                                         "OnnxSeq2SeqConfigWithPast", "FeaturesManager", "PatchingSpec"}
    assert compute_serialized_parameters_size(10, ParameterFormat.Float) == 40
    assert OnnxConfig.use_external_data_format(EXTERNAL_DATA_FORMAT_SIZE_LIMIT // 4)
    assert not OnnxConfig.use_external_data_format(1000)


# the command ------------------------------------------------------------------------------------------------------

def test_cli_export(tmp_path, capsys):
    folder = os.path.join(FIXTURES, "text_pipelines", "bert-cls")
    assert main(["export", "onnx", folder, str(tmp_path / "out"), "--task", "sequence-classification"]) == 0
    out = capsys.readouterr().out
    assert "model.onnx: checked with onnxruntime, max difference" in out
    assert sorted(os.listdir(tmp_path / "out")) == ["config.json", "model.onnx", "special_tokens_map.json",
                                                    "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    tokenizer = henkan.AutoTokenizer.from_pretrained(str(tmp_path / "out"))
    encoded = tokenizer(["the hobbit lived in a hole", "a hole"], padding=True, return_tensors="np")
    session = ort.InferenceSession(str(tmp_path / "out" / "model.onnx"), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], dict(encoded))
    model = henkan.AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        expected = model(**tokenizer(["the hobbit lived in a hole", "a hole"], padding=True,
                                     return_tensors="pt")).logits
    close(torch.from_numpy(logits), expected, "cli logits")


# bad input --------------------------------------------------------------------------------------------------------

def test_export_errors(tmp_path):
    model = henkan.AutoModel.from_pretrained(os.path.join(MODELS, "bert-model"))
    with pytest.raises(ValueError, match="BertModel has no question-answering head to export; load the model with "
                                         "AutoModelForQuestionAnswering"):
        export(model, tmp_path / "a", task="question-answering")
    with pytest.raises(ValueError, match="bert has no causal-lm-with-past head to export"):
        export(model, tmp_path / "a", task="causal-lm-with-past")
    with pytest.raises(ValueError, match="Unknown ONNX export task 'summarise'; henkan knows: causal-lm"):
        export(model, tmp_path / "a", task="summarise")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file; the export writes a folder"):
        export(model, tmp_path / "file", task="default")
    with pytest.raises(ValueError, match="float16 weights; henkan exports float32 models"):
        export(model.half(), tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_the_check_catches_a_graph_that_fits_only_its_example(tmp_path, monkeypatch):
    """Traced outside export_mode, the unpadded example takes the "no padding: no mask" path, which the graph then
    keeps: the check's padded row shows it."""
    import contextlib

    import henkan.onnx.convert

    monkeypatch.setattr(henkan.onnx.convert, "export_mode", contextlib.nullcontext)
    model = henkan.AutoModelForSequenceClassification.from_pretrained(
        os.path.join(MODELS, "bert-forsequenceclassification"))
    with pytest.raises(ValueError, match=r"model.onnx: output logits differs from PyTorch's by .*, more than "
                                         r"atol=0.0001 \(inputs: input_ids \[3, 4\]"):
        export(model, tmp_path / "a", task="sequence-classification")


def test_cli_errors(tmp_path, capsys):
    gpt2 = os.path.join(DECODERS, "gpt2")
    assert main(["export", "onnx", gpt2, str(tmp_path / "a"), "--task", "multiple-choice"]) == 1
    assert capsys.readouterr().err.startswith("henkan export: gpt2 has no multiple-choice head to export; its ONNX "
                                              "features are: default, causal-lm, causal-lm-with-past")
    assert main(["export", "onnx", gpt2, str(tmp_path / "a"), "--task", "sumthing"]) == 1
    assert "Unknown ONNX export task 'sumthing'" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["export", "onnx", gpt2, str(tmp_path / "file")]) == 1
    assert "is a file; the export writes a folder" in capsys.readouterr().err
    vit = os.path.join(FIXTURES, "vision", "vit-model")
    assert main(["export", "onnx", vit, str(tmp_path / "a")]) == 1
    assert capsys.readouterr().err.startswith("henkan export: vit cannot be exported to ONNX by henkan")
    assert not (tmp_path / "a").exists()
