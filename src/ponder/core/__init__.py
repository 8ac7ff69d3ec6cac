"""The bottom layer: value types every other layer may import (requests, completions, usage,
problems, candidates, results), the registry and the spec grammar. It imports nothing of
ponder's but ``ponder.errors``."""
