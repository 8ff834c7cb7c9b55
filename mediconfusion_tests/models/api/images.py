"""The image as an API model receives it: the dataset's file, unchanged, inline as base64.

No resizing or re-encoding, as the original harness sent its images (each
provider then scales it to its own limits; OpenAI with ``detail: auto``). The
recorded request names the image by size and SHA-256 instead of carrying it.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from mediconfusion_tests.errors import ModelError

#: The largest file sent inline (providers refuse larger ones: OpenAI 20 MB, Anthropic 5 MB).
MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class InlineImage:
    mime: str
    data: str
    sha256: str
    size: int

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.data}"

    @property
    def placeholder(self) -> str:
        """What the recorded request shows instead of the bytes."""
        return f"<{self.mime} image, {self.size} bytes, sha256 {self.sha256[:16]}>"


def _mime(head: bytes) -> str:
    if head.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    raise ModelError("the image is neither JPEG, PNG, WebP nor GIF, the formats API models accept")


def inline(path: str) -> InlineImage:
    raw = Path(path).read_bytes()
    if len(raw) > MAX_BYTES:
        raise ModelError(f"{path}: {len(raw)} bytes, over the {MAX_BYTES} bytes API models accept inline")
    return InlineImage(
        _mime(raw[:16]), base64.b64encode(raw).decode("ascii"), hashlib.sha256(raw).hexdigest(), len(raw)
    )


#: The fewest tokens ``token_bound`` allows for one image. Anthropic charges about width x height / 750
#: tokens after scaling to at most ~1.15 megapixels (so at most ~1,600), OpenAI at most 1,445 (high
#: detail: 85 + 170 per 512-pixel tile, after scaling to 2048 x 768), Gemini 258 per 768-pixel tile.
IMAGE_TOKEN_FLOOR = 1_600


def token_bound(path: str) -> int:
    """At least the tokens any listed provider charges for this image: the larger of the floor and
    pixels / 750, which is above each provider's rule at every size."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the image's size ({exc})") from None
    return max(IMAGE_TOKEN_FLOOR, math.ceil(width * height / 750))
