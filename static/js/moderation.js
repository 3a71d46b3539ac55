// Keyboard shortcuts for the moderation pages: a = approve, r = reject (focus the reason; a
// second r or Enter submits), n = next. Every action is a plain form, so all of this is optional.
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
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = event.key.toLowerCase();
    if (key === "a" && click("approve-button")) { event.preventDefault(); }
    else if (key === "n" && click("next-button")) { event.preventDefault(); }
    else if (key === "r") {
      var reason = document.querySelector("#reject-form input[name=reason]");
      if (reason) { event.preventDefault(); reason.focus(); }
    }
  });
})();
