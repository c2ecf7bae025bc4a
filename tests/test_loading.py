"""Checkpoint I/O: folders, the hub cache layout, dtypes, sharding, atomic saves and clear errors."""

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

import henkan
from henkan import AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification, BertModel
from conftest import FIXTURES, MODELS

BERT = os.path.join(MODELS, "bert-model")
IDS = torch.tensor([[5, 6, 7, 8, 9]])


def keys_of(folder):
    keys = set()
    for name in os.listdir(folder):
        if name.endswith(".safetensors") and name != "golden.safetensors":
            with safe_open(os.path.join(folder, name), "pt") as f:
                keys |= set(f.keys())
    return keys


def copy_fixture(name, tmp_path):
    return shutil.copytree(os.path.join(MODELS, name), tmp_path / name)


@pytest.mark.parametrize("folder", sorted(f for f in os.listdir(MODELS) if f != "bert-legacy-bin"))
def test_save_writes_the_reference_layout(folder, tmp_path):
    """henkan writes the same tensor names the reference wrote, so the reference loads them back."""
    model = AutoModel.from_pretrained(os.path.join(MODELS, folder)) if folder.endswith("-model") else \
        getattr(henkan, json.load(open(os.path.join(MODELS, folder, "config.json")))["architectures"][0]) \
        .from_pretrained(os.path.join(MODELS, folder))
    model.save_pretrained(tmp_path)
    assert keys_of(tmp_path) == keys_of(os.path.join(MODELS, folder))
    again = type(model).from_pretrained(tmp_path)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, atol=0, rtol=0, msg=name)


def test_sharded_save_and_load(tmp_path):
    model = AutoModelForMaskedLM.from_pretrained(os.path.join(MODELS, "bert-formaskedlm"))
    model.save_pretrained(tmp_path, max_shard_size="30KB")
    index = json.load(open(tmp_path / "model.safetensors.index.json"))
    shards = set(index["weight_map"].values())
    assert len(shards) > 1 and not (tmp_path / "model.safetensors").exists()
    again = AutoModelForMaskedLM.from_pretrained(tmp_path)
    torch.testing.assert_close(again(IDS).logits, model(IDS).logits)
    model.save_pretrained(tmp_path)  # back to one file: the old shards must not linger
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_dtypes():
    assert BertModel.from_pretrained(BERT, torch_dtype=torch.float16).dtype == torch.float16
    assert BertModel.from_pretrained(BERT, torch_dtype="bfloat16").dtype == torch.bfloat16
    assert BertModel.from_pretrained(BERT, dtype="auto").dtype == torch.float32
    model = BertModel.from_pretrained(BERT, torch_dtype=torch.bfloat16)
    assert model(IDS).last_hidden_state.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="Unknown torch_dtype 'float17'"):
        BertModel.from_pretrained(BERT, torch_dtype="float17")


def test_seed_load_time_options(minilm_path):
    """transformers-framework-notes: device_map="auto", torch_dtype=torch.float16, low_cpu_mem_usage=True."""
    model = AutoModel.from_pretrained(minilm_path, device_map="auto", torch_dtype=torch.float16,
                                      low_cpu_mem_usage=True)
    model.eval()
    assert model.dtype == torch.float16 and model.device.type == "cpu" and not model.training
    assert AutoModel.from_pretrained(BERT, device_map={"": "cpu"}).device.type == "cpu"


def test_no_random_init_when_loading(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("weights were initialised during a load")

    monkeypatch.setattr(henkan.PreTrainedModel, "_init_weights", boom)
    AutoModel.from_pretrained(BERT)


def test_config_overrides_and_mismatched_sizes(tmp_path, caplog):
    path = os.path.join(MODELS, "bert-forsequenceclassification")
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes=True"):
        AutoModelForSequenceClassification.from_pretrained(path, num_labels=5)
    model, info = AutoModelForSequenceClassification.from_pretrained(
        path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    assert model.classifier.out_features == 5
    assert {k for k, _, _ in info["mismatched_keys"]} == {"classifier.weight", "classifier.bias"}
    assert torch.isfinite(model.classifier.weight).all() and model.classifier.weight.std() > 0


def test_loading_report_names_missing_and_unexpected(caplog):
    model, info = AutoModelForSequenceClassification.from_pretrained(BERT, num_labels=2, output_loading_info=True)
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias"}
    assert info["unexpected_keys"] == []
    base, info = AutoModel.from_pretrained(os.path.join(MODELS, "bert-formaskedlm"), output_loading_info=True)
    assert any(k.startswith("cls.predictions") for k in info["unexpected_keys"])
    assert "pooler.dense.weight" in info["missing_keys"]


def test_unknown_argument_is_an_error():
    with pytest.raises(TypeError, match="not_an_option"):
        AutoModel.from_pretrained(BERT, not_an_option=3)


def test_missing_folder():
    with pytest.raises(OSError, match="does-not-exist"):
        AutoModel.from_pretrained("./does-not-exist")


def test_folder_without_weights(tmp_path):
    shutil.copy(os.path.join(BERT, "config.json"), tmp_path)
    with pytest.raises(OSError, match="No weights found"):
        AutoModel.from_pretrained(tmp_path)


def test_truncated_safetensors(tmp_path):
    folder = copy_fixture("bert-model", tmp_path)
    weights = os.path.join(folder, "model.safetensors")
    size = os.path.getsize(weights)
    with open(weights, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(OSError, match="truncated or corrupt") as err:
        AutoModel.from_pretrained(folder)
    assert "model.safetensors" in str(err.value)


def test_wrong_shape_weight(tmp_path):
    folder = copy_fixture("bert-model", tmp_path)
    config = json.load(open(os.path.join(folder, "config.json")))
    config["intermediate_size"] = 40
    json.dump(config, open(os.path.join(folder, "config.json"), "w"))
    with pytest.raises(RuntimeError, match=r"encoder\.layer\.0\.intermediate\.dense\.weight"):
        AutoModel.from_pretrained(folder)


class Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_pickle_with_objects_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = copy_fixture("bert-legacy-bin", tmp_path)
    state = torch.load(os.path.join(folder, "pytorch_model.bin"), weights_only=True)
    state["payload"] = Payload()
    torch.save(state, os.path.join(folder, "pytorch_model.bin"))
    with pytest.raises(OSError, match="Refusing to load"):
        AutoModel.from_pretrained(folder)
    assert not os.path.exists("pwned-by-pickle")
    with pytest.raises(ValueError, match="weights_only"):
        AutoModel.from_pretrained(folder, weights_only=False)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = AutoModel.from_pretrained(BERT)
    model.save_pretrained(tmp_path)
    expected = model(IDS).last_hidden_state
    other = BertModel(model.config)

    import safetensors.torch

    real = safetensors.torch.save_file

    def crash_midway(tensors, path, metadata=None):
        real(dict(list(tensors.items())[:3]), path, metadata=metadata)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        other.save_pretrained(tmp_path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    torch.testing.assert_close(AutoModel.from_pretrained(tmp_path)(IDS).last_hidden_state, expected)


def make_hub_cache(root, repo_id, source):
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>/files}."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(source, repo / "snapshots" / commit)
    return root


def test_offline_load_by_hub_id_from_the_cache(tmp_path, monkeypatch):
    cache = make_hub_cache(tmp_path / "hub", "tiny-org/tiny-bert", BERT)
    expected = AutoModel.from_pretrained(BERT)(IDS).last_hidden_state
    model = AutoModel.from_pretrained("tiny-org/tiny-bert", cache_dir=cache)
    torch.testing.assert_close(model(IDS).last_hidden_state, expected)
    for variable, value in [("HF_HUB_CACHE", cache), ("TRANSFORMERS_CACHE", cache), ("HF_HOME", tmp_path)]:
        for name in ("HF_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_HOME"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(variable, str(value))
        assert type(AutoModel.from_pretrained("tiny-org/tiny-bert")).__name__ == "BertModel"


def test_offline_miss_explains_what_to_do(tmp_path):
    with pytest.raises(OSError, match="offline mode is on") as err:
        AutoModel.from_pretrained("tiny-org/not-cached", cache_dir=tmp_path)
    assert "tiny-org/not-cached" in str(err.value)


def test_cache_precedence(monkeypatch, tmp_path):
    from henkan.hub import default_cache_dir

    for name in ("HF_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_HOME", "XDG_CACHE_HOME", "PYTORCH_TRANSFORMERS_CACHE",
                 "PYTORCH_PRETRAINED_BERT_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == str(tmp_path / ".cache" / "huggingface" / "hub")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert default_cache_dir() == "/xdg/huggingface/hub"
    monkeypatch.setenv("HF_HOME", "/hfhome")
    assert default_cache_dir() == "/hfhome/hub"
    monkeypatch.setenv("TRANSFORMERS_CACHE", "/tc")
    assert default_cache_dir() == "/tc"
    monkeypatch.setenv("HF_HUB_CACHE", "/hc")
    assert default_cache_dir() == "/hc"


@pytest.mark.parametrize("name", ["tokenizer_config.json", "config.json"])
def test_corrupt_json_files_name_the_file(tmp_path, name):
    folder = shutil.copytree(os.path.join(MODELS, "bert-model"), tmp_path / "model")
    shutil.copy(os.path.join(MODELS, "..", "tokenizers", "wordpiece", "vocab.txt"), folder)
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / name).write_text("{truncated")
    load = henkan.AutoTokenizer.from_pretrained if name.startswith("tokenizer") else AutoModel.from_pretrained
    with pytest.raises(OSError, match=f"{name} is not a valid JSON file"):
        load(folder)


class _FakeHub:
    """Stands in for huggingface_hub.HfApi: records the calls and keeps a copy of each uploaded folder."""

    calls: list = []

    def __init__(self, token=None):
        self.token = token

    def create_repo(self, repo_id, private=None, exist_ok=False):
        self.calls.append(("create_repo", repo_id, private))
        return type("RepoUrl", (), {"repo_id": repo_id if "/" in repo_id else f"me/{repo_id}"})()

    def create_branch(self, repo_id, branch, exist_ok=False):
        self.calls.append(("create_branch", repo_id, branch))

    def upload_folder(self, repo_id, folder_path, commit_message, commit_description=None, revision=None,
                      create_pr=False):
        files = sorted(os.listdir(folder_path))
        target = os.path.join(self.store, repo_id.replace("/", "--"))
        shutil.copytree(folder_path, target, dirs_exist_ok=True)
        self.calls.append(("upload_folder", repo_id, commit_message, revision, files))
        return f"commit of {repo_id}"


def test_push_to_hub_uploads_what_save_pretrained_writes(tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    _FakeHub.calls, _FakeHub.store = [], str(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeHub)
    folder = os.path.join(MODELS, "bert-model")
    model = AutoModel.from_pretrained(folder)
    tokenizer = henkan.AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "tokenizers", "wordpiece"))

    assert model.push_to_hub("me/tiny-bert", private=True, token="t") == "commit of me/tiny-bert"
    assert _FakeHub.calls[0] == ("create_repo", "me/tiny-bert", True)
    assert _FakeHub.calls[1][:4] == ("upload_folder", "me/tiny-bert", "Upload BertModel", None)
    uploaded = AutoModel.from_pretrained(tmp_path / "hub" / "me--tiny-bert")
    torch.testing.assert_close(uploaded.state_dict(), model.state_dict())

    tokenizer.push_to_hub("me/tiny-bert", revision="v2", commit_message="tokenizer")
    assert ("create_branch", "me/tiny-bert", "v2") in _FakeHub.calls
    assert henkan.AutoTokenizer.from_pretrained(tmp_path / "hub" / "me--tiny-bert")("hello")["input_ids"] == \
        tokenizer("hello")["input_ids"]

    model.config.save_pretrained(tmp_path / "local-config", push_to_hub=True)  # the repository: the folder's name
    assert _FakeHub.calls[-1][:3] == ("upload_folder", "me/local-config", "Upload config")
    with pytest.raises(TypeError, match="unexpected"):
        model.push_to_hub("me/x", no_such_option=1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="Offline mode"):
        model.config.push_to_hub("me/x")


@pytest.mark.slow
def test_save_killed_at_every_file_step_never_loads_mixed_weights(tmp_path):
    """A real SIGKILL before each file operation of save_pretrained (6 shards over 6 shards, one file over one
    file, one file over 6 shards): the folder loads the old weights or the new ones, or fails naming the mix; the
    next save cleans up and loads the new weights."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.path.dirname(os.path.dirname(FIXTURES))}
    job = subprocess.run([sys.executable, os.path.join(FIXTURES, "save_job.py"), str(tmp_path)], capture_output=True,
                         text=True, timeout=600, env=env)
    assert job.returncode == 0, job.stderr[-2000:]
    cases = json.loads(job.stdout)
    old = BertModel.from_pretrained(BERT).state_dict()
    new = {k: v + 1 for k, v in old.items()}

    def which(model):
        state = model.state_dict()
        return next((name for name, expected in (("old", old), ("new", new))
                     if all(torch.equal(state[k], expected[k]) for k in expected)), "mixed")

    for case, runs in cases.items():
        seen = []
        assert len(runs) > 6 and all(killed for _, killed in runs[:-1]) and not runs[-1][1]
        for folder, _ in runs:
            try:
                seen.append(which(BertModel.from_pretrained(folder)))
            except OSError as e:
                assert "mixes files of two saves" in str(e) and "model-0000" in str(e), str(e)
                seen.append("refused")
        assert "mixed" not in seen, (case, seen)
        assert seen[0] == "old" and seen[-1] == "new", (case, seen)
        assert ("refused" in seen) == (case == "sharded"), (case, seen)  # only same-named shards can be mixed

        folder = next(folder for folder, _ in runs if any(n.startswith(".tmp-") for n in os.listdir(folder)))
        model = BertModel.from_pretrained(BERT)
        model.save_pretrained(folder)
        assert not any(name.startswith(".") for name in os.listdir(folder))
        assert which(BertModel.from_pretrained(folder)) == "old"


def test_saved_files_get_the_users_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    AutoModel.from_pretrained(BERT).save_pretrained(tmp_path, max_shard_size="40KB")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert set(modes.values()) == {0o666 & ~umask}, modes


def test_legacy_torch_save_format_loads_through_weights_only(tmp_path):
    """A pytorch_model.bin written before torch 1.6 (not a zip) cannot be memory-mapped; it still loads, with the
    restricted unpickler."""
    state = AutoModel.from_pretrained(BERT).state_dict()
    shutil.copy(os.path.join(BERT, "config.json"), tmp_path)
    torch.save(state, tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    again = AutoModel.from_pretrained(tmp_path)
    torch.testing.assert_close(again(IDS).last_hidden_state, AutoModel.from_pretrained(BERT)(IDS).last_hidden_state)
