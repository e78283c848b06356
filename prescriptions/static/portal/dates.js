// Dates and times as the API gives them in the patient's own zone ("2026-11-30", "07:30:00"): shown as they are,
// never moved into the browser's zone.

const LOCALE = document.documentElement.lang || "en-US";

const DAY = new Intl.DateTimeFormat(LOCALE, { weekday: "long", month: "long", day: "numeric", timeZone: "UTC" });
const SHORT_DAY = new Intl.DateTimeFormat(LOCALE, { weekday: "short", month: "short", day: "numeric", timeZone: "UTC" });
const TIME = new Intl.DateTimeFormat(LOCALE, { hour: "numeric", minute: "2-digit", timeZone: "UTC" });

function asUtcNoon(isoDate) {
  return new Date(`${isoDate}T12:00:00Z`);
}

export function dayName(isoDate) {
  return DAY.format(asUtcNoon(isoDate));
}

export function shortDayName(isoDate) {
  return SHORT_DAY.format(asUtcNoon(isoDate));
}

export function timeName(isoTime) {
  const [hours, minutes] = isoTime.split(":").map((part) => Number.parseInt(part, 10));
  return TIME.format(new Date(Date.UTC(2000, 0, 1, hours, minutes)));
}

// The hour now (0-23) in the patient's zone, for the greeting.
export function hourIn(zone) {
  try {
    const text = new Intl.DateTimeFormat("en-US", { hour: "numeric", hourCycle: "h23", timeZone: zone }).format(
      new Date(),
    );
    return Number.parseInt(text, 10);
  } catch {
    return new Date().getHours();
  }
}

// "07:30:00" -> "07:30" for <input type="time">; null -> "".
export function timeInputValue(isoTime) {
  return isoTime ? isoTime.slice(0, 5) : "";
}

// The day (ISO "2026-11-30") a moment of the API ("2026-11-30T14:05:00Z", any offset) falls on in the patient's zone.
export function dateIn(isoDateTime, zone) {
  const moment = new Date(isoDateTime);
  try {
    const parts = new Intl.DateTimeFormat("en-CA", {
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      timeZone: zone,
    }).formatToParts(moment);
    const part = (type) => parts.find((one) => one.type === type).value;
    return `${part("year")}-${part("month")}-${part("day")}`;
  } catch {
    return isoDateTime.slice(0, 10);
  }
}
