"""The base of every value the suite computes and records: one type per value, the same at run time and in
results.json (as inspect_ai's log types are its runtime types)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """Strict by default: a misspelt or unknown field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
