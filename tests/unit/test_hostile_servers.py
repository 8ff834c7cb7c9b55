"""A secret the run holds prints masked."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")


def test_a_secret_held_by_the_run_prints_masked() -> None:
    from mediconfusion_tests.redaction import MASK, register, scrub

    secret = register("sk-held-0123456789")
    assert repr(secret) == repr(MASK)
    assert f"Bearer {secret}" == "Bearer sk-held-0123456789"  # used as the string it is
    assert scrub("key=sk-held-0123456789") == "key=***"
