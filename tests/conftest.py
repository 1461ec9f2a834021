"""Every test run signs with a key pair of its own (hitl_runtime.signing): services built or
started by tests (subprocesses inherit the environment) sign what they write and verify what
they read, as in production. A developer's own HITL_SIGNING_KEY (and its trust) is kept."""

from __future__ import annotations

import os

import pytest

from hitl_runtime.signing import Signer, dev_env, private_key

if "HITL_SIGNING_KEY" not in os.environ:
    os.environ.update(dev_env("test-run"))


@pytest.fixture(scope="session")
def signer() -> Signer:
    """The run's signer: what the owning services (review-api, feedback, router) sign with."""
    return Signer(os.environ["HITL_SIGNING_KEY_ID"], private_key(os.environ["HITL_SIGNING_KEY"]))
