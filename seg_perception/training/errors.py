"""Errors of the training subpackage."""

from seg_perception.errors import ConfigError


class RecipeError(ConfigError):
    """A training recipe (``config/training/*.yaml``) is missing or invalid."""
