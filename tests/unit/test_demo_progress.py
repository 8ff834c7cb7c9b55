"""The demo's first training reports its progress on the controller, then never again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.models import demo
from mediconfusion_tests.models.base import ModelSpec

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest


def test_training_progress_is_said_every_hundred_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDICONFUSION_CACHE", str(tmp_path))
    built: list[Path] = []

    def fake_build(folder: Path, progress: Callable[[int, int], None] | None = None) -> None:
        assert progress is not None
        for step in range(1, 251):
            progress(step, 250)
        (folder / "config.json").write_text("{}")
        built.append(folder)

    monkeypatch.setattr(demo, "_build", fake_build)
    lines: list[str] = []
    spec = ModelSpec("demo", "demo")
    demo.prepare_demo(spec, RunConfig(model="demo"), lines.append)
    assert lines[0].startswith("demo model: first use, training a tiny LLaVA")
    assert [line.split(",")[0] for line in lines[1:]] == [
        "demo model: step 100/250",
        "demo model: step 200/250",
        "demo model: step 250/250",
    ]
    assert "left" in lines[1]
    assert lines[-1].endswith("done")
    assert (demo.demo_folder() / "config.json").is_file()
    lines.clear()
    demo.prepare_demo(spec, RunConfig(model="demo"), lines.append)
    assert lines == []
    assert len(built) == 1
