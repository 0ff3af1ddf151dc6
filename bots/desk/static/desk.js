// The staff desk's only script. Everything that comes from the server is put into the page with
// textContent, never as HTML: a citizen's "<script>" or "<img onerror>" shows up as the characters typed.
(function () {
  "use strict";

  var WHO = { citizen: "市民", bot: "机器人", staff: "工作人员", notice: "通知" };
  var page = document.body.getAttribute("data-page") || "";
  var selected = -1;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  // ---- keyboard ----

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("table.list tbody tr[data-href]"));
  }

  function select(index) {
    var all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(index, all.length - 1));
    all.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    all[selected].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.hasAttribute &&
        event.target.hasAttribute("data-submit-on-ctrl-enter")) {
      event.preventDefault();
      if (event.target.form && event.target.value.trim()) event.target.form.requestSubmit();
      return;
    }
    if (typing(event.target) || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "j") { select(selected + 1); event.preventDefault(); }
    else if (event.key === "k") { select(selected < 0 ? 0 : selected - 1); event.preventDefault(); }
    else if (event.key === "Enter" && selected >= 0 && rows()[selected]) {
      location.href = rows()[selected].getAttribute("data-href");
    } else if (event.key === "/") {
      var search = document.getElementById("q");
      if (search) { search.focus(); event.preventDefault(); }
    } else if (event.key === "r") {
      var reply = document.getElementById("reply-text") || document.getElementById("case-reply");
      if (reply) { reply.focus(); event.preventDefault(); }
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    var confirmText = target.closest && target.closest("[data-confirm]");
    if (confirmText && !window.confirm(confirmText.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    if (target.closest && (target.closest("a") || target.closest("button") || target.closest("form"))) return;
    var row = target.closest && target.closest("tr[data-href]");
    if (row) location.href = row.getAttribute("data-href");
  });

  // ---- live updates ----

  function setLive(state, text) {
    var live = document.getElementById("live-state");
    if (!live) return;
    live.setAttribute("data-state", state);
    live.textContent = text;
  }

  function renderCount(data) {
    var count = document.getElementById("queue-count");
    if (!count) return;
    var waiting = data.rows.filter(function (row) { return row.status === "waiting" || (row.mine && row.unanswered); });
    count.textContent = String(waiting.length);
    count.hidden = waiting.length === 0;
  }

  function renderQueue(data) {
    var body = document.getElementById("queue-rows");
    if (!body) return;
    var keep = selected >= 0 && rows()[selected] ? rows()[selected].getAttribute("data-id") : null;
    body.textContent = "";
    data.rows.forEach(function (row) {
      var tr = el("tr", "row handoff-" + row.status + (row.mine ? " mine" : "") + (row.unanswered ? " unanswered" : ""));
      tr.setAttribute("data-href", "/desk/handoffs/" + row.id);
      tr.setAttribute("data-id", String(row.id));
      var link = el("a", "", row.id);
      link.href = "/desk/handoffs/" + row.id;
      var first = el("td");
      first.appendChild(link);
      tr.appendChild(first);
      var state = el("td");
      state.appendChild(el("span", "badge handoff-" + row.status, row.status_label));
      if (row.unanswered) {
        state.appendChild(document.createTextNode(" "));
        state.appendChild(el("span", "badge unanswered", "待回复"));
      }
      tr.appendChild(state);
      tr.appendChild(el("td", "", row.channel));
      tr.appendChild(el("td", "", row.waited));
      tr.appendChild(el("td", "text", row.last_text));
      tr.appendChild(el("td", "", row.claimed_by));
      tr.appendChild(el("td", "", row.reason + (row.department ? " · " + row.department : "")));
      body.appendChild(tr);
    });
    var empty = document.getElementById("queue-empty");
    if (empty) empty.hidden = data.rows.length > 0;
    if (keep) {
      var again = rows().map(function (r) { return r.getAttribute("data-id"); }).indexOf(keep);
      if (again >= 0) select(again);
    }
  }

  function renderTranscript(data) {
    var list = document.getElementById("transcript");
    if (!list || data.gone) return;
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.textContent = "";
    data.lines.forEach(function (line) {
      var item = el("li", "line " + line.who);
      item.appendChild(el("span", "who", WHO[line.who] || line.who));
      item.appendChild(el("time", "", line.at));
      if (line.status) item.appendChild(el("span", "badge delivery-" + line.status, line.status_label));
      item.appendChild(el("p", "text", line.text));
      list.appendChild(item);
    });
    if (atBottom) list.scrollTop = list.scrollHeight;
    var status = document.getElementById("handoff-status");
    if (status) {
      status.textContent = data.status_label;
      status.className = "badge handoff-" + data.status;
    }
    var claimed = document.getElementById("handoff-claimed");
    if (claimed) claimed.textContent = data.claimed_by || "无";
  }

  function connect() {
    if (!window.EventSource || !document.querySelector("header nav")) return;
    var transcript = document.getElementById("transcript");
    var url = "/desk/events" + (transcript ? "?handoff=" + encodeURIComponent(transcript.getAttribute("data-handoff")) : "");
    var source = new EventSource(url);
    source.onopen = function () { setLive("open", "实时更新中"); };
    source.onerror = function () { setLive("error", "连接中断，正在重连…"); };
    source.addEventListener("queue", function (event) {
      var data = JSON.parse(event.data);
      renderCount(data);
      if (page === "queue") renderQueue(data);
    });
    source.addEventListener("transcript", function (event) {
      renderTranscript(JSON.parse(event.data));
    });
  }

  var list = document.getElementById("transcript");
  if (list) list.scrollTop = list.scrollHeight;
  connect();
})();
