"""What a harness setting does to a few rows, as one digest: the model requests it sent
for each row and the reward each row got. Two knob settings with the same digest are
taken to be the same harness, so the knob search tells the second the first's score
instead of spending a selection run on it (SHOTS once demo ids are set, VOTES at
temperature 0)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

IGNORED_FIELDS = frozenset({"stream", "stream_options", "user", "metadata"})
"""Request fields that change how a reply travels or is labelled, not what it says."""


def _greedy(request: Mapping[str, Any]) -> bool:
    temperature = request.get("temperature")
    return isinstance(temperature, (int, float)) and temperature == 0


def requests_digest(calls: list[dict[str, Any]], rewards: Mapping[str, float]) -> str | None:
    """The digest of one run on the probe rows; None when it says nothing (no model call:
    a classical harness's knobs act without one, so equal requests prove nothing).

    A row's requests are compared as a multiset, since a harness's threads send them in
    any order; repeats of a greedy request (temperature 0) count once, because they get
    the same reply, while sampled repeats are votes and their number matters."""
    by_item: dict[str, list[str]] = {}
    for call in calls:
        request = call.get("request")
        if not isinstance(request, dict):
            continue
        body = json.dumps(
            {k: v for k, v in request.items() if k not in IGNORED_FIELDS}, sort_keys=True
        )
        by_item.setdefault(str(call.get("item_id") or ""), []).append(
            ("greedy:" if _greedy(request) else "sampled:") + body
        )
    if not by_item:
        return None
    canonical = {
        item: sorted({b for b in bodies if b.startswith("greedy:")})
        + sorted(b for b in bodies if b.startswith("sampled:"))
        for item, bodies in by_item.items()
    }
    blob = json.dumps(
        {"requests": canonical, "rewards": {k: rewards[k] for k in sorted(rewards)}},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]
