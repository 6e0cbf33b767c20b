/* The session timeline on the transcript page: a click on the picture, or on a moment in its list, plays the
   recording from that time (the editor's own seek, so the transcript follows). */
(function () {
  "use strict";
  var figure = document.getElementById("session-timeline");
  if (!figure) { return; }
  var x0 = Number(figure.dataset.x0), x1 = Number(figure.dataset.x1), duration = Number(figure.dataset.duration);

  function seek(t) {
    if (window.coderTranscript && window.coderTranscript.seek) { window.coderTranscript.seek(t); }
    else { document.getElementById("audio").currentTime = t; }
  }

  var picture = figure.querySelector("svg");
  picture.addEventListener("click", function (ev) {
    var box = picture.getBoundingClientRect();
    var fraction = (ev.clientX - box.left) / box.width;
    var t = (fraction - x0) / (x1 - x0) * duration;
    if (t >= 0 && t <= duration) { seek(t); }
  });
  document.querySelectorAll(".session-timeline button[data-at]").forEach(function (button) {
    button.addEventListener("click", function () { seek(Number(button.dataset.at)); });
  });
})();
