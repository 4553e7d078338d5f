// omnivec web page, Map view: a collection as a scatter plot on a <canvas> (GET
// /collections/{name}/map), coloured by cluster or a metadata key. Hover shows a record's
// text or thumbnail; a click searches "more like this". Drawn by hand: the page loads nothing
// from outside the server.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const IMAGE_DATA_URI = /^data:image\/(png|jpeg|jpg|gif|webp|bmp);base64,[A-Za-z0-9+/=\s]+$/;
  // Tableau-like categorical colours, readable on light and dark backgrounds.
  const PALETTE = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
  ];
  const OTHER = "#b9bec7";
  const PAD = 24;

  const view = {
    collections: [],
    data: null, // the last /map answer
    screen: [], // [x, y] in CSS pixels per point
    colors: [], // colour per point
    highlight: new Set(), // indexes of the last "more like this" hits
    hover: -1,
    selected: -1,
    seq: 0,
  };

  const shared = () => window.omnivec;

  function labelKey(v) {
    return v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v);
  }

  function assignColors(points, colorBy) {
    const counts = new Map();
    for (const p of points) {
      const key = labelKey(p.label);
      counts.set(key, (counts.get(key) || 0) + 1);
    }
    const named = [...counts.entries()]
      .filter(([key]) => key !== "—" && !(colorBy === "cluster" && key === "-1"))
      .sort((a, b) => b[1] - a[1])
      .slice(0, PALETTE.length)
      .map(([key]) => key)
      .sort((a, b) => (Number.isNaN(Number(a)) || Number.isNaN(Number(b)) ? a.localeCompare(b) : Number(a) - Number(b)));
    const colorOf = new Map(named.map((key, i) => [key, PALETTE[i]]));
    view.colors = points.map((p) => colorOf.get(labelKey(p.label)) || OTHER);
    const legend = named.map((key) => ({ key, color: colorOf.get(key), count: counts.get(key) }));
    const rest = points.length - named.reduce((n, key) => n + counts.get(key), 0);
    if (rest) legend.push({ key: colorBy === "cluster" ? "noise" : "other / none", color: OTHER, count: rest });
    return legend;
  }

  function renderLegend(legend, colorBy) {
    const ul = $("map-legend");
    ul.replaceChildren();
    for (const entry of legend) {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = entry.color;
      const name = colorBy === "cluster" && /^-?\d+$/.test(entry.key) ? `cluster ${entry.key}` : entry.key;
      li.append(sw, document.createTextNode(`${name} (${entry.count})`));
      ul.append(li);
    }
  }

  function layout() {
    const canvas = $("map-canvas");
    const rect = canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(rect.width * dpr);
    canvas.height = Math.round(rect.height * dpr);
    const pts = view.data ? view.data.points : [];
    if (!pts.length) return;
    const xs = pts.map((p) => p.x);
    const ys = pts.map((p) => p.y);
    const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
    const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    const w = rect.width - 2 * PAD;
    const h = rect.height - 2 * PAD;
    // One scale for both axes keeps distances honest; centre the shorter side.
    const scale = Math.min(w / (x1 - x0 || 1), h / (y1 - y0 || 1));
    const ox = PAD + (w - scale * (x1 - x0)) / 2;
    const oy = PAD + (h - scale * (y1 - y0)) / 2;
    view.screen = pts.map((p) => [ox + (p.x - x0) * scale, rect.height - (oy + (p.y - y0) * scale)]);
  }

  function draw() {
    const canvas = $("map-canvas");
    const ctx = canvas.getContext("2d");
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const n = view.screen.length;
    const r = Math.max(2.5, Math.min(7, 140 / Math.sqrt(n || 1)));
    const dim = view.highlight.size > 0;
    for (let i = 0; i < n; i++) {
      const [x, y] = view.screen[i];
      ctx.globalAlpha = dim && !view.highlight.has(i) && i !== view.selected ? 0.25 : 0.9;
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fillStyle = view.colors[i];
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    const ring = (i, color, width) => {
      if (i < 0 || i >= n) return;
      ctx.beginPath();
      ctx.arc(view.screen[i][0], view.screen[i][1], r + 3, 0, 2 * Math.PI);
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.stroke();
    };
    for (const i of view.highlight) ring(i, "#3454d1", 1.5);
    ring(view.selected, "#e15759", 2.5);
    ring(view.hover, "#1c2430", 2);
  }

  function nearest(mx, my) {
    let best = -1;
    let bestD = 12 * 12; // within 12 CSS pixels
    view.screen.forEach(([x, y], i) => {
      const d = (x - mx) ** 2 + (y - my) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    });
    return best;
  }

  function showTip(i, mx, my) {
    const tip = $("map-tip");
    if (i < 0) {
      tip.hidden = true;
      return;
    }
    const p = view.data.points[i];
    $("map-tip-id").textContent = typeof p.id === "string" ? p.id : JSON.stringify(p.id);
    const by = view.data.color_by;
    $("map-tip-label").textContent = by === "cluster"
      ? (p.cluster === -1 ? "noise" : `cluster ${p.cluster}`)
      : `${by}: ${labelKey(p.label)}`;
    $("map-tip-text").textContent = p.text || "";
    $("map-tip-text").hidden = !p.text;
    const img = $("map-tip-img");
    if (typeof p.thumbnail === "string" && IMAGE_DATA_URI.test(p.thumbnail)) {
      img.src = p.thumbnail;
      img.hidden = false;
    } else {
      img.removeAttribute("src");
      img.hidden = true;
    }
    tip.hidden = false;
    const wrap = $("map-wrap").getBoundingClientRect();
    const left = Math.min(mx + 14, wrap.width - tip.offsetWidth - 8);
    const top = my + 14 + tip.offsetHeight > wrap.height ? my - tip.offsetHeight - 10 : my + 14;
    tip.style.left = `${Math.max(4, left)}px`;
    tip.style.top = `${Math.max(4, top)}px`;
  }

  function canvasXY(ev) {
    const rect = $("map-canvas").getBoundingClientRect();
    return [ev.clientX - rect.left, ev.clientY - rect.top];
  }

  async function moreLike(i) {
    const p = view.data.points[i];
    const name = view.data.collection;
    const o = shared();
    view.selected = i;
    const seq = ++view.seq;
    const started = performance.now();
    try {
      const data = await o.api(`/collections/${encodeURIComponent(name)}/search`, { ref: { id: p.id }, k: 10 });
      if (seq !== view.seq) return;
      const hits = data.hits || [];
      const index = new Map(view.data.points.map((q, j) => [labelKey(q.id) + typeof q.id, j]));
      view.highlight = new Set(hits.map((h) => index.get(labelKey(h.id) + typeof h.id)).filter((j) => j !== undefined));
      const col = view.collections.find((c) => c.name === name) || {};
      o.renderHits($("map-results"), hits, { metric: col.metric, onMore: (id) => moreLikeId(id) });
      o.showError($("map-error"), null);
      $("map-status").textContent = o.statusText(hits.length, performance.now() - started, `more like ${JSON.stringify(p.id)}`);
    } catch (err) {
      o.showError($("map-error"), err);
    }
    draw();
  }

  function moreLikeId(id) {
    const i = view.data.points.findIndex((p) => p.id === id);
    if (i >= 0) moreLike(i);
  }

  function fillColorBy(keys, keep) {
    const select = $("map-color");
    select.replaceChildren();
    for (const key of ["cluster", ...keys]) {
      const opt = document.createElement("option");
      opt.value = key;
      opt.textContent = key;
      select.append(opt);
    }
    select.value = ["cluster", ...keys].includes(keep) ? keep : "cluster";
  }

  async function drawMap() {
    const o = shared();
    const name = $("map-collection").value;
    if (!name || !o) return;
    const params = new URLSearchParams({
      method: $("map-method").value,
      color_by: $("map-color").value || "cluster",
      limit: $("map-limit").value.trim() || "2000",
    });
    const seq = ++view.seq;
    const started = performance.now();
    $("map-status").textContent = "drawing…";
    $("map-button").disabled = true;
    try {
      const data = await o.api(`/collections/${encodeURIComponent(name)}/map?${params}`);
      if (seq !== view.seq) return;
      view.data = { ...data, collection: name };
      view.highlight = new Set();
      view.hover = view.selected = -1;
      fillColorBy(data.keys || [], data.color_by);
      const legend = assignColors(data.points, data.color_by);
      o.showError($("map-error"), null);
      $("map-results").replaceChildren();
      $("map-wrap").hidden = false;
      renderLegend(legend, data.color_by);
      layout();
      draw();
      const canvas = $("map-canvas");
      canvas.dataset.points = String(data.points.length);
      canvas.setAttribute("aria-label", `Map of ${name}: ${data.points.length} records by ${data.method}, coloured by ${data.color_by}`);
      const sample = data.total > data.sample_size ? ` (a sample of ${data.total.toLocaleString()})` : "";
      $("map-status").textContent = `${data.sample_size.toLocaleString()} records${sample} · ${data.method.toUpperCase()} · ${Math.round(performance.now() - started)} ms`;
    } catch (err) {
      if (seq !== view.seq) return;
      $("map-status").textContent = "";
      o.showError($("map-error"), err);
    } finally {
      $("map-button").disabled = false;
    }
  }

  function setup() {
    const canvas = $("map-canvas");
    canvas.addEventListener("mousemove", (ev) => {
      if (!view.data) return;
      const [mx, my] = canvasXY(ev);
      const i = nearest(mx, my);
      canvas.style.cursor = i >= 0 ? "pointer" : "default";
      if (i !== view.hover) {
        view.hover = i;
        draw();
      }
      showTip(i, mx, my);
    });
    canvas.addEventListener("mouseleave", () => {
      view.hover = -1;
      showTip(-1);
      draw();
    });
    canvas.addEventListener("click", (ev) => {
      if (!view.data) return;
      const i = nearest(...canvasXY(ev));
      if (i >= 0) moreLike(i);
    });
    $("map-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      drawMap();
    });
    for (const id of ["map-collection", "map-method", "map-color"]) {
      $(id).addEventListener("change", () => {
        if (id === "map-collection") fillColorBy([], "cluster");
        drawMap();
      });
    }
    window.addEventListener("resize", () => {
      if (!view.data || $("map-wrap").hidden) return;
      layout();
      draw();
    });
    document.addEventListener("omnivec:collections", (ev) => {
      view.collections = (ev.detail || []).filter((c) => !c.error && c.count > 0);
      const select = $("map-collection");
      select.replaceChildren();
      for (const c of view.collections) {
        const opt = document.createElement("option");
        opt.value = c.name;
        opt.textContent = `${c.name} — ${c.count.toLocaleString()} records`;
        select.append(opt);
      }
      select.disabled = !view.collections.length;
    });
    document.addEventListener("omnivec:tab", (ev) => {
      // Draw on first visit; the canvas only has a size once its panel is shown.
      if (ev.detail !== "map") return;
      if (!view.data) drawMap();
      else {
        layout();
        draw();
      }
    });
  }

  // Lets tests (and the curious) find where a record is drawn: CSS pixels within the canvas.
  window.omnivecMap = {
    pointOf(id) {
      const i = view.data ? view.data.points.findIndex((p) => p.id === id) : -1;
      return i < 0 ? null : { x: view.screen[i][0], y: view.screen[i][1] };
    },
  };

  setup();
})();
