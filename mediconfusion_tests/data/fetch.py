"""Fetch the benchmark images: skip what is already there, then try each source in turn.

Sources run one after the other over the images still missing, each in
parallel with a bounded number of workers, so a source that needs a plan (the
hub parquet copy) makes it once for all its images. Every accepted file
decodes with Pillow and is written atomically; the manifest is rewritten as
images arrive, so an interrupted run loses nothing and the next run resumes.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mediconfusion_tests.atomic import write_bytes_atomic
from mediconfusion_tests.data.image_manifest import (
    PRESENT,
    ImageRecord,
    Manifest,
    read_manifest,
    sha256,
    target_path,
)
from mediconfusion_tests.data.image_sources import (
    EUROPEPMC_BASE_URL,
    PMC_BASE_URL,
    ROCO_HF_REPO,
    EuropePmcSource,
    Http,
    ImageEntry,
    PmcCloudSource,
    RocoDirSource,
    RocoHubSource,
    Source,
    SourceError,
)
from mediconfusion_tests.data.images import LOCAL, Layout, decode_problem
from mediconfusion_tests.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

PMC_CLOUD = "pmc-cloud"
ROCO_HF = "roco-hf"
EUROPEPMC = "europepmc"
ROCO_DIR = "roco-dir"
AUTO = "auto"
SOURCE_NAMES = (PMC_CLOUD, ROCO_HF, EUROPEPMC, ROCO_DIR)
EXISTING = "existing file"
_MANIFEST_EVERY_S = 2.0


@dataclass(frozen=True)
class FetchSettings:
    out: Path
    sources: tuple[str, ...] = (AUTO,)
    roco_dir: Path | None = None
    jobs: int = 8
    layout: Layout = LOCAL
    pmc_base_url: str = PMC_BASE_URL
    europepmc_base_url: str = EUROPEPMC_BASE_URL
    roco_repo: str = ROCO_HF_REPO
    retries: int = 4
    backoff_s: float = 0.5
    timeout_s: float = 60.0
    deadline_s: float = 300.0


def source_order(settings: FetchSettings) -> list[str]:
    """auto: PMC Cloud, the hub ROCO copy, Europe PMC, then a local ROCO folder when one was given."""
    automatic = [PMC_CLOUD, ROCO_HF, EUROPEPMC] + ([ROCO_DIR] if settings.roco_dir else [])
    names: list[str] = []
    for name in settings.sources:
        expanded = automatic if name == AUTO else [name]
        names += [n for n in expanded if n not in names]
    unknown = [n for n in names if n not in SOURCE_NAMES]
    if unknown:
        raise ConfigError(f"Unknown image source {unknown[0]!r}; choose from {AUTO}, {', '.join(SOURCE_NAMES)}")
    if ROCO_DIR in names and settings.roco_dir is None:
        raise ConfigError("--source roco-dir needs the folder: --source roco-dir PATH")
    if settings.roco_dir is not None and not settings.roco_dir.is_dir():
        raise ConfigError(f"The ROCO folder {settings.roco_dir} does not exist")
    return names


def build_sources(settings: FetchSettings, http: Http) -> list[Source]:
    built: list[Source] = []
    for name in source_order(settings):
        if name == PMC_CLOUD:
            built.append(PmcCloudSource(settings.pmc_base_url, http))
        elif name == EUROPEPMC:
            built.append(EuropePmcSource(settings.europepmc_base_url, http))
        elif name == ROCO_HF:
            built.append(RocoHubSource(settings.roco_repo))
        elif settings.roco_dir is not None:
            built.append(RocoDirSource(settings.roco_dir))
    return built


@dataclass
class SourceTally:
    fetched: int = 0
    failed: int = 0


@dataclass
class FetchResult:
    manifest: Manifest
    manifest_path: Path
    already_present: int
    tallies: dict[str, SourceTally]
    missing: list[ImageRecord]
    requests: int
    seconds: float

    @property
    def fetched(self) -> int:
        return sum(t.fetched for t in self.tallies.values())


Progress = Callable[[int, int, str], None]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class _Run:
    """Shared state of one fetch: the manifest, guarded, and when it was last written."""

    out: Path
    manifest: Manifest
    progress: Progress | None
    total: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    written_at: float = 0.0

    def finish(self, what: str) -> None:
        with self.lock:
            self.done += 1
            if time.monotonic() - self.written_at > _MANIFEST_EVERY_S:
                self.manifest.write(self.out)
                self.written_at = time.monotonic()
            if self.progress is not None:
                self.progress(self.done, self.total, what)


def _already_present(path: Path, old: ImageRecord | None, record: ImageRecord) -> bool:
    """A file from an earlier run whose checksum still matches, or an unrecorded file that decodes."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    digest = sha256(data)
    if old is not None and old.status == PRESENT and old.sha256 is not None:
        if old.sha256 != digest:
            return False
        record.__dict__.update(old.__dict__)
        return True
    if decode_problem(data) is not None:
        return False
    record.status, record.source, record.bytes, record.sha256 = PRESENT, EXISTING, len(data), digest
    record.fetched_at = _now()
    return True


def _try(source: Source, entry: ImageEntry, record: ImageRecord, path: Path) -> bool:
    try:
        fetched = source.fetch(entry)
    except SourceError as exc:
        record.errors.append(f"{source.name}: {exc}")
        return False
    except Exception as exc:  # noqa: BLE001 - one broken source or file must not stop the other 227 images
        record.errors.append(f"{source.name}: unexpected {type(exc).__name__}: {exc}")
        return False
    if fetched is None:
        record.errors.append(f"{source.name}: not there")
        return False
    why = decode_problem(fetched.data)
    if why is not None:
        record.errors.append(f"{source.name}: {fetched.url} is not a decodable image ({why})")
        return False
    write_bytes_atomic(path, fetched.data)
    record.status, record.source, record.url = PRESENT, source.name, fetched.url
    record.bytes, record.sha256, record.licence = len(fetched.data), sha256(fetched.data), fetched.licence
    record.fetched_at = _now()  # the errors of sources tried before stay: they say why this one was used
    return True


def fetch_images(
    entries: Sequence[ImageEntry],
    settings: FetchSettings,
    dataset_label: str,
    sources: Sequence[Source] | None = None,
    http: Http | None = None,
    progress: Progress | None = None,
) -> FetchResult:
    started = time.monotonic()
    http = http or Http(settings.retries, settings.backoff_s, settings.timeout_s, settings.deadline_s)
    sources = list(sources) if sources is not None else build_sources(settings, http)
    settings.out.mkdir(parents=True, exist_ok=True)
    old = read_manifest(settings.out)
    manifest = Manifest(settings.layout, dataset_label)
    run = _Run(settings.out, manifest, progress, len(entries))
    records = manifest.images
    pending: list[ImageEntry] = []
    present = 0
    for entry in entries:
        path = target_path(settings.out, entry, settings.layout)
        record = ImageRecord.for_entry(entry, path.relative_to(settings.out).as_posix())
        previous = old.images.get(entry.local_id) if old is not None else None
        previous = previous if previous is not None and previous.path == record.path else None
        records[entry.local_id] = record
        if _already_present(path, previous, record):
            present += 1
            run.finish("present")
        else:
            pending.append(entry)
    tallies = {source.name: SourceTally() for source in sources}
    try:
        for source in sources:
            if not pending:
                break
            pending = _run_source(source, pending, settings, run, tallies[source.name], http)
        for _ in pending:
            run.finish("missing")
    finally:
        with run.lock:
            manifest.write(settings.out)
    missing = [records[e.local_id] for e in entries if records[e.local_id].status != PRESENT]
    return FetchResult(
        manifest,
        settings.out / "manifest.json",
        present,
        tallies,
        missing,
        http.requests,
        time.monotonic() - started,
    )


def _run_source(
    source: Source,
    pending: list[ImageEntry],
    settings: FetchSettings,
    run: _Run,
    tally: SourceTally,
    http: Http,
) -> list[ImageEntry]:
    """Try one source on every pending image; the images it could not deliver."""
    records = run.manifest.images
    prepare = getattr(source, "prepare", None)
    if prepare is not None:
        try:
            prepare(pending)
        except Exception as exc:  # noqa: BLE001 - hub copy unreachable, pyarrow missing...: try the next source
            for entry in pending:
                records[entry.local_id].errors.append(f"{source.name}: {type(exc).__name__}: {exc}")
            tally.failed += len(pending)
            return pending

    def attempt(entry: ImageEntry) -> bool:
        record = records[entry.local_id]
        ok = _try(source, entry, record, target_path(settings.out, entry, settings.layout))
        if ok:
            run.finish(source.name)
        return ok

    pool = ThreadPoolExecutor(max_workers=max(1, settings.jobs), thread_name_prefix="fetch")
    try:
        outcomes = list(pool.map(attempt, pending))
    except BaseException:
        # Ctrl-C: drop the queued images and stop those under way; those already written are in the manifest.
        http.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    left = [entry for entry, ok in zip(pending, outcomes, strict=True) if not ok]
    tally.fetched += len(pending) - len(left)
    tally.failed += len(left)
    return left
