"""Prices per million tokens (input, output) in USD, for the cost in results.json and --max-cost.

List prices as published by the providers for standard (not batch) use; they
change, so each row says when it was read. A model missing here has no cost
(``--max-cost`` refuses it before any request; ``--max-requests`` still works).
"""

from __future__ import annotations

#: model name prefix -> (input, output) USD per 1M tokens, as read on the date beside it.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),  # 2025-11
    "gpt-4o-2024-05-13": (5.00, 15.00),  # 2025-11: the paper's GPT-4o snapshot
    "gpt-4o": (2.50, 10.00),  # 2025-11
    "gpt-4.1-mini": (0.40, 1.60),  # 2025-11
    "gpt-4.1": (2.00, 8.00),  # 2025-11
    "claude-3-opus": (15.00, 75.00),  # 2025-11: the paper's Claude
    "claude-opus-4": (15.00, 75.00),  # 2025-11
    "claude-sonnet-4": (3.00, 15.00),  # 2025-11
    "claude-3-5-sonnet": (3.00, 15.00),  # 2025-11
    "gemini-1.5-pro": (1.25, 5.00),  # 2025-11: the paper's Gemini, prompts up to 128k tokens
    "gemini-2.5-pro": (1.25, 10.00),  # 2025-11, prompts up to 200k tokens
    "gemini-2.5-flash": (0.30, 2.50),  # 2025-11
}


def price(model: str) -> tuple[float, float] | None:
    """The longest listed prefix of ``model`` (so dated snapshots find their family)."""
    matches = [name for name in PRICES if model.startswith(name)]
    return PRICES[max(matches, key=len)] if matches else None


def cost(model: str, tokens_in: int, tokens_out: int) -> float | None:
    found = price(model)
    if found is None:
        return None
    return (tokens_in * found[0] + tokens_out * found[1]) / 1e6
