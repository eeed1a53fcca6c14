"""The claims audit's vocabulary: the rule set's `claims` section is generic (it names no drug,
indication or condition), and each protocol's `claims_audit` block brings the words of its own
questions, validated at load with the field named. Without the block the audit still runs on the
generic words and says which claims it could not link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from evidence.inputs.protocol import ClaimsAudit, Protocol, ProtocolError, load_protocol
from evidence.tables.claims_audit import ClaimRules, ClaimRuleSet, audit
from tests.security.test_claims_audit import (
    PROTOCOL_FILE,
    RULES_FILE,
    citing,
    effect,
    evidence,
    study,
    text_claim,
)

RULES = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
SECTION: dict[str, Any] = RULES["claims"]
DESIGN_GROUPS: dict[str, list[str]] = RULES["design_groups"]
PROTOCOL = load_protocol(PROTOCOL_FILE)


def strings(node: Any) -> Iterator[str]:
    """Every key and value of a YAML section that is text."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


def question_names(protocol: Protocol) -> tuple[list[str], list[str]]:
    """(names a pattern must not match, names that must not be written in the section): the
    drug and its indications (ids and labels, whole and word by word), then also the protocol's
    effects and populations and the plain words of its own patterns."""
    keyed = [protocol.drug.name]
    for ind in protocol.indications:
        keyed += [ind.id, ind.id.replace("_", " "), ind.label]
    written, plain = list(keyed), []
    vocab = protocol.claims_audit
    if vocab is not None:
        written += [e.effect for e in vocab.effects] + [p.population for p in vocab.populations]
        own = [*vocab.kind_words.values()]
        own += [p for e in vocab.effects for p in (e.claim, e.up, e.down)]
        own += [p for x in vocab.populations for p in (x.claim, x.studies)]
        plain = [w.lower() for p in own for w in p.split("|") if re.fullmatch(r"[\w ]+", w)]

    def words(names: list[str]) -> list[str]:
        out = {n.lower() for n in names}
        out |= {w for n in names for w in re.findall(r"[a-z]{4,}", n.lower())}
        return sorted(out)

    return words(keyed), sorted(set(words(written)) | set(plain))


def patterns(section: dict[str, Any]) -> list[str]:
    """The section's regular expressions: its pattern fields and its kinds' and assertions'."""
    out = [section[k] for k in ClaimRuleSet.patterns() if k in section]
    return out + [r["pattern"] for key in ("kinds", "assertions") for r in section.get(key, [])]


def offences(section: dict[str, Any], protocol: Protocol) -> list[str]:
    keyed, written = question_names(protocol)
    text = "\n".join(strings(section)).lower()
    found = [f"{n!r} is written in it" for n in written if n in text]
    for pattern in patterns(section):
        compiled = re.compile(pattern, re.IGNORECASE)
        for name in keyed:
            m = compiled.search(name)
            # A universal fallback ('.') or a short generic word matches a few letters; a
            # pattern keyed on the name (or its stem) matches at least four of them.
            if m is not None and len(m.group(0)) >= 4:
                found.append(f"{pattern!r} matches {name!r}")
    return found


def test_the_rule_sets_claims_section_names_no_drug_indication_or_condition() -> None:
    keyed, written = question_names(PROTOCOL)
    assert "baclofen" in keyed and "spasticity" in keyed and "pain" in keyed
    assert "liver disease" in written and "gastric acid secretion" in written
    assert "craving" in written and "hepatotox" in written and "cirrho" in written
    assert offences(SECTION, PROTOCOL) == []


@pytest.mark.parametrize(
    "kind, words",
    [("efficacy", "spastic"), ("safety", "hepatotox"), ("interaction", "baclofen")],
)
def test_the_scan_finds_a_question_word_put_back(kind: str, words: str) -> None:
    section = yaml.safe_load(yaml.safe_dump(SECTION))
    for rule in section["kinds"]:
        if rule["kind"] == kind:
            rule["pattern"] += f"|{words}"
    assert offences(section, PROTOCOL) != []


def test_the_rule_set_refuses_the_protocols_keys() -> None:
    section = dict(SECTION, effects=[])
    with pytest.raises(ValueError, match=r"\['effects'\].*protocol's `claims_audit` block"):
        ClaimRules.from_section(section)


def test_a_protocol_without_the_block_still_audits_and_names_what_it_cannot_link() -> None:
    generic = ClaimRules.from_section(SECTION, None)
    joined = ClaimRules.from_section(SECTION, PROTOCOL.claims_audit)
    assert not generic.vocabulary and not generic.effects and not generic.populations
    trials = [study(s) for s in ("t1", "t2")]
    ev = evidence(DESIGN_GROUPS, trials, [effect("t1", "favours_drug")], citations=citing("t1"))
    generic_words = text_claim("Improves condition A")
    assert audit(ev, generic, [generic_words])[0].verdict == "partly supported"
    question_words = text_claim("Lessens craving")
    (unlinked,) = audit(ev, generic, [question_words])
    assert (unlinked.kind, unlinked.verdict) == ("other", "unsupported by the data")
    assert "no claims_audit block" in unlinked.evidence
    (linked,) = audit(ev, joined, [question_words])
    assert (linked.kind, linked.verdict) == ("efficacy", "partly supported")


def test_effects_and_populations_are_the_protocols() -> None:
    """An invented effect and population, given only by a hand-made protocol block, decide."""
    vocab = ClaimsAudit.model_validate({
        "effects": [{"effect": "tear flow", "kind": "safety", "claim": "tear flow",
                     "up": "more tears", "down": "fewer tears"}],
        "populations": [{"population": "night workers", "claim": "night work",
                         "studies": "night"}],
    })  # fmt: skip
    rules = ClaimRules.from_section(SECTION, vocab)
    claim = text_claim("It raises tear flow")
    human = study("h1", notes="fewer tears on the drug")
    ev = evidence(DESIGN_GROUPS, [human])
    (one,) = audit(ev, rules, [claim])
    assert (one.assertion, one.verdict) == ("effect", "contradicted")
    (plain,) = audit(ev, ClaimRules.from_section(SECTION), [claim])
    assert plain.assertion != "effect"
    trials = [study("day", population="day staff"), study("nw", population="night workers")]
    effects = [effect("day", "favours_drug"), effect("nw", "no_difference")]
    pop = text_claim("Improves condition A, especially in night work")
    ev2 = evidence(DESIGN_GROUPS, trials, effects, citations=citing("day", "nw"))
    (judged,) = audit(ev2, rules, [pop])
    assert "population: night workers" in judged.evidence and "day" not in judged.studies
    (everyone,) = audit(ev2, ClaimRules.from_section(SECTION), [pop])
    assert "day" in everyone.studies


def _protocol_with(block: dict[str, Any], tmp_path: Any) -> Protocol:
    doc = yaml.safe_load(PROTOCOL_FILE.read_text(encoding="utf-8"))
    doc["claims_audit"] = block
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return load_protocol(path)


EFFECT = {"effect": "e", "kind": "safety", "claim": "c", "up": "u", "down": "d"}


@pytest.mark.parametrize(
    "block, field, message",
    [
        ({"effects": [EFFECT | {"up": "stimulat(ed"}]}, "claims_audit.effects.0.up",
         "does not compile"),
        ({"populations": [{"population": "p", "claim": "a|", "studies": "s"}]},
         "claims_audit.populations.0.claim", "matches every text"),
        ({"kind_words": {"efficacy": "[x"}}, "claims_audit.kind_words.efficacy",
         "does not compile"),
        ({"effects": [EFFECT, EFFECT]}, "claims_audit", "effects repeat"),
        ({"efects": []}, "claims_audit.efects", "Extra inputs"),
    ],
)  # fmt: skip
def test_a_bad_block_is_refused_at_load_naming_the_field(
    block: dict[str, Any], field: str, message: str, tmp_path: Any
) -> None:
    with pytest.raises(ProtocolError, match=rf"field {re.escape(field)}: .*{message}"):
        _protocol_with(block, tmp_path)


@pytest.mark.parametrize(
    "block, field",
    [
        ({"kind_words": {"pharmacology": "gaba"}}, "claims_audit.kind_words.pharmacology"),
        ({"effects": [EFFECT | {"kind": "physiology"}]}, "claims_audit.effects.0.kind"),
    ],
)
def test_a_kind_the_rule_set_does_not_know_is_refused(
    block: dict[str, Any], field: str, tmp_path: Any
) -> None:
    protocol = _protocol_with(block, tmp_path)
    with pytest.raises(ValueError, match=rf"protocol field {re.escape(field)}: .*not a kind"):
        ClaimRules.from_section(SECTION, protocol.claims_audit)
