"""Loading errors that say what to do, the entry-point group, and the batcher's back-off and isolation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.errors import ModelError, ModelOutOfMemory, ModelSpecError
from mediconfusion_tests.models import registry as registry_module
from mediconfusion_tests.models.base import Answer, Model, Query
from mediconfusion_tests.models.registry import ModelEntry, build_registry
from mediconfusion_tests.run.engine import Batcher

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path


def query(pair: str, index: int = 1) -> Query:
    return Query(pair, index, "", "", "Q?", ("a", "b"), "mc", "prompt")


class Fussy(Model):
    """Runs out of memory above ``limit`` queries and fails on one pair."""

    name = "fussy"

    def __init__(self, limit: int = 100, bad: str | None = None) -> None:
        self.limit = limit
        self.bad = bad
        self.batches: list[int] = []

    def answer(self, queries: Sequence[Query]) -> list[Answer]:
        if len(queries) > self.limit:
            raise ModelOutOfMemory("fussy: out of memory")
        if any(q.pair_id == self.bad for q in queries):
            raise RuntimeError("corrupt pixels")
        self.batches.append(len(queries))
        return [Answer("A") for _ in queries]


def test_auto_batch_size_halves_on_out_of_memory() -> None:
    model = Fussy(limit=5)
    batcher = Batcher(model, None, "auto")
    results = batcher.answer([query(str(p), i) for p in range(10) for i in (1, 2)])
    assert len(results) == 20
    assert all(isinstance(value, Answer) for value, _ in results.values())
    assert max(model.batches) <= 5
    assert batcher._size == 4  # 32 -> 16 -> 8 -> 4, then kept for later batches


def test_a_fixed_batch_size_that_does_not_fit_says_so() -> None:
    with pytest.raises(ModelOutOfMemory, match="with a batch of 8; lower --batch-size"):
        Batcher(Fussy(limit=5), None, 8).answer([query(str(p), i) for p in range(4) for i in (1, 2)])


def test_a_failing_pair_does_not_fail_its_batch_mates() -> None:
    batcher = Batcher(Fussy(bad="2"), None, 8)
    results = batcher.answer([query(str(p), i) for p in range(4) for i in (1, 2)])
    failed = sorted(key for key, (value, _) in results.items() if not isinstance(value, Answer))
    assert failed == ["2/1", "2/2"]
    assert results["2/1"][0].message == "RuntimeError: corrupt pixels"  # type: ignore[union-attr]


def test_entry_point_group_adds_models(monkeypatch: pytest.MonkeyPatch) -> None:
    class Point:
        name = "acme"

        @staticmethod
        def load() -> list[ModelEntry]:
            return [ModelEntry("acme-vlm", "ACME's model", "acme.models:make")]

    monkeypatch.setattr(
        registry_module, "entry_points", lambda group: [Point()] if group == "mediconfusion.models" else []
    )
    assert "acme-vlm" in build_registry().names()


def test_entry_point_of_the_wrong_type_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    class Point:
        name = "broken"

        @staticmethod
        def load() -> list[str]:
            return ["nope"]

    monkeypatch.setattr(registry_module, "entry_points", lambda group: [Point()])
    with pytest.raises(ModelSpecError, match=r"entry point 'broken' in mediconfusion\.models gave 'nope', not a"):
        build_registry()


def test_custom_code_needs_trust_remote_code(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from mediconfusion_tests.models.hf_loading import LoadSettings, load

    auto_map = {"AutoConfig": "configuration_x.XConfig", "AutoModelForImageTextToText": "modeling_x.XModel"}
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "my_custom_vlm", "auto_map": auto_map}))
    with pytest.raises(
        ModelError, match="ships its own model code; if you trust it, run again with --trust-remote-code"
    ):
        load(LoadSettings(str(tmp_path)))


class GatedHub(BaseHTTPRequestHandler):
    def _refuse(self) -> None:
        self.send_response(403)
        self.send_header("X-Error-Code", "GatedRepo")
        self.send_header("X-Error-Message", "Access to model google/medgemma-4b-it is restricted.")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET = _refuse

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gated_hub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), GatedHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_gated_checkpoint_names_licence_and_token(gated_hub: str, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    code = (
        "from mediconfusion_tests.models.hf_factories import BY_NAME, load_settings\n"
        "from mediconfusion_tests.models.hf_loading import load\n"
        "from mediconfusion_tests.config import RunConfig\n"
        "from mediconfusion_tests.errors import ModelError\n"
        "preset = BY_NAME['medgemma']\n"
        "try:\n"
        "    load(load_settings(preset.checkpoint, RunConfig(model='medgemma'), preset))\n"
        "except ModelError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "HF_ENDPOINT": gated_hub, "HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path)}
    env.pop("HF_TOKEN", None)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert (
        "google/medgemma-4b-it is a gated checkpoint: accept its licence at https://huggingface.co/google/medgemma-4b-it"
        in result.stdout
    ), result.stderr[-2000:]
    assert "HF_TOKEN" in result.stdout


def test_sampling_is_part_of_the_answer_key() -> None:
    pytest.importorskip("transformers")
    from mediconfusion_tests.models.hf import Generation

    assert not Generation().sampling
    assert Generation(temperature=0.7, seed=3).sampling
