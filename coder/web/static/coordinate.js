// The study page: uploading recordings one by one with progress and SHA-256, filling their dyads and sessions
// from a manifest, selecting recordings, and following their processing.
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const section = document.getElementById("upload");
  const table = document.getElementById("upload-table");
  const body = table ? table.querySelector("tbody") : null;
  const start = document.getElementById("upload-start");
  const summary = document.getElementById("upload-summary");
  const problems = document.getElementById("manifest-problems");
  let rows = [];
  let manifestRows = {};

  function guessSession(name) {
    const m = /(?:session|sess|ses|s)[ _-]?(\d+)/i.exec(name) || /(\d+)(?!.*\d)/.exec(name.replace(/\.[^.]+$/, ""));
    return m ? String(parseInt(m[1], 10)) : "";
  }

  function cell(tr, html) {
    const td = document.createElement("td");
    if (html instanceof Node) td.appendChild(html); else td.textContent = html;
    tr.appendChild(td);
    return td;
  }

  function input(name, value, type) {
    const el = document.createElement("input");
    el.name = name;
    el.value = value || "";
    if (type) el.type = type;
    el.setAttribute("aria-label", name);
    return el;
  }

  function applyManifest(row) {
    const m = manifestRows[row.file.name];
    if (!m) return;
    row.dyad.value = "";
    row.fields.therapist.value = m.therapist;
    row.fields.client.value = m.client;
    row.fields.dyad_code = m.dyad;
    row.fields.session.value = m.session;
    row.fields.time_point.value = m.time_point;
    row.fields.arm.value = m.arm;
    row.fields.date.value = m.date;
  }

  function addFiles(files) {
    for (const file of files) {
      if (rows.some((r) => r.file.name === file.name && r.file.size === file.size)) continue;
      const tr = document.createElement("tr");
      const row = { file, tr, done: false, fields: {} };
      cell(tr, `${file.name} (${(file.size / 1048576).toFixed(1)} MB)`);
      const dyad = document.createElement("select");
      dyad.innerHTML = document.getElementById("dyad-options").innerHTML;
      dyad.setAttribute("aria-label", "dyad");
      row.dyad = dyad;
      cell(tr, dyad);
      for (const [name, type] of [["therapist"], ["client"], ["session", "number"], ["time_point"], ["arm"],
                                  ["date", "date"]]) {
        row.fields[name] = input(name, name === "session" ? guessSession(file.name) : "", type);
        cell(tr, row.fields[name]);
      }
      const bar = document.createElement("progress");
      bar.max = 1;
      bar.value = 0;
      const state = document.createElement("span");
      const td = cell(tr, bar);
      td.appendChild(document.createTextNode(" "));
      td.appendChild(state);
      row.bar = bar;
      row.state = state;
      applyManifest(row);
      body.appendChild(tr);
      rows.push(row);
    }
    table.hidden = rows.length === 0;
    start.hidden = rows.length === 0;
  }

  async function sha256(file) {
    // Only where the browser offers it (a secure context) and the file fits in memory comfortably.
    if (!(window.crypto && crypto.subtle) || file.size > 512 * 1048576) return "";
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    return Array.from(new Uint8Array(digest)).map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  function send(row, digest) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("csrf_token", csrf);
      data.append("dyad_id", row.dyad.value);
      for (const [name, el] of Object.entries(row.fields)) {
        if (el instanceof HTMLElement) data.append(name, el.value);
      }
      if (row.fields.dyad_code) data.append("dyad", row.fields.dyad_code);
      if (digest) data.append("sha256", digest);
      data.append("file", row.file, row.file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", section.dataset.uploadUrl);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) row.bar.value = e.loaded / e.total; };
      xhr.onload = () => {
        let reply;
        try { reply = JSON.parse(xhr.responseText); } catch (err) { reply = { ok: false, error: `server answered ${xhr.status}` }; }
        resolve(reply);
      };
      xhr.onerror = () => resolve({ ok: false, error: "the connection failed; nothing was stored" });
      xhr.send(data);
    });
  }

  async function uploadAll() {
    start.disabled = true;
    let ok = 0, failed = 0;
    for (const row of rows) {
      if (row.done) continue;
      row.state.className = "";
      row.state.textContent = "checksum…";
      const digest = await sha256(row.file);
      row.state.textContent = "uploading…";
      const reply = await send(row, digest);
      if (reply.ok) {
        row.done = true;
        row.bar.value = 1;
        row.state.className = "ok";
        row.state.textContent = `registered: dyad ${reply.dyad}, session ${reply.session}, SHA-256 ${reply.sha256.slice(0, 10)}`;
        ok += 1;
      } else {
        row.bar.value = 0;
        row.state.className = "bad";
        row.state.textContent = reply.error;
        failed += 1;
      }
    }
    summary.innerHTML = "";
    summary.append(`${ok} uploaded, ${failed} refused. `);
    if (ok) {
      const a = document.createElement("a");
      a.href = location.pathname + "#recordings";
      a.textContent = "Show them in the list";
      a.onclick = (e) => { e.preventDefault(); location.reload(); };
      summary.append(a);
    }
    start.disabled = false;
  }

  if (section) {
    document.getElementById("upload-files").addEventListener("change", (e) => addFiles(e.target.files));
    document.getElementById("upload-manifest").addEventListener("change", async (e) => {
      const file = e.target.files[0];
      if (!file) return;
      const data = new FormData();
      data.append("csrf_token", csrf);
      data.append("manifest", file, file.name);
      const reply = await fetch(section.dataset.manifestUrl, { method: "POST", body: data, headers: { Accept: "application/json" } })
        .then((r) => r.json()).catch(() => ({ ok: false, error: "the manifest could not be sent" }));
      problems.innerHTML = "";
      for (const p of reply.errors || (reply.error ? [reply.error] : [])) {
        const li = document.createElement("li");
        li.textContent = p;
        problems.appendChild(li);
      }
      manifestRows = {};
      for (const r of reply.rows || []) manifestRows[r.file] = r;
      rows.forEach(applyManifest);
    });
    start.addEventListener("click", uploadAll);
  }

  // Selecting recordings, and following their processing.
  const all = document.getElementById("select-all");
  if (all) all.addEventListener("change", () => {
    document.querySelectorAll('input[name="recording"]').forEach((box) => { box.checked = all.checked; });
  });
  const list = document.getElementById("recordings");
  if (!list) return;
  let timer = null;
  async function poll() {
    const reply = await fetch(list.dataset.statusUrl, { headers: { Accept: "application/json" } })
      .then((r) => r.json()).catch(() => null);
    if (!reply) return;
    let running = false;
    for (const r of reply.recordings) {
      const tr = list.querySelector(`tr[data-recording="${r.id}"]`);
      if (!tr) continue;
      const status = tr.querySelector("td.status");
      status.className = `status ${r.status}`;
      status.querySelector(".label").textContent = r.status === "transcribing"
        ? `transcribing ${r.percent} %${r.time_left ? ` · ${r.time_left}` : ""}` : r.status;
      const bar = status.querySelector("progress");
      bar.value = r.progress_s;
      const active = r.status === "queued" || r.status === "transcribing" || r.status === "retrying";
      bar.hidden = !active;
      status.querySelector(".error").textContent = r.error || "";
      if (r.transcript_url && !tr.querySelector(".transcript-link a")) {
        tr.querySelector(".transcript-link").innerHTML = `<a href="${r.transcript_url}">review speakers</a>`;
      }
      running = running || active;
    }
    document.getElementById("processing-state").textContent = running ? "processing…" : "";
    if (!running && timer) { clearInterval(timer); timer = null; }
  }
  if (list.querySelector("td.status.queued, td.status.transcribing, td.status.retrying")) {
    timer = setInterval(poll, 1500);
    poll();
  }

  // buttons that delete ask first (the page's CSP forbids inline handlers)
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
})();
