"""Whether the Hugging Face hub can be reached, decided once and fast.

huggingface_hub retries a dead connection for tens of seconds per file. When
``HF_HUB_OFFLINE`` is set, or one short connection to the endpoint fails, the
suite reads only what is cached and says at once how to get the rest.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@functools.cache
def _probe(endpoint: str) -> str | None:
    address = urlparse(endpoint)
    host = address.hostname or "huggingface.co"
    port = address.port or (443 if address.scheme != "http" else 80)
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        return f"{host}:{port} cannot be reached ({exc.strerror or type(exc).__name__})"
    return None


def offline_reason() -> str | None:
    """Why the hub is not to be asked (offline setting or unreachable endpoint), or None when it can be."""
    if _truthy(os.environ.get("HF_HUB_OFFLINE")):
        return "HF_HUB_OFFLINE is set"
    return _probe(os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)


def download_hint(repo: str, filename: str | None = None, repo_type: str | None = None, to: str | None = None) -> str:
    """The command that fetches a hub file or repository (the `hf` CLI of current huggingface_hub)."""
    parts = ["hf", "download", repo]
    if filename:
        parts.append(filename)
    if repo_type and repo_type != "model":
        parts += ["--repo-type", repo_type]
    if to:
        parts += ["--local-dir", to]
    return " ".join(parts)
