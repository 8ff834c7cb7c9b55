"""Is the model confused where its vision features cannot tell a pair's images apart?

From the pairs' encoder similarities (--encoder-similarity): confusion (confused
pairs / pairs with two valid answers) in bins of equal counts along the model's
similarity, each with its Wilson interval, and the median similarity of confused
pairs against pairs answered right. Confusions gathered at high similarity point
at the vision side (the encoder sees one image twice); confusions spread evenly
point at the language side.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from pydantic import Field

from mediconfusion_tests.records import Record
from mediconfusion_tests.scoring.stats import Proportion

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from mediconfusion_tests.scoring.outcome import PairOutcome

#: At most this many bins, and at least this many pairs in each.
MAX_BINS = 5
MIN_PER_BIN = 4


class SimilarityBin(Record):
    low: float
    high: float
    #: Confused pairs of the pairs with two valid answers whose similarity falls in [low, high].
    confusion: Proportion


class SimilarityRecord(Record):
    """results.json's ``encoder_similarity``: how the run measured, and what it found."""

    #: How the model's vision features were pooled; None when not measured.
    pooling: str | None = None
    #: The reference encoder's spec, when one was used.
    reference: str | None = None
    #: Why nothing (or no reference) was measured, or why measuring stopped.
    notes: list[str] = Field(default_factory=list)
    pairs: int = 0
    median_confused: float | None = None
    median_right: float | None = None
    median_reference_confused: float | None = None
    median_reference_right: float | None = None
    bins: list[SimilarityBin] = Field(default_factory=list)

    def sentence(self) -> str | None:
        """The terminal's line; None when nothing was measured and nothing needs saying."""
        if self.pairs == 0:
            shown = [note for note in self.notes if not note.startswith("off")]
            return f"encoder similarity: {shown[0]}" if shown else None
        line = (
            f"confused pairs: median encoder similarity {_shown(self.median_confused)} vs "
            f"{_shown(self.median_right)} for pairs answered right"
        )
        if self.reference is not None:
            line += (
                f" (reference {self.reference}: {_shown(self.median_reference_confused)} vs "
                f"{_shown(self.median_reference_right)})"
            )
        return line


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 6) if values else None


def similarity_bins(outcomes: Sequence[PairOutcome]) -> list[SimilarityBin]:
    """Equal-count bins of the model similarity over pairs with two valid answers, in increasing order."""
    measured = sorted(
        (o.similarity.model, o.confused)
        for o in outcomes
        if o.valid and o.similarity is not None and o.similarity.model is not None
    )
    if not measured:
        return []
    count = max(1, min(MAX_BINS, len(measured) // MIN_PER_BIN))
    bins = []
    for index in range(count):
        chunk = measured[index * len(measured) // count : (index + 1) * len(measured) // count]
        confused = sum(flag for _, flag in chunk)
        bins.append(SimilarityBin(low=chunk[0][0], high=chunk[-1][0], confusion=Proportion.of(confused, len(chunk))))
    return bins


def summarize_similarity(outcomes: Sequence[PairOutcome], statuses: Sequence[Mapping[str, object]]) -> SimilarityRecord:
    """The run's record from its outcomes and each process's meter status (pooling, reference, notes)."""
    poolings = [str(s["pooling"]) for s in statuses if s.get("pooling")]
    references = [str(s["reference"]) for s in statuses if s.get("reference")]
    notes = [str(s[key]) for s in statuses for key in ("note", "reference_note", "failure") if s.get(key)]
    if any(s.get("failure") for s in statuses):
        notes.insert(0, "measuring stopped after a failure; pairs after it carry no similarity")
    measured = [o for o in outcomes if o.similarity is not None and o.similarity.model is not None]
    confused = [o for o in measured if o.confused]
    right = [o for o in measured if o.set_correct]

    def model_values(group: Sequence[PairOutcome]) -> list[float]:
        return [o.similarity.model for o in group if o.similarity is not None and o.similarity.model is not None]

    def reference_values(group: Sequence[PairOutcome]) -> list[float]:
        return [
            o.similarity.reference for o in group if o.similarity is not None and o.similarity.reference is not None
        ]

    return SimilarityRecord(
        pooling=poolings[0] if poolings else None,
        reference=references[0] if references else None,
        notes=list(dict.fromkeys(notes)),
        pairs=len(measured),
        median_confused=_median(model_values(confused)),
        median_right=_median(model_values(right)),
        median_reference_confused=_median(reference_values(confused)),
        median_reference_right=_median(reference_values(right)),
        bins=similarity_bins(measured),
    )
