"""generate(), GenerationConfig, logits processors, stopping criteria and streamers against the reference library.

Goldens come from `tests/fixtures/make_generation.py` (run with the reference library). The end-to-end cases use
the one-layer model of `tests/fixtures/tiny_lm.py`, wrapped here as a henkan model with the same weights as the
reference-side wrapper, so sequences, scores and beam indices must be identical.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import threading
import warnings

import pytest
import torch
from safetensors.torch import load_file

from henkan.cache import DynamicCache
from henkan.config import PretrainedConfig
from henkan.generation import (
    BeamSearchDecoderOnlyOutput,
    EosTokenCriteria,
    GenerateBeamDecoderOnlyOutput,
    GenerateDecoderOnlyOutput,
    GenerationConfig,
    GenerationMixin,
    GreedySearchDecoderOnlyOutput,
    LogitsProcessor,
    LogitsProcessorList,
    LogitsWarper,
    MaxLengthCriteria,
    MaxTimeCriteria,
    SampleDecoderOnlyOutput,
    StoppingCriteria,
    StoppingCriteriaList,
    StopStringCriteria,
    TextIteratorStreamer,
    TextStreamer,
)
from henkan.generation import logits_process as lp
from henkan.modeling import PreTrainedModel
from henkan.outputs import CausalLMOutputWithPast, ModelOutput
from henkan.utils import set_seed

HERE = os.path.dirname(__file__)
GEN = os.path.join(HERE, "fixtures", "generation")
sys.path.insert(0, os.path.join(HERE, "fixtures"))
import tiny_lm  # noqa: E402


# ---------------------------------------------------------------------------------------------------------------
# the tiny model, as a henkan model
# ---------------------------------------------------------------------------------------------------------------
class TinyConfig(PretrainedConfig):
    model_type = "tiny-lm"
    defaults = dict(tiny_lm.CONFIG)


class TinyLM(PreTrainedModel, GenerationMixin):
    config_class = TinyConfig

    def __init__(self, config, params=None):
        super().__init__(config)
        params = params if params is not None else tiny_lm.init_params()
        self.params = torch.nn.ParameterDict({k: torch.nn.Parameter(v, requires_grad=False) for k, v in params.items()})
        self.calls = 0

    def _init_weights(self, module):
        pass

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                use_cache=None, cache_position=None, logits_to_keep=0, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        self.calls += 1
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache()
        logits, hidden, attentions = tiny_lm.forward(
            dict(self.params.items()), input_ids, attention_mask, position_ids,
            past_key_values if use_cache else None, cache_position, inputs_embeds, logits_to_keep)
        return CausalLMOutputWithPast(logits=logits, past_key_values=past_key_values if use_cache else None,
                                      hidden_states=hidden if output_hidden_states else None,
                                      attentions=attentions if output_attentions else None)


@pytest.fixture(scope="module")
def model():
    return TinyLM(TinyConfig(), load_file(os.path.join(GEN, "tiny_lm.safetensors"))).eval()


def _json(name):
    with open(os.path.join(GEN, name), encoding="utf-8") as f:
        return json.load(f)


@contextlib.contextmanager
def henkan_logs():
    messages = []

    class Handler(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Handler(logging.DEBUG)
    root = logging.getLogger("henkan")
    root.addHandler(handler)
    try:
        yield messages
    finally:
        root.removeHandler(handler)


def _prompt(rows):
    ids = torch.tensor(rows)
    return ids, (ids != 0).long()


def _kwargs(raw: dict) -> dict:
    kwargs = dict(raw)
    if "exponential_decay_length_penalty" in kwargs:
        kwargs["exponential_decay_length_penalty"] = tuple(kwargs["exponential_decay_length_penalty"])
    return kwargs


# ---------------------------------------------------------------------------------------------------------------
# processors
# ---------------------------------------------------------------------------------------------------------------
PROCESSORS = _json("processors.json")
PROCESSOR_GOLD = load_file(os.path.join(GEN, "processors.safetensors"))


@pytest.mark.parametrize("case", PROCESSORS, ids=[c["name"] for c in PROCESSORS])
def test_processor_matches_reference(case):
    cls = getattr(lp, case["class"])
    kwargs = dict(case["kwargs"])
    if case["class"] == "ExponentialDecayLengthPenalty":
        kwargs["exponential_decay_length_penalty"] = tuple(kwargs["exponential_decay_length_penalty"])
    processor = cls(**kwargs)
    ids = PROCESSOR_GOLD["input_ids"]
    ids = ids[:, : case["length"]] if case["length"] else ids
    scores = PROCESSOR_GOLD["special_scores" if case["name"] == "inf_nan" else "scores"].clone()
    before = scores.clone()
    call = {k: torch.tensor(v) if isinstance(v, list) else v for k, v in case["call"].items()}
    out = LogitsProcessorList([processor])(ids, scores, **call)
    torch.testing.assert_close(out, PROCESSOR_GOLD[f"out.{case['name']}"], rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(scores, before, rtol=0, atol=0, equal_nan=True)  # input left untouched


def test_processor_list_and_names():
    scores, ids = PROCESSOR_GOLD["scores"], PROCESSOR_GOLD["input_ids"]
    warpers = LogitsProcessorList([lp.TemperatureLogitsWarper(0.8), lp.TopKLogitsWarper(10), lp.TopPLogitsWarper(0.7)])
    torch.testing.assert_close(warpers(ids, scores.clone()), PROCESSOR_GOLD["out.list"], rtol=0, atol=0)
    assert LogitsWarper is LogitsProcessor
    with pytest.raises(NotImplementedError):
        LogitsProcessor()(ids, scores)
    with pytest.raises(ValueError, match="current_tokens"):
        LogitsProcessorList([lp.HammingDiversityLogitsProcessor(1.0, 4, 2)])(ids, scores)
    for bad in (lambda: lp.TemperatureLogitsWarper(0.0), lambda: lp.TopKLogitsWarper(0),
                lambda: lp.TopPLogitsWarper(1.5), lambda: lp.TypicalLogitsWarper(1.0),
                lambda: lp.EpsilonLogitsWarper(0.0), lambda: lp.MinPLogitsWarper(2.0),
                lambda: lp.RepetitionPenaltyLogitsProcessor(1), lambda: lp.NoRepeatNGramLogitsProcessor(0),
                lambda: lp.NoBadWordsLogitsProcessor([]), lambda: lp.NoBadWordsLogitsProcessor([[-1]]),
                lambda: lp.SequenceBiasLogitsProcessor({}), lambda: lp.MinLengthLogitsProcessor(-1, 2),
                lambda: lp.HammingDiversityLogitsProcessor(0.0, 4, 2)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(ValueError, match="vocabulary size is 32"):
        lp.SequenceBiasLogitsProcessor({(40,): 1.0})(ids, scores)


# ---------------------------------------------------------------------------------------------------------------
# GenerationConfig
# ---------------------------------------------------------------------------------------------------------------
CONFIG_GOLD = _json("config.json")


def _flags(config):
    try:
        config.validate(strict=True)
    except ValueError as e:
        return re.findall(r"^- `(\w+)`:", str(e), flags=re.M)
    return []


@pytest.mark.parametrize("case", CONFIG_GOLD["cases"], ids=[json.dumps(c["kwargs"]) for c in CONFIG_GOLD["cases"]])
def test_generation_config_matches_reference(case):
    if "error" in case:
        with pytest.raises(ValueError) as info:
            GenerationConfig(**case["kwargs"])
        name = next(iter(case["kwargs"]))
        assert name in str(info.value) or name in case["error"]
        return
    with henkan_logs():
        config = GenerationConfig(**case["kwargs"])
    assert config.to_json_string(ignore_metadata=True) == case["diff"]
    assert config.to_json_string(use_diff=False, ignore_metadata=True) == case["full"]
    assert repr(config) == case["repr"]
    assert _flags(config) == case["flags"]
    assert config.get_generation_mode().value == case["mode"]


def test_generation_config_from_model_config_and_update():
    for entry in CONFIG_GOLD["model_configs"]:
        config = GenerationConfig.from_model_config(PretrainedConfig(**entry["model_config"]))
        diff = config.to_diff_dict()
        assert diff == entry["diff"]
    config = GenerationConfig(do_sample=True)
    unused = config.update(top_k=3, temperature=0.5, input_ids=[1], attention_mask=None)
    assert sorted(unused) == CONFIG_GOLD["update"]["unused"]
    assert config.to_diff_dict() == CONFIG_GOLD["update"]["diff"]


def test_generation_config_save_load_round_trip(tmp_path):
    for label, entry in CONFIG_GOLD["saved"].items():
        folder = tmp_path / label
        GenerationConfig(**entry["kwargs"]).save_pretrained(folder)
        assert (folder / "generation_config.json").read_text(encoding="utf-8") == entry["text"]  # byte-identical
        loaded = GenerationConfig.from_pretrained(folder)
        assert loaded == GenerationConfig(**entry["kwargs"])
        assert [p.name for p in folder.iterdir()] == ["generation_config.json"]  # no temporary file left
    with henkan_logs():
        loaded, unused = GenerationConfig.from_pretrained(tmp_path / "tokens", top_k=3, foo=1,
                                                          return_unused_kwargs=True)
    # as the reference: unknown keys become attributes, so nothing is left unused
    assert loaded.top_k == 3 and unused == {} and loaded.foo == 1 and loaded.eos_token_id == [2, 3]
    GenerationConfig(max_new_tokens=7).save_pretrained(tmp_path / "named", config_file_name="my.json")
    assert GenerationConfig.from_pretrained(tmp_path / "named", "my.json").max_new_tokens == 7
    bad = GenerationConfig()
    bad.temperature = 0.5
    with pytest.raises(ValueError, match="Fix these issues to save the configuration"):
        bad.save_pretrained(tmp_path / "bad")
    assert "temperature" in CONFIG_GOLD["save_error"]
    with pytest.raises(OSError):
        GenerationConfig.from_pretrained(tmp_path / "missing")


def test_model_generation_config_save_and_load(tmp_path, model):
    assert model.can_generate() and isinstance(model.generation_config, GenerationConfig)
    assert model.generation_config.eos_token_id == 2 and model.generation_config._from_model_config
    model.save_pretrained(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "generation_config.json").read_text())
    assert saved == {"_from_model_config": True, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
                     "transformers_version": saved["transformers_version"]}
    GenerationConfig(eos_token_id=[2, 5], max_new_tokens=4, do_sample=False).save_pretrained(tmp_path / "m")
    loaded = TinyLM.from_pretrained(tmp_path / "m")
    assert loaded.generation_config.eos_token_id == [2, 5] and loaded.generation_config.max_new_tokens == 4
    out = loaded.generate(torch.tensor([[5, 7, 9, 11]]))  # the checkpoint's defaults apply
    assert out.shape[1] <= 4 + 4
    (tmp_path / "m" / "generation_config.json").unlink()
    assert TinyLM.from_pretrained(tmp_path / "m").generation_config.max_new_tokens is None


def test_generation_settings_on_the_model_config_move_on_save(tmp_path):
    model = TinyLM(TinyConfig(), load_file(os.path.join(GEN, "tiny_lm.safetensors")))
    model.config.do_sample, model.config.temperature, model.config.max_length = True, 0.7, 30
    with pytest.warns(UserWarning, match="move to the generation config"):
        model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    generation = json.loads((tmp_path / "m" / "generation_config.json").read_text())
    assert config["do_sample"] is None and config["temperature"] is None and config["max_length"] is None
    assert generation["do_sample"] is True and generation["temperature"] == 0.7 and generation["max_length"] == 30
    assert TinyLM.from_pretrained(tmp_path / "m").generation_config.temperature == 0.7


# ---------------------------------------------------------------------------------------------------------------
# generate() against the reference
# ---------------------------------------------------------------------------------------------------------------
GENERATE = _json("generate.json")
GENERATE_GOLD = load_file(os.path.join(GEN, "generate.safetensors"))
GROUP = _json("group_beam.json")
GROUP_GOLD = load_file(os.path.join(GEN, "group_beam.safetensors"))
ALL_CASES = [(name, case, GENERATE_GOLD) for name, case in GENERATE.items()] + \
            [(name, case, GROUP_GOLD) for name, case in GROUP.items()]


@pytest.mark.parametrize("name,case,gold", ALL_CASES, ids=[c[0] for c in ALL_CASES])
def test_generate_matches_reference(model, name, case, gold):
    ids, mask = _prompt(case["prompt"])
    if case["seed"] is not None:
        set_seed(case["seed"])
    with henkan_logs(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.generate(ids, attention_mask=mask, **_kwargs(case["kwargs"]))
    sequences = out if isinstance(out, torch.Tensor) else out.sequences
    assert torch.equal(sequences, gold[f"{name}.sequences"]), (sequences.tolist(), gold[f"{name}.sequences"].tolist())
    if isinstance(out, torch.Tensor):
        return
    assert type(out).__name__ == case["type"]
    # Scores equal the reference's to the last bit at the thread count the goldens were made with; another thread
    # count sums the matmuls in another order, which moves them by a few 1e-6. Tokens and beam choices stay exact.
    exact = {"rtol": 0, "atol": 2e-5, "equal_nan": True}
    for field in ("scores", "logits"):
        if f"{name}.{field}" in gold:
            torch.testing.assert_close(torch.stack(getattr(out, field)), gold[f"{name}.{field}"], **exact)
    for field in ("sequences_scores", "beam_indices"):
        if f"{name}.{field}" in gold:
            got = getattr(out, field)
            torch.testing.assert_close(got, gold[f"{name}.{field}"].to(got.dtype), **exact)
    if f"{name}.transition" in gold:
        beam_indices = getattr(out, "beam_indices", None)
        torch.testing.assert_close(model.compute_transition_scores(out.sequences, out.scores, beam_indices),
                                   gold[f"{name}.transition"], **exact)
        torch.testing.assert_close(model.compute_transition_scores(out.sequences, out.scores, beam_indices,
                                                                   normalize_logits=True),
                                   gold[f"{name}.transition_normalized"], **exact)


def test_sampling_is_reproducible_and_top_k_1_is_greedy(model):
    ids, mask = _prompt([[0, 0, 5, 7], [3, 4, 5, 6]])
    set_seed(11)
    first = model.generate(ids, attention_mask=mask, max_new_tokens=10, do_sample=True)
    set_seed(11)
    second = model.generate(ids, attention_mask=mask, max_new_tokens=10, do_sample=True)
    assert torch.equal(first, second)
    greedy = model.generate(ids, attention_mask=mask, max_new_tokens=10)
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=10, do_sample=True, top_k=1), greedy)


def test_paths_that_must_agree(model):
    """No cache, a static cache, a prefix cache, inputs_embeds and a custom prepare_inputs_for_generation all give
    the tokens of the default path."""
    ids, mask = _prompt([[0, 0, 5, 7], [3, 4, 5, 6], [0, 8, 9, 10]])
    ref = model.generate(ids, attention_mask=mask, max_new_tokens=9, return_dict_in_generate=True, output_scores=True)
    no_cache = model.generate(ids, attention_mask=mask, max_new_tokens=9, use_cache=False)
    assert torch.equal(no_cache, ref.sequences)
    static = model.generate(ids, attention_mask=mask, max_new_tokens=9, cache_implementation="static",
                            return_dict_in_generate=True, output_scores=True)
    assert torch.equal(static.sequences, ref.sequences)
    torch.testing.assert_close(torch.stack(static.scores), torch.stack(ref.scores), rtol=1e-5, atol=1e-5)
    again = model.generate(ids, attention_mask=mask, max_new_tokens=9, cache_implementation="static")
    assert torch.equal(again, ref.sequences)  # the static cache is reused and reset
    beams = model.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=3)
    assert torch.equal(model.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=3, use_cache=False),
                       beams)

    single = torch.tensor([[5, 7, 9, 11]])
    full = model.generate(single, max_new_tokens=8)
    cache = DynamicCache()
    model(input_ids=single[:, :3], past_key_values=cache, use_cache=True)
    assert torch.equal(model.generate(single, past_key_values=cache, max_new_tokens=8), full)
    embeds = model.params["embed"][single]
    from_embeds = model.generate(inputs_embeds=embeds, max_new_tokens=8)
    assert torch.equal(from_embeds, full[:, 4:])  # only new tokens, as the reference

    class CustomPrepare(TinyLM):
        def prepare_inputs_for_generation(self, input_ids, **kwargs):
            self.prepared = getattr(self, "prepared", 0) + 1
            return super().prepare_inputs_for_generation(input_ids, **kwargs)

    custom = CustomPrepare(model.config, dict(model.params.items())).eval()
    assert torch.equal(custom.generate(ids, attention_mask=mask, max_new_tokens=9), ref.sequences)
    assert custom.prepared == ref.sequences.shape[1] - ids.shape[1]


def test_decode_loop_calls_the_model_once_per_token(model):
    model.calls = 0
    out = model.generate(torch.tensor([[5, 7, 9, 11]]), max_new_tokens=6, eos_token_id=None)
    assert out.shape == (1, 10) and model.calls == 6


def test_outputs_and_aliases(model):
    out = model.generate(torch.tensor([[5, 7, 9]]), max_new_tokens=4, eos_token_id=None, return_dict_in_generate=True,
                         output_scores=True, output_attentions=True, output_hidden_states=True)
    assert isinstance(out, ModelOutput) and isinstance(out, GenerateDecoderOnlyOutput)
    assert GreedySearchDecoderOnlyOutput is SampleDecoderOnlyOutput is GenerateDecoderOnlyOutput
    assert BeamSearchDecoderOnlyOutput is GenerateBeamDecoderOnlyOutput
    assert list(out.keys()) == ["sequences", "scores", "attentions", "hidden_states", "past_key_values"]
    assert out[0] is out.sequences and out["scores"] is out.scores and out.logits is None
    assert len(out.scores) == len(out.attentions) == len(out.hidden_states) == 4
    assert out.attentions[0][0].shape[-2:] == (3, 3) and out.attentions[1][0].shape[-2:] == (1, 4)
    assert isinstance(out.past_key_values, DynamicCache) and out.past_key_values.get_seq_length() == 6
    beam = model.generate(torch.tensor([[5, 7, 9]]), max_new_tokens=4, num_beams=2, return_dict_in_generate=True)
    assert isinstance(beam, GenerateBeamDecoderOnlyOutput) and beam.sequences_scores is None
    assert beam.beam_indices is not None


# ---------------------------------------------------------------------------------------------------------------
# bad input and settings: clear errors or the reference's behaviour, never a hang
# ---------------------------------------------------------------------------------------------------------------
def test_bad_lengths_and_inputs(model):
    ids = torch.tensor([[5, 7, 9, 11]])
    for value in (0, -2):
        with pytest.raises(ValueError, match="max_new_tokens"):
            model.generate(ids, max_new_tokens=value)
    with pytest.raises(ValueError, match="empty"):
        model.generate(torch.zeros((1, 0), dtype=torch.long), max_new_tokens=3)
    with pytest.raises(ValueError, match=r"\[batch, length\]"):
        model.generate(torch.tensor([5, 7, 9]), max_new_tokens=3)
    with pytest.raises(ValueError, match="Input length of input_ids is 4, but `max_length` is set to 4"):
        model.generate(ids, max_length=4)
    with pytest.raises(ValueError, match="not used by the model: \\['temprature'\\]"):
        model.generate(ids, max_new_tokens=3, temprature=0.5)
    with pytest.raises(ValueError, match="streamer"):
        model.generate(ids, max_new_tokens=3, num_beams=2, streamer=TextStreamer(None))
    with pytest.raises(ValueError, match="tokenizer"):
        model.generate(ids, max_new_tokens=3, stop_strings=["x"])
    with pytest.raises(ValueError, match="num_return_sequences"):
        model.generate(ids, max_new_tokens=3, num_return_sequences=2)
    with pytest.raises(ValueError, match="inputs"):
        model.generate(ids, input_ids=ids, max_new_tokens=3)
    with pytest.raises(NotImplementedError, match="Contrastive"):
        model.generate(ids, max_new_tokens=3, penalty_alpha=0.6, top_k=4)


def test_length_conflicts_follow_the_reference(model):
    ids = torch.tensor([[5, 7, 9, 11]])
    with henkan_logs() as logs:
        out = model.generate(ids, max_new_tokens=3, max_length=30, eos_token_id=None)
    assert out.shape[1] == 7 and any("`max_new_tokens` will take precedence" in m for m in logs)
    with pytest.warns(UserWarning, match="Unfeasible length constraints"):
        out = model.generate(ids, max_length=8, min_length=12)
    assert out.shape[1] == 8  # EOS forbidden throughout, stops at max_length
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.generate(ids, max_new_tokens=3, min_new_tokens=5)
    assert any("`min_new_tokens` (5), when added to the prompt length (4)" in str(w.message) for w in caught)
    # no max_new_tokens: the default max_length of 20 means 20 new tokens (capped by max_position_embeddings)
    assert model.generate(ids, eos_token_id=None).shape[1] == 24
    long_prompt = torch.arange(3, 33).remainder(30).add(3)[None].clamp(max=31)
    assert model.generate(long_prompt, eos_token_id=None).shape[1] == 48


def test_eos_outside_vocabulary_runs_to_max_length(model):
    ids = torch.tensor([[5, 7, 9, 11]])
    with henkan_logs() as logs:
        out = model.generate(ids, max_new_tokens=15, eos_token_id=1000, pad_token_id=0)
    assert out.shape[1] == 19
    assert any("outside the vocabulary" in m for m in logs)
    out = model.generate(ids, max_new_tokens=15, eos_token_id=[1000, 2], pad_token_id=0)
    assert out[0, -1].item() == 2 and out.shape[1] < 19


def test_special_token_warnings(model):
    ids = torch.tensor([[5, 7, 9, 11]])
    with henkan_logs() as logs:
        model.generate(ids, max_new_tokens=3, pad_token_id=None)
    assert "Setting `pad_token_id` to `eos_token_id`:2 for open-end generation." in logs
    with henkan_logs() as logs:
        model.generate(torch.tensor([[5, 7, 9, 0], [3, 4, 5, 6]]), max_new_tokens=3)
    assert any("right-padding was detected" in m for m in logs)
    with pytest.raises(ValueError, match="bos_token_id"):
        model.generate(max_new_tokens=3, bos_token_id=None)
    assert model.generate(max_new_tokens=3)[0, 0].item() == 1  # starts from bos_token_id


def test_inferred_attention_mask_equals_explicit(model):
    ids, mask = _prompt([[0, 0, 5, 7], [3, 4, 5, 6]])
    assert torch.equal(model.generate(ids, max_new_tokens=6), model.generate(ids, attention_mask=mask,
                                                                            max_new_tokens=6))


def test_user_processors_and_criteria(model):
    ids = torch.tensor([[5, 7, 9, 11]])

    class Ban(LogitsProcessor):
        def __call__(self, input_ids, scores):
            assert input_ids.is_contiguous()  # user code may .view() it, as with the reference
            return scores.index_fill(1, torch.tensor([21, 2]), float("-inf"))

    out = model.generate(ids, max_new_tokens=6, logits_processor=LogitsProcessorList([Ban()]))
    assert 21 not in out[0, 4:].tolist() and 2 not in out[0, 4:].tolist() and out.shape[1] == 10

    class StopAfter(StoppingCriteria):
        def __init__(self, n):
            self.n = n

        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), input_ids.shape[1] >= self.n, dtype=torch.bool)

    assert model.generate(ids, max_new_tokens=10, stopping_criteria=StoppingCriteriaList([StopAfter(6)])).shape[1] == 6
    # a user MaxLengthCriteria replaces the one generate() builds
    with henkan_logs():
        out = model.generate(ids, max_new_tokens=10, eos_token_id=None,
                             stopping_criteria=StoppingCriteriaList([MaxLengthCriteria(7)]))
    assert out.shape[1] == 7
    allowed = model.generate(ids, max_new_tokens=5, prefix_allowed_tokens_fn=lambda b, s: [3, 4])
    assert set(allowed[0, 4:].tolist()) <= {3, 4}


def test_stopping_criteria_classes():
    ids = torch.tensor([[1, 2, 3], [4, 5, 2]])
    assert MaxLengthCriteria(3)(ids, None).tolist() == [True, True]
    assert MaxLengthCriteria(4)(ids, None).tolist() == [False, False]
    assert EosTokenCriteria(2)(ids, None).tolist() == [False, True]
    assert EosTokenCriteria([3, 2])(ids, None).tolist() == [True, True]
    assert MaxTimeCriteria(0.0, initial_timestamp=0.0)(ids, None).tolist() == [True, True]
    assert MaxTimeCriteria(60.0)(ids, None).tolist() == [False, False]
    both = StoppingCriteriaList([MaxLengthCriteria(10), EosTokenCriteria(3)])
    assert both(ids, None).tolist() == [True, False] and both.max_length == 10


# ---------------------------------------------------------------------------------------------------------------
# stop strings and streamers, with the small byte-level BPE tokenizer
# ---------------------------------------------------------------------------------------------------------------
TEXT = _json("text.json")


@pytest.fixture(scope="module")
def tokenizer():
    from henkan.tokenization import AutoTokenizer

    return AutoTokenizer.from_pretrained(os.path.join(HERE, "fixtures", "tokenizers", "gpt2"))


def test_stop_strings_match_reference(tokenizer):
    for case in TEXT["stop"]:
        if case.get("error"):
            with pytest.raises(ValueError, match="unable to identify tokens"):
                StopStringCriteria(tokenizer, case["stop_strings"])
            continue
        criteria = StopStringCriteria(tokenizer, case["stop_strings"])
        ids = case["ids"]
        done = [bool(criteria(torch.tensor([ids[: i + 1]]), None)[0]) for i in range(len(ids))]
        assert done == case["done"], (case["text"], case["stop_strings"])
        assert criteria(torch.tensor(case["batch"]), None).tolist() == case["batch_done"]


def test_generate_with_stop_strings(model, tokenizer):
    case = TEXT["generate"]
    ids = torch.tensor(case["prompt"])
    assert model.generate(ids, max_new_tokens=12).tolist() == case["full"]
    out = model.generate(ids, max_new_tokens=12, stop_strings=[case["stop_string"]], tokenizer=tokenizer)
    assert out.tolist() == case["stopped"]
    model.generation_config.stop_strings = case["stop_string"]
    try:  # from the model's generation config too
        assert model.generate(ids, max_new_tokens=12, tokenizer=tokenizer).tolist() == case["stopped"]
    finally:
        model.generation_config.stop_strings = None


def test_text_streamer_matches_reference(tokenizer):
    class Recorder(TextStreamer):
        def on_finalized_text(self, text, stream_end=False):
            self.pieces.append([text, stream_end])

    for case in TEXT["stream"]:
        streamer = Recorder(tokenizer, skip_prompt=case["skip_prompt"], **case["decode_kwargs"])
        streamer.pieces = []
        ids, split = case["ids"], case["split"]
        streamer.put(torch.tensor([ids[:split]]))
        for token in ids[split:]:
            streamer.put(torch.tensor([token]))
        streamer.end()
        assert streamer.pieces == case["pieces"]
    with pytest.raises(ValueError, match="batch size 1"):
        TextStreamer(tokenizer).put(torch.tensor([[1, 2], [3, 4]]))


def test_streamers_with_generate(model, tokenizer, capsys):
    ids = torch.tensor([[20, 21, 22]])
    expected = model.generate(ids, max_new_tokens=10)
    model.generate(ids, max_new_tokens=10, streamer=TextStreamer(tokenizer))
    assert capsys.readouterr().out == tokenizer.decode(expected[0]) + "\n"
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, timeout=30)
    thread = threading.Thread(target=model.generate, kwargs={"inputs": ids, "max_new_tokens": 10,
                                                            "streamer": streamer})
    thread.start()
    text = "".join(streamer)
    thread.join()
    assert text == tokenizer.decode(expected[0, 3:])


# ---------------------------------------------------------------------------------------------------------------
# the decoder checkpoints (gpt2, llama) of make_decoders.py
# ---------------------------------------------------------------------------------------------------------------
DECODERS = _json("decoders.json")
DECODERS_GOLD = load_file(os.path.join(GEN, "decoders.safetensors"))
DECODER_DIR = os.path.join(HERE, "fixtures", "decoders")


@pytest.fixture(scope="module")
def decoders():
    from henkan import AutoModelForCausalLM

    return {name: AutoModelForCausalLM.from_pretrained(os.path.join(DECODER_DIR, name))
            for name in sorted({case["folder"] for case in DECODERS.values()})}


@pytest.mark.parametrize("key", sorted(DECODERS))
def test_decoder_scores_match_reference(decoders, key):
    case = DECODERS[key]
    model = decoders[case["folder"]]
    golden = load_file(os.path.join(DECODER_DIR, case["folder"], "golden.safetensors"))
    if case["seed"] is not None:
        set_seed(case["seed"])
    out = model.generate(golden["generate.batch.input_ids"], attention_mask=golden["generate.batch.attention_mask"],
                         **case["kwargs"])
    assert torch.equal(out.sequences, DECODERS_GOLD[f"{key}.sequences"])
    torch.testing.assert_close(torch.stack(out.scores), DECODERS_GOLD[f"{key}.scores"], rtol=1e-4, atol=1e-4)
    if f"{key}.sequences_scores" in DECODERS_GOLD:
        torch.testing.assert_close(out.sequences_scores, DECODERS_GOLD[f"{key}.sequences_scores"], rtol=1e-4,
                                   atol=1e-4)
        assert torch.equal(out.beam_indices, DECODERS_GOLD[f"{key}.beam_indices"].to(out.beam_indices.dtype))


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_decoder_generate_matches_reference_goldens(decoders, name):
    """The greedy and beam-search goldens make_decoders.py stored, single prompt and left-padded batch, through the
    default path and the static cache."""
    model = decoders[name]
    golden = load_file(os.path.join(DECODER_DIR, name, "golden.safetensors"))
    single = golden["generate.single.input_ids"]
    batch, mask = golden["generate.batch.input_ids"], golden["generate.batch.attention_mask"]
    assert torch.equal(model.generate(single, max_new_tokens=8, do_sample=False), golden["generate.greedy.single"])
    assert torch.equal(model.generate(batch, attention_mask=mask, max_new_tokens=8, do_sample=False),
                       golden["generate.greedy.batch"])
    assert torch.equal(model.generate(batch, attention_mask=mask, max_new_tokens=8, cache_implementation="static"),
                       golden["generate.greedy.batch"])
    assert torch.equal(model.generate(single, num_beams=3, max_new_tokens=6), golden["generate.beam.single"])
    assert torch.equal(model.generate(batch, attention_mask=mask, num_beams=3, max_new_tokens=6),
                       golden["generate.beam.batch"])
    set_seed(5)
    sampled = model.generate(batch, attention_mask=mask, max_new_tokens=8, do_sample=True)
    set_seed(5)
    assert torch.equal(model.generate(batch, attention_mask=mask, max_new_tokens=8, do_sample=True), sampled)
    assert torch.equal(model.generate(batch, attention_mask=mask, max_new_tokens=8, do_sample=True, top_k=1),
                       golden["generate.greedy.batch"])


@pytest.mark.parametrize("folder", ["llama", "llama-rope-dynamic"])
def test_what_generate_creates_stays_usable_after_it(folder):
    """The decoding loop runs in inference mode unless what it creates outlives the call. The sequences come back
    as a normal tensor a model may train on; a cache the caller passed in, or asked back, goes on being updated by
    plain forwards; a static cache kept on the model serves calls of either kind; rotary tables a long generation
    grew do not stop training."""
    from henkan import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(os.path.join(DECODER_DIR, folder))
    ids = torch.tensor([[1, 5, 9, 22]])
    long = model.config.max_position_embeddings + 4 - ids.shape[1]  # (past the dynamic rope's trained length)
    sequences = model.generate(ids, max_new_tokens=long, do_sample=False, eos_token_id=None)
    assert not sequences.is_inference()
    model(sequences, labels=sequences).loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    cache = DynamicCache()
    sequences = model.generate(ids, max_new_tokens=3, past_key_values=cache, do_sample=False)
    out = model.generate(ids, max_new_tokens=3, do_sample=False, return_dict_in_generate=True)
    with torch.no_grad():
        model(sequences[:, -1:], past_key_values=cache)
        model(out.sequences[:, -1:], past_key_values=out.past_key_values)
    assert cache.get_seq_length() == out.past_key_values.get_seq_length() == ids.shape[1] + 3
    kept = [model.generate(ids, max_new_tokens=3, cache_implementation="static", do_sample=False,
                           return_dict_in_generate=as_dict) for as_dict in (False, True, False)]
    assert torch.equal(kept[0], kept[1].sequences) and torch.equal(kept[0], kept[2])
