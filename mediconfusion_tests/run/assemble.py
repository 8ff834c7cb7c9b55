"""From what the controller collected to the evidence finalize.py decides and records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.prompts import prompt_source
from mediconfusion_tests.results.document import (
    AuditRecord,
    CrashRecord,
    DatasetRecord,
    EnvironmentRecord,
    FidelityRecord,
    InstanceRecord,
    JudgeRecord,
    ModelRecord,
    ProbePairRecord,
    PromptsRecord,
    RunRecord,
    ShardRecord,
    UsageRecord,
    WorkerTiming,
    pair_records,
)
from mediconfusion_tests.run.environment import environment
from mediconfusion_tests.run.finalize import Evidence

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.registry import ModelEntry
    from mediconfusion_tests.results.comparison import Identity
    from mediconfusion_tests.run.collector import Collector
    from mediconfusion_tests.run.plan import RunPlan

#: Keys a process's model facts carry that the document records elsewhere.
TIMING, USAGE, STORE_UNREADABLE = "timing", "usage", "store_unreadable"


@dataclass(frozen=True)
class RunContext:
    """What the controller knows of a run before any outcome: plan, pairs, model, where and when."""

    plan: RunPlan
    pairs: Sequence[Pair]
    spec: ModelSpec
    entry: ModelEntry
    rootdir: Path
    workers: int
    started: float


def subset(context: RunContext, collector: Collector) -> str | None:
    """Which part of the dataset the run scored, when it is not all of it."""
    total = len(context.pairs)
    limit = context.plan.config.limit
    selected = len(collector.expected) if collector.expected is not None else total
    shard = context.plan.config.shard
    if shard:
        return f"--shard {shard}: {selected} of the dataset's {total} pairs (combine shards with `mediconfusion merge`)"
    if limit is not None and limit < total:
        chosen = f", {selected} of them selected" if selected < limit else ""
        return f"--limit {limit}: the first {limit} of the dataset's {total} pairs{chosen}"
    if selected < total:
        return f"{selected} of the dataset's {total} pairs selected (-k, -m, --lf or deselection)"
    return None


def shard_record(context: RunContext) -> ShardRecord | None:
    shard = context.plan.config.shard
    if not shard:
        return None
    from mediconfusion_tests.run.shards import parse

    index, count = parse(shard)
    dealt = [pair.id for pair in context.pairs[: context.plan.config.limit]]
    return ShardRecord(index=index, count=count, dealt=dealt, categories=list(context.plan.categories))


def skips(plan: RunPlan, collector: Collector) -> dict[str, str]:
    """Pairs skipped before running (missing images, no recorded answer) or by pytest, among those selected."""
    selected = collector.expected
    planned = {k: v for k, v in plan.skipped.items() if selected is None or k in selected}
    return {**planned, **collector.skipped}


def instance_warnings(instances: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What the adapters warn about (once, however many workers say it), and unreadable stored answers."""
    said = [str(w) for info in instances.values() for w in info.get("warnings") or ()]
    warnings = list(dict.fromkeys(said))
    unreadable = sum(int(info.get(STORE_UNREADABLE, 0) or 0) for info in instances.values())
    if unreadable:
        warnings.append(
            f"{unreadable} stored answer(s) could not be read from the answer store and were answered again"
        )
    return warnings


def worker_timing(instances: Mapping[str, Mapping[str, Any]]) -> dict[str, WorkerTiming]:
    workers = {}
    for worker, info in instances.items():
        facts = info.get(TIMING) or {}
        answering = float(facts.get("answering_s", 0.0))
        pairs = int(facts.get("pairs", 0))
        forwards, images = facts.get("image_forwards"), facts.get("images_answered")
        workers[worker] = WorkerTiming(
            image_forwards=forwards,
            images_answered=images,
            forwards_per_image=round(forwards / images, 4) if forwards is not None and images else None,
            preprocess_pool=facts.get("preprocess_pool"),
            model_load_s=facts.get("model_load_s"),
            answering_s=round(answering, 6),
            pairs=pairs,
            pairs_from_store=int(facts.get("pairs_from_store", 0)),
            pairs_per_s=round(pairs / answering, 3) if answering > 0 and pairs else None,
        )
    return workers


def usage(instances: Mapping[str, Mapping[str, Any]]) -> list[UsageRecord]:
    """What each process counted, as records (finalize sums them)."""
    return [
        UsageRecord(
            tokens_in=counted.get("tokens_in"),
            tokens_out=counted.get("tokens_out"),
            answers_counted=int(counted.get("answers", 0)),
            cost_usd=counted.get("cost_usd"),
            requests=counted.get("requests"),
        )
        for info in instances.values()
        if (counted := info.get(USAGE))
    ]


def judge_record(config: RunConfig) -> JudgeRecord | None:
    if config.mode != "freeform" or not config.judge:
        return None
    from mediconfusion_tests.prompts import prompt_set
    from mediconfusion_tests.run.runtime import judge_config

    prompts = prompt_set(config.prompts, "default")
    used = judge_config(config)
    return JudgeRecord(
        spec=config.judge,
        prompt="builtin" if config.prompts is None else f"{config.prompts} (its conversion.instruct_prompt)",
        instruction=prompts.judge,
        system=prompts.judge_system,
        temperature=used.temperature,
        max_new_tokens=used.max_new_tokens,
        threshold=config.judge_threshold,
    )


def probe_records(config: RunConfig, pairs: Sequence[Pair], collector: Collector) -> list[ProbePairRecord] | None:
    """Every probe case's outcome, skip or error, in probe then dataset order."""
    if not config.probe_names:
        return None
    from mediconfusion_tests.scoring.probes import ProbeOutcome

    records = []
    for probe in config.probe_names:
        for pair in pairs:
            key = f"{probe}:{pair.id}"
            categories = (list(pair.categories[0]), list(pair.categories[1]))
            outcome = collector.probes.get(key)
            if outcome is None and key in collector.probe_errors:
                outcome = ProbeOutcome(probe, pair.id, pair.categories, (None, None), error=collector.probe_errors[key])
            if outcome is not None:
                consistent = outcome.consistent
                status = "error" if consistent is None else ("consistent" if consistent else "inconsistent")
                records.append(
                    ProbePairRecord(
                        probe=probe,
                        pair_id=pair.id,
                        categories=categories,
                        status=status,
                        original=outcome.original,
                        variants=list(outcome.variants),
                        set_correct=outcome.set_correct,
                        seed=outcome.seed,
                        reason=outcome.error,
                    )
                )
            elif key in collector.probe_skips:
                records.append(
                    ProbePairRecord(
                        probe=probe,
                        pair_id=pair.id,
                        categories=categories,
                        status="skipped",
                        reason=collector.probe_skips[key],
                    )
                )
    return records


def fidelity_settings(config: RunConfig, instances: Mapping[str, Mapping[str, Any]]) -> FidelityRecord | None:
    facts = next((info["fidelity"] for info in instances.values() if isinstance(info.get("fidelity"), dict)), None)
    if facts is None:
        return None
    return FidelityRecord(
        prefix_tokens=str(facts.get("prefix_tokens", config.prefix_tokens)),
        letter_tokens=str(facts.get("letter_tokens", config.letter_tokens)),
        generation=str(facts.get("generation", config.generation)),
        paper_rule=facts.get("paper_rule"),
        dtype_setting=config.effective_dtype,
        dtype_given=config.dtype is not None,
        dtype=facts.get("dtype"),
        batching=facts.get("batching"),
        image_backend=facts.get("image_backend"),
    )


def _instance(info: Mapping[str, Any]) -> InstanceRecord:
    kept = {k: v for k, v in info.items() if k not in (TIMING, USAGE)}
    return InstanceRecord.model_validate(kept)


def prompts_used(instances: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The prompt set the model was really asked with, as the workers report it."""
    used = sorted({str(info["prompts"]) for info in instances.values() if info.get("prompts")})
    return ", ".join(used) if used else None


def evidence(
    context: RunContext,
    collector: Collector,
    identity: Identity,
    audit: AuditRecord | None,
    warnings: Sequence[str],
    complete: bool,
    finished: float,
    stopped_early: bool,
) -> Evidence:
    """What the controller heard, as finalize reads it (the pair records are the outcomes of record)."""
    plan, config = context.plan, context.plan.config
    source = prompt_source(config.prompts)
    layout = None if plan.layout is None else vars(plan.layout)
    return Evidence(
        config=config,
        categories=plan.categories,
        dataset_pairs=[pair.id for pair in context.pairs],
        pairs=pair_records(context.pairs, collector.outcomes, skips(plan, collector)),
        identity=identity,
        run=RunRecord(
            id=plan.run_id,
            started=context.started,
            finished=finished,
            duration_s=round(finished - context.started, 3),
            complete=complete,
            subset=subset(context, collector),
            shard=shard_record(context),
        ),
        environment=EnvironmentRecord.model_validate(environment(context.rootdir, context.workers)),
        dataset=DatasetRecord.model_validate({**plan.dataset.model_dump(), "layout": layout}),
        model=ModelRecord(
            spec=context.spec.raw,
            name=context.spec.name,
            summary=context.entry.summary,
            note=context.entry.note,
            instances={worker: _instance(info) for worker, info in collector.instances.items()},
        ),
        prompts=PromptsRecord(
            source=source["source"], sha256=source.get("sha256"), used=prompts_used(collector.instances)
        ),
        judge=judge_record(config),
        errors=dict(collector.errors),
        crashes=[
            CrashRecord(worker=c.worker, pair_id=c.test, in_flight=c.in_flight, retried=c.retried)
            for c in collector.crashes.values()
        ],
        duplicates=list(collector.duplicates),
        silent=len(collector.silent()),
        other_failures=list(collector.other_failures),
        teardown_errors=list(collector.teardown_errors),
        stopped_early=stopped_early,
        load_errors=[str(info["load_error"]) for info in collector.instances.values() if info.get("load_error")],
        answer_store=str(config.answer_store_path()) if config.use_store else None,
        warnings=[*warnings, *instance_warnings(collector.instances)],
        audit=audit,
        fidelity=fidelity_settings(config, collector.instances),
        probe_pairs=probe_records(config, context.pairs, collector),
        timing=worker_timing(collector.instances),
        usage=usage(collector.instances),
    )
