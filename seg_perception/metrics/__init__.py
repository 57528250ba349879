"""Evaluation metrics that do not depend on training: lane benchmarks (TuSimple, CULane)."""
