"""The task model a run serves through its gateways: an API model through litellm, or the
local policy (loaded on first use: it is heavy) with the adapter of the generation being
evaluated. One object owns which model and which adapter are live."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sia_core import plugins
from sia_core.console_log import quiet_local_model, third_party_to
from sia_core.errors import SiaError
from sia_core.gateway.reach import unreachable
from sia_core.gateway.upstream import OpenAIWireModel, passthrough_model
from sia_core.policy.models import ChatModel, LiteLLMModel
from sia_core.policy.registry import is_local_model, needs_conversion
from sia_core.policy.remote import RemotePolicy
from sia_core.progress import Reporter

if TYPE_CHECKING:
    from sia_core.policy.local import LocalPolicy


def api_model(
    name: str, api_base: str | None, log_path: Path | None = None
) -> ChatModel | OpenAIWireModel:
    """A model that speaks the OpenAI wire format is forwarded as it is (fast); litellm
    translates for the others. SIA_GATEWAY_PASSTHROUGH=0 sends every model through
    litellm (for a server whose OpenAI dialect litellm knows better)."""
    if os.environ.get("SIA_GATEWAY_PASSTHROUGH", "1") != "0":
        forwarding = passthrough_model(name, api_base)
        if forwarding is not None:
            return forwarding
    return LiteLLMModel(name, api_base=api_base, log_path=log_path)


class TaskModel:
    def __init__(
        self,
        name: str | None,
        api_base: str | None,
        lora: dict[str, Any],
        seed: int,
        log_path: Path,
        host: str | None = None,
        host_options: dict[str, str] | None = None,
        exact: bool = False,
    ) -> None:
        self.name = name
        self.api_base = api_base
        self.exact = exact
        """Greedy calls sampled alone by the open-weight policy (LocalPolicy.exact)."""
        self.local = name if name and is_local_model(name) else None
        """The open-weight model's name when the policy is local, else None."""
        self.lora = lora
        self.seed = seed
        self.log_path = log_path
        """Where the third-party output of loading and training goes (RUN/sia.log)."""
        self.host = host
        """The policy host that serves and trains the open-weight model (None: here)."""
        self.host_options = host_options or {}
        self.policy: LocalPolicy | RemotePolicy | None = None
        self.model: ChatModel | OpenAIWireModel | None = (
            api_model(name, api_base, log_path) if name and not self.local else None
        )

    def unreachable(self) -> str | None:
        """Why this task model cannot answer, in one line (a provider key not set, a
        `--task-model-base` server that does not answer), or None."""
        return unreachable(self.name, self.api_base, local=self.local is not None)

    def serve(self, adapter: Path | None, reporter: Reporter) -> None:
        """Make the task model the local policy with `adapter`, loading it if needed."""
        if self.local is None:
            return
        if self.policy is not None:
            # Weights trained since loading (a generation or candidate that was not kept)
            # are not the adapter's any more: serving it again reloads it.
            if self.policy.adapter != adapter or getattr(self.policy, "trained", False):
                with third_party_to(self.log_path):  # peft warns while swapping adapters
                    self.policy.use_adapter(adapter)
            return
        if self.host is not None:
            self._serve_remote(adapter, reporter)
            return
        try:
            import torch

            from sia_core.policy.local import LocalPolicy, lora_settings
        except ImportError as exc:
            raise SiaError(
                f"the open-weight task model {self.local} needs the local extra "
                f"({exc.name} is missing): install torch, then pip install 'sia-core[local]'"
            ) from None
        # Seeded; without `exact`, which greedy calls share a batch depends on the timing
        # of the agent's threads, and so may the last bits of their logits.
        torch.manual_seed(self.seed)
        # The first use is long and would otherwise be silent: say what is happening.
        if needs_conversion(self.local):
            reporter.info(
                f"task model {self.local}: converting its GGUF weights once (about a minute; "
                "kept in sia's cache), then loading it"
            )
        else:
            reporter.info(f"loading task model {self.local}")
        with reporter.phase(f"loading task model {self.local}"), third_party_to(self.log_path):
            self.policy = LocalPolicy.load(self.local, adapter, lora=lora_settings(self.lora))
        quiet_local_model(self.log_path)  # it answers from the gateway's threads from now on
        self.policy.exact = self.exact
        self.policy.seed = self.seed
        self.model = self.policy

    def _serve_remote(self, adapter: Path | None, reporter: Reporter) -> None:
        assert self.local is not None and self.host is not None
        spec = plugins.policy_host(self.host)
        worker = {
            "model": self.local,
            "lora": self.lora,
            "seed": self.seed,
            "run": self.log_path.parent.name,
            "exact": self.exact,
        }
        with reporter.phase(f"starting task model {self.local} on {self.host}"):
            with third_party_to(self.log_path):
                connection = spec.factory(self.host_options, worker)
            policy = RemotePolicy(self.local, connection, self.host)
            if adapter is not None:
                policy.use_adapter(adapter)
        self.policy = policy
        self.model = policy

    def close(self) -> None:
        """Stop a policy host's worker (a local policy goes with the process)."""
        if self.policy is not None:
            self.policy.close()
