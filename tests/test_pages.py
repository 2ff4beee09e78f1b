"""`make pages` (benchmarks.pages): every generated table and sentence in the README and docs/ is what its CSV says."""

import pytest

from benchmarks import pages
from helpers.config import project_home


@pytest.mark.parametrize("name", pages.PAGES)
def test_every_committed_page_is_what_make_pages_writes(name):
    text = (project_home() / name).read_text()
    assert "<!-- begin: " in text
    assert pages.render(text) == text, f"{name} is out of date: run make pages"


def test_only_the_marked_parts_are_rewritten():
    made = {"table": lambda: "| a |\n|---|\n| 1 |"}
    text = "before\n<!-- begin: table (from x.csv) -->\nold\nrows\n<!-- end: table -->\nafter\n"
    assert pages.render(text, made) == "before\n<!-- begin: table (from x.csv) -->\n| a |\n|---|\n| 1 |\n<!-- end: table -->\nafter\n"
    assert pages.render(pages.render(text, made), made) == pages.render(text, made)  # a second run changes nothing
    empty = "<!-- begin: table -->\n<!-- end: table -->"
    assert pages.render(empty, made) == "<!-- begin: table -->\n| a |\n|---|\n| 1 |\n<!-- end: table -->"


def test_an_unknown_part_or_a_missing_end_is_refused_with_the_fix():
    made = {"table": lambda: "x"}
    with pytest.raises(KeyError, match="'tabel' is not one of \\['table'\\]"):
        pages.render("<!-- begin: tabel -->\n<!-- end: tabel -->", made)
    with pytest.raises(ValueError, match="has no '<!-- end: NAME -->'"):
        pages.render("<!-- begin: table -->\nrows\n<!-- end: other -->", made)


def test_check_reports_a_stale_page_and_changes_nothing(tmp_path, monkeypatch, capsys):
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text("<!-- begin: table -->\nold\n<!-- end: table -->\n")
    monkeypatch.setattr(pages, "project_home", lambda: tmp_path)
    monkeypatch.setattr(pages, "PAGES", ("docs/page.md",))
    monkeypatch.setattr(pages, "parts", lambda: {"table": lambda: "new"})
    assert pages.main(["--check"]) == 1 and "old" in page.read_text()
    assert "out of date: docs/page.md" in capsys.readouterr().out
    assert pages.main([]) == 0 and page.read_text() == "<!-- begin: table -->\nnew\n<!-- end: table -->\n"
    assert pages.main(["--check"]) == 0
