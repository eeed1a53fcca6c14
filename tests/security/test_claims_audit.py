"""Claim verdicts on hand-made evidence: each changes when the evidence behind it is removed or
reversed, and the audit is ordered by the rule set's weights. The rules are the rule set's
generic `claims` section joined with the bundled protocol's `claims_audit` vocabulary, as a run
joins them."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest
import yaml

from evidence.inputs.documents import Citations
from evidence.inputs.protocol import load_protocol
from evidence.rating.comparisons import PooledEvidence
from evidence.rating.features import PooledSignal
from evidence.tables.claim_list import Claim, cited_numbers, table_claims, text_claims
from evidence.tables.claims_audit import (
    AuditEvidence,
    ClaimRules,
    audit,
    audit_frame,
    verdict_counts,
)
from tests.conftest import RAW

RULES_FILE = RAW / "rules" / "evidence_levels_v3.yaml"
PROTOCOL_FILE = RAW / "protocols" / "baclofen.yaml"
STUDY_COLS = [
    "study_id", "title", "design", "species", "indication", "population", "route",
    "comparator", "dose_max", "dose_unit", "notes",
]  # fmt: skip
EFFECT_COLS = ["row_id", "study_id", "outcome", "measure", "direction", "text_seen"]
SYN_COLS = [
    "row_id", "review_id", "question", "outcome", "measure", "estimate", "ci_low", "ci_high",
    "k", "notes",
]  # fmt: skip
FACT_COLS = [
    "formulation", "population", "statement", "value_min", "value_max", "unit", "row_id",
    "source_type", "notes",
]  # fmt: skip


@pytest.fixture(scope="module")
def rules() -> ClaimRules:
    section = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["claims"]
    return ClaimRules.from_section(section, load_protocol(PROTOCOL_FILE).claims_audit)


@pytest.fixture(scope="module")
def design_groups() -> dict[str, list[str]]:
    return yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["design_groups"]


def study(sid: str, **kw: Any) -> dict[str, Any]:
    base = {c: None for c in STUDY_COLS}
    base.update(study_id=sid, design="rct", species="human", indication="cond_a",
                route="oral", comparator="placebo")  # fmt: skip
    return base | kw


def effect(sid: str, direction: str, text: str = "") -> dict[str, Any]:
    return {"row_id": f"{sid}-e", "study_id": sid, "outcome": "response", "measure": None,
            "direction": direction, "text_seen": text}  # fmt: skip


def pool(verdict: str, ids: tuple[str, ...] = ("t1", "t2", "t3")) -> PooledEvidence:
    est = {"benefit": math.log(2.0), "null": 0.05, "harm": math.log(0.5)}[verdict]
    lo, hi = (est - 0.3, est + 0.3) if verdict != "null" else (-0.4, 0.5)
    sig = PooledSignal("response", "Response", "RR", len(ids), est, lo, hi, 0.0, "higher", True)
    return PooledEvidence(sig, "Moderate", 300, ids, "drug_vs_placebo", "drug vs placebo")


def evidence(
    design_groups: dict[str, list[str]],
    studies: list[dict[str, Any]] = (),  # type: ignore[assignment]
    effects: list[dict[str, Any]] = (),  # type: ignore[assignment]
    pools: list[PooledEvidence] = (),  # type: ignore[assignment]
    syntheses: list[dict[str, Any]] = (),  # type: ignore[assignment]
    facts: list[dict[str, Any]] = (),  # type: ignore[assignment]
    citations: Citations | None = None,
) -> AuditEvidence:
    fact_frame = pd.DataFrame(list(facts), columns=FACT_COLS)
    return AuditEvidence(
        studies=pd.DataFrame(list(studies), columns=STUDY_COLS),
        effects=pd.DataFrame(list(effects), columns=EFFECT_COLS),
        syntheses=pd.DataFrame(list(syntheses), columns=SYN_COLS),
        pools={"cond_a": list(pools)},
        levels={"cond_a": "Mixed"},
        row_indications={"Condition A": ("cond_a",)},
        indications=("cond_a",),
        side_effects=[],
        facts=fact_frame,
        statements=fact_frame,
        recommend_from=("label", "monograph", "guideline"),
        units={"oral": "mg/day", "intrathecal": "ug/day"},
        interactions=pd.DataFrame(
            columns=["interaction_type", "description", "evidence_type", "strength", "evidence"]
        ),
        citations=citations,
        design_groups=design_groups,
        harm_prefixes=("ae_",),
        bands=("very common", "common", "uncommon", "rare", "very rare"),
    )


def text_claim(text: str, cid: str = "cite01-01", number: int = 1) -> Claim:
    return Claim(cid, "text", text, (number,), listed_under=number)


def citing(*study_ids: str, confidence: str = "high", number: int = 1) -> Citations:
    return Citations.model_validate({
        "article": "hand-made",
        "citations": [{
            "number": number,
            "best_guess_confidence": confidence,
            "claims": [],
            "candidates": [{"rank": n + 1, "study_id": s} for n, s in enumerate(study_ids)],
        }],
    })  # fmt: skip


def verdict(ev: AuditEvidence, rules: ClaimRules, claim: Claim) -> str:
    (one,) = audit(ev, rules, [claim])
    return one.verdict


BENEFIT = "Reduces the symptoms of condition A and improves daily function"


def test_a_benefit_claim_follows_its_pool(rules: ClaimRules, design_groups: dict) -> None:
    """Supported by a pool showing benefit; unsupported once the pool (and its trials) are
    gone; contradicted when the pool's direction flips."""
    claim = text_claim(BENEFIT)
    trials = [study(s) for s in ("t1", "t2", "t3")]
    cites = citing("t1")
    backed = evidence(design_groups, trials, pools=[pool("benefit")], citations=cites)
    assert verdict(backed, rules, claim) == "supported"
    removed = evidence(design_groups, trials, pools=[], citations=cites)
    assert verdict(removed, rules, claim) == "unsupported by the data"
    flipped = evidence(design_groups, trials, pools=[pool("harm")], citations=cites)
    assert verdict(flipped, rules, claim) == "contradicted"
    against = evidence(design_groups, trials, [effect("t1", "favours_control")], citations=cites)
    assert verdict(against, rules, claim) == "contradicted"


def test_only_animal_or_uncontrolled_evidence_is_partly(
    rules: ClaimRules, design_groups: dict
) -> None:
    claim = text_claim(BENEFIT)
    animal = evidence(design_groups, [study("m1", design="animal", species="animal")],
                      citations=citing("m1"))  # fmt: skip
    assert verdict(animal, rules, claim) == "partly supported"
    open_study = study("o1", design="single_arm", comparator="none")
    uncontrolled = evidence(design_groups, [open_study], [effect("o1", "favours_drug")],
                            citations=citing("o1"))  # fmt: skip
    assert verdict(uncontrolled, rules, claim) == "partly supported"
    nothing = evidence(design_groups, [open_study], citations=citing("o1"))
    assert verdict(nothing, rules, claim) == "unsupported by the data"


def test_a_figure_from_open_label_studies_is_partly(rules: ClaimRules, design_groups: dict) -> None:
    """The pool supports the benefit, but the figure the claim states comes from a review of
    open-label studies: partly supported, and the evidence says where the figure comes from."""
    claim = text_claim("Improved symptoms in 70-87% of patients")
    trials = [study(s) for s in ("t1", "t2", "t3")]
    review = study(
        "rev",
        design="narrative_review",
        comparator=None,
        notes="in open-label studies, symptoms improved in 70-87% of patients",
    )
    ev = evidence(design_groups, [*trials, review], pools=[pool("benefit")],
                  citations=citing("rev"))  # fmt: skip
    (one,) = audit(ev, rules, [claim])
    assert one.verdict == "partly supported"
    assert "70-87% from uncontrolled studies: rev" in one.evidence
    controlled = replace(
        ev,
        studies=ev.studies.assign(
            notes=ev.studies["notes"].str.replace("in open-label studies, ", "", regex=False)
        ),
    )
    assert verdict(controlled, rules, claim) == "supported"


def test_a_negative_claim_with_a_positive_earlier_trial_is_partly(
    rules: ClaimRules, design_groups: dict
) -> None:
    claim = text_claim("Studied for condition A (with negative results)")
    trials = [study("late"), study("early")]
    cites = citing("late", "early")
    negative = evidence(design_groups, trials, [effect("late", "no_difference")], citations=cites)
    assert verdict(negative, rules, claim) == "supported"
    both = evidence(design_groups, trials,
                    [effect("late", "no_difference"), effect("early", "favours_drug")],
                    citations=cites)  # fmt: skip
    (one,) = audit(both, rules, [claim])
    assert one.verdict == "partly supported"
    assert "controlled trials that favour the drug: early" in one.evidence
    positive = evidence(design_groups, trials, pools=[pool("benefit", ("late", "early"))],
                        citations=cites)  # fmt: skip
    assert verdict(positive, rules, claim) == "contradicted"


def test_a_population_claim_is_judged_on_that_population(
    rules: ClaimRules, design_groups: dict
) -> None:
    """A benefit singled out for people with liver disease rests on their trials and the
    meta-analysis in them, not on the trials of everyone else."""
    claim = text_claim("Shows promise, especially for those with liver disease")
    studies = [
        study("general", population="adults"),
        study("liver_trial", population="adults with liver cirrhosis"),
        study("liver_ma", design="meta_analysis", comparator=None,
              population="people with liver disease"),
    ]  # fmt: skip
    syn = [{"row_id": "liver_ma-01", "review_id": "liver_ma", "question": "drug vs placebo",
            "outcome": "response", "measure": "RR", "estimate": 1.4, "ci_low": 0.4,
            "ci_high": 4.9, "k": 2, "notes": None}]  # fmt: skip
    cites = citing("general", "liver_trial")
    ev = evidence(design_groups, studies,
                  [effect("general", "favours_drug"), effect("liver_trial", "no_difference")],
                  syntheses=syn, citations=cites)  # fmt: skip
    (one,) = audit(ev, rules, [claim])
    assert one.verdict == "unsupported by the data"
    assert "liver_trial" in one.evidence and "liver_ma-01: RR 1.4 (0.4–4.9)" in one.evidence
    assert "general" not in one.studies
    ev2 = replace(
        ev, effects=pd.DataFrame([effect("liver_trial", "favours_drug")], columns=EFFECT_COLS)
    )
    assert verdict(ev2, rules, claim) == "partly supported"


def test_an_effect_from_rodents_against_a_human_study(
    rules: ClaimRules, design_groups: dict
) -> None:
    claim = text_claim("It can stimulate gastric acid secretion via vagal activation")
    rat = study("rat", design="animal", species="animal",
                notes="stimulated gastric motility and acid secretion")  # fmt: skip
    human = study("human", notes="reduced reflux and increased gastric pH over 24 h")
    both = evidence(design_groups, [rat, human], citations=citing("rat"))
    (one,) = audit(both, rules, [claim])
    assert one.verdict == "contradicted"
    assert "human studies that find the opposite: human (rct)" in one.evidence
    assert verdict(evidence(design_groups, [rat], citations=citing("rat")), rules,
                   claim) == "partly supported"  # fmt: skip
    agreeing = human | {"notes": "acid secretion was stimulated (gastric acid stimulation)"}
    assert verdict(evidence(design_groups, [rat, agreeing]), rules, claim) == "supported"


def test_a_dose_claim_against_sources_and_studies(rules: ClaimRules, design_groups: dict) -> None:
    label = {"formulation": "oral", "population": "general", "statement": "Maximum 80 mg/day",
             "value_min": None, "value_max": 80.0, "unit": "mg/day", "row_id": "oral-01",
             "source_type": "label", "notes": ""}  # fmt: skip
    trial = study("high", dose_max=300.0, dose_unit="mg/day")
    ev = evidence(design_groups, [trial], facts=[label])
    assert verdict(ev, rules, text_claim("up to 80 mg/day is standard")) == "supported"
    (beyond,) = audit(ev, rules, [text_claim("higher doses up to 120 mg/day may be used")])
    assert beyond.verdict == "partly supported"
    assert "up to 80 (oral-01, label)" in beyond.evidence
    assert "studied up to 300 mg/day (high)" in beyond.evidence
    assert verdict(ev, rules, text_claim("up to 500 mg/day")) == "unsupported by the data"
    no_label = evidence(design_groups, [trial])
    assert verdict(no_label, rules, text_claim("up to 80 mg/day")) == "partly supported"
    mixed = text_claim("Oral 5-80 mg/day; intrathecal 50-1200 ug/day")
    assert verdict(ev, rules, mixed) == "unsupported by the data"  # its weakest part


def test_the_audit_is_ordered_by_the_rule_set_weights(
    rules: ClaimRules, design_groups: dict
) -> None:
    """Contradicted before unsupported before partly before supported at equal kind and
    confidence; at equal verdict, a citation identified with more confidence first."""
    trials = [study(s) for s in ("t1", "t2", "t3")]
    cites = Citations.model_validate({
        "article": "hand-made",
        "citations": [
            {"number": n, "best_guess_confidence": c, "claims": [],
             "candidates": [{"rank": 1, "study_id": "t1"}]}
            for n, c in ((1, "high"), (2, "low"))
        ],
    })  # fmt: skip
    ev = evidence(design_groups, trials, pools=[pool("harm")], citations=cites)
    claims = [
        text_claim("Works for condition A: reduces symptoms", "cite02-01", 2),
        text_claim("Works for condition A: reduces symptoms", "cite01-01", 1),
        text_claim("Studied for condition A", "cite01-02", 1),
        text_claim("Improves condition A", "cite01-03", 1),
    ]
    ev_ok = replace(ev, pools={"cond_a": [pool("benefit")]})
    done = audit(ev, rules, claims[:3]) + audit(ev_ok, rules, claims[3:])
    frame = audit_frame(sorted(done, key=lambda a: (-a.weight, a.claim.claim_id)))
    assert list(frame["claim_id"]) == ["cite01-01", "cite02-01", "cite01-02", "cite01-03"]
    assert list(frame["verdict"]) == ["contradicted", "contradicted", "supported", "supported"]
    o = rules.order
    assert frame["weight"].iloc[0] == pytest.approx(
        o.verdict["contradicted"] * o.kind["efficacy"] * o.confidence["high"]
    )
    assert verdict_counts(frame) == {"contradicted": 2, "unsupported by the data": 0,
                                     "partly supported": 0, "supported": 2}  # fmt: skip
    ranked = sorted(o.verdict, key=lambda v: -o.verdict[v])
    assert ranked == ["contradicted", "unsupported by the data", "partly supported", "supported"]


def test_claims_come_from_table_cells_and_cited_statements() -> None:
    from evidence.inputs.documents import Claims

    claims = Claims.model_validate({
        "article": {"title": "t"},
        "tables": {"uses": {"caption": "Table 1: Uses", "columns": ["indication", "level",
                                                                       "sources"],
                            "rows": [{"indication": "Condition A", "level": "Strong",
                                      "sources": [2, 1]}]}},
    })  # fmt: skip
    (cell,) = table_claims(claims)
    assert (cell.claim_id, cell.text, cell.citations) == (
        "uses-condition-a-level",
        "Strong",
        (1, 2),
    )
    cites = Citations.model_validate({
        "article": "t",
        "citations": [
            {"number": 3, "claims": ["Works [3 5]", "Said twice"]},
            {"number": 5, "claims": ["Works  [3 5]", "Other"]},
        ],
    })  # fmt: skip
    texts = text_claims(cites)
    assert [(c.claim_id, c.citations) for c in texts] == [
        ("cite03-01", (3, 5)), ("cite03-02", (3,)), ("cite05-02", (5,))
    ]  # fmt: skip
    assert cited_numbers("no brackets", 7) == (7,)
