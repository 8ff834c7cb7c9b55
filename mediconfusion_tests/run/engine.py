"""Ask the model about pairs in batches that span pairs, through the answer store, and judge each pair.

A test case asks for one pair; the engine answers the whole chunk of pairs
that pair belongs to (the same chunks the xdist scheduler keeps on one worker),
then hands the answers out pair by pair. Each pair is committed to the answer
store on its own. A failing batch is retried pair by pair, so one bad pair
cannot fail its neighbours; out-of-memory halves the batch.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.data.images import ImageLayout, file_sha256
from mediconfusion_tests.errors import ModelOutOfMemory, PartialAnswers, RunStopped
from mediconfusion_tests.models.base import Answer, Model, Query, check_answer, seal_answer
from mediconfusion_tests.prompts import BUILTIN, PromptSet
from mediconfusion_tests.redaction import scrub
from mediconfusion_tests.run.store import AnswerStore, answer_key
from mediconfusion_tests.scoring.decide import decide
from mediconfusion_tests.scoring.judge import parse_judge_scores
from mediconfusion_tests.scoring.outcome import ImageAnswer, PairOutcome
from mediconfusion_tests.scoring.parse import get_parser, other_parser

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from mediconfusion_tests.data.schema import Pair
    from mediconfusion_tests.run.similarity import SimilarityMeter

#: The first batch tried when --batch-size is auto; out-of-memory halves it.
AUTO_START = 32


@dataclass
class _Failure:
    message: str
    detail: str

    def __post_init__(self) -> None:
        # An exception's text may quote what a server sent, a key included.
        self.message, self.detail = scrub(self.message), scrub(self.detail)


@dataclass
class Batcher:
    """Answers queries through one model and one store, batch by batch."""

    model: Model
    store: AnswerStore | None
    batch_size: int | str = "auto"
    calls: int = 0
    #: Set when the run's budget stopped answering; what was answered before it is still returned.
    stopped: RunStopped | None = None
    _size: int = field(init=False)

    def __post_init__(self) -> None:
        # API models take bigger batches: their requests go out concurrently, not as one forward.
        auto = getattr(self.model, "batch_limit", None) or AUTO_START
        self._size = auto if self.batch_size == "auto" else int(self.batch_size)
        if not self.model.cacheable:
            self.store = None

    @property
    def lookahead(self) -> int:
        """Images handed to ``prefetch`` from the start of a batch on: this batch and the next, at least."""
        return max(2 * self._size, self._size + self.model.prefetch_depth)

    def _call(self, queries: Sequence[Query]) -> list[Answer]:
        self.calls += 1
        answers = list(self.model.answer(queries))
        if len(answers) != len(queries):
            raise RuntimeError(f"model returned {len(answers)} answers for {len(queries)} queries")
        return [seal_answer(check_answer(answer)) for answer in answers]

    def _fill(self, queries: Sequence[Query], out: dict[str, Answer | _Failure], ahead: Sequence[Query] = ()) -> None:
        """Answer queries in batches; a failing batch is retried one pair at a time. ``ahead``: the queries
        this process answers next (the next chunk), whose images may be prepared while the last batch runs."""
        try:
            self._fill_batches(queries, out, ahead)
        finally:
            self.model.forget_prefetched(keep=ahead)

    def _fill_batches(
        self, queries: Sequence[Query], out: dict[str, Answer | _Failure], ahead: Sequence[Query] = ()
    ) -> None:
        start = 0
        while start < len(queries):
            batch = queries[start : start + self._size]
            # This batch's images and the next one's (or as many as the model's preprocessing workers can
            # keep busy) go to its preprocessing pool, which works on them while the model computes; past the
            # chunk's last batch, the next chunk's first.
            window = self.lookahead
            spill = max(start + window - len(queries), 0)
            self.model.prefetch([*queries[start : start + window], *ahead[:spill]])
            try:
                out.update(zip((q.key for q in batch), self._call(batch), strict=True))
            except PartialAnswers as partial:
                self._partial(batch, partial, out)
            except RunStopped:
                raise
            except ModelOutOfMemory as exc:
                if self.batch_size != "auto" or self._size == 1:
                    raise ModelOutOfMemory(f"{exc} with a batch of {self._size}; lower --batch-size") from exc
                self._size //= 2
                continue
            except Exception as exc:  # noqa: BLE001 - a model may raise anything; it is that pair's error
                pairs = sorted({q.pair_id for q in batch})
                if len(pairs) > 1:
                    for pair_id in pairs:
                        self._fill_batches([q for q in batch if q.pair_id == pair_id], out)
                else:
                    failure = _Failure(f"{type(exc).__name__}: {exc}".splitlines()[0], traceback.format_exc())
                    out.update({q.key: failure for q in batch})
            start += len(batch)

    def _partial(self, batch: Sequence[Query], partial: PartialAnswers, out: dict[str, Answer | _Failure]) -> None:
        """Keep what was answered; a query that failed fails its pair; a budget stop stops after the keeping."""
        stopped: RunStopped | None = None
        for query, answer, error in zip(batch, partial.answers, partial.errors, strict=True):
            if error is None and isinstance(answer, Answer):
                out[query.key] = seal_answer(check_answer(answer))
            elif isinstance(error, RunStopped):
                stopped = stopped or error
            else:
                message = f"{type(error).__name__}: {error}".splitlines()[0]
                out[query.key] = _Failure(message, message)
        if stopped is not None:
            raise stopped

    def answer(
        self, queries: Sequence[Query], ahead: Sequence[Query] = ()
    ) -> dict[str, tuple[Answer | _Failure, bool]]:
        """{query key: (answer or failure, came from the store)}; each pair is stored as soon as it is whole.
        ``ahead``: the queries asked next, prepared early where the model can (those the store holds are not).

        When the run's budget stops answering (``self.stopped`` is then set), the queries answered before
        the stop are still returned, and every answer received is stored, half pairs included: it was
        paid for. Queries that got no answer are absent from the result.
        """
        if self.store is None:
            fresh: dict[str, Answer | _Failure] = {}
            self._fill_until_stopped(queries, fresh, ahead)
            return {key: (value, False) for key, value in fresh.items()}
        fingerprint = self.model.fingerprint()
        settings = self.model.generation_settings()
        keys = {q.key: answer_key(fingerprint, q, settings) for q in [*queries, *ahead]}
        stored = self.store.get_many(list(keys.values()))
        ahead = [q for q in ahead if keys[q.key] not in stored]
        result: dict[str, tuple[Answer | _Failure, bool]] = {
            q.key: (seal_answer(stored[keys[q.key]]), True) for q in queries if keys[q.key] in stored
        }
        missing = [q for q in queries if q.key not in result]
        answered: dict[str, Answer | _Failure] = {}
        try:
            self._fill_until_stopped(missing, answered, ahead)
        finally:
            self._store(missing, answered, keys, fingerprint)
        result.update({key: (value, False) for key, value in answered.items()})
        return result

    def _fill_until_stopped(
        self, queries: Sequence[Query], out: dict[str, Answer | _Failure], ahead: Sequence[Query] = ()
    ) -> None:
        if self.stopped is not None:
            return
        try:
            self._fill(queries, out, ahead)
        except RunStopped as stop:
            self.stopped = stop

    def _store(
        self,
        missing: Sequence[Query],
        answered: Mapping[str, Answer | _Failure],
        keys: Mapping[str, str],
        fingerprint: str,
    ) -> None:
        """Whole pairs; after a stop (or an interruption) also the lone answers of half-answered pairs."""
        if self.store is None:
            return
        whole_only = self.stopped is None and len(answered) == len(missing)
        for pair_id in dict.fromkeys(q.pair_id for q in missing):
            mine = [q for q in missing if q.pair_id == pair_id]
            values = [answered.get(q.key) for q in mine]
            if whole_only and not all(isinstance(v, Answer) for v in values):
                continue
            kept = [(keys[q.key], q, v) for q, v in zip(mine, values, strict=True) if isinstance(v, Answer)]
            self.store.put_many(fingerprint, kept)


def _readable(verdict: Answer | _Failure | None) -> bool:
    return isinstance(verdict, Answer) and bool(parse_judge_scores(verdict.text))


class Engine:
    def __init__(
        self,
        model: Model,
        mode: str,
        prompts: PromptSet,
        layout: ImageLayout | None,
        store: AnswerStore | None,
        answer_parser: str = "paper",
        judge_threshold: float = 3.0,
        *,
        batch_size: int | str = "auto",
        schedule: Sequence[Pair] = (),
        chunk_of: Callable[[str], int] | None = None,
        judge: Model | None = None,
        isolated: Callable[[], frozenset[str]] = frozenset,
        similarity: SimilarityMeter | None = None,
    ) -> None:
        self.mode = mode
        self.similarity = similarity
        #: What results.json says of --encoder-similarity in this process (pooling, reference, or why not).
        self.similarity_status: dict[str, Any] = {}
        self.prompts = prompts
        self.layout = layout
        self.parser_name = answer_parser
        self.parser = get_parser(answer_parser)
        # In mc mode every decision is also read with the other parser, to report disagreements.
        self.other_parser = get_parser(other_parser(answer_parser))
        self.judge_threshold = judge_threshold
        self.batcher = Batcher(model, store, batch_size)
        self.judge = None if judge is None else Batcher(judge, store, batch_size)
        self.schedule = list(schedule)
        self.scheduled = {pair.id for pair in self.schedule}
        self._by_id = {pair.id: pair for pair in self.schedule}
        self.chunk_of = chunk_of
        #: The pair ids this process will be asked for after the current one, in order, as far as known
        #: (the plugin reads pytest's, or xdist's, queue of test cases); None: unknown.
        self.upcoming: Callable[[], Iterable[str]] | None = None
        #: Pairs to answer one at a time: they were in flight when a worker crashed.
        self.isolated = isolated
        self._hashes: dict[str, str] = {}
        self._ready: dict[str, PairOutcome] = {}
        #: Outcomes of the benchmark's own pairs answered in this process, for the probes to compare with.
        self._finished: dict[str, PairOutcome] = {}
        #: Image files replacing a variant pair's own (the image probe's perturbed copies), by variant id.
        self._images: dict[str, tuple[str, str]] = {}
        #: Seconds spent answering and judging, the pairs the model answered and those the store did.
        self.answering_s = 0.0
        self.pairs_answered = 0
        self.pairs_from_store = 0
        #: Tokens read and written by fresh answers whose adapter counts them.
        self.usage: dict[str, float] = {"tokens_in": 0, "tokens_out": 0, "answers": 0}

    @property
    def model(self) -> Model:
        return self.batcher.model

    @property
    def calls(self) -> int:
        return self.batcher.calls

    # -- queries -------------------------------------------------------------------------
    def _image(self, pair: Pair, index: int) -> tuple[str, str]:
        if self.layout is None:
            return "", ""
        replaced = self._images.get(pair.id)
        path = replaced[index] if replaced is not None else str(self.layout.path(pair.images[index]))
        if path not in self._hashes:
            self._hashes[path] = file_sha256(Path(path))
        return path, self._hashes[path]

    def queries(self, pair: Pair) -> list[Query]:
        prompt = self.prompts.render(self.mode, pair)
        verbatim = self.prompts is not BUILTIN
        out = []
        for index in (0, 1):
            path, digest = self._image(pair, index)
            image = pair.images[index]
            out.append(
                Query(
                    pair.id,
                    index + 1,
                    path,
                    digest,
                    pair.question,
                    pair.options,
                    self.mode,
                    prompt,
                    verbatim,
                    image_id=f"{image.local_id}:{image.roco_path}",
                    system=self.prompts.system or "",
                )
            )
        return out

    def _judge_queries(self, pair: Pair, answers: Sequence[Answer]) -> list[Query]:
        system = self.prompts.judge_system or ""
        return [
            Query(
                pair.id,
                index,
                "",
                "",
                pair.question,
                pair.options,
                "judge",
                self.prompts.render_judge(pair, a.text),
                system=system,
            )
            for index, a in enumerate(answers, start=1)
        ]

    # -- answering ------------------------------------------------------------------------
    def _chunk(self, pair: Pair) -> list[Pair]:
        isolated = self.isolated()
        if self.chunk_of is None or pair.id not in self.scheduled or pair.id in isolated:
            return [pair]
        index = self.chunk_of(pair.id)
        return [
            p
            for p in self.schedule
            if self.chunk_of(p.id) == index and p.id not in self._ready and p.id not in isolated
        ]

    def _ahead(self, current: Sequence[Pair]) -> list[Query]:
        """The queries of the chunk this process answers after ``current``, where the queue of test cases
        says which; none where that is unknown. Only a hint: a pair whose queries cannot be made now (a
        file gone) is left to fail when it is asked."""
        if self.upcoming is None or self.chunk_of is None or self.layout is None:
            return []
        seen = {pair.id for pair in current}
        wanted = self.batcher.lookahead  # at batch size 1 with chunks of one pair, several chunks
        found: list[Query] = []
        try:
            for pair_id in self.upcoming():
                if len(found) >= wanted:
                    break
                if pair_id in seen or pair_id not in self._by_id or pair_id in self._ready:
                    continue
                chunk = self._chunk(self._by_id[pair_id])
                seen.update(pair.id for pair in chunk)
                found += [q for pair in chunk for q in self.queries(pair)]
        except OSError:
            pass
        return found

    def _judged(self, pairs: Sequence[Pair], answers: Mapping[str, Answer]) -> dict[str, Answer]:
        """Free-form answers without scores, scored by the judge (cached like any answer)."""
        if self.judge is None or self.mode != "freeform":
            return dict(answers)
        wanted = [
            q
            for pair in pairs
            if all(f"{pair.id}/{i}" in answers for i in (1, 2))
            for q in self._judge_queries(pair, [answers[f"{pair.id}/1"], answers[f"{pair.id}/2"]])
            if not answers[q.key].scores
        ]
        verdicts = {key: value for key, (value, _) in self.judge.answer(wanted).items()}
        retried = self._judge_again(wanted, verdicts)
        out = dict(answers)
        for query in wanted:
            verdict = verdicts.get(query.key)
            if verdict is None:  # the budget stopped the judge first: this answer is not scored
                del out[query.key]
                continue
            original = answers[query.key]
            if isinstance(verdict, _Failure):
                meta = {**original.meta, "judge_error": verdict.message}
                out[query.key] = replace(original, meta=meta)
                continue
            meta = {**original.meta, "judge": verdict.text, "judge_prompt": query.prompt}
            if query.key in retried:
                meta["judge_first"] = retried[query.key]
            # Still unparseable after one more try: no scores, so the answer counts as invalid; its text stays.
            out[query.key] = replace(original, scores=parse_judge_scores(verdict.text), meta=meta)
        return out

    def _judge_again(self, wanted: Sequence[Query], verdicts: dict[str, Answer | _Failure]) -> dict[str, str | None]:
        """Ask the judge once more where its reply could not be read; a readable second reply replaces the
        first in the answer store. Returns the first replies that were replaced or retried."""
        judge = self.judge
        assert judge is not None  # noqa: S101 - only called with a judge
        unreadable = [
            q
            for q in wanted
            if isinstance(verdicts[q.key], Answer) and not parse_judge_scores(verdicts[q.key].text)  # type: ignore[union-attr]
        ]
        if not unreadable:
            return {}
        first = {q.key: verdicts[q.key].text for q in unreadable}  # type: ignore[union-attr]
        again: dict[str, Answer | _Failure] = {}
        judge._fill_until_stopped(unreadable, again)
        if judge.stopped is not None:  # not asked again: no second chance, so no verdict yet
            for query in unreadable:
                if query.key not in again:
                    del verdicts[query.key]
        readable = [q for q in unreadable if _readable(again.get(q.key))]
        for query in readable:
            verdicts[query.key] = again[query.key]
        if judge.store is not None and readable:
            fingerprint, settings = judge.model.fingerprint(), judge.model.generation_settings()
            judge.store.put_many(
                fingerprint,
                [(answer_key(fingerprint, q, settings), q, again[q.key]) for q in readable],  # type: ignore[misc]
            )
        return first

    def _count_usage(self, results: Mapping[str, tuple[Answer | _Failure, bool]]) -> None:
        for value, cached in results.values():
            if cached or not isinstance(value, Answer):
                continue
            counts = [value.meta.get(key) for key in ("tokens_in", "tokens_out")]
            if any(isinstance(c, int) for c in counts):
                self.usage["answers"] += 1
                for key, count in zip(("tokens_in", "tokens_out"), counts, strict=True):
                    if isinstance(count, int):
                        self.usage[key] += count
            spent = value.meta.get("cost_usd")
            if isinstance(spent, (int, float)):
                self.usage["cost_usd"] = self.usage.get("cost_usd", 0.0) + float(spent)

    def _prompts(
        self, queries: Sequence[Query], results: Mapping[str, tuple[Answer | _Failure, bool]]
    ) -> tuple[str, ...]:
        """What the model was asked: our prompts, or for a replay what its file says it was asked."""
        if self.model.sends_prompts:
            return tuple(q.prompt for q in queries)
        recorded = [results[q.key][0] for q in queries]
        return tuple(str(a.meta.get("prompt", "")) if isinstance(a, Answer) else "" for a in recorded)

    @property
    def stopped(self) -> RunStopped | None:
        """Why the run's budget stopped answering (the model's or the judge's), or None."""
        return self.batcher.stopped or (self.judge.stopped if self.judge is not None else None)

    def _prepare(self, pairs: Sequence[Pair]) -> None:
        """Answer the pairs; after a budget stop, the pairs answered whole before it still get outcomes."""
        started = time.perf_counter()
        queries = {pair.id: self.queries(pair) for pair in pairs}
        flat = [q for qs in queries.values() for q in qs]
        results = self.batcher.answer(flat, self._ahead(pairs))
        self._count_usage(results)
        good = {key: value for key, (value, _) in results.items() if isinstance(value, Answer)}
        judged = self._judged(pairs, good)
        self.answering_s += time.perf_counter() - started
        self._prefetch_features(pairs)
        # A query is settled when it failed, or got its answer (and, free-form, the judge's verdict).
        settled = {key for key, (value, _) in results.items() if key in judged or isinstance(value, _Failure)}
        whole = [pair for pair in pairs if all(q.key in settled for q in queries[pair.id])]
        fresh = {q.pair_id for pair in whole for q in queries[pair.id] if not results[q.key][1]}
        self.pairs_answered += len(fresh)
        self.pairs_from_store += len(whole) - len(fresh)
        for pair in whole:
            mine = queries[pair.id]
            failures = [results[q.key][0] for q in mine if isinstance(results[q.key][0], _Failure)]
            prompts = self._prompts(mine, results)
            first = next((f for f in failures if isinstance(f, _Failure)), None)
            if first is not None:
                self._ready[pair.id] = PairOutcome(
                    pair.id, pair.categories, pair.truth, None, first.message, prompts, first.detail
                )
                continue
            answers = [self._image_answer(q, judged[q.key], results[q.key][1]) for q in mine]
            self._ready[pair.id] = PairOutcome(
                pair.id, pair.categories, pair.truth, (answers[0], answers[1]), prompts=prompts
            )

    def _image_answer(self, query: Query, answer: Answer, cached: bool) -> ImageAnswer:
        args = (self.mode, answer.text, answer.scores, answer.letter, query.options)
        decision = decide(*args, self.parser, self.judge_threshold)
        other = decide(*args, self.other_parser, self.judge_threshold) if self.mode == "mc" else decision
        return ImageAnswer(
            raw=answer.text,
            decision=decision,
            scores=dict(answer.scores),
            alternative_decision=other,
            cached=cached,
            model_letter=answer.letter,
            # A replay's recorded prompt travelled in meta; it belongs in the outcome's prompts, not here.
            meta={k: v for k, v in answer.meta.items() if self.model.sends_prompts or k != "prompt"},
        )

    def image_paths(self, pair: Pair) -> tuple[str, str] | None:
        """The pair's two image files, or None for a model that reads no pixels."""
        if self.layout is None:
            return None
        return str(self.layout.path(pair.images[0])), str(self.layout.path(pair.images[1]))

    def run_variant(self, pair: Pair, images: tuple[str, str] | None = None) -> PairOutcome:
        """A probe's variant of a pair (its own id, so its answers are stored apart), alone in its batch,
        optionally with other image files."""
        if images is not None:
            self._images[pair.id] = images
        try:
            return self.run_pair(pair)
        finally:
            self._images.pop(pair.id, None)

    def run_pair(self, pair: Pair) -> PairOutcome:
        """Never raises for model failures: they come back as an outcome with ``error`` set. Raises
        RunStopped for a pair the run's budget left unanswered (pairs answered before the stop are
        returned as usual; after it, nothing more is asked)."""
        if pair.id not in self._ready and self.stopped is None:
            try:
                self._prepare(self._chunk(pair))
            except RunStopped:
                raise  # the run stops here; the test case says so
            except Exception as exc:  # noqa: BLE001 - the store, or out of memory at batch size 1
                error = scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])
                prompts = tuple(q.prompt for q in self.queries(pair))
                detail = scrub(traceback.format_exc())
                return PairOutcome(pair.id, pair.categories, pair.truth, None, error, prompts, detail)
        if pair.id not in self._ready:
            assert self.stopped is not None  # noqa: S101 - _prepare readies every pair it is not stopped on
            raise RunStopped(str(self.stopped))
        outcome = self._ready.pop(pair.id)
        if pair.id in self.scheduled and outcome.error is None:
            outcome = self._measured(pair, outcome)
            self._finished[pair.id] = outcome
        return outcome

    def _prefetch_features(self, pairs: Sequence[Pair]) -> None:
        """The chunk's images through the meter at once, for the benchmark's own pairs."""
        if self.similarity is None or self.layout is None:
            return
        own = [pair for pair in pairs if pair.id in self.scheduled and pair.id not in self._images]
        found = [self._image(pair, index) for pair in own for index in (0, 1)]
        if found:
            self.similarity.prefetch([path for path, _ in found], [digest for _, digest in found])

    def _measured(self, pair: Pair, outcome: PairOutcome) -> PairOutcome:
        """The outcome with its pair's encoder similarity, for the benchmark's own pairs (not probe variants)."""
        if self.similarity is None or self.layout is None or pair.id in self._images:
            return outcome
        (first, first_hash), (second, second_hash) = self._image(pair, 0), self._image(pair, 1)
        measured = self.similarity.measure((first, second), (first_hash, second_hash))
        return outcome if measured is None else replace(outcome, similarity=measured)

    def benchmark_outcome(self, pair: Pair) -> PairOutcome:
        """The pair as the benchmark asks it: answered once per process (a probe after its pair case
        reuses it; on another worker the answer store has it)."""
        found = self._finished.get(pair.id)
        return found if found is not None else self.run_pair(pair)
