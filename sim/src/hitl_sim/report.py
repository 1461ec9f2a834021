"""Output of the routing comparison: the JSON document, the console table and the plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hitl_sim.compare import Report

POLICY_ORDER = ("review-all", "static-0.85", "static-0.90", "adaptive", "certified-floor",
                "oracle-static", "static-compliant")  # fmt: skip


def document(report: Report, **header: Any) -> dict[str, Any]:
    policies = {name: report.policies[name] for name in POLICY_ORDER if name in report.policies}
    base = policies.get("static-0.85", {}).get("review_rate")
    ours = policies.get("adaptive", {}).get("review_rate")
    out: dict[str, Any] = header | {
        "drafts": report.items,
        "unknown_content_type_items": report.unknown_content_type_items,
        "policies": policies,
    }
    if base and ours is not None:
        out["adaptive_reviews_saved_vs_static_0.85"] = round(1 - ours / base, 4)
    floor = policies.get("certified-floor", {}).get("review_rate")
    oracle = policies.get("oracle-static", {}).get("review_rate")
    if floor and ours is not None:
        out["adaptive_to_certified_floor"] = round(ours / floor, 3)
    if oracle and ours is not None:
        out["adaptive_to_oracle"] = round(ours / oracle, 3)
    every = policies.get("review-all", {}).get("review_rate")
    if every and ours is not None:  # the two figures teams report
        out["efficiency_vs_review_all"] = round(1 - ours / every, 4)
    return out


def write_json(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def print_table(doc: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(
        title=f"routing: {doc.get('scenario') or doc.get('input')} ({doc['drafts']} drafts)"
    )
    for column in ("policy", "review rate", "escape rate", "audit rate", "all types within target"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name, p in doc["policies"].items():
        table.add_row(
            name,
            f"{p['review_rate']:.1%}",
            f"{p['escape_rate']:.2%}",
            f"{p['audit_rate']:.1%}",
            "yes" if p["all_within_target"] else "NO",
        )
    console.print(table)
    if "adaptive_to_certified_floor" in doc:
        console.print(
            f"adaptive reviews {doc['adaptive_to_certified_floor']:.2f}x the certified floor "
            f"({doc.get('adaptive_to_oracle', float('nan')):.2f}x the oracle)"
        )
    adaptive = doc["policies"].get("adaptive")
    if adaptive:
        per_type = Table(title="adaptive, per content type")
        for column in ("content type", "items", "review rate", "escape rate", "target",
                       "within", "final threshold"):  # fmt: skip
            per_type.add_column(column, justify="left" if column == "content type" else "right")
        for name, row in adaptive["per_content_type"].items():
            per_type.add_row(
                name,
                str(row["items"]),
                f"{row['review_rate']:.1%}",
                f"{row['escape_rate']:.2%}",
                "-" if row["target"] is None else f"{row['target']:.1%}",
                {True: "yes", False: "NO", None: "-"}[row["within_target"]],
                f"{row.get('final_threshold', float('nan')):.2f}",
            )
        console.print(per_type)
    saved = doc.get("adaptive_reviews_saved_vs_static_0.85")
    if saved is not None:
        static_ok = doc["policies"]["static-0.85"]["all_within_target"]
        console.print(
            f"adaptive reviews {abs(saved):.0%} {'fewer' if saved >= 0 else 'more'} drafts than "
            f"static-0.85, which keeps {'every' if static_ok else 'NOT every'} type within target"
        )


def plot(report: Report, targets: dict[str, float | None], path: Path, title: str) -> None:
    """Per content type: the adaptive threshold and the escape rate (per window) over the stream."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt

    names = sorted(report.curves)
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 2.6 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        outcome = report.curves[name]
        if outcome.thresholds:
            xs = [i for i, _ in outcome.thresholds] + [report.items]
            ys = [t for _, t in outcome.thresholds] + [outcome.thresholds[-1][1]]
            ax.step(xs, ys, where="post", color="tab:blue", label="threshold")
        ax.set_ylim(0.5, 1.01)
        ax.set_ylabel("threshold")
        ax.set_title(name, loc="left", fontsize=10)
        rates = ax.twinx()
        points, last_auto, last_esc = [], 0, 0
        for index, auto, escapes in outcome.curve:
            if auto > last_auto:
                points.append((index, (escapes - last_esc) / (auto - last_auto)))
            last_auto, last_esc = auto, escapes
        if points:
            rates.plot(*zip(*points, strict=True), color="tab:red", lw=0.8, label="escape rate")
        target = targets.get(name)
        if target is not None:
            rates.axhline(target, color="tab:red", ls="--", lw=0.8, label="target")
        rates.set_ylabel("escape rate")
        rates.set_ylim(bottom=0)
    axes[-1, 0].set_xlabel("draft index in the stream")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
