"""dataset.json from the Hugging Face hub dataset repo, through huggingface_hub's cache.

huggingface_hub honours HF_HUB_OFFLINE, HF_ENDPOINT and HF_HUB_CACHE itself;
a pinned revision (branch, tag or commit) is passed through unchanged.
"""

from __future__ import annotations

from pathlib import Path

from mediconfusion_tests.errors import DataError
from mediconfusion_tests.hub_access import download_hint, offline_reason

HUB_REPO = "shahab7899/MediConfusion"
HUB_FILE = "dataset.json"
#: Stands for the run's own --model in a hint; the run's checks put the real value in its place.
MODEL_PLACEHOLDER = "--model=..."


def _offline_help(repo: str, revision: str, reason: str, filename: str = HUB_FILE) -> str:
    return (
        f"Could not get {filename} of the Hugging Face dataset {repo} at revision {revision!r}: {reason}\n"
        "Nothing usable is cached. Either connect to the hub once (the file is then cached and later runs "
        "work with HF_HUB_OFFLINE=1), or use a local copy:\n"
        f"  {download_hint(repo, filename, 'dataset', 'data/MediConfusion')}\n"
        + (
            f"  pytest {MODEL_PLACEHOLDER} --dataset=data/MediConfusion"
            if filename == HUB_FILE
            else "  mediconfusion fetch-images --dataset data/MediConfusion"
        )
    )


def commit_of(path: Path) -> str | None:
    """The commit a cached hub file belongs to (its snapshots/<commit>/ folder)."""
    parent = path.parent
    return parent.name if parent.parent.name == "snapshots" else None


def download_dataset_file(
    revision: str | None, repo: str = HUB_REPO, filename: str = HUB_FILE
) -> tuple[Path, str | None]:
    """The local path of the cached file (dataset.json by default) and the commit it came from."""
    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError(f"the hub dataset needs huggingface_hub: pip install huggingface_hub ({exc})") from exc
    wanted = revision or "main"
    offline = offline_reason()
    try:
        path = Path(
            hf_hub_download(
                repo_id=repo, filename=filename, repo_type="dataset", revision=wanted, local_files_only=bool(offline)
            )
        )
    except RevisionNotFoundError as exc:
        raise DataError(f"The hub dataset {repo} has no revision {wanted!r} ({exc})") from exc
    except RepositoryNotFoundError as exc:
        raise DataError(f"The hub dataset {repo} does not exist or is private ({exc})") from exc
    except EntryNotFoundError as exc:
        # LocalEntryNotFoundError (offline, nothing cached) is a subclass: say how to go local.
        reason = offline or str(exc).splitlines()[0]
        raise DataError(_offline_help(repo, wanted, reason, filename)) from exc
    except OSError as exc:
        raise DataError(_offline_help(repo, wanted, str(exc), filename)) from exc
    return path, commit_of(path)
