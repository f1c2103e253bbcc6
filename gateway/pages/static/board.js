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

  function stamp(text) {
    var now = new Date();
    status.textContent = text + " " + now.toLocaleTimeString("nl-NL");
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
    stamp("Bijgewerkt om");
  });
  source.addEventListener("expired", function () {
    source.close();
    status.textContent = "U bent niet meer ingelogd; laad de pagina opnieuw om in te loggen.";
  });
  source.onerror = function () { stamp("Verbinding verbroken; opnieuw verbinden… (laatste poging"); };
  source.onopen = function () { stamp("Live verbonden om"); };
  window.setInterval(function () {
    fetch("/board/table?" + query, { credentials: "same-origin" }).then(function (response) {
      if (response.status === 401) { status.textContent = "U bent niet meer ingelogd; laad de pagina opnieuw."; return null; }
      return response.ok ? response.text() : null;
    }).then(function (html) { if (html) { replace(html); } }).catch(function () {});
  }, refreshMs);
}());
