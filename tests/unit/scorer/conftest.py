from __future__ import annotations

from pathlib import Path

import pytest

from hitl_runtime.policy import Policy, load_policy
from scorer.model import Combiner, load_model, prior
from scorer.scoring import Scorer
from scorer.signals.toxicity import ToxicityClassifier
from testkit import POLICY_FILE

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy(POLICY_FILE)


@pytest.fixture(scope="session")
def toxicity() -> ToxicityClassifier:
    return ToxicityClassifier()


@pytest.fixture(scope="session")
def scorer(policy: Policy, toxicity: ToxicityClassifier) -> Scorer:
    return Scorer(policy=policy, toxicity=toxicity)


@pytest.fixture(scope="session")
def model() -> Combiner:
    return load_model(prior())
