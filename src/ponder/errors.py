"""The one error tree of ponder.

Every error ponder raises on purpose is a ``PonderError``. User mistakes, which the user fixes
by changing what they asked for, are kept apart from run-time failures, which happen to a
well-formed request::

    PonderError
    ├── UserError                  the request itself is wrong; fix the input
    │   ├── ConfigError            invalid parameter value (n < 1, temperature < 0, ...)
    │   ├── UnknownNameError       no strategy / backend / ... of that name (lists the known)
    │   ├── ModelNotFoundError     the model file is not on disk (says where it looked)
    │   ├── ModelLoadError         the file exists but llama.cpp cannot load it
    │   ├── ContextLengthError     prompt + max_tokens do not fit the model's context
    │   ├── CapabilityError        a strategy needs what the backend does not offer
    │   └── LimitExceeded          a call asks for more than an operator's limit allows
    └── RunError                   a well-formed request failed while running
        ├── BackendError           the backend failed (carries url, status, request_id, ...)
        │   ├── BackendUnreachable     could not connect at all
        │   ├── BackendTimeout         connected, but no answer in time
        │   ├── BackendHTTPError       the server answered with an HTTP error status
        │   └── BackendProtocolError   the server answered something we cannot read
        ├── BudgetExhausted        the compute budget ran out before the strategy finished
        └── VerifierError          no candidate could be scored (every score a failure)

Errors from libraries are translated at the boundary (``raise ... from exc``), and every
message says what to do next.
"""

from __future__ import annotations

from collections.abc import Iterable


class PonderError(Exception):
    """Root of every error ponder raises on purpose."""


class UserError(PonderError):
    """A usage mistake: the request, configuration or input is wrong. Fix the input."""


class ConfigError(UserError, ValueError):
    """A parameter has an invalid value."""


class UnknownNameError(UserError, LookupError):
    """No registered component has that name."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        listed = ", ".join(self.known) or "(none registered)"
        super().__init__(f"unknown {kind} {name!r}; choose one of: {listed}")


class ModelNotFoundError(UserError, FileNotFoundError):
    """The model file is not on disk."""


class ModelLoadError(UserError):
    """The model file exists but cannot be loaded (corrupt, truncated, wrong format)."""


class ContextLengthError(UserError):
    """The prompt plus max_tokens does not fit in the model's context window."""


class CapabilityError(UserError):
    """A strategy or request needs a capability that the backend does not advertise."""


class LimitExceeded(UserError):
    """A generation call asks for more than a limit set by whoever runs ponder allows (the
    tokens of one sample, its stop strings): refused before it starts, wherever in a
    composition of strategies the call comes from."""


class RunError(PonderError):
    """A well-formed request failed while running."""


class BackendError(RunError):
    """The backend failed. Carries what is known about the failed call."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after


class BackendUnreachable(BackendError):
    """Could not connect to the backend at all."""


class BackendTimeout(BackendError):
    """Connected, but the backend did not answer in time."""


class BackendHTTPError(BackendError):
    """The server answered with an HTTP error status."""


class BackendProtocolError(BackendError):
    """The server answered something that cannot be read (malformed JSON, missing fields)."""


class BudgetExhausted(RunError):
    """The compute budget ran out before the strategy could finish."""


class VerifierError(RunError):
    """Scoring failed for every candidate, so nothing can be chosen. Single failures are not
    errors: they are recorded with the candidate's score (``ScoreValue.error``)."""
