"""OIDC/JWT bearer tokens: signature from the provider's JWKS, then issuer, audience, expiry.

The token says who the caller is (`sub`); what they may do comes from our reviewers table, so a
token for someone we do not know, or who is deactivated, is refused.

Only asymmetric algorithms are accepted, so neither an unsigned token (`alg: none`) nor an HMAC
token keyed with the provider's public key can pass. Keys come from the provider's JWKS, cached
for `jwks_cache_seconds` and no longer: a key the provider withdraws stops working within that
time (a per-key cache without expiry would keep trusting it until a restart). A token naming an
unknown key refetches the JWKS at most once per 30 s (PyJWT's cooldown), so made-up key ids
cannot turn callers into a flood of requests to the provider.
"""

from __future__ import annotations

import asyncio
import logging

import jwt

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
log = logging.getLogger(__name__)


def algorithms_for(key: jwt.PyJWK) -> list[str]:
    """The algorithms a token may name with this key: any RSA one for an RSA key, the curve's one
    for an EC key, none for anything else. A token naming an algorithm of another key type
    (`ES256` with an RSA key) is refused as such instead of failing inside the verifier."""
    if key.key_type == "RSA":
        return [a for a in ALGORITHMS if a.startswith(("RS", "PS"))]
    return [key.algorithm_name] if key.algorithm_name in ALGORITHMS else []


class TokenRejected(Exception):
    """The token is not acceptable; str() says why, for the 401 body."""


class JwtVerifier:
    def __init__(
        self, jwks_url: str, *, issuer: str, audience: str, jwks_cache_seconds: float = 300
    ) -> None:
        self._jwks = jwt.PyJWKClient(
            jwks_url,
            cache_keys=False,
            cache_jwk_set=True,
            lifespan=jwks_cache_seconds,
            cooldown_duration=30,
            timeout=5,
        )
        self._issuer = issuer
        self._audience = audience

    async def subject(self, token: str) -> str:
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=algorithms_for(key),
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
        except jwt.PyJWKClientConnectionError as exc:
            # The provider's address and error are for the operator, not for the caller.
            log.warning("could not fetch the JWKS", extra={"fields": {"reason": str(exc)}})
            raise TokenRejected("the identity provider's keys could not be fetched") from None
        except jwt.PyJWKClientError as exc:
            raise TokenRejected(f"token signing key not found: {exc}") from None
        except jwt.InvalidTokenError as exc:
            raise TokenRejected(f"invalid token: {exc}") from None
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            # Whatever else a crafted token makes the verifier raise (a key it cannot use, an
            # unusable JWKS) is a refusal, never a server error.
            raise TokenRejected(f"invalid token: {type(exc).__name__}") from None
        return str(claims["sub"])
