"""The short observations a reader needs beside the table, the same in the terminal, summary.md and report.html."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.scoring.parse import other_parser

if TYPE_CHECKING:
    from mediconfusion_tests.results.document import ResultsDocument

SHOWN_SKIPS = 5


def hints(document: ResultsDocument) -> list[str]:
    found = []
    if document.run.subset:
        found.append(f"subset: {document.run.subset}")
    parser = document.parser
    if parser.name is not None and document.counts.pairs_scored:
        found.append(
            f"answer parser: {parser.name}; {parser.disagreements} decision(s) would differ with "
            f"{other_parser(parser.name)}"
        )
    similarity = document.encoder_similarity.sentence() if document.encoder_similarity is not None else None
    if similarity is not None:
        found.append(similarity)
    skipped = [(p.pair_id, p.reason or "skipped") for p in document.pairs if p.status == "skipped"]
    if skipped:
        shown = ", ".join(f"{pair_id} ({why})" for pair_id, why in skipped[:SHOWN_SKIPS])
        more = f" and {len(skipped) - SHOWN_SKIPS} more" if len(skipped) > SHOWN_SKIPS else ""
        found.append(f"skipped: {shown}{more}")
    used = document.prompts.used
    if used and used.startswith("replayed"):
        found.append(f"prompts: {used}")
    timing = document.timing
    if timing is not None:
        answered = sum(w.pairs for w in timing.workers.values())
        stored = sum(w.pairs_from_store for w in timing.workers.values())
        parts = []
        if answered and timing.pairs_per_s:
            parts.append(f"the model answered {answered} pair(s) at {timing.pairs_per_s:.1f} pairs/s")
        if stored:
            parts.append(f"{stored} pair(s) came from the answer store")
        if parts:
            found.append("; ".join(parts) + f" (run {timing.wall_s:.1f} s in all)")
    return found
