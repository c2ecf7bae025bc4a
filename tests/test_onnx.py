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

    import henkan.onnx

    monkeypatch.setattr(henkan.onnx, "export_mode", contextlib.nullcontext)
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
