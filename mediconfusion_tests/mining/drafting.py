"""``mine-pairs --drafter=SPEC``: a model turns the two texts of a candidate into a draft question.

The drafter is any model the suite runs that writes text (an API model, an
OpenAI-compatible server, a local transformers LLM): it is asked, without the
images, for one JSON object — question, option A, option B, which option is true
for each image, categories — which is parsed and checked (two different options,
each image a different true option). An unreadable draft is asked again once with
the reason; a second failure leaves the row "needs writing" with that reason.
Requests go through the run's batcher and answer store (a rerun asks nothing
again) and stop cleanly at ``--max-requests``. Drafts are drafts: a person keeps,
fixes or drops each one in review.html.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mediconfusion_tests.errors import ModelError
from mediconfusion_tests.models.base import Answer, Query
from mediconfusion_tests.redaction import scrub

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.config import RunConfig

DRAFT_SYSTEM = "You write multiple-choice questions about radiology images for a benchmark. Reply with JSON only."
DRAFT_PROMPT = """Two radiology images look alike to an image encoder but show different findings.
Report of image 1: {text_1}
Report of image 2: {text_2}

Write one question that each image answers on its own, with two options: option A true for one image and
option B true for the other. Use only what the reports say. Reply with exactly one JSON object:
{{"question": "...", "option_a": "...", "option_b": "...", "answer_1": "A or B, true for image 1",
"answer_2": "the other letter, true for image 2", "categories": ["one or more, e.g. Lung, Cardiac"]}}"""
RETRY = "\n\nYour previous reply could not be used ({reason}). Reply with the JSON object only."
#: A draft is a few dozen words; room for a model that explains itself before the object anyway.
DRAFT_MAX_TOKENS = 512
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class DraftError(ValueError):
    """Why a reply is not a usable draft (said to the model on the retry, and in the row)."""


@dataclass(frozen=True)
class Draft:
    question: str
    option_a: str
    option_b: str
    answer_1: str
    answer_2: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class DraftResult:
    draft: Draft | None
    #: "drafted", or "needs writing: <why>".
    status: str
    requests: int = 0


def _json_object(text: str) -> dict[str, object]:
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise DraftError("no JSON object in the reply")
    try:
        found = json.loads(body[start : end + 1])
    except json.JSONDecodeError as exc:
        raise DraftError(f"the JSON does not parse: {exc.msg} at character {exc.pos}") from None
    if not isinstance(found, dict):
        raise DraftError("the JSON is not an object")
    return found


def parse_draft(text: str) -> Draft:
    """The draft a reply holds; DraftError naming the first thing wrong with it."""
    found = _json_object(text)
    fields: dict[str, str] = {}
    for key in ("question", "option_a", "option_b", "answer_1", "answer_2"):
        value = found.get(key)
        if not isinstance(value, str) or not value.strip():
            raise DraftError(f"{key} is missing or empty")
        fields[key] = " ".join(value.split())
    answers = (fields["answer_1"].upper(), fields["answer_2"].upper())
    if not set(answers) <= {"A", "B"}:
        raise DraftError(f"answer_1 and answer_2 must be A or B, not {answers[0]!r} and {answers[1]!r}")
    if answers[0] == answers[1]:
        raise DraftError("both images have the same true option; each needs a different one")
    if fields["option_a"].casefold() == fields["option_b"].casefold():
        raise DraftError("option_a and option_b are the same")
    raw = found.get("categories")
    listed = [raw] if isinstance(raw, str) else raw
    if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
        raise DraftError("categories must be a list of names")
    categories = tuple(dict.fromkeys(c.strip() for c in listed if c.strip()))
    if not categories:
        raise DraftError("no category given")
    return Draft(fields["question"], fields["option_a"], fields["option_b"], answers[0], answers[1], categories)


def _query(key: str, attempt: int, prompt: str) -> Query:
    # One query per attempt (image index 1, then 2): each is its own entry in the answer store.
    return Query(key, attempt, "", "", "", ("", ""), "freeform", prompt, verbatim=True, system=DRAFT_SYSTEM)


class Drafter:
    def __init__(self, spec: str, config: RunConfig, store: Path | None) -> None:
        from mediconfusion_tests.models.registry import build_registry
        from mediconfusion_tests.run.engine import Batcher
        from mediconfusion_tests.run.store import AnswerStore

        registry = build_registry()
        parsed = registry.parse(spec)
        self.spec = spec
        self.model = registry.entry(parsed).load_factory()(parsed, config)
        if "freeform" not in self.model.modes:
            raise ModelError(f"drafter {spec!r}: {self.model.name} does not write free text")
        self.batcher = Batcher(self.model, AnswerStore(store) if store is not None else None, config.batch_size)

    def _ask(self, queries: Sequence[Query]) -> dict[str, str | None]:
        """Reply text per query key; None for a failed request or one the budget left unasked."""
        found = self.batcher.answer(queries)
        return {
            q.key: value.text if isinstance(value := found.get(q.key, (None, False))[0], Answer) else None
            for q in queries
        }

    def draft(self, texts: Sequence[tuple[str, str]]) -> list[DraftResult]:
        keys = [f"draft-{hashlib.sha256(json.dumps(pair).encode()).hexdigest()[:20]}" for pair in texts]
        prompts = [DRAFT_PROMPT.format(text_1=a, text_2=b) for a, b in texts]
        first = [_query(key, 1, prompt) for key, prompt in zip(keys, prompts, strict=True)]
        replies = self._ask(first)
        results: dict[str, DraftResult] = {}
        again: list[Query] = []
        for query in first:
            results[query.pair_id], reason = self._settle(replies[query.key], 1)
            if reason is not None and replies[query.key] is not None:
                again.append(_query(query.pair_id, 2, query.prompt + RETRY.format(reason=reason)))
        retried = self._ask(again) if again else {}
        for query in again:
            results[query.pair_id], _ = self._settle(retried[query.key], 2)
        return [results[key] for key in keys]

    def _settle(self, reply: str | None, attempt: int) -> tuple[DraftResult, DraftError | None]:
        """The row a reply gives on this attempt, and why it is unusable (None when drafted)."""
        try:
            if reply is None:
                raise DraftError(self._unanswered())
            return DraftResult(parse_draft(reply), "drafted", attempt), None
        except DraftError as exc:
            twice = " (asked twice)" if attempt == 2 else ""
            return DraftResult(None, f"needs writing: {exc}{twice}", attempt), exc

    def _unanswered(self) -> str:
        stopped = self.batcher.stopped
        return scrub(f"not asked: {stopped}") if stopped is not None else "the request failed"

    def close(self) -> None:
        if self.batcher.store is not None:
            self.batcher.store.close()
        self.model.close()


def draft_fields(draft: DraftResult | None, categories: str) -> dict[str, str]:
    """make-pairs' fields of a candidate: the draft's, else empty (categories from the sources)."""
    if draft is None or draft.draft is None:
        empty = dict.fromkeys(("question", "option_a", "option_b", "answer_1", "answer_2"), "")
        return {**empty, "categories": categories, "status": draft.status if draft else "needs writing"}
    found = draft.draft
    return {
        "question": found.question,
        "option_a": found.option_a,
        "option_b": found.option_b,
        "answer_1": found.answer_1,
        "answer_2": found.answer_2,
        "categories": "; ".join(found.categories),
        "status": draft.status,
    }


def drafter_config(spec: str, device: str, max_requests: int | None) -> RunConfig:
    from mediconfusion_tests.config import RunConfig

    return RunConfig(
        model=spec, mode="freeform", device=device, max_new_tokens=DRAFT_MAX_TOKENS, max_requests=max_requests
    )


def store_path(cache: Path) -> Path:
    return Path(cache) / "drafts.sqlite"
