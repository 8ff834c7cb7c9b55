"""API keys: read from the environment or a ``.env`` file, and never written anywhere.

Every key read is registered with ``mediconfusion_tests.redaction`` and handed to the
SDK as a ``Secret`` (masked ``repr``); every text the run stores or renders is scrubbed
of it there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mediconfusion_tests.errors import ConfigError
from mediconfusion_tests.redaction import Secret, register, register_credentials


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
        register_credentials(self.file)

    def __repr__(self) -> str:
        return f"Environment(env_file={self.env_file!r})"

    def get(self, name: str) -> str | None:
        value = os.environ.get(name) or self.file.get(name)
        return value or None

    def secret(self, name: str) -> Secret | None:
        return register(self.get(name))

    def where(self) -> str:
        return "the environment" + (f" or {self.env_file}" if self.env_file else " (or a file passed with --env-file)")
