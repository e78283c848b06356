// The screens about the patient's stretches: choose a patient, today, one session (log it or skip it), the next
// 7 days and reminder preferences. Every rule (what a log needs, what pain means, what is on hold) is the API's:
// these screens show what it answers.

import { ApiError, get, patch, post, withPatient } from "./api.js";
import { dayName, hourIn, shortDayName, timeInputValue, timeName } from "./dates.js";
import { clear, fill, h, message, nextId } from "./dom.js";
import { busy, checkbox, errorText, field, focusMessage, radioGroup, showFieldErrors, showProblem } from "./forms.js";
import { choosePatient, chosenPatient, navigate, patientById, state } from "./state.js";
import { format, STRINGS } from "./strings.js";

const STATUS_ICONS = { scheduled: "○", completed: "✓", skipped: "–", missed: "✕", blocked: "‖", cancelled: "✕" };

export function heading(text) {
  document.title = `${text} · ${STRINGS.appName}`;
  return h("h1", { tabindex: "-1", text });
}

function statusBadge(status) {
  return h(
    "span",
    { class: `status status-${status}` },
    h("span", { class: "status-icon", "aria-hidden": "true", text: STATUS_ICONS[status] || "•" }),
    STRINGS.status[status] || status,
  );
}

export function fullName(patient) {
  return `${patient.first_name} ${patient.last_name}`.trim();
}

function backToToday() {
  return h("p", { class: "back" }, h("a", { href: "/portal/", "data-route": true, text: STRINGS.backToToday }));
}

export function empty(text) {
  return h("div", { class: "card empty" }, h("p", { text }));
}

// "Call <clinic>: <phone>", the number a link a phone can dial.
function callClinic(patient) {
  const clinic = patient && patient.clinic;
  if (!clinic) {
    return null;
  }
  if (!clinic.phone) {
    return h("p", { class: "call", text: format(STRINGS.callClinicNoPhone, { clinic: clinic.name }) });
  }
  return h(
    "p",
    { class: "call" },
    `${format(STRINGS.callClinic, { clinic: clinic.name })} `,
    h("a", { class: "phone", href: `tel:${clinic.phone.replace(/[^+\d]/g, "")}`, text: clinic.phone }),
  );
}

function holdBanner(patient) {
  const id = nextId("hold");
  return h(
    "section",
    { class: "card hold", "aria-labelledby": id },
    h("h2", { id }, h("span", { class: "status-icon", "aria-hidden": "true", text: "‖ " }), STRINGS.onHoldHeading),
    h("p", { text: STRINGS.planOnHoldBanner }),
    callClinic(patient),
  );
}

function plural(count, one, many, key) {
  return count === 1 ? one : format(many, { [key]: count });
}

function doseParts(item) {
  const parts = [];
  if (item.hold_seconds) {
    parts.push(format(STRINGS.dose.hold, { seconds: item.hold_seconds }));
  }
  parts.push(plural(item.reps, STRINGS.dose.repsOne, STRINGS.dose.reps, "reps"));
  parts.push(plural(item.sets, STRINGS.dose.setsOne, STRINGS.dose.sets, "sets"));
  const side = STRINGS.dose.side[item.side];
  if (side) {
    parts.push(side);
  }
  return parts;
}

function isoDatePlus(isoDate, days) {
  const date = new Date(`${isoDate}T12:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

function plansOf(patient) {
  return get(withPatient("portal/plans", patient.id));
}

function allSessions(plans) {
  return plans.plans
    .flatMap((plan) => plan.sessions.map((session) => ({ ...session, plan })))
    .sort((a, b) => (a.local_date + a.local_time).localeCompare(b.local_date + b.local_time));
}

// --- Choose a patient -----------------------------------------------------------------------------------------

export function chooseScreen(main) {
  const patients = state.me.patients;
  fill(main, 
    h(
      "section",
      { class: "card" },
      heading(STRINGS.chooseTitle),
      h("p", { text: STRINGS.chooseIntro }),
      h(
        "ul",
        { class: "people" },
        patients.map((patient) =>
          h(
            "li",
            {},
            h(
              "button",
              {
                type: "button",
                class: "button person",
                onclick: () => {
                  choosePatient(patient.id);
                  navigate("/portal/");
                },
              },
              h("span", { class: "person-name", text: fullName(patient) }),
              " ",
              h("span", { class: "person-relation", text: STRINGS.chooseRelationship[patient.relationship] || "" }),
            ),
          ),
        ),
      ),
    ),
  );
}

// --- Today ----------------------------------------------------------------------------------------------------

function greeting(patient) {
  const hour = hourIn(patient.timezone);
  const name = state.me.first_name || (patient.relationship === "self" ? patient.first_name : "");
  if (!name) {
    return STRINGS.hello;
  }
  const text = hour < 12 ? STRINGS.greetingMorning : hour < 18 ? STRINGS.greetingAfternoon : STRINGS.greetingEvening;
  return format(text, { name });
}

function todaySession(session, yesterday = false) {
  const id = nextId("session");
  const time = timeName(session.local_time);
  const items = session.plan.items;
  return h(
    "li",
    { class: "card session", "aria-labelledby": id },
    h(
      "div",
      { class: "session-head" },
      h(yesterday ? "h3" : "h2", {
        id,
        text: format(yesterday ? STRINGS.yesterdaySessionAt : STRINGS.sessionAt, { time }),
      }),
      statusBadge(session.status),
    ),
    h("p", { class: "muted", text: plural(items.length, STRINGS.stretchCountOne, STRINGS.stretchCount, "count") }),
    h(
      "ol",
      { class: "stretch-names" },
      items.map((item) => h("li", { text: item.stretch.name })),
    ),
    h("a", {
      class: "button primary",
      href: `/portal/sessions/${session.id}`,
      "data-route": true,
      text: format(yesterday ? STRINGS.startYesterdaySession : STRINGS.startSession, { time }),
    }),
  );
}

function programLinks(plans) {
  const id = nextId("program");
  return h(
    "section",
    { class: "card program", "aria-labelledby": id },
    h("h2", { id, text: STRINGS.yourProgram }),
    plans.map((plan) =>
      h(
        "div",
        { class: "program-plan" },
        h("p", { class: "muted", text: format(STRINGS.programFrom, { date: dayName(plan.start_date) }) }),
        h(
          "p",
          { class: "links" },
          h("a", { class: "button", href: `/portal/plans/${plan.id}/print`, text: STRINGS.printProgram }),
          h("a", {
            class: "button",
            href: `/api/v1/portal/plans/${plan.id}/program.pdf`,
            download: true,
            text: STRINGS.downloadPdf,
          }),
        ),
      ),
    ),
  );
}

// Yesterday's sessions not logged yet: their log window is open until the end of today.
async function stillOpen(patient, plans) {
  if (!plans.plans.length) {
    return [];
  }
  const yesterday = isoDatePlus(plans.local_today, -1);
  const query = `portal/sessions/?status=scheduled&from=${yesterday}&to=${yesterday}`;
  const answer = await get(withPatient(query, patient.id));
  const rows = Array.isArray(answer) ? answer : answer.results || [];
  return rows
    .map((session) => ({ ...session, plan: plans.plans.find((plan) => plan.id === session.prescription) }))
    .filter((session) => session.plan);
}

export async function todayScreen(main) {
  const patient = chosenPatient();
  const plans = await plansOf(patient);
  const today = plans.local_today;
  const sessions = allSessions(plans).filter((session) => session.local_date === today);
  const earlier = await stillOpen(patient, plans);
  const earlierId = nextId("earlier");
  const held = plans.plans.some((plan) => plan.sessions.some((session) => session.status === "blocked"));
  let body;
  if (!plans.plans.length) {
    // No active plan: none set up yet, or paused by the therapist; either way the clinic is the one to ask.
    body = h("div", { class: "card empty" }, h("p", { text: STRINGS.noPlans }), callClinic(patient));
  } else if (!sessions.length) {
    body = empty(STRINGS.noSessionsToday);
  } else {
    body = h("ul", { class: "sessions" }, sessions.map((session) => todaySession(session)));
  }
  fill(main, 
    h(
      "div",
      { class: "intro" },
      heading(greeting(patient)),
      h("p", { class: "lead", text: format(STRINGS.todayTitle, { date: dayName(today) }) }),
      patient.relationship === "self" ? null : h("p", { text: format(STRINGS.todayFor, { name: fullName(patient) }) }),
    ),
    held ? holdBanner(patient) : null,
    body,
    earlier.length
      ? h(
          "section",
          { class: "earlier", "aria-labelledby": earlierId },
          h("h2", { id: earlierId, text: STRINGS.yesterdayHeading }),
          h("p", { class: "hint", text: STRINGS.yesterdayIntro }),
          h("ul", { class: "sessions" }, earlier.map((session) => todaySession(session, true))),
        )
      : null,
    plans.plans.length ? programLinks(plans.plans) : null,
  );
}

// --- One session: its stretches, the log, skip ---------------------------------------------------------------

function stretchItem(item, withToggle) {
  const id = nextId("stretch");
  const toggleId = nextId("done");
  return h(
    "li",
    { class: "card stretch", "aria-labelledby": id },
    h(
      "div",
      { class: "stretch-head" },
      h("h3", { id, text: item.stretch.name }),
      withToggle
        ? h(
            "label",
            { class: "toggle", for: toggleId },
            h("input", { type: "checkbox", id: toggleId, "data-item": item.id }),
            h("span", { text: STRINGS.doneToggle }),
            h("span", { class: "visually-hidden", text: `: ${item.stretch.name}` }),
          )
        : null,
    ),
    h(
      "ul",
      { class: "dose" },
      doseParts(item).map((part) => h("li", { text: part })),
    ),
    item.progression_text
      ? h("p", { class: "item-progression", text: format(STRINGS.progression, { rule: item.progression_text }) })
      : null,
    item.notes ? h("p", { class: "item-note", text: item.notes }) : null,
    item.stretch.steps.length
      ? h(
          "ol",
          { class: "steps", "aria-label": `${STRINGS.stepsHeading}: ${item.stretch.name}` },
          item.stretch.steps.map((step) => h("li", { text: step })),
        )
      : null,
  );
}

function painOptions() {
  return Array.from({ length: 11 }, (_, value) => {
    const end = value === 0 ? STRINGS.noPain : value === 10 ? STRINGS.worstPain : null;
    return {
      value,
      label: end ? [String(value), " ", h("span", { class: "end", text: end })] : String(value),
    };
  });
}

function logForm(main, session, patient, items) {
  const headingId = nextId("log");
  const problems = h("div", { class: "problems" });
  const before = radioGroup({
    legend: STRINGS.painBefore,
    name: "pain_before",
    options: painOptions(),
    hint: STRINGS.painHint,
    className: "pain",
  });
  const after = radioGroup({
    legend: STRINGS.painAfter,
    name: "pain_after",
    options: painOptions(),
    hint: STRINGS.painHint,
    className: "pain",
  });
  const difficulty = radioGroup({
    legend: `${STRINGS.difficulty} ${STRINGS.optional}`,
    name: "difficulty",
    options: [1, 2, 3, 4, 5].map((value) => ({ value, label: STRINGS.difficultyLabels[value] })),
    className: "difficulty",
  });
  const questions = session.red_flag_questions.map((question) => ({
    question,
    group: radioGroup({
      legend: question.text,
      name: `red-flag-${question.slug}`,
      options: [
        { value: "yes", label: STRINGS.yes },
        { value: "no", label: STRINGS.no },
      ],
      className: "yesno",
    }),
  }));
  // Pain after above the API's threshold (me.pain): which stretch hurt? (the clinic's flag names it, and the advice
  // says to do less of it)
  const askAbove = state.me && state.me.pain ? state.me.pain.ask_which_hurt_above : null;
  const hurtBoxes = items.map((item) => checkbox({ label: item.stretch.name, name: `hurt-${item.id}` }));
  const hurt = h(
    "fieldset",
    { class: "group hurt", hidden: true },
    h("legend", { text: STRINGS.hurtLegend }),
    h("p", { class: "hint", text: STRINGS.hurtHint }),
    hurtBoxes.map((box) => box.wrapper),
  );
  for (const input of after.inputs) {
    input.addEventListener("change", () => {
      hurt.hidden = !(askAbove !== null && askAbove !== undefined && Number(after.value()) > askAbove);
    });
  }
  const note = field({ label: `${STRINGS.note} ${STRINGS.optional}`, name: "note", multiline: true });
  const button = h("button", { type: "submit", class: "button primary", text: STRINGS.submitLog });
  const redFlagsId = nextId("red-flags");
  const form = h(
    "form",
    { class: "card log", novalidate: true, "aria-labelledby": headingId, onsubmit: submit },
    h("h2", { id: headingId, text: STRINGS.logHeading }),
    problems,
    before.fieldset,
    after.fieldset,
    items.length ? hurt : null,
    difficulty.fieldset,
    questions.length
      ? h(
          "section",
          { class: "red-flags", "aria-labelledby": redFlagsId },
          h("h3", { id: redFlagsId, text: STRINGS.redFlagsHeading }),
          h("p", { class: "hint", text: STRINGS.redFlagsIntro }),
          questions.map(({ group }) => group.fieldset),
        )
      : null,
    note.wrapper,
    h("div", { class: "actions" }, button),
  );

  async function submit(event) {
    event.preventDefault();
    const errors = [];
    for (const group of [before, after, ...questions.map((q) => q.group)]) {
      group.setError("");
    }
    if (before.value() === null) {
      before.setError(STRINGS.missingPainBefore);
      errors.push(STRINGS.missingPainBefore);
    }
    if (after.value() === null) {
      after.setError(STRINGS.missingPainAfter);
      errors.push(STRINGS.missingPainAfter);
    }
    for (const { question, group } of questions) {
      if (group.value() === null) {
        const text = format(STRINGS.missingAnswer, { question: question.text });
        group.setError(text);
        errors.push(text);
      }
    }
    if (errors.length) {
      showProblem(problems, errors);
      return;
    }
    const completion = {};
    for (const toggle of main.querySelectorAll("input[data-item]")) {
      completion[toggle.dataset.item] = toggle.checked;
    }
    const body = {
      pain_before: Number(before.value()),
      pain_after: Number(after.value()),
      difficulty: difficulty.value() === null ? null : Number(difficulty.value()),
      item_completion: completion,
      hurt_items: hurt.hidden ? [] : items.filter((_, index) => hurtBoxes[index].input.checked).map((item) => item.id),
      answers: Object.fromEntries(questions.map(({ question, group }) => [question.slug, group.value() === "yes"])),
      note: note.input.value.trim(),
    };
    const done = busy(button, STRINGS.saving);
    let log;
    try {
      log = await post(`portal/sessions/${session.id}/log`, body);
    } catch (error) {
      done();
      if (error instanceof ApiError && error.status === 400) {
        const fields = { pain_before: before, pain_after: after, difficulty, note };
        for (const { question, group } of questions) {
          fields[`answers.${question.slug}`] = group;
        }
        const rest = showFieldErrors(error, fields);
        showProblem(problems, rest.length ? rest : [error.problem.detail || STRINGS.fixErrors]);
      } else {
        showProblem(problems, errorText(error));
      }
      return;
    }
    // Logged: the form goes for good and the advice shows now, whatever happens to the refresh that follows.
    await showLogged(main, session, patient, log);
  }

  return form;
}

async function showLogged(main, session, patient, log) {
  const stop = log.signals.some((signal) => signal.stop);
  const parts = [
    heading(format(STRINGS.sessionTitle, { day: dayName(session.local_date), time: timeName(session.local_time) })),
  ];
  const done = message(
    "success",
    h("p", { class: "strong", text: `✓ ${STRINGS.logged}` }),
    h("p", { text: format(STRINGS.loggedSummary, { before: log.pain_before, after: log.pain_after }) }),
  );
  parts.push(done);
  let advice = null;
  if (log.advice || stop) {
    const id = nextId("advice");
    advice = h(
      "section",
      { class: stop ? "advice stop" : "advice", role: "alert", "aria-labelledby": id, tabindex: "-1" },
      h("h2", { id }, h("span", { "aria-hidden": "true", text: "⚠ " }), stop ? STRINGS.stopHeading : STRINGS.adviceHeading),
      log.advice ? h("p", { class: "advice-text", text: log.advice }) : null,
      callClinic(patient), // after the advice: it may say to seek urgent care first
    );
    if (stop) {
      parts.splice(1, 0, advice); // first: what to do now matters more than "logged"
    } else {
      parts.push(advice);
    }
  }
  const upcoming = h("div", { class: "upcoming" });
  parts.push(upcoming, backToToday());
  fill(main, ...parts);
  focusMessage(advice || done);
  try {
    const plans = await plansOf(patient);
    fill(upcoming, upcomingSessions(session, plans));
  } catch {
    fill(upcoming, h("p", { class: "muted", text: STRINGS.upcomingFailed }));
  }
}

// The plan's sessions still to come after a log (on hold, if the log put them there).
function upcomingSessions(session, plans) {
  const upcoming = allSessions(plans).filter(
    (other) => other.id !== session.id && other.local_date >= plans.local_today && other.status !== "completed",
  );
  if (!upcoming.length) {
    return null;
  }
  const held = upcoming.some((other) => other.status === "blocked");
  const id = nextId("upcoming");
  return h(
    "section",
    { class: held ? "card hold" : "card", "aria-labelledby": id },
    h("h2", { id, text: held ? STRINGS.onHoldHeading : STRINGS.upcomingHeading }),
    held ? h("p", { text: STRINGS.onHoldIntro }) : null,
    h(
      "ul",
      { class: "week-list" },
      upcoming.map((other) =>
        h(
          "li",
          {},
          h("span", { class: "when", text: `${shortDayName(other.local_date)}, ${timeName(other.local_time)}` }),
          " ",
          statusBadge(other.status),
        ),
      ),
    ),
  );
}

function skipForm(main, session) {
  const id = nextId("skip");
  const problems = h("div", { class: "problems" });
  const reason = field({ label: STRINGS.skipReason, name: "reason", multiline: true });
  const button = h("button", { type: "submit", class: "button", text: STRINGS.skipSubmit });
  return h(
    "form",
    { class: "card skip", novalidate: true, "aria-labelledby": id, onsubmit: submit },
    h("h2", { id, text: STRINGS.skipHeading }),
    problems,
    reason.wrapper,
    h("div", { class: "actions" }, button),
  );

  async function submit(event) {
    event.preventDefault();
    const done = busy(button, STRINGS.saving);
    try {
      const skipped = await post(`portal/sessions/${session.id}/skip`, { reason: reason.input.value.trim() });
      const note = message("success", h("p", { class: "strong", text: STRINGS.skipped }), statusBadge(skipped.status));
      fill(main, 
        heading(format(STRINGS.sessionTitle, { day: dayName(session.local_date), time: timeName(session.local_time) })),
        note,
        backToToday(),
      );
      focusMessage(note);
    } catch (error) {
      done();
      if (error instanceof ApiError && error.status === 400) {
        showProblem(problems, showFieldErrors(error, { reason }));
      } else {
        showProblem(problems, errorText(error));
      }
    }
  }
}

export async function sessionScreen(main, [sessionId]) {
  let session;
  try {
    session = await get(`portal/sessions/${sessionId}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      fill(main, heading(STRINGS.sessionNotOpen), empty(STRINGS.sessionNotFound), backToToday());
      return;
    }
    throw error;
  }
  const patient = patientById(session.patient) || chosenPatient();
  if (patient && chosenPatient()?.id !== patient.id) {
    choosePatient(patient.id);
  }
  const plans = await plansOf(patient);
  const plan = plans.plans.find((one) => one.id === session.prescription);
  const items = plan ? plan.items : [];
  const open = session.status === "scheduled" && session.local_date <= plans.local_today;
  const stretchesId = nextId("stretches");
  fill(main, 
    h(
      "div",
      { class: "intro" },
      heading(format(STRINGS.sessionTitle, { day: dayName(session.local_date), time: timeName(session.local_time) })),
      h("p", {}, statusBadge(session.status)),
    ),
    session.status === "blocked" ? holdBanner(patient) : null,
    items.length
      ? h(
          "section",
          { class: "stretches", "aria-labelledby": stretchesId },
          h("h2", { id: stretchesId, text: STRINGS.stretchesHeading }),
          open ? h("p", { class: "hint", text: STRINGS.stretchesIntro }) : null,
          h(
            "ol",
            { class: "stretch-list" },
            items.map((item) => stretchItem(item, open)),
          ),
        )
      : null,
    open ? logForm(main, session, patient, items) : null,
    open ? skipForm(main, session) : null,
    session.status === "scheduled" && !open
      ? empty(format(STRINGS.logFrom, { day: dayName(session.local_date) }))
      : null,
    backToToday(),
  );
}

// --- The next 7 days -------------------------------------------------------------------------------------------

export async function weekScreen(main) {
  const patient = chosenPatient();
  const plans = await plansOf(patient);
  const sessions = allSessions(plans);
  const days = Array.from({ length: 7 }, (_, offset) => isoDatePlus(plans.local_today, offset));
  fill(main, 
    heading(STRINGS.weekTitle),
    patient.relationship === "self" ? null : h("p", { text: format(STRINGS.todayFor, { name: fullName(patient) }) }),
    sessions.length
      ? h(
          "ol",
          { class: "week" },
          days.map((day) => {
            const id = nextId("day");
            const ofDay = sessions.filter((session) => session.local_date === day);
            return h(
              "li",
              { class: "card day", "aria-labelledby": id },
              h(
                "h2",
                { id },
                dayName(day),
                day === plans.local_today ? h("span", { class: "tag", text: ` · ${STRINGS.todayLabel}` }) : null,
              ),
              ofDay.length
                ? h(
                    "ul",
                    { class: "week-list" },
                    ofDay.map((session) =>
                      h(
                        "li",
                        {},
                        h(
                          "a",
                          { href: `/portal/sessions/${session.id}`, "data-route": true },
                          format(STRINGS.sessionAt, { time: timeName(session.local_time) }),
                          h("span", { class: "visually-hidden", text: `, ${dayName(day)}` }),
                        ),
                        " ",
                        statusBadge(session.status),
                      ),
                    ),
                  )
                : h("p", { class: "muted", text: STRINGS.restDay }),
            );
          }),
        )
      : empty(STRINGS.noSessionsWeek),
  );
}

// --- Reminder preferences ---------------------------------------------------------------------------------------

export async function preferencesScreen(main) {
  const patient = chosenPatient();
  const path = withPatient("portal/preferences", patient.id);
  const prefs = await get(path);
  const problems = h("div", { class: "problems" });
  const channel = radioGroup({
    legend: STRINGS.channel,
    name: "preferred_channel",
    options: ["email", "sms", "none"].map((value) => ({ value, label: STRINGS.channels[value] })),
    checked: prefs.preferred_channel,
    className: "stack",
  });
  const emailConsent = checkbox({
    label: STRINGS.emailConsent,
    name: "email_consent",
    checked: prefs.email_consent,
    hint: prefs.email ? format(STRINGS.onFile, { value: prefs.email }) : STRINGS.nothingOnFile,
  });
  const smsConsent = checkbox({
    label: STRINGS.smsConsent,
    name: "sms_consent",
    checked: prefs.sms_consent,
    hint: prefs.phone ? format(STRINGS.onFile, { value: prefs.phone }) : STRINGS.nothingOnFile,
  });
  const quietStart = field({
    label: STRINGS.quietStart,
    name: "quiet_hours_start",
    type: "time",
    value: timeInputValue(prefs.quiet_hours_start),
  });
  const quietEnd = field({
    label: STRINGS.quietEnd,
    name: "quiet_hours_end",
    type: "time",
    value: timeInputValue(prefs.quiet_hours_end),
  });
  const consentId = nextId("consent");
  const quietId = nextId("quiet");
  const button = h("button", { type: "submit", class: "button primary", text: STRINGS.savePreferences });
  const form = h(
    "form",
    { class: "card form-card", novalidate: true, onsubmit: submit },
    problems,
    channel.fieldset,
    h(
      "fieldset",
      { class: "group", "aria-describedby": null },
      h("legend", { id: consentId, text: STRINGS.consentHeading }),
      emailConsent.wrapper,
      smsConsent.wrapper,
    ),
    h(
      "fieldset",
      { class: "group", "aria-describedby": quietId },
      h("legend", { text: STRINGS.quietHeading }),
      h("p", { id: quietId, class: "hint", text: format(STRINGS.quietIntro, { zone: prefs.timezone }) }),
      h("div", { class: "pair" }, quietStart.wrapper, quietEnd.wrapper),
    ),
    h("div", { class: "actions" }, button),
  );
  fill(main, 
    heading(STRINGS.preferencesTitle),
    h("p", { text: STRINGS.preferencesIntro }),
    patient.relationship === "self" ? null : h("p", { text: format(STRINGS.todayFor, { name: fullName(patient) }) }),
    form,
  );

  async function submit(event) {
    event.preventDefault();
    for (const one of [channel, emailConsent, smsConsent, quietStart, quietEnd]) {
      one.setError("");
    }
    clear(problems);
    const done = busy(button, STRINGS.saving);
    try {
      await patch(path, {
        preferred_channel: channel.value(),
        email_consent: emailConsent.input.checked,
        sms_consent: smsConsent.input.checked,
        quiet_hours_start: quietStart.input.value || null,
        quiet_hours_end: quietEnd.input.value || null,
      });
      done();
      const saved = message("success", h("p", { text: `✓ ${STRINGS.preferencesSaved}` }));
      fill(problems, saved);
      focusMessage(saved);
    } catch (error) {
      done();
      if (error instanceof ApiError && error.status === 400) {
        const rest = showFieldErrors(error, {
          preferred_channel: channel,
          email_consent: emailConsent,
          sms_consent: smsConsent,
          quiet_hours_start: quietStart,
          quiet_hours_end: quietEnd,
        });
        showProblem(problems, rest.length ? rest : [STRINGS.fixErrors]);
      } else {
        showProblem(problems, errorText(error));
      }
    }
  }
}
