"""Allure annotations for one pair case, and the run-level files Allure reads.

Cases carry epic "MediConfusion", their categories as one feature ("Cerebral +
Vascular") and as tags, and the failure class as story, so an Allure report
groups failures by category and class and counts every pair once.
Only imported when allure-pytest runs with --alluredir.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.atomic import write_text_atomic
from mediconfusion_tests.reporting.gate_text import describe
from mediconfusion_tests.reporting.markdown_text import md, plain

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.data.images import ImageLayout
    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.results.document import ResultsDocument
    from mediconfusion_tests.results.gate import ConditionRecord
    from mediconfusion_tests.scoring.outcome import PairOutcome
    from mediconfusion_tests.scoring.probes import ProbeOutcome

EPIC = "MediConfusion"
SEVERITY = {"error": "blocker", "confused": "critical", "wrong": "normal", "invalid": "minor", None: "trivial"}
#: Allure's defect categories, matched on the failure messages this suite writes (first match wins).
CATEGORIES = [
    {
        "name": "Model error",
        "matchedStatuses": ["failed", "broken"],
        "messageRegex": r"(?s).*(model error: |cannot load model).*",
    },
    {
        "name": "Data error",
        "matchedStatuses": ["skipped", "broken"],
        "messageRegex": r"(?s).*(image \d+ (missing|cannot be decoded)|no recorded answer).*",
    },
    {
        "name": "Confused (same answer for both images)",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s)(Failed: )?confused: .*",
    },
    {"name": "Invalid answer", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*invalid answer on image.*"},
    {"name": "Wrong answer", "matchedStatuses": ["failed"], "messageRegex": r"(?s).*wrong on (image|both).*"},
    {
        "name": "Probe: the decision did not hold",
        "matchedStatuses": ["failed"],
        "messageRegex": r"(?s)(Failed: )?(ORDER|PARAPHRASE|IMAGE) .*",
    },
]


def annotate(outcome: PairOutcome, pair: Pair, layout: ImageLayout | None, config: RunConfig) -> None:
    import allure

    dynamic = allure.dynamic
    dynamic.epic(EPIC)
    # One feature per pair, so Allure's tree counts each pair once (a feature per category
    # made 16 pairs read as 19); each category is also a tag to filter on.
    # Names, labels and parameters are shown as they are: dataset text reaches them without markup.
    dynamic.feature(plain(" + ".join(pair.all_categories)))
    for category in pair.all_categories:
        dynamic.tag(plain(f"category:{category}"))
    dynamic.story(outcome.failure_class or "passed")
    dynamic.severity(SEVERITY[outcome.failure_class])
    dynamic.tag(plain(f"model:{config.model}"))
    dynamic.tag(f"mode:{config.mode}")
    dynamic.title(plain(f"pair {pair.id}: {pair.question}"))
    dynamic.parameter("mediconfusion_pair", plain(pair.id))
    dynamic.parameter("truth", f"image 1: {pair.truth[0]}, image 2: {pair.truth[1]}")
    dynamic.description(_description(pair, outcome))
    if layout is not None and config.images_in_report:
        for index, image in enumerate(pair.images, start=1):
            path = layout.path(image)
            if path.is_file():
                allure.attach.file(
                    str(path), name=f"image {index} ({image.local_id})", attachment_type=allure.attachment_type.JPG
                )
    allure.attach("\n\n---\n\n".join(outcome.prompts), name="prompts", attachment_type=allure.attachment_type.TEXT)
    answers = outcome.to_dict()["answers"]
    allure.attach(
        json.dumps(answers, indent=2, ensure_ascii=False, allow_nan=False),
        name="answers",
        attachment_type=allure.attachment_type.JSON,
    )


def _description(pair: Pair, outcome: PairOutcome) -> str:
    """Markdown, which Allure renders as HTML: dataset text is escaped like in summary.md."""
    lines = [f"**{md(pair.question)}**", "", f"- A: {md(pair.options[0])}", f"- B: {md(pair.options[1])}", ""]
    for index, truth in enumerate(pair.truth, start=1):
        answer = outcome.answers[index - 1] if outcome.answers else None
        decided = "error" if answer is None else (answer.decision or "invalid")
        lines.append(f"- image {index}: truth {truth}, answered {decided}")
    return "\n".join(lines)


def environment_properties(document: ResultsDocument) -> str:
    """Allure's environment.properties: what a reader needs to reproduce the run."""
    config, env, model = document.config, document.environment, document.model
    instances = [instance.model_dump() for instance in model.instances.values()]
    first = instances[0] if instances else {}
    packages = env.packages
    values = {
        "model": config.model,
        "checkpoint": first.get("fingerprint") or "",
        "mode": config.mode,
        "dataset": document.dataset.source,
        "dataset.revision": document.dataset.revision or document.dataset.sha256,
        "prompt.set": document.prompts.used or first.get("prompts") or "",
        "answer.parser": config.answer_parser,
        "torch": packages.get("torch") or "",
        "transformers": packages.get("transformers") or "",
        "device": ", ".join(sorted({str(i.get("device", "")) for i in instances if i.get("device")})),
        "gpus": ", ".join(
            sorted({str(i.get("cuda_visible_devices")) for i in instances if i.get("cuda_visible_devices")})
        ),
        "python": env.python,
        "host": env.hostname,
    }
    return "".join(f"{key}={_escape(str(value))}\n" for key, value in values.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")


def executor(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """Allure's executor.json from the CI's variables, when a known CI runs us."""
    if environ.get("GITHUB_ACTIONS") == "true":
        server, repo, run = (
            environ.get("GITHUB_SERVER_URL", ""),
            environ.get("GITHUB_REPOSITORY", ""),
            environ.get("GITHUB_RUN_ID", ""),
        )
        return {
            "name": "GitHub Actions",
            "type": "github",
            "buildName": f"{environ.get('GITHUB_WORKFLOW', '')} #{environ.get('GITHUB_RUN_NUMBER', '')}".strip(),
            "buildOrder": int(environ.get("GITHUB_RUN_NUMBER", "0") or 0),
            "buildUrl": f"{server}/{repo}/actions/runs/{run}" if server and repo and run else "",
        }
    if environ.get("GITLAB_CI") == "true":
        return {
            "name": "GitLab CI",
            "type": "gitlab",
            "buildName": environ.get("CI_PIPELINE_ID", ""),
            "buildOrder": int(environ.get("CI_PIPELINE_IID", "0") or 0),
            "buildUrl": environ.get("CI_PIPELINE_URL", ""),
        }
    if environ.get("CI"):
        return {"name": environ.get("CI_NAME", "CI"), "type": "ci", "buildName": environ.get("BUILD_ID", "")}
    return None


#: Written beside the results for `mediconfusion report allure`: the release verdict its quality gate shows.
VERDICT_FILE = "mediconfusion-verdict.json"
#: Allure 3 reads ``*-perf.json`` as metrics (its Metrics section and ``metricMin``/``metricMax`` gates).
METRICS_FILE = "mediconfusion-perf.json"


def verdict_record(document: ResultsDocument) -> dict[str, Any]:
    """The release decision as checks Allure's quality gate can show one by one."""
    checks: list[dict[str, Any]] = []
    gate = document.gate
    if gate is not None:
        for condition in gate.conditions:
            checks.append(
                {
                    "rule": condition.condition,
                    "passed": condition.passed,
                    "expected": _expected(condition),
                    "actual": _actual(condition),
                    "message": describe(condition),
                }
            )
    else:
        failing = sum(1 for p in document.pairs if p.failure_class)
        checks.append(
            {
                "rule": "every pair passes (no --gate given)",
                "passed": failing == 0,
                "expected": "0 failing pairs",
                "actual": f"{failing} failing pairs",
                "message": f"{failing} pair case(s) failed and no --gate was given, so any failure fails the run",
            }
        )
    problems = document.problems
    checks.append(
        {
            "rule": "run problems",
            "passed": not problems,
            "expected": "none",
            "actual": f"{len(problems)} problem(s)",
            "message": "; ".join(problems) if problems else "no crash, error or missing pair",
        }
    )
    return {
        "schema": "mediconfusion-tests/allure-verdict",
        "schema_version": 1,
        "run": document.run.id,
        "model": document.model.spec,
        "mode": document.config.mode,
        "pairs": document.counts.pairs_in_dataset,
        "subset": document.run.subset,
        "passed": all(check["passed"] for check in checks),
        "checks": checks,
    }


def _expected(condition: ConditionRecord) -> str:
    if condition.detail is not None or condition.threshold is None:
        return condition.condition
    return f"{condition.op} {condition.threshold:.4g}"


def _actual(condition: ConditionRecord) -> str:
    if condition.detail is not None:
        return condition.detail
    if condition.value is None:
        return "undefined (no pairs to measure it on)"
    return f"{condition.value:.4f} (n={condition.n})"


METRIC_TITLES = {
    "set_accuracy": ("set accuracy", "higher"),
    "confusion": ("confusion", "lower"),
    "individual_accuracy": ("individual accuracy", "higher"),
    "invalid_rate": ("invalid answers", "lower"),
}


def metric_samples(document: ResultsDocument) -> list[dict[str, Any]]:
    """Allure 3 metric samples (percent): the overall figures, then set accuracy per category."""
    start = int(document.run.started * 1000)
    stop = int(document.run.finished * 1000)
    samples: list[dict[str, Any]] = []

    def add(key: str, value: float | None, title: str, better: str, group: str) -> None:
        if value is not None:
            samples.append(
                {
                    "id": f"{document.run.id}:{key}",
                    "key": key,
                    "value": round(100 * value, 4),
                    "start": start,
                    "stop": stop,
                    "title": title,
                    "unit": "%",
                    "better": better,
                    "group": group,
                }
            )

    overall = document.metrics.overall
    for name, (title, better) in METRIC_TITLES.items():
        add(f"mediconfusion.{name}", getattr(overall, name).value, title, better, "MediConfusion")
    for category, figures in document.metrics.categories.items():
        add(
            f"mediconfusion.set_accuracy.{category}",
            figures.paper.set_accuracy.value,
            f"set accuracy: {category}",
            "higher",
            "MediConfusion per category",
        )
    return samples


def write_run_files(alluredir: Path, document: ResultsDocument) -> list[Path]:
    """What Allure reads beside the cases; the controller writes them once, at the end of the run.

    categories.json (Allure 2; Allure 3 takes categories from the configuration
    `mediconfusion report allure` generates), environment.properties, the metrics,
    the verdict and, under CI, executor.json.
    """
    alluredir.mkdir(parents=True, exist_ok=True)
    files = {
        "categories.json": json.dumps(CATEGORIES, indent=2),
        "environment.properties": environment_properties(document),
        METRICS_FILE: json.dumps(metric_samples(document), indent=2, allow_nan=False),
        VERDICT_FILE: json.dumps(verdict_record(document), indent=2, ensure_ascii=False, allow_nan=False),
    }
    info = executor(os.environ)
    if info is not None:
        files["executor.json"] = json.dumps(info, indent=2)
    written = []
    for name, text in files.items():
        write_text_atomic(alluredir / name, text)
        written.append(alluredir / name)
    return written


def annotate_probe(outcome: ProbeOutcome) -> None:
    """A probe case: grouped under its probe (feature and story), tagged by category."""
    import allure

    dynamic = allure.dynamic
    dynamic.epic(EPIC)
    dynamic.feature(f"probe: {outcome.probe}")
    dynamic.story(outcome.probe)
    for category in outcome.all_categories:
        dynamic.tag(plain(f"category:{category}"))
    dynamic.tag("probe")
    dynamic.title(plain(f"{outcome.probe} probe of pair {outcome.pair_id}"))
    dynamic.parameter("mediconfusion_probe", plain(f"{outcome.probe}:{outcome.pair_id}"))
    if outcome.seed is not None:
        dynamic.parameter("hypothesis seed", str(outcome.seed))
    allure.attach(
        json.dumps(outcome.to_dict(), indent=2, ensure_ascii=False, allow_nan=False),
        name="probe",
        attachment_type=allure.attachment_type.JSON,
    )
