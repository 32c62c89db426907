"""Scoring trained models: the metrics, and a model's scores on a split of a dataset."""
