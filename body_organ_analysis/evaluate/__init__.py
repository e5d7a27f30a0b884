"""``boa evaluate``: Dice and normalized surface Dice of label maps against references."""

from body_organ_analysis.evaluate.run import evaluate_pairs, score_pair

__all__ = ["evaluate_pairs", "score_pair"]
