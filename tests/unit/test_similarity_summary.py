"""The encoder-similarity summary: equal-count bins of confusion, medians, the sentence, what it says when off."""

from __future__ import annotations

from mediconfusion_tests.scoring.outcome import EncoderSimilarity, ImageAnswer, PairOutcome
from mediconfusion_tests.scoring.similarity import summarize_similarity

STATUS: dict[str, object] = {"pooling": "mean over tokens", "reference": None, "failure": None}


def outcome(pair: int, decisions: tuple[str | None, str | None], model: float | None, reference: float | None = None):
    answers = tuple(ImageAnswer(raw=d or "?", decision=d) for d in decisions)
    similarity = None if model is None else EncoderSimilarity(model=model, reference=reference)
    return PairOutcome(str(pair), (("Cardiac",), ("Cardiac",)), ("A", "B"), answers, similarity=similarity)  # type: ignore[arg-type]


def test_confusion_rises_with_similarity_in_equal_count_bins() -> None:
    # 8 pairs: the 4 least alike answered right, of the 4 most alike 3 confused (both answers "A").
    outcomes = [outcome(i, ("A", "B"), i / 10) for i in range(4)]
    outcomes += [outcome(10 + i, ("A", "A") if i else ("A", "B"), (90 + i) / 100) for i in range(4)]
    outcomes.append(outcome(20, (None, "B"), 0.95))  # invalid: no bin, no median
    outcomes.append(outcome(21, ("A", "B"), None))  # measured nothing
    record = summarize_similarity(outcomes, [STATUS])
    assert record.pairs == 9
    assert [(b.low, b.high, b.confusion.k, b.confusion.n) for b in record.bins] == [
        (0.0, 0.3, 0, 4),
        (0.9, 0.93, 3, 4),
    ]
    assert record.median_confused == 0.92
    assert record.median_right == 0.2  # the five right pairs: 0, .1, .2, .3, .9
    assert record.sentence() == "confused pairs: median encoder similarity 0.920 vs 0.200 for pairs answered right"
    assert record.bins[1].confusion.ci95 is not None
    assert record.bins[1].confusion.ci95[0] > 0.2


def test_at_most_five_bins_and_the_reference_in_the_sentence() -> None:
    outcomes = [outcome(i, ("A", "A") if i % 3 == 0 else ("A", "B"), i / 40, 0.5) for i in range(40)]
    record = summarize_similarity(outcomes, [{**STATUS, "reference": "dinov2"}])
    assert len(record.bins) == 5
    assert [b.confusion.n for b in record.bins] == [8] * 5
    sentence = record.sentence()
    assert sentence is not None
    assert sentence.endswith("(reference dinov2: 0.500 vs 0.500)")


def test_nothing_measured_says_why_unless_switched_off() -> None:
    outcomes = [outcome(1, ("A", "B"), None)]
    api = summarize_similarity(outcomes, [{"note": "not available: gpt-4o is an API, served or replayed model"}])
    assert api.sentence() == "encoder similarity: not available: gpt-4o is an API, served or replayed model"
    off = summarize_similarity(outcomes, [{"note": "off (--encoder-similarity=off)"}])
    assert off.sentence() is None
    assert off.notes == ["off (--encoder-similarity=off)"]


def test_a_failure_is_reported_first_and_the_pairs_measured_before_it_kept() -> None:
    outcomes = [outcome(1, ("A", "A"), 0.99), outcome(2, ("A", "B"), None)]
    record = summarize_similarity(outcomes, [{**STATUS, "failure": "RuntimeError: boom"}])
    assert record.notes[0].startswith("measuring stopped after a failure")
    assert "RuntimeError: boom" in record.notes
    assert record.pairs == 1


def test_similarity_travels_with_the_outcome() -> None:
    sent = outcome(7, ("A", "A"), 0.5, 0.25)
    assert PairOutcome.from_dict(sent.to_dict()) == sent
    assert sent.swapped().similarity == sent.similarity
