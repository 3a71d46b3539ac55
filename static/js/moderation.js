// Keyboard shortcuts for the moderation pages: a = approve, r = reject (focus the reason; a
// second r or Enter submits), n = next, u = undo the last decision while its bar shows.
// Every action is a plain form, so all of this is optional; the undo bar is removed when its
// window ends (the server refuses a late undo anyway).
(function () {
  "use strict";
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function click(id) {
    var el = document.getElementById(id);
    if (el && !el.disabled) { el.click(); return true; }
    return false;
  }
  var bar = document.getElementById("undo-bar");
  if (bar) {
    var left = parseInt(bar.getAttribute("data-seconds-left"), 10);
    if (left > 0) { window.setTimeout(function () { bar.remove(); }, left * 1000); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = event.key.toLowerCase();
    if (key === "a" && click("approve-button")) { event.preventDefault(); }
    else if (key === "n" && click("next-button")) { event.preventDefault(); }
    else if (key === "u" && click("undo-button")) { event.preventDefault(); }
    else if (key === "r") {
      var reason = document.querySelector("#reject-form input[name=reason]");
      if (reason) { event.preventDefault(); reason.focus(); }
    }
  });
})();
