// Nestor's catalog page: progressive enhancement only. Every page reads without this file;
// with it, search runs as you type and pages learn of changes live, through the same
// /api/v1/events stream every processor uses (the browser's own EventSource).
"use strict";
(function () {
  var results = document.getElementById("results");
  var form = document.querySelector("form.search");

  // Search as you type: fetch the results fragment of the same page and swap it in.
  if (form && results) {
    var input = form.querySelector("input[type=search]");
    var timer = null;
    var seq = 0;
    var run = function () {
      var params = new URLSearchParams(new FormData(form));
      var keep = new URLSearchParams(window.location.search);
      ["provider", "category", "engine", "maturity", "label", "sort"].forEach(function (k) {
        keep.getAll(k).forEach(function (v) { params.append(k, v); });
      });
      if (!params.get("q")) { params.delete("q"); }
      var url = "/?" + params.toString();
      var mine = ++seq;
      fetch(url + (url.endsWith("?") ? "" : "&") + "fragment=results", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          if (mine !== seq) { return; }
          results.innerHTML = html;
          window.history.replaceState(null, "", url);
          results.setAttribute("aria-busy", "false");
        })
        .catch(function () { results.setAttribute("aria-busy", "false"); });
    };
    input.addEventListener("input", function () {
      results.setAttribute("aria-busy", "true");
      clearTimeout(timer);
      timer = setTimeout(run, 120);
    });
  }

  // Live: a subtle notice when the catalog changes, never a jumping list. A component page
  // reloads its own content when its component changes.
  var live = document.body.getAttribute("data-live");
  var notice = document.getElementById("live-notice");
  if (live && window.EventSource) {
    var pending = 0;
    var source = new EventSource("/api/v1/events" + (live === "*" ? "" : "?name=" + encodeURIComponent(live)));
    var onChange = function (e) {
      if (live !== "*") {
        // This component changed: refresh the page's content in place.
        fetch(window.location.href, { credentials: "same-origin" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var doc = new DOMParser().parseFromString(html, "text/html");
            var fresh = doc.querySelector("main");
            var here = document.querySelector("main");
            if (fresh && here) { here.replaceWith(fresh); }
          });
        return;
      }
      pending += 1;
      if (notice) {
        notice.hidden = false;
        var text = notice.querySelector("span");
        if (text) { text.textContent = pending + (pending === 1 ? " change" : " changes") + " since this page loaded"; }
      }
      var rev = document.getElementById("revision");
      if (rev && e.lastEventId) { rev.textContent = e.lastEventId; }
    };
    ["component.published", "component.updated", "component.deprecated", "component.undeprecated",
      "component.yanked", "component.unyanked"].forEach(function (t) { source.addEventListener(t, onChange); });
    source.addEventListener("engine.status", function () {
      if (document.body.getAttribute("data-page") === "engines") { window.location.reload(); }
    });
    source.addEventListener("catalog.bookmark", function (e) {
      var rev = document.getElementById("revision");
      if (rev && e.lastEventId) { rev.textContent = e.lastEventId; }
    });
  }

  // Copy buttons beside snippets.
  document.querySelectorAll("button.copy").forEach(function (b) {
    b.hidden = false;
    b.addEventListener("click", function () {
      var pre = document.getElementById(b.getAttribute("data-for"));
      if (pre && navigator.clipboard) {
        navigator.clipboard.writeText(pre.textContent).then(function () { b.textContent = "Copied"; });
      }
    });
  });
})();
