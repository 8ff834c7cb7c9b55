"""The local-model base: one mode dispatch, inference mode and out-of-memory signal for every in-process model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.errors import ModelError, ModelOutOfMemory
from mediconfusion_tests.models.base import Answer, LocalModel, Query

if TYPE_CHECKING:
    from collections.abc import Sequence


def query(pair: str, mode: str) -> Query:
    return Query(pair, 0, "", "", "Which?", ("left", "right"), mode, "Which?")


class Counting(LocalModel):
    name = "counting"

    def __init__(self, alone: bool = False, fail: BaseException | None = None) -> None:
        self.calls: list[tuple[str, int, bool]] = []
        self.alone, self.fail = alone, fail
        self.model = object()

    @property
    def one_at_a_time(self) -> bool:
        return self.alone

    def _record(self, method: str, queries: Sequence[Query]) -> list[Answer]:
        import torch

        self.calls.append((method, len(queries), torch.is_inference_mode_enabled()))
        if self.fail is not None:
            raise self.fail
        return [Answer(method) for _ in queries]

    def generate(self, queries: Sequence[Query]) -> list[Answer]:
        return self._record("generate", queries)

    def next_letter(self, queries: Sequence[Query]) -> list[Answer]:
        return self._record("next_letter", queries)

    def option_likelihood(self, queries: Sequence[Query]) -> list[Answer]:
        return self._record("option_likelihood", queries)


@pytest.mark.parametrize(
    ("mode", "method"),
    [
        ("mc", "generate"),
        ("freeform", "generate"),
        ("judge", "generate"),
        ("greedy", "next_letter"),
        ("prefix", "option_likelihood"),
    ],
)
def test_each_mode_reaches_its_method_in_inference_mode(mode: str, method: str) -> None:
    model = Counting()
    answers = model.answer([query("1", mode), query("2", mode)])
    assert [a.text for a in answers] == [method, method]
    assert model.calls == [(method, 2, True)]
    assert model.answer([]) == []
    assert len(model.calls) == 1


def test_one_at_a_time_sends_each_query_alone() -> None:
    model = Counting(alone=True)
    assert len(model.answer([query(str(i), "prefix") for i in range(3)])) == 3
    assert model.calls == [("option_likelihood", 1, True)] * 3


def test_an_unknown_mode_and_out_of_memory_are_named() -> None:
    with pytest.raises(ModelError, match="counting: unsupported mode 'chat'"):
        Counting().answer([query("1", "chat")])
    import torch

    model = Counting(fail=torch.cuda.OutOfMemoryError("CUDA out of memory"))
    with pytest.raises(ModelOutOfMemory, match="counting: out of memory on cpu"):
        model.answer([query("1", "mc")])


def test_close_drops_the_weights() -> None:
    model = Counting()
    model.close()
    assert not hasattr(model, "model")
    model.close()  # twice is harmless


def test_every_in_process_adapter_is_a_local_model() -> None:
    from mediconfusion_tests.models.hf import HFModel
    from mediconfusion_tests.models.llava_med.adapter import LlavaMedModel
    from mediconfusion_tests.models.med_flamingo.adapter import MedFlamingoModel
    from mediconfusion_tests.models.radfm.adapter import RadFMModel

    assert all(issubclass(cls, LocalModel) for cls in (HFModel, RadFMModel, LlavaMedModel, MedFlamingoModel))
