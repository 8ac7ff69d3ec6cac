"""Errors in OpenAI's JSON shape, with the status codes OpenAI's clients expect.

``{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}``: user mistakes are
400 (``invalid_request_error``), a missing or wrong key 401, an unknown model 404, a full
queue 429 with ``Retry-After``, an upstream that failed 502 and one that did not answer in
time 504, each with the upstream's own message.
"""

from __future__ import annotations

import logging
from typing import Any

from ponder.errors import (
    BackendError,
    BackendTimeout,
    BudgetExhausted,
    ContextLengthError,
    LimitExceeded,
    PonderError,
    UserError,
    VerifierError,
)

logger = logging.getLogger("ponder.server")


class APIError(Exception):
    """An error answered to the client."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def from_ponder(exc: PonderError) -> APIError:
    """A ponder error as the client should see it."""
    if isinstance(exc, ContextLengthError):
        return APIError(400, str(exc), code="context_length_exceeded", param="messages")
    if isinstance(exc, LimitExceeded):
        return invalid(
            f"the request asks for more than this server allows: {exc}", code="limit_exceeded"
        )
    if isinstance(exc, UserError):
        return invalid(str(exc))
    if isinstance(exc, BudgetExhausted):
        return APIError(400, f"the request's compute limit was reached: {exc}", code="budget")
    if isinstance(exc, BackendTimeout):
        return APIError(504, f"upstream timed out: {exc}", type="upstream_error", code="timeout")
    if isinstance(exc, BackendError) and exc.status in (400, 422):
        return invalid(f"upstream refused the request: {exc}")
    if isinstance(exc, BackendError):
        status = f" (status {exc.status})" if exc.status else ""
        return APIError(502, f"upstream failed{status}: {exc}", type="upstream_error")
    if isinstance(exc, VerifierError):
        # the scorer the request chose could not score any candidate
        return APIError(422, str(exc), code="verifier_failed")
    return internal(exc)


def internal(exc: BaseException) -> APIError:
    """A failure of ours: logged in full, answered without internals."""
    logger.error("request failed: %s", type(exc).__name__, exc_info=exc)
    return APIError(
        500,
        "the server failed on this request; its log has the details",
        type="server_error",
        code="internal_error",
    )
