"""``seg-perception bench``: engine throughput, latency and memory, two cameras
sharing one device, and the node end to end.

ROS-free except :mod:`seg_perception.ros.bench_node`, imported only for ``--node``.
"""
