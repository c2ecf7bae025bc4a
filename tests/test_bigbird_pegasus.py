"""BigBird-Pegasus: the long (block-sparse) inputs of the reference's goldens, the block-sparse attention against
dense attention over the same pattern, the switch to full attention for short inputs, padding to whole blocks, the
random blocks of training, and bad input. (tests/test_seq2seq.py checks the short inputs, the cache and the generate
cases of the same fixtures; see tests/fixtures/make_seq2seq.py.)"""

import logging

import numpy as np
import pytest
import torch

import henkan
from henkan.sparse_attention import BlockSparseLayout, block_sparse_attention
from test_seq2seq import check_outputs, close, golden, model_for

LONG_GOLDENS = ["bigbird-pegasus", "bigbird-pegasus-forsequenceclassification",
                "bigbird-pegasus-forquestionanswering"]

TINY = dict(vocab_size=64, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
            decoder_attention_heads=2, encoder_ffn_dim=24, decoder_ffn_dim=24, block_size=4, num_random_blocks=2,
            max_position_embeddings=96)
SHORT, LONG = 36, 50  # (5 + 2 * 2) * 4 = 36 tokens attend fully; 50 run block-sparse (padded to 52)


def tiny_model(cls="BigBirdPegasusForConditionalGeneration", **overrides):
    torch.manual_seed(0)
    return getattr(henkan, cls)(henkan.BigBirdPegasusConfig(**{**TINY, **overrides})).eval()


def ids(length, batch=2, seed=1):
    return torch.randint(3, TINY["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("folder", LONG_GOLDENS)
def test_long_inputs_match_the_reference(folder):
    """Outputs (the encoder's per-layer states and dense attention weights at the padded length included) and loss
    of a 2 x 50 batch, row 1 padded by 13, that runs block-sparse with the reference's eval-mode blocks."""
    meta, data = golden(folder)
    model = model_for(folder)
    inputs = {"input_ids": data["input.long.input_ids"], "attention_mask": data["input.long.attention_mask"]}
    labels = {k[len("input."):]: v for k, v in data.items()
              if k in ("input.labels", "input.start_positions", "input.end_positions")}
    decoder = {"decoder_input_ids": data["input.decoder_input_ids"]} if "input.decoder_input_ids" in data else {}
    with torch.no_grad():
        out = model(**inputs, **decoder, output_hidden_states=True, output_attentions=True, use_cache=False)
        loss = model(**inputs, **labels, use_cache=False).loss
    check_outputs(out, data, "output.long", folder)
    close(loss, data["output.long.loss"], f"{folder} long loss")


@pytest.fixture
def henkan_warnings():
    henkan.logging._warning_once.cache_clear()
    messages = []

    class Handler(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Handler(logging.WARNING)
    logging.getLogger("henkan").addHandler(handler)
    yield messages
    logging.getLogger("henkan").removeHandler(handler)


# the attention against a dense computation of the same pattern -------------------------------------------------


def dense_attention(q, k, v, attention_mask, heads, block, visible, bonus=None):
    """Softmax attention where `visible` [heads, seq, seq] says which keys each query sees, padded keys get -10000
    and `bonus` is added to the scores (log of how many times a key is counted)."""
    batch, length, hidden = q.shape
    q, k, v = (t.view(batch, length, heads, -1).transpose(1, 2) for t in (q, k, v))
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    scores = scores + (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
    if bonus is not None:
        scores = scores + bonus
    weights = scores.masked_fill(~visible, float("-inf")).softmax(-1)
    return (weights @ v).transpose(1, 2).reshape(batch, length, hidden), weights


def block_pattern(index, n, block):
    """[heads, seq, seq]: the keys each query sees, from the per-head window and random blocks [heads, n - 2, slots]
    of the middle query blocks; the first and last blocks see and are seen by every block."""
    heads = index.shape[0]
    blocks = torch.zeros(heads, n, n, dtype=torch.bool)
    blocks[:, 0] = blocks[:, -1] = blocks[:, :, 0] = blocks[:, :, -1] = True
    blocks[torch.arange(heads)[:, None, None], torch.arange(1, n - 1)[None, :, None], index] = True
    return blocks.repeat_interleave(block, 1).repeat_interleave(block, 2)


def qkv_and_mask(length, heads=2, dim=8, padded=3):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, length, heads * dim, generator=g) for _ in range(3))
    mask = torch.ones(2, length, dtype=torch.long)
    mask[1, -padded:] = 0
    return q, k, v, mask


@pytest.mark.parametrize("random_blocks", [2, 0])
def test_eval_attention_is_dense_attention_with_the_first_block_counted_again_per_random_block(random_blocks):
    # the reference's eval mode picks block 0 for every random block: dense attention over the window and the
    # global blocks, with the first block's keys counted 1 + num_random_blocks times
    block, n, heads = 4, 12, 2
    q, k, v, mask = qkv_and_mask(n * block, heads)
    layout = BlockSparseLayout(mask, block, random_blocks, q.dtype)
    context, weights = block_sparse_attention(q, k, v, layout, heads, output_attentions=True)
    fast, none = block_sparse_attention(q, k, v, layout, heads)
    window = torch.arange(1, n - 1)[:, None] + torch.tensor([-1, 0, 1])
    visible = block_pattern(window.expand(heads, -1, -1), n, block)
    bonus = torch.zeros(n * block, n * block)
    bonus[block:-block, :block] = np.log(1 + random_blocks)
    expected, expected_weights = dense_attention(q, k, v, mask, heads, block, visible, bonus)
    real = mask.bool()
    torch.testing.assert_close(context[real], expected[real], atol=1e-6, rtol=0)
    torch.testing.assert_close(fast, context, atol=1e-6, rtol=0)
    assert none is None and (context[~real] == 0).all()
    # the reference's dense weights show one copy of the first block (the last random one) for the middle rows
    shown = expected_weights.clone()
    shown[:, :, block:-block, :block] /= 1 + random_blocks
    for row in (0, 1):
        seen = real[row]
        torch.testing.assert_close(weights[row][:, seen][:, :, seen], shown[row][:, seen][:, :, seen], atol=1e-6,
                                   rtol=0)


def test_training_attention_is_dense_attention_over_the_drawn_blocks():
    block, n, heads, random_blocks = 4, 12, 2, 2
    q, k, v, mask = qkv_and_mask(n * block, heads)
    layout = BlockSparseLayout(mask, block, random_blocks, q.dtype)
    torch.manual_seed(7)
    drawn = layout.random_blocks(heads, training=True)
    torch.manual_seed(7)
    context, weights = block_sparse_attention(q, k, v, layout, heads, training=True, output_attentions=True)
    window = torch.arange(1, n - 1)[:, None] + torch.tensor([-1, 0, 1])
    index = torch.cat([window.expand(heads, -1, -1), drawn], dim=-1)
    expected, expected_weights = dense_attention(q, k, v, mask, heads, block, block_pattern(index, n, block))
    real = mask.bool()
    torch.testing.assert_close(context[real], expected[real], atol=1e-6, rtol=0)
    torch.testing.assert_close(weights[0], expected_weights[0], atol=1e-6, rtol=0)


def test_random_blocks_are_drawn_with_torch_outside_the_window_and_the_global_blocks():
    n, heads, random_blocks = 16, 4, 3
    layout = BlockSparseLayout(torch.ones(1, n * 2, dtype=torch.long), 2, random_blocks, torch.float32)
    numpy_state = np.random.get_state()[1].copy()
    torch.manual_seed(0)
    first = layout.random_blocks(heads, training=True)
    torch.manual_seed(0)
    assert torch.equal(layout.random_blocks(heads, training=True), first)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert first.shape == (heads, n - 2, random_blocks)
    rows = torch.arange(1, n - 1)[None, :, None]
    assert ((first - rows).abs() > 1).all() and (first > 0).all() and (first < n - 1).all()
    assert all(len(set(row.tolist())) == random_blocks for row in first.reshape(-1, random_blocks))
    assert not torch.equal(first[0], first[1])  # each head draws its own
    assert torch.equal(layout.random_blocks(heads, training=False), torch.zeros(1, n - 2, random_blocks).long())


# the model: full attention below the threshold, padding, per-call switching -----------------------------------


def test_short_inputs_attend_fully_with_a_warning(henkan_warnings):
    sparse, full = tiny_model(), tiny_model(attention_type="original_full")
    with torch.no_grad():
        for length in (12, SHORT):
            torch.testing.assert_close(sparse(input_ids=ids(length), decoder_input_ids=ids(5)).logits,
                                       full(input_ids=ids(length), decoder_input_ids=ids(5)).logits, atol=0, rtol=0)
    assert sum("shorter inputs attend fully" in m for m in henkan_warnings) == 1
    with torch.no_grad():
        assert not torch.allclose(sparse(input_ids=ids(LONG), decoder_input_ids=ids(5)).logits,
                                  full(input_ids=ids(LONG), decoder_input_ids=ids(5)).logits)


def test_the_switch_is_per_call_not_sticky():
    # the reference keeps full attention for every later input once it has seen a short one; henkan decides per
    # call, as a freshly loaded reference model computes
    model = tiny_model()
    with torch.no_grad():
        before = model(input_ids=ids(LONG), decoder_input_ids=ids(5)).logits
        model(input_ids=ids(12), decoder_input_ids=ids(5))
        torch.testing.assert_close(model(input_ids=ids(LONG), decoder_input_ids=ids(5)).logits, before, atol=0, rtol=0)
        model.get_encoder().set_attention_type("original_full")
        full = model(input_ids=ids(LONG), decoder_input_ids=ids(5)).logits
    assert not torch.allclose(full, before)


def test_long_inputs_are_padded_to_whole_blocks_and_cut_back(henkan_warnings):
    model = tiny_model("BigBirdPegasusModel")
    mask = torch.ones(2, LONG, dtype=torch.long)
    mask[1, -7:] = 0
    with torch.no_grad():
        out = model(input_ids=ids(LONG), attention_mask=mask, decoder_input_ids=ids(5), output_hidden_states=True,
                    output_attentions=True)
    assert out.encoder_last_hidden_state.shape == (2, LONG, 16)
    # as the reference returns them: the per-layer states and weights keep the padding
    assert [h.shape[1] for h in out.encoder_hidden_states] == [52] * 3
    assert out.encoder_attentions[0].shape == (2, 2, 52, 52)
    assert any("padded from 50 to 52" in m for m in henkan_warnings)


def test_inputs_embeds_and_head_mask():
    model = tiny_model()
    embeds = model.get_input_embeddings()(ids(LONG))
    with torch.no_grad():
        torch.testing.assert_close(model(inputs_embeds=embeds, decoder_input_ids=ids(5)).logits,
                                   model(input_ids=ids(LONG), decoder_input_ids=ids(5)).logits, atol=1e-6, rtol=0)
        masked = model(input_ids=ids(12), decoder_input_ids=ids(5), head_mask=torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
        assert not torch.allclose(masked.logits, model(input_ids=ids(12), decoder_input_ids=ids(5)).logits)


def test_training_draws_blocks_per_layer_and_checkpointing_replays_them():
    model = tiny_model(dropout=0.0)
    model.train()

    def gradients():
        model.zero_grad()
        torch.manual_seed(3)
        model(input_ids=ids(LONG), labels=ids(5)).loss.backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    plain = gradients()
    model.gradient_checkpointing_enable()
    for a, b in zip(plain, gradients()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_auto_classes_pick_the_family_classes(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    for auto, name in (("AutoModel", "Model"), ("AutoModelForSeq2SeqLM", "ForConditionalGeneration"),
                       ("AutoModelForSequenceClassification", "ForSequenceClassification"),
                       ("AutoModelForQuestionAnswering", "ForQuestionAnswering"),
                       ("AutoModelForCausalLM", "ForCausalLM")):
        assert type(getattr(henkan, auto).from_pretrained(tmp_path)) is getattr(henkan, "BigBirdPegasus" + name)


def test_config_aliases_and_positional_arguments():
    # (the defaults are checked against the reference's repr in test_seq2seq.py)
    config = henkan.BigBirdPegasusConfig(hidden_size=32, num_attention_heads=4, attention_probs_dropout_prob=0.2)
    assert (config.d_model, config.encoder_attention_heads, config.attention_dropout) == (32, 4, 0.2)
    config = henkan.BigBirdPegasusConfig(1000, 512, 3)
    assert (config.vocab_size, config.max_position_embeddings, config.encoder_layers, config.num_hidden_layers) == (
        1000, 512, 3, 3)


# bad input ----------------------------------------------------------------------------------------------------


def test_bad_input():
    with pytest.raises(ValueError, match=r"attention_type is 'sparse'; expected one of \['original_full', "
                                         r"'block_sparse'\]"):
        henkan.BigBirdPegasusConfig(**{**TINY, "attention_type": "sparse"})  # (the reference fails at the model)
    with pytest.raises(ValueError, match="attention_type must be"):
        tiny_model().get_encoder().set_attention_type("full")
    with pytest.raises(ValueError, match="block_size is 0; expected a positive integer"):
        tiny_model(block_size=0)
    with pytest.raises(ValueError, match="num_random_blocks is -1; expected a non-negative integer"):
        tiny_model(num_random_blocks=-1)
    with pytest.raises(ValueError, match=r"d_model \(16\) must be a multiple of encoder_attention_heads \(3\)"):
        tiny_model(encoder_attention_heads=3)
    with pytest.raises(ValueError, match="at most 96 .*max_position_embeddings"):
        tiny_model()(input_ids=ids(97), decoder_input_ids=ids(5))
    with pytest.raises(ValueError, match="multiple of block_size"):
        BlockSparseLayout(torch.ones(1, 50), 4, 2, torch.float32)
