// omnivec web page, Ask view: a question to a text collection, answered by the language model
// the server was started with (omnivec serve --llm URL --llm-model M), streamed as it is
// written, with numbered sources that open their passages. The page never chooses the model.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const shared = () => window.omnivec;
  const KEY_STORE = "omnivec.apiKey"; // the key app.js asks for once and keeps for the session
  const view = { seq: 0, checked: false, available: false };

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORE) || ""; } catch (err) { return ""; }
  }

  async function post(path, body) {
    const init = () => {
      const headers = { "Content-Type": "application/json", Accept: "text/event-stream, application/json" };
      const key = storedKey();
      if (key) headers.Authorization = `Bearer ${key}`;
      return { method: "POST", headers, body: JSON.stringify(body) };
    };
    let resp;
    try {
      resp = await fetch(path, init());
      if (resp.status === 401) {
        // app.js's api() asks for the key (and keeps it); then send again with it.
        await shared().api("/llm");
        resp = await fetch(path, init());
      }
    } catch (err) {
      if (err && err.status) throw err;
      throw Object.assign(new Error("the server cannot be reached; is `omnivec serve` still running?"), { error: "network" });
    }
    if (!resp.ok) {
      let data = null;
      try { data = await resp.json(); } catch (err) { data = null; }
      const e = data || {};
      throw Object.assign(new Error(e.detail || resp.statusText), { error: e.error || `HTTP ${resp.status}`, status: resp.status });
    }
    return resp;
  }

  // Server-sent events from a fetch body: yields each event's data, parsed.
  async function* events(resp) {
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
        if (data) yield JSON.parse(data);
      }
    }
  }

  function openSource(n) {
    const item = $(`ask-source-${n}`);
    if (!item) return;
    const details = item.querySelector("details");
    if (details) details.open = true;
    item.classList.add("flash");
    setTimeout(() => item.classList.remove("flash"), 1200);
    item.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function citeLink(n, attributed) {
    const link = document.createElement("a");
    link.href = `#ask-source-${n}`;
    link.className = attributed ? "cite attributed" : "cite";
    link.textContent = `[${n}]`;
    if (attributed) link.title = `The model did not write [${n}]; source ${n} holds what the answer says.`;
    link.addEventListener("click", (ev) => {
      ev.preventDefault();
      openSource(n);
    });
    return link;
  }

  // The answer's text, its [n] citations turned into links that open source n; sources the
  // answer was attributed to (the model did not write their number) follow as links too.
  function renderAnswer(box, answer) {
    const text = answer.text || "";
    const count = (answer.sources || []).length;
    box.replaceChildren();
    const pattern = /\[(\d+)\]/g;
    let last = 0;
    let m;
    while ((m = pattern.exec(text)) !== null) {
      const n = Number(m[1]);
      if (n < 1 || n > count) continue;
      box.append(document.createTextNode(text.slice(last, m.index)), citeLink(n, false));
      last = m.index + m[0].length;
    }
    box.append(document.createTextNode(text.slice(last)));
    for (const n of answer.attributed || []) {
      if (n >= 1 && n <= count) box.append(" ", citeLink(n, true));
    }
  }

  function renderSources(list, answer) {
    list.replaceChildren();
    const cited = new Set(answer.citations || []);
    for (const src of answer.sources || []) {
      const li = document.createElement("li");
      li.id = `ask-source-${src.n}`;
      li.className = cited.has(src.n) ? "source cited" : "source";
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      const num = document.createElement("span");
      num.className = "source-n";
      num.textContent = `[${src.n}]`;
      const id = document.createElement("code");
      id.textContent = String(src.id);
      const score = document.createElement("span");
      score.className = "muted small";
      score.textContent = ` ${Number(src.score).toFixed(4)}${cited.has(src.n) ? " · cited" : ""}`;
      summary.append(num, " ", id, score);
      const passage = document.createElement("p");
      passage.className = "hit-text";
      passage.textContent = src.passage || src.text || "";
      details.append(summary, passage);
      li.append(details);
      list.append(li);
    }
  }

  async function runAsk() {
    const o = shared();
    const seq = ++view.seq;
    const name = $("ask-collection").value;
    const question = $("ask-question").value.trim();
    $("ask-error").hidden = true;
    if (!name || !question) return;
    const k = Math.max(1, Math.min(50, Number($("ask-k").value) || 5));
    const box = $("ask-answer");
    const list = $("ask-sources");
    box.replaceChildren();
    list.replaceChildren();
    box.hidden = false;
    box.classList.add("streaming");
    $("ask-button").disabled = true;
    $("ask-status").textContent = "asking…";
    const started = performance.now();
    let text = "";
    let first = null;
    try {
      const resp = await post(`/collections/${encodeURIComponent(name)}/ask`, { question, k, stream: true });
      for await (const ev of events(resp)) {
        if (seq !== view.seq) return;
        if (ev.type === "delta") {
          if (first === null) first = performance.now() - started;
          text += ev.text;
          box.textContent = text;
        } else if (ev.type === "answer") {
          renderAnswer(box, ev);
          renderSources(list, ev);
          const ttft = first === null ? "" : ` · first words ${Math.round(first)} ms`;
          $("ask-status").textContent = `${(ev.sources || []).length} sources${ttft} · ${Math.round(performance.now() - started)} ms`;
        } else if (ev.type === "error") {
          throw Object.assign(new Error(ev.detail), { error: ev.error });
        }
      }
    } catch (err) {
      if (seq !== view.seq) return;
      $("ask-status").textContent = "";
      if (!text) box.hidden = true;
      o.showError($("ask-error"), err);
    } finally {
      box.classList.remove("streaming");
      if (seq === view.seq) $("ask-button").disabled = !view.available;
    }
  }

  async function checkLLM() {
    if (view.checked) return;
    view.checked = true;
    try {
      const info = await shared().api("/llm");
      view.available = Boolean(info.available);
      $("ask-meta").textContent = view.available
        ? `Answers by ${info.model}, only from the passages it is given; numbers cite them.`
        : "This server has no language model: start it with omnivec serve --llm URL --llm-model MODEL.";
    } catch (err) {
      view.checked = false;
      shared().showError($("ask-error"), err);
    }
    $("ask-button").disabled = !view.available;
  }

  function setup() {
    $("ask-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      runAsk();
    });
    document.addEventListener("omnivec:collections", (ev) => {
      const texts = (ev.detail || []).filter((c) => !c.error && (c.modalities || []).includes("text") && c.count > 0);
      const select = $("ask-collection");
      select.replaceChildren();
      for (const c of texts) {
        const opt = document.createElement("option");
        opt.value = c.name;
        opt.textContent = `${c.name} — ${c.count.toLocaleString()} records`;
        select.append(opt);
      }
      select.disabled = !texts.length;
    });
    document.addEventListener("omnivec:tab", (ev) => {
      if (ev.detail === "ask") checkLLM();
    });
  }

  setup();
})();
