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


def test_padding_is_skipped_only_when_the_batch_has_enough_of_it():
    config = henkan.BertConfig(**CONFIG)
    config._attn_implementation = "unpadded"
    mask = torch.ones(2, 20, dtype=torch.long)
    mask[1, -1] = 0  # 2.5% padding: attention on the padded grid with an additive mask
    assert isinstance(encoder_mask(config, mask, torch.float32), torch.Tensor)
    mask[1, 10:] = 0  # 25%
    assert isinstance(encoder_mask(config, mask, torch.float32), Packing)
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
