// A live character counter beside each text slot with a limit (input[data-max-length]).
// The server refuses an over-long text with a message naming the slot; nothing is cut.
(function () {
  "use strict";
  function update(input) {
    var max = parseInt(input.dataset.maxLength, 10);
    var counter = input.parentNode.querySelector(".slot-counter");
    if (!counter) {
      counter = document.createElement("small");
      counter.className = "slot-counter";
      counter.setAttribute("aria-live", "polite");
      input.insertAdjacentElement("afterend", counter);
    }
    var length = Array.from(input.value).length; // code points, as the server counts
    counter.textContent = length + " / " + max + (length > max ? " — too long by " + (length - max) : "");
    counter.classList.toggle("over", length > max);
    input.setAttribute("aria-invalid", length > max ? "true" : "false");
  }
  function init(root) {
    root.querySelectorAll("input[data-max-length]").forEach(update);
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("input[data-max-length]")) update(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (event) { init(event.target); });
})();
