"""Which model a --model value names, without loading it.

Built-in entries live here; third parties add theirs through the
``mediconfusion.models`` entry-point group (an object or a list of
ModelEntry) or, from a conftest.py, the ``pytest_mediconfusion_models`` hook.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ModelSpecError
from mediconfusion_tests.models.base import Factory, ModelSpec
from mediconfusion_tests.models.image_backends import TORCHVISION_MISSING, torchvision_installed
from mediconfusion_tests.models.presets import PRESETS
from mediconfusion_tests.scoring.modes import MODES

if TYPE_CHECKING:
    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.schema import Pair

ENTRY_POINT_GROUP = "mediconfusion.models"
Validator = Callable[["ModelSpec", "RunConfig", Sequence["Pair"]], dict[str, str]]
Requirements = Callable[["ModelSpec", "RunConfig"], list[str]]
FilesVersion = Callable[["ModelSpec", "RunConfig"], "str | None"]
Prepare = Callable[["ModelSpec", "RunConfig", Callable[[str], None]], None]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    summary: str
    factory: str | Factory
    modes: frozenset[str] = frozenset(MODES)
    takes_argument: bool = False
    #: With takes_argument: the bare name works too (radfm and radfm:PATH).
    argument_optional: bool = False
    #: False for models that never look at pixels (baselines, replays): images
    #: are then checked only when --images is given.
    needs_images: bool = True
    default_dataset: str | None = None
    #: Printed with every result of this model, e.g. that its scores mean nothing.
    note: str | None = None
    #: Free-form answers of this model carry no scores: --mode=freeform needs --judge.
    freeform_needs_judge: bool = False
    #: Its pixels come from a transformers checkpoint's image processor, so --image-backend applies.
    image_backend: bool = False
    #: Runs on the controller before workers start: raises DataError on bad
    #: input, returns {pair id: reason} for pairs to skip.
    validate: str | Validator | None = None
    #: Runs on the controller before workers start, beside every other check and whatever the data holds:
    #: the files and options the model needs but lacks (weights in a folder or the hub cache, --llama-path),
    #: each one sentence with its fix. Loads nothing.
    requirements: str | Requirements | None = None
    #: What identifies the files the model would load, read without loading them (a folder's names, sizes
    #: and times; a cached hub snapshot's commit when the hub is not asked); None where that is unknown. With
    #: it a rerun whose answers are all stored never loads the model (run/lazy_model.py).
    files_version: str | FilesVersion | None = None
    #: Runs once on the controller after the checks, before workers start: builds what every worker would
    #: otherwise wait for in silence (the demo's first training), saying how far it got through ``say``.
    prepare: str | Prepare | None = None
    #: Optional post-run check, e.g. a replay compared with its recorded scores.
    audit: str | Callable[..., dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def load_factory(self) -> Factory:
        factory: Factory = _resolve(self.factory)
        return factory

    def load_validator(self) -> Validator | None:
        return None if self.validate is None else _resolve(self.validate)

    def load_requirements(self) -> Requirements | None:
        return None if self.requirements is None else _resolve(self.requirements)

    def load_files_version(self) -> FilesVersion | None:
        return None if self.files_version is None else _resolve(self.files_version)

    def load_prepare(self) -> Prepare | None:
        return None if self.prepare is None else _resolve(self.prepare)

    def load_audit(self) -> Callable[..., dict[str, Any]] | None:
        return None if self.audit is None else _resolve(self.audit)


def _resolve(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


BUILTIN: tuple[ModelEntry, ...] = (
    ModelEntry(
        "random",
        "Reference row: a seeded coin flip per image (--seed); expect 25% set accuracy.",
        "mediconfusion_tests.models.baselines:make_random",
        needs_images=False,
    ),
    ModelEntry(
        "always-a",
        "Reference row: answers A for every image; set accuracy 0, confusion 1.",
        "mediconfusion_tests.models.baselines:make_always_a",
        needs_images=False,
    ),
    ModelEntry(
        "always-b",
        "Reference row: answers B for every image; set accuracy 0, confusion 1.",
        "mediconfusion_tests.models.baselines:make_always_b",
        needs_images=False,
    ),
    ModelEntry(
        "demo",
        "Tiny LLaVA trained at first use on synthetic scenes (not the sample's); offline; answers the sample weakly.",
        "mediconfusion_tests.models.demo:make_demo",
        image_backend=True,
        files_version="mediconfusion_tests.models.availability:demo_version",
        prepare="mediconfusion_tests.models.demo:prepare_demo",
        default_dataset="sample",
        freeform_needs_judge=True,
        note="demo model: a tiny LLaVA trained for seconds on synthetic scenes; it shows what the suite finds, "
        "not how a real model scores",
    ),
    ModelEntry(
        "replay",
        "replay:PATH re-scores recorded answers (our results.json or the original harness's file).",
        "mediconfusion_tests.models.replay:make_replay",
        takes_argument=True,
        needs_images=False,
        validate="mediconfusion_tests.models.replay:validate_replay",
        audit="mediconfusion_tests.models.replay:audit_replay",
    ),
    ModelEntry(
        "radfm",
        "RadFM 14B (paper row), our implementation of the published chaoyi-wu/RadFM checkpoint; radfm:PATH for a "
        "folder with pytorch_model.bin and tokenizer.model. Deterministic 512x512 resize instead of the harness's "
        "random crop.",
        "mediconfusion_tests.models.radfm.adapter:make_radfm",
        takes_argument=True,
        argument_optional=True,
        freeform_needs_judge=True,
        requirements="mediconfusion_tests.models.radfm.files:radfm_requirements",
    ),
    ModelEntry(
        "llava-med",
        "LLaVA-Med v1.5 Mistral-7B (paper row): microsoft/llava-med-v1.5-mistral-7b loaded into transformers' LLaVA "
        "by our key map; llava-med:PATH for a folder with its config, safetensors shards and tokenizer.",
        "mediconfusion_tests.models.llava_med.adapter:make_llava_med",
        takes_argument=True,
        argument_optional=True,
        freeform_needs_judge=True,
        requirements="mediconfusion_tests.models.availability:llava_med_requirements",
    ),
    ModelEntry(
        "med-flamingo",
        "Med-Flamingo (paper row): OpenFlamingo-9B's layout in our code, the published med-flamingo/med-flamingo "
        "model.pt on the LLaMA-7B given with --llama-path; the paper's three few-shot images with --few-shot-dir "
        "(else zero-shot, with a warning); med-flamingo:PATH for a folder with model.pt (and vision/, a CLIP).",
        "mediconfusion_tests.models.med_flamingo.adapter:make_med_flamingo",
        takes_argument=True,
        argument_optional=True,
        freeform_needs_judge=True,
        requirements="mediconfusion_tests.models.availability:med_flamingo_requirements",
    ),
    *(
        ModelEntry(
            name,
            summary,
            "mediconfusion_tests.models.api.entries:make_api",
            modes=frozenset(modes),
            takes_argument=takes,
            argument_optional=optional,
            freeform_needs_judge=True,
            needs_images=True,
            validate="mediconfusion_tests.models.api.entries:validate",
        )
        for name, summary, modes, takes, optional in (
            (
                "openai",
                "openai:MODEL, OpenAI chat completions (Azure OpenAI when AZURE_OPENAI_ENDPOINT is set; MODEL is "
                "then the deployment). Keys from OPENAI_API_KEY / AZURE_OPENAI_API_KEY or --env-file.",
                ("mc", "freeform", "greedy"),
                True,
                False,
            ),
            (
                "openai-compatible",
                "openai-compatible:MODEL@URL, an OpenAI-compatible server (vLLM, SGLang, TGI, Ollama, a router); "
                "greedy needs logprobs, prefix vLLM's prompt_logprobs.",
                ("mc", "freeform", "greedy", "prefix"),
                True,
                False,
            ),
            (
                "anthropic",
                "anthropic:MODEL, Anthropic's Messages API (ANTHROPIC_API_KEY).",
                ("mc", "freeform"),
                True,
                False,
            ),
            (
                "gemini",
                "gemini[:MODEL], Google Gemini through google-genai (GEMINI_API_KEY); bare: gemini-2.5-pro "
                "(the paper used gemini-1.5-pro).",
                ("mc", "freeform"),
                True,
                True,
            ),
            (
                "gpt-4o",
                "GPT-4o through OpenAI or Azure (the paper used gpt-4o-2024-05-13); the default --judge.",
                ("mc", "freeform", "greedy"),
                False,
                False,
            ),
            (
                "claude",
                "Claude Sonnet 4.5 through Anthropic (the paper used Claude 3 Opus: anthropic:claude-3-opus-20240229).",
                ("mc", "freeform"),
                False,
                False,
            ),
        )
    ),
    ModelEntry(
        "hf",
        "hf:REPO_ID_OR_PATH: any transformers image-text-to-text checkpoint (family from its config).",
        "mediconfusion_tests.models.hf_factories:make_hf",
        takes_argument=True,
        freeform_needs_judge=True,
        image_backend=True,
        requirements="mediconfusion_tests.models.availability:hf_requirements",
        files_version="mediconfusion_tests.models.availability:hf_version",
    ),
    *(
        ModelEntry(
            preset.name,
            f"{preset.summary}: {preset.checkpoint} [{preset.family}, {preset.dtype}]",
            "mediconfusion_tests.models.hf_factories:make_preset",
            freeform_needs_judge=True,
            image_backend=True,
            requirements="mediconfusion_tests.models.availability:preset_requirements",
            files_version="mediconfusion_tests.models.availability:preset_version",
            extra={"checkpoint": preset.checkpoint, "family": preset.family, "dtype": preset.dtype},
        )
        for preset in PRESETS
    ),
)


class Registry:
    def __init__(self, entries: Iterable[ModelEntry] = BUILTIN) -> None:
        self._entries: dict[str, ModelEntry] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: ModelEntry) -> None:
        self._entries[entry.name] = entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[ModelEntry]:
        return [self._entries[name] for name in self.names()]

    def parse(self, raw: str) -> ModelSpec:
        text = raw.strip()
        if text in self._entries:
            name, argument = text, ""
        else:
            name, _, argument = text.partition(":")
            if ":" not in text or name not in self._entries:
                raise ModelSpecError(
                    f"unknown model {raw!r}. Known models: {', '.join(self.names())} (see --list-models)"
                )
        entry = self._entries[name]
        if entry.takes_argument and not argument and not entry.argument_optional:
            raise ModelSpecError(f"model {name!r} needs an argument: --model={name}:VALUE")
        if argument and not entry.takes_argument:
            raise ModelSpecError(f"model {name!r} takes no argument, got {raw!r}")
        return ModelSpec(raw=text, name=name, argument=argument or None)

    def entry(self, spec: ModelSpec) -> ModelEntry:
        return self._entries[spec.name]

    def check_image_backend(self, spec: ModelSpec, setting: str) -> None:
        if setting == "auto":
            return
        if not self.entry(spec).image_backend:
            raise ModelSpecError(
                f"--image-backend={setting} chooses a transformers checkpoint's image processor (hf:..., the "
                f"presets, demo); --model={spec.raw} makes its pixels its own way (as its authors' code did, on a "
                "server, or not at all), so leave it at auto"
            )
        if setting == "torchvision" and not torchvision_installed():
            raise ModelSpecError(TORCHVISION_MISSING)

    def check_mode(self, spec: ModelSpec, mode: str, judge: str | None = None) -> None:
        entry = self.entry(spec)
        if mode == "freeform" and entry.freeform_needs_judge and not judge:
            raise ModelSpecError(
                f"--mode=freeform with {spec.raw!r} needs a judge that scores its answers: --judge=SPEC "
                "(any model, e.g. --judge=hf:Qwen/Qwen2.5-VL-7B-Instruct)"
            )
        if mode not in entry.modes:
            raise ModelSpecError(
                f"model {spec.raw!r} does not support --mode={mode}; it supports {', '.join(sorted(entry.modes))}"
            )


def _entry_point_entries() -> list[ModelEntry]:
    found: list[ModelEntry] = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = point.load()
        items = loaded() if callable(loaded) and not isinstance(loaded, ModelEntry) else loaded
        items = [items] if isinstance(items, ModelEntry) else list(items)
        for item in items:
            if not isinstance(item, ModelEntry):
                raise ModelSpecError(
                    f"entry point {point.name!r} in {ENTRY_POINT_GROUP} gave {item!r}, not a ModelEntry"
                )
            found.append(item)
    return found


def build_registry(extra: Iterable[Iterable[ModelEntry]] = ()) -> Registry:
    """Built-ins, then entry points, then hook results (later names win)."""
    registry = Registry()
    for entry in _entry_point_entries():
        registry.add(entry)
    for group in extra:
        for entry in group:
            registry.add(entry)
    return registry
