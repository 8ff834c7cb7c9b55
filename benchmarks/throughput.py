"""Pairs per second: the suite (batches spanning pairs) vs the original harness's pattern.

The harness asked about one image at a time, computed logits at every
position, and in prefix mode ran one forward per option. The suite batches
images across pairs, scores both options of a batch in one forward, and
computes logits only where it reads them. Both sides run in this process on the
same tiny LLaVA (hidden 256, 4 layers, 64 px images, a 32k output vocabulary
like Llama/Mistral checkpoints: compute dominates), on the sample benchmark,
through the same adapter and preprocessing, and must reach the same decisions.

    python benchmarks/throughput.py                  # prefix, greedy and mc, best of 3
    python benchmarks/throughput.py --modes prefix --repeat 5

Targets on CPU here: prefix >= 3x, greedy >= 2x, mc >= 1.5x. The suite side is an
in-process pytest run with a fresh answer store, so every answer is computed;
its speed is taken over pytest's test loop (every pair case with its fixtures and
reports) less the model load, which is what grows with the number of pairs; the
harness side is timed after its model loads. The whole run, pytest start-up,
collection, model load and results files included, is printed beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

TARGETS = {"prefix": 3.0, "greedy": 2.0, "mc": 1.5}
#: Output-layer width of Llama/Mistral checkpoints; Qwen and Gemma are larger still.
VOCAB = 32000


def harness_pattern(model, pairs, layout, mode: str) -> tuple[float, list[str | None]]:
    """The original harness: one image per forward, logits at every position, prefix one forward per option.

    Same adapter, prompts and preprocessing as the suite; only the calling pattern differs.
    """
    import torch

    from mediconfusion_tests.models.base import Query
    from mediconfusion_tests.prompts import BUILTIN
    from mediconfusion_tests.scoring.parse import paper_letter

    start = time.perf_counter()
    decisions: list[str | None] = []
    with torch.inference_mode():
        for pair in pairs:
            prompt = BUILTIN.render(mode, pair)
            for index, image in enumerate(pair.images, start=1):
                query = Query(pair.id, index, str(layout.path(image)), "", pair.question, pair.options, mode, prompt)
                if mode == "prefix":
                    scores = [model.mean_logprobs([item], keep_all=True)[0] for item in model.option_sequences(query)]
                    decisions.append("A" if scores[0] > scores[1] else "B" if scores[1] > scores[0] else None)
                elif mode == "greedy":
                    text = model.render(prompt)
                    batch = model._batch([model._encode(text, model._image(query.image_path))])
                    row = model.model(**batch).logits[0, -1].float()  # all positions computed, as in the harness
                    ids = model.letter_ids(text)
                    best = {letter: float(torch.logsumexp(row[ids[letter]], dim=0)) for letter in ("A", "B")}
                    decisions.append("A" if best["A"] >= best["B"] else "B")
                else:
                    decisions.append(paper_letter(model.answer([query])[0].text))
    return time.perf_counter() - start, decisions


class LoopTimer:
    """Times pytest's test loop (every pair case with its fixtures and reports) less the model load."""

    def __init__(self) -> None:
        self.loop = 0.0
        self.load = 0.0

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: object) -> Iterator[None]:
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            self.loop = time.perf_counter() - start

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Iterator[None]:
        start = time.perf_counter()
        try:
            return (yield)
        finally:
            if fixturedef.argname == "mediconfusion_model":
                self.load += time.perf_counter() - start

    @property
    def seconds(self) -> float:
        return self.loop - self.load


def suite(checkpoint: Path, mode: str, work: Path) -> tuple[float, float, list[str | None]]:
    """(test-loop seconds without the model load, whole-run seconds, decisions) of an in-process pytest run."""
    results = work / f"reports-{mode}-{time.time_ns()}"
    args = [
        f"--model=hf:{checkpoint}",
        f"--mode={mode}",
        "--dataset=sample",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        "--results-dir",
        str(results),
        "--answer-store",
        str(results / "store.sqlite"),
        "--max-new-tokens=16",
    ]
    timer = LoopTimer()
    start = time.perf_counter()
    with Path(os.devnull).open("w") as quiet, contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        status = pytest.main(args, plugins=[timer])
    whole = time.perf_counter() - start
    if status not in (0, 1):
        raise SystemExit(f"the suite run failed with status {status}")
    data = json.loads((results / "latest" / "results.json").read_text())
    return timer.seconds, whole, [a["decision"] for p in data["pairs"] for a in p["answers"]]


def harness(checkpoint: Path, pairs, layout, mode: str) -> tuple[float, list[str | None]]:
    """Load the model, then time answering every pair the harness's way (the load is not timed)."""
    from mediconfusion_tests.models.hf import Generation, HFModel
    from mediconfusion_tests.models.hf_loading import LoadSettings

    model = HFModel(LoadSettings(str(checkpoint)), name="harness", generation=Generation(max_new_tokens=16))
    return harness_pattern(model, pairs, layout, mode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--image", type=int, default=64, help="image side in pixels (8 px patches)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mc-throughput-"))
    os.environ.setdefault("MEDICONFUSION_CACHE", str(work / "cache"))
    os.environ["HF_HUB_OFFLINE"] = "1"

    import torch

    from mediconfusion_tests.data.files import read_pairs
    from mediconfusion_tests.data.images import LOCAL, ImageLayout
    from mediconfusion_tests.sample.benchmark import sample_folder
    from mediconfusion_tests.sample.demo_model import build_llava

    checkpoint = work / "llava"
    build_llava(checkpoint, hidden=args.hidden, layers=args.layers, image=args.image, vocab_size=VOCAB)
    sample = sample_folder()
    pairs = read_pairs(sample / "dataset.json")
    layout = ImageLayout(LOCAL, str(sample / "images"))
    print(
        f"tiny LLaVA hidden {args.hidden} x {args.layers} layers, {args.image} px images, vocab {VOCAB}; "
        f"{len(pairs)} sample pairs; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"best of {args.repeat}"
    )
    print(
        f"{'mode':<8}{'harness pairs/s':>17}{'suite pairs/s':>15}{'ratio':>8}{'target':>8}  decisions   "
        "(whole run incl. pytest start-up: pairs/s, ratio)"
    )
    met = True
    for mode in args.modes:
        harness_runs = [harness(checkpoint, pairs, layout, mode) for _ in range(args.repeat)]
        suite_runs = [suite(checkpoint, mode, work) for _ in range(args.repeat)]
        harness_time = min(t for t, _ in harness_runs)
        loop_time = min(t for t, _, _ in suite_runs)
        whole_time = min(t for _, t, _ in suite_runs)
        same = all(d == harness_runs[0][1] for _, _, d in suite_runs) and all(
            d == harness_runs[0][1] for _, d in harness_runs
        )
        ratio = harness_time / loop_time
        met &= ratio >= TARGETS[mode] and same
        print(
            f"{mode:<8}{len(pairs) / harness_time:>17.2f}{len(pairs) / loop_time:>15.2f}{ratio:>7.2f}x"
            f"{TARGETS[mode]:>7.1f}x  {'identical' if same else 'DIFFERENT':<12}"
            f"({len(pairs) / whole_time:.2f} pairs/s, {harness_time / whole_time:.2f}x)"
        )
    print("targets met" if met else "TARGETS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
