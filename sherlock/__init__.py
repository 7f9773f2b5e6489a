"""Sherlock application layer: CLI, conversion, training, evaluation, Hub publishing."""
