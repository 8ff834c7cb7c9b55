"""mediconfusion fetch-images / verify-images against local servers and a local parquet copy of ROCO."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from fake_servers import CountingFile, FakeServer, serve
from helpers import entry, write_image_dict
from PIL import Image

from mediconfusion_tests.cli import _split_sources, main
from mediconfusion_tests.data.fetch import (
    EUROPEPMC,
    PMC_CLOUD,
    ROCO_DIR,
    ROCO_HF,
    FetchSettings,
    fetch_images,
    source_order,
)
from mediconfusion_tests.data.image_dict import read_image_dict
from mediconfusion_tests.data.image_manifest import PRESENT, read_manifest, verify
from mediconfusion_tests.data.image_sources import (
    Http,
    ImageEntry,
    PmcCloudSource,
    RocoDirSource,
    RocoHubSource,
    SourceError,
)
from mediconfusion_tests.data.images import LOCAL, ROCO, detect_layout
from mediconfusion_tests.data.schema import ImageRef
from mediconfusion_tests.errors import ConfigError, DataError
from mediconfusion_tests.reporting.fetch_text import ProgressBar


def jpeg(seed: int, size: int = 24) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size))
    image.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(size * size)])
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def settings(out: Path, *sources: str, **kwargs: Any) -> FetchSettings:
    return FetchSettings(out, tuple(sources) or ("auto",), jobs=4, backoff_s=0.01, retries=2, **kwargs)


# -- the real mapping: what would be asked for, without fetching ------------------------------------------------


def test_the_real_image_dict_plans_all_228_images(shared_dir: Path, real_dataset: dict[str, dict]) -> None:
    entries = read_image_dict(shared_dir / "image_dict.json")
    assert len(entries) == 228
    assert len({e.local_id for e in entries}) == 228
    assert {e.split for e in entries} == {"train", "validation", "test"}
    assert all(e.pmcid.startswith("PMC") and e.pmcid[3:].isdigit() for e in entries)
    assert all(e.file_name.endswith(".jpg") and "/" not in e.file_name for e in entries)
    # The suite names image files by the local ids of dataset.json: both files must agree.
    by_local = {e.local_id: e for e in entries}
    for pair in real_dataset.values():
        for n in (1, 2):
            assert by_local[int(pair[f"im_{n}_local"])].roco_path == pair[f"im_{n}"]
    first = next(e for e in entries if e.roco_id == "ROCO_28778")
    assert (first.local_id, first.pmcid, first.file_name) == (20192, "PMC3284869", "1752-1947-6-45-2.jpg")


class RecordingHttp(Http):
    """Answers every request with 404 and an empty listing, remembering the URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def get(self, url: str) -> tuple[int, bytes]:
        self.urls.append(url)
        self.requests += 1
        return 404, b""


def test_planned_bucket_requests_for_the_real_images(shared_dir: Path, tmp_path: Path) -> None:
    entries = read_image_dict(shared_dir / "image_dict.json")
    http = RecordingHttp()
    source = PmcCloudSource("https://bucket.example", http)
    result = fetch_images(entries, settings(tmp_path / "out", PMC_CLOUD), "real", [source], http)
    objects = {u for u in http.urls if "/?" not in u}
    listings = {u for u in http.urls if "/?" in u}
    assert objects == {f"https://bucket.example/{e.pmcid}.1/{e.file_name}" for e in entries}
    # 219 articles hold the 228 images: each article's versions are listed once.
    assert len(listings) == len({e.pmcid for e in entries}) == len([u for u in http.urls if "/?" in u])
    assert len(result.missing) == 228
    manifest = read_manifest(tmp_path / "out")
    assert manifest is not None
    assert len(manifest.images) == 228
    assert manifest.images[20192].errors == ["pmc-cloud: not there"]


# -- the bucket ----------------------------------------------------------------------------------------------------


@pytest.fixture
def bucket() -> Any:
    with serve(FakeServer()) as server:
        yield server


@pytest.fixture
def europe() -> Any:
    with serve(FakeServer()) as server:
        yield server


IMAGES = {name: jpeg(i) for i, name in enumerate(["direct", "versioned", "flaky", "short", "badmd5", "html"])}


def stock_bucket(bucket: FakeServer) -> list[ImageEntry]:
    """One article per behaviour the fetcher must handle."""
    entries = [
        entry(20001, "PMC101", "fig1.jpg"),  # PMC<id>.1/<file> and metadata with md5 and licence
        entry(20002, "PMC102", "Fig2.JPG"),  # not in version 1: listing, then metadata of version 2 (lower case)
        entry(20003, "PMC103", "fig3.jpg"),  # a 503 first
        entry(20004, "PMC104", "fig4.jpg"),  # a truncated body first
        entry(20005, "PMC105", "fig5.jpg"),  # wrong md5 in the bucket; Europe PMC has it
        entry(20006, "PMC106", "fig6.jpg"),  # the bucket serves an HTML page, not an image
        entry(20007, "PMC107", "fig7.jpg"),  # nowhere
    ]
    meta = {"license_code": "CC BY", "media_urls": []}
    bucket.add("/PMC101.1/fig1.jpg", IMAGES["direct"])
    bucket.add(
        "/metadata/PMC101.1.json",
        json.dumps({**meta, "media_urls": [{"url": "PMC101.1/fig1.jpg", "md5": md5(IMAGES["direct"])}]}).encode(),
    )
    bucket.listing("PMC102", [1, 2])
    bucket.add("/metadata/PMC102.1.json", json.dumps({**meta, "media_urls": []}).encode())
    bucket.add(
        "/metadata/PMC102.2.json",
        json.dumps(
            {
                "license_code": "CC BY-NC",
                "media_urls": [
                    {"url": "s3://pmc-oa-opendata/PMC102.2/fig2.jpg", "md5": md5(IMAGES["versioned"])},
                    {"url": "s3://pmc-oa-opendata/PMC102.2/fig9.jpg", "md5": "0" * 32},
                ],
            }
        ).encode(),
    )
    bucket.add("/PMC102.2/fig2.jpg", IMAGES["versioned"])
    bucket.add("/PMC103.1/fig3.jpg", IMAGES["flaky"], fail_first=1)
    bucket.add("/PMC104.1/fig4.jpg", IMAGES["short"], truncate_first=1)
    bucket.add("/PMC105.1/fig5.jpg", IMAGES["badmd5"])
    bucket.add(
        "/metadata/PMC105.1.json",
        json.dumps({**meta, "media_urls": [{"url": "PMC105.1/fig5.jpg", "md5": "f" * 32}]}).encode(),
    )
    bucket.add("/PMC106.1/fig6.jpg", b"<html><body>Access denied</body></html>", content_type="text/html")
    return entries


def test_the_bucket_and_europe_pmc_with_every_failure_mode(bucket: FakeServer, europe: FakeServer, tmp_path: Path):
    entries = stock_bucket(bucket)
    europe.add("/articles/PMC105/bin/fig5.jpg", IMAGES["badmd5"])
    out = tmp_path / "images"
    config = settings(out, PMC_CLOUD, EUROPEPMC, pmc_base_url=bucket.base_url, europepmc_base_url=europe.base_url)
    result = fetch_images(entries, config, "test")

    assert [r.local_id for r in result.missing] == [20006, 20007]
    assert result.tallies[PMC_CLOUD].fetched == 4
    assert result.tallies[PMC_CLOUD].failed == 3
    assert result.tallies[EUROPEPMC].fetched == 1
    assert result.tallies[EUROPEPMC].failed == 2
    images = result.manifest.images
    assert (out / "20001.jpg").read_bytes() == IMAGES["direct"]
    assert images[20001].licence == "CC BY"
    assert images[20001].source == PMC_CLOUD
    assert images[20001].sha256 == hashlib.sha256(IMAGES["direct"]).hexdigest()
    assert images[20001].bytes == len(IMAGES["direct"])
    assert images[20001].fetched_at
    assert images[20002].url == f"{bucket.base_url}/PMC102.2/fig2.jpg"
    assert images[20002].licence == "CC BY-NC"
    assert (out / "20003.jpg").read_bytes() == IMAGES["flaky"]
    assert (out / "20004.jpg").read_bytes() == IMAGES["short"]
    assert images[20005].source == EUROPEPMC
    assert (out / "20005.jpg").read_bytes() == IMAGES["badmd5"]
    assert "does not match the metadata's ffff" in " ".join(bucket_errors(result, 20005))
    assert any("not a decodable image" in e for e in images[20006].errors)
    assert images[20007].errors == ["pmc-cloud: not there", "europepmc: not there"]
    assert bucket.log.count("/PMC103.1/fig3.jpg") == 2
    assert bucket.log.count("/PMC104.1/fig4.jpg") == 2
    assert not list(out.glob(".*part")), "temporary files left behind"
    on_disk = json.loads((out / "manifest.json").read_text())
    assert [i["local_id"] for i in on_disk["images"]] == [e.local_id for e in entries]
    assert {i["status"] for i in on_disk["images"]} == {"present", "missing"}


def bucket_errors(result: Any, local_id: int) -> list[str]:
    return list(result.manifest.images[local_id].errors)


def test_a_second_run_makes_no_request_for_present_images(bucket: FakeServer, tmp_path: Path) -> None:
    entries = stock_bucket(bucket)[:4]
    out = tmp_path / "images"
    config = settings(out, PMC_CLOUD, pmc_base_url=bucket.base_url)
    first = fetch_images(entries, config, "test")
    assert not first.missing
    assert first.requests > 0
    again = fetch_images(entries, config, "test")
    assert again.already_present == 4
    assert again.fetched == 0
    assert again.requests == 0
    assert again.manifest.images[20001].source == PMC_CLOUD
    assert again.manifest.images[20001].licence == "CC BY"
    # A file changed on disk is not trusted: it is fetched again.
    (out / "20003.jpg").write_bytes(jpeg(99))
    third = fetch_images(entries, config, "test")
    assert third.already_present == 3
    assert third.fetched == 1
    assert (out / "20003.jpg").read_bytes() == IMAGES["flaky"]


def test_a_file_put_there_by_hand_is_accepted_when_it_decodes(tmp_path: Path) -> None:
    out = tmp_path / "images"
    out.mkdir()
    (out / "20001.jpg").write_bytes(jpeg(5))
    (out / "20002.jpg").write_bytes(b"not a jpeg")
    result = fetch_images([entry(20001, "PMC1", "a.jpg"), entry(20002, "PMC2", "b.jpg")], settings(out), "t", [])
    assert result.already_present == 1
    assert result.manifest.images[20001].source == "existing file"
    assert [r.local_id for r in result.missing] == [20002]


def test_an_interrupted_run_keeps_what_it_fetched(tmp_path: Path) -> None:
    class Interrupting:
        name = "flaky-user"

        def __init__(self) -> None:
            self.calls = 0

        def fetch(self, item: ImageEntry) -> Any:
            from mediconfusion_tests.data.image_sources import Fetched

            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return Fetched(jpeg(item.local_id), f"mem://{item.local_id}")

    class Working:
        name = "working"

        def fetch(self, item: ImageEntry) -> Any:
            from mediconfusion_tests.data.image_sources import Fetched

            return Fetched(jpeg(item.local_id), f"mem://{item.local_id}")

    out = tmp_path / "images"
    entries = [entry(20000 + i, f"PMC{i}", "f.jpg") for i in range(6)]
    with pytest.raises(KeyboardInterrupt):
        fetch_images(entries, FetchSettings(out, jobs=1), "t", [Interrupting()])
    manifest = read_manifest(out)
    assert manifest is not None
    kept = [r for r in manifest.images.values() if r.status == PRESENT]
    assert {20000, 20001} <= {r.local_id for r in kept}
    assert manifest.images[20002].status != PRESENT
    for record in kept:  # every recorded image is on disk, whole
        assert hashlib.sha256((out / record.path).read_bytes()).hexdigest() == record.sha256
    resumed = fetch_images(entries, FetchSettings(out, jobs=1), "t", [Working()])
    assert resumed.already_present == len(kept)
    assert resumed.fetched == 6 - len(kept)
    assert not resumed.missing


def test_a_source_that_keeps_failing_gives_up_with_the_reason(bucket: FakeServer, tmp_path: Path) -> None:
    bucket.add("/PMC9.1/x.jpg", jpeg(1), fail_first=100)
    config = settings(tmp_path / "o", PMC_CLOUD, pmc_base_url=bucket.base_url)
    result = fetch_images([entry(20009, "PMC9", "x.jpg")], config, "t")
    (error,) = result.missing[0].errors
    assert "HTTP 503 after 3 attempts" in error
    assert "/PMC9.1/x.jpg" in error
    assert bucket.log.count("/PMC9.1/x.jpg") == 3


def test_pmc_source_raises_on_a_wrong_md5(bucket: FakeServer) -> None:
    entries = stock_bucket(bucket)
    source = PmcCloudSource(bucket.base_url, Http(retries=0))
    with pytest.raises(SourceError, match="md5"):
        source.fetch(entries[4])


# -- the command ---------------------------------------------------------------------------------------------------


def test_the_command_end_to_end_and_verify_images(
    bucket: FakeServer, europe: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = stock_bucket(bucket)
    dataset = write_image_dict(tmp_path / "MediConfusion", entries)
    out = tmp_path / "images"
    argv = ["fetch-images", "--dataset", str(dataset), "--out", str(out), "--jobs", "3", "--retries", "1"]
    argv += ["--pmc-base-url", bucket.base_url, "--europepmc-base-url", europe.base_url]
    argv += ["--source", "pmc-cloud", "europepmc"]
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert "7 images: 4 present, 3 missing" in text
    assert "ROCO_20007 (local 20007) PMC107 fig7.jpg" in text
    assert f"save figure fig7.jpg as {out}/20007.jpg" in text
    assert "--source roco-dir PATH" in text

    # Everything there: exit 0, and verify-images agrees until a file is damaged.
    europe.add("/articles/PMC105/bin/fig5.jpg", IMAGES["badmd5"])
    europe.add("/articles/PMC106/bin/fig6.jpg", jpeg(60))
    europe.add("/articles/PMC107/bin/fig7.jpg", jpeg(70))
    assert main(argv) == 0
    assert "already present        4" in capsys.readouterr().out
    assert main(["verify-images", "--out", str(out)]) == 0
    assert "7 of 7 images verified" in capsys.readouterr().out
    (out / "20006.jpg").write_bytes(jpeg(61))
    (out / "20002.jpg").unlink()
    assert main(["verify-images", "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "5 of 7 images verified" in text
    assert "ROCO_20006 (local 20006) PMC106: 20006.jpg changed since it was fetched" in text
    assert "ROCO_20002 (local 20002) PMC102: 20002.jpg is missing" in text


def test_the_command_names_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch-images", "--dataset", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert f"No image_dict.json at {tmp_path}/image_dict.json" in capsys.readouterr().err
    assert main(["fetch-images", "--dataset", str(tmp_path), "--source", "ftp"]) == 2
    assert "Unknown image source 'ftp'" in capsys.readouterr().err
    assert main(["verify-images", "--out", str(tmp_path)]) == 2
    assert "has no manifest.json" in capsys.readouterr().out


def test_bad_image_dict_entries_are_named(tmp_path: Path) -> None:
    path = tmp_path / "image_dict.json"
    path.write_text(json.dumps({"train/radiology/images/ROCO_1.jpg": {"local": 1, "dlink": "x", "file_name": "a"}}))
    with pytest.raises(DataError, match=re.escape("'train/radiology/images/ROCO_1.jpg' has a dlink without a PMCID")):
        read_image_dict(path)
    path.write_text(json.dumps({"t/ROCO_1.jpg": {"local": 1, "file_name": "a"}}))
    with pytest.raises(DataError, match=re.escape("'t/ROCO_1.jpg' lacks dlink")):
        read_image_dict(path)


def test_source_words_and_order(tmp_path: Path) -> None:
    assert _split_sources(["roco-dir", "/data/roco", "pmc-cloud"], None) == (
        (ROCO_DIR, PMC_CLOUD),
        Path("/data/roco"),
    )
    assert _split_sources(["pmc-cloud,europepmc"], None) == ((PMC_CLOUD, EUROPEPMC), None)
    assert source_order(FetchSettings(tmp_path)) == [PMC_CLOUD, ROCO_HF, EUROPEPMC]
    assert source_order(FetchSettings(tmp_path, roco_dir=tmp_path)) == [PMC_CLOUD, ROCO_HF, EUROPEPMC, ROCO_DIR]
    with pytest.raises(ConfigError, match="needs the folder"):
        source_order(FetchSettings(tmp_path, (ROCO_DIR,)))


# -- local ROCO folder and layouts ---------------------------------------------------------------------------------


def test_a_local_roco_folder_and_the_roco_layout(tmp_path: Path) -> None:
    roco = tmp_path / "roco-dataset"
    entries = [entry(20001, "PMC1", "a.jpg", split="train"), entry(20002, "PMC2", "b.jpg", split="test")]
    for item in entries:
        path = roco / "data" / item.roco_path
        path.parent.mkdir(parents=True)
        path.write_bytes(jpeg(item.local_id))
    out = tmp_path / "images"
    result = fetch_images(entries, FetchSettings(out, roco_dir=roco, layout=ROCO), "t", [RocoDirSource(roco)])
    assert not result.missing
    assert (out / "test/radiology/images/ROCO_20002.jpg").read_bytes() == jpeg(20002)
    refs = [ImageRef(e.roco_path, e.local_id) for e in entries]
    assert detect_layout(out, refs).kind == ROCO
    local = fetch_images(entries, FetchSettings(tmp_path / "flat"), "t", [RocoDirSource(roco)])
    assert not local.missing
    assert detect_layout(tmp_path / "flat", refs).kind == LOCAL


# -- the hub ROCO copy, read selectively -----------------------------------------------------------------------------


def make_roco_parquet(folder: Path) -> dict[str, bytes]:
    """Three files in the datasets-library layout, 160 rows each in row groups of 8, sorted by id."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    images: dict[str, bytes] = {}
    for split, files in (("train", 2), ("validation", 1)):
        for part in range(files):
            ids = [f"ROCO_{split[0]}{part}{row:03d}" for row in range(160)]
            blobs = [jpeg(hash(i) % 10_000, size=48) for i in ids]
            images.update(zip(ids, blobs, strict=True))
            table = pa.table(
                {
                    "image": [{"bytes": b, "path": None} for b in blobs],
                    "image_id": ids,
                    "caption": [f"caption of {i}" for i in ids],
                }
            )
            # Statistics on the id column only: min/max of image bytes would bloat the footer of so small a file.
            target = folder / f"{split}-{part:05d}-of-{files:05d}.parquet"
            pq.write_table(table, target, row_group_size=8, write_statistics=["image_id"])
    return images


def test_the_hub_copy_reads_only_the_row_groups_it_needs(tmp_path: Path) -> None:
    images = make_roco_parquet(tmp_path / "data")
    files = sorted((tmp_path / "data").glob("*.parquet"))
    total = sum(f.stat().st_size for f in files)
    counter = [0]
    source = RocoHubSource(
        "someone/ROCO-radiology",
        files=lambda split: [str(f) for f in files if f.name.startswith(f"{split}-")],
        open=lambda path: CountingFile(Path(path).open("rb"), counter),  # noqa: SIM115 - closed by the caller
    )
    wanted = [
        entry(20001, "PMC1", "a.jpg", roco="ROCO_t1017"),
        entry(20002, "PMC2", "b.jpg", roco="ROCO_v0033", split="validation"),
        entry(20003, "PMC3", "c.jpg", roco="ROCO_t9999"),  # not in the copy
    ]
    out = tmp_path / "images"
    result = fetch_images(wanted, FetchSettings(out, jobs=2), "t", [source])
    assert (out / "20001.jpg").read_bytes() == images["ROCO_t1017"]
    assert (out / "20002.jpg").read_bytes() == images["ROCO_v0033"]
    assert [r.local_id for r in result.missing] == [20003]
    assert str(result.manifest.images[20001].url).endswith("train-00001-of-00002.parquet#ROCO_t1017")
    # Statistics rule out all but the two row groups holding the images: only their ids and images are read.
    # What else is read is each file's footer (pyarrow reads the last 64 KiB at once).
    assert sorted(source._group_ids) == sorted(source._read_groups) == [(str(files[1]), 2), (str(files[2]), 4)]
    assert counter[0] < total / 4, f"read {counter[0]} of {total} bytes"


def test_the_hub_copy_failing_hands_the_images_to_the_next_source(tmp_path: Path) -> None:
    def unreachable(split: str) -> list[str]:
        raise OSError("hub unreachable")

    roco = tmp_path / "roco"
    item = entry(20001, "PMC1", "a.jpg")
    (roco / "train/radiology/images").mkdir(parents=True)
    (roco / item.roco_path).write_bytes(jpeg(1))
    hub = RocoHubSource(files=unreachable, open=lambda p: None)
    result = fetch_images([item], FetchSettings(tmp_path / "o"), "t", [hub, RocoDirSource(roco)])
    assert not result.missing
    assert result.manifest.images[20001].source == ROCO_DIR
    assert result.tallies[ROCO_HF].failed == 1
    assert result.tallies[ROCO_DIR].fetched == 1


def test_progress_bar_draws_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = ProgressBar(screen, width=10)
    bar(5, 10, "pmc-cloud")
    bar(10, 10, "present")
    assert "[#####.....] 5/10 pmc-cloud" in screen.getvalue()
    assert screen.getvalue().endswith("\n")
    quiet = io.StringIO()
    ProgressBar(quiet)(1, 2, "x")
    assert quiet.getvalue() == ""


def test_verify_flags_a_never_fetched_image(tmp_path: Path) -> None:
    out = tmp_path / "o"
    fetch_images([entry(20001, "PMC1", "a.jpg")], FetchSettings(out), "t", [])
    manifest = read_manifest(out)
    assert manifest is not None
    assert [p.problem for p in verify(out, manifest)] == ["20001.jpg is missing"]
    (out / "20001.jpg").write_bytes(jpeg(3))
    assert verify(out, manifest) == []
