"""The MediConfusion pair record, validated field by field.

One record per confusing pair, keyed by its id; see the dataset card of
shahab7899/MediConfusion for the meaning of each field.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mediconfusion_tests.data.image_files import relative_problem
from mediconfusion_tests.errors import DataError
from mediconfusion_tests.nodeids import marker_name, marker_problem, pair_test_id
from mediconfusion_tests.quoting import shown
from mediconfusion_tests.scoring.letters import LETTERS, Letter
from mediconfusion_tests.strict_json import MAX_INTEGER_DIGITS

REQUIRED_FIELDS = (
    "im_1",
    "im_2",
    "im_1_local",
    "im_2_local",
    "category_1",
    "category_2",
    "question",
    "option_A",
    "option_B",
    "im_1_correct",
    "im_2_correct",
)
OPTIONAL_TEXT_FIELDS = ("cap_1", "cap_2", "AI_question", "AI_option_A", "AI_option_B")
OPTIONAL_NUMBER_FIELDS = ("BiomedCLIP_sim", "DINO_sim")
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class ImageRef:
    """One benchmark image: its ROCO path and its integer local id."""

    roco_path: str
    local_id: int

    @property
    def label(self) -> str:
        return f"{self.local_id} ({self.roco_path})"


@dataclass(frozen=True, repr=False)
class Pair:
    id: str
    images: tuple[ImageRef, ImageRef]
    categories: tuple[tuple[str, ...], tuple[str, ...]]
    question: str
    options: tuple[str, str]
    truth: tuple[Letter, Letter]
    extra: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        # Short, because pytest and Allure show parameters by their repr.
        return f"Pair({self.id})"

    @property
    def all_categories(self) -> tuple[str, ...]:
        """Sorted distinct categories either image carries."""
        return tuple(sorted(set(self.categories[0]) | set(self.categories[1])))

    @property
    def test_id(self) -> str:
        return pair_test_id(self.id)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = dict(self.extra)
        for index, image in enumerate(self.images, start=1):
            record[f"im_{index}"] = image.roco_path
            record[f"im_{index}_local"] = image.local_id
            record[f"category_{index}"] = list(self.categories[index - 1])
            record[f"im_{index}_correct"] = self.truth[index - 1]
        record.update(question=self.question, option_A=self.options[0], option_B=self.options[1])
        return record


class RecordProblems:
    """Collects every problem in a dataset so the user sees them all at once."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        shown = self.problems[:MAX_LISTED_PROBLEMS]
        more = len(self.problems) - len(shown)
        lines = [f"{self.source}: {len(self.problems)} problem(s) in the dataset records:"]
        lines += [f"  - {p}" for p in shown]
        if more:
            lines.append(f"  ... and {more} more")
        raise DataError("\n".join(lines))


def _text(record: Mapping[str, Any], name: str, where: str, problems: RecordProblems) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        problems.add(where, f"field {name!r} must be a non-empty string, got {shown(value)}")
        return ""
    return value


def _local_id(record: Mapping[str, Any], name: str, where: str, problems: RecordProblems) -> int:
    value = record.get(name)
    if isinstance(value, bool):
        value = None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    digits = value.strip() if isinstance(value, str) else ""
    if digits.isascii() and digits.isdigit() and len(digits) <= MAX_INTEGER_DIGITS:
        value = int(digits)
    if not isinstance(value, int) or value < 0:
        problems.add(where, f"field {name!r} must be a non-negative integer image id, got {shown(record.get(name))}")
        return -1
    return value


def _categories(record: Mapping[str, Any], name: str, where: str, problems: RecordProblems) -> tuple[str, ...]:
    value = record.get(name)
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        problems.add(where, f"field {name!r} must be a non-empty list of category names, got {shown(value)}")
        return ()
    if not all(isinstance(c, str) and c.strip() for c in value):
        problems.add(where, f"field {name!r} holds a category that is not a non-empty string: {shown(value)}")
        return ()
    names = tuple(" ".join(c.split()) for c in value)
    for category in names:
        problem = marker_problem(category)
        if problem is not None:
            problems.add(where, f"field {name!r}: {problem}")
            return ()
    return names


def _letter(record: Mapping[str, Any], name: str, where: str, problems: RecordProblems) -> Letter:
    value = record.get(name)
    if value not in LETTERS:
        problems.add(where, f"field {name!r} must be 'A' or 'B', got {shown(value)}")
        return "A"
    return "A" if value == "A" else "B"


def _extra(record: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    kept = []
    for name in OPTIONAL_TEXT_FIELDS + OPTIONAL_NUMBER_FIELDS:
        value = record.get(name)
        if isinstance(value, float) and math.isnan(value):
            continue
        if value is not None:
            kept.append((name, value))
    return tuple(kept)


def parse_record(pair_id: str, record: object, problems: RecordProblems, where: str | None = None) -> Pair | None:
    """A validated Pair, or None after adding every problem found to ``problems`` (at ``where``, by
    default "pair ID"; tables name the row)."""
    where = where or f"pair {pair_id}"
    if not isinstance(record, Mapping):
        problems.add(where, f"record must be an object, got {type(record).__name__}")
        return None
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if missing:
        problems.add(where, "missing field(s) " + ", ".join(repr(m) for m in missing))
        return None
    before = len(problems.problems)
    pair = Pair(
        id=pair_id,
        images=(
            ImageRef(_text(record, "im_1", where, problems), _local_id(record, "im_1_local", where, problems)),
            ImageRef(_text(record, "im_2", where, problems), _local_id(record, "im_2_local", where, problems)),
        ),
        categories=(
            _categories(record, "category_1", where, problems),
            _categories(record, "category_2", where, problems),
        ),
        question=_text(record, "question", where, problems),
        options=(_text(record, "option_A", where, problems), _text(record, "option_B", where, problems)),
        truth=(
            _letter(record, "im_1_correct", where, problems),
            _letter(record, "im_2_correct", where, problems),
        ),
        extra=_extra(record),
    )
    if len(problems.problems) == before and pair.truth[0] == pair.truth[1]:
        problems.add(
            where,
            f"im_1_correct and im_2_correct are both {pair.truth[0]!r}: a confusing pair has a "
            "different right answer for each image",
        )
    if len(problems.problems) == before and pair.images[0].local_id == pair.images[1].local_id:
        problems.add(where, f"both images are image {pair.images[0].local_id}: a confusing pair has two images")
    for index, image in enumerate(pair.images if len(problems.problems) == before else (), start=1):
        reason = relative_problem(image.roco_path)
        if reason is not None:
            problems.add(where, f"field 'im_{index}': {reason}; image paths are relative to the images folder")
    return pair if len(problems.problems) == before else None


def unify_categories(pairs: Sequence[Pair], source: str) -> tuple[list[Pair], list[str]]:
    """One spelling per category: names that differ only in case, spacing or punctuation
    (``Cardiac``, ``cardiac ``, ``Head-and-Neck``) would be one marker but two rows; the most
    common spelling wins (the first seen on a tie), and each merge is reported as a warning."""
    counts: dict[str, Counter[str]] = {}
    for pair in pairs:
        for name in pair.categories[0] + pair.categories[1]:
            counts.setdefault(marker_name(name), Counter())[name] += 1
    chosen = {spelling: counter.most_common(1)[0][0] for counter in counts.values() for spelling in counter}
    warnings = [
        f"{source}: categories {', '.join(repr(s) for s in counter)} are read as one, {counter.most_common(1)[0][0]!r}"
        for counter in counts.values()
        if len(counter) > 1
    ]
    if not warnings:
        return list(pairs), []

    def canonical(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(chosen[name] for name in names))

    unified = [
        replace(pair, categories=(canonical(pair.categories[0]), canonical(pair.categories[1]))) for pair in pairs
    ]
    return unified, warnings


def parse_records(records: Sequence[tuple[str, object]], source: str, warnings: list[str] | None = None) -> list[Pair]:
    """Validate every record; raise one DataError listing all problems, duplicates included.

    Category spellings are unified (see ``unify_categories``); what was merged is added to ``warnings``.
    """
    problems = RecordProblems(source)
    pairs: list[Pair] = []
    seen: set[str] = set()
    for pair_id, record in records:
        if not pair_id:
            problems.add("record", "has an empty pair id")
            continue
        if pair_id in seen:
            problems.add(f"pair {pair_id}", "duplicate pair id")
            continue
        seen.add(pair_id)
        pair = parse_record(pair_id, record, problems)
        if pair is not None:
            pairs.append(pair)
    if not records:
        problems.add("dataset", "holds no pair records")
    problems.raise_if_any()
    pairs, merged = unify_categories(pairs, source)
    if warnings is not None:
        warnings.extend(merged)
    return pairs
