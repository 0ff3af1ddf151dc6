// The web chat page. Every text from the server is put into the page with textContent, never as
// HTML, so whatever a citizen or staff member typed ("<script>" included) shows up as plain text.
(function () {
  "use strict";

  var botPath = location.pathname.replace(/\/+$/, "");
  var api = botPath + "/api";
  var persona = new URLSearchParams(location.search).get("persona") || "";
  var storeKey = "sunshine:" + botPath + ":" + (persona || "web");
  var historyLimit = 200;

  var ui = {};
  var config = { personas: [], max_text: 10000, poll_ms: 2000 };
  var state = load(localStorage, storeKey, { session: null, after: 0, language: null });
  var history = load(sessionStorage, storeKey + ":history", []);
  var busy = false;
  var pollTimer = null;

  var els = {
    log: document.getElementById("log"),
    form: document.getElementById("composer"),
    text: document.getElementById("text"),
    send: document.getElementById("send"),
    error: document.getElementById("error"),
    personaBanner: document.getElementById("persona-banner"),
    personaOffer: document.getElementById("persona-offer"),
    personaLink: document.getElementById("persona-link"),
    personaBack: document.getElementById("persona-back"),
  };

  function load(storage, key, fallback) {
    try {
      var value = JSON.parse(storage.getItem(key));
      return value === null ? fallback : value;
    } catch (e) {
      return fallback;
    }
  }

  function save() {
    try {
      localStorage.setItem(storeKey, JSON.stringify(state));
      sessionStorage.setItem(storeKey + ":history", JSON.stringify(history.slice(-historyLimit)));
    } catch (e) {
      // Private browsing may refuse storage; the chat still works for this visit.
    }
  }

  function language() {
    return state.language || "zh_Hans";
  }

  function t(key) {
    var table = ui[language()] || ui.zh_Hans || {};
    return table[key] || "";
  }

  function applyLanguage() {
    document.documentElement.lang = t("html_lang") || "zh-Hans";
    document.title = t("title") || document.title;
    document.querySelectorAll("[data-ui]").forEach(function (el) {
      el.textContent = t(el.getAttribute("data-ui"));
    });
    document.querySelectorAll("[data-ui-placeholder]").forEach(function (el) {
      el.placeholder = t(el.getAttribute("data-ui-placeholder"));
    });
    document.querySelectorAll("[data-language]").forEach(function (el) {
      el.setAttribute("aria-pressed", String(el.getAttribute("data-language") === language()));
    });
  }

  function showError(message) {
    els.error.textContent = message;
    els.error.hidden = !message;
  }

  function newId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // ---- rendering ----

  function addMessage(entry, remember) {
    var wrapper = document.createElement("div");
    wrapper.className = "message " + entry.who;
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = entry.text;
    wrapper.appendChild(bubble);
    disableOldChoices();
    if (entry.choices && entry.choices.length) {
      var group = document.createElement("div");
      group.className = "choices";
      entry.choices.forEach(function (choice) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.textContent = choice.label;
        button.addEventListener("click", function () {
          send(choice.label, choice.key);
        });
        group.appendChild(button);
      });
      wrapper.appendChild(group);
    }
    els.log.appendChild(wrapper);
    els.log.scrollTop = els.log.scrollHeight;
    if (remember) {
      history.push(entry);
      save();
    }
  }

  // A first visit opens with what the service offers and one button, instead of an empty page; the
  // button sends the menu word, so the bot's own greeting follows.
  function showWelcome() {
    var wrapper = document.createElement("div");
    wrapper.className = "message bot welcome";
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.textContent = t("welcome");
    var group = document.createElement("div");
    group.className = "choices";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "choice";
    button.textContent = t("start");
    button.addEventListener("click", function () { send(t("start_word")); });
    group.appendChild(button);
    wrapper.appendChild(bubble);
    wrapper.appendChild(group);
    els.log.appendChild(wrapper);
  }

  // Only the newest question's buttons answer anything; older ones would answer a step long gone.
  function disableOldChoices() {
    els.log.querySelectorAll(".choice").forEach(function (button) { button.disabled = true; });
  }

  // ---- talking to the server ----

  function request(method, url, body) {
    var options = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  function send(text, choice) {
    if (busy) return;
    text = text.trim();
    if (!text && !choice) return;
    if (text.length > config.max_text) {
      showError(t("error_text_too_long").replace("{limit}", String(config.max_text)));
      return;
    }
    busy = true;
    els.send.disabled = true;
    showError("");
    var body = { session: state.session, text: text, language: language(), client_message_id: newId() };
    if (choice) body.choice = choice;
    if (persona) body.persona = persona;
    addMessage({ who: "citizen", text: text }, true);
    if (!choice) {
      els.text.value = "";
      fitText();
    }
    request("POST", api + "/messages", body)
      .then(function (result) {
        if (result.status !== 200) {
          if (result.data.error === "text_too_long") {
            showError(t("error_text_too_long").replace("{limit}", String(result.data.limit || config.max_text)));
          } else {
            showError(t("error_server"));
          }
          return;
        }
        if (result.data.session !== state.session) {
          state.session = result.data.session;
          save();
          schedulePoll(0);
        }
        result.data.replies.forEach(function (reply) {
          addMessage({ who: "bot", text: reply.text, choices: reply.choices }, true);
        });
      })
      .catch(function () { showError(t("error_network")); })
      .then(function () {
        busy = false;
        els.send.disabled = false;
        els.text.focus();
      });
  }

  function poll() {
    pollTimer = null;
    if (!state.session) return;
    var query = "?session=" + encodeURIComponent(state.session) + "&after=" + encodeURIComponent(state.after);
    if (persona) query += "&persona=" + encodeURIComponent(persona);
    request("GET", api + "/messages" + query)
      .then(function (result) {
        if (result.status !== 200) return;
        result.data.messages.forEach(function (message) {
          addMessage({ who: "bot staff", text: message.text, choices: message.choices }, true);
          state.after = Math.max(state.after, message.id);
        });
        if (result.data.messages.length) save();
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { schedulePoll(config.poll_ms); });
  }

  function schedulePoll(delay) {
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, delay);
  }

  // ---- wiring ----

  // The box grows with what is typed (up to the CSS max-height), so a long message stays readable.
  function fitText() {
    els.text.style.height = "auto";
    els.text.style.height = els.text.scrollHeight + 2 + "px";
  }

  function setupPersona() {
    if (persona) {
      els.personaBanner.hidden = false;
      els.personaBack.href = botPath;
    } else if (config.personas.length) {
      els.personaOffer.hidden = false;
      els.personaLink.href = botPath + "?persona=" + encodeURIComponent(config.personas[0]);
    }
  }

  function start() {
    els.form.addEventListener("submit", function (event) {
      event.preventDefault();
      send(els.text.value);
    });
    els.text.addEventListener("input", fitText);
    els.text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send(els.text.value);
      }
    });
    document.querySelectorAll("[data-language]").forEach(function (el) {
      el.addEventListener("click", function () {
        state.language = el.getAttribute("data-language");
        save();
        applyLanguage();
        var welcome = els.log.querySelector(".welcome");
        if (welcome) {
          welcome.remove();
          showWelcome();
        }
      });
    });
    history.forEach(function (entry) { addMessage(entry, false); });
    applyLanguage();
    if (!history.length && !persona) showWelcome();
    setupPersona();
    if (persona || state.session) {
      // A persona's messages (the demo survey) may be waiting before the first word is typed.
      if (!state.session) {
        state.session = newId();
        save();
      }
      schedulePoll(0);
    }
  }

  Promise.all([
    fetch("_static/ui-text.json").then(function (r) { return r.json(); }),
    request("GET", api + "/config").then(function (r) { return r.status === 200 ? r.data : config; }),
  ])
    .then(function (loaded) {
      ui = loaded[0];
      config = loaded[1];
    })
    .catch(function () { /* the built-in Chinese labels of the page stay */ })
    .then(start);
})();
