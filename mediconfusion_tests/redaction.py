"""Secrets the run knows of, scrubbed out of every text it stores or renders.

A secret is the value of a credential variable: the API keys the backends read,
``HF_TOKEN``, and any variable named like a credential (``*_KEY``, ``*_TOKEN``,
``*_SECRET``, ``*_PASSWORD``), from the environment or the ``--env-file``. They are
registered when the plugin or the command line starts, in every process, before any
model is built, so a server that echoes a key (in a reply, an error, the ``model``
field) cannot get it into an answer, the answer store, results.json, the reports,
Allure or the terminal: each of those passes its text through ``scrub`` first.

Values are held as ``Secret``, a ``str`` whose ``repr`` is masked, so a traceback
that shows locals (pytest's ``-l``, ``--tb=long``) prints ``'***'`` for them.
"""

from __future__ import annotations

import html
import json
import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

MASK = "***"
#: Shorter values would match ordinary text; real keys are far longer.
MIN_SECRET = 8
#: The variables the backends read for keys, and Hugging Face's token.
CREDENTIAL_VARIABLES = (
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_COMPATIBLE_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
)
#: Any other variable named like a credential (GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY...).
CREDENTIAL_NAME = re.compile(r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD)S?$", re.IGNORECASE)


class Secret(str):
    """A credential: used as the string it is, shown as ``'***'`` by ``repr`` (tracebacks, locals)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(MASK)


_SECRETS: set[str] = set()
#: Every written form of every secret (as it is, JSON-escaped, HTML-escaped, URL-quoted), longest first.
_FORMS: list[str] = []


def _forms(value: str) -> set[str]:
    return {value, json.dumps(value)[1:-1], html.escape(value), quote(value, safe="")}


def register(value: str | None) -> Secret | None:
    """Remember a secret value (too short ones are not masked: they would match ordinary text)."""
    if not value:
        return None
    secret = Secret(value)
    if len(value) >= MIN_SECRET and value not in _SECRETS:
        _SECRETS.add(str(value))
        _FORMS[:] = sorted({form for known in _SECRETS for form in _forms(known)}, key=len, reverse=True)
    return secret


def is_credential(name: str) -> bool:
    return name in CREDENTIAL_VARIABLES or bool(CREDENTIAL_NAME.search(name))


def register_credentials(values: Mapping[str, str]) -> int:
    """Register every credential among ``values`` (an environment, an env file); how many there were."""
    found = [value for name, value in values.items() if is_credential(name) and value]
    for value in found:
        register(value)
    return len(found)


def register_environment(env_file: Mapping[str, str] | None = None) -> None:
    """The process environment's credentials and the env file's, for a run or a command."""
    register_credentials(os.environ)
    if env_file:
        register_credentials(env_file)


def known() -> bool:
    return bool(_FORMS)


def scrub(text: str) -> str:
    """The text with every known secret, in any written form, replaced by ``***``."""
    if not _FORMS or not text:
        return text
    for form in _FORMS:
        if form in text:
            text = text.replace(form, MASK)
    return text


def scrub_value(value: Any) -> Any:
    """A JSON-like value with every string (keys included) scrubbed."""
    if not _FORMS:
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub_value(k): scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub_value(v) for v in value)
    return value


def contains_secret(texts: Iterable[str]) -> bool:
    return any(form in text for text in texts for form in _FORMS)


def forget_all() -> None:
    """For tests: a process that registers secrets of its own."""
    _SECRETS.clear()
    _FORMS.clear()
