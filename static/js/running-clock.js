// The job page's "running for …" ticks here, in the browser: the server's poll answers 304
// while nothing about the job changed (apps/renders/selectors.py job_page_version), instead
// of a new partial every second only to move this clock. It counts from the job's submission
// (data-running-since-ms, server clock), corrected by the server's clock when the page was
// served (data-server-now-ms). Without JavaScript there is no polling: the page reloads.
(function () {
  "use strict";
  var skew = 0; // server clock − browser clock
  function format(ms) {
    return ms < 1000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(2) + " s";
  }
  function tick() {
    document.querySelectorAll("[data-running-since-ms]").forEach(function (element) {
      var ms = Date.now() + skew - parseInt(element.dataset.runningSinceMs, 10);
      if (ms >= 0) element.textContent = format(ms);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var served = document.querySelector("[data-server-now-ms]");
    if (served) skew = parseInt(served.dataset.serverNowMs, 10) - Date.now();
    setInterval(tick, 250);
  });
})();
