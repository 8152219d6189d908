"""The OpenHands agent's tools: files in the workspace only, and trial runs of a harness.

OpenHands resolves tools by registered name and builds them with JSON-able parameters,
so each conversation names its session, and the tools look the session's workspace and
trial runner up here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from openhands.sdk import Action, Observation
from openhands.sdk.tool import ToolAnnotations, ToolDefinition, ToolExecutor, register_tool
from pydantic import Field

from sia_core.api import Trial
from sia_core.api.agents import OutsideWorkspace, confine

MAX_READ = 60_000


@dataclass(frozen=True)
class SessionTools:
    workspace: Path
    trial: Trial | None
    metric: str
    trial_items: int


SESSIONS: dict[str, SessionTools] = {}


def _observe(text: str, error: bool = False) -> Observation:
    return ToolObservation.from_text(text=text, is_error=error)


class ToolObservation(Observation):
    pass


class ReadFileAction(Action):
    path: str = Field(description="File path, relative to the working directory")


class WriteFileAction(Action):
    path: str = Field(description="File path, relative to the working directory")
    content: str = Field(description="The whole new content of the file")


class ListFilesAction(Action):
    path: str = Field(default=".", description="Folder, relative to the working directory")


class RunSampleAction(Action):
    items: int = Field(default=5, description="How many items to run on (at most 20)")
    file: str = Field(default="target_agent.py", description="The harness file to run")


class _Executor(ToolExecutor):
    def __init__(self, session: SessionTools) -> None:
        self.session = session

    def __call__(self, action: Any, conversation: Any = None) -> Observation:
        try:
            return _observe(self.run(action))
        except (OutsideWorkspace, OSError, ValueError) as exc:
            return _observe(str(exc), error=True)

    def run(self, action: Any) -> str:
        raise NotImplementedError


class _Read(_Executor):
    def run(self, action: ReadFileAction) -> str:
        path = confine(self.session.workspace, action.path)
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) > MAX_READ:
            return text[:MAX_READ] + f"\n[... {len(text) - MAX_READ} more characters not shown]"
        return text


class _Write(_Executor):
    def run(self, action: WriteFileAction) -> str:
        path = confine(self.session.workspace, action.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(action.content, encoding="utf-8")
        return f"wrote {len(action.content)} characters to {action.path}"


class _List(_Executor):
    def run(self, action: ListFilesAction) -> str:
        root = confine(self.session.workspace, action.path)
        names = sorted(
            str(p.relative_to(self.session.workspace.resolve())) + ("/" if p.is_dir() else "")
            for p in root.rglob("*")
        )
        return "\n".join(names[:500]) or "(empty)"


class _Trial(_Executor):
    def run(self, action: RunSampleAction) -> str:
        if self.session.trial is None:
            return "run_sample is not available in this run"
        path = confine(self.session.workspace, action.file)
        if not path.is_file():
            raise ValueError(f"{action.file} does not exist yet: write it first")
        report = self.session.trial(path, action.items or self.session.trial_items)
        return report.as_text(self.session.metric)


def _build(
    cls: type[ToolDefinition],
    action: type[Action],
    executor: type[_Executor],
    description: str,
    read_only: bool,
    session: str,
) -> list[Any]:
    return [
        cls(
            action_type=action,
            observation_type=ToolObservation,
            description=description,
            executor=executor(SESSIONS[session]),
            annotations=ToolAnnotations(readOnlyHint=read_only, openWorldHint=False),
        )
    ]


class ReadFileTool(ToolDefinition[ReadFileAction, ToolObservation]):
    @classmethod
    def create(cls, conv_state: Any = None, session: str = "", **params: Any) -> Sequence[Self]:
        return _build(
            cls, ReadFileAction, _Read, "Read a text file in the working directory.", True, session
        )


class WriteFileTool(ToolDefinition[WriteFileAction, ToolObservation]):
    @classmethod
    def create(cls, conv_state: Any = None, session: str = "", **params: Any) -> Sequence[Self]:
        return _build(
            cls,
            WriteFileAction,
            _Write,
            "Create or overwrite a file in the working directory.",
            False,
            session,
        )


class ListFilesTool(ToolDefinition[ListFilesAction, ToolObservation]):
    @classmethod
    def create(cls, conv_state: Any = None, session: str = "", **params: Any) -> Sequence[Self]:
        return _build(
            cls,
            ListFilesAction,
            _List,
            "List the files under a folder of the working directory.",
            True,
            session,
        )


class RunSampleTool(ToolDefinition[RunSampleAction, ToolObservation]):
    @classmethod
    def create(cls, conv_state: Any = None, session: str = "", **params: Any) -> Sequence[Self]:
        return _build(
            cls,
            RunSampleAction,
            _Trial,
            "Run a harness (default target_agent.py) on a few items through the engine's "
            "sandbox and model gateway. Reports whether it ran, the files it wrote, its score "
            "on labelled training items when the task has them, and the end of its output.",
            False,
            session,
        )


# Registered under the names the model sees (OpenHands derives those from the class names).
TOOLS: dict[str, type[ToolDefinition]] = {
    "read_file": ReadFileTool,
    "write_file": WriteFileTool,
    "list_files": ListFilesTool,
    "run_sample": RunSampleTool,
}
for _name, _cls in TOOLS.items():
    register_tool(_name, _cls)
