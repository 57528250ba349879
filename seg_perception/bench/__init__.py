"""``seg-perception bench``: engine throughput, latency and memory, two cameras
sharing one device, and the node end to end.

ROS-free except :mod:`seg_perception.bench.node` (imported only for ``--node``),
:mod:`seg_perception.bench.soak` and :mod:`seg_perception.bench.scenario_switch`.
"""
