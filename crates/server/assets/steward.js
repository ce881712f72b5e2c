// Steward's own small enhancements; the pages work without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // "/" focuses the search box, unless the user is typing somewhere.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    var tag = t && t.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (t && t.isContentEditable)) return;
    var box = document.querySelector('[data-hotkey="/"]');
    if (box) {
      e.preventDefault();
      box.focus();
      box.select();
    }
  });

  function ready(fn) {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  ready(function () {
    // Filters apply as soon as a choice is made.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () {
        if (sel.form) sel.form.submit();
      });
    });

    // Pending reason and resolution fields only for the status that needs them.
    document.querySelectorAll("select[data-status-select]").forEach(function (sel) {
      var form = sel.form;
      var parts = form.querySelectorAll(".when-status");
      function sync() {
        parts.forEach(function (p) {
          var on = p.getAttribute("data-for-status") === sel.value;
          p.hidden = !on;
          p.querySelectorAll("select, textarea, input").forEach(function (f) {
            f.disabled = !on;
          });
          var code = p.querySelector('select[name="resolution_code"]');
          if (code) code.required = on;
        });
      }
      sel.addEventListener("change", sync);
      sync();
    });

    // Confirm before cancelling or withdrawing a ticket, or revoking a token.
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function (e) {
        var btn = e.submitter || form.querySelector("[data-confirm]");
        if (!btn || !btn.hasAttribute("data-confirm")) return;
        var only = btn.getAttribute("data-confirm-status");
        if (only) {
          var st = form.querySelector('[name="status"]');
          if (!st || st.value !== only) return;
        }
        if (!window.confirm(btn.getAttribute("data-confirm"))) e.preventDefault();
      });
    });

    // A new team empties the assignee: members of the new team are offered after saving.
    document.querySelectorAll("select[data-team-select]").forEach(function (team) {
      var form = team.form;
      var who = form.querySelector("select[data-assignee-select]");
      var hint = form.querySelector("[data-team-hint]");
      if (!who) return;
      var initial = team.value;
      var keep = who.value;
      team.addEventListener("change", function () {
        var moved = team.value !== initial;
        who.disabled = moved;
        who.value = moved ? "" : keep;
        if (hint) hint.classList.toggle("hint-strong", moved);
      });
    });
  });

  // SLA due times count down live: "in 2 h 05 min" or "15 min overdue", wall-clock time.
  function countdowns() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var mins = Math.round(Math.abs(due - now) / 60000);
      var d = Math.floor(mins / 1440), h = Math.floor((mins % 1440) / 60), m = mins % 60;
      var text = d > 0 ? d + " " + el.dataset.d + " " + h + " " + el.dataset.h
        : h > 0 ? h + " " + el.dataset.h + " " + (m < 10 ? "0" : "") + m + " " + el.dataset.m
        : m + " " + el.dataset.m;
      var over = due <= now;
      el.textContent = (over ? el.dataset.over : el.dataset.in).replace("%s", text);
      el.classList.toggle("overdue", over);
    });
  }
  ready(function () {
    countdowns();
    setInterval(countdowns, 30000);
  });
})();

// knowledge: while a requester types a new request's title, matching articles are suggested
// (debounced); without JavaScript the box keeps its link to the knowledge base.
(function () {
  "use strict";
  function start() {
    var box = document.querySelector("[data-kb-suggest]");
    var input = document.querySelector("[data-kb-suggest-source]");
    if (!box || !input || !window.fetch) return;
    var list = box.querySelector("[data-kb-suggest-list]");
    var timer = null;
    var last = "";
    function show(items) {
      while (list.firstChild) list.removeChild(list.firstChild);
      items.forEach(function (a) {
        var li = document.createElement("li");
        var link = document.createElement("a");
        link.href = "/knowledge/" + encodeURIComponent(a.id);
        link.target = "_blank";
        link.rel = "noopener";
        var zh = document.documentElement.lang === "zh-CN";
        link.textContent = (zh ? a.title_zh || a.title_en : a.title_en || a.title_zh) || a.number;
        li.appendChild(link);
        list.appendChild(li);
      });
      list.hidden = items.length === 0;
    }
    function lookup() {
      var q = input.value.trim();
      if (q === last) return;
      last = q;
      if (q.length < 2) { show([]); return; }
      fetch("/api/v1/articles/suggest?q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { items: [] }; })
        .then(function (body) { if (input.value.trim() === q) show(body.items || []); })
        .catch(function () { show([]); });
    }
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookup, 300);
    });
    if (input.value.trim()) lookup();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

// CMDB: a field naming CIs ([data-ci-picker], comma-separated "#42" references) suggests CIs
// by name as the user types its last reference; a suggestion keeps the references before it.
// Without JavaScript the field takes CI numbers.
(function () {
  "use strict";
  function start() {
    if (!window.fetch) return;
    document.querySelectorAll("input[data-ci-picker]").forEach(function (input) {
      var list = document.getElementById(input.getAttribute("list"));
      if (!list) return;
      var timer = null;
      function lookup() {
        var text = input.value;
        var cut = Math.max(text.lastIndexOf(","), text.lastIndexOf("，"), text.lastIndexOf("、"));
        var before = cut < 0 ? "" : text.slice(0, cut + 1) + " ";
        var q = text.slice(cut + 1).trim();
        if (q.length < 1 || q.charAt(0) === "#") return;
        fetch("/api/v1/cis?limit=10&q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : { items: [] }; })
          .then(function (body) {
            if (input.value !== text) return;
            while (list.firstChild) list.removeChild(list.firstChild);
            (body.items || []).forEach(function (ci) {
              var o = document.createElement("option");
              o.value = before + "#" + ci.id + " " + ci.name + " (" + ci.type_code + ")";
              list.appendChild(o);
            });
          })
          .catch(function () {});
      }
      input.addEventListener("input", function () {
        clearTimeout(timer);
        timer = setTimeout(lookup, 250);
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
