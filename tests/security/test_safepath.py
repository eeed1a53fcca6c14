"""The id pattern and the inside-the-base proof every write and delete relies on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evidence.safepath import UnsafePath, check_id, check_pmid, inside, is_id, relative_name


@pytest.mark.parametrize("good", ["baclofen", "alcohol_use_disorder", "a-1", "0x"])
def test_plain_ids_pass(good: str) -> None:
    assert check_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", "..", "../x", "a/b", "/abs", "A", "a b", "-lead", '"><img>', "a\nb", "é", None, 3]
)
def test_ids_that_could_be_paths_or_markup_fail(bad: object) -> None:
    assert not is_id(bad)
    with pytest.raises(UnsafePath, match="protocol_id"):
        check_id(bad, "protocol_id")


@pytest.mark.parametrize("bad", ["", "0123", "12a", "../../evil", "1" * 11])
def test_pmids_are_digits(bad: str) -> None:
    with pytest.raises(UnsafePath):
        check_pmid(bad)
    assert check_pmid(" 123 ") == "123"


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "../x.csv", "a/../../x", "a//b", "a\\b", "."])
def test_relative_names_refuse_escapes(bad: str) -> None:
    with pytest.raises(UnsafePath):
        relative_name(bad)
    assert str(relative_name("rules/v1.yaml")) == "rules/v1.yaml"


def test_inside_refuses_dotdot_absolute_base_and_symlinks(tmp_path: Path) -> None:
    base = tmp_path / "reports"
    base.mkdir()
    assert inside(base, "p", "index.html") == (base / "p" / "index.html").resolve()
    for parts in (("..",), ("..", "x"), ("/etc",), ("a", "..", "..", "x"), ("",), (".",)):
        with pytest.raises(UnsafePath):
            inside(base, *parts)
    os.symlink(tmp_path, base / "link")
    with pytest.raises(UnsafePath):
        inside(base, "link", "x")
