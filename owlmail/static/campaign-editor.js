/* Campaign editor: live preview after typing pauses, tabs, width toggle, template
   skeletons, a small Markdown toolbar and confirmation prompts. No dependencies. */
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  var frame = document.getElementById("preview-frame");
  var textOut = document.getElementById("preview-text");
  var status = document.getElementById("preview-status");
  var errorBox = document.getElementById("preview-error");
  var body = document.getElementById("body");
  var timer = null;
  var sequence = 0;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function refresh() {
    var mine = ++sequence;
    status.textContent = "Vorschau wird aktualisiert …";
    fetch(form.dataset.previewUrl, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (data) {
        if (mine !== sequence) { return; }
        if (!response.ok || !data || data.error) {
          status.textContent = "";
          showError((data && data.error && data.error.message) ||
                    "Die Vorschau konnte nicht geladen werden. Bitte laden Sie die Seite neu.");
          return;
        }
        showError("");
        frame.srcdoc = data.html;
        textOut.textContent = data.text;
        document.getElementById("preview-subject").textContent = data.subject || "(ohne Betreff)";
        document.getElementById("preview-preheader").textContent = form.elements.preheader.value;
        status.textContent = "Vorschau aktuell.";
        document.body.dataset.previewVersion = String(mine);
      });
    }).catch(function () {
      if (mine === sequence) { status.textContent = "Keine Verbindung – Vorschau nicht aktuell."; }
    });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 450);
  }

  if (form && frame) {
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  /* Tabs HTML / Text, with arrow keys as in the ARIA tabs pattern. */
  var tabs = Array.prototype.slice.call(document.querySelectorAll(".preview-pane [role=tab]"));
  function select(tab) {
    tabs.forEach(function (other) {
      var on = other === tab;
      other.setAttribute("aria-selected", on ? "true" : "false");
      other.tabIndex = on ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !on;
    });
  }
  tabs.forEach(function (tab, index) {
    tab.addEventListener("click", function () { select(tab); });
    tab.addEventListener("keydown", function (event) {
      var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (step) {
        var next = tabs[(index + step + tabs.length) % tabs.length];
        select(next);
        next.focus();
      }
    });
  });

  /* Width: desktop (600+) or phone (375 px). */
  var widthButtons = document.querySelectorAll("[data-width]");
  Array.prototype.forEach.call(widthButtons, function (button) {
    button.addEventListener("click", function () {
      Array.prototype.forEach.call(widthButtons, function (other) {
        other.setAttribute("aria-pressed", other === button ? "true" : "false");
      });
      document.querySelector(".preview-pane").dataset.width = button.dataset.width;
    });
  });

  /* Picking a template fills its skeleton into an empty (or untouched) body. */
  var skeletonData = document.getElementById("skeletons");
  var skeletons = skeletonData ? JSON.parse(skeletonData.textContent) : {};
  Array.prototype.forEach.call(document.querySelectorAll(".template-radio"), function (radio) {
    radio.addEventListener("change", function () {
      var skeleton = skeletons[radio.value];
      if (!skeleton || !radio.checked) { return; }
      var current = body.value.trim();
      var untouched = !current || Object.keys(skeletons).some(function (key) {
        return skeletons[key].trim() === current;
      });
      if (untouched || window.confirm("Den bisherigen Text durch das Gerüst der Vorlage ersetzen?")) {
        body.value = skeleton;
        later();
      }
    });
  });

  /* Toolbar: wrap the selection, start lines, insert a link or a salutation. */
  var toolbar = document.querySelector(".md-toolbar");
  function replaceSelection(make) {
    var start = body.selectionStart, end = body.selectionEnd;
    var result = make(body.value.slice(start, end));
    body.setRangeText(result, start, end, "end");
    body.focus();
    later();
  }
  if (toolbar && body && !body.closest("fieldset[disabled]")) {
    toolbar.hidden = false;
    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("button");
      if (!button) { return; }
      if (button.dataset.wrap) {
        var mark = button.dataset.wrap;
        replaceSelection(function (text) { return mark + (text || "Text") + mark; });
      } else if (button.dataset.line) {
        var prefix = button.dataset.line;
        replaceSelection(function (text) {
          return (text || "Text").split("\n").map(function (line) { return prefix + line; }).join("\n");
        });
      } else if (button.hasAttribute("data-link")) {
        replaceSelection(function (text) { return "[" + (text || "Linktext") + "](https://)"; });
      } else if (button.dataset.insert) {
        replaceSelection(function () { return button.dataset.insert; });
      }
    });
  }

  /* Confirmation before sending now or cancelling. */
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (f) {
    f.addEventListener("submit", function (event) {
      if (!window.confirm(f.dataset.confirm)) { event.preventDefault(); }
    });
  });
})();
