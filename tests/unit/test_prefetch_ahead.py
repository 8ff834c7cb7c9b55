"""The next chunk's images go to the preprocessing pool while the last batch of a chunk runs, and survive the
end of that chunk; where nothing says which chunk comes next, only the chunk in hand is prepared."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.data.images import LOCAL, ImageLayout
from mediconfusion_tests.data.schema import ImageRef, Pair
from mediconfusion_tests.models.base import Answer, Model, Query
from mediconfusion_tests.prompts import BUILTIN
from mediconfusion_tests.run.engine import Engine
from mediconfusion_tests.run.store import AnswerStore

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


class Recording(Model):
    name = "recording"

    def __init__(self) -> None:
        self.events: list[tuple[str, list[str]]] = []

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        self.events.append(("answer", [q.image_path for q in queries]))
        return [Answer("A", {"A": 0.9, "B": 0.1}, "A") for _ in queries]

    def prefetch(self, queries: Sequence[Query]) -> None:
        self.events.append(("prefetch", [q.image_path for q in queries]))

    def forget_prefetched(self, keep: Sequence[Query] = ()) -> None:
        self.events.append(("forget", [q.image_path for q in keep]))


def _pairs(folder: Path, count: int) -> list[Pair]:
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for index in range(count):
        refs = (ImageRef(f"a{index}.jpg", 2 * index), ImageRef(f"b{index}.jpg", 2 * index + 1))
        for ref in refs:
            (folder / f"{ref.local_id}.jpg").write_bytes(f"image {ref.local_id}".encode())
        pairs.append(Pair(f"p{index}", refs, (("x",), ("x",)), "q?", ("yes", "no"), ("A", "B")))
    return pairs


def _engine(tmp_path: Path, pairs: list[Pair], model: Model, batch: int, store: AnswerStore | None = None) -> Engine:
    position = {pair.id: index for index, pair in enumerate(pairs)}
    return Engine(
        model,
        "greedy",
        BUILTIN,
        ImageLayout(LOCAL, str(tmp_path / "images")),
        store,
        batch_size=batch,
        schedule=pairs,
        chunk_of=lambda pair_id: position[pair_id] // 2,
    )


def _image(tmp_path: Path, local_id: int) -> str:
    return str(tmp_path / "images" / f"{local_id}.jpg")


def test_the_last_batch_of_a_chunk_starts_the_next_chunks_first_batch(tmp_path: Path) -> None:
    pairs = _pairs(tmp_path / "images", 6)
    model = Recording()
    engine = _engine(tmp_path, pairs, model, batch=2)
    order = [p.id for p in pairs]
    running = {"at": 0}
    engine.upcoming = lambda: iter(order[running["at"] + 1 :])
    for index, pair in enumerate(pairs):
        running["at"] = index
        assert engine.run_pair(pair).error is None
    # Chunk 0 (pairs 0-1, images 0-3) in two batches of 2; its last batch also starts chunk 1's first (4, 5).
    first_chunk = model.events[:5]
    assert first_chunk == [
        ("prefetch", [_image(tmp_path, i) for i in (0, 1, 2, 3)]),
        ("answer", [_image(tmp_path, i) for i in (0, 1)]),
        ("prefetch", [_image(tmp_path, i) for i in (2, 3, 4, 5)]),
        ("answer", [_image(tmp_path, i) for i in (2, 3)]),
        ("forget", [_image(tmp_path, i) for i in (4, 5, 6, 7)]),  # chunk 1's images are kept
    ]
    # The last chunk knows of nothing after it: it prepares only itself, and keeps nothing.
    assert model.events[-3:] == [
        ("prefetch", [_image(tmp_path, i) for i in (10, 11)]),
        ("answer", [_image(tmp_path, i) for i in (10, 11)]),
        ("forget", []),
    ]


def test_without_a_queue_of_cases_only_the_chunk_in_hand_is_prepared(tmp_path: Path) -> None:
    pairs = _pairs(tmp_path / "images", 4)
    model = Recording()
    engine = _engine(tmp_path, pairs, model, batch=4)
    for pair in pairs:
        engine.run_pair(pair)
    prefetched = [paths for kind, paths in model.events if kind == "prefetch"]
    assert prefetched == [[_image(tmp_path, i) for i in (0, 1, 2, 3)], [_image(tmp_path, i) for i in (4, 5, 6, 7)]]
    assert all(paths == [] for kind, paths in model.events if kind == "forget")


def test_pairs_the_store_holds_are_not_prepared_ahead(tmp_path: Path) -> None:
    pairs = _pairs(tmp_path / "images", 4)
    store = AnswerStore(tmp_path / "answers.sqlite")
    _engine(tmp_path, pairs[2:3], Recording(), batch=2, store=store).run_pair(pairs[2])  # pair 2 stored
    model = Recording()
    engine = _engine(tmp_path, pairs, model, batch=4, store=store)
    order = [p.id for p in pairs]
    engine.upcoming = lambda: iter(order[1:])
    engine.run_pair(pairs[0])
    assert model.events[-1] == ("forget", [_image(tmp_path, i) for i in (6, 7)])
    store.close()


class Pooled(Recording):
    """A model whose preprocessing workers want 3 images in flight beyond the batch in hand."""

    @property
    def prefetch_depth(self) -> int:
        return 3


def test_at_batch_size_1_a_model_with_workers_gets_enough_images_ahead_to_keep_them_busy(tmp_path: Path) -> None:
    pairs = _pairs(tmp_path / "images", 4)
    model = Pooled()
    position = {pair.id: index for index, pair in enumerate(pairs)}
    engine = Engine(
        model,
        "greedy",
        BUILTIN,
        ImageLayout(LOCAL, str(tmp_path / "images")),
        None,
        batch_size=1,
        schedule=pairs,
        chunk_of=lambda pair_id: position[pair_id],  # chunks of one pair, as at batch size 1
    )
    order = [p.id for p in pairs]
    engine.upcoming = lambda: iter(order[1:])
    engine.run_pair(pairs[0])
    # The batch in hand and 3 more: past the chunk (pair 0, images 0-1), pair 1's and pair 2's first image.
    assert model.events[0] == ("prefetch", [_image(tmp_path, i) for i in (0, 1, 2, 3)])
    assert model.events[2] == ("prefetch", [_image(tmp_path, i) for i in (1, 2, 3, 4)])
    assert model.events[-1] == ("forget", [_image(tmp_path, i) for i in (2, 3, 4, 5)])
