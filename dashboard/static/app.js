// durable dashboard: themes, relative times, keyboard, live updates.
// Everything the server sends is set with textContent and attributes, or
// inserted as HTML the server rendered (and escaped) itself.
(function () {
  "use strict";
  var doc = document, root = doc.documentElement;

  // Themes: the button cycles dark and light; the choice is remembered.
  function currentTheme() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function toggleTheme() {
    var next = currentTheme() === "dark" ? "light" : "dark";
    root.dataset.theme = next;
    try { localStorage.setItem("durable-theme", next); } catch (e) { /* not remembered */ }
  }
  var themeButton = doc.getElementById("theme");
  if (themeButton) themeButton.addEventListener("click", toggleTheme);

  // Relative times, kept current; the exact time is the title.
  function human(ms) {
    var s = Math.abs(ms) / 1000;
    if (s < 1) return "just now";
    var t;
    if (s < 10) t = (Math.floor(s * 10) / 10).toFixed(1) + " s";
    else if (s < 60) t = Math.floor(s) + " s";
    else if (s < 3600) t = pair(Math.floor(s / 60), "min", Math.floor(s % 60), "s");
    else if (s < 86400) t = pair(Math.floor(s / 3600), "h", Math.floor(s % 3600 / 60), "min");
    else t = pair(Math.floor(s / 86400), "d", Math.floor(s % 86400 / 3600), "h");
    return ms < 0 ? "in " + t : t + " ago";
  }
  function pair(a, ua, b, ub) { return b ? a + " " + ua + " " + b + " " + ub : a + " " + ua; }
  function refreshTimes() {
    var now = Date.now();
    doc.querySelectorAll("time[datetime]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(t)) el.textContent = human(now - t);
    });
  }
  setInterval(refreshTimes, 15000);

  // On a phone, the list's filters start folded unless some are set.
  var filters = doc.getElementById("filters");
  if (filters && filters.dataset.set === "0" && window.matchMedia && matchMedia("(max-width: 700px)").matches) {
    filters.open = false;
  }

  // Keyboard: / search, j/k move in a table, Enter opens, o/e sections, t theme.
  var selected = -1;
  function rows() { return Array.prototype.slice.call(doc.querySelectorAll("table.grid tbody tr[data-exec-id]")); }
  function select(i) {
    var rs = rows();
    if (!rs.length) return;
    selected = Math.max(0, Math.min(rs.length - 1, i));
    rs.forEach(function (r) { r.classList.remove("sel"); });
    var r = rs[selected];
    r.classList.add("sel");
    var a = r.querySelector("a");
    if (a) a.focus();
  }
  doc.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var tag = (ev.target && ev.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") {
      if (ev.key === "Escape") ev.target.blur();
      return;
    }
    switch (ev.key) {
    case "/":
      ev.preventDefault();
      var q = doc.getElementById("q");
      if (q) q.focus();
      break;
    case "j": select(selected + 1); break;
    case "k": select(selected - 1); break;
    case "t": toggleTheme(); break;
    default:
      var link = doc.querySelector('[data-key="' + ev.key + '"]');
      if (link && /^[a-z]$/.test(ev.key)) link.click();
    }
  });

  // Live updates, from the server's one subscription to the store.
  var liveURL = doc.body.dataset.live;
  if (!liveURL || !window.EventSource) return;
  var dot = doc.getElementById("live");
  var statusRe = /^[a-z_]+$/;
  var es = new EventSource(liveURL);
  es.addEventListener("hello", function () { if (dot) { dot.hidden = false; dot.classList.remove("off"); } });
  es.onerror = function () { if (dot) dot.classList.add("off"); };
  function each(sel, fn) { Array.prototype.forEach.call(doc.querySelectorAll(sel), fn); }
  function byID(id) { return '[data-exec-id="' + (window.CSS && CSS.escape ? CSS.escape(id) : id) + '"]'; }
  function parse(ev) { try { return JSON.parse(ev.data); } catch (e) { return null; } }

  es.addEventListener("status", function (ev) {
    var changes = parse(ev) || [];
    var watched = doc.querySelector("[data-watch]");
    changes.forEach(function (c) {
      if (!statusRe.test(c.status)) return;
      each(byID(c.id), function (el) {
        if (el.hasAttribute("data-cell")) {
          el.className = "cell c-" + c.status;
          el.title = el.title.replace(/: [a-z_]+$/, ": " + c.status);
          return;
        }
        var badge = Array.prototype.find.call(el.querySelectorAll("[data-status]"), function (b) {
          return b.closest("[data-exec-id]") === el;
        });
        if (badge) {
          badge.textContent = c.status;
          badge.className = "st st-" + c.status;
        }
        if (el === watched) {
          var note = doc.getElementById("changed");
          if (note) note.hidden = false;
        }
      });
    });
  });

  es.addEventListener("rows", function (ev) {
    var list = doc.getElementById("list");
    var rowsIn = parse(ev) || [];
    if (!list) return;
    if (list.hasAttribute("data-live-notify")) {
      if (rowsIn.length) { var n = doc.getElementById("newer"); if (n) n.hidden = false; }
      return;
    }
    var body = list.tBodies[0];
    var statuses = (list.dataset.statuses || "").split(",").filter(Boolean);
    var tasks = (list.dataset.tasks || "").split(",").map(function (s) { return s.trim(); }).filter(Boolean);
    var tag = list.dataset.tag || "";
    var top = list.hasAttribute("data-top");
    var limit = parseInt(list.dataset.limit || "50", 10);
    for (var i = rowsIn.length - 1; i >= 0; i--) {
      var r = rowsIn[i];
      var present = body.querySelector(byID(r.id));
      if (present) {
        var badge = present.querySelector("[data-status]");
        if (badge && statusRe.test(r.status)) { badge.textContent = r.status; badge.className = "st st-" + r.status; }
        continue;
      }
      if (statuses.length && statuses.indexOf(r.status) < 0) continue;
      if (tasks.length && tasks.indexOf(r.task) < 0) continue;
      if (tag && (r.tags || []).indexOf(tag) < 0) continue;
      if (top && !r.top) continue;
      var empty = body.querySelector("tr.empty");
      if (empty) empty.remove();
      body.insertAdjacentHTML("afterbegin", r.html);
    }
    while (body.rows.length > limit) body.deleteRow(body.rows.length - 1);
  });

  es.addEventListener("counts", function (ev) {
    var el = doc.getElementById("counts");
    var d = parse(ev);
    if (el && d && typeof d.html === "string") el.innerHTML = d.html;
  });

  es.addEventListener("stale", function () {
    var n = doc.getElementById("changed") || doc.getElementById("newer");
    if (n) n.hidden = false;
  });
})();
