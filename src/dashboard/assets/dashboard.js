// dlpd's dashboard: keeps the page live by polling its JSON twin (the
// body's data-api) 5 s after each answer: the fields marked data-field,
// and the files and alerts tables. Everything is written with
// textContent: nothing from the server is ever parsed as HTML.
"use strict";

(function () {
  const body = document.body;
  const api = body.dataset.api;
  const page = body.dataset.page;
  const live = document.getElementById("live");
  if (!api || !live) return;

  const pick = (obj, path) =>
    path.split(".").reduce((o, k) => (o == null ? undefined : o[k]), obj);

  const seconds = (v) => (v == null ? "–" : v.toFixed(1) + " s");

  function fields(json) {
    for (const el of document.querySelectorAll("[data-field]")) {
      const name = el.dataset.field;
      const v = pick(json, name);
      if (v === undefined) continue;
      if (v === null && el.dataset.empty !== undefined) {
        el.textContent = el.dataset.empty;
      } else {
        el.textContent = name.startsWith("lag_") ? seconds(v) : String(v);
      }
    }
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function files(json) {
    const rows = document.getElementById("rows");
    if (!rows || !Array.isArray(json.files)) return;
    const fresh = document.createDocumentFragment();
    for (const f of json.files) {
      const tr = document.createElement("tr");
      const a = document.createElement("a");
      a.href = "/files/" + encodeURIComponent(String(f.id));
      a.textContent = f.path;
      cell(tr, "").appendChild(a);
      cell(tr, f.exposure);
      cell(tr, f.confidence);
      const tags = cell(tr, "");
      for (const d of f.detectors) {
        const span = document.createElement("span");
        span.className = "tag";
        span.textContent = d.detector + " " + d.findings;
        tags.appendChild(span);
      }
      cell(tr, String(f.findings), "n");
      cell(tr, f.scanned_at);
      cell(tr, f.quarantine || "");
      fresh.appendChild(tr);
    }
    rows.replaceChildren(fresh);
  }

  function alerts(json) {
    const rows = document.getElementById("alerts");
    if (!rows || !Array.isArray(json)) return;
    const fresh = document.createDocumentFragment();
    for (const a of json) {
      const tr = document.createElement("tr");
      cell(tr, String(a.id), "n");
      cell(tr, a.sink);
      cell(tr, a.path == null ? "(anomaly)" : a.path);
      cell(tr, a.created_at);
      cell(tr, a.state);
      cell(tr, String(a.attempts), "n");
      cell(tr, a.receipt || "");
      cell(tr, a.last_error || "");
      fresh.appendChild(tr);
    }
    rows.replaceChildren(fresh);
  }

  async function poll() {
    try {
      const r = await fetch(api, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (r.status === 401) {
        live.textContent = "logged out";
        return;
      }
      if (!r.ok) throw new Error(String(r.status));
      const json = await r.json();
      fields(json);
      if (page === "files") files(json);
      if (page === "alerts") alerts(json);
      live.textContent = "live · " + new Date().toLocaleTimeString();
      live.className = "ok";
    } catch (e) {
      live.textContent = "not updating";
      live.className = "stale";
    }
  }

  // The next poll is asked for only once this one is answered: a slow
  // store never piles requests up.
  async function loop() {
    await poll();
    setTimeout(loop, 5000);
  }
  loop();
})();
