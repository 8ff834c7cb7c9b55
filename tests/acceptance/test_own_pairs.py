"""Own pair datasets through `datasets`: save_to_disk folders, parquet, the hub spec; make-pairs, validate-pairs."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import pytest
from helpers import read_results

datasets = pytest.importorskip("datasets")

from mediconfusion_tests.cli import main as cli  # noqa: E402
from mediconfusion_tests.data import pair_tables  # noqa: E402
from mediconfusion_tests.data.own_pairs import PAIR_SCHEMA, pair_features  # noqa: E402
from mediconfusion_tests.data.pair_tables import parse_table_source  # noqa: E402
from mediconfusion_tests.data.sources import load_pairs, resolve_dataset  # noqa: E402
from mediconfusion_tests.errors import DataError  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path

QUIET = ("-p", "no:cacheprovider")
REPO_DOCS = __import__("pathlib").Path(__file__).resolve().parents[2] / "docs"


def image_bytes(colour: tuple[int, int, int], fmt: str) -> bytes:
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (48, 40), colour)
    ImageDraw.Draw(canvas).ellipse((8, 8, 30, 30), fill=(255 - colour[0], 90, 40))
    buffer = io.BytesIO()
    canvas.save(buffer, fmt)
    return buffer.getvalue()


def rows(count: int = 4) -> list[dict[str, Any]]:
    out = []
    for index in range(count):
        out.append(
            {
                "id": f"site-{index + 1}",
                "question": f"Is there a lesion in scan {index + 1}?",
                "option_A": "Yes, a lesion",
                "option_B": "No lesion",
                "im_1_correct": "A" if index % 2 else "B",
                "im_2_correct": "B" if index % 2 else "A",
                "category_1": ["Chest wall"],
                "category_2": ["Chest wall", "Soft tissue"],
                "AI_question": f"Does scan {index + 1} show a lesion?",
                "image_1": {"bytes": image_bytes((20 * index, 60, 90), "JPEG"), "path": f"scan{index}a.jpg"},
                "image_2": {"bytes": image_bytes((90, 20 * index, 60), "PNG"), "path": f"scan{index}b.png"},
            }
        )
    return out


def table(records: list[dict[str, Any]]) -> Any:
    return datasets.Dataset.from_list(records, features=pair_features("AI_question"))


@pytest.fixture
def on_disk(tmp_path: Path) -> Path:
    folder = tmp_path / "own-pairs"
    datasets.DatasetDict({"test": table(rows())}).save_to_disk(str(folder))
    return folder


def test_a_save_to_disk_folder_runs_and_reports_name_the_dataset(pytester: pytest.Pytester, on_disk: Path) -> None:
    result = pytester.runpytest("--model=random", f"--dataset={on_disk}", *QUIET)
    assert result.ret in (0, 1), result.stdout.str()[-3000:]
    document = read_results(pytester.path)
    dataset = document["dataset"]
    assert (dataset["source"], dataset["origin"], dataset["split"], dataset["embedded"]) == (
        "table",
        str(on_disk),
        "test",
        True,
    )
    assert dataset["fingerprint"]
    assert document["counts"]["pairs_in_dataset"] == 4
    assert {p["pair_id"] for p in document["pairs"]} == {"site-1", "site-2", "site-3", "site-4"}
    assert set(document["metrics"]["categories"]) == {"Chest wall", "Soft tissue"}
    run = sorted((pytester.path / "reports").glob("2*/"))[-1]
    html = (run / "report.html").read_text()
    assert f"Pairs {on_disk}" in html
    assert "MediConfusion:" not in html
    assert "data:image/jpeg;base64," in html  # the embedded images, shown as the user asked by default
    assert "# Pairs " in (run / "summary.md").read_text()

    pytester.runpytest("--model=random", f"--dataset={on_disk}", "--no-images-in-report", "--alluredir=al", *QUIET)
    run = sorted((pytester.path / "reports").glob("2*/"))[-1]
    assert "data:image/jpeg;base64," not in (run / "report.html").read_text()
    attachments = list((pytester.path / "al").glob("*-attachment*"))
    assert attachments
    assert not any(p.read_bytes()[:2] == b"\xff\xd8" for p in attachments)


def test_parquet_gives_the_same_pairs_and_images(tmp_path: Path, on_disk: Path, cache_dir: Path) -> None:
    parquet = tmp_path / "pairs.parquet"
    table(rows()).to_parquet(str(parquet))
    from_disk = resolve_dataset(str(on_disk))
    from_parquet = resolve_dataset(str(parquet))
    assert from_parquet.source == "table"
    assert from_parquet.embedded
    assert [p.to_record() for p in load_pairs(from_disk)] == [p.to_record() for p in load_pairs(from_parquet)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own-pairs", "pairs.parquet"]  # nothing written beside
    images = sorted(__import__("pathlib").Path(from_parquet.images or "").glob("*.jpg"))
    assert len(images) == 8  # four pairs, eight distinct images, bytes unchanged (JPEG and PNG)
    kinds = {p.read_bytes()[:4] for p in images}
    assert kinds == {b"\xff\xd8\xff\xe0", b"\x89PNG"}
    assert str(cache_dir) in str(from_parquet.images)


def test_referenced_images_work_as_today(pytester: pytest.Pytester, sample_dir: Path, tmp_path: Path) -> None:
    """The sample's MediConfusion-style rows (local ids, ROCO paths) as a parquet table, images from --images."""
    records = json.loads((sample_dir / "dataset.json").read_text())
    flat = [{"id": key, **value} for key, value in records.items()]
    parquet = tmp_path / "sample.parquet"
    datasets.Dataset.from_list(flat).to_parquet(str(parquet))
    common = ("--model=random", "--seed=3", f"--images={sample_dir / 'images'}", *QUIET)
    pytester.runpytest(*common, f"--dataset={sample_dir}")
    expected = read_results(pytester.path)
    pytester.runpytest(*common, f"--dataset={parquet}")
    got = read_results(pytester.path)
    assert got["metrics"] == expected["metrics"]
    assert [p["answers"] for p in got["pairs"]] == [p["answers"] for p in expected["pairs"]]
    assert got["dataset"]["embedded"] is False


def test_hub_spec_records_repo_revision_and_split(monkeypatch: pytest.MonkeyPatch, on_disk: Path) -> None:
    """hf:ORG/NAME@REV:SPLIT goes through datasets.load_dataset with that revision (and HF_TOKEN)."""
    asked: dict[str, Any] = {}

    def load_dataset(name: str, revision: str | None = None, token: str | None = None) -> Any:
        asked.update(name=name, revision=revision, token=token)
        return datasets.load_from_disk(str(on_disk))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(pair_tables, "_hub_commit", lambda repo, revision: "c0ffee" * 6 + "beef")
    monkeypatch.setenv("HF_TOKEN", "hf_private")
    info = resolve_dataset("hf:hospital/chest-pairs@v2:test")
    assert asked == {"name": "hospital/chest-pairs", "revision": "v2", "token": "hf_private"}
    assert (info.source, info.repo, info.requested_revision, info.split) == (
        "hf-dataset",
        "hospital/chest-pairs",
        "v2",
        "test",
    )
    assert info.revision == "c0ffee" * 6 + "beef"
    assert len(load_pairs(info)) == 4
    with pytest.raises(DataError, match="no split 'train'"):
        resolve_dataset("hf:hospital/chest-pairs@v2:train")
    assert parse_table_source("hf:a/b") == pair_tables.TableSource("hub", "a/b")
    with pytest.raises(DataError, match="expected hf:ORG/NAME"):
        parse_table_source("hf:nothing")


def broken_rows() -> list[dict[str, Any]]:
    records = rows(3)
    records[0]["im_2_correct"] = records[0]["im_1_correct"]
    records[1]["image_2"] = {"bytes": b"not an image at all", "path": "x.png"}
    records[2]["question"] = " "
    return records


def test_malformed_rows_exit_4_naming_row_and_field(pytester: pytest.Pytester, tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    datasets.DatasetDict({"test": table(broken_rows())}).save_to_disk(str(folder))
    result = pytester.runpytest("--model=random", f"--dataset={folder}", *QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines(
        [
            "*3 problem(s) in the dataset records:",
            "*row 1 (pair site-1): im_1_correct and im_2_correct are both*",
            "*row 2 (pair site-2), field 'image_2': the image does not decode*",
            "*row 3 (pair site-3): field 'question' must be a non-empty string*",
        ]
    )
    assert not (pytester.path / "reports").exists()


def test_validate_pairs_reports_every_problem(tmp_path: Path, on_disk: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(["validate-pairs", str(on_disk)]) == 0
    assert "4 pair(s), no problems" in capsys.readouterr().out
    folder = tmp_path / "broken"
    datasets.DatasetDict({"test": table(broken_rows())}).save_to_disk(str(folder))
    assert cli(["validate-pairs", str(folder)]) == 1
    out = capsys.readouterr().out
    assert out.count("  - row ") == 3
    assert "3 problem(s); 0 pair(s) are usable" in out


def test_make_pairs_from_a_csv(tmp_path: Path, pytester: pytest.Pytester, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "img").mkdir()
    lines = ["image_1,image_2,question,option_a,option_b,answer_1,answer_2,categories"]
    for index in range(3):
        (tmp_path / "img" / f"{index}a.jpg").write_bytes(image_bytes((10 * index, 40, 80), "JPEG"))
        (tmp_path / "img" / f"{index}b.png").write_bytes(image_bytes((80, 10 * index, 40), "PNG"))
        lines.append(f"img/{index}a.jpg,img/{index}b.png,Which side?,Left,Right,A,B,Chest; Lung")
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "made"
    assert cli(["make-pairs", str(tmp_path / "pairs.csv"), "-o", str(out)]) == 0
    assert "3 pair(s) written" in capsys.readouterr().out
    assert cli(["validate-pairs", str(out)]) == 0
    pairs = load_pairs(resolve_dataset(str(out)))
    assert [p.categories[0] for p in pairs] == [("Chest", "Lung")] * 3
    result = pytester.runpytest("--model=random", f"--dataset={out}", "--gate", "set_accuracy>=0", *QUIET)
    assert result.ret == 0, result.stdout.str()[-2000:]
    pytester.runpytest("--model=random", "--seed=1", f"--dataset={out}", *QUIET)
    runs = sorted((pytester.path / "reports").glob("2*/"))
    assert cli(["compare", *map(str, runs), "--markdown", str(tmp_path / "board.md")]) == 0
    assert (tmp_path / "board.md").read_text().startswith(f"# Pairs {out} leaderboard")
    capsys.readouterr()

    lines[2] = lines[2].replace(",A,B,", ",A,A,")
    lines[3] = lines[3].replace("img/2b.png", "img/missing.png")
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    assert cli(["make-pairs", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "bad")]) == 4
    err = capsys.readouterr().err
    assert "line 4: column 'image_2': cannot read" in err
    assert "im_1_correct and im_2_correct are both 'A'" in err
    assert not (tmp_path / "bad").exists()


def test_pair_schema_file_is_current() -> None:
    assert json.loads((REPO_DOCS / "pairs.schema.json").read_text()) == PAIR_SCHEMA


# -- where image references may point (data/image_files.py) ---------------------------------------------------
def path_rows(tmp_path: Path, image_1: str, image_2: str | None = None) -> Path:
    """A parquet table in its own folder whose first row references its images by path."""
    import os

    folder = tmp_path / "table"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "a.jpg").write_bytes(image_bytes((10, 60, 90), "JPEG"))
    (folder / "images" / "b.jpg").write_bytes(image_bytes((90, 10, 60), "JPEG"))
    (tmp_path / "outside.jpg").write_bytes(image_bytes((50, 50, 50), "JPEG"))
    os.mkfifo(tmp_path / "fifo.jpg")
    records = rows(2)
    records[0]["image_1"] = {"bytes": None, "path": image_1}
    records[0]["image_2"] = {"bytes": None, "path": image_2 or "images/b.jpg"}
    # Plain structs, not datasets.Image: datasets would look the paths up from the working directory.
    datasets.Dataset.from_list(records).to_parquet(str(folder / "pairs.parquet"))
    return folder / "pairs.parquet"


@pytest.mark.parametrize(
    ("reference", "problem"),
    [
        ("../outside.jpg", "'../outside.jpg' climbs out of the table's folder"),
        ("images/../../outside.jpg", "climbs out of the table's folder"),
        ("FIFO", "is not a regular file (a device, FIFO or socket is never read)"),
        ("/dev/zero", "/dev/zero is not a regular file"),
    ],
    ids=["parent", "nested-parent", "fifo", "dev-zero"],
)
def test_a_local_table_reads_only_regular_files_inside_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reference: str, problem: str
) -> None:
    reference = str(tmp_path / "fifo.jpg") if reference == "FIFO" else reference
    parquet = path_rows(tmp_path, reference)
    status = cli(["validate-pairs", str(parquet)])  # a FIFO would hang here if it were opened for reading
    out = capsys.readouterr().out
    assert status == 1, out
    assert "row 1 (pair site-1), field 'image_1'" in out
    assert problem in out
    assert "1 pair(s) are usable" in out


def test_a_local_table_reads_relative_paths_in_its_folder_and_absolute_ones_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parquet = path_rows(tmp_path, "images/a.jpg", str(tmp_path / "outside.jpg"))
    assert cli(["validate-pairs", str(parquet)]) == 0, capsys.readouterr().out
    info = resolve_dataset(str(parquet))
    pair = load_pairs(info)[0]
    assert (pair.images[0].roco_path, pair.images[1].roco_path) == ("a.jpg", "outside.jpg")  # names, not paths


def test_a_hub_table_reads_only_files_of_its_own_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from mediconfusion_tests.data import image_files

    snapshot = tmp_path / "snapshot"
    (snapshot / "images").mkdir(parents=True)
    (snapshot / "images" / "a.jpg").write_bytes(image_bytes((10, 60, 90), "JPEG"))
    (snapshot / "images" / "b.jpg").write_bytes(image_bytes((90, 10, 60), "JPEG"))
    (tmp_path / "secret.jpg").write_bytes(image_bytes((1, 2, 3), "JPEG"))
    asked: list[tuple[str, str, str | None]] = []

    def download(repo: str, filename: str, repo_type: str, revision: str | None) -> str:
        asked.append((repo, filename, revision))
        return str(snapshot / filename)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", download)
    monkeypatch.setattr(image_files, "_hf_caches", lambda: [snapshot.resolve()])

    def hub_table(image_1: str) -> Any:
        records = rows(1)
        records[0]["image_1"] = {"bytes": None, "path": image_1}
        records[0]["image_2"] = {"bytes": None, "path": "images/b.jpg"}
        loaded = datasets.Dataset.from_list(records, features=pair_features("AI_question"))
        return lambda name, revision=None, token=None: datasets.DatasetDict({"test": loaded})

    monkeypatch.setattr(pair_tables, "_hub_commit", lambda repo, revision: None)
    monkeypatch.chdir(tmp_path)  # a relative path must not resolve against the working directory
    monkeypatch.setattr(datasets, "load_dataset", hub_table("images/a.jpg"))
    assert cli(["validate-pairs", "hf:hospital/pairs@v3"]) == 0, capsys.readouterr().out
    assert asked[0] == ("hospital/pairs", "images/a.jpg", "v3")
    for reference, problem in [
        ("secret.jpg", "'secret.jpg' is not a file of hospital/pairs"),
        (str(tmp_path / "secret.jpg"), "is outside the dataset's own snapshot"),
        ("../secret.jpg", "climbs out of its folder with '..'"),
    ]:
        monkeypatch.setattr(datasets, "load_dataset", hub_table(reference))
        if reference == "secret.jpg":
            monkeypatch.setattr("huggingface_hub.hf_hub_download", _not_in_repo)
        assert cli(["validate-pairs", "hf:hospital/pairs"]) == 1
        out = capsys.readouterr().out
        assert problem in out, out


def _not_in_repo(repo: str, filename: str, repo_type: str, revision: str | None) -> str:
    raise FileNotFoundError(filename)


def test_dataset_json_image_paths_stay_under_the_images_folder(pytester: pytest.Pytester, sample_dir: Path) -> None:
    records = json.loads((sample_dir / "dataset.json").read_text())
    first, second = list(records)[:2]
    records[first]["im_1"] = "/etc/hosts"
    records[second]["im_2"] = "../../outside/ROCO_1.jpg"
    folder = pytester.path / "tampered"
    folder.mkdir()
    (folder / "dataset.json").write_text(json.dumps(records))
    result = pytester.runpytest("--model=random", f"--dataset={folder}", f"--images={sample_dir / 'images'}", *QUIET)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*pair {first}*field 'im_1': '/etc/hosts' is an absolute path; image paths are relative*",
            f"*pair {second}*field 'im_2': '../../outside/ROCO_1.jpg' climbs out of its folder*",
        ]
    )


def test_a_pair_with_the_same_image_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = rows(2)
    records[1]["image_2"] = records[1]["image_1"]
    parquet = tmp_path / "twice.parquet"
    table(records).to_parquet(str(parquet))
    assert cli(["validate-pairs", str(parquet)]) == 1
    assert "row 2 (pair site-2): both images are image 3: a confusing pair has two images" in capsys.readouterr().out
