// epcflow console: times in the browser's zone, the browser's zone on the schedule form, and
// the report's upload with its progress. Served from the binary; no inline script anywhere.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  browserZone();
  showStoredFlash();
  routineToggle();
  document.querySelectorAll("form[data-upload]").forEach(uploadForm);
});

// routineToggle shows or hides the timeline's routine entries.
function routineToggle() {
  document.querySelectorAll("[data-routine-toggle]").forEach((label) => {
    const box = label.querySelector("input");
    const list = document.querySelector(".timeline");
    label.hidden = false;
    box.addEventListener("change", () => list.classList.toggle("hide-routine", !box.checked));
  });
}

// localTimes rewrites each <time datetime> (but those that show an age) in the local zone.
function localTimes() {
  const fmt = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  const day = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  let lastDay = "";
  document.querySelectorAll("time[datetime]").forEach((t) => {
    const d = new Date(t.getAttribute("datetime"));
    if (isNaN(d) || d.getFullYear() < 2) return;
    t.title = fmt.format(d);
    if (t.hasAttribute("data-keep")) return;
    if (t.hasAttribute("data-short")) {
      // Timeline: the time of day, and the day when it changes.
      const dd = day.format(d);
      t.textContent = (dd === lastDay ? "" : dd + " ") + clock.format(d);
      lastDay = dd;
      return;
    }
    t.textContent = fmt.format(d);
  });
}

// browserZone sends the browser's time zone with the schedule form, and says which it is.
function browserZone() {
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  document.querySelectorAll("input[data-browser-tz]").forEach((i) => { i.value = tz; });
  document.querySelectorAll("[data-tz-label]").forEach((l) => { l.textContent = "(" + tz + ")"; });
}

function showStoredFlash() {
  const msg = sessionStorage.getItem("epcflow-flash");
  if (!msg) return;
  sessionStorage.removeItem("epcflow-flash");
  const f = document.getElementById("flash");
  if (f) { f.textContent = msg; f.hidden = false; }
}

// uploadForm sends the report with XMLHttpRequest, whose upload events drive the progress
// bar; the answer (the API's JSON) is shown on the form: its message, or every problem.
function uploadForm(form) {
  const bar = form.querySelector("[data-progress]");
  const status = form.querySelector("[data-status]");
  const error = form.querySelector("[data-error]");
  const problems = form.querySelector("[data-problems]");
  const button = form.querySelector("button[type=submit]");
  const max = Number(form.dataset.max || 0);

  const fail = (message, list) => {
    error.textContent = message;
    error.hidden = false;
    problems.replaceChildren(...(list || []).map((p) => {
      const li = document.createElement("li");
      li.textContent = (p.pointer ? p.pointer.replace(/^\//, "") + ": " : "") + p.message;
      return li;
    }));
    problems.hidden = !(list && list.length);
    bar.hidden = true;
    status.textContent = "";
    button.disabled = false;
  };

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    error.hidden = true;
    problems.hidden = true;
    const file = form.elements.report.files[0];
    if (!file) return fail("Choose the report's PDF file.");
    if (max && file.size > max) return fail("The file is too large: at most " + Math.floor(max / 1048576) + " MB.");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.value = Math.round((100 * e.loaded) / e.total);
      status.textContent = "Uploading… " + bar.value + "%";
    });
    xhr.upload.addEventListener("load", () => { status.textContent = "Uploaded; waiting for the workflow…"; });
    xhr.addEventListener("load", () => {
      const body = xhr.response || {};
      if (xhr.status === 200) {
        bar.value = 100;
        const msg = (body.message || "Report delivered").replace(/^./, (c) => c.toUpperCase()) + ".";
        status.textContent = msg;
        sessionStorage.setItem("epcflow-flash", msg);
        window.location.reload();
        return;
      }
      const prefix = xhr.status === 409 ? "Refused: " : "";
      fail(prefix + (body.message || "The upload failed (HTTP " + xhr.status + ").") + (prefix ? "." : ""), body.problems);
    });
    xhr.addEventListener("error", () => fail("The upload did not reach the server: check the connection and try again."));
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "Uploading…";
    button.disabled = true;
    xhr.send(new FormData(form));
  });
}
