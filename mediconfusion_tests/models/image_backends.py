"""Which of transformers' image-processor backends, PIL or torchvision, a checkpoint's pixels come from.

transformers 5 picks torchvision whenever it is installed, which GPU hosts usually have; the original
harness ran transformers 4 with the PIL processors. The two give the same pixels for no family measured
(tests/image_backend_probe.py, benchmarks/results/image-backends-cpu.txt: 44-74% of the values differ, on
two sets of JPEGs by up to 0.008-0.016 after normalisation, about a grey level, for most families, and up
to 0.105 for BLIP-2, 0.21 for Qwen2.5-VL, 0.27 for LLaVA-NeXT), so a family the original ran keeps PIL
while the readings follow it, whatever is installed. Elsewhere transformers' own choice stands: torchvision,
where installed, takes 1.4-2.9 times less time per image on one core.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

from mediconfusion_tests.config import IMAGE_BACKENDS
from mediconfusion_tests.errors import ModelError

#: Families whose torchvision processor gives inputs byte-identical to the PIL one at their preset
#: checkpoint's settings; those may use it even under the original's rules. None so far: measured with
#: transformers 5.19 and 5.25, torchvision 0.28 (tests/acceptance/test_image_backends.py checks this set
#: both ways wherever torchvision can be imported).
TORCHVISION_IDENTICAL: frozenset[str] = frozenset()

TORCHVISION_MISSING = (
    "--image-backend=torchvision needs torchvision, built for the installed torch (pip install torchvision "
    "with the same index as torch: docs/install.md); without it use --image-backend=pil or auto"
)


@dataclass(frozen=True)
class BackendChoice:
    """What to ask transformers for: a backend, or None for its own choice; and why, for results.json."""

    backend: str | None
    why: str


def torchvision_installed() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def choose(setting: str, family: str, paper_rule: bool, paper_readings: bool, installed: bool) -> BackendChoice:
    """The backend for --image-backend=``setting``. ``paper_rule``: the original harness ran the family;
    ``paper_readings``: some reading follows the original (--prefix-tokens, --letter-tokens, --generation)."""
    if setting not in IMAGE_BACKENDS:
        raise ModelError(f"--image-backend={setting}: one of {', '.join(IMAGE_BACKENDS)}")
    if setting == "pil":
        return BackendChoice("pil", "--image-backend=pil")
    if setting == "torchvision":
        if not installed:
            raise ModelError(TORCHVISION_MISSING)
        return BackendChoice("torchvision", "--image-backend=torchvision")
    if paper_rule and paper_readings and family not in TORCHVISION_IDENTICAL:
        return BackendChoice(
            "pil",
            f"the original harness's PIL processor: torchvision's pixels differ for the {family} family, and "
            "the readings follow the original",
        )
    if not installed:
        return BackendChoice(None, "transformers' default: PIL, torchvision is not installed")
    return BackendChoice(None, "transformers' default: torchvision, installed")


def backend_of(image_processor: Any) -> str:
    """ "pil" or "torchvision" from the processor's class; else its class name (a checkpoint's own code)."""
    for base in type(image_processor).__mro__:
        if base.__name__ == "PilBackend":
            return "pil"
        if base.__name__ == "TorchvisionBackend":
            return "torchvision"
    return type(image_processor).__name__
