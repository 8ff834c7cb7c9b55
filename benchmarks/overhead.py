"""Suite overhead per pair: the pytest suite vs the same model called in a plain loop.

Both sides run in a fresh process on the same data (the sample benchmark's
pairs replicated to N pairs, with new ids) and the same model. The model
answers instantly, so what remains is the suite's own cost: collection,
fixtures, reports, the roll-up and results files, and for the "stored"
variant one SQLite commit per pair in the answer store. hypothesis's pytest
plugin is switched off on the suite side: when installed (our dev extra) it
imports all of hypothesis at session end, about 0.5 s that is not the suite's.

    python benchmarks/overhead.py                # N = 176 and 704, 3 repeats
    python benchmarks/overhead.py --pairs 176 --repeat 5

Prints, per model variant, the amortised overhead per pair at each N and the
marginal overhead per pair (the slope between the two sizes, which excludes
fixed start-up cost). Target: under 5 ms per pair.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MS = 5.0
MODELS_MODULE = '''
from mediconfusion_tests.models.baselines import RandomModel
from mediconfusion_tests.models.registry import ModelEntry


class StoredRandom(RandomModel):
    """The random baseline, but kept in the answer store like a real model's answers."""
    name = "stored-random"
    cacheable = True


def make(spec, config):
    return StoredRandom(config.seed)


ENTRIES = [ModelEntry("stored-random", "random, through the answer store", make, needs_images=True)]
'''
CONFTEST = "from bench_models import ENTRIES\n\ndef pytest_mediconfusion_models():\n    return ENTRIES\n"
LOOP = """
import sys, time
sys.path.insert(0, {folder!r})
start = time.perf_counter()
from pathlib import Path
from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.data.files import read_pairs
from mediconfusion_tests.data.images import LOCAL, ImageLayout, file_sha256
from mediconfusion_tests.models.base import Query
from mediconfusion_tests.models.registry import build_registry
from mediconfusion_tests.prompts import BUILTIN
from mediconfusion_tests.scoring.parse import paper_letter
from bench_models import ENTRIES

registry = build_registry([ENTRIES])
spec = registry.parse({model!r})
model = registry.entry(spec).load_factory()(spec, RunConfig(model={model!r}))
pairs = read_pairs(Path({dataset!r}) / "dataset.json")
layout = ImageLayout(LOCAL, {images!r})
correct = 0
for pair in pairs:
    prompt = BUILTIN.render("mc", pair)
    queries = []
    for index, image in enumerate(pair.images, start=1):
        path = layout.path(image)
        queries.append(Query(pair.id, index, str(path), file_sha256(path), pair.question, pair.options, "mc", prompt))
    answers = model.answer(queries)
    correct += all(paper_letter(a.text) == t for a, t in zip(answers, pair.truth))
print(correct)
"""


def make_dataset(root: Path, size: int, sample: Path) -> Path:
    records = json.loads((sample / "dataset.json").read_text())
    base = list(records.values())
    folder = root / f"pairs-{size}"
    folder.mkdir()
    data = {str(100000 + i): base[i % len(base)] for i in range(size)}
    (folder / "dataset.json").write_text(json.dumps(data))
    shutil.copytree(sample / "images", folder / "images")
    return folder


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(f"benchmark command failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr}")
    return elapsed


def measure(model: str, dataset: Path, work: Path, env: dict[str, str], repeat: int) -> tuple[float, float]:
    suite = [
        sys.executable,
        "-m",
        "pytest",
        f"--model={model}",
        f"--dataset={dataset}",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        "--results-dir",
        str(work / "reports"),
        "--answer-store",
        str(work / f"store-{time.time_ns()}.sqlite"),
    ]
    loop = [
        sys.executable,
        "-c",
        LOOP.format(folder=str(work), model=model, dataset=str(dataset), images=str(dataset / "images")),
    ]
    suite_times, loop_times = [], []
    for _ in range(repeat):
        suite[-1] = str(work / f"store-{time.time_ns()}.sqlite")  # a fresh store: every answer is computed
        suite_times.append(timed(suite, work, env))
        loop_times.append(timed(loop, work, env))
    return min(suite_times), min(loop_times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[176, 704])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mc-overhead-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "MEDICONFUSION_CACHE": str(work / "cache"),
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(work) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        (work / "bench_models.py").write_text(MODELS_MODULE)
        (work / "conftest.py").write_text(CONFTEST)
        from mediconfusion_tests.sample.benchmark import sample_folder

        sample = sample_folder(work / "cache")
        datasets = {size: make_dataset(work, size, sample) for size in args.pairs}
        print(f"suite vs plain loop, one process each, best of {args.repeat}; target < {TARGET_MS:.0f} ms/pair")
        print(f"{'model':<15}{'pairs':>7}{'suite s':>10}{'loop s':>9}{'overhead ms/pair':>19}")
        verdict = True
        for model in ("random", "stored-random"):
            points = []
            for size, dataset in datasets.items():
                suite, loop = measure(model, dataset, work, env, args.repeat)
                per_pair = 1000 * (suite - loop) / size
                points.append((size, suite - loop))
                print(f"{model:<15}{size:>7}{suite:>10.2f}{loop:>9.2f}{per_pair:>19.2f}")
            if len(points) >= 2:
                (n1, d1), (n2, d2) = points[0], points[-1]
                marginal = 1000 * (d2 - d1) / (n2 - n1)
                verdict &= marginal < TARGET_MS
                print(
                    f"{model:<15}{'marginal overhead per pair (slope):':>36}{marginal:>9.2f} ms "
                    f"({marginal / TARGET_MS:.2f} x the target)"
                )
        print("target met" if verdict else "TARGET MISSED")
        return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
