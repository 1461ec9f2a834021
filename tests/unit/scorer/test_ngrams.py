"""Hashed text n-grams: a stable hash, and models that weigh them validated like the rest."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from hitl_schemas import ModelVersion
from scorer import scoring
from scorer.features import NGRAM_BUCKETS, NGRAM_SCHEME, ngram_vector, ngram_words
from scorer.model import Combiner, ModelRejected, fingerprint, load_model, model_version, prior
from scorer.scoring import Scorer
from testkit import make_draft

TEXT = "Hi Dana, your refund of 30 EUR is on its way."


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hi Dana, your refund!", [b"hi", b"dana", b"your", b"refund"]),
        ("section 4.2 -- 30 days", [b"section", b"4", b"2", b"30", b"days"]),
        ("Ça COÛTE 12 €", ["ça".encode(), "coûte".encode(), b"12", "€".encode()]),
        ("", []),
        (
            "\ud800 lone surrogate",
            ["\ud800".encode("utf-8", "surrogatepass"), b"lone", b"surrogate"],
        ),
    ],
)
def test_words_are_lower_cased_and_split_on_ascii_punctuation(
    text: str, words: list[bytes]
) -> None:
    assert ngram_words(text) == words


# Pinned: these buckets are what every trained model's n-gram weights index. A change here is a
# new scheme (NGRAM_SCHEME) and makes every published model unreadable, on purpose.
GOLDEN = {
    "hi dana": [(245, 0.57735), (832, 0.57735), (975, 0.57735)],
    # refund (594) counts twice; of 304, 30 987, eur 756; the four pairs 680, 534, 556, 835.
    "Refund of 30 EUR, refund!": [
        (304, 0.30151),
        (534, -0.30151),
        (556, -0.30151),
        (594, 0.60302),
        (680, -0.30151),
        (756, -0.30151),
        (835, 0.30151),
        (987, -0.30151),
    ],
}


@pytest.mark.parametrize(("text", "entries"), list(GOLDEN.items()))
def test_the_hash_is_pinned(text: str, entries: list[tuple[int, float]]) -> None:
    vector = ngram_vector(text)
    assert [(int(i), round(float(vector[i]), 5)) for i in np.flatnonzero(vector)] == entries


@pytest.mark.parametrize("seed", ["0", "1", "random"])
def test_the_hash_does_not_depend_on_the_process(seed: str) -> None:
    # Python's own hash() of str changes with PYTHONHASHSEED; ours must not.
    code = (
        "from scorer.features import ngram_vector; import numpy as np; "
        f"v = ngram_vector({TEXT!r}); print([(int(i), round(float(v[i]), 9)) "
        "for i in np.flatnonzero(v)])"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        env=os.environ | {"PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    here = ngram_vector(TEXT)
    assert out.strip() == str([(int(i), round(float(here[i]), 9)) for i in np.flatnonzero(here)])


@pytest.mark.parametrize(
    "text",
    ["a", "the the the the", TEXT, "x " * 10_000, "😀" * 300, "$$$ %%% ###", "\n\t"],
)
def test_vectors_have_unit_norm_or_are_empty(text: str) -> None:
    vector = ngram_vector(text)
    assert vector.shape == (NGRAM_BUCKETS,)
    norm = float(np.linalg.norm(vector))
    assert norm == pytest.approx(1.0) or (norm == 0.0 and not ngram_words(text))


def test_unigrams_and_bigrams_both_count() -> None:
    assert np.count_nonzero(ngram_vector("refund")) == 1
    assert np.count_nonzero(ngram_vector("full refund")) == 3  # full, refund, "full refund"


def _text_model(weights: list[float] | None = None) -> ModelVersion:
    return model_version(
        version="text-1",
        weights={"pii": -3.0},
        intercept=2.0,
        ngram_weights=weights if weights is not None else [0.0] * NGRAM_BUCKETS,
    )


def _with_ngrams(**ngrams: Any) -> ModelVersion:
    good = _text_model()
    block = dict(good.parameters["ngrams"]) | ngrams  # type: ignore[arg-type]
    parameters = dict(good.parameters) | {"ngrams": block}
    return good.model_copy(update={"parameters": parameters, "sha256": fingerprint(parameters)})


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        (_with_ngrams(weights=[0.0] * (NGRAM_BUCKETS - 1)), "1023 values for 1024 buckets"),
        (_with_ngrams(weights=[0.0] * (NGRAM_BUCKETS + 1)), "1025 values"),
        (_with_ngrams(weights=[0.0] * 1023 + [float("nan")]), "n-gram weight 1023"),
        (_with_ngrams(weights=[1e400] + [0.0] * 1023), "finite number"),
        (_with_ngrams(weights=["0.5"] + [0.0] * 1023), "finite number"),
        (_with_ngrams(weights=None), "list of weights"),
        (_with_ngrams(buckets=2048), "buckets must be 1024"),
        (_with_ngrams(scheme="chars-3/md5"), "scheme"),
        (_text_model().model_copy(update={"sha256": "0" * 64}), "sha256"),
        (
            prior().model_copy(
                update={
                    "parameters": prior().parameters | {"ngram": []},
                    "sha256": fingerprint(prior().parameters | {"ngram": []}),
                }
            ),
            "unknown parameters",
        ),
    ],
)
def test_bad_ngram_parameters_are_refused(version: ModelVersion, reason: str) -> None:
    with pytest.raises(ModelRejected, match=reason):
        load_model(version)


def test_the_fingerprint_covers_the_ngram_weights() -> None:
    good = _text_model()
    block = dict(good.parameters["ngrams"])  # type: ignore[arg-type]
    tampered = dict(good.parameters) | {"ngrams": block | {"weights": [1.0] * NGRAM_BUCKETS}}
    with pytest.raises(ModelRejected, match="sha256"):
        load_model(good.model_copy(update={"parameters": tampered}))


def _plain_model() -> ModelVersion:
    return model_version(version="plain-1", weights={"pii": -3.0}, intercept=2.0)


def test_only_a_model_with_ngram_weights_reads_text() -> None:
    assert "ngrams" not in _plain_model().parameters
    assert not load_model(_plain_model()).reads_text
    assert load_model(_text_model()).reads_text
    assert load_model(prior()).reads_text  # prior-2 is fitted with n-grams
    assert _text_model().parameters["ngrams"]["scheme"] == NGRAM_SCHEME  # type: ignore[index]


def test_ngram_weights_move_the_score(scorer: Scorer, model: Combiner) -> None:
    draft = make_draft(TEXT)
    weights = (-2.0 * ngram_vector(TEXT)).tolist()  # this text's n-grams are bad news
    text_model = load_model(_text_model(weights))
    neutral = load_model(_text_model())
    [bad], _ = scorer.score_batch([draft], text_model)
    [plain], _ = scorer.score_batch([draft], neutral)
    assert bad.confidence < plain.confidence
    with pytest.raises(ValueError, match="n-grams"):
        text_model.predict({}, "chat_reply")  # a caller that forgets the text is told


def test_scoring_with_a_model_without_ngrams_computes_none(
    scorer: Scorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(text: str) -> Any:
        raise AssertionError("n-grams computed for a model that does not read them")

    monkeypatch.setattr(scoring, "ngram_vector", refuse)
    [score], _ = scorer.score_batch([make_draft(TEXT)], load_model(_plain_model()))
    assert 0.0 <= score.confidence <= 1.0


@pytest.mark.parametrize("text", ["", "\ud800 lone surrogate", "😀" * 500, "x" * 100_000])
def test_strange_texts_score_under_a_text_model(scorer: Scorer, text: str) -> None:
    draft = make_draft("placeholder").model_copy(update={"text": text})
    [score], _ = scorer.score_batch([draft], load_model(_text_model([0.5] * NGRAM_BUCKETS)))
    assert 0.0 <= score.confidence <= 1.0
