"""``seg-perception bench``: engine throughput, latency and memory, two cameras
sharing one device, and the node end to end.

ROS-free except :mod:`seg_perception.bench.node` (imported only for ``--node``)
and :mod:`seg_perception.bench.soak` (a scenario switch under load: ``seg-perception demo --scenarios
drive --switch front=road``).
"""
