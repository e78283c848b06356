// The patient portal: one page that shows the screen its path names and talks to /api/v1/ only.
// Links marked data-route move without reloading; every path also loads on its own (the server serves the
// same shell for each), so reload, back and bookmarks work.

import { ApiError } from "./api.js";
import { logOut, forgotScreen, loginScreen, passwordScreen, resetScreen } from "./auth.js";
import { chooseScreen, preferencesScreen, sessionScreen, todayScreen, weekScreen } from "./care.js";
import { clear, fill, h, message } from "./dom.js";
import { errorText } from "./forms.js";
import { questionnairesScreen } from "./measures.js";
import { chosenPatient, forgetPatient, loadMe, setRouter, state } from "./state.js";
import { format, STRINGS } from "./strings.js";

// [pattern, screen, {open: no login needed, anyPatient: shown before a patient is chosen}]
const ROUTES = [
  [/^\/portal\/login$/, loginScreen, { open: true }],
  [/^\/portal\/forgot$/, forgotScreen, { open: true }],
  [/^\/portal\/reset\/([^/]+)\/([^/]+)$/, resetScreen, { open: true }],
  [/^\/portal$/, todayScreen, {}],
  [/^\/portal\/choose$/, chooseScreen, { anyPatient: true }],
  [/^\/portal\/sessions\/(\d+)$/, sessionScreen, { anyPatient: true }],
  [/^\/portal\/week$/, weekScreen, {}],
  [/^\/portal\/questionnaires$/, questionnairesScreen, {}],
  [/^\/portal\/preferences$/, preferencesScreen, {}],
  [/^\/portal\/password$/, passwordScreen, { anyPatient: true }],
];

const NAV = [
  ["/portal/", STRINGS.navToday],
  ["/portal/week", STRINGS.navWeek],
  ["/portal/questionnaires", STRINGS.navQuestionnaires],
  ["/portal/preferences", STRINGS.navPreferences],
  ["/portal/password", STRINGS.navPassword],
];

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

function currentPath() {
  return window.location.pathname.replace(/\/+$/, "") || "/";
}

function showNav(path) {
  const patient = chosenPatient();
  const several = state.me.patients.length > 1;
  fill(who, 
    patient && (several || patient.relationship !== "self")
      ? h("span", { text: format(STRINGS.forPatient, { name: `${patient.first_name} ${patient.last_name}` }) })
      : null,
    patient && several ? " · " : null,
    several ? h("a", { href: "/portal/choose", "data-route": true, text: STRINGS.switchPatient }) : null,
  );
  who.hidden = !who.hasChildNodes();
  fill(nav, 
    h(
      "ul",
      {},
      NAV.map(([href, label]) =>
        h(
          "li",
          {},
          h("a", {
            href,
            "data-route": true,
            "aria-current": currentPath() === href.replace(/\/$/, "") ? "page" : null,
            text: label,
          }),
        ),
      ),
      h("li", {}, h("button", { type: "button", class: "link-button", onclick: logOut, text: STRINGS.logOut })),
    ),
  );
  nav.hidden = false;
}

function hideNav() {
  nav.hidden = true;
  clear(nav);
  who.hidden = true;
  clear(who);
}

let rendering = 0;

// Each render builds its screen in a fresh element and shows it only if no later render has started (a tap on
// the menu while the previous screen still loads must not be overwritten when that load finishes).
async function render({ moved = false } = {}) {
  const path = currentPath();
  const ticket = ++rendering;
  const current = () => ticket === rendering;
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  fill(main, h("p", { class: "loading", role: "status", text: STRINGS.loading }));
  if (!route) {
    go("/portal/", { replace: true });
    return;
  }
  const [pattern, screen, options] = route;
  const params = path.match(pattern).slice(1);
  const view = h("div", { class: "view" });
  try {
    if (options.open) {
      hideNav();
    } else {
      await loadMe();
      if (!current()) {
        return;
      }
      if (!state.me.patients.length) {
        showNav(path);
        fill(main, h("h1", { tabindex: "-1", text: STRINGS.appName }), message("info", h("p", { text: STRINGS.noPatients })));
        return;
      }
      if (!options.anyPatient && !chosenPatient()) {
        go("/portal/choose", { replace: true });
        return;
      }
      showNav(path);
    }
    await screen(view, params);
    if (!current()) {
      return;
    }
    fill(main, view);
  } catch (error) {
    if (error instanceof ApiError && error.leaving) {
      return; // on the way to the login screen
    }
    if (!current()) {
      return;
    }
    fill(
      main,
      h("h1", { tabindex: "-1", text: STRINGS.appName }),
      message("error", h("p", { text: errorText(error) })),
      h("p", {}, h("button", { type: "button", class: "button", onclick: () => render(), text: STRINGS.tryAgain })),
    );
  }
  if (moved && current()) {
    const title = main.querySelector("h1");
    if (title) {
      title.focus();
    }
  }
}

function go(path, { replace = false } = {}) {
  if (replace) {
    window.history.replaceState({}, "", path);
  } else {
    window.history.pushState({}, "", path);
  }
  render({ moved: true });
}

setRouter((path) => go(path));

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-route]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
    return;
  }
  event.preventDefault();
  go(link.getAttribute("href"));
});

window.addEventListener("popstate", () => render({ moved: true }));

if (currentPath() === "/portal/login") {
  forgetPatient();
}
render();
