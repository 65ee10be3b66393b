// Live page refresh: swap #live's body from the server every few seconds, only while the tab is visible,
// and never while a detail is open (a <details> inside it, or the span panel), so nothing a person is
// reading moves under them. Window scroll stays where it is (the swap is in place).
"use strict";

(function () {
  var live = document.getElementById("live");
  if (!live) return;
  var every = +live.dataset.every || 5000;
  var state = document.getElementById("live-state");

  function paused() {
    var panel = document.getElementById("panel");
    return !!live.querySelector("details[open]") || !!(panel && panel.children.length);
  }

  function refresh() {
    if (document.visibilityState !== "visible" || !window.htmx) return;
    if (paused()) { if (state) state.textContent = "(paused)"; return; }
    if (state) state.textContent = "";
    var y = window.scrollY;
    htmx.ajax("GET", live.dataset.refresh, { target: "#live", swap: "innerHTML" }).then(function () {
      if (Math.abs(window.scrollY - y) > 1) window.scrollTo(0, y);
    });
  }
  setInterval(refresh, every);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") refresh();
  });
})();
