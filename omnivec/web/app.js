// omnivec web page: search collections and ask recommenders through the JSON API.
// No framework and nothing loaded from outside the server (the page's CSP forbids it).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const TEXT_KEYS = ["text", "title", "caption", "name", "label", "description"];
  const IMAGE_DATA_URI = /^data:image\/(png|jpeg|jpg|gif|webp|bmp);base64,[A-Za-z0-9+/=\s]+$/;

  const state = {
    collections: [],
    recommenders: [],
    image: null, // data: URI of the chosen image
    searchSeq: 0,
    recSeq: 0,
  };

  // -- API ------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, error, detail) {
      super(detail || error);
      this.status = status;
      this.error = error;
    }
  }

  // A server started with --api-key answers 401 without `Authorization: Bearer KEY`: ask for
  // the key once, keep it for this tab's session, and send it on every request.
  const KEY_STORE = "omnivec.apiKey";
  let keyPrompt = null; // one prompt shared by the requests that were refused together

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORE) || ""; } catch (err) { return ""; }
  }

  function askKey(message) {
    if (!keyPrompt) {
      keyPrompt = Promise.resolve().then(() => {
        const key = (window.prompt(message, "") || "").trim();
        try {
          if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
        } catch (err) { /* storage disabled: the key lives until the page reloads */ }
        return key;
      }).finally(() => { keyPrompt = null; });
    }
    return keyPrompt;
  }

  async function send(path, body, key) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers.Authorization = `Bearer ${key}`;
    const init = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
    try {
      return await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network", "the server cannot be reached; is `omnivec serve` still running?");
    }
  }

  async function api(path, body) {
    let key = storedKey();
    let resp = await send(path, body, key);
    for (let tries = 0; resp.status === 401 && tries < 3; tries++) {
      const asked = await askKey(key ? "Wrong API key; enter the server's API key:" : "This server needs an API key (omnivec serve --api-key):");
      if (!asked) break;
      key = asked;
      resp = await send(path, body, key);
    }
    let data = null;
    try {
      data = await resp.json();
    } catch (err) {
      data = null;
    }
    if (!resp.ok) {
      const e = data || {};
      throw new ApiError(resp.status, e.error || `HTTP ${resp.status}`, e.detail || resp.statusText);
    }
    return data;
  }

  // An id typed in a box is text, but stored ids may be ints (graph nodes, ratings data):
  // try the typed string, then the integer it spells.
  function idCandidates(raw) {
    const s = raw.trim();
    const out = [s];
    if (/^-?\d+$/.test(s) && Number.isSafeInteger(Number(s))) out.push(Number(s));
    return out;
  }

  async function withIdFallback(raw, call) {
    const candidates = idCandidates(raw);
    for (let i = 0; i < candidates.length; i++) {
      try {
        return await call(candidates[i]);
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404 || i === candidates.length - 1) throw err;
      }
    }
    return null;
  }

  // -- rendering ------------------------------------------------------------------------
  function fmtScore(s) {
    if (typeof s !== "number") return String(s);
    const a = Math.abs(s);
    return a !== 0 && (a < 0.001 || a >= 10000) ? s.toExponential(2) : s.toFixed(3);
  }

  function fmtValue(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function barWidths(hits, metric) {
    if (!hits.length) return [];
    const scores = hits.map((h) => h.score);
    if (metric === "cosine") return scores.map((s) => Math.max(0, Math.min(1, s)));
    const hi = Math.max(...scores);
    const lo = Math.min(...scores);
    if (hi === lo) return scores.map(() => 1);
    // Relative within the list; the weakest hit still gets a sliver so the bar is visible.
    return scores.map((s) => 0.08 + 0.92 * ((s - lo) / (hi - lo)));
  }

  // Context shown on each side of the matched passage of a long record.
  const CONTEXT_CHARS = 160;

  // The record's stored text; for a long record, the passage that matched is highlighted
  // with some context around it (built with text nodes only: stored text is never HTML).
  // hit.span counts characters (code points, as Python does); JS strings count UTF-16 units.
  function unitIndex(text, chars) {
    let i = 0;
    for (let n = 0; n < chars && i < text.length; n += 1) {
      i += text.codePointAt(i) > 0xffff ? 2 : 1;
    }
    return i;
  }

  function showText(p, text, passage, span) {
    p.replaceChildren();
    const shown = typeof passage === "string" && passage && passage !== text;
    let at = -1;
    let stop = -1;
    if (shown && Array.isArray(span) && span.length === 2) {
      at = unitIndex(text, span[0]);
      stop = unitIndex(text, span[1]);
    } else if (shown) {
      at = text.indexOf(passage);
      stop = at + passage.length;
    }
    if (at < 0) {
      p.textContent = text.length > 600 ? `${text.slice(0, 600)}…` : text;
    } else {
      const start = Math.max(0, at - CONTEXT_CHARS);
      const end = Math.min(text.length, stop + CONTEXT_CHARS);
      const mark = document.createElement("mark");
      mark.className = "passage";
      mark.textContent = text.slice(at, stop);
      p.append(
        (start > 0 ? "…" : "") + text.slice(start, at),
        mark,
        text.slice(stop, end) + (end < text.length ? "…" : ""),
      );
      p.title = `${text.length.toLocaleString()} characters; the highlighted part matched`;
    }
    p.hidden = false;
  }

  function renderHits(list, hits, { metric, onMore, moreLabel }) {
    list.replaceChildren();
    const tpl = $("hit-template");
    const widths = barWidths(hits, metric);
    hits.forEach((hit, i) => {
      const li = tpl.content.firstElementChild.cloneNode(true);
      li.querySelector(".rank").textContent = String(i + 1);
      li.querySelector(".hit-id").textContent = typeof hit.id === "string" ? hit.id : JSON.stringify(hit.id);
      li.querySelector(".score-value").textContent = fmtScore(hit.score);
      li.querySelector(".bar > span").style.width = `${(widths[i] * 100).toFixed(1)}%`;
      // A fused hit (hybrid search, several collections) also shows each leg's own score;
      // a leg that did not find the record is left out.
      if (hit.scores && typeof hit.scores === "object") {
        const legs = li.querySelector(".score-legs");
        legs.replaceChildren(...Object.entries(hit.scores).map(([leg, score]) => {
          const line = document.createElement("span");
          line.textContent = `${leg} ${fmtScore(score)}`;
          line.title = line.textContent;
          return line;
        }));
        legs.hidden = !legs.childElementCount;
        li.querySelector(".score").title = "fused score; below it, each leg's own score";
      }

      const meta = Object.assign({}, hit.metadata || {});
      const thumb = meta.thumbnail;
      delete meta.thumbnail;
      if (typeof thumb === "string" && IMAGE_DATA_URI.test(thumb)) {
        const img = li.querySelector(".thumb");
        img.src = thumb;
        img.alt = `thumbnail of ${li.querySelector(".hit-id").textContent}`;
        img.hidden = false;
        li.classList.add("has-thumb");
      }
      const textKey = TEXT_KEYS.find((key) => typeof meta[key] === "string" && meta[key]);
      if (typeof hit.text === "string" && hit.text) {
        showText(li.querySelector(".hit-text"), hit.text, hit.passage, hit.span);
      } else if (textKey) {
        const p = li.querySelector(".hit-text");
        p.textContent = meta[textKey];
        p.hidden = false;
        delete meta[textKey];
      }
      const dl = li.querySelector(".meta");
      for (const [key, value] of Object.entries(meta)) {
        const wrap = document.createElement("div");
        const dt = document.createElement("dt");
        const dd = document.createElement("dd");
        dt.textContent = key;
        dd.textContent = fmtValue(value);
        dd.title = dd.textContent;
        wrap.append(dt, dd);
        dl.append(wrap);
      }
      const more = li.querySelector(".more");
      if (onMore) {
        more.textContent = moreLabel || "More like this";
        more.setAttribute("aria-label", `${more.textContent}: ${li.querySelector(".hit-id").textContent}`);
        more.addEventListener("click", () => onMore(hit.id));
      } else {
        more.remove();
      }
      list.append(li);
    });
  }

  function showError(box, err) {
    if (!err) {
      box.hidden = true;
      box.replaceChildren();
      return;
    }
    const strong = document.createElement("strong");
    strong.textContent = err.error || "error";
    box.replaceChildren(strong, document.createTextNode(` ${err.message || ""}`));
    box.hidden = false;
  }

  function statusText(n, ms, extra) {
    const hits = `${n} ${n === 1 ? "hit" : "hits"}`;
    return `${hits} in ${Math.round(ms)} ms${extra ? ` · ${extra}` : ""}`;
  }

  // -- tabs -----------------------------------------------------------------------------
  const TABS = ["search", "rec", "map", "ask"];

  function selectTab(which) {
    for (const name of TABS) {
      const tab = $(`tab-${name}`);
      if (!tab) continue;
      tab.setAttribute("aria-selected", String(name === which));
      tab.tabIndex = name === which ? 0 : -1;
      $(`panel-${name}`).hidden = name !== which;
    }
    document.dispatchEvent(new CustomEvent("omnivec:tab", { detail: which }));
  }

  function setupTabs() {
    const tabs = TABS.map((name) => $(`tab-${name}`)).filter(Boolean);
    tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => selectTab(TABS[i]));
      tab.addEventListener("keydown", (ev) => {
        if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
        const next = tabs[(i + (ev.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
        next.click();
        next.focus();
      });
    });
  }

  // -- search ---------------------------------------------------------------------------
  function currentCollection() {
    return state.collections.find((c) => c.name === $("collection").value) || null;
  }

  // dense / keyword / hybrid: only collections with a keyword (BM25) index have a choice.
  function currentSearchMode(col) {
    if (!col || !col.keywords) return null;
    const checked = document.querySelector('input[name="search-mode"]:checked');
    return checked ? checked.value : "hybrid";
  }

  function currentMode() {
    const checked = document.querySelector('input[name="mode"]:checked');
    return checked ? checked.value : "text";
  }

  function modesFor(col) {
    if (!col) return ["text"];
    const m = col.modalities || [];
    const modes = [];
    if (m.includes("text")) modes.push("text");
    if (m.includes("image")) modes.push("image");
    modes.push("ref");
    if (!col.encoder) modes.push("vector");
    return modes;
  }

  function describe(col) {
    if (!col) return "";
    if (col.error) return `unavailable: ${col.detail}`;
    const enc = col.encoder ? `encoder ${col.encoder}` : "raw vectors (query by id or vector)";
    const mods = col.modalities && col.modalities.length ? ` · queries: ${col.modalities.join(", ")}` : "";
    const count = typeof col.count === "number" ? col.count.toLocaleString() : "?";
    const rec = col.recommender ? ` · part of recommender ${col.recommender}` : "";
    const kw = col.keywords ? ` · keywords (${col.analyzer || "standard"} analyzer)` : "";
    return `${enc}${mods} · dim ${col.dim} · ${col.metric} · ${count} records${kw}${rec}`;
  }

  function applyMode() {
    const mode = currentMode();
    const col = currentCollection();
    $("query-field").hidden = mode === "image" || mode === "vector";
    $("vector-field").hidden = mode !== "vector";
    $("image-field").hidden = mode !== "image";
    // Keywords match text queries only (images, ids and vectors are searched by meaning).
    $("search-modes").hidden = !(col && col.keywords && mode === "text");
    const q = $("query");
    if (mode === "ref") {
      const node = col && (col.modalities || []).includes("node");
      $("query-label").textContent = node ? "Node id" : "Stored id";
      q.placeholder = node ? "e.g. 0 — finds the most similar nodes" : "an id in this collection — more like it";
    } else {
      $("query-label").textContent = "Query";
      q.placeholder = col && (col.modalities || []).includes("image")
        ? "Describe an image, e.g. a photo of a cat"
        : "Type what you are looking for";
    }
  }

  function onCollectionChange() {
    const col = currentCollection();
    const modes = modesFor(col);
    for (const label of document.querySelectorAll("#mode-buttons label")) {
      label.hidden = !modes.includes(label.dataset.mode);
    }
    const checked = document.querySelector('input[name="mode"]:checked');
    if (!checked || !modes.includes(checked.value)) {
      document.querySelector(`input[name="mode"][value="${modes[0]}"]`).checked = true;
    }
    $("modes").hidden = modes.length < 2;
    $("col-meta").textContent = describe(col);
    $("search-results").replaceChildren();
    $("search-status").textContent = "";
    showError($("search-error"), null);
    applyMode();
  }

  function readK(input) {
    const raw = input.value.trim();
    if (raw === "") return 10;
    const k = Number(raw);
    // Sent as typed: the server is the one that says what a valid k is.
    return Number.isInteger(k) ? k : raw;
  }

  async function runSearch(override) {
    const col = currentCollection();
    if (!col) return;
    const mode = override ? "ref" : currentMode();
    const base = { k: readK($("k")) };
    const where = $("where").value.trim();
    if (where) base.where = where;
    const minScore = $("min-score").value.trim();
    if (minScore !== "") base.min_score = Number(minScore);

    let call;
    if (override !== undefined) {
      call = () => api(`/collections/${encodeURIComponent(col.name)}/search`, { ...base, ref: { id: override.id } });
    } else if (mode === "text") {
      const query = $("query").value;
      if (!query.trim()) {
        $("search-results").replaceChildren();
        $("search-status").textContent = "";
        showError($("search-error"), null);
        return;
      }
      const searchMode = currentSearchMode(col);
      const body = searchMode ? { ...base, query, mode: searchMode } : { ...base, query };
      call = () => api(`/collections/${encodeURIComponent(col.name)}/search`, body);
    } else if (mode === "image") {
      if (!state.image) {
        showError($("search-error"), { error: "no image", message: "drop or choose an image first" });
        return;
      }
      call = () => api(`/collections/${encodeURIComponent(col.name)}/search`, { ...base, image: state.image });
    } else if (mode === "ref") {
      const raw = $("query").value;
      if (!raw.trim()) return;
      call = () => withIdFallback(raw, (id) =>
        api(`/collections/${encodeURIComponent(col.name)}/search`, { ...base, ref: { id } }));
    } else {
      let vector;
      try {
        vector = JSON.parse($("vector").value);
      } catch (err) {
        showError($("search-error"), { error: "invalid vector", message: "write a JSON array of numbers" });
        return;
      }
      call = () => api(`/collections/${encodeURIComponent(col.name)}/search`, { ...base, vector });
    }

    // Keyword (BM25) and fused scores are not on the metric's scale: bars are relative.
    const fused = override === undefined && mode === "text" && currentSearchMode(col);
    const barMetric = fused && fused !== "dense" ? "relative" : col.metric;
    const seq = ++state.searchSeq;
    const started = performance.now();
    $("search-results").setAttribute("aria-busy", "true");
    try {
      const data = await call();
      if (seq !== state.searchSeq) return; // a newer search already answered or is on its way
      showError($("search-error"), null);
      const hits = data.hits || [];
      renderHits($("search-results"), hits, {
        metric: barMetric,
        onMore: (id) => runSearch({ id }),
      });
      const extra = override !== undefined
        ? `more like ${JSON.stringify(override.id)}`
        : fused ? `${fused} search` : "";
      $("search-status").textContent = statusText(hits.length, performance.now() - started, extra);
    } catch (err) {
      if (seq !== state.searchSeq) return;
      $("search-results").replaceChildren();
      $("search-status").textContent = "";
      showError($("search-error"), err);
    } finally {
      if (seq === state.searchSeq) $("search-results").removeAttribute("aria-busy");
    }
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  function setImage(file) {
    if (!file || !file.type.startsWith("image/")) {
      showError($("search-error"), { error: "not an image", message: "choose a PNG, JPEG, GIF or WebP file" });
      return;
    }
    const reader = new FileReader();
    reader.onload = () => {
      state.image = reader.result;
      const preview = $("image-preview");
      preview.src = reader.result;
      preview.alt = `query image ${file.name || ""}`.trim();
      preview.hidden = false;
      $("image-name").textContent = file.name ? ` — ${file.name}` : "";
      $("image-field").classList.add("has-image");
      runSearch();
    };
    reader.readAsDataURL(file);
  }

  function setupImageInput() {
    const zone = $("image-field");
    const input = $("image-file");
    zone.addEventListener("click", () => input.click());
    zone.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        input.click();
      }
    });
    input.addEventListener("change", () => setImage(input.files[0]));
    for (const type of ["dragenter", "dragover"]) {
      zone.addEventListener(type, (ev) => {
        ev.preventDefault();
        zone.classList.add("dragging");
      });
    }
    for (const type of ["dragleave", "drop"]) {
      zone.addEventListener(type, () => zone.classList.remove("dragging"));
    }
    zone.addEventListener("drop", (ev) => {
      ev.preventDefault();
      setImage(ev.dataTransfer.files[0]);
    });
    document.addEventListener("paste", (ev) => {
      const col = currentCollection();
      if (!col || !(col.modalities || []).includes("image")) return;
      const item = [...(ev.clipboardData ? ev.clipboardData.items : [])].find((i) => i.type.startsWith("image/"));
      if (!item) return;
      document.querySelector('input[name="mode"][value="image"]').checked = true;
      applyMode();
      setImage(item.getAsFile());
    });
  }

  function setupSearch() {
    $("collection").addEventListener("change", onCollectionChange);
    for (const radio of document.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener("change", () => {
        applyMode();
        $("search-results").replaceChildren();
        $("search-status").textContent = "";
      });
    }
    for (const radio of document.querySelectorAll('input[name="search-mode"]')) {
      radio.addEventListener("change", () => runSearch());
    }
    $("search-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      runSearch();
    });
    // Text search answers as you type; ids and vectors wait for Enter.
    const live = debounce(() => {
      if (currentMode() === "text") runSearch();
    }, 250);
    $("query").addEventListener("input", live);
    document.addEventListener("keydown", (ev) => {
      const tag = (ev.target && ev.target.tagName) || "";
      if (ev.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(tag)) {
        ev.preventDefault();
        selectTab("search");
        $("query").focus();
      }
    });
    setupImageInput();
  }

  // -- recommenders ---------------------------------------------------------------------
  function recMode() {
    return document.querySelector('input[name="rec-mode"]:checked').value;
  }

  function currentRecommender() {
    return state.recommenders.find((r) => r.name === $("recommender").value) || null;
  }

  function applyRecMode() {
    const forUser = recMode() === "recommend";
    $("rec-id-label").textContent = forUser ? "User id" : "Item id";
    $("rec-id").placeholder = forUser ? "a user the recommender was fitted on" : "an item id";
    $("exclude-field").hidden = !forUser;
    const rec = currentRecommender();
    $("rec-meta").textContent = rec
      ? rec.error
        ? `unavailable: ${rec.detail}`
        : [rec.algorithm && `algorithm ${rec.algorithm}`, rec.users && `users in ${rec.users}`, rec.items && `items in ${rec.items}`]
            .filter(Boolean).join(" · ")
      : "";
  }

  async function runRecommend(itemOverride) {
    const rec = currentRecommender();
    if (!rec) return;
    const similar = itemOverride !== undefined || recMode() === "similar-items";
    const raw = $("rec-id").value;
    if (itemOverride === undefined && !raw.trim()) return;
    const k = readK($("rec-k"));
    const path = `/recommenders/${encodeURIComponent(rec.name)}/${similar ? "similar-items" : "recommend"}`;
    const body = (id) => (similar ? { item: id, k } : { user: id, k, exclude_seen: $("exclude-seen").checked });
    const seq = ++state.recSeq;
    const started = performance.now();
    try {
      const data = itemOverride !== undefined
        ? await api(path, body(itemOverride))
        : await withIdFallback(raw, (id) => api(path, body(id)));
      if (seq !== state.recSeq) return;
      showError($("rec-error"), null);
      const hits = data.hits || [];
      renderHits($("rec-results"), hits, {
        metric: "ip",
        moreLabel: "Similar items",
        onMore: (id) => runRecommend(id),
      });
      const extra = itemOverride !== undefined ? `items like ${JSON.stringify(itemOverride)}` : "";
      $("rec-status").textContent = statusText(hits.length, performance.now() - started, extra);
    } catch (err) {
      if (seq !== state.recSeq) return;
      $("rec-results").replaceChildren();
      $("rec-status").textContent = "";
      showError($("rec-error"), err);
    }
  }

  function setupRecommenders() {
    $("recommender").addEventListener("change", () => {
      applyRecMode();
      $("rec-results").replaceChildren();
      $("rec-status").textContent = "";
    });
    for (const radio of document.querySelectorAll('input[name="rec-mode"]')) {
      radio.addEventListener("change", applyRecMode);
    }
    $("rec-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      runRecommend();
    });
  }

  // -- start ----------------------------------------------------------------------------
  function fillSelect(select, entries, empty) {
    select.replaceChildren();
    if (!entries.length) {
      const opt = document.createElement("option");
      opt.textContent = empty;
      opt.value = "";
      select.append(opt);
      select.disabled = true;
      return;
    }
    select.disabled = false;
    for (const entry of entries) {
      const opt = document.createElement("option");
      opt.value = entry.name;
      opt.textContent = entry.label;
      select.append(opt);
    }
  }

  async function load() {
    try {
      const health = await api("/healthz");
      $("health").textContent = `ok · v${health.version}`;
      $("health").classList.add("ok");
    } catch (err) {
      $("health").textContent = "server unavailable";
      $("health").classList.add("bad");
    }
    try {
      const data = await api("/collections");
      state.collections = data.collections || [];
      fillSelect(
        $("collection"),
        state.collections.map((c) => ({
          name: c.name,
          label: c.error ? `${c.name} (unavailable)` : `${c.name} — ${c.encoder || "vectors"}`,
        })),
        "no collections yet: omnivec add / omnivec demo",
      );
      onCollectionChange();
    } catch (err) {
      showError($("search-error"), err);
    }
    try {
      const data = await api("/recommenders");
      state.recommenders = data.recommenders || [];
      fillSelect(
        $("recommender"),
        state.recommenders.map((r) => ({ name: r.name, label: r.algorithm ? `${r.name} — ${r.algorithm}` : r.name })),
        "no recommenders yet: omnivec fit-recs",
      );
      applyRecMode();
    } catch (err) {
      showError($("rec-error"), err);
    }
    document.dispatchEvent(new CustomEvent("omnivec:collections", { detail: state.collections }));
    document.body.dataset.ready = "true";
  }

  // What the Map view (map.js) shares with this page: the API call and the hit list.
  window.omnivec = { api, renderHits, showError, statusText };

  setupTabs();
  setupSearch();
  setupRecommenders();
  load();
})();
