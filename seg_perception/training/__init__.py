"""Training: losses, metrics, trainer, and the ``train`` / ``eval`` commands."""
