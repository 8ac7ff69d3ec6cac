"""The runtime a strategy talks to: the Context (sampling calls, budget, trace), the ledger,
sampling helpers, and the pools and stopping loop of the adaptive strategies."""

from ponder.runtime.context import Context, TraceEvent
from ponder.runtime.ledger import Budget, Ledger, RoleUsage

__all__ = ["Budget", "Context", "Ledger", "RoleUsage", "TraceEvent"]
