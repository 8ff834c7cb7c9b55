"""The one place a run becomes a release decision and a results document.

A single run (session.py) and a merge of shards (merge.py) gather different
evidence — a collector's reports, or the shards' documents — into one
``Evidence``; everything derived from it is computed here, once: the outcomes
(read back from the pair records, as a merge reads them), metrics, the baseline
comparison, the gate, the decision and the document. A merged run and a single
run therefore cannot decide the same pairs differently. No pytest import here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mediconfusion_tests.results.comparison import Comparison, Identity, compare, regression_checks
from mediconfusion_tests.results.decision import NOT_RUN, CrashFact, RunFacts, Verdict, decide
from mediconfusion_tests.results.document import (
    SCHEMA_VERSION,
    AuditRecord,
    Counts,
    CrashRecord,
    DatasetRecord,
    EnvironmentRecord,
    FidelityRecord,
    GateRecord,
    JudgeRecord,
    ModelRecord,
    PairRecord,
    ParserRecord,
    ProbePairRecord,
    ProbesRecord,
    PromptsRecord,
    ResultsDocument,
    RunRecord,
    TimingRecord,
    UsageRecord,
    WorkerTiming,
    figures_record,
    scrub_document,
)
from mediconfusion_tests.results.gate import ConditionRecord, evaluate
from mediconfusion_tests.run.plan import gate_conditions, read_baseline
from mediconfusion_tests.scoring.harness import total_table
from mediconfusion_tests.scoring.metrics import compute_metrics, scored
from mediconfusion_tests.scoring.probes import baseline_probe_figures, probe_figures
from mediconfusion_tests.scoring.similarity import SimilarityRecord, summarize_similarity

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.scoring.outcome import PairOutcome

#: How the warning about prefix fallbacks begins: recomputed for a merge, so the shards' own are dropped.
FALLBACK_WARNING = "prefix: "
_FALLBACK_TAIL = "image(s) scored by context because the original's option tokens are not in their sequence"


@dataclass(frozen=True)
class Evidence:
    """What a run (or a merge of shards) knows before it is decided.

    Records that are copied into the document as they are, and the happenings the
    decision reads; nothing here is derived from the pair records."""

    config: RunConfig
    #: The dataset's category names, in the order tables show them.
    categories: Sequence[str]
    #: Every dataset pair's id, in dataset order (a crash is a pair's when its test is one of these).
    dataset_pairs: Sequence[str]
    #: The pairs the run holds (answered, errored or skipped), in dataset order.
    pairs: Sequence[PairRecord]
    #: What a baseline is compared against: this run's model, mode, dataset and settings.
    identity: Identity
    run: RunRecord
    environment: EnvironmentRecord
    dataset: DatasetRecord
    model: ModelRecord
    prompts: PromptsRecord
    judge: JudgeRecord | None = None
    #: Pairs that failed without an outcome (a crashed worker, a collection error), by pair id.
    errors: Mapping[str, str] = field(default_factory=dict)
    crashes: Sequence[CrashRecord] = ()
    duplicates: Sequence[str] = ()
    #: Selected pairs nobody reported on.
    silent: int = 0
    other_failures: Sequence[str] = ()
    teardown_errors: Sequence[str] = ()
    stopped_early: bool = False
    load_errors: Sequence[str] = ()
    #: Where every answer received is kept, or None with --no-store.
    answer_store: str | None = None
    warnings: Sequence[str] = ()
    audit: AuditRecord | None = None
    #: The fidelity settings the model reported; the image counts are recomputed here.
    fidelity: FidelityRecord | None = None
    #: Probe records in probe then dataset order, or None without probes.
    probe_pairs: Sequence[ProbePairRecord] | None = None
    timing: Mapping[str, WorkerTiming] = field(default_factory=dict)
    usage: Sequence[UsageRecord] = ()


def finalize(evidence: Evidence) -> tuple[Verdict, ResultsDocument]:
    """The release decision and the (scrubbed) results document of ``evidence``."""
    config = evidence.config
    outcomes = [o for record in evidence.pairs if (o := record.outcome()) is not None]
    metrics = compute_metrics(outcomes)
    probes = _probes(config, evidence.probe_pairs)
    comparison = _comparison(config, outcomes, evidence.identity)
    results: list[ConditionRecord] = []
    # A shard holds part of the pairs: `mediconfusion merge` gates and compares the whole.
    if not config.shard:
        results += evaluate(
            gate_conditions(config, evidence.categories),
            metrics,
            comparison.baseline_metrics if comparison else None,
            comparison.new_metrics if comparison else None,
            probe_figures(probes.outcomes()) if probes is not None else {},
            baseline_probe_figures(read_baseline(config.baseline)) if config.baseline else None,
        )
    if comparison is not None:
        results += regression_checks(
            comparison, config.fail_on_significant_regression, config.alpha, config.max_regressed_pairs
        )
    facts = _facts(evidence, outcomes, comparison)
    warnings = [*evidence.warnings, *audit_warnings(evidence.audit), *fidelity_warnings(outcomes)]
    from_file = config.gates_from_file and config.gate_min_pairs == "all"
    verdict = decide(results, facts, list(dict.fromkeys(warnings)), config.gate_min_pairs, from_file)
    answered = scored(outcomes)
    mc = config.mode == "mc"
    document = ResultsDocument(
        schema_version=SCHEMA_VERSION,
        run=evidence.run.model_copy(update={"complete": evidence.run.complete and facts.budget_stop is None}),
        config=config,
        environment=evidence.environment,
        dataset=evidence.dataset,
        model=evidence.model.model_copy(update={"audit": evidence.audit}),
        prompts=evidence.prompts,
        parser=ParserRecord(
            name=config.answer_parser if mc else None,
            disagreements=sum(a.decision != a.alternative_decision for o in answered for a in o.answers or ())
            if mc
            else None,
        ),
        counts=Counts(
            pairs_in_dataset=len(evidence.dataset_pairs),
            pairs_scored=len(answered),
            pairs_errored=len([o for o in outcomes if o.error]) + len(evidence.errors),
            pairs_skipped=len([r for r in evidence.pairs if r.status == "skipped"]),
            failure_classes=dict(Counter(o.failure_class for o in outcomes if o.failure_class)),
        ),
        metrics=metrics,
        harness_counts=total_table(answered, evidence.categories),
        gate=GateRecord(
            conditions=list(verdict.results),
            passed=bool(verdict.passed),
        )
        if verdict.gated
        else None,
        judge=evidence.judge,
        problems=list(verdict.problems),
        warnings=list(verdict.warnings),
        crashes=list(evidence.crashes),
        other_failures=[*evidence.other_failures, *(f"teardown: {e}" for e in evidence.teardown_errors)],
        baseline=None if comparison is None else comparison.record(config.allow_baseline_mismatch),
        errors=dict(evidence.errors),
        timing=timing_of(evidence.timing, evidence.run.duration_s),
        usage=total_usage(evidence.usage),
        probes=probes,
        fidelity=_fidelity(evidence.fidelity, outcomes),
        encoder_similarity=_similarity(evidence.model, outcomes),
        pairs=list(evidence.pairs),
    )
    return verdict, scrub_document(document)


def _similarity(model: ModelRecord, outcomes: Sequence[PairOutcome]) -> SimilarityRecord | None:
    """What --encoder-similarity measured, from the pairs and each process's account of its meter."""
    statuses = [
        found
        for instance in model.instances.values()
        if isinstance(found := (instance.model_extra or {}).get("encoder_similarity"), dict)
    ]
    if not statuses and not any(o.similarity is not None for o in outcomes):
        return None
    return summarize_similarity(outcomes, statuses)


def _comparison(config: RunConfig, outcomes: Sequence[PairOutcome], identity: Identity) -> Comparison | None:
    if not config.baseline or config.shard:
        return None
    return compare(read_baseline(config.baseline), outcomes, identity, config.baseline)


def _facts(evidence: Evidence, outcomes: Sequence[PairOutcome], comparison: Comparison | None) -> RunFacts:
    pair_ids = set(evidence.dataset_pairs)
    answered = {o.pair_id for o in outcomes}
    crashes = [
        CrashFact(
            worker=crash.worker,
            test=crash.pair_id,
            is_pair=crash.pair_id in pair_ids,
            together=len([p for p in crash.in_flight if p != crash.pair_id]),
            answered=crash.pair_id in answered,
            retried=crash.retried,
        )
        for crash in evidence.crashes
    ]
    stops = [
        (r.reason or "").removeprefix(NOT_RUN)
        for r in evidence.pairs
        if r.status == "skipped" and (r.reason or "").startswith(NOT_RUN)
    ]
    return RunFacts(
        pairs_in_dataset=len(evidence.dataset_pairs),
        scored=len(scored(outcomes)),
        model_errors=[o.pair_id for o in outcomes if o.error],
        errors=dict(evidence.errors),
        duplicates=list(evidence.duplicates),
        crashes=crashes,
        silent=evidence.silent,
        other_failures=list(evidence.other_failures),
        teardown_errors=list(evidence.teardown_errors),
        stopped_early=evidence.stopped_early,
        load_errors=list(evidence.load_errors),
        baseline_mismatches=comparison.mismatches if comparison is not None else (),
        mismatch_allowed=evidence.config.allow_baseline_mismatch,
        budget_stop=stops[0] if stops else None,
        unanswered=len(stops) + evidence.silent,
        answer_store=evidence.answer_store,
    )


def _probes(config: RunConfig, records: Sequence[ProbePairRecord] | None) -> ProbesRecord | None:
    if records is None:
        return None
    skipped = Counter(r.probe for r in records if r.status == "skipped")
    outcomes = [o for r in records if (o := r.outcome()) is not None]
    return ProbesRecord(
        probes=list(config.probe_names),
        seed=config.seed,
        examples=config.probe_examples,
        figures=figures_record(outcomes, skipped),
        pairs=list(records),
    )


def timing_of(workers: Mapping[str, WorkerTiming], wall_s: float) -> TimingRecord:
    """Overall pairs/s: the pairs every worker answered over the longest answering time among them."""
    longest = max((w.answering_s for w in workers.values()), default=0.0)
    answered = sum(w.pairs for w in workers.values())
    counted = [w for w in workers.values() if w.image_forwards is not None and w.images_answered]
    images = sum(w.images_answered or 0 for w in counted)
    return TimingRecord(
        wall_s=round(wall_s, 3),
        workers=dict(workers),
        pairs_per_s=round(answered / longest, 3) if longest > 0 and answered else None,
        forwards_per_image=round(sum(w.image_forwards or 0 for w in counted) / images, 4) if images else None,
    )


def total_usage(counted: Sequence[UsageRecord]) -> UsageRecord | None:
    """Tokens, requests and cost summed over processes (a total is None when no process counted it)."""
    if not counted:
        return None

    def total(values: Sequence[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    costs = [u.cost_usd for u in counted if u.cost_usd is not None]
    return UsageRecord(
        tokens_in=total([u.tokens_in for u in counted]),
        tokens_out=total([u.tokens_out for u in counted]),
        answers_counted=sum(u.answers_counted for u in counted),
        cost_usd=round(float(sum(costs)), 6) if costs else None,
        requests=total([u.requests for u in counted]),
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
        f"{FALLBACK_WARNING}{len(found)} {_FALLBACK_TAIL} ({first}); results.json fidelity.fallback_images says why"
    ]


def is_fallback_warning(warning: str) -> bool:
    return warning.startswith(FALLBACK_WARNING) and _FALLBACK_TAIL in warning


def _fidelity(settings: FidelityRecord | None, outcomes: Sequence[PairOutcome]) -> FidelityRecord | None:
    if settings is None:
        return None
    found = fallbacks(outcomes)
    paper = sum(answer.meta.get("prefix_tokens") == "paper" for o in outcomes for answer in o.answers or ())
    return settings.model_copy(update={"paper_images": paper, "fallbacks": len(found), "fallback_images": found})


def audit_warnings(audit: AuditRecord | None) -> list[str]:
    if audit is None or not audit.mismatches:
        return []
    shown = ", ".join(m.pair_id for m in audit.mismatches[:5])
    return [
        f"{len(audit.mismatches)} replayed pair(s) differ from the scores the original harness recorded "
        f"({shown}{'…' if len(audit.mismatches) > 5 else ''}; see model.audit)"
    ]
