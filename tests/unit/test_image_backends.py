"""--image-backend: which of transformers' image processors a model reads pixels through, and where it applies."""

from __future__ import annotations

import pytest

from mediconfusion_tests.config import RunConfig
from mediconfusion_tests.errors import ModelError, ModelSpecError
from mediconfusion_tests.models import image_backends, registry
from mediconfusion_tests.models.image_backends import backend_of, choose
from mediconfusion_tests.run.lazy_model import identity_key


def test_pil_is_the_originals_choice_under_its_readings_whatever_is_installed() -> None:
    for installed in (False, True):
        chosen = choose("auto", "llava-next", paper_rule=True, paper_readings=True, installed=installed)
        assert chosen.backend == "pil"
        assert "original harness" in chosen.why


def test_elsewhere_auto_leaves_the_choice_to_transformers() -> None:
    off_readings = choose("auto", "llava-next", paper_rule=True, paper_readings=False, installed=True)
    no_rule = choose("auto", "qwen2-vl", paper_rule=False, paper_readings=True, installed=True)
    assert off_readings.backend is None
    assert no_rule.backend is None
    assert "torchvision, installed" in no_rule.why
    assert "torchvision is not installed" in choose("auto", "qwen2-vl", False, True, installed=False).why


def test_a_family_measured_identical_may_use_torchvision_under_the_originals_readings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(image_backends, "TORCHVISION_IDENTICAL", frozenset({"blip2"}))
    assert choose("auto", "blip2", paper_rule=True, paper_readings=True, installed=True).backend is None
    assert choose("auto", "mllama", paper_rule=True, paper_readings=True, installed=True).backend == "pil"


def test_an_explicit_backend_wins_and_torchvision_must_be_installed() -> None:
    assert choose("pil", "qwen2-vl", False, False, installed=True).backend == "pil"
    assert choose("torchvision", "blip2", True, True, installed=True).backend == "torchvision"
    with pytest.raises(ModelError, match="needs torchvision"):
        choose("torchvision", "blip2", True, True, installed=False)
    with pytest.raises(ModelError, match="one of auto, pil, torchvision"):
        choose("fast", "blip2", True, True, installed=True)


def test_the_backend_is_read_from_the_processors_class() -> None:
    class PilBackend:
        pass

    class TorchvisionBackend:
        pass

    class SomeImageProcessorPil(PilBackend):
        pass

    class SomeImageProcessor(TorchvisionBackend):
        pass

    class OwnCode:
        pass

    assert backend_of(SomeImageProcessorPil()) == "pil"
    assert backend_of(SomeImageProcessor()) == "torchvision"
    assert backend_of(OwnCode()) == "OwnCode"


def test_only_models_that_read_pixels_through_transformers_take_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    found = registry.Registry()
    monkeypatch.setattr(registry, "torchvision_installed", lambda: False)
    for spec in ("hf:some/checkpoint", "llava", "demo"):
        found.check_image_backend(found.parse(spec), "pil")
    for spec in ("random", "radfm", "llava-med", "med-flamingo", "gpt-4o", "replay:x.json"):
        found.check_image_backend(found.parse(spec), "auto")
        with pytest.raises(ModelSpecError, match="leave it at auto"):
            found.check_image_backend(found.parse(spec), "pil")
    with pytest.raises(ModelSpecError, match="needs torchvision"):
        found.check_image_backend(found.parse("hf:some/checkpoint"), "torchvision")
    monkeypatch.setattr(registry, "torchvision_installed", lambda: True)
    found.check_image_backend(found.parse("hf:some/checkpoint"), "torchvision")


def test_installing_torchvision_changes_an_auto_runs_recorded_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers' own choice follows what is installed, so a recorded identity (and with it the answer
    store's keys) must not outlive installing torchvision."""
    found = registry.Registry()
    spec = found.parse("hf:some/checkpoint")
    auto, pinned = {}, {}
    for installed in (False, True):
        monkeypatch.setattr("mediconfusion_tests.run.lazy_model.torchvision_installed", lambda i=installed: i)
        auto[installed] = identity_key(spec, RunConfig(model=spec.raw), "v1")
        pinned[installed] = identity_key(spec, RunConfig(model=spec.raw, image_backend="pil"), "v1")
    assert auto[False] != auto[True]
    assert pinned[False] == pinned[True]
    assert pinned[False] not in auto.values()
