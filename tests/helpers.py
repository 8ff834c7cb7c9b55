"""Small helpers shared by our tests."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.data.image_sources import ImageEntry
from mediconfusion_tests.data.schema import ImageRef, Pair
from mediconfusion_tests.results.document import (
    Counts,
    DatasetRecord,
    EnvironmentRecord,
    ModelRecord,
    PromptsRecord,
    ResultsDocument,
    RunRecord,
    json_schema,
    pair_records,
)
from mediconfusion_tests.scoring.metrics import compute_metrics
from mediconfusion_tests.scoring.outcome import ImageAnswer, PairOutcome

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mediconfusion_tests.scoring.letters import Letter
    from mediconfusion_tests.scoring.modes import Mode

#: The repository root.
REPO = Path(__file__).resolve().parents[1]


def read_results(folder: Path) -> dict[str, Any]:
    """The results.json of the newest complete run under folder/reports: ``latest`` when the newest run moved
    it, else the newest run folder that is complete (subsets, --limit included, never move ``latest``)."""
    runs = sorted((folder / "reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    for path in reversed(runs):
        document = json.loads(path.read_text())
        if document["run"].get("complete"):
            return document
    return json.loads((folder / "reports" / "latest" / "results.json").read_text())


def small_placeholder_images(folder: Path, pairs: Sequence[Pair], seed: int = 7) -> None:
    """A small seeded JPEG per distinct image of the pairs (40-120 px, a few ellipses): the processors resize
    them anyway, so logits are compared, not decoding."""
    import random

    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for image in {i.local_id: i for pair in pairs for i in pair.images}.values():
        width, height = rng.randint(40, 120), rng.randint(40, 120)
        canvas = Image.new("RGB", (width, height), tuple(rng.randint(0, 255) for _ in range(3)))
        draw = ImageDraw.Draw(canvas)
        for _ in range(6):
            x, y, r = rng.randint(0, width), rng.randint(0, height), rng.randint(3, 30)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randint(0, 255) for _ in range(3)))
        canvas.save(folder / f"{image.local_id}.jpg", quality=90)


def newest_run(folder: Path) -> Path:
    """The newest run folder under folder/reports (a subset is never ``latest``)."""
    return max((folder / "reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime).parent


def read_run(folder: Path) -> dict[str, Any]:
    """The results.json of the newest run folder under folder/reports, complete or not."""
    runs = sorted((folder / "reports").glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(runs[-1].read_text())


def outcome(
    pair_id: str = "1",
    truth: tuple[Letter, Letter] = ("A", "B"),
    decisions: tuple[Letter | None, Letter | None] = ("A", "B"),
    categories: tuple[tuple[str, ...], tuple[str, ...]] = (("Cerebral",), ("Cerebral",)),
    raws: tuple[str | None, str | None] | None = None,
) -> PairOutcome:
    raws = raws or (decisions[0] or "no idea", decisions[1] or "no idea")
    answers = (ImageAnswer(raw=raws[0], decision=decisions[0]), ImageAnswer(raw=raws[1], decision=decisions[1]))
    return PairOutcome(pair_id, categories, truth, answers)


def make_document(
    outcomes: list[PairOutcome], mode: Mode = "mc", run_id: str = "base", model: str = "m", **config: Any
) -> ResultsDocument:
    """A complete, valid results document holding these outcomes (dataset sha256 "d", prompt set "p")."""
    pairs = [
        Pair(o.pair_id, (ImageRef("a", 1), ImageRef("b", 2)), o.categories, "Q?", ("x", "y"), o.truth) for o in outcomes
    ]
    scored = [o for o in outcomes if o.answers is not None and o.error is None]
    return ResultsDocument(
        run=RunRecord(id=run_id, started=0.0, finished=1.0, duration_s=1.0, complete=True),
        config=RunConfig(model=model, mode=mode, **config),
        environment=EnvironmentRecord(),
        dataset=DatasetRecord(source="path", file="dataset.json", sha256="d"),
        model=ModelRecord(spec=model, name=model),
        prompts=PromptsRecord(source="builtin-v1", sha256="p"),
        counts=Counts(pairs_in_dataset=len(pairs), pairs_scored=len(scored), pairs_errored=0, pairs_skipped=0),
        metrics=compute_metrics(outcomes),
        pairs=pair_records(pairs, {o.pair_id: o for o in outcomes}, {}),
    )


def dtype_options() -> tuple[str, ...]:
    """``--dtype`` for pytester runs when MEDICONFUSION_TEST_DTYPE is set: the GPU checks run the model tests
    in the machine's default dtype and again in fp32 (pytester's runs drop PYTEST_ADDOPTS)."""
    import os

    dtype = os.environ.get("MEDICONFUSION_TEST_DTYPE")
    return (f"--dtype={dtype}",) if dtype else ()


def entry(local_id: int, pmcid: str, file_name: str, roco: str = "", split: str = "train") -> ImageEntry:
    roco = roco or f"ROCO_{local_id:05d}"
    return ImageEntry(f"{split}/radiology/images/{roco}.jpg", local_id, pmcid, file_name)


def write_image_dict(path: Path, entries: list[ImageEntry]) -> Path:
    data = {
        e.roco_path: {
            "local": e.local_id,
            "dlink": f"ftp://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_package/aa/bb/{e.pmcid}.tar.gz",
            "file_name": e.file_name,
        }
        for e in entries
    }
    path.mkdir(parents=True, exist_ok=True)
    (path / "image_dict.json").write_text(json.dumps(data))
    return path


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


def harness_file(tmp_path: Path, entries: dict[str, Any]) -> Path:
    """The original harness's answers file, ``{pair id: {"answer": {"im1": ..., "im2": ...}}}``."""
    return write_json(tmp_path / "model_mc.json", entries)


def r(text: str | None, a: float = 0, b: float = 0, **extra: object) -> dict[str, Any]:
    """One image's entry in a harness answers file."""
    return {"full_answer": text, "A": a, "B": b, **extra}


@functools.cache
def results_validator() -> jsonschema.Draft202012Validator:
    """The published results schema, checked once as a schema; each validation then takes milliseconds."""
    return jsonschema.Draft202012Validator(json_schema())
