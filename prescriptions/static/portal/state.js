// What the page knows about who is signed in: the "me" answer (once per page load) and which patient a login
// that may see several has chosen (kept for this tab only, in sessionStorage: an id, no data).

import { get } from "./api.js";

const CHOSEN = "limber.portal.patient";

export const state = { me: null };

export async function loadMe() {
  if (!state.me) {
    state.me = await get("portal/me");
  }
  return state.me;
}

export function chosenPatient() {
  const patients = state.me ? state.me.patients : [];
  if (patients.length === 1) {
    return patients[0];
  }
  const id = Number.parseInt(window.sessionStorage.getItem(CHOSEN) || "", 10);
  return patients.find((patient) => patient.id === id) || null;
}

export function choosePatient(id) {
  window.sessionStorage.setItem(CHOSEN, String(id));
}

export function forgetPatient() {
  window.sessionStorage.removeItem(CHOSEN);
}

export function patientById(id) {
  return (state.me ? state.me.patients : []).find((patient) => patient.id === id) || null;
}

// Screens call navigate() to move; app.js installs the router here (so screens need not import app.js).
let router = (path) => window.location.assign(path);

export function setRouter(fn) {
  router = fn;
}

export function navigate(path) {
  router(path);
}
