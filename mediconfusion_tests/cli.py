"""The ``mediconfusion`` command: tools around the pytest suite.

``mediconfusion summary RESULTS.json`` prints a finished run's table again,
recomputed from its per-pair records (so it also checks the file).
``mediconfusion report RESULTS.json`` rebuilds the self-contained HTML report;
``mediconfusion report allure [ALLUREDIR]`` builds the Allure 3 report;
``mediconfusion compare A.json B.json ...`` ranks runs, with significance against the top one.
``mediconfusion schema`` prints the JSON Schema every results.json is validated against.
``mediconfusion clean --keep N`` removes old run folders beyond the newest N.
``mediconfusion merge RUN_DIR...`` joins the shards of a ``--shard I/N`` run into one run and decides it;
``mediconfusion merge-stores INTO FROM...`` copies answer stores into one.
``mediconfusion fetch-images`` downloads the 228 benchmark images; ``verify-images`` checks them.
``mediconfusion mine-pairs SRC -o DIR`` finds candidate confusing pairs in your own captioned images.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import DataError
from mediconfusion_tests.mining.command import add_mining_commands, merge_embeddings_command, mine_pairs_command
from mediconfusion_tests.reporting.allure_build import build_allure
from mediconfusion_tests.reporting.html_report import write_report
from mediconfusion_tests.reporting.tables import interval_line, terminal_table
from mediconfusion_tests.results.document import ResultsDocument, json_schema, read_document
from mediconfusion_tests.scoring.metrics import compute_metrics

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: Exit status for input that cannot be used (a malformed dataset, a tampered shard), as a run's usage error.
BAD_INPUT = 4


def _read(path: Path) -> ResultsDocument | None:
    """The validated document, or None after one line on stderr saying what is wrong with the file."""
    try:
        return read_document(path)
    except (OSError, ValueError) as exc:
        print(f"mediconfusion: {exc}", file=sys.stderr)
        return None


def summary(path: Path) -> int:
    document = _read(path)
    if document is None:
        return 2
    recomputed = compute_metrics(document.outcomes())
    config = document.config
    dataset = config.dataset or document.dataset.source
    print(f"{document.run.id}: model {document.model.spec} · mode {config.mode} · dataset {dataset}")
    for line in terminal_table(recomputed):
        print(line)
    print(interval_line(recomputed.overall))
    gate = document.gate
    if gate is not None:
        print("gate " + ("passed" if gate.passed else "FAILED"))
    if recomputed != document.metrics:
        print("WARNING: the stored metrics differ from those recomputed from the pair records", file=sys.stderr)
        return 1
    # The exit status a CI step can use: the gate's verdict, as the run itself gave it.
    return 1 if gate is not None and not gate.passed else 0


def _results_path(path: Path) -> Path:
    return path / "results.json" if path.is_dir() else path


def html(path: Path, output: Path | None) -> int:
    document = _read(path)
    if document is None:
        return 2
    written = write_report(document, output or path.with_name("report.html"))
    print(f"report: {written}")
    return 0


def schema(output: Path | None, pairs: bool = False) -> int:
    from mediconfusion_tests.data.own_pairs import PAIR_SCHEMA

    text = json.dumps(PAIR_SCHEMA if pairs else json_schema(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"schema: {output}")
    return 0


def validate_pairs_command(source: str, revision: str | None) -> int:
    from mediconfusion_tests.data.own_pairs import validate_pairs

    try:
        good, problems = validate_pairs(source, revision)
    except DataError as exc:
        print(f"mediconfusion validate-pairs: {exc}", file=sys.stderr)
        return 4
    for problem in problems:
        print(f"  - {problem}")
    if problems:
        print(f"{source}: {len(problems)} problem(s); {good} pair(s) are usable")
        return 1
    print(f"{source}: {good} pair(s), no problems")
    return 0


def make_pairs_command(args: argparse.Namespace) -> int:
    from mediconfusion_tests.data.own_pairs import make_pairs

    if args.output is None and args.push_to_hub is None:
        print("mediconfusion make-pairs: give -o FOLDER and/or --push-to-hub ORG/NAME", file=sys.stderr)
        return 2
    if args.output is not None and args.output.exists() and any(args.output.iterdir()):
        print(f"mediconfusion make-pairs: {args.output} exists and is not empty", file=sys.stderr)
        return 2
    try:
        count, where = make_pairs(args.csv, args.output, args.push_to_hub, args.private, args.split)
    except DataError as exc:
        print(f"mediconfusion make-pairs: {exc}", file=sys.stderr)
        return 4
    print(f"{count} pair(s) written to {where}; run them with --dataset={args.output or 'hf:' + args.push_to_hub}")
    return 0


def leaderboard(paths: Sequence[Path], markdown_path: Path | None, html_path: Path | None) -> int:
    from mediconfusion_tests.reporting import leaderboard as board_module

    documents = []
    for path in paths:
        document = _read(_results_path(path))
        if document is None:
            return 2
        # Named by its run folder (unique, even for two runs that finished in the same second) or file.
        found = _results_path(path).resolve()
        documents.append((found.parent.name if found.name == "results.json" else found.stem, document))
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


def clean(results_dir: Path, keep: int, dry_run: bool) -> int:
    from mediconfusion_tests.run.cleanup import clean_runs

    if not results_dir.is_dir():
        print(f"mediconfusion: no folder {results_dir}", file=sys.stderr)
        return 2
    done = clean_runs(results_dir, keep, dry_run)
    verb = "would remove" if dry_run else "removed"
    for folder in done.removed:
        print(f"{verb} {folder}")
    for folder, why in done.failed:
        print(f"mediconfusion: could not remove {folder}: {why}", file=sys.stderr)
    print(f"{verb} {len(done.removed)} run folder(s), kept {len(done.kept)} in {results_dir}")
    return 1 if done.failed else 0


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


def _add_image_commands(commands: Any) -> None:
    from mediconfusion_tests.data.fetch import AUTO, SOURCE_NAMES, FetchSettings

    defaults = FetchSettings(Path("data/images"))
    fetch = commands.add_parser(
        "fetch-images",
        help="download the 228 benchmark images (PMC Cloud, a hub ROCO copy, Europe PMC or a local ROCO folder)",
        description="Download every image of image_dict.json as {local}.jpg plus manifest.json. Resumable: "
        "present, verified files are skipped. Exits 1 when any image is still missing.",
    )
    fetch.add_argument("--out", type=Path, default=defaults.out, help="output folder (default: data/images)")
    fetch.add_argument(
        "--source",
        nargs="+",
        default=[AUTO],
        metavar="NAME",
        help=f"one or more of {AUTO}, {', '.join(SOURCE_NAMES)}, tried in order; roco-dir takes the folder: "
        "--source roco-dir PATH (default: auto = pmc-cloud, roco-hf, europepmc, then --roco-dir if given)",
    )
    fetch.add_argument("--roco-dir", type=Path, help="a local ROCO v1 folder to use as a source")
    fetch.add_argument("--jobs", type=_count(1), default=defaults.jobs, help="parallel downloads (default: 8)")
    fetch.add_argument("--layout", choices=["local", "roco"], default="local", help="{local}.jpg or ROCO paths")
    fetch.add_argument("--dataset", default="hub", help="hub (default) or a folder/file holding image_dict.json")
    fetch.add_argument("--dataset-revision", help="branch, tag or commit of the hub dataset")
    fetch.add_argument("--pmc-base-url", default=defaults.pmc_base_url, help="PMC Cloud bucket URL")
    fetch.add_argument("--europepmc-base-url", default=defaults.europepmc_base_url, help="Europe PMC URL")
    fetch.add_argument("--roco-repo", default=defaults.roco_repo, help="hub dataset with ROCO v1 images")
    fetch.add_argument("--retries", type=_count(0), default=defaults.retries, help="retries per request (default: 4)")
    fetch.add_argument(
        "--deadline",
        type=_seconds,
        default=defaults.deadline_s,
        help="the most seconds one download may take in all (default: 300)",
    )
    fetch.add_argument("--limit", type=_count(0), help="only the first N images (to try the sources out)")
    check = commands.add_parser("verify-images", help="check a fetched folder against its manifest.json")
    check.add_argument("--out", type=Path, default=defaults.out, help="the folder (default: data/images)")


def _split_sources(values: Sequence[str], roco_dir: Path | None) -> tuple[tuple[str, ...], Path | None]:
    """--source roco-dir PATH: the word after roco-dir is its folder unless it names a source."""
    from mediconfusion_tests.data.fetch import AUTO, ROCO_DIR, SOURCE_NAMES

    names: list[str] = []
    items = [part for value in values for part in value.split(",") if part]
    index = 0
    while index < len(items):
        item = items[index]
        names.append(item)
        following = items[index + 1] if index + 1 < len(items) else None
        if item == ROCO_DIR and following is not None and following not in (*SOURCE_NAMES, AUTO):
            roco_dir = Path(following)
            index += 1
        index += 1
    return tuple(names), roco_dir


def fetch_images_command(args: argparse.Namespace) -> int:
    from mediconfusion_tests.data.fetch import FetchSettings, fetch_images, source_order
    from mediconfusion_tests.data.image_dict import locate_image_dict, read_image_dict
    from mediconfusion_tests.errors import MediConfusionError
    from mediconfusion_tests.reporting.fetch_text import ProgressBar, fetch_table, missing_lines

    if args.out.exists() and not args.out.is_dir():
        print(f"mediconfusion: --out {args.out} is a file; give a folder for the images", file=sys.stderr)
        return 2
    sources, roco_dir = _split_sources(args.source, args.roco_dir)
    settings = FetchSettings(
        out=args.out,
        sources=sources,
        roco_dir=roco_dir,
        jobs=args.jobs,
        layout=args.layout,
        pmc_base_url=args.pmc_base_url,
        europepmc_base_url=args.europepmc_base_url,
        roco_repo=args.roco_repo,
        retries=args.retries,
        deadline_s=args.deadline,
    )
    try:
        order = source_order(settings)
        path, label = locate_image_dict(args.dataset, args.dataset_revision)
        entries = read_image_dict(path)
    except MediConfusionError as exc:
        print(f"mediconfusion: {exc}", file=sys.stderr)
        return 2
    if args.limit is not None:
        entries = entries[: args.limit]
    print(f"{len(entries)} images from {label} into {settings.out} · sources: {', '.join(order)}")
    try:
        result = fetch_images(entries, settings, label, progress=ProgressBar())
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: the images already fetched are kept in {settings.out} (see its manifest.json); "
            "run the same command again to fetch the rest",
            file=sys.stderr,
        )
        return 130
    for line in fetch_table(result) + missing_lines(result.missing, str(settings.out)):
        print(line)
    return 1 if result.missing else 0


def verify_images_command(folder: Path) -> int:
    from mediconfusion_tests.data.image_manifest import read_manifest, verify
    from mediconfusion_tests.errors import MediConfusionError
    from mediconfusion_tests.reporting.fetch_text import verify_lines

    try:
        manifest = read_manifest(folder)
    except MediConfusionError as exc:
        print(f"mediconfusion: {exc}", file=sys.stderr)
        return 2
    if manifest is None:
        print(f"mediconfusion: {folder} has no manifest.json; fetch with: mediconfusion fetch-images --out {folder}")
        return 2
    problems = verify(folder, manifest)
    for line in verify_lines(problems, len(manifest.images), str(folder)):
        print(line)
    return 1 if problems else 0


def _add_merge_commands(commands: Any) -> None:
    joined = commands.add_parser(
        "merge",
        help="join the shards of a --shard I/N run into one run: metrics, gate, reports, baseline",
        description="Reads each shard's results.json, refuses shards of different models, settings, datasets or "
        "prompts and overlapping shards, then writes the merged run like a run does (results.json, summary.md, "
        "report.html) and exits with its gate's status.",
    )
    joined.add_argument("runs", nargs="+", type=Path, help="the shards' run folders or results.json files")
    joined.add_argument("-o", "--results-dir", type=Path, help="where the merged run goes (default: the shards')")
    joined.add_argument(
        "--gate", action="append", metavar="EXPR", help="gate conditions replacing the shards' (repeatable)"
    )
    joined.add_argument("--gate-min-pairs", metavar="N|all", help="with --gate: pairs the gate needs scored")
    joined.add_argument("--baseline", metavar="RESULTS", help="compare with this run (default: the shards' baseline)")
    joined.add_argument(
        "--dataset",
        metavar="SOURCE",
        help="the dataset the shards ran on, when their own --dataset is not readable here (checked by its SHA-256)",
    )
    stores = commands.add_parser(
        "merge-stores",
        help="copy the answers of other answer stores (e.g. the shards') into one",
        description="Answers already in INTO are kept; a run pointed at INTO with --answer-store then reuses all.",
    )
    stores.add_argument("into", type=Path, help="the answer store to add to (created when missing)")
    stores.add_argument("sources", nargs="+", type=Path, help="answer stores to copy from")


def merge_command(args: argparse.Namespace) -> int:
    from mediconfusion_tests.errors import MediConfusionError
    from mediconfusion_tests.reporting.terminal import terminal_summary
    from mediconfusion_tests.run.merge import MergeOptions, merge

    options = MergeOptions(
        results_dir=args.results_dir,
        gates=tuple(args.gate) if args.gate else None,
        gate_min_pairs=args.gate_min_pairs,
        baseline=args.baseline,
        dataset=args.dataset,
    )
    try:
        merged = merge(args.runs, options)
    except MediConfusionError as exc:
        print(f"mediconfusion merge: {exc}", file=sys.stderr)
        return BAD_INPUT
    shards = ", ".join(s.shard for s in merged.document.run.merged_from)
    print(f"merged shards {shards} into {merged.document.run.id}")
    for text, _kind in terminal_summary(merged.document, merged.written, merged.status, Path.cwd()):
        print(text)
    return merged.status


def merge_stores_command(into: Path, sources: Sequence[Path]) -> int:
    from mediconfusion_tests.errors import MediConfusionError
    from mediconfusion_tests.run.store import merge_stores

    try:
        added = merge_stores(into, sources)
    except MediConfusionError as exc:
        print(f"mediconfusion merge-stores: {exc}", file=sys.stderr)
        return 2
    for source, count in added.items():
        print(f"{source}: {count} new answer(s)")
    print(f"{into}: {sum(added.values())} answer(s) added")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from mediconfusion_tests import __version__

    parser = argparse.ArgumentParser(
        prog="mediconfusion",
        description="mediconfusion: tools around the MediConfusion pytest suite (runs are `pytest --model=...`).",
    )
    parser.add_argument("--version", action="version", version=f"mediconfusion-tests {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    cleaner = commands.add_parser(
        "clean",
        help="remove old run folders, keeping the newest (and the one reports/latest points to)",
        description="Removes run folders (a timestamped name holding results.json) beyond the newest N. "
        "The answer store and any other file are left alone.",
    )
    cleaner.add_argument("results_dir", nargs="?", type=Path, default=Path("reports"), help="default: reports")
    cleaner.add_argument("--keep", type=_count(1), default=10, help="how many of the newest runs to keep (default 10)")
    cleaner.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    described = commands.add_parser("schema", help="print the JSON Schema of results.json (schema version 2)")
    described.add_argument("-o", "--output", type=Path, help="write it to this file instead")
    described.add_argument("--pairs", action="store_true", help="the schema of a pair record (own datasets) instead")
    checker = commands.add_parser(
        "validate-pairs",
        help="check a pair dataset (hf:ORG/NAME[@REV][:SPLIT], save_to_disk folder, parquet, dataset.json/csv)",
        description="Reports every problem at once, naming row and field; exit 0 when the dataset is usable.",
    )
    checker.add_argument("source", help="what --dataset would be given")
    checker.add_argument("--revision", help="hub revision (also hf:ORG/NAME@REV)")
    maker = commands.add_parser(
        "make-pairs",
        help="build a pair dataset from a CSV of image paths, question, options, answers and categories",
        description="CSV columns: image_1, image_2, question, option_a, option_b, answer_1, answer_2, categories "
        "(';' between several; optional id, categories_2). Image paths are relative to the CSV. The two answers "
        "must differ and both images must decode. Writes with save_to_disk (-o) and/or pushes to the hub.",
    )
    maker.add_argument("csv", type=Path)
    maker.add_argument("-o", "--output", type=Path, help="folder for datasets' save_to_disk")
    maker.add_argument("--push-to-hub", metavar="ORG/NAME", help="push the dataset (HF_TOKEN or a saved login)")
    maker.add_argument("--private", action="store_true", help="with --push-to-hub: a private dataset repo")
    maker.add_argument("--split", default="test", help="split name (default: test)")
    _add_image_commands(commands)
    _add_merge_commands(commands)
    add_mining_commands(commands)
    args = parser.parse_args(argv)
    if args.command == "mine-pairs":
        return mine_pairs_command(args)
    if args.command == "merge-embeddings":
        return merge_embeddings_command(args.sources, args.into)
    if args.command == "merge":
        return merge_command(args)
    if args.command == "merge-stores":
        return merge_stores_command(args.into, args.sources)
    if args.command == "schema":
        return schema(args.output, args.pairs)
    if args.command == "validate-pairs":
        return validate_pairs_command(args.source, args.revision)
    if args.command == "make-pairs":
        return make_pairs_command(args)
    if args.command == "fetch-images":
        return fetch_images_command(args)
    if args.command == "verify-images":
        return verify_images_command(args.out)
    if args.command == "clean":
        return clean(args.results_dir, args.keep, args.dry_run)
    if args.command == "compare":
        return leaderboard(args.results, args.markdown, args.html)
    if args.command == "summary":
        return summary(_results_path(args.results))
    if args.target == "allure":
        return build_allure(args.alluredir, args.output or Path("allure-report"), args.history)
    return html(_results_path(Path(args.target)), args.output)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
