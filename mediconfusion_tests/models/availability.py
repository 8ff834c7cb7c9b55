"""Whether a model's files are where the run will look for them, checked on the controller in seconds.

Nothing here loads a model or imports torch: a folder is looked at, a hub checkpoint is looked up in the
Hugging Face cache (``config.json`` or the named file), and the hub is asked only whether it can be reached
(hub_access). Each problem is one sentence with its fix; a run collects them all before any worker starts
(run/preflight.py), so a user learns everything that is missing at once.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from mediconfusion_tests.hub_access import download_hint, offline_reason
from mediconfusion_tests.models.hub_names import (
    LLAVA_MED_REPO,
    MED_FLAMINGO_CHECKPOINT,
    MED_FLAMINGO_LLAMA,
    MED_FLAMINGO_REPO,
    MED_FLAMINGO_VISION,
    MED_FLAMINGO_VISION_FOLDER,
)

if TYPE_CHECKING:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import ModelSpec


def looks_like_path(source: str) -> bool:
    """A folder the user means (absolute, relative with ./ or ../, ~, or one that exists), not an ORG/NAME id."""
    return (
        source.startswith(("/", ".", "~"))
        or source.count("/") > 1
        or "\\" in source
        or Path(source).expanduser().exists()
    )


def cached(repo: str, filename: str, revision: str | None = None) -> bool:
    """Whether the Hugging Face cache holds ``filename`` of the model repository ``repo``."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a declared dependency
        return False
    # Read now, not when huggingface_hub was imported: the worker that loads the model reads it then too.
    found = try_to_load_from_cache(repo, filename, cache_dir=os.environ.get("HF_HUB_CACHE"), revision=revision)
    return isinstance(found, str)


def hub_problem(label: str, repo: str, filename: str = "config.json", revision: str | None = None) -> str | None:
    """None when the file is cached or the hub can be asked for it; else why not, and how to get it."""
    if cached(repo, filename, revision):
        return None
    offline = offline_reason()
    if offline is None:
        return None  # downloaded by the worker that loads it
    fetch = download_hint(repo, None if filename == "config.json" else filename)
    return (
        f"{label}: {repo} is not in the Hugging Face cache and the hub is not asked ({offline}); on a machine "
        f"with access run `{fetch}` and copy the cache ($HF_HOME/hub) over, or download it to a folder and give "
        "the folder instead"
    )


def folder_problem(label: str, source: str, needs: str = "config.json") -> str | None:
    folder = Path(source).expanduser()
    if not folder.exists():
        return f"{label}: no such folder: {folder}"
    if not folder.is_dir():
        return f"{label}: {folder} is a file; give the folder that holds {needs}"
    if not (folder / needs).is_file():
        return f"{label}: {folder} has no {needs}"
    return None


def transformers_problems(label: str, source: str, revision: str | None) -> list[str]:
    """A transformers checkpoint given as a folder or a hub id."""
    if looks_like_path(source):
        problem = folder_problem(label, source)
    else:
        problem = hub_problem(label, source, revision=revision)
    return [problem] if problem else []


def preset_requirements(spec: ModelSpec, config: RunConfig) -> list[str]:
    from mediconfusion_tests.models.presets import BY_NAME

    return transformers_problems(f"--model={spec.raw}", BY_NAME[spec.name].checkpoint, config.model_revision)


def hf_requirements(spec: ModelSpec, config: RunConfig) -> list[str]:
    return transformers_problems(f"--model={spec.raw}", spec.argument or "", config.model_revision)


def llava_med_requirements(spec: ModelSpec, config: RunConfig) -> list[str]:
    label = f"--model={spec.raw}"
    if spec.argument:
        problem = folder_problem(label, spec.argument)
    else:
        problem = hub_problem(label, LLAVA_MED_REPO, revision=config.model_revision)
    return [problem] if problem else []


def med_flamingo_requirements(spec: ModelSpec, config: RunConfig) -> list[str]:
    label = f"--model={spec.raw}"
    problems: list[str] = []
    if not config.llama_path:
        problems.append(f"{label} needs the LLaMA-7B it was trained on: --llama-path=DIR; {MED_FLAMINGO_LLAMA}")
    else:
        problem = folder_problem(f"--llama-path={config.llama_path}", config.llama_path)
        if problem:
            problems.append(f"{problem} ({MED_FLAMINGO_LLAMA})")
    own_vision = False
    if spec.argument:
        problem = folder_problem(label, spec.argument, MED_FLAMINGO_CHECKPOINT)
        if problem:
            problems.append(problem)
        own_vision = (Path(spec.argument).expanduser() / MED_FLAMINGO_VISION_FOLDER).is_dir()
    else:
        problem = hub_problem(label, MED_FLAMINGO_REPO, MED_FLAMINGO_CHECKPOINT)
        if problem:
            problems.append(problem)
    if not own_vision:
        problem = hub_problem(f"{label} (its vision encoder)", MED_FLAMINGO_VISION)
        if problem:
            problems.append(problem)
    return problems


def folder_signature(folder: Path) -> str:
    """The files of a checkpoint folder by name, size and modification time: a changed file changes it."""
    entries = sorted(
        f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}"
        for path in folder.rglob("*")
        if path.is_file() and (stat := path.stat())
    )
    return "folder:" + hashlib.sha256("\n".join(entries).encode()).hexdigest()[:24]


def cached_commit(repo: str, revision: str | None) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    found = try_to_load_from_cache(repo, "config.json", cache_dir=os.environ.get("HF_HUB_CACHE"), revision=revision)
    return Path(found).parent.name if isinstance(found, str) else None


def transformers_version(source: str, revision: str | None) -> str | None:
    """A folder's signature; a hub checkpoint's cached commit when the hub is not asked or the revision is a
    commit (otherwise loading may fetch a newer one, so it is not known before loading)."""
    if looks_like_path(source):
        folder = Path(source).expanduser()
        return folder_signature(folder) if folder.is_dir() else None
    commit = cached_commit(source, revision)
    pinned = bool(revision and re.fullmatch(r"[0-9a-f]{40}", revision))
    if commit is None or not (pinned or offline_reason() is not None):
        return None
    return f"hub:{source}@{commit}"


def preset_version(spec: ModelSpec, config: RunConfig) -> str | None:
    from mediconfusion_tests.models.presets import BY_NAME

    return transformers_version(BY_NAME[spec.name].checkpoint, config.model_revision)


def hf_version(spec: ModelSpec, config: RunConfig) -> str | None:
    return transformers_version(spec.argument or "", config.model_revision)


def demo_version(spec: ModelSpec, config: RunConfig) -> str | None:
    """The trained demo checkpoint's signature; None before its first training."""
    from mediconfusion_tests.models.demo import demo_folder

    folder = demo_folder()
    return folder_signature(folder) if folder.is_dir() else None
