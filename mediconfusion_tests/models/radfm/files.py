"""Where RadFM's files come from: a folder the user has, or ``chaoyi-wu/RadFM`` on the hub, extracted once.

A RadFM folder holds ``pytorch_model.bin`` (or the split zip it is published as,
which is then extracted beside it), ``tokenizer.model`` (LLaMA's sentencepiece
model) and optionally the LLaMA's ``config.json``. From the hub, the split zip
and the tokenizer are downloaded into the Hugging Face cache (resumable) and
the weights extracted once into ``$MEDICONFUSION_CACHE/radfm/<commit>/``.
"""

from __future__ import annotations

import fnmatch
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.hub_access import download_hint, offline_reason
from mediconfusion_tests.models.radfm.archive import SplitZip, split_parts
from mediconfusion_tests.models.radfm.checkpoint import LLAMA_CONFIG, TOKENIZER, WEIGHTS
from mediconfusion_tests.sample.build_cache import cache_root

LOG = logging.getLogger(__name__)

if TYPE_CHECKING:
    from collections.abc import Callable

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec

HUB_REPO = "chaoyi-wu/RadFM"
#: The weights extracted (fp32, as published) and the parts downloaded, for the space check message.
WEIGHTS_GB = 53


@dataclass(frozen=True)
class RadFMFiles:
    folder: Path
    weights: Path
    tokenizer: Path
    #: What identifies these files in the answer store: the hub commit, or the folder and file sizes.
    version: str


def missing_in(folder: Path) -> list[str]:
    """What a folder lacks to be loaded (the weights may still be a split zip)."""
    missing = []
    if not (folder / WEIGHTS).is_file() and not split_parts(p.name for p in folder.iterdir()):
        missing.append(f"{WEIGHTS} (or the split zip it is published as)")
    if not _find(folder, TOKENIZER):
        missing.append(f"{TOKENIZER} (LLaMA's sentencepiece model, published with RadFM)")
    return missing


def _find(folder: Path, name: str) -> Path | None:
    direct = folder / name
    if direct.is_file():
        return direct
    found = sorted(folder.rglob(name))
    return found[0] if found else None


def _progress(label: str) -> Callable[[int, int], None]:
    state = {"shown": -1}

    def show(done: int, total: int) -> None:
        percent = int(100 * done / total) if total else 100
        if percent // 5 != state["shown"]:
            state["shown"] = percent // 5
            print(f"\r{label}: {percent}% of {total / 1e9:.1f} GB", end="", file=sys.stderr, flush=True)
            if done >= total:
                print(file=sys.stderr)

    return show


def from_folder(folder: Path) -> RadFMFiles:
    if not folder.is_dir():
        raise ModelError(f"--model=radfm:{folder}: no such folder")
    missing = missing_in(folder)
    if missing:
        raise ModelError(f"--model=radfm:{folder} lacks {'; '.join(missing)}. {how_to_get()}")
    weights = folder / WEIGHTS
    if not weights.is_file():
        parts = split_parts(sorted(str(p) for p in folder.iterdir()))[0]
        SplitZip([Path(p) for p in parts]).extract(WEIGHTS, weights, _progress(f"extracting {WEIGHTS}"))
    tokenizer = _find(folder, TOKENIZER)
    if tokenizer is None:  # checked by missing_in above; kept for the type
        raise ModelError(f"--model=radfm:{folder} lacks {TOKENIZER}")
    version = f"{folder.resolve()}:{weights.stat().st_size}:{tokenizer.stat().st_size}"
    return RadFMFiles(folder, weights, tokenizer, version)


def how_to_get() -> str:
    return (
        f"Get them with `{download_hint(HUB_REPO, to='RADFM_DIR')}` (about {WEIGHTS_GB} GB as a split zip, and "
        f"{WEIGHTS_GB} GB more once extracted) and pass --model=radfm:RADFM_DIR, or let --model=radfm download them"
    )


def from_hub(cache: Path, revision: str | None = None) -> RadFMFiles:
    """Download (or find cached) and extract the published checkpoint; the folder holding the result."""
    try:
        from huggingface_hub import HfApi, hf_hub_download
    except ImportError as exc:
        raise ModelError("--model=radfm downloads through huggingface_hub: pip install huggingface_hub") from exc
    offline = offline_reason()
    if offline:
        extracted = _extracted(cache, revision)
        if extracted is not None:
            return extracted
    try:
        if offline:
            files, commit = _cached_listing(revision)
        else:
            info = HfApi().model_info(HUB_REPO, revision=revision, files_metadata=False)
            files, commit = [s.rfilename for s in info.siblings or ()], str(info.sha)
    except ModelError:
        raise
    except Exception as exc:  # every hub failure becomes the same advice
        raise ModelError(f"cannot list {HUB_REPO} on the hub ({type(exc).__name__}: {exc}). {how_to_get()}") from exc
    folder = cache / "radfm" / commit
    weights = folder / WEIGHTS
    archives = split_parts(files)
    tokenizer_name = next((f for f in files if f.rsplit("/", 1)[-1] == TOKENIZER), None)
    if tokenizer_name is None:
        raise ModelError(f"{HUB_REPO}@{commit} has no {TOKENIZER}; {how_to_get()}")
    wanted = [tokenizer_name] + [f for f in files if fnmatch.fnmatch(f.rsplit("/", 1)[-1], LLAMA_CONFIG)]
    if not weights.is_file():
        if f"{WEIGHTS}" in files:
            wanted.append(WEIGHTS)
        elif archives:
            wanted += archives[0]
        else:
            raise ModelError(f"{HUB_REPO}@{commit} has neither {WEIGHTS} nor a split zip of it; {how_to_get()}")
    local: dict[str, Path] = {}
    for name in wanted:
        try:
            local[name] = Path(hf_hub_download(HUB_REPO, name, revision=commit, local_files_only=bool(offline)))
        except Exception as exc:
            why = f"the hub is not asked ({offline})" if offline else f"{type(exc).__name__}: {exc}"
            raise ModelError(f"cannot get {name} of {HUB_REPO}: {why}. {how_to_get()}") from exc
    folder.mkdir(parents=True, exist_ok=True)
    if not weights.is_file():
        if WEIGHTS in local:
            weights.symlink_to(local[WEIGHTS])
        else:
            parts = [local[name] for name in archives[0]]
            SplitZip(parts).extract(WEIGHTS, weights, _progress(f"extracting {WEIGHTS} of {HUB_REPO}"))
            LOG.warning(
                "RadFM: extracted to %s; the split zip in the Hugging Face cache is no longer needed "
                "(`hf cache delete` frees it)",
                weights,
            )
    for name, path in local.items():
        short = name.rsplit("/", 1)[-1]
        if short in (TOKENIZER, LLAMA_CONFIG) and not (folder / short).exists():
            (folder / short).symlink_to(path)
    return RadFMFiles(folder, weights, folder / TOKENIZER, f"{HUB_REPO}@{commit}")


def _cached_listing(revision: str | None) -> tuple[list[str], str]:
    """Offline: the files of the cached snapshot, if one was downloaded before."""
    from huggingface_hub import scan_cache_dir

    try:
        cache = scan_cache_dir()
    except Exception as exc:
        raise ModelError(f"RadFM is not cached and the hub is not asked ({offline_reason()}). {how_to_get()}") from exc
    for repo in cache.repos:
        if repo.repo_id == HUB_REPO and repo.repo_type == "model":
            for snapshot in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True):
                if revision in (None, snapshot.commit_hash) or revision in snapshot.refs:
                    return [str(f.file_path.relative_to(snapshot.snapshot_path)) for f in snapshot.files], (
                        snapshot.commit_hash
                    )
    raise ModelError(f"RadFM is not cached and the hub is not asked ({offline_reason()}). {how_to_get()}")


def _extracted(cache: Path, revision: str | None) -> RadFMFiles | None:
    """An earlier extraction (its zip parts may have been deleted since): enough to run offline."""
    root = cache / "radfm"
    if not root.is_dir():
        return None
    found = [
        folder
        for folder in root.iterdir()
        if (folder / WEIGHTS).is_file() and (folder / TOKENIZER).exists() and revision in (None, folder.name)
    ]
    if not found:
        return None
    folder = max(found, key=lambda f: (f / WEIGHTS).stat().st_mtime)
    return RadFMFiles(folder, folder / WEIGHTS, folder / TOKENIZER, f"{HUB_REPO}@{folder.name}")


def radfm_requirements(spec: ModelSpec, config: RunConfig) -> list[str]:
    """Before any worker starts (also with --collect-only): the files are there, or can be fetched."""
    if spec.argument:
        folder = Path(spec.argument)
        if not folder.is_dir():
            return [f"--model=radfm:{folder}: no such folder. {how_to_get()}"]
        missing = missing_in(folder)
        if missing:
            return [f"--model=radfm:{folder} lacks {'; '.join(missing)}. {how_to_get()}"]
        return []
    offline = offline_reason()
    if offline and _extracted(cache_root(), config.model_revision) is None:
        try:
            _cached_listing(config.model_revision)
        except ModelError as exc:
            return [str(exc)]
    return []
