"""The web page in a real headless browser: Debian's Chromium, driven by Playwright, against
`ragfood serve` with the stub generator. The user types, watches the answer stream in, reads the
numbered sources, follows up, filters, enters the API key — and nothing leaves 127.0.0.1."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, Request, expect, sync_playwright

from ragfood.sync import sync_foods
from tests.core.conftest import make_gateway
from tests.support.env import ragfood_env
from tests.support.samples import PHO
from tests.support.serve import ragfood_serve

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
# As python.md says: without the background-networking flags Chromium calls home at start.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `make chromium` (Debian's package)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.requests = []  # type: ignore[attr-defined]
    context.on("request", lambda request: page.requests.append(request.url))  # type: ignore[attr-defined]
    page.set_default_timeout(20_000)
    yield page
    context.close()


def hosts(page: Page) -> set[str]:
    return {urlsplit(url).hostname or urlsplit(url).scheme for url in page.requests}  # type: ignore[attr-defined]


def ask(page: Page, question: str) -> None:
    page.fill("#question", question)
    page.click("#ask")


def test_a_conversation_streams_answers_with_sources_and_follows_up(page, dataset_env, stub):
    stub.state.word_delay_s = 0.05  # a generator that writes word by word
    with ragfood_serve({**dataset_env, "GENERATOR_URL": stub.url}) as base:
        page.goto(f"{base}/")
        expect(page).to_have_title("RAGFood — ask about food")

        ask(page, "What is bibimbap?")
        first = page.locator("#turns > li").nth(0)
        # Streaming: part of the answer is on screen while the generator is still writing.
        expect(first.locator(".answer[aria-busy='true']")).to_contain_text("According")
        expect(first.locator(".note")).to_contain_text("Answered by ollama")
        expect(first.locator(".answer")).to_have_attribute("aria-busy", "false")
        expect(first.locator(".answer")).to_contain_text("Bibimbap")
        sources = first.locator(".sources > li")
        expect(sources.first.locator(".id")).to_have_text("bibimbap")
        expect(sources.first.locator(".meta")).to_contain_text("Korea · main dish · score 0.")
        assert sources.first.get_attribute("value") == "1"

        ask(page, "Which country is it from?")
        second = page.locator("#turns > li").nth(1)
        expect(second.locator(".note")).to_contain_text("Answered by")
        expect(second.locator(".resolved")).to_contain_text("bibimbap")
        expect(second.locator(".sources > li").first.locator(".id")).to_have_text("bibimbap")
        shot = page.screenshot(full_page=True)
        if os.environ.get("RAGFOOD_UPDATE_SCREENSHOT") == "1":
            SCREENSHOT.write_bytes(shot)

        # A filter restricts the sources to a region.
        page.click("#new-conversation")
        page.fill("#region", "Japan")
        ask(page, "a sweet rice dessert")
        third = page.locator("#turns > li").nth(0)
        expect(third.locator(".note")).to_contain_text("Answered by")
        metas = third.locator(".sources .meta").all_inner_texts()
        assert metas and all(meta.startswith(" — Japan ·") for meta in metas), metas

    assert hosts(page) == {"127.0.0.1"}, page.requests  # type: ignore[attr-defined]


def test_a_slow_generator_is_seen_streaming_and_the_budget_ends_it(page, kb_env, stub):
    stub.state.mode, stub.state.trickle_s = "trickle", 0.5
    env = {**kb_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "4"}
    with ragfood_serve(env) as base:
        page.goto(f"{base}/")
        ask(page, "Tell me about the Vietnamese noodle soup pho")
        turn = page.locator("#turns > li").nth(0)
        expect(turn.locator(".sources .id").first).to_have_text("pho")
        expect(turn.locator(".answer[aria-busy='true']")).to_contain_text("slowly slowly")
        expect(turn.locator(".note.degraded")).to_contain_text("Degraded: the time budget")
    assert hosts(page) == {"127.0.0.1"}


def test_the_page_asks_for_the_api_key_when_the_api_needs_one(page, kb_env):
    with ragfood_serve(kb_env, "--api-key", "local-key") as base:
        page.goto(f"{base}/")
        expect(page.locator("#key-panel")).to_be_hidden()
        ask(page, "Tell me about the Vietnamese noodle soup pho")
        expect(page.locator("#key-panel")).to_be_visible()
        expect(page.locator("#status")).to_contain_text("needs a valid API key")
        page.fill("#api-key", "local-key")
        page.press("#api-key", "Enter")  # the keyboard alone sets it
        expect(page.locator("#key-panel")).to_be_hidden()
        assert page.evaluate("sessionStorage.getItem('ragfood.apiKey')") == "local-key"
        ask(page, "Tell me about the Vietnamese noodle soup pho")
        expect(page.locator("#turns > li").nth(1).locator(".sources .id").first).to_have_text("pho")
    assert hosts(page) == {"127.0.0.1"}


def test_the_page_loads_nothing_from_elsewhere_and_forbids_it(page, kb_env):
    with ragfood_serve(kb_env) as base:
        response = page.goto(f"{base}/")
        assert response is not None and response.ok
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
        html = response.text()
        for marker in ("http://", "https://", "//cdn", "src=\"//", "@import"):
            assert marker not in html, marker
        # Even if a script tried, the browser would refuse to fetch from elsewhere.
        blocked = page.evaluate(
            "fetch('http://example.invalid/x').then(() => 'fetched', e => 'blocked: ' + e)"
        )
        assert blocked.startswith("blocked")
    assert hosts(page) == {"127.0.0.1"}


def record_stream_bodies(page: Page) -> list[dict]:
    """A list that fills, in order, with the bodies the page POSTs to ask/stream from now on."""
    bodies: list[dict] = []

    def on_request(request: Request) -> None:
        if request.url.endswith("/ask/stream"):
            bodies.append(json.loads(request.post_data or "null"))

    page.on("request", on_request)
    return bodies


def test_enter_while_an_answer_streams_waits_and_keeps_the_conversation(page, kb_env, stub):
    """A second Enter while the first answer is still streaming sends nothing (the Ask button is
    disabled, and the keyboard must honour it too): a follow-up sent then would reach the server
    before the first turn is saved, and be answered without it. The typed text stays."""
    stub.state.word_delay_s = 0.15  # about 5 s of streaming
    bodies = record_stream_bodies(page)
    with ragfood_serve({**kb_env, "GENERATOR_URL": stub.url}) as base:
        page.goto(f"{base}/")
        page.fill("#question", "Tell me about the Vietnamese noodle soup pho")
        page.press("#question", "Enter")
        first = page.locator("#turns > li").nth(0)
        expect(first.locator(".answer[aria-busy='true']")).to_contain_text("According")
        page.fill("#question", "Which country is it from?")
        page.press("#question", "Enter")
        expect(first.locator(".answer")).to_have_attribute("aria-busy", "false")
        assert len(bodies) == 1, bodies
        expect(page.locator("#question")).to_have_value("Which country is it from?")
        expect(page.locator("#turns > li")).to_have_count(1)

        page.press("#question", "Enter")  # now it goes, as a follow-up of the first turn
        second = page.locator("#turns > li").nth(1)
        expect(second.locator(".note")).to_contain_text("Answered by")
        expect(second.locator(".resolved")).to_contain_text("pho")
        session = page.evaluate("sessionStorage.getItem('ragfood.session')")
        assert [b.get("session_id") for b in bodies] == [None, session]


def test_a_new_conversation_started_mid_answer_stays_new(page, kb_env, stub):
    """A "New conversation" while an answer streams stops that answer (the server stops
    generating) and the old session never comes back: the next question starts afresh."""
    stub.state.mode, stub.state.trickle_s = "trickle", 0.3
    bodies = record_stream_bodies(page)
    env = {**kb_env, "GENERATOR_URL": stub.url, "RAGFOOD_ASK_BUDGET_S": "8"}
    with ragfood_serve(env) as base:
        page.goto(f"{base}/")
        ask(page, "Tell me about the Vietnamese noodle soup pho")
        first = page.locator("#turns > li").nth(0)
        expect(first.locator(".answer[aria-busy='true']")).to_contain_text("slowly")
        page.click("#new-conversation")
        expect(page.locator("#turns > li")).to_have_count(0)
        expect(page.locator("#ask")).to_be_enabled()
        # The generation stops with the request, long before the 8 s budget would end it.
        assert stub.open_streams_after(5) == 0, "the abandoned answer is still being generated"
        page.wait_for_timeout(500)
        assert page.evaluate("sessionStorage.getItem('ragfood.session')") is None
        expect(page.locator("#status")).to_have_text("New conversation.")

        stub.state.mode = "ok"
        ask(page, "What is mochi?")
        turn = page.locator("#turns > li").nth(0)
        expect(turn.locator(".note")).to_contain_text("Answered by")
        assert "session_id" not in bodies[-1]


def test_the_api_out_of_reach_is_said_plainly_and_the_question_kept(page, kb_env):
    with ragfood_serve(kb_env) as base:
        page.goto(f"{base}/")
    # The server is gone now; the page is still open.
    ask(page, "Tell me about the Vietnamese noodle soup pho")
    expect(page.locator("#status.error")).to_contain_text("Could not reach the RAGFood API")
    expect(page.locator("#question")).to_have_value("Tell me about the Vietnamese noodle soup pho")
    expect(page.locator("#ask")).to_be_enabled()


FUL = {
    "id": "ful-medames",
    "text": "فول مدمس طبق مصري من الفول المطبوخ ببطء مع الكمون وزيت الزيتون والليمون 🫘",
    "region": "Egypt",
    "type": "main dish",
}


def test_right_to_left_text_and_emoji_stream_and_read_right_to_left(
    page, vector_server, fresh_namespace, stub
):
    """An Arabic question, streamed answer and source: shown whole (emoji included), and each
    paragraph that starts in Arabic reads right to left, as its reader expects."""
    sync_foods(
        json.dumps([FUL, PHO]).encode(), make_gateway(vector_server), namespace=fresh_namespace
    )
    stub.state.word_delay_s = 0.02
    env = ragfood_env(vector_server, fresh_namespace, GENERATOR_URL=stub.url, RAGFOOD_MIN_SCORE="0")
    question = "ما هو فول مدمس؟"
    with ragfood_serve(env) as base:
        page.goto(f"{base}/")
        expect(page.locator("#question")).to_have_attribute("dir", "auto")
        ask(page, question)
        turn = page.locator("#turns > li").nth(0)
        expect(turn.locator(".note")).to_contain_text("Answered by ollama")
        expect(turn.locator(".question")).to_have_text(question)
        expect(turn.locator(".answer")).to_contain_text(FUL["text"])
        source = turn.locator(".sources > li").first
        expect(source.locator(".id")).to_have_text("ful-medames")
        expect(source.locator("div")).to_have_text(FUL["text"])
        direction = "el => getComputedStyle(el).direction"
        assert turn.locator(".question").evaluate(direction) == "rtl"
        assert source.locator("div").evaluate(direction) == "rtl"
        # An English answer quoting Arabic stays left to right; the English source too.
        assert turn.locator(".answer").evaluate(direction) == "ltr"
        assert turn.locator(".sources > li").nth(1).locator("div").evaluate(direction) == "ltr"


def ask_with_stored_session(page: Page, base: str, stored: str, question: str) -> Locator:
    """The page opened with `stored` as the session id its tab kept (from an earlier visit),
    then `question` asked: its turn."""
    page.goto(f"{base}/")
    page.evaluate("id => sessionStorage.setItem('ragfood.session', id)", stored)
    page.reload()
    ask(page, question)
    return page.locator("#turns > li").nth(0)


def test_a_conversation_the_server_forgot_is_said_to_have_expired(page, kb_env):
    """The page keeps its session id in the tab; when the server no longer knows it (expired,
    or `ragfood serve` restarted), the follow-up is answered on its own: the page says so."""
    with ragfood_serve(kb_env) as base:
        turn = ask_with_stored_session(page, base, "A" * 32, "Which country is it from?")
        expect(turn.locator(".note")).to_be_visible()
        expect(turn.locator(".resolved")).to_contain_text("The earlier conversation has expired")
        fresh = page.evaluate("sessionStorage.getItem('ragfood.session')")
        assert fresh and fresh != "A" * 32

        ask(page, "Tell me about the Vietnamese noodle soup pho")  # in the new one: no note
        expect(page.locator("#turns > li").nth(1).locator(".note")).to_be_visible()
        expect(page.locator("#turns > li").nth(1).locator(".resolved")).to_be_hidden()


def test_a_refused_question_and_a_quoted_answer_say_what_happened(page, kb_env):
    """Without a generator: a question no source matches is said to have matched nothing (not
    "answered by none"), and a matched one to be answered by quoting the sources."""
    with ragfood_serve(kb_env) as base:
        page.goto(f"{base}/")
        ask(page, "How do I repair a car engine gearbox?")
        refused = page.locator("#turns > li").nth(0)
        expect(refused.locator(".answer")).to_contain_text("no information")
        expect(refused.locator(".note")).to_contain_text("No source matched the question")
        expect(refused.locator(".note")).not_to_contain_text("none")
        ask(page, "Tell me about the Vietnamese noodle soup pho")
        quoted = page.locator("#turns > li").nth(1)
        expect(quoted.locator(".note")).to_contain_text(
            "Answered by quoting the sources (no generator configured)"
        )


def test_enter_that_ends_an_input_method_composition_does_not_send(page, kb_env):
    """Typing Japanese, Chinese or Korean, Enter first picks the characters (the keydown says
    isComposing); only the next Enter sends the question."""
    with ragfood_serve(kb_env) as base:
        page.goto(f"{base}/")
        page.fill("#question", "ビビンバとは")
        page.eval_on_selector(
            "#question",
            """box => box.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter",
                keyCode: 229, isComposing: true, bubbles: true, cancelable: true}))""",
        )
        page.wait_for_timeout(300)
        expect(page.locator("#turns > li")).to_have_count(0)
        expect(page.locator("#question")).to_have_value("ビビンバとは")
        page.press("#question", "Enter")
        expect(page.locator("#turns > li")).to_have_count(1)
        expect(page.locator("#turns > li .note")).to_be_visible()


def test_a_malformed_stored_session_id_is_dropped_not_sent(page, kb_env):
    with ragfood_serve(kb_env) as base:
        turn = ask_with_stored_session(
            page, base, "from-an-older-page", "Tell me about the Vietnamese noodle soup pho"
        )
        expect(turn.locator(".note")).to_contain_text("Answered by")
        expect(page.locator("#status")).not_to_have_class("error")
        stored = page.evaluate("sessionStorage.getItem('ragfood.session')")
        assert stored != "from-an-older-page" and len(stored) == 32
