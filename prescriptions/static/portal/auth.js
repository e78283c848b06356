// The screens about logging in: log in, forgot password, the reset link's page, change password.

import { ApiError, post, refreshCsrfToken, safeNext, startLeaving } from "./api.js";
import { clear, fill, h, message } from "./dom.js";
import { busy, errorText, field, focusMessage, showFieldErrors, showProblem, tooManyAttempts } from "./forms.js";
import { forgetPatient } from "./state.js";
import { STRINGS } from "./strings.js";

function card(title, ...children) {
  return h("section", { class: "card narrow" }, h("h1", { tabindex: "-1", text: title }), ...children);
}

export function loginScreen(main) {
  document.title = `${STRINGS.loginTitle} · ${STRINGS.appName}`;
  const username = field({ label: STRINGS.username, name: "username", autocomplete: "username", required: true });
  const password = field({
    label: STRINGS.password,
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const problems = h("div", { class: "problems" });
  const button = h("button", { type: "submit", class: "button primary", text: STRINGS.logIn });
  const query = new URLSearchParams(window.location.search);
  const notice = query.has("out") ? message("info", h("p", { text: STRINGS.loggedOut })) : null;
  const form = h(
    "form",
    { novalidate: true, onsubmit: submit },
    problems,
    username.wrapper,
    password.wrapper,
    h("div", { class: "actions" }, button),
  );
  fill(main, 
    card(
      STRINGS.loginTitle,
      notice,
      h("p", { text: STRINGS.loginIntro }),
      form,
      h("p", {}, h("a", { href: "/portal/forgot", "data-route": true, text: STRINGS.forgotPassword })),
    ),
  );

  async function submit(event) {
    event.preventDefault();
    const name = username.input.value.trim();
    const secret = password.input.value;
    if (!name || !secret) {
      showProblem(problems, STRINGS.fillBoth);
      return;
    }
    const done = busy(button, STRINGS.loggingIn);
    try {
      const answer = await post("auth/session/login", { username: name, password: secret }, { signedIn: false });
      forgetPatient();
      if (!answer || answer.role !== "portal") {
        await signOutStaff();
        done();
        password.input.value = "";
        showProblem(problems, STRINGS.staffLogin);
        return;
      }
      // A full load: the new session rotates the CSRF token, and the page's meta tag must carry the new one.
      window.location.assign(safeNext(query.get("next")));
    } catch (error) {
      done();
      password.input.value = "";
      if (error instanceof ApiError && error.status === 429) {
        showProblem(problems, tooManyAttempts(error.retryAfter));
      } else if (error instanceof ApiError && error.status === 400) {
        showProblem(problems, STRINGS.badCredentials);
      } else if (error instanceof ApiError && error.status === 403) {
        showProblem(problems, STRINGS.reloadAndRetry);
      } else {
        showProblem(problems, errorText(error));
      }
    }
  }
}

// A staff login is not the portal's: signed out again at once, from this page (logging in rotated the CSRF token
// it holds, so it fetches the new one first).
async function signOutStaff() {
  try {
    await refreshCsrfToken();
    await post("auth/session/logout", {}, { signedIn: false });
  } catch {
    // The message still says whose the portal is; the staff session ends when it expires.
  }
  await refreshCsrfToken().catch(() => null); // the token for the next try on this page
}

export function forgotScreen(main) {
  document.title = `${STRINGS.forgotTitle} · ${STRINGS.appName}`;
  const email = field({ label: STRINGS.email, name: "email", type: "email", autocomplete: "email", required: true });
  const problems = h("div", { class: "problems" });
  const button = h("button", { type: "submit", class: "button primary", text: STRINGS.sendLink });
  const form = h(
    "form",
    { novalidate: true, onsubmit: submit },
    problems,
    email.wrapper,
    h("div", { class: "actions" }, button),
  );
  const section = card(
    STRINGS.forgotTitle,
    h("p", { text: STRINGS.forgotIntro }),
    form,
    h("p", {}, h("a", { href: "/portal/login", "data-route": true, text: STRINGS.backToLogin })),
  );
  fill(main, section);

  async function submit(event) {
    event.preventDefault();
    email.setError("");
    const address = email.input.value.trim();
    if (!address) {
      email.setError(STRINGS.enterEmail);
      email.input.focus();
      return;
    }
    const done = busy(button, STRINGS.saving);
    try {
      await post("auth/password/reset", { email: address }, { signedIn: false });
      const sent = message("success", h("p", { text: STRINGS.linkSent }));
      form.replaceWith(sent);
      focusMessage(sent);
    } catch (error) {
      done();
      if (error instanceof ApiError && error.status === 400) {
        showProblem(problems, showFieldErrors(error, { email }));
      } else {
        showProblem(problems, errorText(error));
      }
    }
  }
}

function newPasswordFields() {
  const first = field({
    label: STRINGS.newPassword,
    name: "new_password",
    type: "password",
    autocomplete: "new-password",
    hint: STRINGS.passwordHint,
    required: true,
  });
  const again = field({
    label: STRINGS.newPasswordAgain,
    name: "new_password_again",
    type: "password",
    autocomplete: "new-password",
    required: true,
  });
  return { first, again };
}

// The reset link's token, kept in memory only: the screen moves it out of the address bar (history, Referer) at once.
const RESET_SCREEN = "set-password";
let resetLink = null;

function expiredLink() {
  return message(
    "error",
    h("p", { text: STRINGS.badLink }),
    h("p", {}, h("a", { href: "/portal/forgot", "data-route": true, text: STRINGS.askNewLink })),
  );
}

export function resetScreen(main, [uid, token]) {
  document.title = `${STRINGS.resetTitle} · ${STRINGS.appName}`;
  if (token !== RESET_SCREEN) {
    resetLink = { uid, token };
    window.history.replaceState(null, "", `/portal/reset/${uid}/${RESET_SCREEN}`);
  }
  if (!resetLink || resetLink.uid !== uid) {
    // A reload (or a bookmark) of the screen: the token is gone with the page that held it.
    fill(main, card(STRINGS.resetTitle, expiredLink()));
    return;
  }
  const link = resetLink;
  const { first, again } = newPasswordFields();
  const problems = h("div", { class: "problems" });
  const button = h("button", { type: "submit", class: "button primary", text: STRINGS.setPassword });
  const form = h(
    "form",
    { novalidate: true, onsubmit: submit },
    problems,
    first.wrapper,
    again.wrapper,
    h("div", { class: "actions" }, button),
  );
  fill(main, card(STRINGS.resetTitle, form));

  async function submit(event) {
    event.preventDefault();
    first.setError("");
    again.setError("");
    clear(problems);
    if (!first.input.value) {
      first.setError(STRINGS.enterNewPassword);
      first.input.focus();
      return;
    }
    if (first.input.value !== again.input.value) {
      again.setError(STRINGS.passwordsDiffer);
      again.input.focus();
      return;
    }
    const done = busy(button, STRINGS.saving);
    try {
      await post(
        "auth/password/reset/confirm",
        { uid: decodeURIComponent(link.uid), token: decodeURIComponent(link.token), new_password: first.input.value },
        { signedIn: false },
      );
      resetLink = null; // used: a link works once
      const set = message(
        "success",
        h("p", { text: STRINGS.passwordSet }),
        h("p", {}, h("a", { href: "/portal/login", "data-route": true, text: STRINGS.logIn })),
      );
      form.replaceWith(set);
      focusMessage(set);
    } catch (error) {
      done();
      if (error instanceof ApiError && error.status === 400) {
        const rest = showFieldErrors(error, { new_password: first });
        if (rest.length || !error.fieldErrors.new_password) {
          const expired = expiredLink();
          fill(problems, expired);
          focusMessage(expired);
        } else {
          first.input.focus();
        }
      } else {
        showProblem(problems, errorText(error));
      }
    }
  }
}

export function passwordScreen(main) {
  document.title = `${STRINGS.passwordTitle} · ${STRINGS.appName}`;
  const old = field({
    label: STRINGS.oldPassword,
    name: "old_password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const { first, again } = newPasswordFields();
  const problems = h("div", { class: "problems" });
  const button = h("button", { type: "submit", class: "button primary", text: STRINGS.changePassword });
  const form = h(
    "form",
    { novalidate: true, onsubmit: submit },
    problems,
    old.wrapper,
    first.wrapper,
    again.wrapper,
    h("div", { class: "actions" }, button),
  );
  fill(main, card(STRINGS.passwordTitle, form));

  async function submit(event) {
    event.preventDefault();
    for (const one of [old, first, again]) {
      one.setError("");
    }
    clear(problems);
    if (first.input.value !== again.input.value) {
      again.setError(STRINGS.passwordsDiffer);
      again.input.focus();
      return;
    }
    const done = busy(button, STRINGS.saving);
    try {
      await post("auth/password/change", { old_password: old.input.value, new_password: first.input.value });
      done();
      form.reset();
      const changed = message("success", h("p", { text: STRINGS.passwordChanged }));
      fill(problems, changed);
      focusMessage(changed);
    } catch (error) {
      done();
      if (error instanceof ApiError && error.status === 400) {
        const rest = showFieldErrors(error, { old_password: old, new_password: first });
        if (rest.length) {
          showProblem(problems, rest);
        }
      } else {
        showProblem(problems, errorText(error));
      }
    }
  }
}

export async function logOut() {
  startLeaving(); // what the screen still loads answers 401 once signed out: this page goes to ?out=1, not ?next=
  try {
    await post("auth/session/logout", {}, { signedIn: false });
  } catch {
    // Already signed out (or the session expired): the login screen is where to go either way.
  }
  forgetPatient();
  window.location.assign("/portal/login?out=1");
}
