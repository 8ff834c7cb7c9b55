"""Image perturbations a decision should survive: re-encoding, noise, brightness, contrast, rescaling.

No flips or rotations: laterality matters in radiology. Every perturbation is a
pure function of the image bytes and its parameters (noise from its own seed),
so an example drawn by hypothesis replays byte for byte, and its answer is
found again in the answer store (keyed by the perturbed file's content).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from PIL import Image, ImageEnhance

if TYPE_CHECKING:
    from pathlib import Path

Kind = Literal["jpeg", "noise", "brightness", "contrast", "rescale"]
KINDS: tuple[Kind, ...] = ("jpeg", "noise", "brightness", "contrast", "rescale")
#: The ranges the issue fixes (and hypothesis draws from).
JPEG_QUALITY = (60, 95)
NOISE_SIGMA = (1.0, 8.0)  # on 0..255
FACTOR = (0.9, 1.1)  # brightness and contrast, ±10%
SCALE = (0.75, 1.25)


@dataclass(frozen=True)
class Perturbation:
    kind: Kind
    #: JPEG quality, noise sigma, brightness/contrast factor or scale, by kind.
    amount: float
    #: The noise's own seed (other kinds ignore it).
    seed: int = 0

    def params(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        if self.kind == "jpeg":
            return f"jpeg quality {int(self.amount)}"
        if self.kind == "noise":
            return f"gaussian noise sigma {self.amount:.2f} (seed {self.seed})"
        if self.kind == "rescale":
            return f"rescaled x{self.amount:.3f}"
        return f"{self.kind} x{self.amount:.3f}"


def apply(image: Image.Image, perturbation: Perturbation) -> tuple[bytes, str]:
    """The perturbed image's file bytes and suffix: JPEG for re-encoding, PNG (lossless) otherwise."""
    rgb = image.convert("RGB")
    kind, amount = perturbation.kind, perturbation.amount
    if kind == "jpeg":
        out = io.BytesIO()
        rgb.save(out, format="JPEG", quality=int(amount))
        return out.getvalue(), ".jpg"
    if kind == "noise":
        import numpy as np

        pixels = np.asarray(rgb, dtype=np.float32)
        noise = np.random.default_rng(perturbation.seed).normal(0.0, amount, pixels.shape)
        rgb = Image.fromarray(np.clip(pixels + noise, 0, 255).round().astype(np.uint8))
    elif kind == "brightness":
        rgb = ImageEnhance.Brightness(rgb).enhance(amount)
    elif kind == "contrast":
        rgb = ImageEnhance.Contrast(rgb).enhance(amount)
    elif kind == "rescale":
        width, height = rgb.size
        rgb = rgb.resize((max(1, round(width * amount)), max(1, round(height * amount))), Image.Resampling.BICUBIC)
    else:  # pragma: no cover - Kind is closed
        raise ValueError(f"unknown perturbation {kind!r}")
    out = io.BytesIO()
    rgb.save(out, format="PNG")
    return out.getvalue(), ".png"


def perturbed_file(source: Path, perturbation: Perturbation, folder: Path) -> Path:
    """Write (once) the perturbed copy of ``source`` into ``folder``, named by its content."""
    with Image.open(source) as image:
        data, suffix = apply(image, perturbation)
    digest = hashlib.sha256(data).hexdigest()
    target = folder / f"{digest[:32]}{suffix}"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(data)
        partial.replace(target)
    return target
