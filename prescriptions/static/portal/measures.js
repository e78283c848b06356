// The questionnaires screen (issue 18): the outcome measures due, each a form in the API's own wording, and the
// patient's scores over time (the server's chart, with its values in words too). What is due, the scoring and
// what counts as better or worse are the API's: this screen shows what it answers.

import { ApiError, get, post, withPatient } from "./api.js";
import { empty, fullName, heading } from "./care.js";
import { dateIn, dayName, shortDayName } from "./dates.js";
import { clear, fill, h, message, nextId } from "./dom.js";
import { busy, errorText, field, focusMessage, radioGroup, showFieldErrors, showProblem } from "./forms.js";
import { chosenPatient } from "./state.js";
import { format, STRINGS } from "./strings.js";

const FIRST_ACTIVITIES = 3; // rows shown at first for the PSFS at baseline; the API's items say how many at most

function rows(answer) {
  return Array.isArray(answer) ? answer : answer.results || [];
}

// "6.0" -> "6", "35.6" stays: the API's decimals as a person writes them.
function number(value) {
  return String(value).replace(/\.0+$/, "");
}

function scoreText(instrument, score) {
  const scale = STRINGS.scoreScale[instrument.code];
  return scale ? format(scale, { score: number(score) }) : number(score);
}

function direction(instrument) {
  return instrument.higher_is_worse ? STRINGS.lowerIsBetter : STRINGS.higherIsBetter;
}

function forOthers(patient, text) {
  return patient.relationship === "self" ? null : h("p", { text: format(text, { name: fullName(patient) }) });
}

// --- One item's answer: native radios from low to high, the level texts the wording gives beside their numbers ---

function levelOptions(item) {
  const levels = item.levels || {};
  return Array.from({ length: item.high - item.low + 1 }, (_, offset) => {
    const value = item.low + offset;
    const text = levels[String(value)];
    return { value, label: text ? [String(value), " ", h("span", { class: "end", text })] : String(value) };
  });
}

// Every level in words: a list, one per line. Only the two ends in words: a row of numbers (0–10 on one line on a
// wide screen), or, when an end's words are more than a word or two, the ends on lines of their own around the row.
const SHORT_END = 12;

function scaleClass(item) {
  const levels = item.levels || {};
  const inner = Object.keys(levels).filter((key) => Number(key) > item.low && Number(key) < item.high);
  if (inner.length) {
    return "stack";
  }
  if (Object.values(levels).some((text) => text.length > SHORT_END)) {
    return "scale wide-ends";
  }
  return item.high - item.low >= 10 ? "scale scale-11" : "scale";
}

function itemGroup(measure, item, { legend, hint, key }) {
  return radioGroup({
    legend,
    hint,
    name: `measure-${measure.id}-${key}`,
    options: levelOptions(item),
    className: scaleClass(item),
  });
}

// --- The PSFS at baseline: 3 to 5 activities the patient names, each rated -------------------------------------

function activityRows(measure, headingLevel) {
  const items = measure.items;
  const headingId = nextId("activities");
  const hintId = nextId("activities-hint");
  const errorId = nextId("activities-error");
  const error = h("p", { id: errorId, class: "field-error", hidden: true });
  const list = h("ol", { class: "activities" });
  const said = h("p", { class: "visually-hidden", role: "status" });
  const all = [];
  let made = 0;
  const add = h("button", {
    type: "button",
    class: "button",
    text: STRINGS.addActivity,
    onclick: () => {
      said.textContent = "";
      addRow().name.input.focus();
    },
  });
  const block = h(
    "div",
    { class: "activities-block", role: "group", "aria-labelledby": headingId, "aria-describedby": hintId },
    h(headingLevel, { id: headingId, text: STRINGS.activitiesHeading }),
    h("p", { id: hintId, class: "hint", text: STRINGS.activitiesHint }),
    error,
    list,
    h("div", { class: "actions" }, add),
    said,
  );

  function addRow() {
    made += 1;
    const index = all.length;
    const legend = h("legend");
    const name = field({ label: STRINGS.activityName, name: `measure-${measure.id}-activity`, required: true });
    name.input.setAttribute("maxlength", "120");
    name.input.setAttribute("autocomplete", "off");
    const item = items[index];
    const group = itemGroup(measure, item, { legend: item.text, key: `activity-row-${made}` });
    const remove = h("button", { type: "button", class: "button remove" });
    const row = {
      element: h(
        "li",
        { class: "activity" },
        h("fieldset", { class: "group" }, legend, name.wrapper, group.fieldset, remove),
      ),
      legend,
      name,
      group,
      remove,
    };
    remove.addEventListener("click", () => removeRow(row));
    all.push(row);
    list.appendChild(row.element);
    renumber();
    return row;
  }

  function removeRow(row) {
    const index = all.indexOf(row);
    all.splice(index, 1);
    row.element.remove();
    renumber();
    said.textContent = STRINGS.activityRemoved;
    const next = all[Math.min(index, all.length - 1)];
    (next ? next.name.input : add).focus();
  }

  function renumber() {
    all.forEach((row, index) => {
      row.legend.textContent = format(STRINGS.activityLegend, { n: index + 1 });
      row.remove.textContent = format(STRINGS.removeActivity, { n: index + 1 });
      row.remove.hidden = all.length <= FIRST_ACTIVITIES;
    });
    add.hidden = all.length >= items.length;
  }

  for (let count = 0; count < Math.min(FIRST_ACTIVITIES, items.length); count += 1) {
    addRow();
  }

  const whole = {
    setError(text) {
      error.textContent = text ? `⚠ ${text}` : "";
      error.hidden = !text;
      block.setAttribute("aria-describedby", text ? `${hintId} ${errorId}` : hintId);
    },
  };

  return {
    element: block,
    clearErrors() {
      whole.setError("");
      for (const row of all) {
        row.name.setError("");
        row.group.setError("");
      }
    },
    // A row left without a name: said at its field before anything is sent.
    unnamed() {
      const missing = all.filter((row) => !row.name.input.value.trim());
      for (const row of missing) {
        row.name.setError(STRINGS.nameActivity);
      }
      return missing.length;
    },
    names: () => all.map((row) => row.name.input.value.trim()),
    answers: () => all.map((row, index) => [items[index].id, row.group.value()]),
    fields() {
      const fields = { activities: whole };
      all.forEach((row, index) => {
        fields[`answers.${items[index].id}`] = row.group;
      });
      return fields;
    },
  };
}

// --- One due measure as a form ------------------------------------------------------------------------------

function occasionLine(measure) {
  const occasion = STRINGS.occasions[measure.occasion] || "";
  return h("p", { class: "muted", text: format(STRINGS.dueOn, { occasion, day: dayName(measure.due_on) }) });
}

function answeredCard(measure, response) {
  const id = nextId("answered");
  const instrument = response.instrument || measure.instrument;
  let change;
  if (response.change === null || response.change === undefined) {
    change = h("p", { text: STRINGS.firstScore });
  } else if (response.improved) {
    change = h("p", { class: "change-line" }, h("span", { "aria-hidden": "true", text: "✓ " }), STRINGS.better);
  } else if (response.worsened) {
    change = h("p", { class: "change-line" }, h("span", { "aria-hidden": "true", text: "! " }), STRINGS.worse);
  } else {
    change = h("p", { text: STRINGS.noBigChange });
  }
  const note = message(
    "success",
    h("p", { class: "strong", text: `✓ ${STRINGS.answersSaved}` }),
    h("p", { class: "score-line", text: format(STRINGS.yourScore, { score: scoreText(instrument, response.score) }) }),
    change,
    h("p", { class: "muted", text: direction(instrument) }),
  );
  const card = h(
    "section",
    { class: "card measure", "aria-labelledby": id },
    h("h3", { id, text: measure.instrument.name }),
    note,
  );
  return { card, note };
}

function measureForm(measure, patient, answered) {
  const headingId = nextId("measure");
  const problems = h("div", { class: "problems" });
  const items = measure.items;
  let activities = null;
  let groups = [];
  if (measure.needs_activities) {
    activities = activityRows(measure, "h4");
  } else if (measure.activities && measure.activities.length) {
    // PSFS follow-up: the activities named at baseline, in the patient's own words, each rated again.
    groups = measure.activities.map((name, index) => ({
      item: items[index],
      group: itemGroup(measure, items[index], { legend: name, hint: items[index].text, key: items[index].id }),
    }));
  } else {
    groups = items.map((item) => ({ item, group: itemGroup(measure, item, { legend: item.text, key: item.id }) }));
  }
  const button = h("button", { type: "submit", class: "button primary", text: STRINGS.sendAnswers });
  const form = h(
    "form",
    { class: "card measure", novalidate: true, "aria-labelledby": headingId, onsubmit: submit },
    h("div", {}, h("h3", { id: headingId, text: measure.instrument.name }), occasionLine(measure)),
    measure.instructions ? h("p", { class: "instructions", text: measure.instructions }) : null,
    problems,
    activities ? activities.element : null,
    groups.map(({ group }) => group.fieldset),
    h("div", { class: "actions" }, button),
  );

  function fields() {
    const map = activities ? activities.fields() : {};
    for (const { item, group } of groups) {
      map[`answers.${item.id}`] = group;
    }
    return map;
  }

  async function submit(event) {
    event.preventDefault();
    for (const { group } of groups) {
      group.setError("");
    }
    if (activities) {
      activities.clearErrors();
      if (activities.unnamed()) {
        showProblem(problems, [STRINGS.checkAnswers]);
        return;
      }
    }
    const pairs = activities ? activities.answers() : groups.map(({ item, group }) => [item.id, group.value()]);
    const body = {
      answers: Object.fromEntries(pairs.map(([id, value]) => [id, value === null ? null : Number(value)])),
    };
    if (activities) {
      body.activities = activities.names();
    }
    clear(problems);
    const done = busy(button, STRINGS.saving);
    let response;
    try {
      response = await post(withPatient(`portal/measures/${measure.id}/responses`, patient.id), body);
    } catch (error) {
      done();
      if (error instanceof ApiError && error.status === 400) {
        const rest = showFieldErrors(error, fields());
        showProblem(problems, rest.length ? rest : [STRINGS.checkAnswers]);
      } else {
        showProblem(problems, errorText(error));
      }
      return;
    }
    const { card, note } = answeredCard(measure, response);
    form.replaceWith(card);
    focusMessage(note);
    answered();
  }

  return form;
}

// --- The scores over time -------------------------------------------------------------------------------------

function changeTag(response) {
  let kind = "same";
  let icon = "";
  let text = STRINGS.changeSame;
  if (response.change === null || response.change === undefined) {
    kind = "first";
    text = STRINGS.changeFirst;
  } else if (response.improved) {
    kind = "better";
    icon = "✓ ";
    text = STRINGS.changeBetter;
  } else if (response.worsened) {
    kind = "worse";
    icon = "! ";
    text = STRINGS.changeWorse;
  }
  return h(
    "span",
    { class: `change change-${kind}` },
    icon ? h("span", { "aria-hidden": "true", text: icon }) : null,
    text,
  );
}

// The API's chart address, marked with the latest response: a page keeps an image it has shown for the address it
// came from (whatever no-store says), so after an answer the new chart needs an address of its own.
function chartSource(outcome) {
  const latest = outcome.responses[outcome.responses.length - 1];
  return latest ? `${outcome.chart}${outcome.chart.includes("?") ? "&" : "?"}v=${latest.id}` : outcome.chart;
}

function outcomeCard(outcome, patient) {
  const id = nextId("outcome");
  const instrument = outcome.instrument;
  const points = outcome.responses.map((response) => ({
    day: dateIn(response.taken_at, patient.timezone),
    response,
  }));
  const values = points
    .map(({ day, response }) => format(STRINGS.chartValue, { day: shortDayName(day), score: number(response.score) }))
    .join("; ");
  const short = instrument.abbreviation || instrument.name;
  const alt = format(STRINGS.chartAlt, { name: short, values, direction: direction(instrument) });
  return h(
    "section",
    { class: "card outcome", "aria-labelledby": id },
    h("h3", { id, text: short === instrument.name ? short : `${instrument.name} (${short})` }),
    h("p", { class: "muted", text: direction(instrument) }),
    outcome.chart ? h("img", { class: "chart", src: chartSource(outcome), alt }) : null,
    h(
      "ol",
      { class: "score-list", "aria-label": format(STRINGS.scoreListLabel, { name: short }) },
      points.map(({ day, response }) =>
        h(
          "li",
          {},
          h("span", { class: "when", text: `${dayName(day)}:` }),
          " ",
          h("span", { class: "score", text: scoreText(instrument, response.score) }),
          " ",
          changeTag(response),
        ),
      ),
    ),
  );
}

function scoresBody(outcomes, patient) {
  const shown = outcomes.filter((outcome) => outcome.responses && outcome.responses.length);
  return shown.length ? shown.map((outcome) => outcomeCard(outcome, patient)) : empty(STRINGS.noScores);
}

// --- The screen --------------------------------------------------------------------------------------------------

export async function questionnairesScreen(main) {
  const patient = chosenPatient();
  const outcomesPath = withPatient("portal/outcomes", patient.id);
  const [measures, outcomes] = await Promise.all([
    get(withPatient("portal/measures", patient.id)).then(rows),
    get(outcomesPath).then(rows),
  ]);
  const scores = h("div", { class: "outcomes" }, scoresBody(outcomes, patient));
  const dueId = nextId("due");
  const scoresId = nextId("scores");

  // After an answer: the scores again (the new one in them); the answer itself is saved whatever happens here.
  async function refreshScores() {
    try {
      fill(scores, scoresBody(rows(await get(outcomesPath)), patient));
    } catch {
      fill(scores, h("p", { class: "muted", text: STRINGS.scoresRefreshFailed }));
    }
  }

  fill(
    main,
    h(
      "div",
      { class: "intro" },
      heading(STRINGS.questionnairesTitle),
      h("p", { text: STRINGS.questionnairesIntro }),
      forOthers(patient, STRINGS.questionnairesFor),
    ),
    h(
      "section",
      { class: "due-measures", "aria-labelledby": dueId },
      h("h2", { id: dueId, text: STRINGS.toAnswerHeading }),
      measures.length
        ? measures.map((measure) => measureForm(measure, patient, refreshScores))
        : empty(STRINGS.noneToAnswer),
    ),
    h(
      "section",
      { class: "my-scores", "aria-labelledby": scoresId },
      h("h2", {
        id: scoresId,
        text:
          patient.relationship === "self"
            ? STRINGS.myScoresHeading
            : format(STRINGS.scoresForHeading, { name: fullName(patient) }),
      }),
      scores,
    ),
  );
}
