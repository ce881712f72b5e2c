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
