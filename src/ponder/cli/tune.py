"""``ponder tune``."""

from __future__ import annotations
