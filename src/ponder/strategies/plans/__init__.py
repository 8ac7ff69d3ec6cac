"""Plans shipped with ponder for ``auto`` (written by ``ponder plan``)."""
