"""Find each benchmark image on disk and prove it decodes, before any model loads.

Two layouts are recognised: local ids (``DIR/20192.jpg``, what the original
download script and ``mediconfusion fetch-images`` write) and ROCO paths
(``DIR/<prefix>/train/radiology/images/ROCO_28778.jpg``, a ROCO checkout).
"""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PIL import Image

from mediconfusion_tests.data.image_files import MAX_IMAGE_BYTES

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mediconfusion_tests.data.schema import ImageRef, Pair

Layout = Literal["local", "roco"]
LOCAL: Layout = "local"
ROCO: Layout = "roco"
FETCH_COMMAND = "mediconfusion fetch-images --out {root}"
_SEARCH_DEPTH = 4


@dataclass(frozen=True)
class ImageLayout:
    kind: Layout
    root: str
    prefix: str = ""

    def path(self, image: ImageRef) -> Path:
        if self.kind == LOCAL:
            return Path(self.root) / f"{image.local_id}.jpg"
        return Path(self.root) / self.prefix / image.roco_path

    def describe(self) -> str:
        if self.kind == LOCAL:
            return f"{self.root}/{{local id}}.jpg"
        return str(Path(self.root) / self.prefix / "<ROCO path>")


def distinct_images(pairs: Iterable[Pair]) -> list[ImageRef]:
    seen: dict[int, ImageRef] = {}
    for pair in pairs:
        for image in pair.images:
            seen.setdefault(image.local_id, image)
    return list(seen.values())


def _roco_prefixes(root: Path, sample: ImageRef) -> list[str]:
    """Folders under root (a few levels deep) below which the ROCO path exists."""
    found = []
    frontier = [root]
    for _ in range(_SEARCH_DEPTH):
        next_frontier = []
        for folder in frontier:
            if (folder / sample.roco_path).is_file():
                found.append(os.path.relpath(folder, root))
            try:
                next_frontier += [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
            except OSError:
                continue
        frontier = next_frontier
    return ["" if p == "." else p for p in found]


def detect_layout(root: Path, images: Sequence[ImageRef]) -> ImageLayout:
    """Local ids when any {local}.jpg exists, else the ROCO prefix that holds most images."""
    probe = images[:50]
    if any((root / f"{image.local_id}.jpg").is_file() for image in probe):
        return ImageLayout(LOCAL, str(root))
    best: tuple[int, str] | None = None
    for image in probe[:5]:
        for prefix in _roco_prefixes(root, image):
            layout = ImageLayout(ROCO, str(root), prefix)
            hits = sum(layout.path(i).is_file() for i in probe)
            if best is None or hits > best[0]:
                best = (hits, prefix)
        if best is not None:
            return ImageLayout(ROCO, str(root), best[1])
    return ImageLayout(LOCAL, str(root))


def decode_problem(source: bytes | Path) -> str | None:
    """Why Pillow cannot decode this image (bytes or a file) to the end, or None when it can."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            # Decoding at reduced scale still reads the whole JPEG stream, so a
            # truncated file fails here, at a fraction of the full decode cost.
            image.draft("RGB", (64, 64))
            image.load()
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for damaged files
        return f"{type(exc).__name__}: {exc}"
    return None


def image_problem(path: Path) -> str | None:
    """None when the file exists and decodes, else why not."""
    if not path.is_file():  # also for a FIFO or a device: only regular files are images
        return "missing" if not path.exists() else "not a regular file"
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        return f"is {size} bytes, over the {MAX_IMAGE_BYTES} bytes an image may have"
    problem = decode_problem(path)
    return None if problem is None else f"cannot be decoded ({problem})"


def check_images(layout: ImageLayout, images: Sequence[ImageRef]) -> dict[int, str]:
    """Problems by local image id; empty when every image is usable."""
    paths = [layout.path(image) for image in images]
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        results = list(pool.map(image_problem, paths))
    return {image.local_id: problem for image, problem in zip(images, results, strict=True) if problem}


def pairs_by_image(pairs: Iterable[Pair]) -> dict[int, list[str]]:
    users: dict[int, list[str]] = {}
    for pair in pairs:
        for image in {i.local_id for i in pair.images}:
            users.setdefault(image, []).append(pair.id)
    return users


#: Images named one by one in the message; the rest are counted (a dataset without its images would
#: otherwise print hundreds of lines before the one that says how to fetch them).
LISTED_PROBLEMS = 8


def problems_message(
    layout: ImageLayout, problems: dict[int, str], pairs: Sequence[Pair], image_dict: Path | None = None
) -> str:
    """Why the images cannot be used, and how to fetch them (from ``image_dict``'s folder when the dataset
    is a local copy that holds one, else from the hub)."""
    images = {i.local_id: i for i in distinct_images(pairs)}
    users = pairs_by_image(pairs)
    affected = sorted({pid for image in problems for pid in users.get(image, [])})
    missing = sum(1 for reason in problems.values() if reason == "missing")
    kinds = (
        f"{missing} missing, {len(problems) - missing} unreadable"
        if 0 < missing < len(problems)
        else ("all missing" if missing else "all unreadable")
    )
    lines = [
        f"{len(problems)} of {len(images)} benchmark images are missing or unreadable ({kinds}; looked for "
        f"{layout.describe()}):"
    ]
    listed = sorted(problems)[:LISTED_PROBLEMS]
    for local_id in listed:
        ref = images[local_id]
        lines.append(f"  - image {ref.label}: {problems[local_id]} [pairs {', '.join(users.get(local_id, []))}]")
    if len(problems) > len(listed):
        lines.append(f"  ... and {len(problems) - len(listed)} more")
    fetch = FETCH_COMMAND.format(root=layout.root)
    if image_dict is not None:
        fetch += f" --dataset {image_dict.parent}"
    lines.append(f"Fetch the images with:  {fetch}")
    lines.append(
        f"or pass --images DIR to point at them, or --allow-missing-images to skip the "
        f"{len(affected)} affected pair(s)."
    )
    return "\n".join(lines)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
