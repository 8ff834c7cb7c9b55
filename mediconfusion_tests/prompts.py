"""Prompt text per answering mode: our built-in set, or the paper's prompt file.

Templates use {question}, {option_a}, {option_b}. In ``prefix`` mode the
template holds the question only; each option's text is scored as the
continuation. The judge template grades a free-form answer against both
options. The exact text sent to the model is recorded with every answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediconfusion_tests.errors import ConfigError

if TYPE_CHECKING:
    from mediconfusion_tests.data.schema import Pair

BUILTIN_NAME = "builtin-v1"
BUILTIN_TEMPLATES: dict[str, str] = {
    "mc": (
        "Look at the image and answer the multiple-choice question.\n"
        "Question: {question}\n"
        "A: {option_a}\n"
        "B: {option_b}\n"
        "Reply with the letter of the correct option, A or B, and nothing else."
    ),
    "greedy": (
        "Look at the image and choose the correct option.\n"
        "Question: {question}\n"
        "A: {option_a}\n"
        "B: {option_b}\n"
        "Answer with the option's letter."
    ),
    "prefix": "Look at the image and answer the question.\nQuestion: {question}",
    "freeform": "Look at the image and answer the question.\n{question}",
}
BUILTIN_JUDGE = (
    "You compare an AI assistant's answer with two reference answers to the same question about an image.\n\n"
    "[Question]\n{question}\n\n[Answer A]\n{option_a}\n\n[Answer B]\n{option_b}\n\n"
    "[Assistant]\n{response}\n\n[End of Assistant]\n\n"
    "Give each reference answer a score from 1 to 10: how close the assistant's answer is to it. Do not judge "
    "which answer is medically right. Reply in exactly this form:\n"
    "A: <score>\nB: <score>\nYour explanation: <one sentence>"
)
#: The paper's file names our modes differently: its "gpt4" is our free-form mode.
PAPER_MODES = {"mc": "mc", "greedy": "greedy", "prefix": "prefix", "freeform": "gpt4"}
_SLOTS = {"mc": 3, "greedy": 3, "prefix": 2, "freeform": 1}
_NAMES = ("{question}", "{option_a}", "{option_b}")


@dataclass(frozen=True)
class PromptSet:
    name: str
    templates: dict[str, str]
    judge: str = BUILTIN_JUDGE
    judge_system: str | None = None
    #: The system message API models get with every question (the paper file's init prompt).
    system: str | None = None
    #: The judge's sampling temperature, where the prompt file fixes one (the paper's: 0.7).
    judge_temperature: float | None = None

    def render(self, mode: str, pair: Pair) -> str:
        return self.templates[mode].format(question=pair.question, option_a=pair.options[0], option_b=pair.options[1])

    def render_judge(self, pair: Pair, response: str | None) -> str:
        return self.judge.format(
            question=pair.question, option_a=pair.options[0], option_b=pair.options[1], response=response or ""
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "templates": self.templates,
            "judge": self.judge,
            "judge_system": self.judge_system,
            "system": self.system,
            "judge_temperature": self.judge_temperature,
        }


BUILTIN = PromptSet(BUILTIN_NAME, BUILTIN_TEMPLATES)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _named(template: str, mode: str, where: str) -> str:
    """A positional-{} paper template as a named one; prefix keeps only the text before the option."""
    parts = template.split("{}")
    if len(parts) - 1 != _SLOTS[mode]:
        raise ConfigError(
            f"{where}: expected {_SLOTS[mode]} '{{}}' placeholder(s) for mode {mode}, found {len(parts) - 1}"
        )
    if mode == "prefix":
        # "Question: {} Answer: {}": the option is the continuation the model is scored on.
        return _escape(parts[0]) + "{question}" + _escape(parts[1])
    out = _escape(parts[0])
    for name, part in zip(_NAMES, parts[1:], strict=False):
        out += name + _escape(part)
    return out


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--prompts {path}: cannot read the prompt file ({exc})") from exc
    table = data.get("prompts") if isinstance(data, dict) else None
    if not isinstance(table, dict):
        raise ConfigError(f"--prompts {path}: expected an object with a 'prompts' table")
    return data, table


def check_prompt_file(path: Path) -> None:
    """Every template of every model key, checked before any model loads."""
    _, table = _read(path)
    for mode, paper_mode in PAPER_MODES.items():
        entries = table.get(paper_mode)
        if not isinstance(entries, dict) or not isinstance(entries.get("default"), str):
            raise ConfigError(f"--prompts {path}: needs prompts.{paper_mode}.default (our mode {mode})")
        for key, template in entries.items():
            if not isinstance(template, str):
                raise ConfigError(f"--prompts {path}: prompts.{paper_mode}.{key} is not a string")
            _named(template, mode, f"--prompts {path}: prompts.{paper_mode}.{key}")


def load_paper_prompts(path: Path, key: str = "default") -> PromptSet:
    """The paper's prompt file: prompts.<mode>.<model key or "default">, plus its judge ("conversion") block."""
    data, table = _read(path)
    templates = {}
    for mode, paper_mode in PAPER_MODES.items():
        entries = table.get(paper_mode)
        if not isinstance(entries, dict):
            raise ConfigError(f"--prompts {path}: no prompts.{paper_mode} table (our mode {mode})")
        chosen = key if key in entries else "default"
        template = entries.get(chosen)
        if not isinstance(template, str):
            raise ConfigError(f"--prompts {path}: prompts.{paper_mode} has neither {key!r} nor 'default'")
        templates[mode] = _named(template, mode, f"--prompts {path}: prompts.{paper_mode}.{chosen}")
    judge, system = BUILTIN_JUDGE, None
    judge_temperature: float | None = None
    conversion = data.get("conversion")
    if isinstance(conversion, dict) and isinstance(conversion.get("instruct_prompt"), str):
        role = _escape(str(conversion.get("role", "Assistant")))
        judge = (
            "[Question]\n{question}\n\n[Answer A]\n{option_a}\n\n[Answer B]\n{option_b}\n\n"
            f"[{role}]\n{{response}}\n\n[End of {role}]\n\n[System]\n{_escape(conversion['instruct_prompt'])}\n\n"
        )
        system = conversion.get("init_prompt")
        temperature = conversion.get("temperature")
        if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
            judge_temperature = float(temperature)
    init = data.get("init_prompts")
    initial = None
    if isinstance(init, dict):
        chosen_init = init.get(key, init.get("default"))
        initial = chosen_init if isinstance(chosen_init, str) else init.get("default")
    return PromptSet(
        f"paper:{path.name}:{key}",
        templates,
        judge,
        system,
        initial if isinstance(initial, str) else None,
        judge_temperature,
    )


def prompt_set(path: str | None, key: str) -> PromptSet:
    return BUILTIN if path is None else load_paper_prompts(Path(path), key)


def prompt_source(path: str | None) -> dict[str, str]:
    """Which prompts a run used, as recorded in results.json: built-in set or file, and a content hash."""
    if path is None:
        content = json.dumps([BUILTIN_TEMPLATES, BUILTIN_JUDGE], sort_keys=True).encode()
        return {"source": BUILTIN_NAME, "sha256": hashlib.sha256(content).hexdigest()}
    return {"source": path, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
