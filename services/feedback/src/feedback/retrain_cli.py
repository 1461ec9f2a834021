"""`python -m feedback retrain`: fit on the examples in `retraining-feedback`, compare with the
serving model (the newest on `scorer-models`, else the prior), publish only when better."""

from __future__ import annotations

import argparse
import sys

from confluent_kafka import Message

from feedback.config import load
from feedback.export import read_examples
from feedback.training import retrain
from hitl_runtime.follow import CompactedFollower
from hitl_runtime.kafka import EventPublisher, make_producer
from hitl_runtime.serde import EventValidationError, decode
from hitl_schemas import ModelVersion, topic
from scorer.model import ModelRejected, load_model, prior


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m feedback retrain")
    parser.add_argument("--publish", action="store_true", help="publish to scorer-models if better")
    parser.add_argument("--min-examples", type=int, default=200)
    args = parser.parse_args(argv)
    settings = load()

    newest: dict[str, ModelVersion] = {}

    def keep(msg: Message) -> None:
        try:
            version = decode(ModelVersion, msg.value())
        except EventValidationError:
            return
        if version.name == "combiner":
            newest["combiner"] = version

    follower = CompactedFollower(
        settings, topic("scorer-models", settings.topic_prefix), keep, name="retrain-models"
    )
    follower.start()
    follower.caught_up.wait(30)
    follower.stop()
    try:
        serving = load_model(newest["combiner"]) if "combiner" in newest else load_model(prior())
    except ModelRejected:
        serving = load_model(prior())

    examples = list(read_examples(settings, since=None, until=None, content_type=None))
    result = retrain(examples, serving, min_examples=args.min_examples)
    if result is None:
        sys.stderr.write(f"not enough to learn from ({len(examples)} examples)\n")
        return 0
    sys.stderr.write(
        f"serving {serving.version}: {result.serving_eval.as_dict()}\n"
        f"candidate {result.candidate.version}: {result.candidate_eval.as_dict()}\n"
        f"better: {result.better}\n"
    )
    if result.better and args.publish:
        publisher = EventPublisher(make_producer(settings), settings)
        publisher.publish("scorer-models", result.candidate.name, result.candidate)
        publisher.flush()
        sys.stderr.write(f"published {result.candidate.version} to scorer-models\n")
    return 0
