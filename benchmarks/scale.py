"""Cost as the benchmark grows: 176, 1,000 and 10,000 pairs with the `random` model under ``-n 2``.

The sample benchmark is tiled to N pairs (new ids); the `random` model answers instantly, so the time
per pair is the suite's own cost: collection, scheduling, reports, the roll-up, results files. Printed
per N: wall time, ms per pair and its ratio to the 176-pair figure (target: within 1.5x at 10,000), the
controller's peak memory (its VmHWM read from /proc while it runs), results.json and report.html sizes,
and the time headless Chromium takes to open report.html and show its table (target: under 3 s at
10,000 pairs; pair cards are drawn on demand).

    python benchmarks/scale.py                      # 176, 1000, 10000 pairs, 2 repeats
    python benchmarks/scale.py --pairs 176 2000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from overhead import make_dataset


def peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(dataset: Path, work: Path, workers: int) -> tuple[float, float, Path]:
    """(wall seconds, controller peak MB, run folder)"""
    results = work / f"reports-{time.time_ns()}"
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
        "--model=random", f"--dataset={dataset}", "--no-store", f"--results-dir={results}",
        *(["-n", str(workers)] if workers else []),
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0.0]

    def watch() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], peak_rss_mb(process.pid))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    output, _ = process.communicate()
    wall = time.perf_counter() - started
    watcher.join()
    if process.returncode not in (0, 1):
        raise SystemExit(f"the run failed ({process.returncode}):\n{output[-3000:]}")
    return wall, peak[0], next(results.glob("2*"))


def open_report(path: Path) -> float:
    """Seconds until headless Chromium has report.html loaded and its category table visible."""
    from browser import CHROMIUM_ARGS, chromium_path  # tests/browser.py: the system Chromium
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_selector("#categories table", state="visible")
        seconds = time.perf_counter() - started
        browser.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[176, 1000, 10000])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-scale-") as tmp:
        work = Path(tmp)
        os.environ["MEDICONFUSION_CACHE"] = str(work / "cache")
        from mediconfusion_tests.sample.benchmark import sample_folder

        sample = sample_folder(work / "cache")
        print(f"random model, -n {args.workers}, no answer store; median of {args.repeat} (min-max)")
        header = ("pairs", "wall s", "ms/pair", "vs 176", "peak MB", "json MB", "html MB", "open s")
        widths = (7, 16, 9, 8, 9, 9, 9, 8)
        print("".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
        base = None
        previous: tuple[int, float] | None = None
        for size in args.pairs:
            dataset = make_dataset(work, size, sample)
            walls, peaks, folder = [], [], None
            for _ in range(args.repeat):
                wall, peak, folder = run(dataset, work, args.workers)
                walls.append(wall)
                peaks.append(peak)
            assert folder is not None
            per_pair = 1000 * statistics.median(walls) / size
            base = base or per_pair
            opened = open_report(folder / "report.html")
            print(
                f"{size:>7}{statistics.median(walls):>7.2f} ({min(walls):.1f}-{max(walls):.1f})"
                f"{per_pair:>9.2f}{per_pair / base:>8.2f}{max(peaks):>9.0f}"
                f"{(folder / 'results.json').stat().st_size / 1e6:>9.1f}"
                f"{(folder / 'report.html').stat().st_size / 1e6:>9.1f}"
                f"{opened:>8.2f}"
            )
            if previous is not None:
                slope = 1000 * (statistics.median(walls) - previous[1]) / (size - previous[0])
                print(f"{'':>7}  marginal cost from {previous[0]} to {size} pairs: {slope:.2f} ms/pair")
            previous = (size, statistics.median(walls))


if __name__ == "__main__":
    main()
