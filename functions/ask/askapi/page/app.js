"use strict";
// The ask page: POST ask/stream (fetch + ReadableStream: EventSource cannot POST), render the
// server-sent events as they arrive, keep the session id for follow-ups. Every URL is relative to
// the page, so it works at / locally and under a stage path such as /v1/ when deployed.
(() => {
  const here = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const STREAM_URL = here + "ask/stream";
  const $ = (id) => document.getElementById(id);
  const form = $("ask-form"), questionBox = $("question"), askButton = $("ask");
  const statusLine = $("status"), keyPanel = $("key-panel"), keyInput = $("api-key");
  const seen = { regions: new Set(), types: new Set() };
  // A stored id the API would refuse (another version's, edited by hand; its pattern is
  // ragfood.sessions.SESSION_ID) is dropped, or every question would fail with a 422 until
  // "New conversation".
  let sessionId = sessionStorage.getItem("ragfood.session") || null;
  if (sessionId && !/^[A-Za-z0-9_-]{32}$/.test(sessionId)) sessionId = null;
  // The ask in flight (one at a time: a follow-up sent before the answer is done would reach
  // the server before the turn it follows is saved), so that a new conversation can stop it.
  let inFlight = null;

  function busy(controller) {
    inFlight = controller;
    askButton.disabled = controller !== null;
  }

  function keepSession(id) {  // null: a new conversation
    sessionId = id;
    if (id) sessionStorage.setItem("ragfood.session", id);
    else sessionStorage.removeItem("ragfood.session");
  }

  function status(text, isError = false) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", isError);
  }

  function apiKey() { return sessionStorage.getItem("ragfood.apiKey") || ""; }

  keyInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") $("save-key").click();
  });

  $("save-key").addEventListener("click", () => {
    sessionStorage.setItem("ragfood.apiKey", keyInput.value.trim());
    keyPanel.hidden = true;
    status("API key set for this tab. Ask again.");
  });

  $("new-conversation").addEventListener("click", () => {
    if (inFlight) inFlight.abort();  // its answer and its session belong to the old conversation
    busy(null);
    keepSession(null);
    $("turns").replaceChildren();
    status("New conversation.");
    questionBox.focus();
  });

  questionBox.addEventListener("keydown", (event) => {
    // An Enter that ends an input method's composition (Japanese, Chinese, Korean) picks the
    // characters; it does not send the half-typed question.
    if (event.isComposing || event.keyCode === 229) return;
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = questionBox.value.trim();
    if (!question || inFlight) return;  // Enter while answering: the text waits in the box
    const body = { question };
    for (const field of ["region", "type"]) {
      const value = $(field).value.trim();
      if (value) body[field] = value;
    }
    if (sessionId) body.session_id = sessionId;
    const controller = new AbortController();
    busy(controller);
    status("Searching the knowledge base…");
    const turn = addTurn(question, body.session_id, controller.signal);
    try {
      await stream(body, turn);
    } catch (error) {
      if (!controller.signal.aborted) {
        finishWithError(turn, describe(error, turn));
        if (!turn.started && !questionBox.value) questionBox.value = question;  // nothing lost
      }
    } finally {
      turn.answer.setAttribute("aria-busy", "false");
      if (inFlight === controller) busy(null);  // not when a new conversation took over
    }
  });

  function describe(error, turn) {
    if (!(error instanceof TypeError)) return error.message || String(error);
    // fetch's own failures ("Failed to fetch", "network error") say nothing to a reader.
    return turn.started
      ? "The connection was lost before the answer was complete."
      : "Could not reach the RAGFood API: check the connection, then ask again.";
  }

  // A turn: its elements, and what its stream has done so far.
  function addTurn(question, sentSession, signal) {
    const node = $("turn-template").content.firstElementChild.cloneNode(true);
    node.querySelector(".question").textContent = question;
    $("turns").append(node);
    questionBox.value = "";
    return {
      question,
      sentSession,  // the session id sent with it, if any
      signal,  // aborted by "New conversation"
      started: false,  // the API answered: the stream has begun
      finished: false,  // `done` or `error` came
      answer: node.querySelector(".answer"),
      resolved: node.querySelector(".resolved"),
      note: node.querySelector(".note"),
      sources: node.querySelector(".sources"),
    };
  }

  async function stream(body, turn) {
    const headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    if (apiKey()) headers["x-api-key"] = apiKey();
    const response = await fetch(STREAM_URL, {
      method: "POST", headers, body: JSON.stringify(body), signal: turn.signal,
    });
    if (!response.ok) {
      const detail = await response.json().catch(() => ({}));
      if (response.status === 403) {
        keyPanel.hidden = false;
        keyInput.focus();
        throw new Error("This API needs a valid API key: enter it above, then ask again.");
      }
      throw new Error(detail.error || detail.message || `HTTP ${response.status}`);
    }
    turn.started = true;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const parsed = parseEvent(block);
        if (parsed) handle(parsed.event, parsed.data, turn);
      }
    }
    if (!turn.finished) throw new Error("The connection closed before the answer was complete.");
  }

  function parseEvent(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;  // comment / keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return null;
    return { event, data: JSON.parse(data.join("\n")) };
  }

  function handle(event, data, turn) {
    if (turn.signal.aborted) return;  // an abandoned conversation's events change nothing
    if (event === "sources") {
      remember(data);
      if (turn.sentSession && data.session_id && data.session_id !== turn.sentSession) {
        // The server no longer knows the conversation (it expired, or the server restarted):
        // this question was asked on its own, which explains an answer that misses the context.
        show(turn.resolved, "The earlier conversation has expired: this question was asked on its own, in a new one.");
      }
      showSources(turn, data.sources);
      status(data.sources.length ? "Writing the answer…" : "No matching source.");
    } else if (event === "token") {
      turn.answer.append(document.createTextNode(data.text));
    } else if (event === "done") {
      turn.finished = true;
      remember(data);
      if (data.resolved_question && data.resolved_question !== turn.question) {
        show(turn.resolved, `Answered as: ${data.resolved_question}`);
      }
      show(turn.note, (data.degraded ? `Degraded: ${data.reason || "generator unavailable"}. ` : "")
        + answeredBy(data.generator || {})
        + (data.timings_ms && data.timings_ms.total ? ` in ${Math.round(data.timings_ms.total)} ms.` : "."));
      turn.note.classList.toggle("degraded", Boolean(data.degraded));
      status("Ask a follow-up, or start a new conversation.");
    } else if (event === "error") {
      turn.finished = true;
      finishWithError(turn, data.error || `error ${data.status}`);
    }
  }

  function answeredBy({ kind, model }) {
    if (kind === "none") return "No source matched the question, so nothing was generated";
    if (kind === "extractive") {
      return "Answered by quoting the sources" + (model ? ` (${model} did not answer)` : " (no generator configured)");
    }
    return `Answered by ${kind}${model ? ` (${model})` : ""}`;
  }

  function remember(data) {
    if (data.session_id) keepSession(data.session_id);
  }

  function showSources(turn, sources) {
    turn.sources.replaceChildren(...sources.map((source, i) => {
      const item = document.createElement("li");
      item.value = i + 1;
      const id = document.createElement("span");
      id.className = "id";
      id.textContent = source.id;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = ` — ${source.region || "no region"} · ${source.type || "no type"} · score ${Number(source.score).toFixed(3)}`;
      const text = document.createElement("div");
      text.dir = "auto";  // an Arabic or Hebrew source reads right to left
      text.textContent = source.text;
      item.append(id, meta, text);
      if (source.region) seen.regions.add(source.region);
      if (source.type) seen.types.add(source.type);
      return item;
    }));
    fill("regions", seen.regions);
    fill("types", seen.types);
  }

  function fill(listId, values) {
    $(listId).replaceChildren(...[...values].sort().map((value) => {
      const option = document.createElement("option");
      option.value = value;
      return option;
    }));
  }

  function finishWithError(turn, message) {
    show(turn.note, message);
    turn.note.classList.add("degraded");
    status(message, true);
  }

  function show(element, text) {  // a turn's line that starts hidden
    element.textContent = text;
    element.hidden = false;
  }
})();
