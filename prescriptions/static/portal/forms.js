// Form pieces every screen shares: a labelled field with its hint and error, radio groups in a fieldset,
// a button that says it is busy, and an API error turned into words for patients.

import { clear, h, message, nextId } from "./dom.js";
import { format, STRINGS } from "./strings.js";

export function field({ label, name, type = "text", autocomplete, hint, required = false, value = "", multiline = false }) {
  const id = nextId(name);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = multiline
    ? h("textarea", { id, name, rows: 3, maxlength: 500, "aria-describedby": hintId })
    : h("input", {
        id,
        name,
        type,
        autocomplete,
        required,
        value: value || null,
        "aria-describedby": hintId,
      });
  const error = h("p", { id: errorId, class: "field-error", hidden: true });
  const wrapper = h(
    "div",
    { class: "field" },
    h("label", { for: id, text: label }),
    hint ? h("p", { id: hintId, class: "hint", text: hint }) : null,
    error,
    input,
  );
  return {
    wrapper,
    input,
    setError(text) {
      error.textContent = text ? `⚠ ${text}` : "";
      error.hidden = !text;
      if (text) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
      } else {
        input.removeAttribute("aria-invalid");
        if (hintId) {
          input.setAttribute("aria-describedby", hintId);
        } else {
          input.removeAttribute("aria-describedby");
        }
      }
    },
  };
}

// A fieldset of native radios (keyboard-operable as they are). options: [{value, label: text or [nodes], name}].
export function radioGroup({ legend, name, options, hint, required = false, className = "", checked = null }) {
  const hintId = hint ? nextId(`${name}-hint`) : null;
  const inputs = [];
  const choices = options.map((option) => {
    const id = nextId(name);
    const input = h("input", {
      type: "radio",
      id,
      name,
      value: String(option.value),
      required,
      checked: checked !== null && String(checked) === String(option.value),
    });
    inputs.push(input);
    return h("label", { class: "choice", for: id }, input, h("span", { class: "choice-text" }, option.label));
  });
  const errorId = nextId(`${name}-error`);
  const error = h("p", { id: errorId, class: "field-error", hidden: true });
  const fieldset = h(
    "fieldset",
    { class: `radios ${className}`.trim(), "aria-describedby": hintId },
    h("legend", { text: legend }),
    hint ? h("p", { id: hintId, class: "hint", text: hint }) : null,
    error,
    h("div", { class: "choices" }, choices),
  );
  return {
    fieldset,
    inputs,
    value() {
      const chosen = inputs.find((input) => input.checked);
      return chosen ? chosen.value : null;
    },
    setError(text) {
      error.textContent = text ? `⚠ ${text}` : "";
      error.hidden = !text;
      for (const input of inputs) {
        if (text) {
          input.setAttribute("aria-invalid", "true");
        } else {
          input.removeAttribute("aria-invalid");
        }
      }
      const describedBy = [hintId, text ? errorId : null].filter(Boolean).join(" ");
      if (describedBy) {
        fieldset.setAttribute("aria-describedby", describedBy);
      } else {
        fieldset.removeAttribute("aria-describedby");
      }
    },
  };
}

// A confirmation that replaced the control that had the focus (or appeared after a submit): focused, so a screen
// reader reads it and a keyboard carries on from there.
export function focusMessage(element) {
  element.setAttribute("tabindex", "-1");
  element.focus();
  return element;
}

export function busy(button, busyText) {
  const idle = button.textContent;
  button.disabled = true;
  button.textContent = busyText;
  return () => {
    button.disabled = false;
    button.textContent = idle;
  };
}

// An API error in words for a patient: the server's own sentences for a 400 or 409 (written for people),
// never a problem's type or title.
export function errorText(error) {
  if (!error || error.status === 0) {
    return STRINGS.networkError;
  }
  if (error.csrf) {
    return STRINGS.sessionChanged;
  }
  if (error.status >= 500) {
    return STRINGS.serverError;
  }
  if (error.status === 429) {
    return tooManyAttempts(error.retryAfter);
  }
  if (error.status === 404) {
    return STRINGS.notFound;
  }
  if (error.status === 413) {
    return STRINGS.tooLong;
  }
  if (error.status === 400 || error.status === 409) {
    return error.problem.detail || STRINGS.conflict;
  }
  return STRINGS.serverError;
}

export function tooManyAttempts(seconds) {
  if (!seconds) {
    return STRINGS.tooManyAttemptsLater;
  }
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  return minutes === 1 ? STRINGS.tooManyAttemptsOne : format(STRINGS.tooManyAttempts, { minutes });
}

// The field errors of a 400, each shown at its field (fields: name -> {setError}); what has no field goes in
// the returned list.
export function showFieldErrors(error, fields) {
  const rest = [];
  for (const [name, messages] of Object.entries(error.fieldErrors || {})) {
    const text = Array.isArray(messages) ? messages.join(" ") : String(messages);
    if (fields[name]) {
      fields[name].setError(text);
    } else {
      rest.push(text);
    }
  }
  return rest;
}

// A box of messages at the top of a form; focused so a screen reader and a keyboard land on it.
export function showProblem(slot, texts) {
  clear(slot);
  const list = Array.isArray(texts) ? texts : [texts];
  if (!list.length) {
    return;
  }
  const box =
    list.length === 1
      ? message("error", h("p", { text: list[0] }))
      : message(
          "error",
          h("p", { text: STRINGS.fixErrors }),
          h(
            "ul",
            {},
            list.map((text) => h("li", { text })),
          ),
        );
  box.tabIndex = -1;
  slot.appendChild(box);
  box.focus();
}

// A checkbox with its label beside it (the label is the target: at least 44 px high).
export function checkbox({ label, name, checked = false, hint }) {
  const id = nextId(name);
  const hintId = hint ? `${id}-hint` : null;
  const input = h("input", { type: "checkbox", id, name, checked, "aria-describedby": hintId });
  const error = h("p", { class: "field-error", hidden: true });
  const wrapper = h(
    "div",
    { class: "field field-check" },
    error,
    h("label", { class: "choice", for: id }, input, h("span", { class: "choice-text", text: label })),
    hint ? h("p", { id: hintId, class: "hint", text: hint }) : null,
  );
  return {
    wrapper,
    input,
    setError(text) {
      error.textContent = text ? `⚠ ${text}` : "";
      error.hidden = !text;
    },
  };
}
