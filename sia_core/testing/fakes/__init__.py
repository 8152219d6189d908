"""Fake model providers on 127.0.0.1 that speak the real wire formats, for tests and
benchmarks: the real SDKs talk to them through a base URL (`ANTHROPIC_BASE_URL`,
`api_base`, `base_url`). Both share one HTTP base (`http.FakeProvider`)."""

from sia_core.testing.fakes.anthropic_api import FakeAnthropic, text_reply, tool_results
from sia_core.testing.fakes.http import FakeProvider, wait_until
from sia_core.testing.fakes.openai_api import FakeOpenAI, echo_reply, serve_in_subprocess

__all__ = [
    "FakeAnthropic",
    "FakeOpenAI",
    "FakeProvider",
    "echo_reply",
    "serve_in_subprocess",
    "text_reply",
    "tool_results",
    "wait_until",
]
