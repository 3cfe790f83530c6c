"""load_table: CSV, TSV and JSONL catalogs, and every bad input named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recsim_llm.catalog import load_table

CSV = (
    "id,text,title,genre,studio,q,price\n"
    "a,A film about cats.,Cats,drama,S1,0.9,3\n"
    'b,"A film about dogs, and\nsome more lines.",Dogs,comedy,S2,0.1,4\n'
    "c,Birds.,Birds,comedy,S1,0.5,5\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_all_columns(tmp_path: Path) -> None:
    c = load_table(_write(tmp_path, "items.csv", CSV), title_col="title", topic_col="genre",
                   provider_col="studio", appeal_col="q")
    assert c.item_ids.tolist() == ["a", "b", "c"]
    assert c.texts[1] == "A film about dogs, and\nsome more lines."
    assert c.titles == ["Cats", "Dogs", "Birds"]
    assert c.topic_names == ("comedy", "drama") and c.topics.tolist() == [1, 0, 0]
    assert c.provider.tolist() == [0, 1, 0] and c.extra["provider_name"].tolist()[1] == "S2"
    np.testing.assert_allclose(c.appeal, [0.9, 0.1, 0.5])
    assert np.all(c.value == 0.0)  # no value column: the documented neutral default
    np.testing.assert_allclose(c.extra["price"], [3, 4, 5])  # other columns kept
    assert c.provider_group_names == ("all",) and c.source.endswith("items.csv")


def test_defaults_tsv_and_sep(tmp_path: Path) -> None:
    c = load_table(_write(tmp_path, "items.tsv", "id\ttext\n1\tHello world\n2\tBye\n"))
    assert c.topic_names == ("all",) and np.all(c.topics == 0)
    assert np.all(c.appeal == 0.5) and np.all(c.value == 0) and c.titles == ["Hello world", "Bye"]
    c = load_table(_write(tmp_path, "items.txt", "key;body\nx;Some text\n"), id_col="key",
                   text_col="body", sep=";")
    assert c.item_ids.tolist() == ["x"] and c.texts == ["Some text"]
    with pytest.raises(ValueError, match="pass sep="):
        load_table(tmp_path / "items.txt")


def test_jsonl(tmp_path: Path) -> None:
    rows = [{"id": 1, "text": "One", "topic": "x", "value": 1.0},
            {"id": 2, "text": "Two", "value": -0.5}]
    path = _write(tmp_path, "items.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    c = load_table(path, topic_col="topic", value_col="value")
    assert c.item_ids.tolist() == ["1", "2"]
    assert c.topic_names == ("unknown", "x")  # a missing topic reads as "unknown"
    np.testing.assert_allclose(c.value, [1.0, -0.5])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        load_table(tmp_path / "nope.csv")


def test_missing_column_lists_found(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\['body'\]") as err:
        load_table(_write(tmp_path, "items.csv", CSV), text_col="body")
    assert "columns found" in str(err.value) and "'genre'" in str(err.value)


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    # record "b" spans lines 3-4, so the duplicate "a" on line 6 is found by its real line
    path = _write(tmp_path, "items.csv", CSV + "a,Again.,X,drama,S1,0.5,1\n")
    with pytest.raises(ValueError, match="'a' on line 2 and line 6") as err:
        load_table(path)
    assert "items.csv" in str(err.value)


@pytest.mark.parametrize(("extra_row", "what"), [
    ("d,Text,T,drama,S1,1.5,1\n", "must be in [0, 1]"),
    ("d,Text,T,drama,S1,high,1\n", "'high'"),
    ("d,Text,T,drama,S1\n", "expected 7 fields"),
    (",Text,T,drama,S1,0.5,1\n", "'id' is empty"),
])
def test_bad_csv_rows_name_the_line(tmp_path: Path, extra_row: str, what: str) -> None:
    path = _write(tmp_path, "items.csv", CSV + extra_row)
    with pytest.raises(ValueError, match=r"items\.csv, line 6") as err:
        load_table(path, appeal_col="q")
    assert what in str(err.value)


def test_bad_jsonl_lines(tmp_path: Path) -> None:
    good = '{"id": "a", "text": "A"}\n'
    with pytest.raises(ValueError, match=r"items.jsonl, line 3: malformed JSON"):
        load_table(_write(tmp_path, "items.jsonl", good + "\n" + '{"id": "b", "text": }\n'))
    with pytest.raises(ValueError, match="line 2: expected a JSON object"):
        load_table(_write(tmp_path, "items.jsonl", good + "[1, 2]\n"))
    with pytest.raises(ValueError, match="line 1 and line 2"):
        load_table(_write(tmp_path, "items.jsonl", good + good))
    with pytest.raises(ValueError, match=r"line 2: 'q' must be in \[0, 1\]"):
        load_table(_write(tmp_path, "items.jsonl", '{"id": "a", "text": "A", "q": 0.2}\n'
                          '{"id": "b", "text": "B", "q": -1}\n'), appeal_col="q")
    with pytest.raises(ValueError, match=r"line 2: 'v' must be in \[-1, 1\], got 2"):
        load_table(_write(tmp_path, "items.jsonl", '{"id": "a", "text": "A", "v": 0.2}\n'
                          '{"id": "b", "text": "B", "v": 2}\n'), value_col="v")


def test_latin1_bytes_and_unclosed_quote(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"id,text\na,fine\nb,caf\xe9\n")
    with pytest.raises(ValueError, match=r"items.csv, line 3: bytes b'\\xe9'"):
        load_table(path)
    with pytest.raises(ValueError, match=r"line 3 \(the record runs on to line 4\)"):
        load_table(_write(tmp_path, "items.csv", 'id,text\na,fine\nb,"open\nquote\n'))
