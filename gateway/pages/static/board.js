// The board's live updates: server-sent events replace the table when a case moves (no reload);
// EventSource reconnects by itself and sends Last-Event-ID, and a periodic fetch refreshes the times.
(function () {
  "use strict";
  var root = document.getElementById("board-live");
  if (!root || !window.EventSource) { return; }
  var status = document.getElementById("board-status");
  var query = root.getAttribute("data-query");
  var refreshMs = 1000 * parseInt(root.getAttribute("data-refresh") || "60", 10);
  var updates = 0;

  function say(key) { return status.getAttribute("data-" + key) || ""; }
  function stamp(key) {
    var now = new Date();
    status.textContent = say(key) + " " + now.toLocaleTimeString(say("locale") || "nl-NL");
  }
  function replace(html) {
    var focused = document.activeElement && document.activeElement.closest("#board-live a");
    var focusHref = focused ? focused.getAttribute("href") : null;
    root.innerHTML = html;
    updates += 1;
    root.setAttribute("data-updates", String(updates));
    if (focusHref) {  // keep the keyboard user's place
      var again = root.querySelector('a[href="' + focusHref + '"]');
      if (again) { again.focus(); }
    }
  }
  var source = new EventSource("/board/events?" + query + "&cursor=" + encodeURIComponent(root.getAttribute("data-cursor")));
  source.addEventListener("board", function (event) {
    var message = JSON.parse(event.data);
    replace(message.html);
    stamp("updated");
  });
  source.addEventListener("expired", function () {
    source.close();
    status.textContent = say("expired");
  });
  source.onerror = function () { stamp("lost"); };
  source.onopen = function () { stamp("open"); };
  window.setInterval(function () {
    fetch("/board/table?" + query, { credentials: "same-origin" }).then(function (response) {
      if (response.status === 401) { status.textContent = say("expired"); return null; }
      return response.ok ? response.text() : null;
    }).then(function (html) { if (html) { replace(html); } }).catch(function () {});
  }, refreshMs);
}());
