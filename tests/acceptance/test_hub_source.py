"""--dataset=hub against a local server playing the Hugging Face hub (HF_ENDPOINT), then offline."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar

import pytest
from helpers import read_results

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MAIN_COMMIT = "a" * 40
TAG_COMMIT = "b" * 40
RESOLVE = "/datasets/shahab7899/MediConfusion/resolve/"


class FakeHub(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def _respond(self, body: bool) -> None:
        revision, _, name = self.path.removeprefix(RESOLVE).partition("/")
        if not self.path.startswith(RESOLVE) or revision not in self.files or name != "dataset.json":
            self.send_response(404)
            self.send_header("X-Error-Code", "RevisionNotFound" if name == "dataset.json" else "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        commit, content = self.files[revision]
        self.send_response(200)
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", '"' + hashlib.sha256(content).hexdigest() + '"')
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if body:
            self.wfile.write(content)

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def do_GET(self) -> None:
        self._respond(body=True)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(sample_dir: Path) -> Iterator[str]:
    """Serves the sample's records as the hub dataset: 16 pairs on main, 10 at tag v1.0."""
    full = (sample_dir / "dataset.json").read_bytes()
    smaller = json.dumps(dict(list(json.loads(full).items())[:10])).encode()
    FakeHub.files = {"main": (MAIN_COMMIT, full), MAIN_COMMIT: (MAIN_COMMIT, full), "v1.0": (TAG_COMMIT, smaller)}
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def resolve(env: dict[str, str], revision: str | None) -> subprocess.CompletedProcess[str]:
    code = (
        "import json, sys\n"
        "from mediconfusion_tests.data.sources import resolve_dataset, load_pairs\n"
        "from mediconfusion_tests.errors import DataError\n"
        "try:\n"
        f"    info = resolve_dataset('hub', {revision!r})\n"
        "except DataError as exc:\n"
        "    print(exc); sys.exit(3)\n"
        "print(json.dumps({'revision': info.revision, 'pairs': len(load_pairs(info))}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_download_pin_and_offline_cache(hub: str, tmp_path: Path) -> None:
    env = {**os.environ, "HF_ENDPOINT": hub, "HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}
    online = resolve(env, None)
    assert json.loads(online.stdout) == {"revision": MAIN_COMMIT, "pairs": 16}, online.stderr
    pinned = resolve(env, "v1.0")
    assert json.loads(pinned.stdout) == {"revision": TAG_COMMIT, "pairs": 10}, pinned.stderr
    unknown = resolve(env, "v9")
    assert unknown.returncode == 3
    assert "has no revision 'v9'" in unknown.stdout
    offline = resolve({**env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}, None)
    assert json.loads(offline.stdout) == {"revision": MAIN_COMMIT, "pairs": 16}, offline.stderr
    nothing_cached = resolve({**env, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty")}, None)
    assert nothing_cached.returncode == 3
    assert "Nothing usable is cached" in nothing_cached.stdout


def test_default_source_is_the_hub_and_results_record_its_commit(
    hub: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    result = pytester.runpytest_subprocess("--model=random", "-n", "2", "--gate", "set_accuracy>=0.1")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["model random · mode mc · dataset shahab7899/MediConfusion@aaaaaaaaaaaa*"])
    results = read_results(pytester.path)
    assert results["dataset"]["source"] == "hub"
    assert results["dataset"]["revision"] == MAIN_COMMIT
    assert results["counts"]["pairs_scored"] == 16
    assert list(results["metrics"]["categories"])[:2] == ["Cerebral", "Musculoskeletal"]
