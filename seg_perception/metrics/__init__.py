"""Evaluation metrics, NumPy only (no torch, no ROS), shared by training, evaluation and the tools.

- :mod:`~seg_perception.metrics.segmentation`: confusion matrix, pixel accuracy, per-class IoU, mIoU;
- :mod:`~seg_perception.metrics.evaluation`: masks, polygons and parking-slot entrances of a stream
  against ground truth (``eval-bag``);
- :mod:`~seg_perception.metrics.lanes`: lane benchmarks (TuSimple, CULane) and the lane class's
  coverage of labelled lines;
- :mod:`~seg_perception.metrics.lane_stability`: how steady a stream's ego lane is, without labels
  (real recordings: ``scripts/lane_stability.py``);
- :mod:`~seg_perception.metrics.parking`: ps2.0-style marking points and slot entrances;
- :mod:`~seg_perception.metrics.latency`: latency percentiles and rates (one percentile set for the
  node's diagnostics, the demo, ``process``, ``predict`` and ``bench``).
"""
