"""OIDC/JWT bearer tokens: signature from the provider's JWKS, then issuer, audience, expiry.

The token says who the caller is (`sub`); what they may do comes from our reviewers table, so a
token for someone we do not know, or who is deactivated, is refused.
"""

from __future__ import annotations

import asyncio

import jwt

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class TokenRejected(Exception):
    """The token is not acceptable; str() says why, for the 401 body."""


class JwtVerifier:
    def __init__(self, jwks_url: str, *, issuer: str, audience: str) -> None:
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5)
        self._issuer = issuer
        self._audience = audience

    async def subject(self, token: str) -> str:
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("token audience is not this service") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("token issuer is not the configured one") from None
        except jwt.PyJWKClientError as exc:
            raise TokenRejected(f"token signing key not found: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRejected(f"invalid token: {exc}") from None
        return str(claims["sub"])
