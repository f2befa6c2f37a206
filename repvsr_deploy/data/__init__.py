"""Footage for training and evaluation: degradations, sequences on disk, synthetic clips."""
