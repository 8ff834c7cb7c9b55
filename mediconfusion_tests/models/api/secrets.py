"""API keys: read from the environment or a ``.env`` file, and never written anywhere.

Every key read is registered; ``redact`` replaces it (and the bearer form of it) in
any text before that text reaches an error message, an answer's metadata or a log.
The answer store, results.json, the reports and Allure only ever see redacted text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mediconfusion_tests.errors import ConfigError

_SECRETS: set[str] = set()
#: Shorter values would match ordinary text; real keys are far longer.
MIN_SECRET = 8
MASK = "***"


def register(value: str | None) -> str | None:
    if value and len(value) >= MIN_SECRET:
        _SECRETS.add(value)
    return value


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines; ``export`` prefixes, quotes and ``#`` comments as in a shell's .env."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"--env-file {path}: cannot read it ({exc.strerror or exc})") from None
    values: dict[str, str] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)", line)
        if match is None:
            raise ConfigError(f"--env-file {path}:{number}: expected KEY=value")
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[match.group(1)] = value
    return values


class Environment:
    """Variables from the process environment, else from the --env-file; every value read is a secret."""

    def __init__(self, env_file: str | None = None) -> None:
        self.file = read_env_file(Path(env_file)) if env_file else {}
        self.env_file = env_file

    def get(self, name: str) -> str | None:
        value = os.environ.get(name) or self.file.get(name)
        return value or None

    def secret(self, name: str) -> str | None:
        return register(self.get(name))

    def where(self) -> str:
        return "the environment" + (f" or {self.env_file}" if self.env_file else " (or a file passed with --env-file)")
