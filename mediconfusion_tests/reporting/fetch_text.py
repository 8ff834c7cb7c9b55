"""What ``mediconfusion fetch-images`` and ``verify-images`` print."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from mediconfusion_tests.data.fetch import FetchResult
    from mediconfusion_tests.data.image_manifest import ImageRecord, VerifyProblem

PMC_ARTICLE = "https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/"


def fetch_table(result: FetchResult) -> list[str]:
    width = max([len("already present"), *(len(name) for name in result.tallies)])
    lines = [f"{'source':<{width}}  {'fetched':>7}  {'failed':>6}"]
    lines += [f"{name:<{width}}  {t.fetched:>7}  {t.failed:>6}" for name, t in result.tallies.items()]
    lines.append(f"{'already present':<{width}}  {result.already_present:>7}  {'':>6}")
    total = len(result.manifest.images)
    lines.append(
        f"{total} images: {total - len(result.missing)} present, {len(result.missing)} missing "
        f"({result.requests} HTTP requests, {result.seconds:.1f} s)"
    )
    lines.append(f"manifest: {result.manifest_path}")
    return lines


def missing_lines(missing: list[ImageRecord], out: str) -> list[str]:
    if not missing:
        return []
    lines = ["", f"{len(missing)} image(s) could not be fetched:"]
    for record in missing:
        lines.append(f"  {record.roco_id} (local {record.local_id}) {record.pmcid} {record.file_name}")
        lines += [f"      {error}" for error in record.errors]
        lines.append(
            f"      by hand: open {PMC_ARTICLE.format(pmcid=record.pmcid)}, save figure {record.file_name} "
            f"as {out}/{record.path}"
        )
    lines += [
        "What you can do:",
        "  - run the command again later: fetched images are kept and only the missing ones are retried;",
        "  - point it at a ROCO v1 copy you have: --source roco-dir PATH (images under <split>/radiology/images);",
        "  - place the files by hand as shown above, then run this command again: it records them in the manifest;",
        "  - or score the pairs whose images you have: pytest ... --allow-missing-images",
    ]
    return lines


def verify_lines(problems: list[VerifyProblem], total: int, folder: str) -> list[str]:
    lines = [f"{folder}: {total - len(problems)} of {total} images verified"]
    for item in problems:
        lines.append(f"  {item.record.roco_id} (local {item.record.local_id}) {item.record.pmcid}: {item.problem}")
    if problems:
        lines.append(f"Fetch what is missing or changed with: mediconfusion fetch-images --out {folder}")
    return lines


class ProgressBar:
    """A one-line bar redrawn in place; silent unless the stream is a terminal."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.enabled = self.stream.isatty()

    def __call__(self, done: int, total: int, what: str) -> None:
        if not self.enabled:
            return
        filled = self.width * done // max(total, 1)
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {what:<16}")
        if done == total:
            self.stream.write("\n")
        self.stream.flush()
