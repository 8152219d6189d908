"""Downloading a competition's files from Kaggle's public API (no kaggle package needed).

Credentials as the kaggle CLI reads them: KAGGLE_USERNAME and KAGGLE_KEY, else
kaggle.json in KAGGLE_CONFIG_DIR or ~/.kaggle. SIA_KAGGLE_API overrides the API root
(a mirror, or a test server).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from sia_core.api import SiaError

API = "https://www.kaggle.com/api/v1"
HINT = "or download the competition zip yourself and pass --zip PATH"


def credentials() -> tuple[str, str]:
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return os.environ["KAGGLE_USERNAME"], os.environ["KAGGLE_KEY"]
    folder = Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    path = folder / "kaggle.json"
    if not path.is_file():
        raise SiaError(
            "no Kaggle credentials: set KAGGLE_USERNAME and KAGGLE_KEY, or save kaggle.json "
            f"(kaggle.com > Settings > API) in {folder}, {HINT}"
        )
    try:
        data = json.loads(path.read_text("utf-8"))
        return str(data["username"]), str(data["key"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise SiaError(f"{path} must be JSON with 'username' and 'key'") from None


def download(competition: str, dest: Path) -> Path:
    """Fetch the competition's zip to `dest` (written whole or not at all)."""
    user, key = credentials()
    root = os.environ.get("SIA_KAGGLE_API", API).rstrip("/")
    url = f"{root}/competitions/data/download-all/{urllib.parse.quote(competition)}"
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply, part.open("wb") as fh:
            while block := reply.read(1 << 20):
                fh.write(block)
    except urllib.error.HTTPError as exc:
        part.unlink(missing_ok=True)
        if exc.code in (401, 403):
            reason = "accept the competition's rules on kaggle.com and check your credentials"
        elif exc.code == 404:
            reason = f"no competition named {competition!r}"
        else:
            reason = str(exc.reason)
        raise SiaError(f"Kaggle answered HTTP {exc.code}: {reason}; {HINT}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise SiaError(f"cannot reach Kaggle at {root} ({exc}); {HINT}") from None
    part.replace(dest)
    return dest
