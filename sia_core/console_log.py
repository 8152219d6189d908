"""Keeping third-party chatter off sia's console.

Loading and training the local policy makes transformers, peft and torch print progress
bars and warnings to stderr, between sia's own lines. While they work, stderr (the file
descriptor, so C extensions and tqdm are caught too) and Python's warnings go to the
run's log file, `RUN/sia.log`, instead.
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


def _quiet_progress_bars() -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
