"""How a coding-agent session is run: its model, caps and the names of its tools (the
prompts name them, so each backend says what its own are called)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    backend: str
    model: str
    max_turns: int = 40
    timeout_s: float = 1800.0
    trial_items: int = 5
    evidence_tokens: int = 6000
    read_tool: str = "read_file"
    write_tool: str = "write_file"
    trial_tool: str = "run_sample"
