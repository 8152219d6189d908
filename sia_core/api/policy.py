"""For policy-host plugins: the worker that serves and trains the open-weight task model
(the same one sia runs in its own process), and the RL algorithms whose trainer packages
a remote worker needs. Importing this module does not import torch; the worker does when
it starts."""

from __future__ import annotations

from sia_core.plugins import rl_algorithms
from sia_core.policy.worker import PolicyWorker
from sia_core.specs import PolicyConnection

__all__ = ["PolicyConnection", "PolicyWorker", "rl_algorithms"]
