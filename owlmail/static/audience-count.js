/* Campaign editor: how many confirmed people the ticked topics and segment reach, asked
   again whenever a tick changes. Without JavaScript the page shows the count as loaded. */
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  var out = document.getElementById("audience-count");
  if (!form || !out) { return; }
  var sequence = 0;

  function refresh() {
    var mine = ++sequence;
    fetch(out.dataset.url, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json();
    }).then(function (data) {
      if (mine !== sequence) { return; }
      out.textContent = data.text || (data.error && data.error.message) || "";
      out.dataset.recipients = data.recipients === undefined ? "" : String(data.recipients);
    }).catch(function () {
      if (mine === sequence) { out.textContent = ""; }
    });
  }

  form.addEventListener("change", function (event) {
    var name = event.target.name || "";
    if (name === "topics" || name.indexOf("segment_") === 0) { refresh(); }
  });
}());
