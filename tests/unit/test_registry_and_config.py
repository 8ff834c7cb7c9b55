"""The model registry and RunConfig: known models, arguments, pyproject settings, GPU assignment."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from mediconfusion_tests.config import RunConfig, read_file_settings, validate
from mediconfusion_tests.errors import ConfigError, ModelSpecError
from mediconfusion_tests.models.registry import ModelEntry, Registry, build_registry
from mediconfusion_tests.plugin.gpus import gpus_for_worker, visible_gpus

if TYPE_CHECKING:
    from pathlib import Path


def test_known_models_and_arguments() -> None:
    registry = Registry()
    assert registry.parse("random").name == "random"
    spec = registry.parse("replay:/tmp/x.json")
    assert (spec.name, spec.argument) == ("replay", "/tmp/x.json")
    with pytest.raises(
        ModelSpecError, match=r"unknown model 'gpt-9'\. Known models: always-a, always-b, anthropic, blip2, claude"
    ):
        registry.parse("gpt-9")
    with pytest.raises(ModelSpecError, match="needs an argument"):
        registry.parse("replay")
    with pytest.raises(ModelSpecError, match="takes no argument"):
        registry.parse("random:3")


def test_unsupported_mode_is_a_usage_error() -> None:
    registry = Registry([ModelEntry("mc-only", "x", "x:y", modes=frozenset({"mc"}))])
    with pytest.raises(ModelSpecError, match="does not support --mode=greedy; it supports mc"):
        registry.check_mode(registry.parse("mc-only"), "greedy")


def test_freeform_needs_a_judge_for_models_that_do_not_score_themselves() -> None:
    registry = Registry()
    with pytest.raises(ModelSpecError, match="needs a judge that scores its answers: --judge=SPEC"):
        registry.check_mode(registry.parse("demo"), "freeform")
    registry.check_mode(registry.parse("demo"), "freeform", judge="demo")
    registry.check_mode(registry.parse("random"), "freeform")


def test_hook_entries_are_added_and_win() -> None:
    entry = ModelEntry("random", "mine", "x:y")
    registry = build_registry([[entry], [ModelEntry("extra", "e", "x:y")]])
    assert registry.entry(registry.parse("random")).summary == "mine"
    assert "extra" in registry.names()


def test_pyproject_settings(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.mediconfusion]\ngate = "set_accuracy>=0.3"\nmode = "greedy"\nresults-dir = "out"\n')
    assert read_file_settings(path) == {"gates": ("set_accuracy>=0.3",), "mode": "greedy", "results_dir": "out"}
    path.write_text('[tool.mediconfusion]\ngates = ["x"]\n')
    with pytest.raises(ConfigError, match="unknown key 'gates'"):
        read_file_settings(path)
    path.write_text("[tool.mediconfusion\n")
    with pytest.raises(ConfigError, match="cannot read"):
        read_file_settings(path)
    assert read_file_settings(tmp_path / "absent.toml") == {}


def test_validate_values_from_files() -> None:
    with pytest.raises(ConfigError, match="unknown mode 'chat'"):
        validate(RunConfig(mode="chat"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="seed must be an integer"):
        validate(RunConfig(seed="1"))  # type: ignore[arg-type]


def test_config_round_trips_through_builtins() -> None:
    config = RunConfig(model="random", gates=("set_accuracy>=0.2",), seed=3)
    assert RunConfig.from_dict(config.to_dict()) == config


def test_gpu_assignment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert visible_gpus() == ["5", "7"]
    assert [gpus_for_worker(w, ["5", "7"]) for w in ("gw0", "gw1", "gw2")] == ["5", "7", "5"]
    assert gpus_for_worker("main", ["5"]) is None
    assert gpus_for_worker("gw0", []) is None
    four = ["0", "1", "2", "3"]
    assert [gpus_for_worker(w, four, 2) for w in ("gw0", "gw1", "gw2")] == ["0,1", "2,3", "0,1"]
    assert gpus_for_worker("gw1", ["0"], 2) == "0"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_each_xdist_worker_gets_its_share_of_the_cores() -> None:
    from mediconfusion_tests.plugin.gpus import threads_for_worker

    assert threads_for_worker(2, 2, None) == 1
    assert threads_for_worker(4, 16, None) == 4
    assert threads_for_worker(8, 4, None) == 1  # never zero
    assert threads_for_worker(2, 16, 3) == 3  # --threads-per-worker wins
