"""FastAPI dependencies: the database session, the caller, the settings and the policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from hitl_runtime.policy import Policy
from review_api import metrics
from review_api.config import ReviewApiSettings
from review_api.domain import Principal
from review_api.store import principal_for_key, principal_for_reviewer
from review_api.throttle import FailureThrottle, client_key
from review_api.tokens import JwtVerifier, TokenRejected


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session, session.begin():
        yield session


# scope="function": the transaction commits before the response is sent, so a 2xx means
# committed and the client's next request reads its own write (FastAPI's default runs the
# exit code after the response).
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def get_settings(request: Request) -> ReviewApiSettings:
    settings: ReviewApiSettings = request.app.state.settings
    return settings


def get_policy(request: Request) -> Policy:
    policy: Policy = request.app.state.policy
    return policy


Settings = Annotated[ReviewApiSettings, Depends(get_settings)]
PolicyDep = Annotated[Policy, Depends(get_policy)]

_UNAUTHENTICATED = HTTPException(
    401,
    "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
    headers={"WWW-Authenticate": "Bearer"},
)


async def get_principal(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Principal:
    token = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise _UNAUTHENTICATED
        token = value.strip()
    if not token:
        raise _UNAUTHENTICATED
    # Only a credential that was looked at and refused counts against its client (no
    # credential at all costs nothing to answer); one over its budget is not looked at.
    throttle: FailureThrottle = request.app.state.auth_throttle
    client = client_key(request.client.host if request.client else None)
    wait = throttle.retry_after(client)
    if wait is not None:
        metrics.AUTH_THROTTLED.inc()
        raise HTTPException(
            429,
            f"too many refused API keys or tokens from your address; retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        return await _principal_for(request, token)
    except HTTPException as exc:
        if exc.status_code == 401:
            throttle.failed(client)
        raise


async def _principal_for(request: Request, token: str) -> Principal:
    if token.count(".") == 2:
        return await _principal_for_jwt(request, token)
    async with request.app.state.sessions() as session:
        principal = await principal_for_key(session, token)
    if principal is None:
        raise HTTPException(
            401, "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


async def _principal_for_jwt(request: Request, token: str) -> Principal:
    verifier: JwtVerifier | None = request.app.state.jwt
    if verifier is None:
        raise HTTPException(
            401,
            "JWT bearer tokens are not enabled here (HITL_OIDC_JWKS_URL): use an API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        subject = await verifier.subject(token)
    except TokenRejected as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    async with request.app.state.sessions() as session:
        principal = await principal_for_reviewer(session, subject)
    if principal is None:
        raise HTTPException(
            401,
            f"token subject {subject!r} is not an active reviewer here",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: Caller) -> Principal:
    if principal.role != "admin":
        raise HTTPException(403, f"admin role required; you are {principal.role}")
    return principal


Admin = Annotated[Principal, Depends(require_admin)]
