// stylestudy participant page: consent → instructions → practice → trials → completion.
// The server holds the state; this script keeps the token in sessionStorage, an outbox of
// unsent responses in localStorage (retried with backoff, flushed by sendBeacon on pagehide),
// a second one of client events (retried, beaconed on pagehide and sent again by the next
// page, where a replay is not stored twice),
// and resumes at the first unanswered trial after a reload. While a session is unfinished a
// beforeunload handler asks before the tab is closed (data-warn-leave="false" turns it off).
(function () {
  "use strict";
  const app = document.getElementById("app");
  const slug = app.dataset.slug;
  const params = JSON.parse(app.dataset.params || "{}");
  const TOKEN_KEY = "stylestudy:token:" + slug;
  const OUTBOX_KEY = "stylestudy:outbox:" + slug;
  const EVENTS_KEY = "stylestudy:events:" + slug;
  const $ = (id) => document.getElementById(id);
  let token = null;
  let state = null;
  let current = null;
  let shownAt = 0;
  let flushing = false;
  let backoff = 500;
  let sendingEvents = false;
  let eventBackoff = 500;
  const resolvers = {};  // response_id → callback waiting for the server's answer

  // Reload and back resume, but a closed tab costs the participant time: ask first.
  function askBeforeLeaving(e) {
    e.preventDefault();
    e.returnValue = "";
  }
  function warnOnLeave(on) {
    if (app.dataset.warnLeave !== "true") return;
    if (on) window.addEventListener("beforeunload", askBeforeLeaving);
    else window.removeEventListener("beforeunload", askBeforeLeaving);
  }

  function show(id) {
    for (const s of app.querySelectorAll("section")) s.hidden = s.id !== id;
  }

  // Storage can be blocked in a third-party frame (MTurk): fall back to memory, so the
  // study still runs (without surviving a reload).
  function store(kind) {
    const memory = {};
    try {
      const s = window[kind];
      const probe = "stylestudy:probe";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch (e) {
      return { getItem: (k) => (k in memory ? memory[k] : null),
        setItem: (k, v) => { memory[k] = String(v); }, removeItem: (k) => { delete memory[k]; } };
    }
  }
  const local = store("localStorage");
  const perTab = store("sessionStorage");

  function queue(key) {
    try { return JSON.parse(local.getItem(key) || "[]"); } catch (e) { return []; }
  }
  function saveQueue(key, items) { local.setItem(key, JSON.stringify(items)); }
  const outbox = () => queue(OUTBOX_KEY);
  const saveOutbox = (items) => saveQueue(OUTBOX_KEY, items);

  async function api(method, path, body, auth = token) {
    const headers = { "Content-Type": "application/json" };
    if (auth) headers["Authorization"] = "Bearer " + auth;
    const resp = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    let data = {};
    try { data = await resp.json(); } catch (e) { /* empty body */ }
    return { status: resp.status, data };
  }

  // No answer yet: a network error (status 0), 429 or 5xx; the request is tried again.
  const transient = (status) => status === 0 || status === 429 || status >= 500;

  // GET the session until the server answers for real: a network error, 429 or 5xx
  // (the database restarting) is retried, so a resumed page never drops its token for it.
  async function getSession() {
    for (let wait = 500; ; wait = Math.min(2 * wait, 5000)) {
      let r;
      try { r = await api("GET", "/api/session"); } catch (e) { r = { status: 0, data: {} }; }
      if (!transient(r.status)) return r;
      await new Promise((res) => setTimeout(res, wait));
    }
  }

  function uuid4() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // Send every queued response; stored or refused (4xx) ones leave the outbox.
  async function flush() {
    if (flushing) return;
    flushing = true;
    try {
      let items = outbox();
      while (items.length) {
        const item = items[0];
        let r;
        try { r = await api("POST", "/api/responses", item.body); } catch (e) { r = { status: 0 }; }
        if (!transient(r.status)) {
          if (r.status >= 400) report("client_error", { status: r.status, error: r.data.error || "" });
          if (r.data && r.data.completion) return handleInactive(r.data);
          items = outbox().filter((x) => x.body.response_id !== item.body.response_id);
          saveOutbox(items);
          backoff = 500;
          const resolve = resolvers[item.body.response_id];
          delete resolvers[item.body.response_id];
          if (resolve) resolve(r.data);
        } else {
          setTimeout(() => { flushing = false; flush(); }, backoff);
          backoff = Math.min(backoff * 2, 10000);
          return;
        }
      }
    } finally {
      if (backoff === 500) flushing = false;
    }
  }

  // A client event waits in its outbox, with the token of its session, until the server
  // answers for real; its UUID makes a retried delivery count once.
  function report(kind, payload) {
    if (!token) return;
    const body = { event_id: uuid4(), kind, payload, client_time: new Date().toISOString() };
    saveQueue(EVENTS_KEY, queue(EVENTS_KEY).concat([{ token, body }]));
    sendEvents();
  }

  async function sendEvents() {
    if (sendingEvents) return;
    sendingEvents = true;
    let items = queue(EVENTS_KEY);
    while (items.length) {
      const item = items[0];
      let status = 0;
      try { status = (await api("POST", "/api/events", item.body, item.token)).status; } catch (e) { /* offline */ }
      if (transient(status)) {
        setTimeout(() => { sendingEvents = false; sendEvents(); }, eventBackoff);
        eventBackoff = Math.min(eventBackoff * 2, 10000);
        return;
      }
      eventBackoff = 500;
      items = queue(EVENTS_KEY).filter((x) => x.body.event_id !== item.body.event_id);
      saveQueue(EVENTS_KEY, items);
    }
    sendingEvents = false;
  }

  function envProblem() {
    const re = app.dataset.mobileRe;
    if (re && new RegExp(re, "i").test(navigator.userAgent)) {
      return "This study needs a computer with a large screen; it cannot be done on a phone or tablet.";
    }
    const w = +app.dataset.minW, h = +app.dataset.minH;
    if (window.innerWidth < w || window.innerHeight < h) {
      return `Please make your browser window larger (at least ${w} × ${h}; now ${window.innerWidth} × ${window.innerHeight}).`;
    }
    return null;
  }

  function checkEnv() {
    const p = envProblem();
    const el = $("env-problem");
    el.hidden = !p;
    el.textContent = p || "";
    if (app.dataset.preview !== "true" && app.dataset.open === "true") $("consent").disabled = !!p;
    return !p;
  }

  async function start() {
    if (!checkEnv()) return;
    $("consent").disabled = true;
    const viewport = { width: window.innerWidth, height: window.innerHeight,
      screen_width: screen.width, screen_height: screen.height, dpr: window.devicePixelRatio };
    const r = await api("POST", `/api/studies/${encodeURIComponent(slug)}/sessions`,
      { consent: true, params, viewport }).catch(() => ({ status: 0, data: {} }));
    if (r.status !== 201) {
      $("consent").disabled = false;
      $("start-error").hidden = false;
      $("start-error").textContent = r.data.message || "The study could not start.";
      return;
    }
    token = r.data.token;
    perTab.setItem(TOKEN_KEY, token);
    await load(true);
  }

  // A page that finds its token resumed the session: send what the outbox holds, report
  // the resume (a study's max_reloads may end the session there), then show the state.
  async function resume() {
    if (outbox().length) await flush();
    await api("POST", "/api/session/reload", {}).catch(() => {});
    await load(false);
  }

  async function load(fresh) {
    const r = await getSession();
    if (r.status !== 200) {
      perTab.removeItem(TOKEN_KEY);
      token = null;
      warnOnLeave(false);
      show("landing");
      return;
    }
    state = r.data;
    if (state.completion) return finished(state.completion);
    warnOnLeave(true);
    preload();
    const pending = new Set(outbox().map((x) => x.body.trial));
    const answered = state.trials.filter((t) => t.answered || pending.has(t.id)).length;
    if (fresh || answered === 0) show("instructions"); else next();
  }

  function preload() {
    for (const t of state.trials) {
      for (const url of [t.reference, t.left, t.right].filter(Boolean)) {
        const img = new Image();
        img.onerror = () => report("preload_error", { url });
        img.src = url;
      }
    }
  }

  // Resolve once the image shows; a failed load is reported and retried (1 s, 2 s, … 10 s)
  // under a fresh URL (a retry query the server ignores), so no cached failure is reused.
  function showImage(el, url, trial) {
    return new Promise((resolve) => {
      let tries = 0;
      el.onload = () => resolve();
      el.onerror = () => {
        report("image_error", { url, position: trial.position });
        tries += 1;
        setTimeout(() => { if (current === trial) el.src = `${url}?retry=${tries}`; },
          Math.min(1000 * 2 ** (tries - 1), 10000));
      };
      el.src = url;
      if (el.complete && el.naturalWidth > 0) resolve();
    });
  }

  // Both options at one size, side by side and as large as the window allows (upscaled
  // when the outputs are small); the reference above them is never larger than an option
  // and never wider than the window. Sizes come from the trial, so nothing moves on load.
  function fit() {
    if (!current || $("task").hidden) return;
    const t = current;
    const pair = $("pair");
    const frame = $("left").offsetWidth - $("left").clientWidth;  // the choice border
    const refFrame = 6;  // the reference's border
    const gap = parseFloat(getComputedStyle(pair).columnGap) || 0;
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    const below = (($("not-sure") ? 3.5 : 0) + 3.5) * rem + frame;  // not sure, feedback
    // a question without a reference (reference: none) gives the options its room
    const top = (t.reference ? $("ref-box") : pair).getBoundingClientRect().top + window.scrollY;
    const room = window.innerHeight - top - below - (t.reference ? refFrame : 0) - 0.5 * rem;
    const byWidth = Math.max(16, (pair.clientWidth - gap) / 2 - frame);
    const ratio = t.width / t.height;
    let refH = t.reference ? Math.min(t.reference_height, window.innerHeight / 4) : 0;
    let h = Math.max(16, Math.min(byWidth / ratio, room - refH));
    refH = Math.min(refH, h);
    h = Math.max(16, Math.min(byWidth / ratio, room - refH));
    const refScale = t.reference
      ? Math.min(refH / t.reference_height, h * ratio / t.reference_width) : 0;
    for (const id of ["left-img", "right-img"]) {
      $(id).style.width = `${h * ratio}px`;
      $(id).style.height = `${h}px`;
    }
    $("ref-img").style.width = `${t.reference_width * refScale + refFrame}px`;
    $("ref-img").style.height = `${t.reference_height * refScale + refFrame}px`;
  }

  function next() {
    const pending = new Set(outbox().map((x) => x.body.trial));
    current = state.trials.find((t) => !t.answered && !pending.has(t.id)) || null;
    app.dataset.trial = current ? String(current.position) : "done";
    if (!current) return finishPage();
    show("task");
    const main = state.trials.filter((t) => !t.practice);
    const done = main.filter((t) => t.answered || pending.has(t.id)).length;
    $("bar").style.width = (100 * done / Math.max(main.length, 1)) + "%";
    $("phase").textContent = current.practice ? "Practice" : `Comparison ${done + 1} of ${main.length}`;
    $("prompt").textContent = current.prompt;
    $("ref-box").hidden = !current.reference;
    $("feedback").hidden = true;
    fit();
    enableChoices(false);
    const trial = current;
    const images = ["ref-img", "left-img", "right-img"].map($);
    for (const el of images) el.style.visibility = "";
    // The viewing time and the response time start when all three images show; a trial
    // whose images have not loaded cannot be answered. With stimulus_duration_ms the
    // images are hidden after that long; the choice stays open.
    $("loading").hidden = false;
    Promise.all([trial.reference ? showImage(images[0], trial.reference, trial) : null,
      showImage(images[1], trial.left, trial),
      showImage(images[2], trial.right, trial)]).then(() => {
      if (current !== trial) return;
      $("loading").hidden = true;
      shownAt = performance.now();
      setTimeout(() => { if (current === trial) enableChoices(true); }, state.min_view_ms);
      if (state.stimulus_duration_ms) {
        setTimeout(() => {
          if (current === trial) for (const el of images) el.style.visibility = "hidden";
        }, state.stimulus_duration_ms);
      }
    });
  }

  // the two images, and "Not sure" where the study allows it (relaxed forced choice)
  function enableChoices(on) {
    for (const id of ["left", "right", "not-sure"]) if ($(id)) $(id).disabled = !on;
  }

  async function choose(choice) {
    if (!current || $("left").disabled) return;
    enableChoices(false);
    const trial = current;
    trial.answered = true;  // the outbox delivers it, across reloads too
    const body = { response_id: uuid4(), trial: trial.id, choice,
      rt_ms: Math.round(performance.now() - shownAt), client_time: new Date().toISOString() };
    const stored = new Promise((resolve) => { resolvers[body.response_id] = resolve; });
    saveOutbox(outbox().concat([{ body }]));
    flush();
    if (trial.practice) {
      const data = await stored;
      const fb = $("feedback");
      fb.hidden = false;
      fb.textContent = data.correct ? "Correct."
        : choice === "not_sure" ? "This one has a clear answer: look closely at both images."
          : "Not quite: the other image was the better answer.";
      await new Promise((res) => setTimeout(res, 1200));
      const last = !state.trials.some((t) => t.practice && !t.answered);
      if (last) return load(false);
    }
    next();
  }

  async function waitForOutbox() {
    while (outbox().length) {
      flushing = false;
      await flush();
      if (outbox().length) await new Promise((res) => setTimeout(res, 1000));
    }
  }

  function finishPage() {
    show("finish");
  }

  // Only a network error, 429 or 5xx is retried; a refusal (say, feedback the server
  // cannot store) is shown, and the participant may change it and finish again.
  async function submit() {
    $("submit").disabled = true;
    $("saving").hidden = false;
    $("saving").textContent = "Saving your answers…";
    await waitForOutbox();
    for (let wait = 1500; ; wait = Math.min(2 * wait, 10000)) {
      let r;
      try {
        r = await api("POST", "/api/session/complete", { feedback: $("feedback-text").value || null });
      } catch (e) { r = { status: 0, data: {} }; }
      if (r.status === 200) return finished(r.data.completion);
      if (r.data && r.data.completion) return handleInactive(r.data);
      if (r.status === 409 && r.data.error === "incomplete") return load(false);
      if (!transient(r.status)) {
        report("client_error", { status: r.status, error: r.data.error || "" });
        $("saving").textContent = `This could not be saved (${r.data.message || r.status}). ` +
          "Please change your answer above and press Finish again.";
        $("submit").disabled = false;
        return;
      }
      await new Promise((res) => setTimeout(res, wait));
    }
  }

  function handleInactive(data) {
    finished(data.completion, data.message);
  }

  function finished(action, message) {
    warnOnLeave(false);  // before any redirect or MTurk submit navigates away
    show("done");
    const screened = action.outcome !== "completed";
    $("done-title").textContent = screened ? "Thank you for your time" : "Thank you";
    // no code of its own for this outcome: the platform's no-code path (return the study)
    const noCode = action.kind === "return";
    $("done-text").textContent = noCode ? "The study has ended for you. " + action.message
      : message || (screened
        ? "The study has ended for you. Please use the code below so that you are paid."
        : "All your answers are saved.");
    $("code").textContent = action.code || "";
    $("code").parentElement.hidden = noCode;
    local.removeItem(OUTBOX_KEY);
    if (action.kind === "mturk") {
      const form = $("mturk-form");
      form.action = action.url;
      $("mturk-assignment").value = action.fields.assignmentId;
      $("mturk-token").value = action.fields.completion_token;
      form.hidden = false;
    } else if (action.url) {
      const a = $("redirect-link");
      a.href = action.url;
      a.hidden = false;
      setTimeout(() => { window.location.href = action.url; }, 3000);
    }
  }

  // pagehide: hand unsent responses and events to sendBeacon (which cannot carry headers,
  // so the token travels in the body). Events stay queued: the beacon's fate is unknown,
  // and a second delivery of the same event_id is not stored again.
  function beacon(path, body) {
    navigator.sendBeacon(path, new Blob([JSON.stringify(body)], { type: "application/json" }));
  }
  window.addEventListener("pagehide", () => {
    if (!navigator.sendBeacon) return;
    if (token) for (const item of outbox()) beacon("/api/beacon", Object.assign({ token }, item.body));
    for (const item of queue(EVENTS_KEY)) {
      beacon("/api/events/beacon", Object.assign({ token: item.token }, item.body));
    }
  });
  window.addEventListener("blur", () => report("blur", {}));
  window.addEventListener("focus", () => report("focus", {}));
  window.addEventListener("resize", () => {
    if (!token) checkEnv();
    fit();
  });
  document.addEventListener("keydown", (e) => {
    if ($("task").hidden) return;
    if (e.key === "ArrowLeft") { e.preventDefault(); choose("left"); }
    if (e.key === "ArrowRight") { e.preventDefault(); choose("right"); }
    if (e.key === "ArrowDown" && $("not-sure")) { e.preventDefault(); choose("not_sure"); }
  });
  $("left").addEventListener("click", () => choose("left"));
  $("right").addEventListener("click", () => choose("right"));
  if ($("not-sure")) $("not-sure").addEventListener("click", () => choose("not_sure"));
  $("consent").addEventListener("click", start);
  $("begin").addEventListener("click", () => next());
  $("submit").addEventListener("click", submit);

  // Entry: a token in the URL ("open in a new tab") or in sessionStorage resumes.
  const url = new URL(window.location.href);
  if (url.searchParams.get("token")) {
    perTab.setItem(TOKEN_KEY, url.searchParams.get("token"));
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search);
  }
  token = perTab.getItem(TOKEN_KEY);
  checkEnv();
  sendEvents();  // what an earlier page could not deliver
  if (token) resume(); else show("landing");
})();
