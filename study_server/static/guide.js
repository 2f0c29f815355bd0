// The guide editor: region label maps painted on two canvases, point pairs, undo/redo,
// save and preview. Plain JS, no libraries; the page's CSP allows only this file.
(() => {
  "use strict";

  const $ = (sel, root = document) => root.querySelector(sel);
  const HISTORY = 200;           // undo steps kept
  const HIT = 10;                // display pixels around a point that grab it
  const S = {
    tool: "brush", colour: 1, size: 20, opacity: 0.55, shownOpacity: 0.55, tolerance: 0,
    colours: [], names: [], sides: {}, points: [], pending: null, selected: -1,
    undo: [], redo: [], dirty: false, state: null, busy: false,
  };
  const csrf = document.body.dataset.csrf;

  // ------------------------------------------------------------------ messages

  function say(text, error = false) {
    const el = $("#message");
    el.textContent = text;
    el.classList.toggle("error", error);
  }

  async function request(url, options = {}) {
    const resp = await fetch(url, { credentials: "same-origin", ...options });
    const type = resp.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await resp.json() : null;
    if (!resp.ok) {
      throw new Error((body && body.message) || `${resp.status} ${resp.statusText}`);
    }
    return body;
  }

  // ------------------------------------------------------------------ loading

  async function load() {
    const st = await request(document.body.dataset.state);
    S.state = st;
    S.colours = st.colours.map((c) => c.rgb);
    S.names = st.colours.map((c) => c.name);
    S.points = st.points.map((p) => ({ c: [p[0], p[1]], s: [p[2], p[3]] }));
    const pairSel = $("#pair");
    for (const p of st.pairs) {
      const opt = new Option(`${p.content} × ${p.style}`, p.url);
      opt.selected = p.content === st.pair.content && p.style === st.pair.style;
      pairSel.add(opt);
    }
    pairSel.hidden = st.pairs.length < 2;
    buildPalette();
    await Promise.all(["content", "style"].map((side) => loadSide(side, st.images[side])));
    layout();
    setTool("brush");
    renderAll();
    updateNotes();
    const files = Object.values(st.files);
    say(files.length || st.points.length
      ? `Loaded ${st.manifest}: ${files.join(", ") || "no region guides"}, ${st.points.length} point pair(s).`
      : `Loaded ${st.manifest}: no guidance for this pair yet.`);
    for (const note of st.notes) addNote(note);
  }

  async function loadSide(side, info) {
    const panel = $(`.panel[data-side="${side}"]`);
    const img = $("img", panel);
    const mask = $("canvas.mask", panel);
    const overlay = $("canvas.overlay", panel);
    $(".name", panel).textContent = `${info.name} (${info.width}×${info.height})`;
    const [, buf] = await Promise.all([
      new Promise((resolve, reject) => {
        img.onload = resolve;
        img.onerror = () => reject(new Error(`cannot load ${info.name}`));
        img.src = info.url;
      }),
      fetch(info.labels, { credentials: "same-origin" }).then((r) => {
        if (!r.ok) throw new Error(`cannot load the ${side} guide`);
        return r.arrayBuffer();
      }),
    ]);
    const labels = new Uint8Array(buf);
    if (labels.length !== info.width * info.height) throw new Error(`bad ${side} guide size`);
    mask.width = info.width;
    mask.height = info.height;
    const ctx = mask.getContext("2d");
    const s = {
      side, w: info.width, h: info.height, labels, panel, img, mask, overlay, ctx,
      pixels: ctx.createImageData(info.width, info.height), scale: 1, rgb: null,
    };
    S.sides[side] = s;
    bindPointer(s);
  }

  function buildPalette() {
    const box = $("#palette");
    box.textContent = "";
    S.colours.forEach((rgb, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "swatch";
      b.dataset.colour = String(i + 1);
      b.title = `${S.names[i]} (${i < 9 ? i + 1 : "no key"})`;
      b.setAttribute("aria-label", `colour ${S.names[i]}`);
      b.textContent = i < 9 ? String(i + 1) : "";
      b.style.background = `rgb(${rgb.join(",")})`;
      b.addEventListener("click", () => setColour(i + 1));
      box.append(b);
    });
    setColour(1);
  }

  // ------------------------------------------------------------------ layout

  function layout() {
    const previewOpen = !$("#preview").hidden;
    const bar = $("#bar").getBoundingClientRect().height;
    const foot = $("#status").getBoundingClientRect().height;
    const availH = Math.max(120, window.innerHeight - bar - foot - 50);
    const availW = Math.max(160, (window.innerWidth - 40 - (previewOpen ? 300 : 0)) / 2);
    for (const s of Object.values(S.sides)) {
      s.scale = Math.min(availW / s.w, availH / s.h, 8);
      const stage = $(".stage", s.panel);
      stage.style.width = `${Math.round(s.w * s.scale)}px`;
      stage.style.height = `${Math.round(s.h * s.scale)}px`;
      const dpr = window.devicePixelRatio || 1;
      s.overlay.width = Math.round(s.w * s.scale * dpr);
      s.overlay.height = Math.round(s.h * s.scale * dpr);
      s.mask.style.opacity = String(S.shownOpacity);
      drawOverlay(s);
    }
  }

  // ------------------------------------------------------------------ drawing

  function renderMask(s, x0 = 0, y0 = 0, x1 = s.w, y1 = s.h) {
    const d = s.pixels.data;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const i = y * s.w + x;
        const l = s.labels[i];
        const o = i * 4;
        if (l === 0) { d[o + 3] = 0; continue; }
        const c = S.colours[l - 1];
        d[o] = c[0]; d[o + 1] = c[1]; d[o + 2] = c[2]; d[o + 3] = 255;
      }
    }
    s.ctx.putImageData(s.pixels, 0, 0, x0, y0, x1 - x0, y1 - y0);
  }

  function renderAll() {
    for (const s of Object.values(S.sides)) { renderMask(s); drawOverlay(s); }
    $("#undo").disabled = !S.undo.length;
    $("#redo").disabled = !S.redo.length;
    $("#delete-pair").disabled = S.selected < 0;
  }

  function drawOverlay(s, cursor = null) {
    const dpr = window.devicePixelRatio || 1;
    const g = s.overlay.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, s.overlay.width, s.overlay.height);
    const key = s.side === "content" ? "c" : "s";
    const marks = S.points.map((p, i) => ({ at: p[key], n: i + 1, sel: i === S.selected }));
    if (S.pending && S.pending[key]) marks.push({ at: S.pending[key], n: S.points.length + 1, pending: true });
    g.font = "bold 12px system-ui, sans-serif";
    g.textAlign = "center";
    g.textBaseline = "middle";
    for (const m of marks) {
      const x = (m.at[1] + 0.5) * s.scale;
      const y = (m.at[0] + 0.5) * s.scale;
      g.beginPath();
      g.arc(x, y, 9, 0, 2 * Math.PI);
      g.fillStyle = m.sel ? "#ffd400" : m.pending ? "rgba(255,255,255,.6)" : "#fff";
      g.fill();
      g.lineWidth = 2;
      g.setLineDash(m.pending ? [3, 2] : []);
      g.strokeStyle = "#000";
      g.stroke();
      g.setLineDash([]);
      g.fillStyle = "#000";
      g.fillText(String(m.n), x, y + 0.5);
    }
    if (cursor && S.tool !== "points" && S.tool !== "fill") {
      g.beginPath();
      g.arc(cursor.x * s.scale, cursor.y * s.scale, Math.max(1, (S.size / 2) * s.scale), 0, 2 * Math.PI);
      g.lineWidth = 1;
      g.strokeStyle = "#000";
      g.stroke();
      g.setLineDash([3, 3]);
      g.strokeStyle = "#fff";
      g.stroke();
      g.setLineDash([]);
    }
  }

  // ------------------------------------------------------------------ painting

  function stamp(s, cx, cy, label, box) {
    const r = S.size / 2;
    const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(s.h - 1, Math.ceil(cy + r));
    for (let y = y0; y <= y1; y++) {
      const dy = y + 0.5 - cy;
      const half = Math.sqrt(Math.max(0, r * r - dy * dy));
      const x0 = Math.max(0, Math.ceil(cx - half - 0.5));
      const x1 = Math.min(s.w - 1, Math.floor(cx + half - 0.5));
      if (x1 < x0) continue;
      s.labels.fill(label, y * s.w + x0, y * s.w + x1 + 1);
      box.x0 = Math.min(box.x0, x0); box.x1 = Math.max(box.x1, x1 + 1);
      box.y0 = Math.min(box.y0, y); box.y1 = Math.max(box.y1, y + 1);
    }
  }

  function strokeTo(s, from, to, label, box) {
    const dist = Math.hypot(to.x - from.x, to.y - from.y);
    const steps = Math.max(1, Math.ceil(dist / Math.max(0.5, S.size / 4)));
    for (let k = 1; k <= steps; k++) {
      const t = k / steps;
      stamp(s, from.x + (to.x - from.x) * t, from.y + (to.y - from.y) * t, label, box);
    }
  }

  function imageRGB(s) {
    if (!s.rgb) {
      const c = document.createElement("canvas");
      c.width = s.w; c.height = s.h;
      const g = c.getContext("2d", { willReadFrequently: true });
      g.drawImage(s.img, 0, 0);
      s.rgb = g.getImageData(0, 0, s.w, s.h).data;
    }
    return s.rgb;
  }

  function flood(s, px, py, label) {
    const w = s.w, h = s.h, L = s.labels;
    const seed = py * w + px;
    const target = L[seed];
    const box = { x0: w, y0: h, x1: 0, y1: 0 };
    if (target === label) return box;
    const tol = S.tolerance;
    const rgb = tol > 0 ? imageRGB(s) : null;
    const sr = rgb ? rgb[seed * 4] : 0, sg = rgb ? rgb[seed * 4 + 1] : 0, sb = rgb ? rgb[seed * 4 + 2] : 0;
    const inside = (i) => L[i] === target && (!rgb || (Math.abs(rgb[i * 4] - sr) <= tol
      && Math.abs(rgb[i * 4 + 1] - sg) <= tol && Math.abs(rgb[i * 4 + 2] - sb) <= tol));
    const stack = [px, py];
    while (stack.length) {
      const y = stack.pop(), x0 = stack.pop();
      let x = x0;
      if (!inside(y * w + x)) continue;
      while (x > 0 && inside(y * w + x - 1)) x--;
      let upOpen = false, downOpen = false;
      for (; x < w && inside(y * w + x); x++) {
        L[y * w + x] = label;
        if (x < box.x0) box.x0 = x;
        if (x + 1 > box.x1) box.x1 = x + 1;
        if (y > 0) {
          const open = inside((y - 1) * w + x);
          if (open && !upOpen) stack.push(x, y - 1);
          upOpen = open;
        }
        if (y < h - 1) {
          const open = inside((y + 1) * w + x);
          if (open && !downOpen) stack.push(x, y + 1);
          downOpen = open;
        }
      }
      if (y < box.y0) box.y0 = y;
      if (y + 1 > box.y1) box.y1 = y + 1;
    }
    return box;
  }

  function commitMask(s, before, box) {
    if (box.x1 <= box.x0 || box.y1 <= box.y0) return;
    const cut = (arr) => {
      const out = new Uint8Array((box.x1 - box.x0) * (box.y1 - box.y0));
      for (let y = box.y0; y < box.y1; y++) {
        out.set(arr.subarray(y * s.w + box.x0, y * s.w + box.x1), (y - box.y0) * (box.x1 - box.x0));
      }
      return out;
    };
    const a = cut(before), b = cut(s.labels);
    if (a.every((v, i) => v === b[i])) return;
    push({ kind: "mask", side: s.side, box: { ...box }, before: a, after: b });
  }

  function putBox(s, box, data) {
    const bw = box.x1 - box.x0;
    for (let y = box.y0; y < box.y1; y++) {
      s.labels.set(data.subarray((y - box.y0) * bw, (y - box.y0 + 1) * bw), y * s.w + box.x0);
    }
    renderMask(s, box.x0, box.y0, box.x1, box.y1);
  }

  // ------------------------------------------------------------------ history

  function push(entry) {
    S.undo.push(entry);
    if (S.undo.length > HISTORY) S.undo.shift();
    S.redo = [];
    changed();
  }

  function changed() {
    S.dirty = true;
    $("#undo").disabled = !S.undo.length;
    $("#redo").disabled = !S.redo.length;
    $("#delete-pair").disabled = S.selected < 0;
    updateNotes();
  }

  const snapshot = () => JSON.stringify(S.points);

  function pointsChange(before) {
    const after = snapshot();
    if (after !== before) push({ kind: "points", before, after });
  }

  function step(from, to, field) {
    const e = from.pop();
    if (!e) return;
    if (e.kind === "mask") putBox(S.sides[e.side], e.box, e[field]);
    else { S.points = JSON.parse(e[field]); S.selected = -1; S.pending = null; }
    to.push(e);
    changed();
    for (const s of Object.values(S.sides)) drawOverlay(s);
  }
  const undo = () => step(S.undo, S.redo, "before");
  const redo = () => step(S.redo, S.undo, "after");

  // ------------------------------------------------------------------ pointer input

  function toImage(s, ev) {
    const r = s.overlay.getBoundingClientRect();
    return { x: ((ev.clientX - r.left) / r.width) * s.w, y: ((ev.clientY - r.top) / r.height) * s.h };
  }

  const cell = (s, p) => [Math.min(s.h - 1, Math.max(0, Math.floor(p.y))),
    Math.min(s.w - 1, Math.max(0, Math.floor(p.x)))];

  function hitPoint(s, p) {
    const key = s.side === "content" ? "c" : "s";
    let best = -1, bestD = HIT / s.scale;
    S.points.forEach((pt, i) => {
      const d = Math.hypot(pt[key][1] + 0.5 - p.x, pt[key][0] + 0.5 - p.y);
      if (d <= bestD) { best = i; bestD = d; }
    });
    return best;
  }

  function bindPointer(s) {
    let drag = null;
    const ov = s.overlay;
    ov.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      ev.preventDefault();
      ov.focus();
      const p = toImage(s, ev);
      if (S.tool === "points") { drag = pointDown(s, p); }
      else if (S.tool === "fill") {
        const [r, c] = cell(s, p);
        const before = s.labels.slice();
        const box = flood(s, c, r, S.colour);
        renderMask(s, box.x0, box.y0, Math.max(box.x0, box.x1), Math.max(box.y0, box.y1));
        commitMask(s, before, box);
      } else {
        const label = S.tool === "eraser" ? 0 : S.colour;
        const box = { x0: s.w, y0: s.h, x1: 0, y1: 0 };
        drag = { kind: "paint", label, last: p, before: s.labels.slice(), box };
        stamp(s, p.x, p.y, label, box);
        renderMask(s, box.x0, box.y0, box.x1, box.y1);
      }
      if (drag) ov.setPointerCapture(ev.pointerId);
    });
    ov.addEventListener("pointermove", (ev) => {
      const p = toImage(s, ev);
      if (drag && drag.kind === "paint") {
        const box = { x0: s.w, y0: s.h, x1: 0, y1: 0 };
        strokeTo(s, drag.last, p, drag.label, box);
        drag.last = p;
        if (box.x1 > box.x0) {
          renderMask(s, box.x0, box.y0, box.x1, box.y1);
          for (const k of ["x0", "y0"]) drag.box[k] = Math.min(drag.box[k], box[k]);
          for (const k of ["x1", "y1"]) drag.box[k] = Math.max(drag.box[k], box[k]);
        }
      } else if (drag && drag.kind === "point") {
        const target = drag.pending ? S.pending : S.points[drag.index];
        target[drag.key] = cell(s, p);
      }
      drawOverlay(s, p);
      if (drag && drag.kind === "point") drawOverlay(other(s));
    });
    const end = () => {
      if (!drag) return;
      if (drag.kind === "paint") commitMask(s, drag.before, drag.box);
      else if (drag.kind === "point" && !drag.pending) pointsChange(drag.before);
      drag = null;
    };
    ov.addEventListener("pointerup", end);
    ov.addEventListener("pointercancel", end);
    ov.addEventListener("pointerleave", () => { if (!drag) drawOverlay(s); });
  }

  const other = (s) => S.sides[s.side === "content" ? "style" : "content"];

  function pointDown(s, p) {
    const key = s.side === "content" ? "c" : "s";
    const before = snapshot();
    const hit = hitPoint(s, p);
    if (hit >= 0) {
      S.selected = hit;
      changed();
      for (const x of Object.values(S.sides)) drawOverlay(x);
      return { kind: "point", index: hit, key, before };
    }
    const at = cell(s, p);
    if (key === "c") {
      S.pending = { c: at };
      S.selected = -1;
      say(`Point ${S.points.length + 1}: now click its partner on the style image.`);
      for (const x of Object.values(S.sides)) drawOverlay(x);
      return { kind: "point", pending: true, key };
    }
    if (!S.pending) {
      say("Click the content image first, then its partner on the style image.", true);
      return null;
    }
    S.points.push({ c: S.pending.c, s: at });
    S.pending = null;
    S.selected = S.points.length - 1;
    pointsChange(before);
    say(`Point pair ${S.points.length} placed.`);
    for (const x of Object.values(S.sides)) drawOverlay(x);
    return { kind: "point", index: S.selected, key, before: snapshot() };
  }

  function deleteSelected() {
    if (S.selected < 0) return;
    const before = snapshot();
    S.points.splice(S.selected, 1);
    S.selected = -1;
    pointsChange(before);
    for (const s of Object.values(S.sides)) drawOverlay(s);
  }

  // ------------------------------------------------------------------ tools

  function setTool(tool) {
    S.tool = tool;
    for (const b of document.querySelectorAll(".tool")) {
      b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
    }
    if (tool !== "points" && S.pending) { S.pending = null; }
    for (const s of Object.values(S.sides)) drawOverlay(s);
  }

  function setColour(n) {
    if (n < 1 || n > S.colours.length) return;
    S.colour = n;
    for (const b of document.querySelectorAll(".swatch")) {
      b.setAttribute("aria-pressed", String(Number(b.dataset.colour) === n));
    }
    if (S.tool === "eraser" || S.tool === "points") setTool("brush");
  }

  function setSize(v) {
    S.size = Math.max(1, Math.min(200, Math.round(v)));
    $("#size").value = String(S.size);
    $("#size-out").textContent = String(S.size);
  }

  function setOpacity(v) {
    S.opacity = v;
    S.shownOpacity = v;
    for (const s of Object.values(S.sides)) s.mask.style.opacity = String(v);
  }

  // ------------------------------------------------------------------ notes

  function addNote(text) {
    const li = document.createElement("li");
    li.textContent = text;
    $("#notes").append(li);
  }

  function updateNotes() {
    $("#notes").textContent = "";
    const counts = {};
    for (const s of Object.values(S.sides)) {
      const n = new Array(S.colours.length + 1).fill(0);
      for (let i = 0; i < s.labels.length; i++) n[s.labels[i]]++;
      counts[s.side] = n;
    }
    const min = S.state.region_min_pixels;
    const painted = counts.content.slice(1).some((v) => v) || counts.style.slice(1).some((v) => v);
    if (!painted) return;
    S.colours.forEach((_, i) => {
      const c = counts.content[i + 1], st = counts.style[i + 1], name = S.names[i];
      if (!c && !st) return;
      if (st <= min && c) addNote(`${name}: ${st} style pixels; STROTSS needs more than ${min}, so it ignores this colour.`);
      else if (st <= min) addNote(`${name}: only ${st} style pixels (more than ${min} make a region).`);
      else if (!c) addNote(`${name} is on the style only: STROTSS then matches the whole content to it.`);
    });
    const rest = counts.style[0];
    if (rest > min) addNote(`Unpainted parts pair with each other (${rest} style pixels).`);
    if (!S.colours.some((_, i) => counts.style[i + 1] > min) && rest <= min) {
      addNote("No colour covers enough style pixels yet: there is no region to save.");
    }
  }

  // ------------------------------------------------------------------ save & preview

  async function labelBlob(labels) {
    if (typeof CompressionStream === "function") {
      const stream = new Blob([labels]).stream().pipeThrough(new CompressionStream("gzip"));
      return { blob: await new Response(stream).blob(), encoding: "gzip" };
    }
    return { blob: new Blob([labels]), encoding: "raw" };
  }

  async function guidanceForm() {
    const [c, s] = await Promise.all([labelBlob(S.sides.content.labels), labelBlob(S.sides.style.labels)]);
    const fd = new FormData();
    fd.append("meta", JSON.stringify({
      colours: S.colours, digest: S.state.digest, encoding: c.encoding,
      points: S.points.map((p) => [p.c[0], p.c[1], p.s[0], p.s[1]]),
    }));
    fd.append("content_regions", c.blob, "content.labels");
    fd.append("style_regions", s.blob, "style.labels");
    return fd;
  }

  async function post(url) {
    return request(url, { method: "POST", headers: { "X-CSRF-Token": csrf }, body: await guidanceForm() });
  }

  async function save() {
    if (S.busy) return;
    S.busy = true;
    $("#save").disabled = true;
    say("Saving…");
    try {
      const out = await post(S.state.save_url);
      S.state.digest = out.digest;
      S.state.files = out.files;
      S.dirty = false;
      say(out.message + (S.pending ? " (the unfinished point was not saved)" : "") + ".");
      document.body.dataset.saved = String(Date.now());
    } catch (err) {
      say(`Not saved: ${err.message}`, true);
    } finally {
      S.busy = false;
      $("#save").disabled = false;
    }
  }

  let polling = null;

  async function preview() {
    const btn = $("#preview-btn");
    btn.disabled = true;
    const box = $("#preview");
    box.hidden = false;
    layout();
    $("#preview-img").hidden = true;
    const bar = $("#preview-progress");
    bar.removeAttribute("value");
    const iters = S.state.preview.iterations;
    const setting = `STROTSS ${iters ? `${iters} iteration${iters === 1 ? "" : "s"} per scale` : "quick preset"}, ${S.state.preview.size} px`;
    $("#preview-text").textContent = `Starting: ${setting}…`;
    try {
      const started = await post(S.state.preview_url);
      const poll = async () => {
        let st;
        try { st = await request(started.status_url); } catch (err) { st = { state: "failed", error: err.message }; }
        if (st.state === "done") {
          const img = $("#preview-img");
          img.onload = () => { img.hidden = false; box.dataset.done = String(started.id); };
          img.src = st.image;
          bar.value = 1;
          $("#preview-text").textContent = `Done: ${setting}` + (st.wall_time_s ? ` (${st.wall_time_s.toFixed(1)} s of compute).` : ".");
          btn.disabled = false;
          return;
        }
        if (st.state === "failed") {
          bar.value = 0;
          $("#preview-text").textContent = `Preview failed: ${st.error || "unknown error"}`;
          btn.disabled = false;
          return;
        }
        const el = st.elapsed_s || 0;
        if (st.estimate_s) bar.value = Math.min(0.95, el / st.estimate_s); else bar.removeAttribute("value");
        $("#preview-text").textContent = `${st.state === "running" ? "Running" : "Starting"}: ${setting}, ${Math.round(el)} s`
          + (st.estimate_s ? ` (the last preview took ${Math.round(st.estimate_s)} s)` : "") + "…";
        polling = setTimeout(poll, 1000);
      };
      await poll();
    } catch (err) {
      $("#preview-text").textContent = `Preview refused: ${err.message}`;
      btn.disabled = false;
    }
  }

  // ------------------------------------------------------------------ keys & wiring

  function onKey(ev) {
    const t = ev.target;
    if (t instanceof HTMLSelectElement || (t instanceof HTMLInputElement && t.type !== "range")) return;
    const k = ev.key;
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && (k === "z" || k === "Z")) { ev.preventDefault(); if (ev.shiftKey) redo(); else undo(); return; }
    if (mod && (k === "y" || k === "Y")) { ev.preventDefault(); redo(); return; }
    if (mod && (k === "s" || k === "S")) { ev.preventDefault(); save(); return; }
    if (mod || ev.altKey) return;
    const tools = { b: "brush", f: "fill", e: "eraser", p: "points" };
    if (tools[k.toLowerCase()]) { setTool(tools[k.toLowerCase()]); return; }
    if (/^[1-9]$/.test(k)) { setColour(Number(k)); return; }
    if (k === "[") { setSize(S.size - Math.max(1, Math.round(S.size / 8))); return; }
    if (k === "]") { setSize(S.size + Math.max(1, Math.round(S.size / 8))); return; }
    if (k === "m" || k === "M") {
      S.shownOpacity = S.shownOpacity > 0 ? 0 : S.opacity || 0.55;
      for (const s of Object.values(S.sides)) s.mask.style.opacity = String(S.shownOpacity);
      return;
    }
    if (k === "Delete" || k === "Backspace") { ev.preventDefault(); deleteSelected(); return; }
    if (k === "Escape") { S.pending = null; S.selected = -1; changed(); for (const s of Object.values(S.sides)) drawOverlay(s); }
  }

  function wire() {
    for (const b of document.querySelectorAll(".tool")) b.addEventListener("click", () => setTool(b.dataset.tool));
    $("#size").addEventListener("input", (e) => setSize(Number(e.target.value)));
    $("#tolerance").addEventListener("input", (e) => {
      S.tolerance = Number(e.target.value);
      $("#tolerance-out").textContent = e.target.value;
    });
    $("#opacity").addEventListener("input", (e) => setOpacity(Number(e.target.value) / 100));
    $("#undo").addEventListener("click", undo);
    $("#redo").addEventListener("click", redo);
    $("#delete-pair").addEventListener("click", deleteSelected);
    $("#save").addEventListener("click", save);
    $("#preview-btn").addEventListener("click", preview);
    $("#preview-close").addEventListener("click", () => {
      clearTimeout(polling);
      $("#preview").hidden = true;
      $("#preview-btn").disabled = false;
      layout();
    });
    $("#pair").addEventListener("change", (e) => {
      if (!S.dirty || window.confirm("Leave this pair? Unsaved guidance is lost.")) window.location.href = e.target.value;
    });
    document.addEventListener("keydown", onKey);
    window.addEventListener("resize", layout);
    window.addEventListener("beforeunload", (e) => { if (S.dirty) { e.preventDefault(); e.returnValue = ""; } });
  }

  wire();
  setSize(20);
  load().then(() => { document.body.dataset.ready = "1"; })
    .catch((err) => say(`Cannot start the editor: ${err.message}`, true));
})();
