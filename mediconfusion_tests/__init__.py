"""MediConfusion as a pytest release gate for multimodal medical models."""

from __future__ import annotations

__version__ = "0.2.0"
