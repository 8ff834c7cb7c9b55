"""``python -m mediconfusion_tests.reporting.allure_stage SOURCE TARGET STATUS``: results to ``allure run``.

``allure run`` validates a quality gate only for results that appear while its
command runs; this is that command for results a pytest run already wrote. Files
are hard-linked where the file system allows (no copy of the images), else copied.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

#: Read by `mediconfusion report allure` itself, or by Allure 2 only.
NOT_FOR_ALLURE3 = frozenset({"mediconfusion-verdict.json", "categories.json"})


def stage(source: Path, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.name in NOT_FOR_ALLURE3:
            continue
        destination = target / path.name
        try:
            os.link(path, destination)
        except OSError:
            shutil.copy2(path, destination)
        count += 1
    return count


def main(argv: list[str]) -> int:
    """Exits with the status the run's verdict implies, which Allure shows as the "original" exit code."""
    if len(argv) != 3 or argv[2] not in ("0", "1"):
        print("usage: python -m mediconfusion_tests.reporting.allure_stage SOURCE TARGET 0|1", file=sys.stderr)
        return 2
    staged = stage(Path(argv[0]), Path(argv[1]))
    print(f"staged {staged} Allure result file(s)")
    return int(argv[2])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
