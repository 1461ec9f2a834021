"""The combiner: a versioned, calibrated model from features to P(approved unchanged).

Kind `logistic-v1`: `intercept + sum(weight * feature) + content_type_offset`, plus, when the
model carries them, `ngram_weights . ngram_vector(text)` (hashed word n-grams, see
`scorer.features`), squashed by the logistic function, then optionally mapped through a monotone
calibration curve (isotonic points, linearly interpolated). Version `prior-2` (`prior()`, the
package's `prior.json`) is fitted and calibrated on packaged corpora and the simulator under
safety bounds (sim/src/hitl_sim/fit_prior.py, documented in the scorer README); feedback
replaces it with a version trained on human verdicts. A model must pass `load_model` before it
serves: unknown kind, unknown feature or parameter, non-finite number, bad curve, n-gram
weights of another scheme or size, or a wrong fingerprint is refused and the serving model
stays.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from pydantic import JsonValue

from hitl_schemas import ModelVersion
from scorer.features import FEATURES, NGRAM_BUCKETS, NGRAM_SCHEME, NgramVector

KIND = "logistic-v1"
PRIOR_VERSION = "prior-2"
# The prior ships as data: a fitted, calibrated model (`hitl-bench fit-prior` builds it from
# packaged corpora and the simulator, sim/src/hitl_sim/fit_prior.py), read from this package.
PRIOR_FILE = "prior.json"
NGRAM_FEATURE = "text_ngrams"  # in feature_names when the model weighs hashed n-grams
PARAMETERS = frozenset({"intercept", "weights", "content_type_offsets", "calibration", "ngrams"})


class ModelRejected(ValueError):
    """A model version that must not serve; the message says why."""


def fingerprint(parameters: Mapping[str, Any]) -> str:
    canonical = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def model_version(
    *,
    version: str,
    weights: Mapping[str, float],
    intercept: float,
    name: str = "combiner",
    offsets: Mapping[str, float] | None = None,
    calibration: tuple[list[float], list[float]] | None = None,
    evaluation: Mapping[str, float] | None = None,
    trained_on: int = 0,
    ngram_weights: Sequence[float] | None = None,
) -> ModelVersion:
    parameters: dict[str, JsonValue] = {
        "intercept": intercept,
        "weights": dict(weights),
        "content_type_offsets": dict(offsets or {}),
    }
    if calibration is not None:
        parameters["calibration"] = {"x": list(calibration[0]), "y": list(calibration[1])}
    if ngram_weights is not None:
        parameters["ngrams"] = {
            "scheme": NGRAM_SCHEME,
            "buckets": NGRAM_BUCKETS,
            "weights": [float(w) for w in ngram_weights],
        }
    return ModelVersion(
        name=name,
        version=version,
        kind=KIND,
        feature_names=sorted(weights) + ([NGRAM_FEATURE] if ngram_weights is not None else []),
        parameters=parameters,
        evaluation=dict(evaluation or {}),
        trained_on_examples=trained_on,
        sha256=fingerprint(parameters),
        created_at=datetime.now(UTC),
    )


def prior() -> ModelVersion:
    """The model that serves until feedback publishes a trained one: `prior.json` in this
    package (a fresh copy each call; callers may change theirs)."""
    return ModelVersion.model_validate_json(_prior_json())


@cache
def _prior_json() -> bytes:
    return resources.files("scorer").joinpath(PRIOR_FILE).read_bytes()


@dataclass(frozen=True, slots=True)
class Combiner:
    name: str
    version: str
    intercept: float
    weights: tuple[tuple[str, float], ...]
    offsets: Mapping[str, float]
    curve_x: tuple[float, ...] = ()
    curve_y: tuple[float, ...] = ()
    ngram_weights: NgramVector | None = field(default=None, compare=False)

    @property
    def reads_text(self) -> bool:
        """Whether this model weighs text n-grams; when not, nobody needs to compute them."""
        return self.ngram_weights is not None

    def raw(
        self, features: Mapping[str, float], content_type: str, ngrams: NgramVector | None = None
    ) -> float:
        z = self.intercept + self.offsets.get(content_type, 0.0)
        for name, weight in self.weights:
            z += weight * features.get(name, 0.0)
        if self.ngram_weights is not None:
            if ngrams is None:
                raise ValueError(f"model {self.version} weighs text n-grams: pass ngram_vector()")
            z += float(self.ngram_weights @ ngrams)
        z = max(-40.0, min(40.0, z))
        return 1.0 / (1.0 + math.exp(-z))

    def contributions(self, features: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the logit (weight x value, in log-odds of approval): what a
        reviewer reads as "this signal pulled the score down by so much"."""
        return {name: weight * features.get(name, 0.0) for name, weight in self.weights}

    def predict(
        self, features: Mapping[str, float], content_type: str, ngrams: NgramVector | None = None
    ) -> float:
        """`ngrams` (scorer.features.ngram_vector of the draft text) is needed when, and only
        when, the model `reads_text`."""
        p = self.raw(features, content_type, ngrams)
        if not self.curve_x:
            return p
        return _interpolate(self.curve_x, self.curve_y, p)


def _interpolate(xs: tuple[float, ...], ys: tuple[float, ...], p: float) -> float:
    if p <= xs[0]:
        return ys[0]
    if p >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, p)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (p - x0) / (x1 - x0)


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ModelRejected(f"{what} must be a finite number, got {value!r}")
    return float(value)


def load_model(version: ModelVersion) -> Combiner:
    """Validate a published model version and build the combiner it describes."""
    if version.kind != KIND:
        raise ModelRejected(f"unknown model kind {version.kind!r}; this scorer reads {KIND!r}")
    if fingerprint(version.parameters) != version.sha256:
        raise ModelRejected("sha256 does not match the parameters: corrupted or altered artifact")
    params = version.parameters
    unknown_params = sorted(set(params) - PARAMETERS)
    if unknown_params:
        raise ModelRejected(f"unknown parameters {unknown_params}; known: {sorted(PARAMETERS)}")
    weights = params.get("weights")
    if not isinstance(weights, dict) or not weights:
        raise ModelRejected("parameters.weights must be a non-empty object")
    unknown = sorted(set(weights) - set(FEATURES))
    if unknown:
        raise ModelRejected(f"unknown features {unknown}; known: {list(FEATURES)}")
    offsets = params.get("content_type_offsets", {})
    if not isinstance(offsets, dict):
        raise ModelRejected("parameters.content_type_offsets must be an object")
    curve_x, curve_y = _curve(params.get("calibration"))
    return Combiner(
        name=version.name,
        version=version.version,
        intercept=_finite(params.get("intercept"), "intercept"),
        weights=tuple(sorted((k, _finite(v, f"weight {k}")) for k, v in weights.items())),
        offsets={k: _finite(v, f"offset {k}") for k, v in offsets.items()},
        curve_x=curve_x,
        curve_y=curve_y,
        ngram_weights=_ngram_weights(params.get("ngrams")),
    )


def _curve(calibration: JsonValue) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if calibration is None:
        return (), ()
    if not isinstance(calibration, dict):
        raise ModelRejected("parameters.calibration must be an object with x and y")
    xs, ys = calibration.get("x"), calibration.get("y")
    if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys) or len(xs) < 2:
        raise ModelRejected("calibration x and y must be lists of equal length, at least 2")
    curve_x = tuple(_finite(x, "calibration x") for x in xs)
    curve_y = tuple(_finite(y, "calibration y") for y in ys)
    if any(b < a for a, b in zip(curve_x, curve_x[1:], strict=False)):
        raise ModelRejected("calibration x must be non-decreasing")
    if any(b < a for a, b in zip(curve_y, curve_y[1:], strict=False)):
        raise ModelRejected("calibration y must be non-decreasing (a monotone curve)")
    if not all(0.0 <= y <= 1.0 for y in curve_y):
        raise ModelRejected("calibration y must lie in [0, 1]")
    return curve_x, curve_y


def _ngram_weights(ngrams: JsonValue) -> NgramVector | None:
    """None for a model without text n-grams (the prior); refused unless the scheme and size are
    exactly the ones this scorer computes, so a weight never lands on the wrong n-gram."""
    if ngrams is None:
        return None
    if not isinstance(ngrams, dict):
        raise ModelRejected("parameters.ngrams must be an object with scheme, buckets, weights")
    if ngrams.get("scheme") != NGRAM_SCHEME:
        raise ModelRejected(
            f"n-gram scheme {ngrams.get('scheme')!r}; this scorer computes {NGRAM_SCHEME!r}"
        )
    weights = ngrams.get("weights")
    if ngrams.get("buckets") != NGRAM_BUCKETS or not isinstance(weights, list):
        raise ModelRejected(f"n-gram buckets must be {NGRAM_BUCKETS}, with a list of weights")
    if len(weights) != NGRAM_BUCKETS:
        raise ModelRejected(f"n-gram weights: {len(weights)} values for {NGRAM_BUCKETS} buckets")
    vector = np.array([_finite(w, f"n-gram weight {i}") for i, w in enumerate(weights)])
    vector.setflags(write=False)  # the serving model is shared by threads and never changes
    return vector
