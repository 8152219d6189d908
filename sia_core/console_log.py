"""Keeping third-party chatter off sia's console.

Loading and training the local policy makes transformers, peft and torch print progress
bars and warnings to stderr, between sia's own lines. While they work, stderr (the file
descriptor, so C extensions and tqdm are caught too) and Python's warnings go to the
run's log file, `RUN/sia.log`, instead.

litellm answers the gateway's calls in threads while sia's console is live, so its
output cannot be caught by swapping stderr for a while: `quiet_litellm` turns off its
printed hints and moves its loggers' handlers and its warnings to the run's log, once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

_lock = threading.Lock()


@contextlib.contextmanager
def third_party_to(log_path: Path) -> Iterator[None]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with _lock, log_path.open("ab") as log:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        handler = logging.StreamHandler(open(log.fileno(), "w", closefd=False))  # noqa: SIM115
        loggers = [logging.getLogger(name) for name in ("transformers", "peft", "torch")]
        for logger in loggers:
            logger.addHandler(handler)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                _quiet_progress_bars()
                yield
        finally:
            sys.stderr.flush()
            handler.flush()
            for logger in loggers:
                logger.removeHandler(handler)
            os.dup2(saved, 2)
            os.close(saved)


LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Proxy", "LiteLLM Router")


class _RunLog(logging.Handler):
    """Writes to the run's log file once one is known; drops records before that."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        self.file: logging.FileHandler | None = None

    def to(self, path: Path) -> None:
        if self.file is None or Path(self.file.baseFilename) != path.resolve():
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file = logging.FileHandler(path, encoding="utf-8", delay=True)
            self.file.setFormatter(self.formatter)

    def emit(self, record: logging.LogRecord) -> None:
        if self.file is not None:
            self.file.emit(record)


_run_log: list[_RunLog] = []


def _log_to(log_path: Path | None) -> _RunLog:
    """The process's run-log handler (made on first use, when warnings from third-party
    code start going to it), pointed at `log_path` when one is given."""
    with _lock:
        if not _run_log:
            _run_log.append(_RunLog())
            _route_warnings(_run_log[0])
        if log_path is not None:
            _run_log[0].to(log_path)
        return _run_log[0]


def _loggers_to(log: logging.Handler, names: tuple[str, ...], level: int | None = None) -> None:
    """Each logger in `names` writes to `log` only (its console handlers removed)."""
    for name in names:
        logger = logging.getLogger(name)
        if logger.handlers == [log]:
            continue
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(log)
        logger.propagate = False
        if level is not None:
            logger.setLevel(level)


def quiet_litellm(log_path: Path | None) -> ModuleType:
    """litellm, imported with its chatter sent to `log_path` instead of the console: the
    "Give Feedback / Get Help" hints off, its loggers' console handlers replaced by the
    log file, and warnings raised from third-party code written there too. None (a
    lookup before a run has a directory) drops them until a log is named."""
    log = _log_to(log_path)
    import litellm

    litellm.suppress_debug_info = True
    _loggers_to(log, LITELLM_LOGGERS, logging.WARNING)
    return litellm


def quiet_local_model(log_path: Path) -> None:
    """The local policy answers the gateway's calls in threads while sia's console is
    live: what transformers, peft and torch log or warn from there goes to `log_path`."""
    log = _log_to(log_path)
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_default_handler()
    _loggers_to(log, ("transformers", "peft", "torch"))


def _third_party(filename: str) -> bool:
    return "site-packages" in filename or "dist-packages" in filename


def _route_warnings(handler: logging.Handler) -> None:
    """Warnings raised from installed third-party code (litellm's provider deprecation
    notices, transformers' and peft's API changes) go to the run log; sia's own warnings
    are shown as Python would."""
    shown = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        if _third_party(str(filename)):
            record = logging.LogRecord(
                "py.warnings", logging.WARNING, str(filename), lineno,
                f"{category.__name__}: {message}", None, None,
            )  # fmt: skip
            handler.handle(record)
            return
        shown(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning


def _quiet_progress_bars() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
