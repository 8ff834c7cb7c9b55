"""``mediconfusion merge``: the shards of a run split with ``--shard I/N`` joined into one run.

The merged run is decided like any other: metrics recomputed from the pair
records (equal to a single full run's), the gate, the baseline comparison and
every problem a shard had (a crashed worker, model errors, a budget stop...),
then the same files as a run writes. Shards of different models, settings,
datasets or prompts, shards that overlap and files that are not shards are
refused with what differs.

A shard counts only what it was dealt: merge reads the dataset the shards ran on
(checked by its SHA-256), deals it again as ``--shard`` does, and refuses a shard
whose index is out of range or that holds a pair the dataset lacks or that was
dealt to another shard, naming the file and the pair. No pytest import here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.data.sources import load_pairs, resolve_dataset
from mediconfusion_tests.errors import DataError
from mediconfusion_tests.results.comparison import Identity, identity_mismatches
from mediconfusion_tests.results.decision import exit_status
from mediconfusion_tests.results.document import (
    InstanceRecord,
    MergedShard,
    ModelRecord,
    PairRecord,
    ProbePairRecord,
    ResultsDocument,
    RunRecord,
    ShardRecord,
    WorkerTiming,
    read_document,
)
from mediconfusion_tests.run.finalize import Evidence, finalize, is_fallback_warning
from mediconfusion_tests.run.plan import make_run_id, read_baseline
from mediconfusion_tests.run.shards import assignment
from mediconfusion_tests.scoring.metrics import category_names

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.results.decision import Verdict

#: Settings that change what the model was asked or how it is scored and gated: every shard must share them.
SHARED_SETTINGS = (
    "model",
    "mode",
    "dataset",
    "dataset_revision",
    "limit",
    "answer_parser",
    "judge_threshold",
    "seed",
    "max_new_tokens",
    "model_revision",
    "dtype",
    "attn_implementation",
    "image_backend",
    "trust_remote_code",
    "judge",
    "temperature",
    "top_p",
    "allow_missing_images",
    "probes",
    "probe_examples",
    "gates",
    "gate_min_pairs",
    "gates_from_file",
    "alpha",
    "fail_on_significant_regression",
    "max_regressed_pairs",
    "allow_baseline_mismatch",
)
#: Settings a merge may override, because they only decide, never answer.
GATE_SETTINGS = ("gates", "gate_min_pairs", "gates_from_file")


@dataclass(frozen=True)
class Shard:
    path: Path
    document: ResultsDocument

    @property
    def label(self) -> str:
        shard = self.document.run.shard
        return shard.label if shard is not None else "?"


@dataclass(frozen=True)
class MergeOptions:
    results_dir: Path | None = None
    #: Replace the shards' gate conditions (``--gate``), or None to keep them.
    gates: tuple[str, ...] | None = None
    gate_min_pairs: str | None = None
    #: A baseline results.json; None keeps the shards' own --baseline when that file is here.
    baseline: str | None = None
    #: The dataset the shards ran on, when their own --dataset is not readable here.
    dataset: str | None = None


@dataclass(frozen=True)
class Merged:
    document: ResultsDocument
    verdict: Verdict
    written: dict[str, Path]
    status: int


def results_file(path: Path) -> Path:
    return path / "results.json" if path.is_dir() else path


def read_shards(paths: Sequence[Path]) -> list[Shard]:
    shards = []
    for given in paths:
        path = results_file(given)
        if not path.is_file():
            raise DataError(f"{given}: no results.json there (give a run folder or its results.json)")
        try:
            document = read_document(path)
        except (OSError, ValueError) as exc:
            raise DataError(str(exc)) from None
        if document.run.shard is None:
            raise DataError(f"{path}: not a shard (run {document.run.id} was not made with --shard I/N)")
        shards.append(Shard(path, document))
    if not shards:
        raise DataError("merge needs at least one shard's run folder")
    return sorted(shards, key=lambda s: s.document.run.shard.index if s.document.run.shard else 0)


def _setting(document: ResultsDocument, name: str) -> Any:
    value = getattr(document.config, name)
    return list(value) if isinstance(value, tuple) else value


def _fingerprints(document: ResultsDocument) -> set[str]:
    return {i.fingerprint for i in document.model.instances.values() if i.fingerprint}


def check_shards(shards: Sequence[Shard], options: MergeOptions) -> None:
    """Refuse shards that are not parts of one run, naming the two files and what differs."""
    first = shards[0]
    first_shard = _shard_of(first)
    skipped = set(GATE_SETTINGS) if options.gates is not None else set()
    seen: dict[int, Shard] = {}
    owner: dict[str, Shard] = {}
    for shard in shards:
        doc, record = shard.document, _shard_of(shard)
        against = f"{shard.path} and {first.path}"
        if record.count != first_shard.count:
            raise DataError(f"{against}: shards of different splits (--shard {shard.label} and {first.label})")
        if record.index in seen:
            raise DataError(f"{shard.path} and {seen[record.index].path}: both are shard {shard.label}")
        seen[record.index] = shard
        for name in SHARED_SETTINGS:
            if name not in skipped and _setting(doc, name) != _setting(first.document, name):
                raise DataError(
                    f"{against}: different {name.replace('_', '-')} "
                    f"({_setting(doc, name)!r} and {_setting(first.document, name)!r}); only shards of one run merge"
                )
        if (doc.dataset.sha256, doc.dataset.revision) != (
            first.document.dataset.sha256,
            first.document.dataset.revision,
        ):
            raise DataError(
                f"{against}: different dataset files ({doc.dataset.label} sha256 {doc.dataset.sha256[:12]} and "
                f"{first.document.dataset.label} sha256 {first.document.dataset.sha256[:12]})"
            )
        if record.dealt != first_shard.dealt:
            raise DataError(f"{against}: the shards were dealt from different pair lists")
        ours, theirs = (
            doc.prompts.sha256 or doc.prompts.source,
            first.document.prompts.sha256 or first.document.prompts.source,
        )
        if ours != theirs:
            raise DataError(f"{against}: different prompt sets ({ours} and {theirs})")
        models, first_models = _fingerprints(doc), _fingerprints(first.document)
        if models and first_models and models != first_models:
            raise DataError(
                f"{against}: different model weights "
                f"({', '.join(sorted(models))} and {', '.join(sorted(first_models))})"
            )
        for record_ in doc.pairs:
            if record_.pair_id in owner:
                raise DataError(
                    f"{shard.path} and {owner[record_.pair_id].path}: both hold pair {record_.pair_id}; "
                    "shards must not overlap"
                )
            owner[record_.pair_id] = shard
        for pair_id in doc.errors:
            owner.setdefault(pair_id, shard)


def dataset_pairs(shards: Sequence[Shard], options: MergeOptions) -> list[Pair]:
    """The dataset the shards were dealt from, read as they read it (or from --dataset), checked by SHA-256."""
    first = shards[0].document
    source = options.dataset or first.config.dataset or "hub"
    try:
        info = resolve_dataset(source, first.config.dataset_revision)
        pairs = load_pairs(info)
    except DataError as exc:
        raise DataError(
            f"merge deals the dataset again to check each shard's pairs, and cannot read {source}: {exc} "
            "(pass --dataset PATH, the dataset the shards ran on)"
        ) from None
    if info.sha256 != first.dataset.sha256:
        raise DataError(
            f"{source} is not the dataset the shards ran on (sha256 {info.sha256[:12]}, theirs "
            f"{first.dataset.sha256[:12]}); pass --dataset PATH, the dataset the shards ran on"
        )
    return pairs


def check_dealt(shards: Sequence[Shard], pairs: Sequence[Pair]) -> None:
    """Each shard holds only pairs of the dataset that were dealt to it, under an index in range."""
    first = shards[0]
    dealt = list(pairs[: first.document.config.limit])
    count = _shard_of(first).count
    owner = assignment(dealt, count)
    known = {pair.id for pair in pairs}
    for shard in shards:
        record = _shard_of(shard)
        if not 1 <= record.index <= record.count:
            raise DataError(f"{shard.path}: shard index {record.label} is out of range (1 to {record.count})")
        if record.dealt != [pair.id for pair in dealt]:
            raise DataError(f"{shard.path}: its list of dealt pairs is not the dataset's (the file was edited)")
        held = [r.pair_id for r in shard.document.pairs] + list(shard.document.errors)
        probes = shard.document.probes
        held += [r.pair_id for r in probes.pairs] if probes is not None else []
        for pair_id in dict.fromkeys(held):
            if pair_id not in known:
                raise DataError(f"{shard.path}: pair {pair_id} is not in the dataset {shard.document.dataset.label}")
            if owner.get(pair_id) != record.index:
                where = f"shard {owner[pair_id]}/{count}" if pair_id in owner else "no shard (beyond --limit)"
                raise DataError(f"{shard.path}: pair {pair_id} was dealt to {where}, not to this shard {record.label}")


def _config(shards: Sequence[Shard], options: MergeOptions) -> RunConfig:
    config = shards[0].document.config
    changes: dict[str, Any] = {"shard": None}
    if options.results_dir is not None:
        changes["results_dir"] = str(options.results_dir)
    if options.gates is not None:
        changes.update(gates=tuple(options.gates), gates_from_file=False)
        if options.gate_min_pairs is not None:
            changes["gate_min_pairs"] = options.gate_min_pairs
    baseline = options.baseline
    if baseline is None and config.baseline:
        if not Path(config.baseline).is_file():
            raise DataError(
                f"the shards were compared with --baseline {config.baseline}, which is not on this machine: "
                "pass --baseline PATH to merge"
            )
        baseline = config.baseline
    changes["baseline"] = baseline
    return RunConfig.from_dict({**config.to_dict(), **changes})


def _pairs(shards: Sequence[Shard]) -> list[PairRecord]:
    """Every shard's pair records, in dataset order."""
    dealt = shards[0].document.run.shard.dealt if shards[0].document.run.shard else []
    position = {pair_id: i for i, pair_id in enumerate(dealt)}
    records = [record for shard in shards for record in shard.document.pairs]
    return sorted(records, key=lambda r: position.get(r.pair_id, len(position)))


def _probe_records(shards: Sequence[Shard]) -> list[ProbePairRecord] | None:
    """The shards' probe records in probe then dataset order."""
    first = shards[0].document.probes
    if first is None:
        return None
    position = {pair_id: i for i, pair_id in enumerate(_shard_of(shards[0]).dealt)}
    order = {name: i for i, name in enumerate(first.probes)}
    return sorted(
        (r for shard in shards if shard.document.probes is not None for r in shard.document.probes.pairs),
        key=lambda r: (order.get(r.probe, len(order)), position.get(r.pair_id, len(position))),
    )


def _instances(shards: Sequence[Shard]) -> dict[str, InstanceRecord]:
    return {
        f"{shard.label}:{worker}": info for shard in shards for worker, info in shard.document.model.instances.items()
    }


def _timing(shards: Sequence[Shard]) -> dict[str, WorkerTiming]:
    workers: dict[str, WorkerTiming] = {}
    for shard in shards:
        if shard.document.timing is not None:
            workers.update({f"{shard.label}:{k}": v for k, v in shard.document.timing.workers.items()})
    return workers


def _subset(shards: Sequence[Shard], missing: Sequence[int], covered: int, total: int) -> str | None:
    """Which part of the dataset the merged run holds, when it is not all of it."""
    split, config = _shard_of(shards[0]), shards[0].document.config
    parts = []
    if missing:
        parts.append(f"shard(s) {', '.join(f'{i}/{split.count}' for i in missing)} missing")
    if config.limit is not None and config.limit < total:
        parts.append(f"--limit {config.limit}")
    if not missing and covered < len(split.dealt):
        parts.append(f"{len(split.dealt) - covered} dealt pair(s) not selected in their shard (-k, -m, --lf)")
    if not parts:
        return None
    return f"merged shards ({'; '.join(parts)}): {covered} of the dataset's {total} pairs"


def merge(paths: Sequence[Path], options: MergeOptions) -> Merged:
    """Read, check, decide and write the merged run."""
    from mediconfusion_tests.run.writer import write_outputs

    shards = read_shards(paths)
    check_shards(shards, options)
    dataset = dataset_pairs(shards, options)
    check_dealt(shards, dataset)
    first = shards[0].document
    split = _shard_of(shards[0])
    config = _config(shards, options)
    identity = Identity.of_document(first)
    if config.baseline:
        differences = identity_mismatches(read_baseline(config.baseline), identity)
        if differences and not config.allow_baseline_mismatch:
            raise DataError(
                f"--baseline {config.baseline} cannot be compared with these shards: {'; '.join(differences)}"
            )
    records = _pairs(shards)
    errors = {k: v for shard in shards for k, v in shard.document.errors.items()}
    present = {shard.document.run.shard.index for shard in shards if shard.document.run.shard}
    missing = [i for i in range(1, split.count + 1) if i not in present]
    warnings = [
        w for shard in shards for w in shard.document.warnings if "subset" not in w and not is_fallback_warning(w)
    ]
    if missing:
        warnings.insert(0, f"shard(s) {', '.join(f'{i}/{split.count}' for i in missing)} are missing from the merge")
    problems = [p for shard in shards for p in shard.document.problems]
    started = min(shard.document.run.started for shard in shards)
    finished = max(shard.document.run.finished for shard in shards)
    verdict, document = finalize(
        Evidence(
            config=config,
            categories=split.categories or category_names(_pair_views(records)),
            dataset_pairs=[pair.id for pair in dataset],
            pairs=records,
            identity=identity,
            run=RunRecord(
                id=make_run_id(first.model.spec, config.mode, time.time()) + "-merged",
                started=started,
                finished=finished,
                duration_s=round(finished - started, 3),
                complete=not missing and all(shard.document.run.complete for shard in shards),
                subset=_subset(shards, missing, len({r.pair_id for r in records} | set(errors)), len(dataset)),
                merged_from=[
                    MergedShard(
                        shard=shard.label,
                        run_id=shard.document.run.id,
                        file=str(shard.path),
                        hostname=shard.document.environment.hostname,
                        started=shard.document.run.started,
                        finished=shard.document.run.finished,
                        complete=shard.document.run.complete,
                    )
                    for shard in shards
                ],
            ),
            environment=first.environment.model_copy(
                update={"xdist_workers": sum(shard.document.environment.xdist_workers for shard in shards)}
            ),
            dataset=first.dataset,
            model=ModelRecord(
                spec=first.model.spec,
                name=first.model.name,
                summary=first.model.summary,
                note=first.model.note,
                instances=_instances(shards),
            ),
            prompts=first.prompts,
            judge=first.judge,
            errors=errors,
            crashes=[
                c.model_copy(update={"worker": f"{shard.label}:{c.worker}"})
                for shard in shards
                for c in shard.document.crashes
            ],
            silent=sum(1 for r in records if r.status == "not run"),
            other_failures=[f"shard {shard.label}: {f}" for shard in shards for f in shard.document.other_failures],
            stopped_early=any(p.startswith("the run stopped early") for p in problems),
            load_errors=[
                str(info.load_error or "")
                for shard in shards
                for info in shard.document.model.instances.values()
                if info.load_error
            ],
            answer_store=str(config.answer_store_path()) if config.use_store else None,
            warnings=warnings,
            fidelity=first.fidelity,
            probe_pairs=_probe_records(shards),
            timing=_timing(shards),
            usage=[shard.document.usage for shard in shards if shard.document.usage is not None],
        )
    )
    written = write_outputs(document, Path(config.results_dir))
    return Merged(document, verdict, written, exit_status(0, verdict))


@dataclass(frozen=True)
class _PairView:
    categories: tuple[tuple[str, ...], tuple[str, ...]]


def _pair_views(records: Sequence[PairRecord]) -> list[_PairView]:
    return [_PairView((tuple(r.categories[0]), tuple(r.categories[1]))) for r in records]


def _shard_of(shard: Shard) -> ShardRecord:
    record = shard.document.run.shard
    if record is None:  # read_shards lets no other document in
        raise DataError(f"{shard.path}: not a shard")
    return record
