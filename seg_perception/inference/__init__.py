"""Inference engines, pre-processing and ONNX export."""
