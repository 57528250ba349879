"""Errors shared across the package."""


class SegPerceptionError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(SegPerceptionError):
    """A scenario configuration file is missing or invalid."""


class ModelFileError(SegPerceptionError):
    """A model file is missing, corrupt or inconsistent with the configuration."""
