"""--preprocess-workers: images preprocessed in worker processes ahead of the model (models/image_pool.py).

The pool must hand the model the very tensors it would have computed itself (so answers cannot change),
survive a killed worker by computing in the model's process, ignore Ctrl-C in its workers, and go away
with the model.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from pathlib import Path

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

SAMPLE = ("--dataset=sample", "--no-store", "-p", "no:cacheprovider")


def tensors_equal(left: dict[str, Any], right: dict[str, Any]) -> bool:
    if left.keys() != right.keys():
        return False
    for key, value in left.items():
        other = right[key]
        if isinstance(value, torch.Tensor):
            if not (value.dtype == other.dtype and value.shape == other.shape and torch.equal(value, other)):
                return False
        elif value != other:
            return False
    return True


def tiny_model(family: str, folder: Path) -> Any:
    from tiny_models import build_tiny

    from mediconfusion_tests.models.hf import HFModel
    from mediconfusion_tests.models.hf_loading import LoadSettings

    return HFModel(LoadSettings(str(build_tiny(family, folder)), dtype="fp32"), name=family)


@pytest.mark.parametrize("family", ["llava-next", "blip2", "mllama", "qwen2-vl"])
def test_the_pool_gives_the_model_the_same_bytes_it_would_compute(
    family: str, tmp_path: Path, sample_dir: Path
) -> None:
    model = tiny_model(family, tmp_path / family)
    paths = [str(sample_dir / "images" / f"{n}.jpg") for n in (90001, 90004, 90007)]
    text = model.render("Is there a fracture?", with_image=True)
    alone = [model._encode(text, model._image(path)) for path in paths]
    assert model.start_preprocessing(2) is None
    try:
        pool = model._pool
        assert pool is not None
        pool.submit(paths)
        pooled = [model._encode(text, model._image(path)) for path in paths]
        assert pool.served == len(paths)
        assert all(tensors_equal(a, b) for a, b in zip(alone, pooled, strict=True))
    finally:
        model.close()


@pytest.mark.usefixtures("hf_ready")
@pytest.mark.parametrize(("mode", "xdist"), [("greedy", ()), ("prefix", ()), ("greedy", ("-n", "2"))])
def test_a_run_with_the_pool_answers_exactly_as_without(
    pytester: pytest.Pytester, mode: str, xdist: tuple[str, ...]
) -> None:
    pytester.runpytest_subprocess("--model=demo", f"--mode={mode}", "--preprocess-workers=0", *xdist, *SAMPLE)
    without = read_results(pytester.path)
    assert all(w.get("preprocess_pool") is None for w in without["timing"]["workers"].values())
    pytester.runpytest_subprocess("--model=demo", f"--mode={mode}", "--preprocess-workers=2", *xdist, *SAMPLE)
    pooled = read_results(pytester.path)
    pools = [w["preprocess_pool"] for w in pooled["timing"]["workers"].values()]
    assert all(p["workers"] == 2 and p["broken"] is None for p in pools)
    assert sum(p["images_from_pool"] for p in pools) > 0
    for left, right in zip(without["pairs"], pooled["pairs"], strict=True):
        assert [a["raw"] for a in left["answers"]] == [a["raw"] for a in right["answers"]]
        assert [a["scores"] for a in left["answers"]] == [a["scores"] for a in right["answers"]]


def test_a_killed_worker_breaks_only_the_pool_and_sigint_does_not_reach_the_workers(
    tmp_path: Path, sample_dir: Path
) -> None:
    model = tiny_model("llava", tmp_path / "llava")
    paths = [str(sample_dir / "images" / f"{n}.jpg") for n in (90001, 90004)]
    text = model.render("Is there a fracture?", with_image=True)
    alone = [model._encode(text, model._image(path)) for path in paths]
    model.start_preprocessing(2)
    pool = model._pool
    assert pool is not None
    try:
        pool.submit(paths[:1])
        assert tensors_equal(model._encode(text, model._image(paths[0])), alone[0])
        workers = list(pool._executor._processes.values())
        assert workers
        for worker in workers:
            os.kill(worker.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group: workers ignore it
        pool.forget()
        pool.submit(paths[1:])
        assert tensors_equal(model._encode(text, model._image(paths[1])), alone[1])
        assert pool.broken is None
        assert pool.served == 2
        for worker in workers:
            os.kill(worker.pid, signal.SIGKILL)
        pool.forget()
        pool.submit(paths)
        # The pool is broken; the model's own process computes the same tensors.
        assert all(
            tensors_equal(model._encode(text, model._image(path)), expected)
            for path, expected in zip(paths, alone, strict=True)
        )
        assert pool.broken is not None
        assert "BrokenProcessPool" in pool.broken
        facts = model.preprocess_facts()
        assert facts is not None
        assert (facts["workers"], facts["images_from_pool"], facts["broken"]) == (2, 2, pool.broken)
        assert facts["images_waited_for"] <= 2
    finally:
        model.close()
    assert all(not worker.is_alive() for worker in workers)
    assert model._pool is None


def test_auto_uses_no_pool_on_a_cpu_and_the_cores_per_worker_on_a_gpu() -> None:
    from mediconfusion_tests.run.runtime import preprocess_workers

    assert preprocess_workers("auto", "cpu", cores=64) == 0
    assert preprocess_workers("auto", "cuda:0", cores=16, xdist=1) == 8
    assert preprocess_workers("auto", "cuda:0", cores=16, xdist=4) == 3
    assert preprocess_workers("auto", "cuda:1", cores=2, xdist=2) == 0
    assert preprocess_workers(3, "cpu") == 3


def test_a_model_without_images_to_preprocess_says_so_in_results(pytester: pytest.Pytester) -> None:
    pytester.runpytest_subprocess("--model=random", "--preprocess-workers=2", *SAMPLE)
    instance = read_results(pytester.path)["model"]["instances"]["main"]
    assert instance["preprocess_workers"] == 0
    assert "no image preprocessing" in instance["preprocess_note"]


def test_an_image_processor_that_cannot_be_pickled_leaves_the_model_working_without_a_pool(
    tmp_path: Path, sample_dir: Path
) -> None:
    model = tiny_model("llava", tmp_path / "llava")
    model.processor.image_processor.not_picklable = lambda: None
    why = model.start_preprocessing(2)
    assert why is not None
    assert "cannot be sent to worker processes" in why
    assert model._pool is None
    path = str(sample_dir / "images" / "90001.jpg")
    features = model._encode(model.render("Is there a fracture?", with_image=True), model._image(path))
    assert features["pixel_values"].shape[0] == 1
    model.close()


def test_workers_that_do_not_start_in_time_leave_the_model_working_without_a_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediconfusion_tests.models import image_pool

    model = tiny_model("llava", tmp_path / "llava")
    monkeypatch.setattr(image_pool, "STARTUP_S", 1e-6)
    why = model.start_preprocessing(1)
    assert why is not None
    assert "did not start" in why
    assert model._pool is None
    model.close()
