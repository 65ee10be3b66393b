// swarmscope pages: ticking ages, live refresh while visible, waterfall tree and keyboard.
// No inline script anywhere (CSP script-src 'self'); no eval (htmx allowEval is off).
"use strict";

(function () {
  function fmt(ms) {
    if (ms < 0) ms = 0;
    var s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(Math.floor(s % 60)).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  }

  // Ages and open-span durations tick every second from the server's timestamps.
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.age[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (!isNaN(since)) el.textContent = fmt(now - since) + (el.dataset.suffix || "");
    });
  }
  setInterval(tick, 1000);

  // Live refresh of the runs list: every 5 s, only while the tab is visible and the box is ticked.
  function refreshRuns() {
    var box = document.getElementById("live-refresh");
    var runs = document.getElementById("runs");
    if (!box || !box.checked || !runs || document.visibilityState !== "visible" || !window.htmx) return;
    htmx.ajax("GET", location.pathname + location.search, { target: "#runs", swap: "innerHTML" });
  }
  setInterval(refreshRuns, 5000);

  // Live trace view: the summary, findings and agent graph (not the waterfall, whose expanded
  // subtrees would be lost), paused while the tab is hidden or a span panel is open.
  function refreshTrace() {
    var box = document.getElementById("live-trace");
    var panel = document.getElementById("panel");
    if (!box || !box.checked || document.visibilityState !== "visible" || !window.htmx) return;
    if (panel && panel.querySelector(".panel-body")) return;
    htmx.ajax("GET", location.pathname + location.search,
              { target: "#live-area", select: "#live-area", swap: "outerHTML" });
  }
  setInterval(refreshTrace, 5000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refreshRuns();
  });

  // Filter requests carry only the filters that are set (clean, shareable URLs).
  document.addEventListener("htmx:configRequest", function (ev) {
    var params = ev.detail.parameters;
    if (!params || ev.detail.elt.id !== "filters") return;
    if (params instanceof FormData) {
      Array.from(params.keys()).forEach(function (k) { if (!String(params.get(k)).trim()) params.delete(k); });
    } else {
      Object.keys(params).forEach(function (k) { if (!String(params[k]).trim()) delete params[k]; });
    }
  });

  // --- waterfall tree: rows are flat, each with data-depth; a row's subtree is the rows after it
  // with a greater depth.
  function subtree(row) {
    var depth = +row.dataset.depth, out = [], next = row.nextElementSibling;
    while (next && +next.dataset.depth > depth) { out.push(next); next = next.nextElementSibling; }
    return out;
  }

  function setExpanded(row, expanded) {
    var tog = row.querySelector(".tog");
    if (!tog) return;
    if (tog.classList.contains("lazy") && !tog.dataset.loaded) {
      if (expanded) tog.click();  // htmx loads the children; the click handler marks the row
      return;
    }
    row.setAttribute("aria-expanded", expanded ? "true" : "false");
    tog.textContent = expanded ? "▾" : "▸";
    var hideBelow = null;
    subtree(row).forEach(function (r) {
      var d = +r.dataset.depth;
      if (!expanded) { r.hidden = true; return; }
      if (hideBelow !== null && d > hideBelow) { r.hidden = true; return; }
      hideBelow = null;
      r.hidden = false;
      if (r.getAttribute("aria-expanded") === "false") hideBelow = d;
    });
  }

  document.addEventListener("click", function (ev) {
    var tog = ev.target.closest(".tog");
    if (tog) {
      var row = tog.closest(".row");
      if (tog.classList.contains("lazy") && !tog.dataset.loaded) {
        // htmx sends the request on this same click ("click once"); just mark the row.
        tog.dataset.loaded = "1";
        tog.classList.remove("lazy");
        tog.textContent = "▾";
        row.setAttribute("aria-expanded", "true");
        var kids = row.querySelector(".kids");
        if (kids) kids.remove();
        return;
      }
      setExpanded(row, row.getAttribute("aria-expanded") !== "true");
      return;
    }
    if (ev.target.closest("[data-close-panel]")) closePanel();
    var link = ev.target.closest(".waterfall .row-link");
    if (link) select(link.closest(".row"), false);
  });

  function closePanel() {
    var panel = document.getElementById("panel");
    if (panel) { panel.classList.remove("shown"); panel.replaceChildren(); }
    var sel = document.querySelector(".row.selected .row-link");
    if (sel) sel.focus();
  }

  document.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.detail.target && ev.detail.target.id === "panel") ev.detail.target.classList.add("shown");
    tick();
  });

  function visibleRows() {
    return Array.from(document.querySelectorAll(".waterfall .row:not(.more)")).filter(function (r) { return !r.hidden; });
  }

  function select(row, focus) {
    document.querySelectorAll(".waterfall .row.selected").forEach(function (r) { r.classList.remove("selected"); });
    if (!row) return;
    row.classList.add("selected");
    if (focus) { var a = row.querySelector(".row-link"); if (a) a.focus(); }
  }

  // Keyboard: j/k or arrows move between rows (runs table and waterfall), Enter follows the link
  // (native), left/right collapse/expand, Esc closes the span panel.
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    var tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") return;
    if (ev.key === "Escape") { closePanel(); return; }
    var inWaterfall = !!document.querySelector(".waterfall");
    var links = inWaterfall ? visibleRows().map(function (r) { return r.querySelector(".row-link"); })
                            : Array.from(document.querySelectorAll("table.runs .row-link"));
    if (!links.length) return;
    var i = links.indexOf(document.activeElement);
    var down = ev.key === "j" || ev.key === "ArrowDown", up = ev.key === "k" || ev.key === "ArrowUp";
    if (down || up) {
      var j = i < 0 ? 0 : Math.max(0, Math.min(links.length - 1, i + (down ? 1 : -1)));
      links[j].focus();
      if (inWaterfall) select(links[j].closest(".row"), false);
      ev.preventDefault();
    } else if (inWaterfall && i >= 0 && (ev.key === "ArrowRight" || ev.key === "ArrowLeft")) {
      var row = links[i].closest(".row");
      if (row.hasAttribute("aria-expanded")) setExpanded(row, ev.key === "ArrowRight");
      ev.preventDefault();
    }
  });
})();
