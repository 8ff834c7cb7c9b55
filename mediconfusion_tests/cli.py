"""The ``mediconfusion`` command: tools around the pytest suite.

``mediconfusion summary RESULTS.json`` prints a finished run's table again,
recomputed from its per-pair records (so it also checks the file).
``mediconfusion report RESULTS.json`` rebuilds the self-contained HTML report;
``mediconfusion report allure [ALLUREDIR]`` builds the Allure 3 report;
``mediconfusion compare A.json B.json ...`` ranks runs, with significance against the top one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mediconfusion_tests.reporting.allure_build import build_allure
from mediconfusion_tests.reporting.html_report import write_report
from mediconfusion_tests.reporting.results_json import outcomes_from_document, read_results
from mediconfusion_tests.reporting.tables import interval_line, terminal_table
from mediconfusion_tests.scoring.metrics import compute_metrics


def summary(path: Path) -> int:
    try:
        results = read_results(path)
    except (OSError, ValueError) as exc:
        print(f"mediconfusion: {exc}", file=sys.stderr)
        return 2
    metrics = compute_metrics(outcomes_from_document(results))
    model, config = results["model"], results["config"]
    print(f"{results['run']['id']}: model {model['spec']} · mode {config['mode']} · dataset {config['dataset']}")
    for line in terminal_table(metrics):
        print(line)
    print(interval_line(metrics.overall))
    gate = results.get("gate")
    if gate is not None:
        print("gate " + ("passed" if gate["passed"] else "FAILED"))
    if metrics.to_dict() != results["metrics"]:
        print("WARNING: the stored metrics differ from those recomputed from the pair records", file=sys.stderr)
        return 1
    return 0


def _results_path(path: Path) -> Path:
    return path / "results.json" if path.is_dir() else path


def html(path: Path, output: Path | None) -> int:
    try:
        document = read_results(path)
    except (OSError, ValueError) as exc:
        print(f"mediconfusion: {exc}", file=sys.stderr)
        return 2
    written = write_report(document, output or path.with_name("report.html"))
    print(f"report: {written}")
    return 0


def leaderboard(paths: Sequence[Path], markdown_path: Path | None, html_path: Path | None) -> int:
    from mediconfusion_tests.reporting import leaderboard as board_module

    documents = []
    for path in paths:
        try:
            document = read_results(_results_path(path))
        except (OSError, ValueError) as exc:
            print(f"mediconfusion: {exc}", file=sys.stderr)
            return 2
        documents.append((f"{document['run']['id']}", document))
    board = board_module.build(board_module.rank(documents))
    for line in board_module.terminal(board):
        print(line)
    if markdown_path is not None:
        markdown_path.write_text(board_module.markdown(board), encoding="utf-8")
        print(f"markdown: {markdown_path}")
    if html_path is not None:
        html_path.write_text(board_module.page(board), encoding="utf-8")
        print(f"html: {html_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mediconfusion", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("summary", help="print the table of a results.json")
    show.add_argument("results", type=Path, help="a results.json, or a run folder (e.g. reports/latest)")
    report = commands.add_parser(
        "report",
        help="build report.html from a results.json, or the Allure report: report allure [ALLUREDIR]",
        description="mediconfusion report RESULTS.json [-o FILE] | mediconfusion report allure [ALLUREDIR] "
        "[-o DIR] [--history FILE]",
    )
    report.add_argument("target", help="a results.json or run folder, or the word 'allure'")
    report.add_argument(
        "alluredir",
        nargs="?",
        type=Path,
        default=Path("allure-results"),
        help="with 'allure': the --alluredir of the run (default: allure-results)",
    )
    report.add_argument("-o", "--output", type=Path, help="output file (HTML) or folder (Allure)")
    report.add_argument(
        "--history",
        type=Path,
        default=Path("allure-history.jsonl"),
        help="with 'allure': history file carried between runs (default: allure-history.jsonl)",
    )
    versus = commands.add_parser("compare", help="leaderboard of several runs (terminal, markdown, HTML)")
    versus.add_argument("results", nargs="+", type=Path, help="results.json files or run folders")
    versus.add_argument("--markdown", type=Path, help="also write the leaderboard as markdown here")
    versus.add_argument("--html", type=Path, help="also write it as a self-contained HTML page here")
    args = parser.parse_args(argv)
    if args.command == "compare":
        return leaderboard(args.results, args.markdown, args.html)
    if args.command == "summary":
        return summary(_results_path(args.results))
    if args.target == "allure":
        return build_allure(args.alluredir, args.output or Path("allure-report"), args.history)
    return html(_results_path(Path(args.target)), args.output)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
