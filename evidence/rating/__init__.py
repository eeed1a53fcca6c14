"""Evidence ratings from explicit, versioned rules held in data."""

from evidence.rating.features import IndicationFeatures, indication_features, trial_directions
from evidence.rating.grade import Certainty, grade_outcome
from evidence.rating.rules import Rating, RuleSet, load_rules, rate

__all__ = [
    "Certainty",
    "IndicationFeatures",
    "Rating",
    "RuleSet",
    "grade_outcome",
    "indication_features",
    "load_rules",
    "rate",
    "trial_directions",
]
