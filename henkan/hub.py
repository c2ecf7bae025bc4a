"""Where files come from: a local folder, a file path, or a Hub id served from the cache or downloaded.

Downloads and the cache are `huggingface_hub`'s; this module decides the cache location the way the reference's
users expect, honours offline mode, and turns the hub's exceptions into errors that say what to do.
"""

from __future__ import annotations

import os
import re
import socket
import time

HUB_KWARGS = (
    "cache_dir", "revision", "token", "use_auth_token", "local_files_only", "force_download",
    "subfolder", "proxies", "resume_download", "_commit_hash", "user_agent",
)
_ID = re.compile(r"^[\w.\-]+(/[\w.\-]+)?$")
_TRUE = {"1", "on", "yes", "true"}


def pop_hub_kwargs(kwargs: dict) -> dict:
    """Take the download options out of `kwargs` (in place) and return them."""
    return {k: kwargs.pop(k) for k in HUB_KWARGS if k in kwargs}


def is_offline() -> bool:
    return any(os.environ.get(v, "").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


_PROBES: dict[str, tuple[float, bool]] = {}  # endpoint -> (when asked, whether it answered)
PROBE_TIMEOUT = 2.0  # seconds to wait for the Hub to accept a connection
PROBE_TTL = 60.0  # seconds an answer holds: one load asks once, a long-running server asks again later


def hub_reachable() -> bool:
    """Whether the Hub endpoint accepts a TCP connection, asked at most once a minute.

    huggingface_hub retries a failed request for ~25 s per file; a load of a dozen files would wait minutes for
    a network that is not there. When the probe fails the load goes on from the cache alone. Behind a proxy the
    probe cannot tell, so the Hub is taken as reachable."""
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    endpoint = constants.ENDPOINT
    asked = _PROBES.get(endpoint)
    if asked is None or time.monotonic() - asked[0] > PROBE_TTL:
        url = urlsplit(endpoint)
        try:
            socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)),
                                     timeout=PROBE_TIMEOUT).close()
            answered = True
        except (OSError, ValueError):
            answered = False
        asked = _PROBES[endpoint] = (time.monotonic(), answered)
    return asked[1]


def default_cache_dir() -> str:
    """The hub cache folder, by the documented precedence."""
    for var in ("HF_HUB_CACHE", "TRANSFORMERS_CACHE", "PYTORCH_TRANSFORMERS_CACHE", "PYTORCH_PRETRAINED_BERT_CACHE"):
        if os.environ.get(var):
            return os.path.expanduser(os.environ[var])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "huggingface", "hub")


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or not _ID.match(name)


def resolve_file(
    name_or_path: str | os.PathLike,
    filename: str,
    *,
    required: bool = True,
    cache_dir: str | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    use_auth_token: str | bool | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
    subfolder: str = "",
    proxies: dict | None = None,
    **_ignored,
) -> str | None:
    """The local path of `filename` for a folder, file path or Hub id; None when it is absent and not `required`."""
    name = os.fspath(name_or_path)
    subfolder = subfolder or ""
    if os.path.isfile(name):
        if os.path.basename(name) == filename or (filename == "config.json" and name.endswith(".json")):
            return name
        name = os.path.dirname(name) or "."
    if os.path.isdir(name):
        path = os.path.join(name, subfolder, filename)
        if os.path.isfile(path):
            return path
        if required:
            raise OSError(
                f"'{name}' is a folder but has no '{os.path.join(subfolder, filename)}'. Point to a folder saved "
                f"with save_pretrained() (it holds {filename}), or pass the Hub id of the model."
            )
        return None
    if _looks_local(name):
        raise OSError(
            f"'{name}' is neither an existing folder nor a valid Hub model id. Check the path (it is relative to "
            f"{os.getcwd()}), or use an id of the form 'org/name'."
        )
    return _from_hub(name, filename, required, cache_dir, revision, token if token is not None else use_auth_token,
                     local_files_only, force_download, subfolder, proxies)


def _from_hub(repo_id, filename, required, cache_dir, revision, token, local_files_only, force_download, subfolder,
              proxies) -> str | None:
    import huggingface_hub
    from huggingface_hub import errors

    offline = local_files_only or is_offline()
    unreachable = not offline and not hub_reachable()
    cache = os.fspath(cache_dir) if cache_dir else default_cache_dir()
    try:
        return huggingface_hub.hf_hub_download(
            repo_id, filename, subfolder=subfolder or None, revision=revision, cache_dir=cache, token=token,
            local_files_only=offline or unreachable, force_download=force_download, proxies=proxies,
        )
    except errors.GatedRepoError as e:
        raise OSError(
            f"'{repo_id}' is a gated model. Accept its conditions on its Hub page, then log in with "
            f"`hf auth login` or pass token=... ({e.__class__.__name__})."
        ) from e
    except errors.RepositoryNotFoundError as e:
        raise OSError(
            f"'{repo_id}' is not a local folder and no Hub repository of that name could be reached. Check the "
            f"spelling; for a private repository pass token=...; for a local model pass the folder's path."
        ) from e
    except errors.RevisionNotFoundError as e:
        raise OSError(f"'{repo_id}' has no revision '{revision}'. Use a branch, tag or commit hash it has.") from e
    except errors.LocalEntryNotFoundError as e:  # a subclass of EntryNotFoundError: test it first
        if not required:
            return None
        from huggingface_hub import constants

        where = "offline mode is on (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE or local_files_only=True)" if offline \
            else f"the Hub ({constants.ENDPOINT}) could not be reached"
        raise OSError(
            f"Cannot find '{filename}' of '{repo_id}': {where} and it is not in the cache at {cache}. Download it "
            f"once while online (`henkan download {repo_id}`), set HF_HUB_CACHE to the cache that has it, or pass "
            f"a local folder. Without a network, set HF_HUB_OFFLINE=1 to skip the Hub altogether."
        ) from e
    except errors.EntryNotFoundError as e:
        if required:
            raise OSError(f"'{repo_id}' has no file '{filename}' (revision {revision or 'main'}).") from e
        return None


# uploading -------------------------------------------------------------------------------------------------------

_UPLOAD_OPTIONS = ("repo_id", "commit_message", "commit_description", "private", "token", "create_pr", "revision")


def pop_upload_kwargs(kwargs: dict) -> dict:
    """Take the options of `push_to_hub` out of `kwargs` (in place) and return them."""
    return {k: kwargs.pop(k) for k in _UPLOAD_OPTIONS if k in kwargs}


def upload_folder(folder, repo_id: str | None = None, commit_message: str | None = None,
                  commit_description: str | None = None, private: bool | None = None, token=None,
                  create_pr: bool = False, revision: str | None = None):
    """Upload a saved folder to a Hub repository as one commit (creating the repository, and the branch
    `revision`, when missing) through huggingface_hub; returns its commit info. The repository defaults to the
    folder's name."""
    if is_offline():
        raise OSError("Offline mode (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE) is on: nothing can be pushed to the Hub. "
                      "Unset it to upload.")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id or os.path.basename(os.path.normpath(os.fspath(folder))), private=private,
                              exist_ok=True).repo_id
    if revision is not None and not create_pr:
        api.create_branch(repo_id, branch=revision, exist_ok=True)
    return api.upload_folder(repo_id=repo_id, folder_path=os.fspath(folder),
                             commit_message=commit_message or "Upload with henkan",
                             commit_description=commit_description, revision=revision, create_pr=create_pr)


class PushToHubMixin:
    """`push_to_hub(repo_id, ...)` for anything with a `save_pretrained(folder)`: saved to a temporary folder and
    uploaded in one commit. `use_temp_dir` and `tags` are accepted for compatibility: the folder is always a
    temporary one, and no model card is written."""

    def push_to_hub(self, repo_id: str, use_temp_dir: bool | None = None, commit_message: str | None = None,
                    private: bool | None = None, token=None, max_shard_size="5GB", create_pr: bool = False,
                    safe_serialization: bool = True, revision: str | None = None,
                    commit_description: str | None = None, tags=None, **kwargs):
        import tempfile

        kwargs.pop("use_auth_token", None)
        if kwargs:
            raise TypeError(f"push_to_hub got unexpected argument(s): {', '.join(sorted(kwargs))}.")
        with tempfile.TemporaryDirectory(prefix="henkan-push-") as folder:
            self._save_for_upload(folder, max_shard_size=max_shard_size, safe_serialization=safe_serialization)
            return upload_folder(folder, repo_id, commit_message or f"Upload {type(self).__name__}",
                                 commit_description, private, token, create_pr, revision)

    def _save_for_upload(self, folder: str, **options) -> None:
        self.save_pretrained(folder)
