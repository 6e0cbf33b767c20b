/* The de-identification review screen: the candidate identifiers marked in the transcript's words, with the
 * recording beside them; accept or reject each (a, r; n and Shift+N move between the pending ones and play
 * from a second before), add missed words (click, Shift+click, a type), the dyad's lists, apply.
 *
 * Every step is one JSON request (coder.web.views.deidentification) answered with the screen's whole state,
 * which is drawn again; a refusal is shown with its reason (applying names the pending candidates).
 */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("deid-data").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var root = document.getElementById("deid");
  var audio = document.getElementById("audio");
  var playBtn = document.getElementById("play");
  var clockEl = document.getElementById("clock");
  var turnsEl = document.getElementById("turns");
  var tableBody = document.querySelector("#candidates tbody");
  var noneEl = document.getElementById("no-candidates");
  var statusEl = document.getElementById("deid-status");
  var countsEl = document.getElementById("counts");
  var revisionEl = document.getElementById("revision");
  var saveEl = document.getElementById("save-state");
  var staleEl = document.getElementById("stale");
  var selectionEl = document.getElementById("selection");
  var typeEl = document.getElementById("add-type");
  var personEl = document.getElementById("add-person");
  var noticesEl = document.getElementById("notices");
  var peopleText = document.getElementById("people-text");
  var doneSection = document.getElementById("deidentified-section");
  var doneList = document.getElementById("deidentified");
  var appliedMeta = document.getElementById("applied-meta");
  var helpEl = document.getElementById("help");
  var helpBtn = document.getElementById("help-toggle");

  var state = data;
  var current = null;    // the id of the current candidate
  var selection = null;  // {turn, first, last}: words selected to add
  var refused = [];      // ids of the pending candidates named by a refused apply
  var busy = false;

  var TYPE_NAMES = {};
  data.types.forEach(function (t) { TYPE_NAMES[t[0]] = t[1]; });
  var RANK = { accepted: 3, pending: 2, rejected: 1 };

  function clock(s) {
    s = Math.max(0, s || 0);
    var m = Math.floor(s / 60), sec = s - m * 60;
    return m + ":" + (sec < 10 ? "0" : "") + sec.toFixed(1);
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }
  function candidate(id) { return state.candidates.filter(function (c) { return c.id === id; })[0] || null; }
  function typeName(c) { return c.entity === "LOCATION" && c.label === "GPE" ? "town" : (TYPE_NAMES[c.entity] || c.entity); }

  /* --- player ------------------------------------------------------------------------------------ */

  var pendingSeek = null;
  function now() { return pendingSeek !== null ? pendingSeek : audio.currentTime || 0; }
  function seek(t) {
    t = Math.max(0, t);
    if (data.duration) { t = Math.min(t, Math.max(0, data.duration - 0.01)); }
    if (audio.readyState >= 1) { audio.currentTime = t; } else { pendingSeek = t; }
    renderClock();
  }
  audio.addEventListener("loadedmetadata", function () {
    if (pendingSeek !== null) { audio.currentTime = pendingSeek; pendingSeek = null; }
  });
  function play() {
    var p = audio.play();
    if (p && p.catch) { p.catch(function () { /* refused until a user gesture */ }); }
  }
  function togglePlay() { if (audio.paused) { play(); } else { audio.pause(); } }
  function renderClock() { clockEl.textContent = clock(now()) + " / " + clock(data.duration); }
  playBtn.addEventListener("click", togglePlay);
  document.getElementById("back").addEventListener("click", function () { seek(now() - 2); });
  document.getElementById("fwd").addEventListener("click", function () { seek(now() + 2); });
  audio.addEventListener("play", function () { playBtn.textContent = "Pause"; });
  audio.addEventListener("pause", function () { playBtn.textContent = "Play"; });
  audio.addEventListener("timeupdate", renderClock);
  audio.addEventListener("seeked", renderClock);
  audio.addEventListener("error", function () { clockEl.textContent = "audio unavailable"; });

  /* --- drawing ----------------------------------------------------------------------------------- */

  function wordOwners() {  // "turn:word" -> the candidate shown on it (accepted over pending over rejected)
    var owners = {};
    if (state.stale) { return owners; }  // the candidates' words are those of an older revision
    state.candidates.forEach(function (c) {
      for (var k = c.first; k <= c.last; k++) {
        var key = c.turn + ":" + k, had = owners[key];
        if (!had || RANK[c.decision] > RANK[had.decision]) { owners[key] = c; }
      }
    });
    return owners;
  }

  function renderTurns() {
    var owners = wordOwners(), frag = document.createDocumentFragment();
    state.segments.forEach(function (seg, i) {
      var li = el("li", "turn");
      li.dataset.i = i;
      var head = el("div", "turn-head");
      var at = el("button", "at", clock(seg.s));
      at.type = "button"; at.dataset.t = seg.s; at.tabIndex = -1;
      head.appendChild(at);
      head.appendChild(el("span", "who", state.speakers[seg.speaker] || seg.speaker));
      var p = el("p", "text");
      if (!seg.w.length) { p.textContent = seg.text; }
      seg.w.forEach(function (w, k) {
        var span = el("span", "w", w[2]);
        span.dataset.turn = i; span.dataset.k = k;
        var c = owners[i + ":" + k];
        if (c) {
          span.className += " cand " + c.decision + (c.id === current ? " cur" : "");
          span.dataset.c = c.id;
          span.title = "#" + c.id + " " + typeName(c) + (c.pseudonym ? " → " + c.pseudonym : "") + " (" + c.decision + ")";
        }
        if (selection && selection.turn === i && k >= selection.first && k <= selection.last) { span.className += " sel"; }
        p.appendChild(span);
        if (c && k === c.last && c.decision !== "rejected") {
          var tag = el("span", "cand-tag " + c.decision, c.pseudonym || typeName(c));
          tag.dataset.c = c.id;
          p.appendChild(tag);
        }
        p.appendChild(document.createTextNode(" "));
      });
      li.appendChild(head); li.appendChild(p);
      frag.appendChild(li);
    });
    turnsEl.textContent = "";
    turnsEl.appendChild(frag);
  }

  function decisionButton(c, accepted) {
    var b = el("button", "small " + (accepted ? "accept" : "reject quiet"), accepted ? "Accept" : "Reject");
    b.type = "button";
    b.disabled = c.decision === (accepted ? "accepted" : "rejected") || state.stale;
    b.addEventListener("click", function (ev) { ev.stopPropagation(); current = c.id; decide(c.id, accepted); });
    return b;
  }

  function renderTable() {
    tableBody.textContent = "";
    state.candidates.forEach(function (c) {
      var tr = el("tr", c.decision + (c.id === current ? " current" : "") + (refused.indexOf(c.id) >= 0 && c.decision === "pending" ? " missing" : ""));
      tr.dataset.c = c.id;
      tr.appendChild(el("td", null, String(c.id)));
      tr.appendChild(el("td", null, String(c.turn + 1)));
      tr.appendChild(el("td", "time", clock(c.start)));
      tr.appendChild(el("td", "text", c.text));
      var type = el("td", "type", typeName(c));
      if (c.role) { type.appendChild(el("span", "role", c.role)); }
      tr.appendChild(type);
      tr.appendChild(el("td", null, c.source === "added" ? "added" : Number(c.score).toFixed(2)));
      tr.appendChild(el("td", "decision", c.decision));
      tr.appendChild(el("td", "pseudonym", c.pseudonym || "–"));
      var td = el("td", "buttons");
      td.appendChild(decisionButton(c, true));
      td.appendChild(decisionButton(c, false));
      tr.appendChild(td);
      tableBody.appendChild(tr);
    });
    noneEl.hidden = state.candidates.length > 0;
  }

  function renderPeopleChoices() {
    var keep = personEl.value, seen = {};
    personEl.textContent = "";
    personEl.appendChild(el("option", null, "(a new name)"));
    personEl.firstChild.value = "";
    function option(text, label) {
      var key = text.toLowerCase();
      if (seen[key]) { return; }
      seen[key] = true;
      var o = el("option", null, label);
      o.value = text;
      personEl.appendChild(o);
    }
    Object.keys(state.people).forEach(function (role) {
      state.people[role].forEach(function (entry) {
        entry.split("|").forEach(function (form) { if (form.trim()) { option(form.trim(), form.trim() + " (" + role + ")"); } });
      });
    });
    state.candidates.forEach(function (c) {
      if (c.decision !== "rejected") { option(c.text, c.text + (c.pseudonym ? " " + c.pseudonym : "")); }
    });
    personEl.value = seen[keep.toLowerCase()] ? keep : "";
  }

  function renderStatus() {
    var n = state.counts;
    var words = { none: "not detected yet", detected: "in review", applied: "applied" };
    statusEl.textContent = words[state.status] || state.status;
    statusEl.className = "badge " + state.status;
    countsEl.textContent = state.status === "none" ? "Press Detect to find the candidate identifiers." :
      n.pending + " pending · " + n.accepted + " accepted · " + n.rejected + " rejected";
    revisionEl.textContent = String(state.current_revision);
    staleEl.hidden = !state.stale;
    root.dataset.status = state.status;
    root.dataset.stale = state.stale ? "1" : "";
    root.dataset.pending = String(n.pending);
    document.getElementById("apply").disabled = state.status === "none" || state.stale;
    if (state.deidentified) {
      doneSection.hidden = false;
      appliedMeta.textContent = "Made from revision " + state.applied_revision + " on " +
        new Date(state.applied_at).toLocaleString() +
        (state.status !== "applied" || state.applied_revision !== state.current_revision ?
          ". Decisions or the transcript changed since: apply again for raters to read them." : ".");
      doneList.textContent = "";
      state.deidentified.forEach(function (seg) {
        var li = el("li");
        li.appendChild(el("span", "time", clock(seg.s)));
        li.appendChild(el("span", "speaker", seg.speaker));
        li.appendChild(el("span", "said", seg.text));
        doneList.appendChild(li);
      });
    } else { doneSection.hidden = true; }
  }

  function describeSelection() {
    if (!selection || !state.segments[selection.turn]) {
      selection = null;
      selectionEl.textContent = "Click a word to play from it; Shift+click to select the words of a missed identifier.";
      return;
    }
    var seg = state.segments[selection.turn];
    var text = seg.w.slice(selection.first, selection.last + 1).map(function (w) { return w[2]; }).join(" ");
    selectionEl.textContent = "Turn " + (selection.turn + 1) + ", " + (selection.first === selection.last ?
      "word " + (selection.first + 1) : "words " + (selection.first + 1) + "–" + (selection.last + 1)) + ": “" + text + "”";
  }

  function render() {
    if (current !== null && !candidate(current)) { current = null; }
    renderTurns();
    renderTable();
    renderPeopleChoices();
    renderStatus();
    describeSelection();
    root.dataset.current = current === null ? "" : String(current);
  }

  /* --- the current candidate --------------------------------------------------------------------- */

  function makeCurrent(id, listen) {
    current = id;
    var c = candidate(id);
    render();
    if (!c) { return; }
    var row = tableBody.querySelector('tr[data-c="' + id + '"]');
    if (row) { row.scrollIntoView({ block: "nearest" }); }
    var word = turnsEl.querySelector('.w[data-c="' + id + '"]');
    if (word) { word.scrollIntoView({ block: "nearest" }); }
    if (listen) { seek(c.start - 1); play(); }
  }

  function nextPending(dir) {
    var list = state.candidates, n = list.length;
    if (!n) { return; }
    var at = -1;
    for (var i = 0; i < n; i++) { if (list[i].id === current) { at = i; break; } }
    if (at < 0 && dir < 0) { at = n; }
    for (var step = 1; step <= n; step++) {
      var j = at + dir * step;
      if (j < 0 || j >= n) { break; }
      if (list[j].decision === "pending") { makeCurrent(list[j].id, true); return; }
    }
    for (var k = 0; k < n; k++) {  // wrap around
      var c = list[dir > 0 ? k : n - 1 - k];
      if (c.decision === "pending" && c.id !== current) { makeCurrent(c.id, true); return; }
    }
    selectionEl.textContent = "No candidate is pending.";
  }

  tableBody.addEventListener("click", function (ev) {
    var row = ev.target.closest("tr");
    if (row) { makeCurrent(Number(row.dataset.c), true); }
  });

  function select(turn, k, extend) {
    if (extend && selection && selection.turn === turn) {
      selection = { turn: turn, first: Math.min(selection.first, k), last: Math.max(selection.last, k) };
    } else { selection = { turn: turn, first: k, last: k }; }
  }

  turnsEl.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t.classList.contains("w")) {
      var turn = Number(t.dataset.turn), k = Number(t.dataset.k), w = state.segments[turn].w[k];
      select(turn, k, ev.shiftKey);
      if (!ev.shiftKey) {
        if (t.dataset.c) { current = Number(t.dataset.c); }
        seek(w[0]);
      }
      render();
    } else if (t.classList.contains("cand-tag")) {
      makeCurrent(Number(t.dataset.c), true);
    } else if (t.classList.contains("at")) {
      seek(Number(t.dataset.t));
    }
  });

  /* --- requests ---------------------------------------------------------------------------------- */

  function setBusy(on, text) {
    busy = on;
    root.dataset.busy = on ? "1" : "";
    saveEl.textContent = text || "";
    saveEl.className = "save-state " + (on ? "saving" : "");
  }

  function notice(text, kind) {
    var box = el("p", "notice " + (kind || ""), text + " ");
    box.setAttribute("role", "alert");
    var close = el("button", "quiet", "Dismiss");
    close.type = "button";
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    noticesEl.appendChild(box);
  }

  function send(url, body, doing, done) {
    if (busy) { return Promise.resolve(null); }
    setBusy(true, doing + "…");
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().catch(function () { return { ok: false, error: "unexpected answer (" + r.status + ")" }; })
        .then(function (b) { b.httpStatus = r.status; return b; });
    }).then(function (b) {
      setBusy(false, "");
      if (b.ok) {
        state = b;
        render();
        saveEl.textContent = done || "Saved";
        saveEl.className = "save-state saved";
        return b;
      }
      if (b.pending) {
        refused = b.pending;
        render();
        if (refused.length) { makeCurrent(refused[0], false); }
      }
      notice(b.httpStatus === 401 ? "You are logged out: log in again in another tab, then repeat this." :
        "Not done: " + (b.error || "refused"), "error");
      saveEl.textContent = "Not done";
      saveEl.className = "save-state error";
      return b;
    }, function () {
      setBusy(false, "");
      notice("Not done: the server cannot be reached. Try again.", "error");
      return null;
    });
  }

  function decide(id, accepted) {
    var c = candidate(id);
    if (!c) { selectionEl.textContent = "Choose a candidate first (click it, or n)."; return; }
    send(data.urls.decide, { id: id, accepted: accepted }, accepted ? "Accepting" : "Rejecting",
      "#" + id + " " + (accepted ? "accepted" : "rejected"));
  }
  function detect() { send(data.urls.detect, {}, "Detecting", "Detected"); }
  function decideAll(accepted) {
    if (!state.counts.pending) { selectionEl.textContent = "No candidate is pending."; return; }
    send(data.urls.decide, { all: true, accepted: accepted }, "Deciding", "All pending " + (accepted ? "accepted" : "rejected"));
  }
  function addSelected() {
    if (!selection) { selectionEl.textContent = "Select the words first: click the first, Shift+click the last."; return; }
    var body = { turn: selection.turn, first: selection.first, last: selection.last, entity: typeEl.value };
    if (personEl.value) { body.person = personEl.value; }
    send(data.urls.add, body, "Adding", "Added").then(function (b) {
      if (b && b.ok) {
        var added = b.candidates.filter(function (c) { return c.source === "added"; })
          .sort(function (x, y) { return y.id - x.id; })[0];
        selection = null;
        if (added) { makeCurrent(added.id, false); }
      }
    });
  }
  function applyAll() {
    send(data.urls.apply, {}, "Applying", "Applied").then(function (b) {
      if (b && b.ok) { refused = []; render(); doneSection.scrollIntoView({ block: "start" }); }
    });
  }

  document.getElementById("detect").addEventListener("click", detect);
  document.getElementById("stale-detect").addEventListener("click", detect);
  document.getElementById("next").addEventListener("click", function () { nextPending(1); });
  document.getElementById("accept").addEventListener("click", function () { decide(current, true); });
  document.getElementById("reject").addEventListener("click", function () { decide(current, false); });
  document.getElementById("accept-all").addEventListener("click", function () { decideAll(true); });
  document.getElementById("reject-all").addEventListener("click", function () { decideAll(false); });
  document.getElementById("add").addEventListener("click", addSelected);
  document.getElementById("apply").addEventListener("click", applyAll);
  document.getElementById("people-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    send(data.urls.people, { text: peopleText.value }, "Saving the lists", "Lists saved: detect again to use them")
      .then(function (b) { if (b && b.ok) { peopleText.value = b.lists_text; } });
  });

  /* --- keyboard ---------------------------------------------------------------------------------- */

  document.addEventListener("keydown", function (ev) {
    var t = ev.target, tag = t.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || tag === "INPUT") {
      if (ev.key === "Escape") { t.blur(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var k = ev.key;
    if (k === " ") { ev.preventDefault(); togglePlay(); }
    else if (k === "ArrowLeft") { ev.preventDefault(); seek(now() - 2); }
    else if (k === "ArrowRight") { ev.preventDefault(); seek(now() + 2); }
    else if (k === "a") { ev.preventDefault(); decide(current, true); }
    else if (k === "r") { ev.preventDefault(); decide(current, false); }
    else if (k === "n") { ev.preventDefault(); nextPending(1); }
    else if (k === "N") { ev.preventDefault(); nextPending(-1); }
    else if (k === "?") { toggleHelp(); }
  });
  function toggleHelp() {
    helpEl.hidden = !helpEl.hidden;
    helpBtn.setAttribute("aria-expanded", String(!helpEl.hidden));
  }
  helpBtn.addEventListener("click", toggleHelp);

  /* --- start ------------------------------------------------------------------------------------- */

  render();
  renderClock();
  setBusy(false, "");
  window.coderDeid = { state: function () { return state; }, current: function () { return current; } };
  root.dataset.ready = "1";
})();
