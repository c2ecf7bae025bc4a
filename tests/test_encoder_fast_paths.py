"""The encoder's fast paths give what the plain computation gives: a pooled head's last layer at the first token
only (outputs and gradients), activations inside oneDNN's matmul, padding skipped only where it pays."""

import pytest
import torch
import torch.nn.functional as F

import henkan
from henkan.layers import Packing, activation, encoder_mask, linear_act, linear_layer

CONFIG = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
              max_position_embeddings=64, num_labels=3)


def batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 99, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 4:] = 0
    return {"input_ids": ids, "attention_mask": mask}


def model(cls=henkan.BertForSequenceClassification, **overrides):
    torch.manual_seed(0)
    return cls(henkan.BertConfig(**{**CONFIG, **overrides}))


@pytest.mark.parametrize("attn", ["sdpa", "unpadded"])
@pytest.mark.parametrize("cls", [henkan.BertForSequenceClassification, henkan.RobertaForSequenceClassification])
def test_pooled_heads_run_the_last_layer_at_the_first_token_only(cls, attn, monkeypatch):
    m = model(cls).eval()
    m.config._attn_implementation = attn
    last = m.base_model.encoder.layer[-1]
    calls = []
    monkeypatch.setattr(last, "first_token", lambda *a: calls.append(1) or type(last).first_token(last, *a))
    with torch.no_grad():
        fast = m(**batch()).logits
        assert calls == [1]
        full = m(**batch(), output_hidden_states=True)  # every position asked for: the full last layer
        assert calls == [1] and full.hidden_states[-1].shape[1] == 11
        m.reads_first_token = False
        plain = m(**batch()).logits
    assert calls == [1]
    torch.testing.assert_close(fast, plain, atol=1e-6, rtol=0)
    torch.testing.assert_close(full.logits, plain, atol=1e-6, rtol=0)


def test_first_token_training_gives_the_full_layers_gradients():
    """Without dropout (its random draws differ in number), loss and every gradient are the plain ones."""
    grads = {}
    for fast in (True, False):
        m = model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
        m.reads_first_token = fast
        loss = m(**batch(), labels=torch.tensor([0, 2, 1])).loss
        loss.backward()
        grads[fast] = {n: p.grad for n, p in m.named_parameters()}
    assert set(grads[True]) == set(grads[False])
    for name, grad in grads[False].items():
        if grad is None:  # (the unused pooler of no head here; the token-type table rows)
            assert grads[True][name] is None, name
        else:
            torch.testing.assert_close(grads[True][name], grad, atol=1e-6, rtol=1e-5, msg=name)
    assert grads[True]["bert.encoder.layer.1.attention.self.query.weight"].abs().sum() > 0


VISION = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, image_size=32,
              patch_size=8, num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


@pytest.mark.parametrize("cls", [henkan.ViTForImageClassification, henkan.DeiTForImageClassification])
def test_class_token_classifiers_run_the_last_layer_at_the_class_token_only(cls, monkeypatch):
    torch.manual_seed(0)
    config = (henkan.DeiTConfig if "DeiT" in cls.__name__ else henkan.ViTConfig)(**VISION)
    m = cls(config)
    pixels = torch.randn(2, 3, 32, 32)
    last = m.base_model.encoder.layer[-1]
    calls = []
    monkeypatch.setattr(last, "first_token", lambda *a: calls.append(1) or type(last).first_token(last, *a))
    outputs, grads = {}, {}
    for fast in (True, False):
        m.zero_grad()
        m.reads_first_token = fast
        out = m(pixel_values=pixels, labels=torch.tensor([0, 2]))
        out.loss.backward()
        outputs[fast], grads[fast] = out.logits.detach(), {n: p.grad.clone() for n, p in m.named_parameters()}
    assert calls == [1]
    torch.testing.assert_close(outputs[True], outputs[False], atol=1e-6, rtol=0)
    for name, grad in grads[False].items():
        torch.testing.assert_close(grads[True][name], grad, atol=1e-6, rtol=1e-5, msg=name)
    with torch.no_grad():  # every position asked for: the full last layer
        full = m(pixel_values=pixels, output_hidden_states=True)
    assert calls == [1] and full.hidden_states[-1].shape[1] == m.base_model.embeddings.position_embeddings.shape[1]


@pytest.mark.parametrize("name", ["gelu", "gelu_new", "relu", "silu"])
def test_activation_inside_the_matmul_equals_the_separate_pass(name):
    layer = linear_layer(256, 512)
    x = torch.randn(20, 256)
    act = activation(name)
    with torch.inference_mode():
        torch.testing.assert_close(linear_act(layer, x, act), act(F.linear(x, layer.weight, layer.bias)),
                                   atol=1e-6, rtol=1e-6)
        seen = []
        layer.register_forward_hook(lambda module, args, out: seen.append(out.shape))
        linear_act(layer, x, act)  # a hooked layer runs its own forward, hook included
    assert seen == [torch.Size([20, 512])]


def test_padding_is_skipped_only_where_it_pays():
    config = henkan.BertConfig(**CONFIG)
    config._attn_implementation = "unpadded"
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[1, -1] = 0  # 2.5% padding, short rows: attention on the padded grid with an additive mask
    assert isinstance(encoder_mask(config, mask, torch.float32), torch.Tensor)
    mask[1, 10:] = 0  # 25%
    packing = encoder_mask(config, mask, torch.float32)
    assert isinstance(packing, Packing) and not packing.by_sequence
    long = torch.ones(2, Packing.by_sequence_from, dtype=torch.long)
    long[1, -1] = 0  # one padding token, rows long enough for attention one sequence at a time
    packing = encoder_mask(config, long, torch.float32)
    assert isinstance(packing, Packing) and packing.by_sequence
    length = Packing.by_sequence_from
    assert packing.spans == [(0, length), (length, 2 * length - 1)]
    m = model().eval()
    m.config._attn_implementation = "unpadded"
    inputs = batch()
    with torch.no_grad():
        packed = m(**inputs, output_hidden_states=True).hidden_states[-1]
        m.config._attn_implementation = "sdpa"
        padded = m(**inputs, output_hidden_states=True).hidden_states[-1]
    real = inputs["attention_mask"].bool()
    torch.testing.assert_close(packed[real], padded[real], atol=1e-6, rtol=0)
    assert packed[~real].abs().max() == 0  # Packing leaves zeros at the padding


by_sequence = Packing.attend
NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
UNPADDED_FAMILIES = {  # the encoders whose layers take encoder_mask's Packing (two layers each)
    "bert": lambda: model(max_position_embeddings=128, **NO_DROPOUT),
    "albert": lambda: henkan.AlbertForSequenceClassification(henkan.AlbertConfig(
        vocab_size=99, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, max_position_embeddings=128, num_labels=3, **NO_DROPOUT)),
    "distilbert": lambda: henkan.DistilBertForSequenceClassification(henkan.DistilBertConfig(
        vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=128, num_labels=3,
        dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0)),
}


@pytest.mark.parametrize("family", list(UNPADDED_FAMILIES))
@pytest.mark.parametrize("holes", [False, True])
def test_attention_sequence_by_sequence_equals_the_padded_grid(family, holes, monkeypatch):
    """Long rows in "unpadded" mode attend one sequence at a time over its own tokens: the real tokens' outputs and
    every gradient are the masked grid's (a mask with holes in a row too)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 99, (3, 70), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 66:], mask[2, 9:] = 0, 0
    if holes:
        mask[0, 5:9] = 0
    labels = torch.tensor([0, 2, 1])
    calls = []
    monkeypatch.setattr(Packing, "attend", lambda self, *a: calls.append(1) or by_sequence(self, *a))
    results = {}
    for attn in ("sdpa", "unpadded"):
        torch.manual_seed(0)
        m = UNPADDED_FAMILIES[family]().train()
        m.config._attn_implementation = attn
        out = m(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
        out.loss.backward()
        results[attn] = out, {n: p.grad for n, p in m.named_parameters() if p.grad is not None}
    assert len(calls) == 2  # both layers, in the unpadded run only
    real = mask.bool()
    (padded, padded_grads), (packed, packed_grads) = results["sdpa"], results["unpadded"]
    torch.testing.assert_close(packed.hidden_states[-1][real], padded.hidden_states[-1][real], atol=1e-5, rtol=0)
    torch.testing.assert_close(packed.logits, padded.logits, atol=1e-5, rtol=0)
    assert packed_grads.keys() == padded_grads.keys()
    for name, grad in padded_grads.items():
        torch.testing.assert_close(packed_grads[name], grad, atol=1e-5, rtol=1e-4, msg=name)
