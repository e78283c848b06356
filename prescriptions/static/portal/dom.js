// Building the page's elements without HTML strings: text is always text (never parsed), so what the API
// answers cannot become markup.

let uid = 0;

export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

// h("p", {class: "note"}, "text", child, [children]) — attributes: class, text, on<Event> handlers, booleans.
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name === "text") {
      element.textContent = value;
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    if (Array.isArray(child)) {
      append(element, child);
    } else if (child instanceof Node) {
      element.appendChild(child);
    } else {
      element.appendChild(document.createTextNode(String(child)));
    }
  }
}

export function clear(element) {
  while (element.firstChild) {
    element.removeChild(element.firstChild);
  }
}

// A message for a form: role="alert" for errors (read out at once), role="status" for confirmations.
export function message(kind, ...children) {
  return h("div", { class: `message message-${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

// Replace an element's children (null, false and undefined are left out, arrays flattened).
export function fill(element, ...children) {
  clear(element);
  append(element, children);
  return element;
}
