"""The reviewer web page, end to end: real headless Chromium (Debian's) driven by Playwright
against a running review-api (uvicorn on a free port, SQLite) and the real broker.

Items arrive through the ingest path (`needs-review`), decisions leave through the outbox relay
to `decisions`. Screenshots of the queue and item views: docs/screenshots/ (on request, see below).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from confluent_kafka import Producer
from playwright.sync_api import Page, expect, sync_playwright

from hitl_runtime.kafka import EventPublisher
from hitl_runtime.policy import load_policy
from hitl_runtime.serde import decode
from hitl_schemas import Decision, RouteReason, Signal, Span, examples
from review_api.app import create_app
from review_api.config import ReviewApiSettings
from review_api.db import ApiKey, Reviewer
from review_api.store import create_schema, hash_key, make_engine, new_api_key, sessions
from testkit import read_to_end

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# The committed screenshots are refreshed on request only, so a test run never dirties the tree:
# HITL_UPDATE_SCREENSHOTS=1 uv run pytest tests/integration/test_web_page.py
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("HITL_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="hitl-screenshots-"))
)
CHROMIUM = "/usr/bin/chromium"
EDITED = "Hi Dana, your order 4821 shipped on 3 November and arrives by Friday."


@pytest.fixture
def web_settings(
    settings_factory: Callable[..., Any], topics: str, tmp_path: Path
) -> ReviewApiSettings:
    settings: ReviewApiSettings = settings_factory(
        ReviewApiSettings,
        service_name="review-api",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/review.db",
        policy_file=ROOT / "policy" / "default.yaml",
        group_id=f"review-{topics}",
        relay_interval_ms=50,
    )
    return settings


def routed(draft_id: str, priority: str, **draft_fields: Any) -> Any:
    now = datetime.now(UTC)
    draft = examples.draft(draft_id=draft_id, content_type="customer_email", **draft_fields)
    text = draft.text
    # Two signals flag overlapping stretches, so the page must name both on the overlap.
    signals = [
        Signal(name="pii", value=1.0, spans=[Span(start=0, end=8, label="a name")]),
        Signal(
            name="commitments",
            value=0.7,
            spans=[Span(start=4, end=min(20, len(text)), label="promise")],
            details={"contribution": -0.4},
        ),
    ]
    return examples.routed_draft(
        draft=draft,
        score=examples.score(signals=signals, confidence=0.61),
        reason=RouteReason(kind="hard_rule", rule="pii_found"),
        audit=False,
        audit_q=1.0,
        tier="junior",
        priority=priority,
        routed_at=now,
        due_at=now + timedelta(hours=1),
    )


def add_reviewers(database_url: str, *rows: tuple[str, str, str]) -> dict[str, str]:
    """Reviewers and their API keys, written before the service starts (as the CLI does)."""

    async def go() -> dict[str, str]:
        engine = make_engine(database_url)
        await create_schema(engine)
        keys: dict[str, str] = {}
        async with sessions(engine)() as s, s.begin():
            for rid, role, tier in rows:
                keys[rid] = new_api_key()
                s.add(Reviewer(id=rid, display_name=rid, role=role, tier=tier, active=True))
                await s.flush()
                s.add(
                    ApiKey(
                        key_hash=hash_key(keys[rid]), reviewer_id=rid, created_at=datetime.now(UTC)
                    )
                )
        await engine.dispose()
        return keys

    return asyncio.run(go())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(web_settings: ReviewApiSettings) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(
        create_app(web_settings), host="127.0.0.1", port=port, log_config=None, lifespan="on"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive(), "review-api did not start"
        assert time.monotonic() < deadline, "review-api did not start within 30 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(30)


@pytest.fixture
def page() -> Iterator[Page]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: the web page tests need `apt-get install chromium`")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        # CSP violations and script errors surface as console errors.
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.set_default_timeout(15_000)
        yield pg
        browser.close()
        assert not [e for e in errors if "401" not in e and "403" not in e], errors


def wait_for_queue(base: str, key: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(f"{base}/v1/items", headers={"Authorization": f"Bearer {key}"})
        if r.status_code == 200 and len(r.json()["items"]) >= count:
            return
        assert time.monotonic() < deadline, f"ingest did not deliver {count} items: {r.text}"
        time.sleep(0.1)


def sign_in(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/ui/")
    page.get_by_label("API key or OIDC token").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_reviewer_works_the_queue_on_the_page(
    web_settings: ReviewApiSettings,
    producer_factory: Callable[..., Producer],
    kafka_bootstrap: str,
    request: pytest.FixtureRequest,
) -> None:
    keys = add_reviewers(
        web_settings.database_url, ("rv-web", "reviewer", "junior"), ("rv-lead", "lead", "senior")
    )
    publisher = EventPublisher(producer_factory(), web_settings)
    # claim-next takes the most urgent first: w1, w2, w3, w4 in that order.
    hostile = "<img src=x onerror=alert(1)> Where is my order?"
    publisher.publish(
        "needs-review",
        "w1",
        routed(
            "w1",
            "urgent",
            context=examples.draft().context.model_copy(update={"customer_message": hostile}),
        ),
    )
    for draft_id, priority in (("w2", "high"), ("w3", "normal"), ("w4", "low")):
        publisher.publish("needs-review", draft_id, routed(draft_id, priority))
    publisher.flush()
    base: str = request.getfixturevalue("server")
    page: Page = request.getfixturevalue("page")
    wait_for_queue(base, keys["rv-web"], 4)

    # The page is static and locked down: a strict CSP on every /ui response.
    head = httpx.get(f"{base}/ui/")
    assert head.status_code == 200
    assert "default-src 'self'" in head.headers["content-security-policy"]
    assert httpx.get(f"{base}/ui/app.js").headers["content-security-policy"]
    assert httpx.get(f"{base}/ui/../app.py").status_code == 404

    sign_in(page, base, "not-a-key")
    expect(page.get_by_role("status")).to_contain_text("not accepted")

    sign_in(page, base, keys["rv-web"])
    rows = page.locator("#queue-table tbody tr")
    expect(rows).to_have_count(4)
    expect(page.get_by_role("status")).to_contain_text("4 item(s)")
    expect(page.locator("#nav-lead")).to_be_hidden()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "queue.png", full_page=True)

    # n: claim the next item. Evidence in view: highlighted spans named by signal, the reason,
    # the checklist, the lease countdown; the hostile customer message is shown as text.
    page.keyboard.press("n")
    expect(page.locator("#item-id")).to_have_text("w1")
    marks = page.locator("#draft mark")
    expect(marks.first).to_have_attribute("title", "pii: a name")
    expect(page.locator("#draft mark[data-signals='pii commitments']")).to_have_count(1)
    expect(page.locator("#customer-message")).to_have_text(hostile)
    expect(page.locator("#customer-message img")).to_have_count(0)
    expect(page.locator("#suggestion")).to_contain_text("hard rule requires a human (pii_found)")
    checklist = load_policy(web_settings.policy_file).content_types["customer_email"].checklist
    expect(page.locator("#checklist li")).to_have_count(len(checklist))
    expect(page.locator("#checklist")).to_contain_text(checklist[0])
    expect(page.locator("#lease")).to_have_text(re.compile(r"\d+:\d\d left"))
    expect(page.locator("#signals tbody tr")).to_have_count(2)
    expect(page.locator("#signals")).to_contain_text("-0.400")
    page.screenshot(path=SCREENSHOTS / "item.png", full_page=True)

    # e: edit in place; typing in the textarea never fires a shortcut (the "a" and "n" below).
    page.keyboard.press("e")
    editor = page.get_by_label("Edited text")
    expect(editor).to_be_focused()
    editor.fill("")
    editor.press_sequentially("an ")
    expect(page.locator("#item-id")).to_have_text("w1")
    # A figure the sources do not have is a warning beside the editor, re-read as one types.
    editor.fill(EDITED + " We refund 😀 $99.00 now.")
    expect(page.locator("#edit-warnings li.new")).to_contain_text("“$99.00”")
    editor.fill(EDITED)
    expect(page.locator("#edit-warnings li")).to_have_count(0)
    expect(page.locator("#diff ins").first).to_be_visible()
    expect(page.locator("#diff del").first).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "edit.png", full_page=True)
    page.get_by_label("Reason codes (reject or edit)").select_option("factual_error")
    page.get_by_role("button", name="Submit edit").click()
    expect(page.get_by_role("status")).to_contain_text("Edited w1")
    expect(page.locator("#item-id")).to_have_text("w2")

    # s: escalate with the chosen reason; the next item loads.
    page.get_by_label("Escalation reason").select_option("policy_question")
    page.locator("#item-h").focus()
    page.keyboard.press("s")
    expect(page.get_by_role("status")).to_contain_text("Escalated w2 (policy_question)")
    expect(page.locator("#item-id")).to_have_text("w3")

    # a: approve.
    page.keyboard.press("a")
    expect(page.get_by_role("status")).to_contain_text("Approved w3")
    expect(page.locator("#item-id")).to_have_text("w4")

    # r without a reason code is refused on the page; with one it rejects, and the queue is empty.
    page.keyboard.press("r")
    expect(page.get_by_role("status")).to_contain_text("Choose at least one reason code")
    expect(page.get_by_label("Reason codes (reject or edit)")).to_be_focused()
    page.get_by_label("Reason codes (reject or edit)").select_option("tone")
    page.locator("#item-h").focus()
    page.keyboard.press("r")
    expect(page.get_by_role("status")).to_contain_text("Rejected w4")
    expect(page.get_by_role("status")).to_contain_text("queue is empty")
    expect(page.locator("#queue")).to_be_visible()

    # ?: the shortcuts, on the page.
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_contain_text("Keyboard shortcuts")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()

    # The lead's view: queue depth (the escalated item, now senior), throughput, thresholds.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, base, keys["rv-lead"])
    expect(page.get_by_role("status")).to_contain_text("item(s) in your queue")
    expect(page.locator("#nav-lead")).to_be_visible()
    page.keyboard.press("l")
    expect(page.locator("#depth tbody")).to_contain_text("senior")
    expect(page.locator("#reviewers tbody")).to_contain_text("rv-web")
    expect(page.locator("#reviewers tbody tr").first).to_contain_text("3")
    page.screenshot(path=SCREENSHOTS / "lead.png", full_page=True)

    # The decisions made on the page are on the `decisions` topic, exactly one per item.
    msgs = read_to_end(kafka_bootstrap, f"{web_settings.topic_prefix}decisions", at_least=3)
    decided = {d.draft_id: d for d in (decode(Decision, m.value()) for m in msgs)}
    assert set(decided) == {"w1", "w3", "w4"}
    assert decided["w1"].verdict == "edit"
    assert decided["w1"].final_text == EDITED
    assert decided["w1"].reason_codes == ["factual_error"]
    assert decided["w3"].verdict == "approve"
    assert decided["w4"].verdict == "reject"
    assert decided["w4"].reason_codes == ["tone"]
    escalated = httpx.get(
        f"{base}/v1/items/w2", headers={"Authorization": f"Bearer {keys['rv-lead']}"}
    ).json()
    assert escalated["tier"] == "senior"
    assert json.dumps(escalated["escalations"]).count("policy_question") == 1


# Astral emoji (two UTF-16 units each), a skin-tone modifier and a ZWJ family (five code points)
# before the flagged stretches: span offsets count code points, as Python's str does.
EMOJI_DRAFT = "Thanks 😀👍🏽 for waiting! 👨‍👩‍👧 Your refund of $250 arrives by Friday 🎉."
FLAGGED = ("$250", "Friday")


def test_highlights_land_on_the_flagged_text_after_emoji(
    web_settings: ReviewApiSettings,
    producer_factory: Callable[..., Producer],
    request: pytest.FixtureRequest,
) -> None:
    keys = add_reviewers(web_settings.database_url, ("rv-emoji", "reviewer", "junior"))
    spans = [
        Span(start=EMOJI_DRAFT.index(s), end=EMOJI_DRAFT.index(s) + len(s), label=f"said {s}")
        for s in FLAGGED
    ]
    now = datetime.now(UTC)
    event = examples.routed_draft(
        draft=examples.draft(draft_id="emoji-1", content_type="customer_email", text=EMOJI_DRAFT),
        score=examples.score(
            signals=[Signal(name="commitments", value=0.8, spans=spans)], confidence=0.5
        ),
        reason=RouteReason(kind="low_confidence"),
        audit=False,
        audit_q=1.0,
        tier="junior",
        priority="normal",
        routed_at=now,
        due_at=now + timedelta(hours=1),
    )
    publisher = EventPublisher(producer_factory(), web_settings)
    publisher.publish("needs-review", "emoji-1", event)
    publisher.flush()
    base: str = request.getfixturevalue("server")
    page: Page = request.getfixturevalue("page")
    wait_for_queue(base, keys["rv-emoji"], 1)
    sign_in(page, base, keys["rv-emoji"])
    expect(page.locator("#queue-table tbody tr")).to_have_count(1)
    page.keyboard.press("n")
    expect(page.locator("#item-id")).to_have_text("emoji-1")
    # Sliced by UTF-16 units, each highlight was shifted by the emoji before it ("nd o", ...).
    expect(page.locator("#draft mark")).to_have_text(list(FLAGGED))
    expect(page.locator("#draft")).to_have_text(EMOJI_DRAFT)
    expect(page.locator("#flags li")).to_have_text(
        [f"commitments: “{s}” (said {s})" for s in FLAGGED]
    )
