// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  // The language select submits itself; the fallback button is hidden once this runs.
  document.querySelectorAll("select.js-autosubmit").forEach(function (select) {
    var form = select.form;
    form.querySelectorAll(".js-hide-when-enhanced").forEach(function (el) { el.hidden = true; });
    select.addEventListener("change", function () { form.submit(); });
  });
  // Move focus to an error summary so screen readers announce it.
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
})();

// -- Knowledge-base search: as-you-type suggestions (issue 5) ------------------------------------
// Enhances any `form.js-kb-search` (a plain GET form to /kb/search that works without this):
// the input becomes a combobox with a listbox of article titles from /kb/search.json.
(function () {
  "use strict";
  var DEBOUNCE_MS = 150;
  document.querySelectorAll("form.js-kb-search").forEach(function (form, formIndex) {
    var input = form.querySelector("input[name=q]");
    if (!input || !window.fetch) { return; }
    var listId = "kb-suggest-" + formIndex;
    var list = document.createElement("ul");
    list.id = listId;
    list.className = "kb-suggest";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", input.labels && input.labels[0] ? input.labels[0].textContent : "");
    list.hidden = true;
    form.classList.add("kb-suggest-host");
    form.appendChild(list);
    var status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    form.appendChild(status);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    var timer = null, active = -1, items = [], seq = 0, controller = null;
    var locale = form.getAttribute("data-locale") || document.documentElement.lang.slice(0, 2) || "en";

    function close() {
      list.hidden = true;
      list.textContent = "";
      items = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }
    function highlight(index) {
      items.forEach(function (li, i) { li.setAttribute("aria-selected", i === index ? "true" : "false"); });
      active = index;
      if (index >= 0) { input.setAttribute("aria-activedescendant", items[index].id); }
      else { input.removeAttribute("aria-activedescendant"); }
    }
    function show(data) {
      list.textContent = "";
      items = [];
      active = -1;
      (data.results || []).forEach(function (result, i) {
        var li = document.createElement("li");
        li.id = listId + "-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.setAttribute("lang", result.locale === "zh" ? "zh-Hans" : "en");
        li.textContent = result.title;  // text only: never HTML from the server
        li.addEventListener("mousedown", function (event) { event.preventDefault(); window.location.assign(result.url); });
        list.appendChild(li);
        items.push(li);
        li.dataset.url = result.url;
      });
      if (!items.length && data.suggestion) {
        var li = document.createElement("li");
        li.id = listId + "-s";
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = "\u2192 " + data.suggestion;
        li.dataset.query = data.suggestion;
        li.addEventListener("mousedown", function (event) { event.preventDefault(); input.value = data.suggestion; form.submit(); });
        list.appendChild(li);
        items.push(li);
      }
      list.hidden = items.length === 0;
      input.setAttribute("aria-expanded", items.length ? "true" : "false");
      status.textContent = items.length ? String(items.length) : "";
    }
    function fetchSuggestions() {
      var q = input.value.trim();
      if (q.length < 2) { close(); return; }
      var mine = ++seq;
      if (controller) { controller.abort(); }
      controller = window.AbortController ? new AbortController() : null;
      var url = "/kb/search.json?limit=6&locale=" + encodeURIComponent(locale) + "&q=" + encodeURIComponent(q.slice(0, 200));
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, signal: controller ? controller.signal : undefined })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) { if (data && mine === seq) { show(data); } })
        .catch(function () { /* the plain form still works */ });
    }
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(fetchSuggestions, DEBOUNCE_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" && items.length) {
        event.preventDefault();
        highlight(active + 1 >= items.length ? 0 : active + 1);
      } else if (event.key === "ArrowUp" && items.length) {
        event.preventDefault();
        highlight(active <= 0 ? items.length - 1 : active - 1);
      } else if (event.key === "Escape") {
        if (!list.hidden) { event.preventDefault(); }
        close();
      } else if (event.key === "Enter" && active >= 0 && items[active]) {
        event.preventDefault();
        var chosen = items[active];
        if (chosen.dataset.url) { window.location.assign(chosen.dataset.url); }
        else if (chosen.dataset.query) { input.value = chosen.dataset.query; form.submit(); }
      }
    });
    input.addEventListener("blur", function () { window.setTimeout(close, 100); });
  });
})();

// -- Partner report upload: follow the background check of a large file (issue 6) ----------------
// The page says where the check stands and links to itself; this polls the progress and reloads
// the page when the worker is done.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-progress-url");
  var bar = box.querySelector(".js-progress-bar");
  var text = box.querySelector(".js-progress-text");
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (data.done) { window.location.reload(); return; }
        if (bar) { bar.max = data.size || 1; bar.value = data.bytes; }
        if (text && data.status === "validating" && data.message) { text.textContent = data.message; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
