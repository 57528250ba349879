"""Data: the synthetic scene generator, dataset readers and augmentations.

Nothing here imports rclpy; torch is imported only by the dataset readers and
the augmentations that return tensors.
"""
