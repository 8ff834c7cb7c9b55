"""How the answer parsers scale with the answer's length: time per call at n, 2n, 4n characters.

Hostile or runaway answers (a reply repeating "Answer: A" for 60 KB, long runs of
spaces after a cue, thousands of separators between two letters) are parsed at
lengths that double; a linear parser shows a ratio near 2 between each length and
the one before it, a quadratic one near 4. Each time is the median of --repeat
calls. The suite keeps at most MAX_ANSWER_CHARS of any answer, so the last column
also says what the worst kept answer costs.

    python benchmarks/parse_scaling.py                  # 4 000, 8 000, 16 000 characters, 5 repeats
    python benchmarks/parse_scaling.py --start 15000 --repeat 3
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from typing import TYPE_CHECKING

from mediconfusion_tests.models.base import MAX_ANSWER_CHARS
from mediconfusion_tests.scoring.parse import paper_letter, robust_letter

if TYPE_CHECKING:
    from collections.abc import Callable

OPTIONS = ("Effaced", "Not effaced")
#: Each makes an answer of about ``n`` characters.
SHAPES: dict[str, Callable[[int], str]] = {
    "repeated 'Answer: A'": lambda n: "Answer: A\n" * (n // 10),
    "spaces after a cue": lambda n: "answer" + " " * n + "x",
    "separators between letters": lambda n: "A" + " , " * (n // 3) + "x",
    "negated mentions": lambda n: "(A) not " * (n // 8),
    "concessions": lambda n: "could also be " * (n // 14) + "B",
    "option text repeated": lambda n: "Effaced " * (n // 8),
}


def seconds(parse: Callable[[str, tuple[str, str]], object], text: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        parse(text, OPTIONS)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=int, default=4_000, help="the shortest answer, in characters")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    lengths = [args.start, 2 * args.start, 4 * args.start]
    print(f"robust parser, median of {args.repeat} calls; ratio = time at 2n / time at n (linear: ~2)")
    print(f"{'answer shape':30} " + " ".join(f"{n:>9,d} ch" for n in lengths) + "   ratios    at the cap")
    for name, make in SHAPES.items():
        times = [seconds(robust_letter, make(n), args.repeat) for n in lengths]
        ratios = " ".join(f"{later / max(earlier, 1e-9):4.1f}" for earlier, later in itertools.pairwise(times))
        capped = seconds(robust_letter, make(MAX_ANSWER_CHARS), args.repeat)
        shown = " ".join(f"{t * 1000:9.1f} ms" for t in times)
        print(f"{name:30} {shown}   {ratios}   {capped * 1000:7.1f} ms")
    paper = seconds(paper_letter, SHAPES["repeated 'Answer: A'"](lengths[-1]), args.repeat)
    print(f"paper parser, repeated 'Answer: A' at {lengths[-1]:,} characters: {paper * 1000:.1f} ms")


if __name__ == "__main__":
    main()
