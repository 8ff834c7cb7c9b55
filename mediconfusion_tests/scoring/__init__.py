"""Pure scoring core: answer extraction, per-pair judgement, metrics and statistics."""
