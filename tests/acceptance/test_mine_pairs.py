"""``mediconfusion mine-pairs`` end to end on scene images: planted pairs first, the rules, the cache, shards,
transformers encoders from folders, and bad input named."""

from __future__ import annotations

import csv
import json
import textwrap
from itertools import count
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from mediconfusion_tests.cli import main
from mediconfusion_tests.sample.scenes import KINDS, draw_scene, every_scene

if TYPE_CHECKING:
    from pathlib import Path

N = 200
#: (i, j) in the order their gaps make: the encoder sees each pair as twins, the reference as opposites.
PLANTED = [(0, 101), (7, 150), (42, 43), (60, 190), (88, 121)]
#: Planted too, but both images come from one article: never a candidate.
SAME_SOURCE = (10, 11)
#: Planted too, but the same scene drawn twice (only the noise differs): the same picture, never a candidate.
SAME_PICTURE = (30, 46)
_modules = count()


def write_images(folder: Path, n: int = N) -> Path:
    """n scene images (not the sample's ids), each marked in its corner pixel with its index; captions.csv."""
    scenes = [s for kind in KINDS for s in every_scene(kind)]
    rows = []
    for index in range(n):
        image = draw_scene(5000 + index, scenes[index % len(scenes)])
        image.putpixel((0, 0), (index // 256, index % 256, 7))
        image.save(folder / f"scan-{index:03d}.png")
        source = "PMC-shared" if index in SAME_SOURCE else f"PMC{index}"
        rows.append(
            {"image": f"scan-{index:03d}.png", "text": f"caption {index}", "id": f"img{index}", "source": source}
        )
    with (folder / "captions.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "text", "id", "source"])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "captions.csv"


def planted_encoders(folder: Path, n: int = N, dim: int = 24) -> str:
    """A module of two python: encoders reading each image's index from its corner pixel; every call is
    counted in calls.txt. Returns the module's name (fresh per test: modules stay imported)."""
    rng = np.random.default_rng(0)
    enc, ref = rng.normal(size=(n, dim)), rng.normal(size=(n, dim))
    planted = [*PLANTED, SAME_SOURCE, SAME_PICTURE]
    # Encoder cosines 0.99, 0.97, ... in PLANTED's order (1.0 for the two refused pairs); reference cosine -1.
    cosines = [0.99 - 0.02 * rank for rank in range(len(PLANTED))] + [1.0, 1.0]
    for (i, j), cosine in zip(planted, cosines, strict=True):
        if max(i, j) >= n:
            continue
        unit = enc[i] / np.linalg.norm(enc[i])
        other = rng.normal(size=dim)
        other -= (other @ unit) * unit
        enc[j] = cosine * unit + np.sqrt(1 - cosine**2) * other / np.linalg.norm(other)
        ref[j] = -ref[i]
    np.save(folder / "planted_enc.npy", enc)
    np.save(folder / "planted_ref.npy", ref)
    name = f"planted_{next(_modules)}"
    (folder / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            import numpy as np

            HERE = Path(__file__).parent


            def _index(image):
                high, low, _ = image.getpixel((0, 0))
                return high * 256 + low


            def _embed(images, table):
                with (HERE / "calls.txt").open("a") as log:
                    log.write(f"{table} {len(images)}\\n")
                vectors = np.load(HERE / f"planted_{table}.npy")
                return vectors[[_index(image) for image in images]]


            def encoder(images):
                return _embed(images, "enc")


            def reference(images):
                return _embed(images, "ref")
            """
        )
    )
    return name


def mine(captions: Path | str, out: Path, module: str, *extra: str) -> int:
    return main(
        [
            "mine-pairs",
            str(captions),
            "-o",
            str(out),
            "--encoder",
            f"python:{module}:encoder",
            "--reference",
            f"python:{module}:reference",
            "--min-encoder-sim",
            "0.8",
            "--max-reference-sim",
            "0.0",
            "--limit",
            "20",
            *extra,
        ]
    )


def candidates(out: Path) -> list[dict[str, str]]:
    with (out / "candidates.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_planted_pairs_come_first_and_a_rerun_calls_no_encoder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    captions = write_images(tmp_path)
    module = planted_encoders(tmp_path)
    assert mine(captions, tmp_path / "out", module) == 0
    rows = candidates(tmp_path / "out")
    pairs = [(int(r["id_1"][3:]), int(r["id_2"][3:])) for r in rows]
    assert pairs[: len(PLANTED)] == PLANTED
    assert SAME_SOURCE not in pairs
    assert SAME_PICTURE not in pairs
    images = [i for pair in pairs for i in pair]
    assert len(images) == len(set(images))  # --per-image 1
    first = rows[0]
    assert first["rank"] == "1"
    assert first["text_1"] == "caption 0"
    assert first["text_2"] == "caption 101"
    assert first["image_1"] == str((tmp_path / "scan-000.png").resolve())
    assert first["status"] == "needs writing"
    assert float(first["encoder_similarity"]) >= 0.8
    assert float(first["reference_similarity"]) <= 0.0
    summary = json.loads((tmp_path / "out" / "mining.json").read_text())
    assert summary["images"] == N
    assert [s["computed"] for s in summary["embedding"]] == [N, N]
    assert summary["search"]["dropped_same_source"] == 1
    assert summary["search"]["dropped_near_duplicate"] == 1
    assert summary["embedding"][0]["fingerprint"].startswith(f"python:{module}:encoder:")
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert sum(int(line.split()[1]) for line in calls) == 2 * N
    printed = capsys.readouterr().out
    assert f"{len(rows)} candidate pair(s) among {N} images" in printed

    # Again, and with other thresholds: every vector from the cache, the same candidates.
    assert mine(captions, tmp_path / "again", module) == 0
    assert mine(captions, tmp_path / "looser", module, "--per-image", "2") == 0
    assert (tmp_path / "calls.txt").read_text().splitlines() == calls
    assert candidates(tmp_path / "again") == rows
    again = json.loads((tmp_path / "again" / "mining.json").read_text())
    assert [s["reused"] for s in again["embedding"]] == [N, N]
    looser = [(int(r["id_1"][3:]), int(r["id_2"][3:])) for r in candidates(tmp_path / "looser")]
    assert looser[: len(PLANTED)] == PLANTED


def test_shards_embed_their_share_and_merge_into_one_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    captions = write_images(tmp_path, n=40)
    module = planted_encoders(tmp_path, n=40)
    caches = [tmp_path / f"machine-{i}" for i in (1, 2, 3)]
    for index, cache in enumerate(caches[:2], start=1):
        monkeypatch.setenv("MEDICONFUSION_CACHE", str(cache))
        assert mine(captions, tmp_path / "shards", module, "--shard", f"{index}/2") == 0
    shard_counts = [json.loads((tmp_path / "shards" / f"shard-{i}-of-2.json").read_text())["images"] for i in (1, 2)]
    assert shard_counts == [20, 20]
    assert not (tmp_path / "shards" / "candidates.csv").exists()
    monkeypatch.setenv("MEDICONFUSION_CACHE", str(caches[2]))
    sources = [str(c / "embeddings") for c in caches[:2]]
    assert main(["merge-embeddings", *sources]) == 0
    calls = (tmp_path / "calls.txt").read_text()
    assert mine(captions, tmp_path / "out", module) == 0
    assert (tmp_path / "calls.txt").read_text() == calls  # nothing computed again
    summary = json.loads((tmp_path / "out" / "mining.json").read_text())
    assert [s["reused"] for s in summary["embedding"]] == [40, 40]


def test_transformers_encoders_from_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny random CLIP (its projected image features) as the encoder, a tiny DINOv2 (its pooled CLS) as the
    reference, both saved and reloaded through from_pretrained."""
    pytest.importorskip("transformers")
    from tiny_encoders import build_tiny_encoders

    clip, dino = build_tiny_encoders(tmp_path)
    monkeypatch.chdir(tmp_path)
    captions = write_images(tmp_path, n=24)
    args = ["mine-pairs", str(captions), "-o", str(tmp_path / "out"), "--device", "cpu", "--batch-size", "5"]
    args += ["--encoder", f"hf:{clip}", "--reference", f"hf:{dino}", "--min-encoder-sim", "-1"]
    args += ["--max-reference-sim", "1", "--per-image", "3"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "out" / "mining.json").read_text())
    encoder, reference = summary["embedding"]
    assert encoder["fingerprint"].startswith(f"hf:{clip}@")
    assert encoder["fingerprint"].endswith(":image_features")
    assert reference["fingerprint"].endswith(":pooler_output")
    assert encoder["computed"] == reference["computed"] == 24
    rows = candidates(tmp_path / "out")
    # All thresholds open: pairs taken best first until images reach three pairs each.
    uses = [r[key] for r in rows for key in ("id_1", "id_2")]
    assert max(uses.count(i) for i in set(uses)) == 3
    assert 24 <= len(rows) <= 24 * 3 // 2
    gaps = [float(r["gap"]) for r in rows]
    assert gaps == sorted(gaps, reverse=True)
    assert main(args) == 0
    again = json.loads((tmp_path / "out" / "mining.json").read_text())
    assert [s["computed"] for s in again["embedding"]] == [0, 0]
    assert candidates(tmp_path / "out") == rows


def test_bad_captions_and_a_bad_encoder_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    captions = write_images(tmp_path, n=6)
    lines = captions.read_text().splitlines()
    lines[2] = "missing.png,caption 1,img1,PMC1"
    lines[3] = "scan-002.png,,img2,PMC2"
    (tmp_path / "scan-003.png").write_bytes(b"not a png")
    captions.write_text("\n".join(lines) + "\n")
    module = planted_encoders(tmp_path, n=6)
    assert mine(captions, tmp_path / "out", module) == 4
    err = capsys.readouterr().err
    assert "3 problem(s)" in err
    assert "line 3: column 'image':" in err
    assert "missing.png missing" in err
    assert "line 4: column 'text' is empty" in err
    assert "line 5: column 'image':" in err
    assert "cannot be decoded" in err
    assert not (tmp_path / "out").exists()

    good = write_images(tmp_path, n=6)
    (tmp_path / "wrong.py").write_text("import numpy as np\n\ndef encoder(images):\n    return np.zeros((1, 3))\n")
    wrong = ["--encoder", "python:wrong:encoder", "--reference", "python:wrong:encoder"]
    code = main(["mine-pairs", str(good), "-o", str(tmp_path / "out"), *wrong])
    assert code == 4
    assert "encoder python:wrong:encoder: returned shape (1, 3) for 6 image(s)" in capsys.readouterr().err
    assert main(["mine-pairs", str(good), "-o", str(tmp_path / "o"), "--encoder", "clip-please"]) == 4
    assert "unknown encoder 'clip-please'" in capsys.readouterr().err


def test_a_mediconfusion_dataset_json_is_a_source(sample_dir: Path) -> None:
    from mediconfusion_tests.data.files import read_pairs
    from mediconfusion_tests.mining.sources import read_captioned

    items = read_captioned(sample_dir / "dataset.json")
    pairs = read_pairs(sample_dir / "dataset.json")
    assert len(items) == len({ref.local_id for p in pairs for ref in p.images})
    first = pairs[0]
    text = {item.id: item.text for item in items}[str(first.images[0].local_id)]
    truth = first.options[0 if first.truth[0] == "A" else 1]
    assert text == f"{first.question} {truth}"


def test_reviewed_candidates_become_a_pair_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """candidates.csv, filled in for the rows kept and the rest deleted, is what make-pairs reads."""
    pytest.importorskip("datasets")
    monkeypatch.chdir(tmp_path)
    captions = write_images(tmp_path)
    module = planted_encoders(tmp_path)
    assert mine(captions, tmp_path / "out", module) == 0
    rows = candidates(tmp_path / "out")[:2]
    for row in rows:
        row |= {"question": "Which side?", "option_a": "left", "option_b": "right", "answer_1": "A", "answer_2": "B"}
        row["categories"] = "Chest"
    reviewed = tmp_path / "reviewed.csv"
    with reviewed.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["make-pairs", str(reviewed), "-o", str(tmp_path / "my-pairs")]) == 0
    assert main(["validate-pairs", str(tmp_path / "my-pairs")]) == 0


@pytest.mark.browser
def test_the_review_sheet_exports_pairs_that_make_pairs_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, browser_ready: None
) -> None:
    """review.html in Chromium: both images of each candidate shown; one candidate written and kept, one kept
    with a problem (refused at export), one dropped; the export, after fixing the problem, passes
    make-pairs and validate-pairs; the work survives a reload."""
    pytest.importorskip("datasets")
    from browser import open_page

    monkeypatch.chdir(tmp_path)
    captions = write_images(tmp_path)
    module = planted_encoders(tmp_path)
    assert mine(captions, tmp_path / "out", module) == 0
    page_file = tmp_path / "out" / "review.html"
    with open_page(page_file) as (page, errors):
        cards = page.query_selector_all("article.candidate")
        assert len(cards) == len(candidates(tmp_path / "out"))
        assert all(img.evaluate("i => i.naturalWidth > 0") for img in page.query_selector_all("article img"))
        assert page.text_content("#counter") == f"0 kept, 0 dropped, {len(cards)} to review of {len(cards)}"
        first, second, third = cards[:3]
        first.query_selector("[name=question]").fill("Which side is the lesion on?")
        first.query_selector("[name=option_a]").fill("Left")
        first.query_selector("[name=option_b]").fill('Right, with a comma, and "quotes"')
        first.query_selector("[name=answer_1]").select_option("B")
        first.query_selector("[name=categories]").fill("Brain; Lesion")
        first.query_selector("button[data-status=keep]").click()
        second.query_selector("button[data-status=keep]").click()  # kept, nothing written yet
        third.query_selector("button[data-status=drop]").click()
        assert page.text_content("#counter") == f"2 kept, 1 dropped, {len(cards) - 3} to review of {len(cards)}"
        page.click("#export")
        assert "candidate 2: no question" in page.text_content("#export-problems")
        second.query_selector("button[data-status=drop]").click()
        page.reload()  # the work is kept in the browser
        assert page.input_value("article.candidate[data-rank='1'] [name=option_a]") == "Left"
        assert page.text_content("#counter") == f"1 kept, 2 dropped, {len(cards) - 3} to review of {len(cards)}"
        with page.expect_download() as download:
            page.click("#export")
        exported = tmp_path / "pairs.csv"
        download.value.save_as(exported)
        assert errors == []
    with exported.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    assert rows[0]["option_b"] == 'Right, with a comma, and "quotes"'
    assert (rows[0]["answer_1"], rows[0]["answer_2"]) == ("B", "A")
    assert rows[0]["image_1"] == str((tmp_path / "scan-000.png").resolve())
    assert main(["make-pairs", str(exported), "-o", str(tmp_path / "my-pairs")]) == 0
    assert main(["validate-pairs", str(tmp_path / "my-pairs")]) == 0


def test_a_datasets_table_gives_the_same_candidates_as_the_captions_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same images and captions as a save_to_disk table (embedded PNGs, other column names) and as
    parquet: the same candidates; a missing column is named."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.chdir(tmp_path)
    captions = write_images(tmp_path)
    module = planted_encoders(tmp_path)
    assert mine(captions, tmp_path / "from-csv", module) == 0
    with captions.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    table = datasets.Dataset.from_dict(
        {
            "picture": [(tmp_path / r["image"]).read_bytes() for r in rows],
            "report": [r["text"] for r in rows],
            "id": [r["id"] for r in rows],
            "source": [r["source"] for r in rows],
        },
        features=datasets.Features(
            {
                "picture": datasets.Image(),
                "report": datasets.Value("string"),
                "id": datasets.Value("string"),
                "source": datasets.Value("string"),
            }
        ),
    )
    table.save_to_disk(str(tmp_path / "table"))
    table.to_parquet(str(tmp_path / "table.parquet"))
    named = ["--image-column", "picture", "--text-column", "report"]
    expected = [(r["id_1"], r["id_2"], r["gap"]) for r in candidates(tmp_path / "from-csv")]
    assert [(a, b) for a, b, _gap in expected[: len(PLANTED)]] == [(f"img{i}", f"img{j}") for i, j in PLANTED]
    for source, out in ((tmp_path / "table", "from-disk"), (tmp_path / "table.parquet", "from-parquet")):
        assert mine(source, tmp_path / out, module, *named) == 0
        found = candidates(tmp_path / out)
        assert [(r["id_1"], r["id_2"], r["gap"]) for r in found] == expected
        assert found[0]["text_1"] == "caption 0"
    assert mine(tmp_path / "table", tmp_path / "bad", module) == 4
    assert "no column 'image', 'text' (it has picture, report, id, source)" in capsys.readouterr().err


def test_faiss_finds_the_candidates_exact_search_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("faiss")
    monkeypatch.chdir(tmp_path)
    captions = write_images(tmp_path)
    module = planted_encoders(tmp_path)
    assert mine(captions, tmp_path / "exact", module) == 0
    assert mine(captions, tmp_path / "faiss", module, "--index", "faiss") == 0
    exact, found = candidates(tmp_path / "exact"), candidates(tmp_path / "faiss")
    assert [(r["id_1"], r["id_2"]) for r in found] == [(r["id_1"], r["id_2"]) for r in exact]
    settings = json.loads((tmp_path / "faiss" / "mining.json").read_text())["settings"]
    assert settings["index"] == "faiss"


@pytest.mark.usefixtures("hf_ready")
def test_a_suite_model_is_an_encoder_and_its_vectors_are_its_own(
    tmp_path: Path, sample_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--encoder=model:demo mines with the demo LLaVA's own vision features: each candidate's encoder similarity
    is the cosine of what ``image_features`` gives for its two images; a model without them is refused."""
    from PIL import Image

    from mediconfusion_tests.config import RunConfig
    from mediconfusion_tests.models.base import LocalModel, ModelSpec
    from mediconfusion_tests.models.demo import make_demo

    (tmp_path / "grey.py").write_text(
        "import numpy as np\n\n\ndef reference(images):\n"
        "    return np.array([np.asarray(i.convert('L').resize((8, 8)), dtype=np.float32).ravel() - 128 "
        "for i in images])\n"
    )
    out = tmp_path / "out"
    args = ["mine-pairs", str(sample_dir / "dataset.json"), "-o", str(out), "--device", "cpu"]
    args += ["--encoder", "model:demo", "--reference", "python:grey:reference"]
    args += ["--min-encoder-sim", "-1", "--max-reference-sim", "1", "--limit", "10"]
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        assert main(args) == 0
    finally:
        sys.path.remove(str(tmp_path))
    encoder = json.loads((out / "mining.json").read_text())["embedding"][0]
    assert encoder["fingerprint"].startswith("model:hf:")
    assert "demo-llava" in encoder["fingerprint"]
    rows = candidates(out)
    assert len(rows) >= 3  # each image in one pair at most (--per-image 1)
    model = make_demo(ModelSpec("demo", "demo"), RunConfig(model="demo"))
    assert isinstance(model, LocalModel)
    try:
        for row in rows[:3]:
            images = [Image.open(sample_dir / row[key]).convert("RGB") for key in ("image_1", "image_2")]
            first, second = model.image_features(images)
            cosine = float(first @ second / (np.linalg.norm(first) * np.linalg.norm(second)))
            assert abs(cosine - float(row["encoder_similarity"])) < 1e-3  # candidates.csv keeps four decimals
    finally:
        model.close()

    args[args.index("model:demo")] = "model:random"
    assert main(args) != 0
    assert "encoder 'model:random': random exposes no vision features" in capsys.readouterr().err


class DraftResponder:
    """Drafts from the two captions; caption 7's pair answers garbage once, caption 42's always."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def generate(self, request: Any) -> str:
        import re

        first, second = re.findall(r"Report of image \d: caption (\d+)", request.text)
        self.asked.append(first)
        retry = "could not be used" in request.text
        if first == "42" or (first == "7" and not retry):
            return "Sorry, I can only describe one image at a time."
        draft = {
            "question": f"Which finding does scan {first} or {second} show?",
            "option_a": f"the finding of {first}",
            "option_b": f"the finding of {second}",
            "answer_1": "A",
            "answer_2": "B",
            "categories": ["Cerebral"],
        }
        return "```json\n" + json.dumps(draft) + "\n```"


def test_a_drafter_writes_checked_drafts_retries_once_and_stops_on_its_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("openai")
    from fake_api import FakeAPI

    monkeypatch.chdir(tmp_path)
    captions = write_images(tmp_path)
    module = planted_encoders(tmp_path)
    responder = DraftResponder()
    with FakeAPI(responder) as api:
        drafter = f"openai-compatible:drafter@{api.url}/v1"
        assert mine(captions, tmp_path / "out", module, "--drafter", drafter, "--limit", "3") == 0
        rows = candidates(tmp_path / "out")
        assert [(r["id_1"], r["id_2"]) for r in rows] == [("img0", "img101"), ("img7", "img150"), ("img42", "img43")]
        assert [r["status"] for r in rows[:2]] == ["drafted", "drafted"]
        assert rows[0]["question"] == "Which finding does scan 0 or 101 show?"
        assert (rows[0]["option_a"], rows[0]["answer_1"], rows[0]["answer_2"]) == ("the finding of 0", "A", "B")
        assert rows[0]["categories"] == "Cerebral"
        assert rows[2]["status"].startswith("needs writing: no JSON object in the reply (asked twice)")
        assert rows[2]["question"] == ""
        assert sorted(responder.asked) == ["0", "42", "42", "7", "7"]  # one retry each for 7 and 42
        summary = json.loads((tmp_path / "out" / "mining.json").read_text())
        assert summary["drafting"] == {"drafter": drafter, "drafted": 2, "needs_writing": 1, "requests": 5}
        assert "2 of 3 candidate(s) drafted" in capsys.readouterr().out
        page = (tmp_path / "out" / "review.html").read_text()
        assert "Which finding does scan 0 or 101 show?" in page
        assert "needs writing: no JSON object in the reply" in page

        # The answer store holds every reply: a rerun asks nothing.
        assert mine(captions, tmp_path / "again", module, "--drafter", drafter, "--limit", "3") == 0
        assert len(responder.asked) == 5
        assert candidates(tmp_path / "again") == rows

        # Drafted rows go straight to make-pairs.
        kept = tmp_path / "kept.csv"
        with kept.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(r for r in rows if r["status"] == "drafted")
        assert main(["make-pairs", str(kept), "-o", str(tmp_path / "my-pairs")]) == 0
        assert main(["validate-pairs", str(tmp_path / "my-pairs")]) == 0

        # With no store and a budget of one request, one draft is asked for and the rest say why not.
        asked = len(responder.asked)
        args = ("--drafter", drafter, "--limit", "3", "--max-requests", "1", "--no-cache")
        assert mine(captions, tmp_path / "budget", module, *args) == 0
        assert len(responder.asked) == asked + 1
        statuses = [r["status"] for r in candidates(tmp_path / "budget")]
        assert sum(s.startswith("needs writing: not asked") for s in statuses) == 2, statuses
    assert api.requests
