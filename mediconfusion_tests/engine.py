"""Ask the model about both images of a pair, through the answer store, and judge the pair."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path

from mediconfusion_tests.data.images import ImageLayout, file_sha256
from mediconfusion_tests.data.schema import Pair
from mediconfusion_tests.models.base import Answer, Model, Query
from mediconfusion_tests.prompts import PromptSet
from mediconfusion_tests.scoring.decide import decide
from mediconfusion_tests.scoring.outcome import ImageAnswer, PairOutcome
from mediconfusion_tests.scoring.parse import PARSERS, get_parser
from mediconfusion_tests.store import AnswerStore, answer_key


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
    ) -> None:
        self.model = model
        self.mode = mode
        self.prompts = prompts
        self.layout = layout
        self.store = store if model.cacheable else None
        self.parser_name = answer_parser
        self.parser = get_parser(answer_parser)
        # In mc mode every decision is also read with the other parser, to report disagreements.
        self.other_parser = next(p for name, p in PARSERS.items() if name != answer_parser)
        self.judge_threshold = judge_threshold
        self._hashes: dict[str, str] = {}
        self.calls = 0

    def _image(self, pair: Pair, index: int) -> tuple[str, str]:
        if self.layout is None:
            return "", ""
        path = str(self.layout.path(pair.images[index]))
        if path not in self._hashes:
            self._hashes[path] = file_sha256(Path(path))
        return path, self._hashes[path]

    def queries(self, pair: Pair) -> list[Query]:
        prompt = self.prompts.render(self.mode, pair)
        out = []
        for index in (0, 1):
            path, digest = self._image(pair, index)
            out.append(Query(pair.id, index + 1, path, digest, pair.question, pair.options, self.mode, prompt))
        return out

    def _answers(self, queries: Sequence[Query]) -> tuple[list[Answer], list[bool]]:
        if self.store is None:
            self.calls += 1
            return list(self.model.answer(queries)), [False] * len(queries)
        fingerprint = self.model.fingerprint()
        settings = self.model.generation_settings()
        keys = [answer_key(fingerprint, q, settings) for q in queries]
        stored = self.store.get_many(keys)
        missing = [i for i, key in enumerate(keys) if key not in stored]
        fresh: dict[int, Answer] = {}
        if missing:
            self.calls += 1
            produced = self.model.answer([queries[i] for i in missing])
            fresh = dict(zip(missing, produced, strict=True))
            self.store.put_many(fingerprint, [(keys[i], queries[i], fresh[i]) for i in missing])
        answers = [stored[key] if key in stored else fresh[i] for i, key in enumerate(keys)]
        return answers, [key in stored for key in keys]

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
        )

    def run_pair(self, pair: Pair) -> PairOutcome:
        """Never raises for model failures: they come back as an outcome with ``error`` set."""
        queries = self.queries(pair)
        prompts = tuple(q.prompt for q in queries)
        try:
            answers, cached = self._answers(queries)
            if len(answers) != len(queries):
                raise RuntimeError(f"model returned {len(answers)} answers for {len(queries)} queries")
        except Exception as exc:
            return PairOutcome(
                pair.id,
                pair.categories,
                pair.truth,
                None,
                error=f"{type(exc).__name__}: {exc}".splitlines()[0],
                prompts=prompts,
                error_detail=traceback.format_exc(),
            )
        judged = [self._image_answer(q, a, c) for q, a, c in zip(queries, answers, cached, strict=True)]
        return PairOutcome(pair.id, pair.categories, pair.truth, (judged[0], judged[1]), prompts=prompts)
