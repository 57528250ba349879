"""Evaluation metrics that do not depend on training: lane benchmarks (TuSimple, CULane) and parking
slots (ps2.0-style marking points and slot entrances)."""
