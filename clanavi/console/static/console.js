// The console's only script of its own (the Content-Security-Policy allows no inline script): it sends the login's
// CSRF token, read from the page's <meta name="csrf-token">, with every request htmx makes.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (meta) {
      event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
    }
  });
})();
