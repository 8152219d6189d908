"""Everything a plugin author needs: `from sia_core.api import ...`.

Names here and in the sub-namespaces are the stable surface; the modules behind them may
move. Bundled plugins import sia only from here, `sia_core.hookspecs` and
`sia_core.testing` (a test fails otherwise). Importing this module is cheap (no torch,
transformers, litellm or anthropic), so a plugin's entry point may import from it.

- `sia_core.api`: registering, backends, RL algorithms, sandbox contracts, tasks.
- `sia_core.api.tasks`: building task packs (cache, downloads, atomic directories).
- `sia_core.api.agents`: the pieces of a coding-agent backend (sessions, workspace).
- `sia_core.api.sandboxes`: the pieces of a sandbox (bubblewrap, cgroups, seccomp,
  the exec-stream relay for remote boxes).
- `sia_core.api.policy`: the policy worker a policy host runs.
"""

from __future__ import annotations

from sia_core.backends.contract import (
    Backend,
    BackendCannotAct,
    Decision,
    FeedbackContext,
    GenerationView,
    MetaContext,
    NothingLeftToImprove,
    Trial,
    TrialReport,
    start_from_reference,
)
from sia_core.errors import SiaError
from sia_core.execution.evaluation import Evaluation, ItemResult
from sia_core.hookspecs import hookimpl
from sia_core.options import OptionError, OptionInfo, option, parse
from sia_core.sandbox.api import GatewayLink, Sandbox, SandboxJob, SandboxResult
from sia_core.sandbox.bwrap import SandboxUnavailable
from sia_core.sandbox.copyback import CopyBackError, copy_back
from sia_core.specs import (
    AlgorithmInfo,
    BackendSpec,
    PolicyConnection,
    PolicyHostSpec,
    RewardClassifierSpec,
    RLAlgorithmSpec,
    SandboxSpec,
    ShapeReport,
    TaskInfo,
    TaskLoaderSpec,
)
from sia_core.tasks.task import Task
from sia_core.weights.rl import (
    Group,
    PolicyHandle,
    RLBatch,
    RLConfig,
    Sample,
    TrainResult,
    completion_logprobs,
    k3_kl,
    minibatches,
    optimise,
    reference_kl,
)

__all__ = [
    # registering
    "hookimpl",
    "BackendSpec",
    "PolicyConnection",
    "PolicyHostSpec",
    "SandboxSpec",
    "AlgorithmInfo",
    "RLAlgorithmSpec",
    "RewardClassifierSpec",
    "TaskLoaderSpec",
    "TaskInfo",
    # options (RL algorithm configs)
    "option",
    "OptionInfo",
    "OptionError",
    "parse",
    # backends
    "Backend",
    "Decision",
    "MetaContext",
    "FeedbackContext",
    "GenerationView",
    "Trial",
    "TrialReport",
    "BackendCannotAct",
    "NothingLeftToImprove",
    "start_from_reference",
    "ShapeReport",
    # RL algorithms
    "RLBatch",
    "RLConfig",
    "Group",
    "Sample",
    "PolicyHandle",
    "TrainResult",
    "minibatches",
    "optimise",
    "reference_kl",
    "completion_logprobs",
    "k3_kl",
    # sandboxes
    "Sandbox",
    "SandboxJob",
    "SandboxResult",
    "GatewayLink",
    "SandboxUnavailable",
    "copy_back",
    "CopyBackError",
    # tasks and results
    "Task",
    "Evaluation",
    "ItemResult",
    "SiaError",
]
