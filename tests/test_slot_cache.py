"""SlotCache: the server's cache of fixed slots. Whatever way sequences reach it (packed prompts, chunks, decode
steps of rows at different lengths), every family's logits equal those of the same sequence run alone with a
DynamicCache."""

import os

import pytest
import torch

from conftest import FIXTURES
from henkan import AutoModelForCausalLM, DynamicCache, SlotCache

FAMILIES = ["text_generation/llama", "text_generation/gpt2", "decoders/bloom", "decoders/codegen",
            "decoders/mistral", "decoders/qwen2"]


@pytest.mark.parametrize("path", FAMILIES)
@torch.no_grad()
def test_packed_prefill_chunks_and_ragged_decode_equal_single_sequences(path):
    model = AutoModelForCausalLM.from_pretrained(os.path.join(FIXTURES, path)).eval()
    generator = torch.Generator().manual_seed(0)
    prompts = [torch.randint(3, model.config.vocab_size, (n,), generator=generator) for n in (5, 9, 3)]
    alone, caches = [], []
    for prompt in prompts:
        cache = DynamicCache()
        alone.append(model(prompt[None], past_key_values=cache, use_cache=True).logits[0, -1])
        caches.append(cache)

    cache = SlotCache(model.config, max_batch_size=4, max_cache_len=32)
    positions, last = cache.plan_packed([0, 1, 2], [len(p) for p in prompts])
    assert positions.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2]] and last.tolist() == [4, 13, 16]
    packed = model(torch.cat(prompts)[None], past_key_values=cache, position_ids=positions, use_cache=True,
                   logits_to_keep=last).logits[0]
    torch.testing.assert_close(packed, torch.stack(alone), atol=1e-5, rtol=0)
    assert cache.lengths == [5, 9, 3, 0]

    for step in range(3):  # rows of lengths 5, 9, 3 decode side by side
        tokens = torch.tensor([7 + step, 8 + step, 9 + step])
        mask, positions = cache.plan_decode(3)
        ragged = model(tokens[:, None], past_key_values=cache, attention_mask=mask, position_ids=positions,
                       use_cache=True).logits[:, -1]
        for i in range(3):
            single = model(tokens[i:i + 1, None], past_key_values=caches[i], use_cache=True).logits[0, -1]
            torch.testing.assert_close(ragged[i], single, atol=1e-5, rtol=0)

    long = torch.randint(3, model.config.vocab_size, (12,), generator=generator)
    cache.plan_prefill(3, 7)
    model(long[None, :7], past_key_values=cache, use_cache=True)
    cache.plan_prefill(3, 5)
    chunked = model(long[None, 7:], past_key_values=cache, use_cache=True).logits[0, -1]
    torch.testing.assert_close(chunked, model(long[None]).logits[0, -1], atol=1e-5, rtol=0)


@torch.no_grad()
def test_slots_move_and_refuse_overflow():
    model = AutoModelForCausalLM.from_pretrained(os.path.join(FIXTURES, "text_generation/llama")).eval()
    cache = SlotCache(model.config, max_batch_size=2, max_cache_len=8, dtype=torch.float32)
    prompt = torch.tensor([[5, 6, 7, 8]])
    cache.plan_prefill(0, 4)
    model(prompt, past_key_values=cache, use_cache=True)
    cache.copy_slot(0, 1)
    assert cache.lengths == [4, 4]
    mask, positions = cache.plan_decode(2)
    out = model(torch.tensor([[9], [9]]), past_key_values=cache, attention_mask=mask, position_ids=positions,
                use_cache=True).logits
    torch.testing.assert_close(out[0], out[1])
    cache.free(1)
    assert cache.lengths == [5, 0]
    with pytest.raises(ValueError, match="exceed max_cache_len"):
        cache.plan_prefill(0, 4)
    with pytest.raises(ValueError, match="empty slots"):
        cache.plan_packed([0], [2])
    with pytest.raises(NotImplementedError, match="free"):
        cache.crop(2)
    assert "slots=2" in repr(cache)
