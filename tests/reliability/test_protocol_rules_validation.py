"""The protocol and rule-set checks of `evidence validate`, on small hand-made YAML: the bounded
loader, strict numbers, protocol types and ranges, and the rule set's features, conditions,
bands and sections."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from evidence.inputs.protocol import ProtocolError, load_protocol, parse_protocol
from evidence.inputs.rulecheck import check_rule_set_file
from evidence.inputs.textfile import InputFileError, decode_text, parse_number
from evidence.inputs.yamlfile import load_yaml, parse_yaml
from evidence.rating.rules import COMPARISON_FEATURES, LevelRule, rule_list_problems

RAW = Path(__file__).resolve().parents[2] / "data" / "raw"
PROTOCOL = load_yaml(RAW / "protocols" / "baclofen.yaml")
RULES_TEXT = (RAW / "rules" / "evidence_levels_v3.yaml").read_text("utf-8")


# --- the loader ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("a: 1\nb: 2\na: 3\n", "f.yaml:3:1", "found key 'a' again (first on line 1)"),
        ("a: 1_000\n", "f.yaml:1:4", "plain ASCII digits"),
        ("a: 0x1F\n", "f.yaml:1:4", "plain ASCII digits"),
        ("a: 1:30\n", "f.yaml:1:4", "plain ASCII digits"),
        ("a: .nan\n", "f.yaml:1:4", "plain ASCII digits"),
        ("a: -.inf\n", "f.yaml:1:4", "plain ASCII digits"),
        ("a: 1.0e400\n", "f.yaml:1:4", "beyond"),
        ("a: [1, 2\n", "f.yaml:2:1", "not valid YAML"),
    ],
)
def test_loader_refuses(text: str, where: str, words: str) -> None:
    with pytest.raises(InputFileError) as err:
        parse_yaml(text, "f.yaml")
    assert str(err.value).startswith(where + ":"), str(err.value)
    assert words in str(err.value)


def test_loader_reads_plain_yaml_and_numbers() -> None:
    assert parse_yaml("a: 12\nb: -0.5\nc: 1e-3\nd: '1_000'\ne: [x, 2]\n", "f.yaml") == {
        "a": 12,
        "b": -0.5,
        "c": 0.001,
        "d": "1_000",
        "e": ["x", 2],
    }


def test_project_yaml_files_load() -> None:
    """Every YAML file under data/raw loads: none uses an anchor, a repeated key or an odd
    number."""
    files = sorted(RAW.rglob("*.yaml"))
    assert files
    for path in files:
        assert load_yaml(path) is not None, path


def test_alias_bomb_refused_before_expansion() -> None:
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 12)
    )
    with pytest.raises(InputFileError, match=r"bomb.yaml:1:1: more than 200000 values"):
        parse_yaml(bomb, "bomb.yaml")


def test_a_few_aliases_expand() -> None:
    """`yaml.safe_dump` writes shared values as aliases: within the budget they load."""
    assert parse_yaml("a: &x [1, 2]\nb: *x\n", "f.yaml") == {"a": [1, 2], "b": [1, 2]}


# --- text and numbers ---------------------------------------------------------------------
def test_bad_byte_named_by_line_and_column() -> None:
    with pytest.raises(InputFileError) as err:
        decode_text("a,b\nx,ca\u00e9f\n".encode("latin-1"), "t.csv")
    assert (err.value.line, err.value.column) == (2, 5)
    assert "0xe9" in str(err.value) and str(err.value).startswith("t.csv:2:5:")


def test_bom_dropped_and_nul_refused() -> None:
    assert decode_text(b"\xef\xbb\xbfa,b\n", "t.csv") == "a,b\n"
    with pytest.raises(InputFileError, match=r"t.csv:1:3: a NUL"):
        decode_text(b"a,\x00b\n", "t.csv")


@pytest.mark.parametrize(
    "text", ["1_000", "1,000", "١٢", "１２", "1e400", "nan", "inf", "1" * 30, "0x10", " ", "1 000"]
)
def test_strict_numbers_refuse(text: str) -> None:
    with pytest.raises(ValueError):
        parse_number(text)


def test_strict_numbers_accept() -> None:
    assert parse_number(" 12 ", integer=True) == 12
    assert parse_number("12.0", integer=True) == 12
    assert parse_number("-1.5e-3") == -0.0015
    with pytest.raises(ValueError):
        parse_number("12.5", integer=True)


# --- the protocol -------------------------------------------------------------------------
def _protocol_with(path: tuple[object, ...], value: object) -> dict:
    data = copy.deepcopy(PROTOCOL)
    node = data
    for key in path[:-1]:
        node = node[key]  # type: ignore[index]
    node[path[-1]] = value  # type: ignore[index]
    return data


TIER = ("dose_tiers", "oral", "tiers", 0, "max")


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (TIER, float("nan"), "dose_tiers.oral.tiers.0.max"),
        (TIER, float("inf"), "dose_tiers.oral.tiers.0.max"),
        (TIER, -60, "greater than 0"),
        (TIER, "60", "dose_tiers.oral.tiers.0.max"),
        (("dose_tiers", "oral", "tiers", 1, "label"), "low", "tier labels repeat: ['low']"),
        (("change_tolerance",), "0.05", "change_tolerance"),
        (("title",), ["a"], "field title"),
        (("indications", 0, "comparisons", 0, "designs"), ["rct", "cluster_rct"], "cluster_rct"),
        (("indications", 0, "comparisons", 0, "routes"), ["orale"], "orale"),
        (("files", "studies"), "../studies.csv", "files.studies"),
        (("rating", "rule_set"), "/etc/passwd", "rating.rule_set"),
        (("crossover", "correlation"), True, "crossover.correlation"),
    ],
)
def test_protocol_refuses(path: tuple[object, ...], value: object, words: str) -> None:
    with pytest.raises(ProtocolError) as err:
        parse_protocol(_protocol_with(path, value), "p.yaml")
    assert str(err.value).startswith("p.yaml: field "), str(err.value)
    assert words in str(err.value)


def test_protocol_missing_key_and_wrong_top(tmp_path: Path) -> None:
    data = copy.deepcopy(PROTOCOL)
    del data["title"]
    with pytest.raises(ProtocolError, match="field title: Field required"):
        parse_protocol(data, "p.yaml")
    with pytest.raises(ProtocolError, match="expected a mapping"):
        parse_protocol(["a"], "p.yaml")
    bad = tmp_path / "p.yaml"
    bad.write_bytes(b"protocol_id: x\nprotocol_id: y\n")
    with pytest.raises(ProtocolError, match=r"p.yaml:2:1: not valid YAML: found key"):
        load_protocol(bad)


# --- the rule set ---------------------------------------------------------------------------
def _rule_issues(tmp_path: Path, old: str, new: str) -> list[str]:
    assert old in RULES_TEXT
    path = tmp_path / "rules.yaml"
    path.write_text(RULES_TEXT.replace(old, new, 1), "utf-8")
    protocol = parse_protocol(PROTOCOL, "p.yaml")
    return [str(i) for i in check_rule_set_file(path, "rules.yaml", protocol)]


def test_bundled_rule_set_has_no_problem(tmp_path: Path) -> None:
    assert _rule_issues(tmp_path, "rule_set:", "rule_set:") == []


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("{label: common, min: 1}", "{label: common, min: 20}", "frequency_bands[1]: min"),
        ("{label: rare, min: 0.01}", "{label: common, min: 0.01}", "expected each label once"),
        ("{label: very rare, min: 0}", "{label: very rare, min: 0.001}", "expected 0 for the last"),
        ("{label: common, min: 1}", "{label: common, min: 101}", "frequency_bands[1]: min"),
        ('[trials, ">=", 1]', '[trails, ">=", 1]', "feature: found 'trails'"),
        ('[trials, ">=", 1]', '[trials, ">=", 0]', "holds for every count"),
        ('[vote_favour_share, ">=", 0.8]', '[vote_favour_share, ">", 1]', "can hold (share)"),
        ('[sign_test_p, "<", 0.05]', '[sign_test_p, "<", 0]', "can hold (share)"),
        ('[published_conflict, "==", false]', '[published_conflict, "==", 0]', "true or false"),
        ('[published_conflict, "==", false]', '[published_conflict, ">=", false]', "== or !="),
        ('[trials, ">=", 1]', '[trials, ">=", "one"]', "by_comparison.levels.3.all.0"),
        ('version: "3.0.0"', 'version: "3.1.0"', "rule_set_version"),
        ("case_report: [case_report]", "case_report: [case_reprot]", "case_reprot"),
        ("serious_i2: 50", "serious_i2: 150", "serious_i2"),
        ("min_exposed: 100", "min_exposed: 0", "harms"),
        ("rule_set: evidence_levels\n", "rule_set: evidence_levels\nx: 1\n", "x"),
    ],
)
def test_rule_set_refuses(tmp_path: Path, old: str, new: str, words: str) -> None:
    issues = _rule_issues(tmp_path, old, new)
    assert issues and all(i.startswith("rules.yaml:") for i in issues), issues
    assert any(words in i for i in issues), issues


def test_rule_before_the_last_without_conditions_is_reported() -> None:
    rules = [
        LevelRule(level="Strong", all=[["trials", ">=", 3]]),
        LevelRule(level="Mixed"),
        LevelRule(level="Insufficient"),
    ]
    problems = rule_list_problems(rules, COMPARISON_FEATURES)
    assert problems == [
        (
            "[1]",
            "(rule)",
            "no conditions",
            "expected conditions: a rule before the last that always holds leaves the 1 after "
            "it unreachable",
        )
    ]


def test_rule_set_file_problems_named(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(b"rule_set: x\n# \xe9\n")
    protocol = parse_protocol(PROTOCOL, "p.yaml")
    issues = [str(i) for i in check_rule_set_file(path, "rules.yaml", protocol)]
    assert issues == [
        "rules.yaml:2: (file): found 'byte 0xe9 is not UTF-8 (save the file as UTF-8) at column "
        "3'; expected UTF-8 text"
    ]
