"""`hitl-topics`: create every registered topic (idempotent), or list the registry.

hitl-topics create [--partitions N] [--replication-factor N]
hitl-topics list
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from hitl_runtime.kafka import make_admin
from hitl_runtime.settings import ServiceSettings, SettingsError, load_settings
from hitl_schemas import TOPICS, TopicSpec


@dataclass(frozen=True)
class Outcome:
    topic: str
    status: str  # "created" | "exists"


def create_topics(
    admin: AdminClient,
    *,
    prefix: str = "",
    partitions: int | None = None,
    replication_factor: int = 1,
    specs: list[TopicSpec] | None = None,
    timeout: float = 30.0,
) -> list[Outcome]:
    """Create missing topics; existing ones are left alone and reported as `exists`."""
    chosen = specs if specs is not None else list(TOPICS.values())
    new = [
        NewTopic(
            f"{prefix}{spec.name}",
            num_partitions=spec.partitions if spec.compacted or partitions is None else partitions,
            replication_factor=replication_factor,
            config=spec.config(),
        )
        for spec in chosen
    ]
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    outcomes: list[Outcome] = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            outcomes.append(Outcome(name, "created"))
        except KafkaException as exc:
            err = exc.args[0]
            if isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                outcomes.append(Outcome(name, "exists"))
            else:
                raise
    return sorted(outcomes, key=lambda o: o.topic)


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hitl-topics", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create every registered topic that is missing")
    create.add_argument("--partitions", type=int, help="override partitions of data topics")
    create.add_argument("--replication-factor", type=int, default=1)
    sub.add_parser("list", help="print the topic registry")
    args = parser.parse_args(argv)

    if args.command == "list":
        for spec in TOPICS.values():
            kind = "compacted" if spec.compacted else f"{spec.retention_ms // 86_400_000}d"
            _print(
                f"{spec.name:24} key={spec.key:14} value={spec.value.__name__:16} "
                f"partitions={spec.partitions:<3} {kind:9} {spec.description}"
            )
        return 0

    try:
        settings = load_settings(ServiceSettings, service_name="topics")
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    if args.partitions is not None and args.partitions < 1:
        sys.stderr.write("--partitions must be at least 1\n")
        return 2
    outcomes = create_topics(
        make_admin(settings),
        prefix=settings.topic_prefix,
        partitions=args.partitions,
        replication_factor=args.replication_factor,
    )
    for outcome in outcomes:
        _print(f"{outcome.status:8} {outcome.topic}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
