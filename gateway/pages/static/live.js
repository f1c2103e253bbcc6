// Keeps the live part of the case page current without a reload: every few seconds it fetches the
// fragment named by data-live and swaps it in. When the case's version changed (someone else acted),
// it says so, so the forms below are not submitted against an old version unknowingly.
(function () {
  "use strict";
  var box = document.querySelector("[data-live]");
  if (!box) { return; }
  var url = box.getAttribute("data-live");
  var first = box.querySelector(".live-state");
  var version = first ? first.getAttribute("data-version") : null;
  var notice = document.getElementById("live-changed");
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        box.innerHTML = html;
        var state = box.querySelector(".live-state");
        if (state && version && state.getAttribute("data-version") !== version && notice) {
          notice.hidden = false;
        }
      })
      .catch(function () { /* offline for a moment: try again next round */ });
  }
  setInterval(refresh, 3000);
})();
