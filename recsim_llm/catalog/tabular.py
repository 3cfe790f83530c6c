"""Catalogs from a user's own table (CSV / TSV / JSONL), and the file reader all loaders share.

Every loader in :mod:`recsim_llm.catalog` reads its files through :func:`read_delimited`, so that a
malformed file is always reported the same way: a ``ValueError`` that names the file and the
1-based line of the offending record (wrong number of fields, a value that is not a number, bytes
that are not valid in the file's encoding, a duplicate id).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from recsim_llm.catalog.base import Catalog

__all__ = ["load_table"]

_SEP_BY_SUFFIX = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
DEFAULT_APPEAL = 0.5
"""appeal of every item when the table has no appeal column (all equally catchy: then only
taste decides clicks)"""
DEFAULT_VALUE = 0.0
"""value of every item when the table has no value column (neutral: then only taste and
boredom decide satisfaction)"""


# --------------------------------------------------------------------------------------------
# shared reading helpers (used by movielens.py and goodbooks.py too)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    """A delimited file read as strings, with the line each record starts on.

    Attributes:
        path: the file read.
        frame: [n, n_columns] one row per record, every cell a ``str`` (no type guessing, so a
            bad value can be reported with its line rather than silently becoming NaN).
        lines: [n] 1-based line number where each record starts (the header is line 1).
    """

    path: Path
    frame: pd.DataFrame
    lines: npt.NDArray[np.int64]

    def where(self, row: int) -> str:
        """``'<path>, line <k>'`` for the record at position ``row`` of :attr:`frame`."""
        return f"{self.path}, line {int(self.lines[row])}"

    def numeric(self, column: str, *, integer: bool = False,
                allow_missing: bool = False) -> npt.NDArray[np.float64]:
        """Column ``column`` as float64, raising on the first value that is not a finite number.

        Args:
            column: a column of :attr:`frame`.
            integer: also reject values with a fractional part (e.g. ids, timestamps).
            allow_missing: empty cells become NaN instead of an error.

        Returns:
            [n] float64 values.

        Raises:
            ValueError: naming the file, the line, the column and the bad value.
        """
        raw = self.frame[column].astype(str).str.strip()
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(values)
        if allow_missing:
            bad &= (raw != "").to_numpy()
        if integer:
            bad |= np.isfinite(values) & (values != np.floor(values))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            kind = "an integer" if integer else "a finite number"
            raise ValueError(f"{self.where(i)}: column {column!r} must be {kind}, "
                             f"got {raw.iloc[i]!r}")
        return values

    def check_unique(self, column: str) -> None:
        """Raise ``ValueError`` naming both lines when ``column`` holds a value twice."""
        key = self.frame[column].astype(str).str.strip()
        dup = key.duplicated(keep=False).to_numpy()
        if dup.any():
            first = int(np.flatnonzero(dup)[0])
            again = np.flatnonzero(dup & (key == key.iloc[first]).to_numpy())
            second = int(again[1])
            raise ValueError(f"{self.path}: duplicate {column} {key.iloc[first]!r} on line "
                             f"{int(self.lines[first])} and line {int(self.lines[second])}")


_Quoting = Literal[0, 1, 2, 3]
"""a csv quoting constant (typeshed types them as these literals)"""


def decode_file(path: Path, encoding: str = "utf-8") -> str:
    """The whole file as text; undecodable bytes are reported with their line number.

    A UTF-8 byte-order mark is dropped. Line endings are left untouched (the csv module copes).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: naming the file and the line of the first byte that is not valid
            ``encoding`` (e.g. a latin-1 ``é`` in a UTF-8 file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{path}, line {line}: bytes {data[err.start:err.end]!r} are not valid {encoding} "
            f"(is the file latin-1 encoded? re-save it as {encoding})") from None
    return text.removeprefix("\ufeff")


def _record_lines(text: str, n_records: int, *, sep: str, quoting: _Quoting
                  ) -> npt.NDArray[np.int64]:
    """[n_records] 1-based line on which each csv record starts."""
    n_physical = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    if n_physical == n_records:
        # the common case: one record per line (no quoted newlines), so no second pass
        return np.arange(1, n_records + 1, dtype=np.int64)
    # quoted fields span lines: replay the reader and note where each record began
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting)
    starts = np.empty(n_records, np.int64)
    prev_end = 0
    for k, _ in enumerate(reader):
        starts[k] = prev_end + 1
        prev_end = reader.line_num
    return starts


def _csv_error(text: str, path: Path, *, sep: str, quoting: _Quoting) -> str:
    """Message for broken quoting, naming the line where the bad record starts."""
    # replay record by record (error path only) to know where the failing record began
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting,
                        strict=True)
    prev_end = 0
    try:
        for _ in reader:
            prev_end = reader.line_num
    except csv.Error as err:
        where = f"line {prev_end + 1}"
        if reader.line_num > prev_end + 1:
            where += f" (the record runs on to line {reader.line_num})"
        return f"{path}, {where}: {err} (an unclosed quote?)"
    return f"{path}: malformed CSV"  # pragma: no cover - the first pass failed, so must this


def read_delimited(path: str | Path, *, sep: str, names: Sequence[str] | None = None,
                   encoding: str = "utf-8", quote: bool = True,
                   required: Sequence[str] = ()) -> Table:
    """Read a delimited text file into a :class:`Table` of strings, checking its shape.

    Blank lines are skipped; every other record must have exactly as many fields as the header
    (or ``names``).

    Args:
        path: the file.
        sep: one-character field separator.
        names: column names for a file without a header line; None = the first line is the
            header.
        encoding: text encoding of the file.
        quote: honour ``"``-quoting (CSV); False for formats where quotes are ordinary
            characters (the tab/pipe files of MovieLens).
        required: columns that must be present.

    Returns:
        The records as a :class:`Table`.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: undecodable bytes, a record with the wrong number of fields, broken quoting,
            an empty file or a missing required column (naming the file, and the line where
            there is one).
    """
    path = Path(path)
    text = decode_file(path, encoding)
    quoting: _Quoting = csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, quoting=quoting,
                        strict=quote)
    try:
        rows = list(reader)
    except csv.Error:
        raise ValueError(_csv_error(text, path, sep=sep, quoting=quoting)) from None
    lines = _record_lines(text, len(rows), sep=sep, quoting=quoting)
    # map/len run in C: a field count per record without a Python-level loop over the rows
    lens = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    keep = np.flatnonzero(lens > 0)
    if names is None:
        if len(keep) == 0:
            raise ValueError(f"{path}: the file is empty (expected a header line)")
        h = int(keep[0])
        header = [c.strip() for c in rows[h]]
        keep = keep[1:]
    else:
        header = list(names)
    n_fields = len(header)
    bad = keep[lens[keep] != n_fields]
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"{path}, line {int(lines[i])}: expected {n_fields} fields separated "
                         f"by {sep!r}, found {int(lens[i])}")
    frame = pd.DataFrame([rows[i] for i in keep] if len(keep) != len(rows) else rows,
                         columns=header, dtype=object)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; columns found: {header}")
    return Table(path=path, frame=frame, lines=lines[keep])


def check_no_missing(table: Table, column: str) -> None:
    """Raise ``ValueError`` naming the line of the first empty cell of ``column``."""
    empty = (table.frame[column].astype(str).str.strip() == "").to_numpy()
    if empty.any():
        raise ValueError(f"{table.where(int(np.flatnonzero(empty)[0]))}: column {column!r} "
                         "is empty")


def index_of(values: Sequence[str] | npt.NDArray[np.str_],
             names: Sequence[str]) -> npt.NDArray[np.int64]:
    """[n] position of each value in ``names`` (every value must be present)."""
    lookup = {name: k for k, name in enumerate(names)}
    return np.fromiter((lookup[v] for v in values), dtype=np.int64, count=len(values))


# --------------------------------------------------------------------------------------------
# load_table
# --------------------------------------------------------------------------------------------

def _read_jsonl(path: Path) -> Table:
    """A JSON-lines file (one object per line) as a :class:`Table` of strings-or-values."""
    text = decode_file(path)
    records: list[dict] = []
    lines: list[int] = []
    for k, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {k}: malformed JSON ({err.msg} at column "
                             f"{err.colno})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{path}, line {k}: expected a JSON object, got "
                             f"{type(obj).__name__}")
        records.append(obj)
        lines.append(k)
    if not records:
        raise ValueError(f"{path}: no records")
    frame = pd.DataFrame.from_records(records)
    # a key absent from a record reads as an empty cell, like an empty CSV field
    frame = frame.astype(object).where(frame.notna(), "")
    return Table(path=path, frame=frame, lines=np.asarray(lines, np.int64))


def _short_title(text: str, limit: int = 80) -> str:
    """The text cut at a word boundary to at most ``limit`` characters (default title)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 3].rsplit(" ", 1)[0] + "..."


def load_table(path: str | Path, *, id_col: str = "id", text_col: str = "text",
               title_col: str | None = None, topic_col: str | None = None,
               provider_col: str | None = None, appeal_col: str | None = None,
               value_col: str | None = None, sep: str | None = None) -> Catalog:
    """A catalog from a CSV / TSV / JSON-lines table of items.

    The format follows the extension (``.csv`` comma, ``.tsv``/``.tab`` tab, ``.jsonl``/
    ``.ndjson`` one JSON object per line) unless ``sep`` is given, which forces a delimited read.

    Columns:
        * ``id_col`` (required, unique, non-empty) -> ``item_ids``.
        * ``text_col`` (required) -> ``texts``.
        * ``title_col`` -> ``titles``; default: the text cut to 80 characters.
        * ``topic_col`` -> ``topics`` over the column's distinct values, sorted (an empty cell
          is the topic ``"unknown"``); default: one topic ``"all"``.
        * ``provider_col`` -> ``provider`` over its distinct values, sorted; the names go to
          ``extra["provider_name"]``. A table says nothing about provider groups, so every item
          is in the single group ``"all"``. Default: one provider.
        * ``appeal_col`` -> ``appeal``, each value a number in [0, 1]; without it every item
          gets :data:`DEFAULT_APPEAL` (0.5).
        * ``value_col`` -> ``value``, each value a number in [-1, 1]; without it every item
          gets :data:`DEFAULT_VALUE` (0, neutral).
        * any other column is kept in ``extra`` (as numbers when every value is one).

    Args:
        path: the file.
        id_col, text_col, title_col, topic_col, provider_col, appeal_col, value_col: column
            names.
        sep: field separator for a delimited file whose extension does not say it.

    Returns:
        The catalog, items in file order, ``arrival_day`` all 0, ``source`` the path.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown extension without ``sep``; a missing column (listing the columns
            found); malformed JSON, a wrong field count, an empty id, a duplicate id (naming both
            lines), a non-numeric appeal / value, an appeal outside [0, 1] or a value outside
            [-1, 1] -- each naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if sep is None and suffix in _JSONL_SUFFIXES:
        table = _read_jsonl(path)
    else:
        if sep is None:
            if suffix not in _SEP_BY_SUFFIX:
                raise ValueError(f"{path}: cannot tell the format from the extension "
                                 f"{suffix!r}; use .csv, .tsv, .jsonl or pass sep=")
            sep = _SEP_BY_SUFFIX[suffix]
        table = read_delimited(path, sep=sep)
    frame = table.frame
    wanted = [c for c in (id_col, text_col, title_col, topic_col, provider_col, appeal_col,
                          value_col) if c is not None]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; columns found: "
                         f"{list(frame.columns)}")

    ids = frame[id_col].astype(str).str.strip()
    check_no_missing(table, id_col)
    table.check_unique(id_col)
    texts = frame[text_col].astype(str).tolist()
    n = len(frame)

    titles = (frame[title_col].astype(str).str.strip().tolist() if title_col
              else [_short_title(t) for t in texts])

    if topic_col:
        topic_vals = frame[topic_col].astype(str).str.strip().replace("", "unknown")
        topic_names = tuple(sorted(topic_vals.unique()))
        topics = index_of(topic_vals.tolist(), topic_names)
    else:
        topic_names, topics = ("all",), np.zeros(n, np.int64)

    extra: dict[str, np.ndarray] = {}
    if provider_col:
        prov_vals = frame[provider_col].astype(str).str.strip().replace("", "unknown")
        prov_names = sorted(prov_vals.unique())
        provider = index_of(prov_vals.tolist(), prov_names)
        extra["provider_name"] = prov_vals.to_numpy(dtype=str)
    else:
        provider = np.zeros(n, np.int64)

    def bounded(col: str | None, lo: float, default: float) -> np.ndarray:
        if not col:
            return np.full(n, default)
        x = table.numeric(col)
        out = (x < lo) | (x > 1)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise ValueError(f"{table.where(i)}: {col!r} must be in [{lo:g}, 1], got {x[i]:g}")
        return x

    appeal = bounded(appeal_col, 0.0, DEFAULT_APPEAL)
    value = bounded(value_col, -1.0, DEFAULT_VALUE)

    for col in frame.columns:
        if col in wanted:
            continue
        as_num = pd.to_numeric(frame[col], errors="coerce")
        extra[str(col)] = (as_num.to_numpy(np.float64) if as_num.notna().all()
                           else frame[col].astype(str).to_numpy(dtype=str))

    return Catalog(
        item_ids=ids.to_numpy(dtype=str), titles=titles, texts=texts,
        topics=topics, topic_names=topic_names, provider=provider,
        provider_group=np.zeros(n, np.int64), provider_group_names=("all",),
        appeal=appeal.astype(np.float64), value=value.astype(np.float64),
        arrival_day=np.zeros(n, np.int64),
        topic_matrix=None, source=str(path), extra=extra)
