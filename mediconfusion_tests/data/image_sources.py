"""Where the 228 benchmark images can still be fetched from, each behind one small interface.

A source returns the image's bytes (with the licence when it states one), None
when it does not have the image, or raises SourceError when it failed in a way
retrying did not mend. Base URLs are settings, so tests point the real code at
local servers.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

PMC_BASE_URL = "https://pmc-oa-opendata.s3.amazonaws.com"
EUROPEPMC_BASE_URL = "https://europepmc.org"
ROCO_HF_REPO = "mdwiratathya/ROCO-radiology"
USER_AGENT = "mediconfusion-tests fetch-images (+https://github.com/MShahabSepehri/MediConfusion)"
TRANSIENT = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class ImageEntry:
    """One benchmark image as image_dict.json describes it."""

    roco_path: str
    local_id: int
    pmcid: str
    file_name: str

    @property
    def roco_id(self) -> str:
        return Path(self.roco_path).stem

    @property
    def split(self) -> str:
        return self.roco_path.split("/", 1)[0]


@dataclass(frozen=True)
class Fetched:
    data: bytes
    url: str
    licence: str | None = None


class SourceError(Exception):
    """The source failed for this image even after retries (a network fault, a bad checksum...)."""


class _Overdue(Exception):
    """One download outlasted its overall deadline."""


class Source(Protocol):
    name: str

    def fetch(self, entry: ImageEntry) -> Fetched | None: ...


@dataclass
class Http:
    """GET with retries and back-off for transient failures; a short body counts as a failure."""

    retries: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 60.0
    #: The most one download may take in all: a server trickling a byte at a time never trips
    #: the socket timeout, which only bounds each wait for the next bytes.
    deadline_s: float = 300.0
    requests: int = 0
    #: Set on Ctrl-C: downloads under way stop at their next chunk instead of running to their end.
    stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _read(self, response: Any) -> bytes:
        deadline = time.monotonic() + self.deadline_s
        chunks = []
        while chunk := response.read1(1 << 16):
            chunks.append(chunk)
            if self.stop.is_set():
                raise _Overdue("stopped: the fetch was interrupted")
            if time.monotonic() > deadline:
                raise _Overdue(f"download took longer than {self.deadline_s:g} s ({sum(map(len, chunks))} bytes)")
        return b"".join(chunks)

    def get(self, url: str) -> tuple[int, bytes]:
        """(status, body); 404 and other final statuses come back, transient ones are retried."""
        if not url.startswith(("https://", "http://")):
            raise SourceError(f"{url}: only http(s) URLs are fetched")
        last = ""
        for attempt in range(self.retries + 1):
            if self.stop.is_set():
                break
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            with self._lock:
                self.requests += 1
            try:
                # The scheme is checked above: http(s) only.
                request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
                timeout = min(self.timeout_s, self.deadline_s)
                with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                    body = self._read(response)
                    expected = response.headers.get("Content-Length")
                    if expected is not None and int(expected) != len(body):
                        last = f"truncated body ({len(body)} of {expected} bytes)"
                        continue
                    return response.status, body
            except _Overdue as exc:
                last = str(exc)
            except http.client.IncompleteRead as exc:
                last = f"truncated body ({len(exc.partial)} bytes, {exc.expected} more expected)"
            except urllib.error.HTTPError as exc:
                if exc.code not in TRANSIENT:
                    return exc.code, b""
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}"
        raise SourceError(f"{url}: {last} after {self.retries + 1} attempts")


def _quote(name: str) -> str:
    return urllib.parse.quote(name)


def _media(metadata: Any) -> dict[str, tuple[str, str | None]]:
    """{file name: (url or key, md5)} from a PMC metadata document's media_urls, in any of its shapes."""
    found: dict[str, tuple[str, str | None]] = {}
    media = metadata.get("media_urls") if isinstance(metadata, dict) else None
    if isinstance(media, dict):
        media = [{"url": name, "md5": value if isinstance(value, str) else None} for name, value in media.items()]
    for item in media or ():
        if isinstance(item, str):
            url, md5 = item, None
        elif isinstance(item, dict):
            url = item.get("url") or item.get("https_url") or item.get("s3_url") or item.get("key") or ""
            md5 = item.get("md5") or item.get("md5sum")
        else:
            continue
        if url:
            found[url.rstrip("/").rsplit("/", 1)[-1]] = (url, md5)
    return found


@dataclass
class PmcCloudSource:
    """The PMC Cloud Service bucket: PMC<id>.<version>/<file> objects and metadata/PMC<id>.<version>.json."""

    base_url: str = PMC_BASE_URL
    http: Http = field(default_factory=Http)
    name: str = "pmc-cloud"
    # Several benchmark images come from one article: its listing and metadata are asked for once.
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _cached(self, key: str, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._lock:
            self._cache[key] = value
        return value

    def object_url(self, pmcid: str, version: int | str, file_name: str) -> str:
        return f"{self.base_url.rstrip('/')}/{pmcid}.{version}/{_quote(file_name)}"

    def _metadata(self, pmcid: str, version: str) -> dict[str, Any] | None:
        key = f"m:{pmcid}.{version}"
        result: dict[str, Any] | None = self._cached(key, lambda: self._read_metadata(pmcid, version))
        return result

    def _read_metadata(self, pmcid: str, version: str) -> dict[str, Any] | None:
        status, body = self.http.get(f"{self.base_url.rstrip('/')}/metadata/{pmcid}.{version}.json")
        if status != 200:
            return None
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise SourceError(f"metadata of {pmcid}.{version} is not JSON ({exc})") from exc
        return data if isinstance(data, dict) else None

    def versions(self, pmcid: str) -> list[str]:
        """Article versions, newest first, from ListObjectsV2 (prefix PMC<id>., delimiter /)."""
        result: list[str] = self._cached(f"v:{pmcid}", lambda: self._list_versions(pmcid))
        return result

    def _list_versions(self, pmcid: str) -> list[str]:
        query = urllib.parse.urlencode({"list-type": "2", "prefix": f"{pmcid}.", "delimiter": "/"})
        status, body = self.http.get(f"{self.base_url.rstrip('/')}/?{query}")
        if status != 200:
            return []
        try:
            root = ET.fromstring(body)  # noqa: S314 - a listing from the configured bucket, parsed for names only
        except ET.ParseError as exc:
            raise SourceError(f"the bucket listing for {pmcid} is not XML ({exc})") from exc
        prefixes = [el.text or "" for el in root.iter() if el.tag.endswith("Prefix") and el.text]
        versions = {m.group(1) for p in prefixes if (m := re.fullmatch(rf"{re.escape(pmcid)}\.(\d+)/", p))}
        return sorted(versions, key=int, reverse=True)

    def _verified(self, data: bytes, md5: str | None, what: str) -> bytes:
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()  # the bucket publishes md5 sums
        if md5 and digest != md5.lower():
            raise SourceError(f"{what}: md5 {digest} does not match the metadata's {md5}")
        return data

    def fetch(self, entry: ImageEntry) -> Fetched | None:
        url = self.object_url(entry.pmcid, 1, entry.file_name)
        status, body = self.http.get(url)
        if status == 200:
            metadata = self._metadata(entry.pmcid, "1") or {}
            md5 = _media(metadata).get(entry.file_name, ("", None))[1]
            return Fetched(self._verified(body, md5, url), url, metadata.get("license_code"))
        for version in self.versions(entry.pmcid):
            listed = self._metadata(entry.pmcid, version)
            if listed is None:
                continue
            media = _media(listed)
            name = (
                entry.file_name
                if entry.file_name in media
                else next((n for n in media if n.lower() == entry.file_name.lower()), None)
            )
            if name is None:
                continue
            url = self.object_url(entry.pmcid, version, name)
            status, body = self.http.get(url)
            if status == 200:
                return Fetched(self._verified(body, media[name][1], url), url, listed.get("license_code"))
        return None


@dataclass
class EuropePmcSource:
    """Europe PMC's full-text files: the figure as the article page serves it."""

    base_url: str = EUROPEPMC_BASE_URL
    http: Http = field(default_factory=Http)
    name: str = "europepmc"

    def fetch(self, entry: ImageEntry) -> Fetched | None:
        url = f"{self.base_url.rstrip('/')}/articles/{entry.pmcid}/bin/{_quote(entry.file_name)}"
        status, body = self.http.get(url)
        return Fetched(body, url) if status == 200 else None


@dataclass
class RocoDirSource:
    """A ROCO v1 checkout the user already has: <root>/[data/]<split>/radiology/images/ROCO_x.jpg."""

    root: Path
    name: str = "roco-dir"

    def fetch(self, entry: ImageEntry) -> Fetched | None:
        for base in (self.root, self.root / "data"):
            path = base / entry.roco_path
            if path.is_file():
                return Fetched(path.read_bytes(), str(path))
        return None


Opener = Callable[[str], Any]


@dataclass
class RocoHubSource:
    """A ROCO v1 copy with images on the Hugging Face hub, as parquet (image, image_id, caption).

    Only the image_id column (or row-group statistics) is read to find the
    needed images, then only the row groups holding them, so a run touches a
    few megabytes of a 13 GB dataset. ``files`` lists parquet paths per split
    and ``open`` opens one; by default both go through huggingface_hub's file
    system (which honours HF_ENDPOINT and the token).
    """

    repo: str = ROCO_HF_REPO
    files: Callable[[str], Sequence[str]] | None = None
    open: Opener | None = None
    name: str = "roco-hf"
    _index: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    _group_ids: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    _footers: dict[str, Any] = field(default_factory=dict)  # each file's footer is read once
    _images: dict[str, bytes] = field(default_factory=dict)
    _read_groups: set[tuple[str, int]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _planned: set[str] = field(default_factory=set)

    def _hub(self) -> tuple[Callable[[str], Sequence[str]], Opener]:
        if self.files is not None and self.open is not None:
            return self.files, self.open
        from huggingface_hub import HfFileSystem

        fs = HfFileSystem()
        root = f"datasets/{self.repo}"

        def files(split: str) -> Sequence[str]:
            found = fs.glob(f"{root}/**/*.parquet")
            return sorted(f"hf://{p}" for p in found if p.rsplit("/", 1)[-1].startswith(f"{split}-"))

        return files, lambda path: fs.open(path, "rb")

    def _ids(self, parquet: Any, path: str, group: int) -> list[str]:
        """The image_id column of one row group, read once per run."""
        key = (path, group)
        if key not in self._group_ids:
            self._group_ids[key] = [
                str(v) for v in parquet.read_row_group(group, columns=["image_id"]).column(0).to_pylist()
            ]
        return self._group_ids[key]

    def prepare(self, entries: Iterable[ImageEntry]) -> None:
        """Find the file, row group and row of each wanted image id, reading only the image_id column.

        Row groups whose min/max statistics rule out every wanted id are not read at all.
        """
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            needed = "reading the hub ROCO copy needs pyarrow: pip install pyarrow (in the fetch extra)"
            raise SourceError(needed) from exc

        wanted: dict[str, set[str]] = {}
        for entry in entries:
            wanted.setdefault(entry.split, set()).add(entry.roco_id)
        files, opener = self._hub()
        for split, ids in sorted(wanted.items()):
            remaining = set(ids) - set(self._index) - self._planned
            for path in files(split) if remaining else ():
                with opener(path) as handle:
                    parquet = pq.ParquetFile(handle, metadata=self._footers.get(path))
                    self._footers[path] = parquet.metadata
                    # Statistics are per leaf column: the image struct's fields come before image_id.
                    leaves = [parquet.schema.column(i).path for i in range(len(parquet.schema))]
                    column = leaves.index("image_id") if "image_id" in leaves else -1
                    if column < 0:
                        raise SourceError(f"{path} has no image_id column; is {self.repo} a ROCO v1 copy?")
                    for group in range(parquet.num_row_groups):
                        stats = parquet.metadata.row_group(group).column(column).statistics
                        if (
                            stats is not None
                            and stats.has_min_max
                            and not any(str(stats.min) <= i <= str(stats.max) for i in remaining)
                        ):
                            continue
                        for row, image_id in enumerate(self._ids(parquet, path, group)):
                            if image_id in remaining:
                                self._index[image_id] = (path, group, row)
                                remaining.discard(image_id)
                        if not remaining:
                            break
                if not remaining:
                    break
            self._planned |= ids

    def fetch(self, entry: ImageEntry) -> Fetched | None:
        import pyarrow.parquet as pq

        with self._lock:
            if entry.roco_id not in self._planned:
                self.prepare([entry])
            where = self._index.get(entry.roco_id)
            if where is None:
                return None
            path, group, _ = where
            if (path, group) not in self._read_groups:
                # Keep only the planned images of the group: a group can hold hundreds of others.
                _, opener = self._hub()
                with opener(path) as handle:
                    parquet = pq.ParquetFile(handle, metadata=self._footers.get(path))
                    table = parquet.read_row_group(group, columns=["image_id", "image"])
                for image_id, value in zip(
                    table.column("image_id").to_pylist(), table.column("image").to_pylist(), strict=True
                ):
                    if image_id in self._planned:
                        self._images[str(image_id)] = _image_bytes(value)
                self._read_groups.add((path, group))
            data = self._images.get(entry.roco_id)
        if not data:
            raise SourceError(f"{self.repo}: row {entry.roco_id} has no image bytes")
        return Fetched(data, f"{path}#{entry.roco_id}")


def _image_bytes(value: Any) -> bytes:
    """The datasets library stores images as {"bytes": ..., "path": ...} structs."""
    if isinstance(value, dict):
        return bytes(value.get("bytes") or b"")
    return bytes(value or b"")
