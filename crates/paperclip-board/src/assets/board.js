// Paperclip board script (ours, no library). Three jobs:
//  1. forms marked data-api are sent to the JSON API (the one place rules live) as JSON;
//  2. the company's live events refresh the page's regions marked data-live, without reload;
//  3. a run's log (pre[data-run-log]) is tailed by offset, so nothing is shown twice or missed.
"use strict";
(function () {
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // A signed-in session's CSRF token, read once from the session API (none in local_trusted
  // mode or before sign-in); every state-changing call sends it in X-Paperclip-CSRF.
  let csrf;
  async function csrfToken() {
    if (csrf === undefined) {
      try {
        const res = await fetch("/api/auth/get-session", { headers: { Accept: "application/json" }, credentials: "same-origin" });
        csrf = res.ok ? (await res.json()).csrfToken || null : null;
      } catch (_) { csrf = null; }
    }
    return csrf;
  }

  // ---- 1. forms -------------------------------------------------------------------------
  function setPath(obj, path, value) {
    const keys = path.split(".");
    let o = obj;
    for (let i = 0; i < keys.length - 1; i++) {
      if (typeof o[keys[i]] !== "object" || o[keys[i]] === null) o[keys[i]] = {};
      o = o[keys[i]];
    }
    o[keys[keys.length - 1]] = value;
  }

  function fieldValue(el) {
    const type = el.dataset.type || "text";
    if (el.type === "checkbox") return { value: el.checked };
    const raw = el.value;
    if (raw.trim() === "") return el.dataset.empty === "null" ? { value: null } : null;
    switch (type) {
      case "int": {
        const n = Number(raw);
        // Not a number: send the text, and the API's refusal names the field.
        return { value: Number.isInteger(n) ? n : raw };
      }
      case "cents": {
        const n = Number(raw);
        return { value: Number.isFinite(n) ? Math.round(n * 100) : raw };
      }
      case "json":
        try { return { value: JSON.parse(raw) }; }
        catch (e) { throw new Error(el.name + " is not valid JSON: " + e.message); }
      case "lines":
        return { value: raw.split("\n").map((s) => s.trim()).filter((s) => s !== "") };
      default:
        return { value: raw };
    }
  }

  // Whether the user changed a control from what the page was rendered with.
  function changed(el) {
    if (el.type === "checkbox") return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") return Array.from(el.options).some((o) => o.selected !== o.defaultSelected);
    return el.value !== el.defaultValue;
  }

  function formBody(form) {
    const body = {};
    // An update form sends only what the user changed: the page may be older than the object
    // (a status an agent set since must not be written back).
    const onlyChanged = form.dataset.changedOnly !== undefined;
    for (const el of form.elements) {
      if (!el.name || el.disabled || el.dataset.skip !== undefined) continue;
      if (onlyChanged && !changed(el)) continue;
      const v = fieldValue(el);
      if (v !== null) setPath(body, el.name, v.value);
    }
    return body;
  }

  // The API's message; with per-field details, each field and its message ("status: …").
  function describeError(status, data) {
    if (!data || typeof data.error !== "string") return "Request failed (" + status + ")";
    const d = Array.isArray(data.details) ? data.details : [];
    const parts = d
      .filter((x) => x && (x.message || x.path))
      .map((x) => (Array.isArray(x.path) && x.path.length ? x.path.join(".") + ": " : "") + (x.message || data.error));
    return parts.length ? parts.join("; ") : data.error;
  }

  async function submit(form, ev) {
    ev.preventDefault();
    const out = form.querySelector(".form-error");
    if (out) out.textContent = "";
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    let body;
    try { body = formBody(form); } catch (e) { if (out) out.textContent = e.message; return; }
    if (form.dataset.changedOnly !== undefined && Object.keys(body).length === 0) {
      if (out) out.textContent = "Nothing changed";
      return;
    }
    const buttons = $$("button", form);
    buttons.forEach((b) => (b.disabled = true));
    try {
      const method = form.dataset.method || "POST";
      const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
      if (method !== "GET") {
        const token = await csrfToken();
        if (token) init.headers["X-Paperclip-CSRF"] = token;
      }
      if (method !== "GET" && method !== "DELETE") {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      const res = await fetch(form.dataset.api, init);
      const text = await res.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
      if (!res.ok) { if (out) out.textContent = describeError(res.status, data); return; }
      const show = form.dataset.show;
      if (show && data) {
        let r = form.querySelector(".form-result");
        if (!r) { r = document.createElement("output"); r.className = "form-result"; form.appendChild(r); }
        if (show === "*") { r.textContent = JSON.stringify(data, null, 2); return; }
        r.textContent = (form.dataset.showLabel || "") + String(data[show]);
        form.reset();
        return;
      }
      const then = form.dataset.then || "reload";
      if (then.startsWith("go:")) {
        const id = data && data.id ? encodeURIComponent(data.id) : "";
        window.location.assign(then.slice(3).replace("{id}", id));
      } else if (then === "refresh") {
        form.reset();
        refresh(true);
      } else if (then !== "none") {
        window.location.reload();
      }
    } catch (e) {
      if (out) out.textContent = "Cannot reach the server: " + e.message;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (form instanceof HTMLFormElement && form.dataset.api) submit(form, ev);
  });

  // ---- 2. live regions ------------------------------------------------------------------
  let inFlight = false, again = false, timer = null;
  function refresh(now) {
    if (!$$("[data-live]").length) return;
    if (timer) return;
    timer = setTimeout(run, now ? 0 : 300);
  }
  async function run() {
    timer = null;
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      const res = await fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      for (const el of $$("[data-live]")) {
        const fresh = el.id && doc.getElementById(el.id);
        // Never replace what the user is typing into.
        if (!fresh || el.contains(document.activeElement)) continue;
        if (withoutLogs(fresh) === withoutLogs(el)) continue;
        // A log being followed keeps its text and offset across the swap.
        const logs = new Map($$("pre[data-run-log]", el).map((p) => [p.dataset.runLog, p]));
        el.replaceChildren(...Array.from(fresh.childNodes, (n) => document.importNode(n, true)));
        for (const p of $$("pre[data-run-log]", el)) {
          const old = logs.get(p.dataset.runLog);
          if (old) p.replaceWith(old);
        }
      }
      for (const pre of $$("pre[data-run-log]")) tail(pre);
    } catch (_) {
      // The next event tries again.
    } finally {
      inFlight = false;
      if (again) { again = false; refresh(); }
    }
  }

  // A region's markup with the logs' text left out (the page renders logs empty or partial).
  function withoutLogs(el) {
    const c = el.cloneNode(true);
    for (const p of $$("pre[data-run-log]", c)) { p.textContent = ""; p.removeAttribute("data-offset"); }
    return c.innerHTML;
  }

  // ---- 3. run logs ----------------------------------------------------------------------
  const tailing = new WeakSet();
  function appendChunks(pre, chunks) {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    for (const c of chunks) pre.appendChild(document.createTextNode(c.chunk));
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }
  async function tail(pre, fromEvent) {
    if (tailing.has(pre)) { pre.dataset.pending = "1"; return; }
    tailing.add(pre);
    try {
      for (;;) {
        delete pre.dataset.pending;
        const res = await fetch("/api/heartbeat-runs/" + pre.dataset.runLog + "/log?offset=" + (pre.dataset.offset || 0),
          { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!res.ok) {
          // The log lives on the machine that ran the process: show what the event carried.
          if (fromEvent) appendChunks(pre, fromEvent);
          return;
        }
        const log = await res.json();
        const chunks = [];
        for (const line of log.content.split("\n")) {
          if (!line) continue;
          try { chunks.push(JSON.parse(line)); } catch (_) { /* a torn last line: read again */ }
        }
        appendChunks(pre, chunks);
        pre.dataset.offset = log.nextOffset;
        if (log.nextOffset >= log.size && !pre.dataset.pending) return;
      }
    } finally {
      tailing.delete(pre);
    }
  }

  // ---- the socket -----------------------------------------------------------------------
  const company = document.body.dataset.companyId;
  let cursor = document.body.dataset.cursor || "";
  let backoff = 500;
  const state = document.getElementById("live-state");
  function connect() {
    const proto = window.location.protocol === "https:" ? "wss://" : "ws://";
    const url = proto + window.location.host + "/api/companies/" + company + "/events/ws" +
      (cursor ? "?after=" + encodeURIComponent(cursor) : "");
    const ws = new WebSocket(url);
    ws.onopen = () => { backoff = 500; if (state) state.textContent = "● live"; document.body.dataset.live = "open"; };
    ws.onmessage = (m) => {
      let ev;
      try { ev = JSON.parse(m.data); } catch (_) { return; }
      if (ev.cursor) cursor = ev.cursor;
      if (ev.type === "heartbeat.run.log") {
        for (const pre of $$("pre[data-run-log]")) {
          if (pre.dataset.runLog === ev.payload.runId) tail(pre, ev.payload.chunks || []);
        }
        return;
      }
      refresh();
    };
    ws.onclose = () => {
      document.body.dataset.live = "closed";
      if (state) state.textContent = "○ reconnecting…";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }
  if (company) connect();
  // Catch up on what was written between the page's read and now (a finished log answers once).
  for (const pre of $$("pre[data-run-log]")) tail(pre);
})();
