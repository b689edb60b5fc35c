/* The embed page: the snippet and its preview follow the editor's choices at once, and a
   button copies the snippet. Without JavaScript the "update" button does the same. */
(function () {
  "use strict";
  var choice = document.getElementById("embed-choice");
  var code = document.getElementById("embed-code");
  var preview = document.getElementById("embed-preview");
  var copy = document.getElementById("embed-copy");
  var copied = document.getElementById("embed-copied");
  if (!choice || !code || !preview) { return; }
  var sequence = 0;

  function refresh() {
    var mine = ++sequence;
    var query = new URLSearchParams(new FormData(choice)).toString();
    fetch(choice.dataset.snippetUrl + "?" + query, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (mine !== sequence || html === null) { return; }
        code.value = html;
        preview.innerHTML = html;
        copied.textContent = "";
        document.body.dataset.snippetVersion = String(mine);
      });
  }

  choice.addEventListener("change", refresh);
  choice.addEventListener("input", function (event) {
    if (event.target.type === "url") { refresh(); }
  });
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(code.value).then(function () {
        copied.textContent = copied.dataset.done;
      });
    });
  }
}());
