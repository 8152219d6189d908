"""Reading a competition's files out of the zip Kaggle serves (or one with its layout)."""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sia_core.api import SiaError


class CompetitionError(SiaError):
    pass


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> list[str]:
        index = self.header.index(name)
        return [row[index] for row in self.rows]


def _parse(data: bytes, name: str) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CompetitionError(f"{name} is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CompetitionError(f"{name} is empty") from None
    rows = [row for row in reader if row]
    bad = next((i for i, row in enumerate(rows) if len(row) != len(header)), None)
    if bad is not None:
        raise CompetitionError(
            f"{name} row {bad + 2} has {len(rows[bad])} fields, the header has {len(header)}"
        )
    return Table(header, rows)


MAX_MEMBER_MB = 256
"""A member is read into memory and parsed whole: one larger than this (from its
declared size, and again while reading, since a header may lie) is refused.
SIA_MLEBENCH_MAX_MEMBER_MB raises it."""


def _limit() -> int:
    return int(os.environ.get("SIA_MLEBENCH_MAX_MEMBER_MB", MAX_MEMBER_MB)) * 2**20


def _read_capped(archive: zipfile.ZipFile, member: str, where: str) -> bytes:
    limit = _limit()
    declared = archive.getinfo(member).file_size
    too_big = (
        f"{where} is over {limit // 2**20} MiB uncompressed; sia reads competition files "
        "into memory: set SIA_MLEBENCH_MAX_MEMBER_MB to allow more"
    )
    if declared > limit:
        raise CompetitionError(too_big.replace("is over", f"declares {declared:,} bytes, over"))
    parts, size = [], 0
    try:
        with archive.open(member) as fh:
            while chunk := fh.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise CompetitionError(too_big)
                parts.append(chunk)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise CompetitionError(f"{where} cannot be read from the zip ({exc})") from None
    return b"".join(parts)


def _member_bytes(archive: zipfile.ZipFile, member: str) -> bytes:
    data = _read_capped(archive, member, member)
    if member.endswith(".zip"):  # some competitions zip each file inside the zip
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                csvs = [n for n in inner.namelist() if n.endswith(".csv")]
                if len(csvs) != 1:
                    raise CompetitionError(f"{member} should hold exactly one csv file")
                return _read_capped(inner, csvs[0], f"{member}/{csvs[0]}")
        except zipfile.BadZipFile as exc:
            raise CompetitionError(f"{member} is not a readable zip ({exc})") from None
    return data


@dataclass(frozen=True)
class CompetitionFiles:
    train: Table
    test_header: list[str] | None
    sample_submission: Table


def read_competition_zip(path: Path) -> CompetitionFiles:
    if not zipfile.is_zipfile(path):
        raise CompetitionError(f"{path} is not a zip file (expected Kaggle's competition zip)")
    with zipfile.ZipFile(path) as archive:
        by_name = {Path(n).name.lower(): n for n in archive.namelist() if not n.endswith("/")}

        def find(pattern: str, what: str, required: bool = True) -> str | None:
            for name, member in sorted(by_name.items()):
                if re.fullmatch(pattern, name):
                    return member
            if required:
                raise CompetitionError(
                    f"{path.name} has no {what}; it holds {', '.join(sorted(by_name)) or 'nothing'}"
                )
            return None

        train = find(r"train\.csv(\.zip)?", "train.csv")
        sample = find(r".*submission.*\.csv(\.zip)?", "sample submission csv")
        test = find(r"test\.csv(\.zip)?", "test.csv", required=False)
        assert train is not None and sample is not None
        return CompetitionFiles(
            train=_parse(_member_bytes(archive, train), "train.csv"),
            test_header=_parse(_member_bytes(archive, test), "test.csv").header if test else None,
            sample_submission=_parse(_member_bytes(archive, sample), Path(sample).name),
        )
