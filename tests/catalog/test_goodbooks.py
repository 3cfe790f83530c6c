"""load_goodbooks: the real books.csv, a hand-made folder with tags, and bad inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsim_llm.catalog import load_goodbooks

HEADER = ("book_id,goodreads_book_id,authors,original_publication_year,original_title,title,"
          "average_rating,ratings_count\n")
BOOKS = HEADER + (
    '1,101,"Ann Author, Helper",2008.0,Book One,"Book One (Series, #1)",4.5,1000\n'
    "2,102,Ann Author,2010.0,,Book Two,4.0,10\n"
    "3,103,Ann Author,1999.0,Book Three,Book Three,3.0,0\n"
    "4,104,Homer,-750.0,,The Iliad,3.8,500\n"
    "5,105,Nobody,,,Lost Book,3.5,20\n"
)


def _folder(tmp_path: Path, books: str = BOOKS, **files: str) -> Path:
    (tmp_path / "books.csv").write_text(books, encoding="utf-8")
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
    return tmp_path


def test_real_goodbooks(goodbooks_dir: Path) -> None:
    c = load_goodbooks(goodbooks_dir)
    assert c.n_items == 10000
    assert c.texts[0] == "The Hunger Games (The Hunger Games, #1) by Suzanne Collins (2008)."
    assert np.all((c.appeal >= 0) & (c.appeal <= 1))
    assert np.all((c.value >= -1) & (c.value <= 1))
    rowling = c.extra["author"] == "J.K. Rowling"
    assert rowling.sum() >= 3 and np.all(c.provider_group[rowling] == 0)
    assert c.provider_group_names == ("established", "emerging")
    assert c.topic_names[0] == "before 1900" and "2000s" in c.topic_names
    assert c.topic_names[c.topics[0]] == "2000s"
    assert c.extra["ratings_count"][0] == 4780653
    # tags.csv alone cannot be linked to books (no book_tags.csv): no tags in the texts
    assert not any("Tags:" in t for t in c.texts)


def test_handmade_goodbooks(tmp_path: Path) -> None:
    c = load_goodbooks(_folder(tmp_path))
    assert c.item_ids.tolist() == ["1", "2", "3", "4", "5"]
    assert c.texts[0] == "Book One (Series, #1) by Ann Author, Helper (2008)."
    assert c.texts[3] == "The Iliad by Homer (750 BC)."
    assert c.texts[4] == "Lost Book by Nobody."
    assert c.topic_names == ("before 1900", "1990s", "2000s", "2010s", "unknown")
    assert [c.topic_names[t] for t in c.topics] == ["2000s", "2010s", "1990s", "before 1900",
                                                     "unknown"]
    assert c.extra["author"].tolist() == ["Ann Author"] * 3 + ["Homer", "Nobody"]
    assert c.provider_group.tolist() == [0, 0, 0, 1, 1]
    assert c.provider[0] == c.provider[1] != c.provider[3]
    mean = np.mean([4.5, 4.0, 3.0, 3.8, 3.5])
    assert c.value[2] == pytest.approx(2 * (mean - 1) / 4 - 1)  # no ratings: the catalog mean
    assert c.value[1] == pytest.approx(2 * ((4.0 * 10 + 10 * mean) / 20 - 1) / 4 - 1)
    log_n = np.log1p(c.extra['ratings_count'])
    np.testing.assert_allclose(c.appeal, (log_n - log_n.min()) / (log_n.max() - log_n.min()))
    assert np.isnan(c.extra["year"][4])


def test_goodbooks_tags_from_book_tags(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path, tags="tag_id,tag_name\n0,to-read\n1,Fantasy\n2,classics\n3,dragons\n",
        book_tags=("goodreads_book_id,tag_id,count\n101,0,900\n101,1,50\n101,3,70\n"
                   "104,2,10\n999,1,5\n"))
    c = load_goodbooks(folder / "books.csv")
    assert c.texts[0].endswith("(2008). Tags: dragons, fantasy.")
    assert c.texts[3].endswith("Tags: classics.") and "Tags" not in c.texts[1]


@pytest.mark.parametrize(("books", "line", "what"), [
    (BOOKS + "6,106,X,2000,,Y,4.0\n", 7, "expected 8 fields"),
    (BOOKS + "6,106,X,2000,,Y,great,5\n", 7, "average_rating"),
    (BOOKS + "6,106,X,2000,,Y,7.5,5\n", 7, "[1, 5]"),
    (BOOKS + "1,106,X,2000,,Y,4.0,5\n", 7, "line 2 and line 7"),
    (BOOKS + "6,106,,2000,,Y,4.0,5\n", 7, "authors"),
])
def test_goodbooks_bad_lines(tmp_path: Path, books: str, line: int, what: str) -> None:
    with pytest.raises(ValueError, match=f"line {line}") as err:
        load_goodbooks(_folder(tmp_path, books))
    assert "books.csv" in str(err.value) and what in str(err.value)


def test_goodbooks_missing_file_and_column(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"books\.csv"):
        load_goodbooks(tmp_path)
    with pytest.raises(ValueError, match="ratings_count") as err:
        load_goodbooks(_folder(tmp_path, "book_id,title\n1,A\n"))
    assert "columns found" in str(err.value)
