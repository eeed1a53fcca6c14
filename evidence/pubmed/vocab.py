"""MeSH identifiers the PubMed layer relies on.

PubMed XML carries a UI for every publication type and descriptor, but MEDLINE text and the
curated snapshot give names only. This table lets those sources recover the UI so the classifier
can always work on UIs. It lists only identifiers seen in NCBI records (the test fixtures and
public PubMed XML); an unknown name simply keeps an empty UI.
"""

from __future__ import annotations

# Publication types (MeSH PT).
PT_JOURNAL_ARTICLE = "D016428"
PT_REVIEW = "D016454"
PT_SYSTEMATIC_REVIEW = "D000078182"
PT_META_ANALYSIS = "D017418"
PT_RCT = "D016449"
PT_CONTROLLED_CLINICAL_TRIAL = "D018848"
PT_CLINICAL_TRIAL = "D016430"
PT_CLINICAL_TRIAL_PHASE_II = "D017427"
PT_CLINICAL_TRIAL_PHASE_III = "D017428"
PT_OBSERVATIONAL_STUDY = "D064888"
PT_CASE_REPORTS = "D002363"
PT_GUIDELINE = "D016431"
PT_PRACTICE_GUIDELINE = "D017065"
PT_CONSENSUS_CONFERENCE = "D016446"
PT_COMPARATIVE_STUDY = "D003160"
PT_MULTICENTER_STUDY = "D016448"
PT_LETTER = "D016422"
PT_EDITORIAL = "D016421"
PT_COMMENT = "D016420"
PT_NEWS = "D016433"
PT_PUBLISHED_ERRATUM = "D016425"
PT_RETRACTED_PUBLICATION = "D016441"
PT_RETRACTION_OF_PUBLICATION = "D016440"

PUBLICATION_TYPE_UIS: dict[str, str] = {
    "Journal Article": PT_JOURNAL_ARTICLE,
    "Review": PT_REVIEW,
    "Systematic Review": PT_SYSTEMATIC_REVIEW,
    "Meta-Analysis": PT_META_ANALYSIS,
    "Randomized Controlled Trial": PT_RCT,
    "Controlled Clinical Trial": PT_CONTROLLED_CLINICAL_TRIAL,
    "Clinical Trial": PT_CLINICAL_TRIAL,
    "Clinical Trial, Phase II": PT_CLINICAL_TRIAL_PHASE_II,
    "Clinical Trial, Phase III": PT_CLINICAL_TRIAL_PHASE_III,
    "Observational Study": PT_OBSERVATIONAL_STUDY,
    "Case Reports": PT_CASE_REPORTS,
    "Guideline": PT_GUIDELINE,
    "Practice Guideline": PT_PRACTICE_GUIDELINE,
    "Consensus Development Conference": PT_CONSENSUS_CONFERENCE,
    "Comparative Study": PT_COMPARATIVE_STUDY,
    "Multicenter Study": PT_MULTICENTER_STUDY,
    "Letter": PT_LETTER,
    "Editorial": PT_EDITORIAL,
    "Comment": PT_COMMENT,
    "News": PT_NEWS,
    "Published Erratum": PT_PUBLISHED_ERRATUM,
    "Retracted Publication": PT_RETRACTED_PUBLICATION,
    "Retraction of Publication": PT_RETRACTION_OF_PUBLICATION,
    "English Abstract": "D004740",
    "Introductory Journal Article": "D054711",
    "Video-Audio Media": "D059040",
    "Research Support, Non-U.S. Gov't": "D013485",
    "Research Support, U.S. Gov't, Non-P.H.S.": "D013486",
    "Research Support, U.S. Gov't, P.H.S.": "D013487",
    "Research Support, N.I.H., Extramural": "D052061",
    "Research Support, N.I.H., Intramural": "D052060",
}

# MeSH descriptors: check tags and the study-design headings the classifier reads.
MESH_HUMANS = "D006801"
MESH_ANIMALS = "D000818"
MESH_CROSS_OVER_STUDIES = "D018592"
MESH_IN_VITRO_TECHNIQUES = "D066298"
MESH_CELLS_CULTURED = "D002478"
MESH_COHORT_STUDIES = "D015331"
MESH_PROSPECTIVE_STUDIES = "D011446"
MESH_FOLLOW_UP_STUDIES = "D005500"
MESH_CASE_CONTROL_STUDIES = "D016022"

MESH_UIS: dict[str, str] = {
    "Humans": MESH_HUMANS,
    "Animals": MESH_ANIMALS,
    "Cross-Over Studies": MESH_CROSS_OVER_STUDIES,
    "In Vitro Techniques": MESH_IN_VITRO_TECHNIQUES,
    "Cells, Cultured": MESH_CELLS_CULTURED,
    "Cohort Studies": MESH_COHORT_STUDIES,
    "Prospective Studies": MESH_PROSPECTIVE_STUDIES,
    "Follow-Up Studies": MESH_FOLLOW_UP_STUDIES,
    "Case-Control Studies": MESH_CASE_CONTROL_STUDIES,
}


def publication_type_ui(name: str) -> str:
    """The PT UI for a publication-type name, or "" when the name is not in the table."""
    return PUBLICATION_TYPE_UIS.get(name.strip(), "")


def mesh_ui(name: str) -> str:
    """The descriptor UI for a MeSH name the layer needs, or "" otherwise."""
    return MESH_UIS.get(name.strip(), "")
