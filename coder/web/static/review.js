/* The transcript editor: the recording and its transcript in sync, corrections by keyboard or mouse.
 *
 * Each correction is one operation (coder.pipeline.edits) that the server applies to the revision it was made
 * against and saves as the next revision. Operations wait in a queue that is kept in this browser's
 * localStorage until the server has them, and are sent one at a time, retried while offline or logged out.
 * While a change is waiting, text edits (which keep the turns where they are) can go on; changes that move
 * turns wait until the queue is saved. A save refused because someone else saved first (409) shows their
 * version and names what was not applied.
 */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("transcript-data").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var root = document.getElementById("editor");
  var audio = document.getElementById("audio");
  var playBtn = document.getElementById("play");
  var clockEl = document.getElementById("clock");
  var speedEl = document.getElementById("speed");
  var followEl = document.getElementById("follow");
  var thresholdEl = document.getElementById("threshold");
  var lowCountEl = document.getElementById("low-count");
  var turnsEl = document.getElementById("turns");
  var stateEl = document.getElementById("save-state");
  var revisionEl = document.getElementById("revision");
  var statusEl = document.getElementById("status");
  var selectionEl = document.getElementById("selection");
  var moveToEl = document.getElementById("move-to");
  var insertSpeakerEl = document.getElementById("insert-speaker");
  var insertTextEl = document.getElementById("insert-text");
  var noticesEl = document.getElementById("notices");
  var historyEl = document.getElementById("history");
  var helpEl = document.getElementById("help");
  var helpBtn = document.getElementById("help-toggle");

  var SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
  var STRUCTURAL = { split_turn: 1, merge_turns: 1, move_words: 1, insert_turn: 1, restore: 1 };
  var storageKey = "coder:transcript:" + data.user + ":" + data.transcript;
  var server = { revision: data.revision, status: data.status, segments: data.segments, speakers: data.speakers };
  var shown = clone(server.segments);  // the server's turns with the waiting text edits applied
  var queue = [];                      // [{kind, op|body, label}] not yet saved
  var selection = null;                // {turn, first, last}

  function clone(x) { return JSON.parse(JSON.stringify(x)); }
  function clock(s) {
    s = Math.max(0, s || 0);
    var m = Math.floor(s / 60), sec = s - m * 60;
    return m + ":" + (sec < 10 ? "0" : "") + sec.toFixed(1);
  }
  function names() {
    var out = {};
    server.speakers.forEach(function (s) { out[s.label] = s.shown; });
    return out;
  }
  function roleOf(label) {
    var s = server.speakers.filter(function (x) { return x.label === label; })[0];
    return s && s.role ? s.role : "unknown";
  }

  /* --- player ------------------------------------------------------------------------------------ */

  var pendingSeek = null;
  function now() { return pendingSeek !== null ? pendingSeek : audio.currentTime || 0; }
  function seek(t) {
    t = Math.max(0, t);
    if (data.duration) { t = Math.min(t, Math.max(0, data.duration - 0.01)); }
    if (audio.readyState >= 1) { audio.currentTime = t; } else { pendingSeek = t; }
    render();
  }
  audio.addEventListener("loadedmetadata", function () {
    if (pendingSeek !== null) { audio.currentTime = pendingSeek; pendingSeek = null; }
  });
  function togglePlay() {
    if (audio.paused) {
      var p = audio.play();
      if (p && p.catch) { p.catch(function () { /* refused until a user gesture */ }); }
    } else { audio.pause(); }
  }
  function setSpeed(v) { audio.playbackRate = v; speedEl.value = String(v); }
  function stepSpeed(dir) {
    var i = SPEEDS.indexOf(Number(speedEl.value));
    setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, i + dir))]);
  }
  playBtn.addEventListener("click", togglePlay);
  document.getElementById("back").addEventListener("click", function () { seek(now() - 2); });
  document.getElementById("fwd").addEventListener("click", function () { seek(now() + 2); });
  speedEl.addEventListener("change", function () { setSpeed(Number(speedEl.value)); });
  audio.addEventListener("play", function () { playBtn.textContent = "Pause"; loop(); });
  audio.addEventListener("pause", function () { playBtn.textContent = "Play"; render(); });
  audio.addEventListener("seeked", render);
  audio.addEventListener("error", function () { clockEl.textContent = "audio unavailable"; });

  /* --- the turns --------------------------------------------------------------------------------- */

  var wordEls = [], wordStarts = [], wordEnds = [], wordPlace = [];  // flat, in the order of the turns
  function threshold() { var v = Number(thresholdEl.value); return isNaN(v) ? 0 : v; }

  function speakerSelect(current, label) {
    var sel = document.createElement("select");
    sel.setAttribute("aria-label", label);
    server.speakers.forEach(function (s) {
      var o = document.createElement("option");
      o.value = s.label; o.textContent = s.shown;
      if (s.label === current) { o.selected = true; }
      sel.appendChild(o);
    });
    return sel;
  }

  function renderTurns() {
    var limit = threshold(), who = names(), low = 0;
    wordEls = []; wordStarts = []; wordEnds = []; wordPlace = [];
    var frag = document.createDocumentFragment();
    shown.forEach(function (seg, i) {
      var li = document.createElement("li");
      li.className = "turn role-" + roleOf(seg.speaker) + (seg.checked ? " checked" : "") + (seg.pending ? " pending" : "");
      li.dataset.i = i;
      var head = document.createElement("div");
      head.className = "turn-head";
      var at = document.createElement("button");
      at.type = "button"; at.className = "at"; at.textContent = clock(seg.s); at.dataset.t = seg.s; at.tabIndex = -1;
      var sel = speakerSelect(seg.speaker, "speaker of turn " + (i + 1));
      sel.className = "who";
      sel.dataset.turn = i;
      head.appendChild(at); head.appendChild(sel);
      if (seg.checked) {
        var mark = document.createElement("span");
        mark.className = "checked-mark"; mark.textContent = "✓ checked";
        head.appendChild(mark);
      }
      var p = document.createElement("p");
      p.className = "text";
      seg.w.forEach(function (w, k) {
        var span = document.createElement("span");
        span.className = "w";
        if (w[3] !== null && w[3] !== undefined && w[3] < limit) { span.className += " low"; span.title = "p = " + w[3].toFixed(2); low++; }
        if (selection && selection.turn === i && k >= selection.first && k <= selection.last) { span.className += " sel"; }
        span.textContent = w[2];
        span.dataset.f = wordEls.length;
        wordEls.push(span); wordStarts.push(w[0]); wordEnds.push(w[1]); wordPlace.push([i, k]);
        p.appendChild(span);
        p.appendChild(document.createTextNode(" "));
      });
      li.appendChild(head); li.appendChild(p);
      frag.appendChild(li);
    });
    turnsEl.textContent = "";
    turnsEl.appendChild(frag);
    lowCountEl.textContent = low === 1 ? "1 word to check" : low + " words to check";
    current = -1;
    describeSelection();
    fillSpeakerChoices();
    render();
  }

  function fillSpeakerChoices() {
    [moveToEl, insertSpeakerEl].forEach(function (el) {
      var keep = el.value;
      el.textContent = "";
      server.speakers.forEach(function (s) {
        var o = document.createElement("option");
        o.value = s.label; o.textContent = s.shown;
        el.appendChild(o);
      });
      if (keep) { el.value = keep; }
    });
    if (selection && shown[selection.turn]) {
      var other = server.speakers.filter(function (s) { return s.label !== shown[selection.turn].speaker; })[0];
      if (other) { moveToEl.value = other.label; }
    }
  }

  function describeSelection() {
    if (!selection || !shown[selection.turn]) {
      selection = null;
      selectionEl.textContent = "Click a word to play from it; Shift+click to select words.";
      return;
    }
    var seg = shown[selection.turn];
    var text = seg.w.slice(selection.first, selection.last + 1).map(function (w) { return w[2]; }).join(" ");
    selectionEl.textContent = "Turn " + (selection.turn + 1) + " (" + (names()[seg.speaker] || seg.speaker) + "), " +
      (selection.first === selection.last ? "word " + (selection.first + 1) : "words " + (selection.first + 1) + "–" + (selection.last + 1)) +
      ": “" + text + "”";
  }

  function select(turn, first, last, extend) {
    if (extend && selection && selection.turn === turn) {
      var a = Math.min(selection.first, first), b = Math.max(selection.last, last);
      selection = { turn: turn, first: a, last: b, anchor: selection.anchor };
    } else {
      selection = { turn: turn, first: first, last: last, anchor: first };
    }
    wordEls.forEach(function (el, f) {
      var place = wordPlace[f];
      el.classList.toggle("sel", place[0] === selection.turn && place[1] >= selection.first && place[1] <= selection.last);
    });
    describeSelection();
    fillSpeakerChoices();
  }

  turnsEl.addEventListener("click", function (ev) {
    var el = ev.target;
    if (el.classList.contains("w")) {
      var f = Number(el.dataset.f), place = wordPlace[f];
      select(place[0], place[1], place[1], ev.shiftKey);
      if (!ev.shiftKey) { seek(wordStarts[f]); }
    } else if (el.classList.contains("at")) {
      seek(Number(el.dataset.t));
      var turn = Number(el.parentNode.parentNode.dataset.i);
      if (shown[turn].w.length) { select(turn, 0, 0, false); }
    }
  });
  turnsEl.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.classList.contains("who")) {
      var turn = Number(el.dataset.turn);
      enqueue({ kind: "edit", op: { op: "set_speaker", turn: turn, speaker: el.value },
                label: "turn " + (turn + 1) + " given to " + names()[el.value] });
    }
  });

  function wordAt(t) {
    var lo = 0, hi = wordStarts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (wordStarts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found >= 0 && t <= wordEnds[found] + 0.5 ? found : -1;
  }
  var current = -1;
  function highlight(t) {
    var i = wordAt(t);
    if (i === current) { return; }
    if (current >= 0 && wordEls[current]) { wordEls[current].classList.remove("now"); }
    current = i;
    if (i < 0) { return; }
    wordEls[i].classList.add("now");
    if (followEl.checked && !audio.paused) { wordEls[i].scrollIntoView({ block: "nearest" }); }
  }
  function render() {
    var t = now();
    clockEl.textContent = clock(t) + " / " + clock(data.duration);
    highlight(t);
  }
  var looping = false;
  function loop() {
    if (looping) { return; }
    looping = true;
    (function frame() {
      render();
      if (!audio.paused && !audio.ended) { requestAnimationFrame(frame); } else { looping = false; }
    })();
  }

  function nextLow(dir) {
    var limit = threshold(), n = wordEls.length;
    if (!n) { return; }
    var from = -1;
    if (selection) {
      for (var f = 0; f < n; f++) {
        if (wordPlace[f][0] === selection.turn && wordPlace[f][1] === (dir > 0 ? selection.last : selection.first)) { from = f; break; }
      }
    } else { from = dir > 0 ? wordAt(now()) : n; }
    for (var step = 1; step <= n; step++) {
      var i = ((from + dir * step) % n + n) % n;
      var place = wordPlace[i], w = shown[place[0]].w[place[1]];
      if (w[3] !== null && w[3] !== undefined && w[3] < limit) {
        select(place[0], place[1], place[1], false);
        wordEls[i].scrollIntoView({ block: "center" });
        seek(Math.max(0, wordStarts[i] - 1));
        return;
      }
    }
    selectionEl.textContent = "No word under " + limit + ".";
  }
  thresholdEl.addEventListener("change", renderTurns);
  document.getElementById("next-low").addEventListener("click", function () { nextLow(1); });

  /* --- corrections ------------------------------------------------------------------------------- */

  function structural(item) {
    if (item.kind === "restore") { return true; }
    if (item.kind !== "edit") { return false; }
    var o = item.op;
    return !!STRUCTURAL[o.op] || (o.op === "edit_text" && !o.text.trim());
  }

  function enqueue(item) {
    if (queue.length && (structural(item) || queue.some(structural))) {
      notice("Wait until the last change is saved before changing the turns again.", "error");
      renderTurns();
      return false;
    }
    queue.push(item);
    if (item.kind === "edit") { showLocally(item.op); }
    keep();
    renderTurns();
    flush();
    return true;
  }

  function spreadWords(tokens, start, end) {
    var span = Math.max(0, end - start), n = tokens.length, out = [];
    tokens.forEach(function (t, k) { out.push([start + span * k / n, start + span * (k + 1) / n, t, null]); });
    return out;
  }
  function showLocally(op) {  // what the page shows until the server answers (text, speaker, checked)
    var seg = shown[op.turn];
    if (!seg) { return; }
    if (op.op === "edit_text" && op.text.trim()) {
      seg.w = spreadWords(op.text.split(/\s+/).filter(Boolean), seg.s, seg.e);
      seg.pending = true;
    } else if (op.op === "set_speaker") { seg.speaker = op.speaker; seg.pending = true; }
    else if (op.op === "check_turn") { seg.checked = op.checked; seg.pending = true; }
  }

  function keep() {
    try {
      if (queue.length) {
        localStorage.setItem(storageKey, JSON.stringify({ base: server.revision, queue: queue, at: new Date().toISOString() }));
      } else { localStorage.removeItem(storageKey); }
    } catch (e) { /* storage full or disabled: the queue lives in this page only */ }
  }
  function kept() {
    try { return JSON.parse(localStorage.getItem(storageKey) || "null"); } catch (e) { return null; }
  }

  function setState(text, kind) {
    stateEl.textContent = text;
    stateEl.className = "save-state " + (kind || "");
    root.dataset.saveState = kind || "";
  }
  function savedAt() {
    return "Saved " + new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function adopt(body) {  // the server's state after a save
    server = { revision: body.revision, status: body.status, segments: body.segments, speakers: body.speakers };
    revisionEl.textContent = String(server.revision);
    statusEl.value = server.status;
    root.dataset.status = server.status;
    root.dataset.revision = String(server.revision);
    shown = clone(server.segments);
    queue.forEach(function (item) { if (item.kind === "edit") { showLocally(item.op); } });
    renderTurns();
  }

  function request(item) {
    var url = { edit: data.urls.edit, restore: data.urls.restore, status: data.urls.status, speaker: data.urls.speaker }[item.kind];
    var body = item.kind === "edit" ? { op: item.op } : clone(item.body);
    body.revision = server.revision;
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return { ok: false, error: "unexpected answer (" + r.status + ")" }; })
        .then(function (b) { b.httpStatus = r.status; return b; });
    });
  }

  function renewSession() {
    return fetch(data.urls.session, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || body.user !== data.user) { return false; }
        csrf = body.csrf;
        return true;
      }, function () { return false; });
  }

  var inFlight = null, timer = null, retryMs = 1000;
  function schedule(ms) { clearTimeout(timer); timer = setTimeout(flush, ms); }
  function waiting() { return queue.length === 1 ? "1 change" : queue.length + " changes"; }

  function flush() {
    if (inFlight || !queue.length) { return inFlight; }
    var item = queue[0];
    setState("Saving…", "saving");
    inFlight = request(item).then(function (body) {
      inFlight = null;
      if (body.ok) {
        queue.shift();
        retryMs = 1000;
        adopt(body);
        keep();
        if (queue.length) { flush(); } else { setState(savedAt(), "saved"); }
        if (item.after) { item.after(); }
        if (!historyEl.hidden && historyEl.childNodes.length) { loadHistory(); }
        return;
      }
      refused(item, body);
    }, function () {
      inFlight = null;
      setState("Offline — " + waiting() + " kept in this browser; retrying", "offline");
      schedule(retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    });
    return inFlight;
  }

  function refused(item, body) {
    if (body.httpStatus === 401 || body.csrf) {
      renewSession().then(function (renewed) {
        if (!renewed) { setState("Logged out — " + waiting() + " kept in this browser; log in again in another tab", "offline"); }
        schedule(renewed ? 0 : Math.max(retryMs, 5000));
        retryMs = Math.min(retryMs * 2, 30000);
      });
    } else if (body.httpStatus === 409 && body.current) {
      var lost = queue.map(function (q) { return q.label; });
      queue = [];
      keep();
      adopt(body.current);
      notice("Someone else saved this transcript (now revision " + body.current.revision + "), which is shown. " +
        "Not applied: " + lost.join("; ") + ". Make these changes again if they are still needed.", "error");
      setState("Changed elsewhere", "error");
    } else if (body.httpStatus >= 500) {
      setState("Server error — " + waiting() + " kept in this browser; retrying", "offline");
      schedule(retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    } else {
      queue.shift();
      keep();
      shown = clone(server.segments);
      queue.forEach(function (q) { if (q.kind === "edit") { showLocally(q.op); } });
      renderTurns();
      notice("Not saved (" + item.label + "): " + (body.error || "refused"), "error");
      setState("Not saved", "error");
      if (queue.length) { flush(); }
    }
  }

  function notice(text, kind) {
    var box = document.createElement("p");
    box.className = "notice " + (kind || "");
    box.setAttribute("role", "alert");
    box.textContent = text + " ";
    var close = document.createElement("button");
    close.type = "button"; close.className = "quiet"; close.textContent = "Dismiss";
    close.addEventListener("click", function () { box.remove(); });
    box.appendChild(close);
    noticesEl.appendChild(box);
  }

  /* --- the actions ------------------------------------------------------------------------------- */

  function needSelection() {
    if (!selection || !shown[selection.turn]) { selectionEl.textContent = "Select a word first (click it)."; return false; }
    return true;
  }

  function editTurn(turn) {
    var li = turnsEl.querySelector('li[data-i="' + turn + '"]');
    if (!li || li.querySelector("textarea")) { return; }
    var p = li.querySelector("p.text");
    var before = shown[turn].w.map(function (w) { return w[2]; }).join(" ");
    var box = document.createElement("textarea");
    box.className = "turn-edit";
    box.value = before;
    box.rows = Math.max(2, Math.ceil(before.length / 90));
    box.setAttribute("aria-label", "text of turn " + (turn + 1) + " (Enter saves, Esc cancels)");
    p.replaceWith(box);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    function done(save) {
      var text = box.value.replace(/\s+/g, " ").trim();
      if (save && text !== before) {
        if (!text && !window.confirm("Remove turn " + (turn + 1) + "?")) { renderTurns(); return; }
        if (!enqueue({ kind: "edit", op: { op: "edit_text", turn: turn, text: text },
                       label: "turn " + (turn + 1) + " → “" + text.slice(0, 60) + "”" })) { return; }
      } else { renderTurns(); }
      var again = turnsEl.querySelector('li[data-i="' + turn + '"] .w');
      if (again) { again.scrollIntoView({ block: "nearest" }); }
    }
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); done(true); }
      else if (ev.key === "Escape") { ev.preventDefault(); done(false); }
    });
    box.addEventListener("blur", function () { if (box.isConnected) { done(true); } });
  }

  function editSelected() { if (needSelection()) { editTurn(selection.turn); } }
  function splitSelected() {
    if (!needSelection()) { return; }
    if (selection.first === 0) { selectionEl.textContent = "Select the word the new turn should start with (not the first)."; return; }
    enqueue({ kind: "edit", op: { op: "split_turn", turn: selection.turn, at: selection.first },
              label: "turn " + (selection.turn + 1) + " split" });
  }
  function moveSelected() {
    if (!needSelection()) { return; }
    var to = moveToEl.value, seg = shown[selection.turn];
    if (!to || to === seg.speaker) { selectionEl.textContent = "Choose the other speaker to move the words to."; return; }
    enqueue({ kind: "edit", op: { op: "move_words", turn: selection.turn, first: selection.first, last: selection.last, speaker: to },
              label: "words of turn " + (selection.turn + 1) + " moved to " + names()[to] });
    selection = null;
  }
  function mergeSelected() {
    if (!needSelection()) { return; }
    if (selection.turn >= shown.length - 1) { selectionEl.textContent = "The last turn has no next turn to merge with."; return; }
    enqueue({ kind: "edit", op: { op: "merge_turns", turn: selection.turn }, label: "turns " + (selection.turn + 1) + " and " + (selection.turn + 2) + " merged" });
  }
  function checkSelected() {
    if (!needSelection()) { return; }
    var seg = shown[selection.turn];
    enqueue({ kind: "edit", op: { op: "check_turn", turn: selection.turn, checked: !seg.checked },
              label: "turn " + (selection.turn + 1) + (seg.checked ? " unchecked" : " checked") });
  }
  function undo() {
    if (server.revision < 1) { notice("Nothing to undo: this is the transcript as transcribed.", ""); return; }
    enqueue({ kind: "restore", body: { number: server.revision - 1 }, label: "undo of revision " + server.revision });
  }
  document.getElementById("edit-sel").addEventListener("click", editSelected);
  document.getElementById("split-sel").addEventListener("click", splitSelected);
  document.getElementById("move-sel").addEventListener("click", moveSelected);
  document.getElementById("merge-sel").addEventListener("click", mergeSelected);
  document.getElementById("check-sel").addEventListener("click", checkSelected);
  document.getElementById("undo").addEventListener("click", undo);
  document.getElementById("insert-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = insertTextEl.value.replace(/\s+/g, " ").trim();
    if (!text) { insertTextEl.focus(); return; }
    var at = Math.round(now() * 1000) / 1000;
    if (enqueue({ kind: "edit", op: { op: "insert_turn", at_s: at, speaker: insertSpeakerEl.value, text: text },
                  label: "new turn at " + clock(at) })) { insertTextEl.value = ""; insertTextEl.blur(); }
  });
  statusEl.addEventListener("change", function () {
    enqueue({ kind: "status", body: { status: statusEl.value }, label: "status " + statusEl.value });
  });
  document.querySelectorAll("form.rename").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var name = form.querySelector("input").value;
      enqueue({ kind: "speaker", body: { label: form.dataset.label, name: name },
                label: form.dataset.label + " named “" + name + "”" });
    });
  });

  /* --- history ----------------------------------------------------------------------------------- */

  function describeChange(c) {
    var who = names();
    function side(s) { return s ? (who[s.speaker] || s.speaker) + ": " + s.text + (s.checked ? " ✓" : "") : ""; }
    if (c.op === "added") { return "added " + side(c.after); }
    if (c.op === "removed") { return "removed " + side(c.before); }
    return side(c.before) + " → " + side(c.after);
  }
  function loadHistory() {
    return fetch(data.urls.history, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        historyEl.textContent = "";
        if (!body.revisions.length) {
          var none = document.createElement("li"); none.textContent = "No corrections yet."; historyEl.appendChild(none);
        }
        body.revisions.forEach(function (rev) {
          var li = document.createElement("li");
          li.className = "revision";
          li.dataset.number = rev.number;
          var head = document.createElement("p");
          head.textContent = "Revision " + rev.number + " · " + (rev.author || "the recogniser") + " · " +
            new Date(rev.at).toLocaleString() + " · " + rev.note + (rev.number === body.revision ? " (current)" : "");
          li.appendChild(head);
          if (rev.changes.length) {
            var ul = document.createElement("ul");
            rev.changes.slice(0, 20).forEach(function (c) {
              var item = document.createElement("li"); item.textContent = describeChange(c); ul.appendChild(item);
            });
            if (rev.changes.length > 20) { var more = document.createElement("li"); more.textContent = "… " + (rev.changes.length - 20) + " more"; ul.appendChild(more); }
            li.appendChild(ul);
          }
          if (rev.number !== body.revision) {
            var btn = document.createElement("button");
            btn.type = "button"; btn.textContent = "Restore revision " + rev.number;
            btn.addEventListener("click", function () {
              enqueue({ kind: "restore", body: { number: rev.number }, label: "restore of revision " + rev.number });
            });
            li.appendChild(btn);
          }
          historyEl.appendChild(li);
        });
      });
  }
  document.getElementById("history-load").addEventListener("click", loadHistory);

  /* --- keyboard ---------------------------------------------------------------------------------- */

  document.addEventListener("keydown", function (ev) {
    var t = ev.target, tag = t.tagName;
    var typing = tag === "TEXTAREA" || tag === "SELECT" || tag === "INPUT";
    if (ev.ctrlKey && ev.key === " ") { ev.preventDefault(); togglePlay(); return; }
    if (typing) {
      if (ev.key === "Escape" && tag !== "TEXTAREA") { t.blur(); }
      return;
    }
    if ((ev.ctrlKey || ev.metaKey) && (ev.key === "z" || ev.key === "Z")) { ev.preventDefault(); undo(); return; }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var k = ev.key;
    // the timeline's controls (its list of moments) take Enter and Space as any button does
    if ((k === "Enter" || k === " ") && t.closest && t.closest(".session-timeline")) { return; }
    if (k === " ") { ev.preventDefault(); togglePlay(); }
    else if (k === "ArrowLeft") { ev.preventDefault(); seek(now() - 2); }
    else if (k === "ArrowRight") { ev.preventDefault(); seek(now() + 2); }
    else if (k === "[") { stepSpeed(-1); }
    else if (k === "]") { stepSpeed(1); }
    else if (k === "n") { ev.preventDefault(); nextLow(1); }
    else if (k === "N") { ev.preventDefault(); nextLow(-1); }
    else if (k === "e" || k === "Enter") { ev.preventDefault(); editSelected(); }
    else if (k === "s") { ev.preventDefault(); splitSelected(); }
    else if (k === "m") { ev.preventDefault(); moveSelected(); }
    else if (k === "j") { ev.preventDefault(); mergeSelected(); }
    else if (k === "c") { ev.preventDefault(); checkSelected(); }
    else if (k === "i") { ev.preventDefault(); insertTextEl.focus(); }
    else if (k === "?") { toggleHelp(); }
  });
  function toggleHelp() {
    helpEl.hidden = !helpEl.hidden;
    helpBtn.setAttribute("aria-expanded", String(!helpEl.hidden));
  }
  helpBtn.addEventListener("click", toggleHelp);
  window.addEventListener("online", function () { if (queue.length) { schedule(0); } });

  /* --- start ------------------------------------------------------------------------------------- */

  root.dataset.revision = String(server.revision);
  var stored = kept();
  if (stored && stored.queue && stored.queue.length) {
    if (stored.base === server.revision) {
      queue = stored.queue;
      queue.forEach(function (item) { if (item.kind === "edit") { showLocally(item.op); } });
      setState("Restored " + waiting() + " from this browser; saving", "pending");
      schedule(0);
    } else {
      notice("Changes kept in this browser (" + new Date(stored.at).toLocaleString() + ") were made against revision " +
        stored.base + "; the transcript is at revision " + server.revision + " now, so they were not applied: " +
        stored.queue.map(function (q) { return q.label; }).join("; ") + ".", "error");
      try { localStorage.removeItem(storageKey); } catch (e) { /* ignore */ }
    }
  }
  renderTurns();
  if (data.start) {
    seek(data.start);
    var at = wordAt(data.start);
    if (at < 0) { for (var f = 0; f < wordStarts.length; f++) { if (wordStarts[f] >= data.start) { at = f; break; } } }
    if (at >= 0) { select(wordPlace[at][0], wordPlace[at][1], wordPlace[at][1], false); wordEls[at].scrollIntoView({ block: "center" }); }
  }
  window.coderTranscript = { flush: flush, queue: function () { return queue; }, server: function () { return server; },
                             seek: seek };
  root.dataset.ready = "1";
})();
