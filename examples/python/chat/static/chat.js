// squall chat: the page's side of the /message protocol (see chat.py).
// Everything a user typed reaches the page through textContent, never as
// markup, so a message or a name is always shown as the text it was.
(function () {
  "use strict";

  var STORE_KEY = "squall-chat-name";
  var inbox = document.getElementById("inbox");
  var online = document.getElementById("online");
  var count = document.getElementById("count");
  var statusEl = document.getElementById("status");
  var errorEl = document.getElementById("error");
  var nameForm = document.getElementById("nameform");
  var nameInput = document.getElementById("name");
  var messageForm = document.getElementById("messageform");
  var messageInput = document.getElementById("message");

  var maxBody = Number(messageForm.getAttribute("data-max-body")) || 4096;
  var lastId = Number(inbox.getAttribute("data-last-id")) || 0;
  // Ids on the page: an event heard twice (a reconnect's catch-up, a
  // process re-sending after a gap) is shown once. Several processes
  // (chat.py --cluster) number their events apart, so one may arrive after
  // a higher id: the set decides, not the order.
  var seen = new Set();
  Array.prototype.forEach.call(inbox.querySelectorAll("[data-id]"), function (line) {
    seen.add(Number(line.getAttribute("data-id")));
  });
  var me = "";
  var ws = null;
  var retryDelay = 500;
  var errorTimer = null;

  var ENTITIES = { amp: "&", lt: "<", gt: ">", quot: "\"", "#x27": "'", "#39": "'" };

  // The server HTML-escapes bodies on the wire; turn them back into text.
  function unescapeHtml(s) {
    return String(s).replace(/&(amp|lt|gt|quot|#x27|#39);/g, function (_, e) { return ENTITIES[e]; });
  }

  function clock(ts) {
    var d = new Date(ts * 1000);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return two(d.getHours()) + ":" + two(d.getMinutes());
  }

  function storedName() {
    try { return window.localStorage.getItem(STORE_KEY) || ""; } catch (e) { return ""; }
  }

  function storeName(name) {
    try { window.localStorage.setItem(STORE_KEY, name); } catch (e) { /* private mode */ }
  }

  function setStatus(state, text) {
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = text;
  }

  function showError(text) {
    errorEl.textContent = text;
    errorEl.hidden = false;
    if (errorTimer) { clearTimeout(errorTimer); }
    errorTimer = setTimeout(function () { errorEl.hidden = true; }, 6000);
  }

  function nearBottom() {
    return inbox.scrollHeight - inbox.scrollTop - inbox.clientHeight < 60;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function append(line) {
    var stick = nearBottom();
    var empty = document.getElementById("empty");
    if (empty) { empty.remove(); }
    inbox.appendChild(line);
    if (stick) { inbox.scrollTop = inbox.scrollHeight; }
  }

  function addMessage(ev) {
    var line = el("div", "line message");
    line.setAttribute("data-id", String(ev.id));
    if (ev.from === me) { line.classList.add("mine"); }
    var time = el("time", "", clock(ev.ts));
    time.setAttribute("data-ts", String(ev.ts));
    line.appendChild(time);
    line.appendChild(el("span", "from", ev.from));
    line.appendChild(el("span", "body", unescapeHtml(ev.body)));
    append(line);
  }

  function addNotice(ev, text) {
    var line = el("div", "line notice");
    line.setAttribute("data-id", String(ev.id));
    var time = el("time", "", clock(ev.ts));
    line.appendChild(time);
    line.appendChild(el("span", "body", text));
    append(line);
  }

  function showOnline(names) {
    online.textContent = "";
    names.forEach(function (n) {
      var li = el("li", n === me ? "me" : "", n);
      online.appendChild(li);
    });
    count.textContent = "(" + names.length + ")";
  }

  function setMe(name) {
    me = name;
    if (document.activeElement !== nameInput) { nameInput.value = name; }
    document.title = name + " · squall chat";
  }

  function handle(ev) {
    if (typeof ev.id === "number") {
      if (seen.has(ev.id)) { return; }   // already on the page
      seen.add(ev.id);
      if (seen.size > 5000) {            // keep the newest ids only
        var keep = Array.from(seen).sort(function (a, b) { return a - b; }).slice(-2500);
        seen = new Set(keep);
      }
      lastId = Math.max(lastId, ev.id);
    }
    switch (ev.type) {
      case "welcome":
        setMe(ev.you);
        if (typeof ev.max_body === "number") { maxBody = ev.max_body; }
        showOnline(ev.online || []);
        break;
      case "renamed":
        setMe(ev.you);
        break;
      case "message":
        addMessage(ev);
        break;
      case "join":
        addNotice(ev, ev.name + " joined");
        showOnline(ev.online || []);
        break;
      case "leave":
        addNotice(ev, ev.name + " left");
        showOnline(ev.online || []);
        break;
      case "rename":
        addNotice(ev, ev.from + " is now " + ev.name);
        showOnline(ev.online || []);
        break;
      case "presence":                   // chat.py --cluster: who is where
        showOnline(ev.online || []);
        break;
      case "error":
        showError(ev.detail || ev.error);
        break;
      default:
        break;
    }
  }

  function connect() {
    var params = new URLSearchParams();
    var name = me || nameInput.value.trim();
    if (name) { params.set("name", name); }
    params.set("since", String(lastId));
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    setStatus("connecting", "connecting…");
    ws = new WebSocket(scheme + "//" + window.location.host + "/message?" + params.toString());
    ws.onopen = function () {
      retryDelay = 500;
      // what the server accepted (permessage-deflate when it compresses)
      statusEl.setAttribute("data-extensions", ws.extensions);
      setStatus("open", "connected");
    };
    ws.onmessage = function (e) {
      var ev;
      try { ev = JSON.parse(e.data); } catch (err) { return; }
      if (ev && typeof ev === "object") { handle(ev); }
    };
    ws.onclose = function () {
      ws = null;
      setStatus("closed", "disconnected, retrying…");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    };
  }

  function send(frame) {
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      showError("not connected yet");
      return false;
    }
    ws.send(JSON.stringify(frame));
    return true;
  }

  messageForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var body = messageInput.value;
    if (!body.trim()) { return; }
    // The server refuses longer ones too; checking here keeps the text.
    var size = new TextEncoder().encode(body.trim()).length;
    if (size > maxBody) {
      showError("a message is at most " + maxBody + " bytes; that one is " + size);
      return;
    }
    if (send({ body: body })) {
      messageInput.value = "";
      errorEl.hidden = true;
    }
    messageInput.focus();
  });

  nameForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var name = nameInput.value.trim();
    if (!name) { return; }
    storeName(name);
    if (name !== me) { send({ name: name }); }
    messageInput.focus();
  });

  // Times rendered by the server are in its zone; show them in ours.
  Array.prototype.forEach.call(inbox.querySelectorAll("time[data-ts]"), function (t) {
    t.textContent = clock(Number(t.getAttribute("data-ts")));
  });
  inbox.scrollTop = inbox.scrollHeight;

  // A name in the page's URL wins, then the one kept from last time.
  var fromUrl = new URLSearchParams(window.location.search).get("name");
  if (fromUrl && fromUrl.trim()) {
    nameInput.value = fromUrl.trim();
    storeName(nameInput.value);
  } else if (storedName()) {
    nameInput.value = storedName();
  }
  connect();
})();
