// The console's only script of its own (the Content-Security-Policy allows no inline script): it sends the login's
// CSRF token, read from the page's <meta name="csrf-token">, with every request htmx makes; and keeps a run's output
// scrolled to its end as text arrives, unless the reader scrolled up to read something.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var following = true;
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (meta) {
      event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
    }
  });
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    var output = event.detail.target;
    if (output && output.id === "output") {
      following = output.scrollHeight - output.scrollTop - output.clientHeight < 24;
    }
  });
  document.body.addEventListener("htmx:oobAfterSwap", function (event) {
    var output = event.detail.target;
    if (output && output.id === "output" && following) {
      output.scrollTop = output.scrollHeight;
    }
  });
})();
