"""From what the controller collected to the release decision's inputs and the typed results document."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.prompts import prompt_source
from mediconfusion_tests.results.decision import NOT_RUN, CrashFact, RunFacts, Verdict
from mediconfusion_tests.results.document import (
    SCHEMA_VERSION,
    AuditRecord,
    ConditionRecord,
    Counts,
    CrashRecord,
    DatasetRecord,
    EnvironmentRecord,
    FidelityRecord,
    GateRecord,
    InstanceRecord,
    JudgeRecord,
    MetricsRecord,
    ModelRecord,
    ParserRecord,
    ProbePairRecord,
    ProbesRecord,
    ProbeVariantRecord,
    PromptsRecord,
    ResultsDocument,
    RunRecord,
    ShardRecord,
    TimingRecord,
    UsageRecord,
    WorkerTiming,
    figures_record,
    pair_records,
)
from mediconfusion_tests.run.environment import environment
from mediconfusion_tests.scoring.harness import total_table
from mediconfusion_tests.scoring.metrics import Metrics, scored

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.models.base import ModelSpec
    from mediconfusion_tests.models.registry import ModelEntry
    from mediconfusion_tests.results.comparison import Comparison
    from mediconfusion_tests.run.collector import Collector
    from mediconfusion_tests.run.plan import RunPlan
    from mediconfusion_tests.scoring.outcome import PairOutcome

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


def run_facts(
    collector: Collector,
    pairs: Sequence[Pair],
    outcomes: Sequence[PairOutcome],
    stopped_early: bool,
    comparison: Comparison | None,
    mismatch_allowed: bool,
    answer_store: str | None = None,
) -> RunFacts:
    pair_ids = {pair.id for pair in pairs}
    crashes = [
        CrashFact(
            worker=crash.worker,
            test=crash.test,
            is_pair=crash.test in pair_ids,
            together=len([p for p in crash.in_flight if p != crash.test]),
            answered=crash.test in collector.outcomes,
            retried=crash.retried,
        )
        for crash in collector.crashes.values()
    ]
    stops = [reason.removeprefix(NOT_RUN) for reason in collector.skipped.values() if reason.startswith(NOT_RUN)]
    return RunFacts(
        budget_stop=stops[0] if stops else None,
        unanswered=len(stops) + len(collector.silent()),
        pairs_in_dataset=len(pairs),
        scored=len(scored(outcomes)),
        model_errors=[o.pair_id for o in outcomes if o.error],
        errors=dict(collector.errors),
        duplicates=list(collector.duplicates),
        crashes=crashes,
        silent=len(collector.silent()),
        other_failures=list(collector.other_failures),
        teardown_errors=list(collector.teardown_errors),
        stopped_early=stopped_early,
        load_errors=[str(info["load_error"]) for info in collector.instances.values() if info.get("load_error")],
        baseline_mismatches=comparison.mismatches if comparison is not None else (),
        mismatch_allowed=mismatch_allowed,
        answer_store=answer_store,
    )


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


def audit_warnings(audit: AuditRecord | None) -> list[str]:
    if audit is None or not audit.mismatches:
        return []
    shown = ", ".join(m.pair_id for m in audit.mismatches[:5])
    return [
        f"{len(audit.mismatches)} replayed pair(s) differ from the scores the original harness recorded "
        f"({shown}{'…' if len(audit.mismatches) > 5 else ''}; see model.audit)"
    ]


def timing(instances: Mapping[str, Mapping[str, Any]], wall_s: float, scored_pairs: int) -> TimingRecord:
    workers = {}
    for worker, info in instances.items():
        facts = info.get(TIMING) or {}
        answering = float(facts.get("answering_s", 0.0))
        pairs = int(facts.get("pairs", 0))
        workers[worker] = WorkerTiming(
            model_load_s=facts.get("model_load_s"),
            answering_s=round(answering, 6),
            pairs=pairs,
            pairs_from_store=int(facts.get("pairs_from_store", 0)),
            pairs_per_s=round(pairs / answering, 3) if answering > 0 and pairs else None,
        )
    return timing_of(workers, wall_s)


def timing_of(workers: dict[str, WorkerTiming], wall_s: float) -> TimingRecord:
    """Overall pairs/s: the pairs every worker answered over the longest answering time among them."""
    longest = max((w.answering_s for w in workers.values()), default=0.0)
    answered = sum(w.pairs for w in workers.values())
    return TimingRecord(
        wall_s=round(wall_s, 3),
        workers=workers,
        pairs_per_s=round(answered / longest, 3) if longest > 0 and answered else None,
    )


def usage(instances: Mapping[str, Mapping[str, Any]]) -> UsageRecord | None:
    counted = [info[USAGE] for info in instances.values() if info.get(USAGE)]
    if not counted:
        return None

    def total(key: str) -> Any:
        values = [c.get(key) for c in counted if c.get(key) is not None]
        return sum(values) if values else None

    cost = total("cost_usd")
    return UsageRecord(
        tokens_in=total("tokens_in"),
        tokens_out=total("tokens_out"),
        answers_counted=sum(int(c.get("answers", 0)) for c in counted),
        cost_usd=None if cost is None else round(float(cost), 6),
        requests=total("requests"),
    )


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


def probes_record(config: RunConfig, pairs: Sequence[Pair], collector: Collector) -> ProbesRecord | None:
    """Every probe case's outcome, skip or error, in probe then dataset order, and the roll-up."""
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
                        variants=[ProbeVariantRecord.model_validate(v.to_dict()) for v in outcome.variants],
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
    skipped = Counter(r.probe for r in records if r.status == "skipped")
    outcomes = [o for r in records if (o := r.outcome()) is not None]
    return ProbesRecord(
        probes=list(config.probe_names),
        seed=config.seed,
        examples=config.probe_examples,
        figures=figures_record(outcomes, skipped),
        pairs=records,
    )


def fallbacks(outcomes: Sequence[PairOutcome]) -> dict[str, str]:
    """{pair/image: why} for images whose prefix score fell back from the original's tokens to context."""
    return {
        f"{o.pair_id}/{index}": str(answer.meta["prefix_fallback"])
        for o in outcomes
        for index, answer in enumerate(o.answers or ())
        if answer.meta.get("prefix_fallback")
    }


def fidelity_warnings(outcomes: Sequence[PairOutcome]) -> list[str]:
    found = fallbacks(outcomes)
    if not found:
        return []
    first = ", ".join(list(found)[:5]) + (", ..." if len(found) > 5 else "")
    return [
        f"prefix: {len(found)} image(s) scored by context because the original's option tokens are not in their "
        f"sequence ({first}); results.json fidelity.fallback_images says why"
    ]


def fidelity_record(
    config: RunConfig, instances: Mapping[str, Mapping[str, Any]], outcomes: Sequence[PairOutcome]
) -> FidelityRecord | None:
    facts = next((info["fidelity"] for info in instances.values() if isinstance(info.get("fidelity"), dict)), None)
    if facts is None:
        return None
    paper = sum(answer.meta.get("prefix_tokens") == "paper" for o in outcomes for answer in o.answers or ())
    found = fallbacks(outcomes)
    return FidelityRecord(
        prefix_tokens=str(facts.get("prefix_tokens", config.prefix_tokens)),
        letter_tokens=str(facts.get("letter_tokens", config.letter_tokens)),
        generation=str(facts.get("generation", config.generation)),
        paper_rule=facts.get("paper_rule"),
        dtype_setting=config.effective_dtype,
        dtype_given=config.dtype is not None,
        dtype=facts.get("dtype"),
        batching=facts.get("batching"),
        paper_images=paper,
        fallbacks=len(found),
        fallback_images=found,
    )


def _instance(info: Mapping[str, Any]) -> InstanceRecord:
    kept = {k: v for k, v in info.items() if k not in (TIMING, USAGE)}
    return InstanceRecord.model_validate(kept)


def prompts_used(instances: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The prompt set the model was really asked with, as the workers report it."""
    used = sorted({str(info["prompts"]) for info in instances.values() if info.get("prompts")})
    return ", ".join(used) if used else None


def assemble(
    context: RunContext,
    collector: Collector,
    outcomes: Sequence[PairOutcome],
    metrics: Metrics,
    verdict: Verdict,
    comparison: Comparison | None,
    audit: AuditRecord | None,
    complete: bool,
    finished: float,
) -> ResultsDocument:
    plan, config = context.plan, context.plan.config
    answered = scored(outcomes)
    disagreements = sum(a.decision != a.alternative_decision for o in answered for a in o.answers or ())
    classes = Counter(o.failure_class for o in outcomes if o.failure_class)
    source = prompt_source(config.prompts)
    layout = None if plan.layout is None else vars(plan.layout)
    return ResultsDocument(
        schema_version=SCHEMA_VERSION,
        run=RunRecord(
            id=plan.run_id,
            started=context.started,
            finished=finished,
            duration_s=round(finished - context.started, 3),
            complete=complete,
            subset=subset(context, collector),
            shard=shard_record(context),
        ),
        config=config,
        environment=EnvironmentRecord.model_validate(environment(context.rootdir, context.workers)),
        dataset=DatasetRecord.model_validate({**plan.dataset.to_dict(), "layout": layout}),
        model=ModelRecord(
            spec=context.spec.raw,
            name=context.spec.name,
            summary=context.entry.summary,
            note=context.entry.note,
            instances={worker: _instance(info) for worker, info in collector.instances.items()},
            audit=audit,
        ),
        prompts=PromptsRecord(
            source=source["source"], sha256=source.get("sha256"), used=prompts_used(collector.instances)
        ),
        parser=ParserRecord(
            name=config.answer_parser if config.mode == "mc" else None,
            disagreements=disagreements if config.mode == "mc" else None,
        ),
        counts=Counts(
            pairs_in_dataset=len(context.pairs),
            pairs_scored=len(answered),
            pairs_errored=len([o for o in outcomes if o.error]) + len(collector.errors),
            pairs_skipped=len(skips(plan, collector)),
            failure_classes=dict(classes),
        ),
        metrics=MetricsRecord.model_validate(metrics.to_dict()),
        harness_counts=total_table(answered, plan.categories),
        gate=GateRecord(
            conditions=[ConditionRecord.model_validate(r.to_dict()) for r in verdict.results],
            passed=bool(verdict.passed),
        )
        if verdict.gated
        else None,
        judge=judge_record(config),
        problems=list(verdict.problems),
        warnings=list(verdict.warnings),
        crashes=[
            CrashRecord(worker=c.worker, pair_id=c.test, in_flight=c.in_flight, retried=c.retried)
            for c in collector.crashes.values()
        ],
        other_failures=collector.other_failures + [f"teardown: {e}" for e in collector.teardown_errors],
        baseline=None if comparison is None else comparison.record(config.allow_baseline_mismatch),
        errors=dict(collector.errors),
        timing=timing(collector.instances, finished - context.started, len(answered)),
        usage=usage(collector.instances),
        probes=probes_record(config, context.pairs, collector),
        fidelity=fidelity_record(config, collector.instances, outcomes),
        pairs=pair_records(context.pairs, collector.outcomes, skips(plan, collector)),
    )
