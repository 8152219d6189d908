"""What the coding-agent backends (Claude, OpenHands) share: the workspace an agent works
in, the evidence it is shown, its prompts, how its decision is checked, and what its
session cost. Each backend supplies only the agent loop itself (see `session.py`)."""
