"""Prompt text per answering mode. Our own wording; the exact text is recorded in results.

Placeholders: {question}, {option_a}, {option_b}. In ``prefix`` mode the
prompt asks the question and each option's text is scored as the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class PromptSet:
    name: str
    templates: dict[str, str]

    def render(self, mode: str, pair: Pair) -> str:
        return self.templates[mode].format(question=pair.question, option_a=pair.options[0], option_b=pair.options[1])


BUILTIN = PromptSet(BUILTIN_NAME, BUILTIN_TEMPLATES)
