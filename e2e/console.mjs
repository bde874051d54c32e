// The operator console in a real browser: Debian's Chromium driven by playwright-core (no
// downloaded browser) against a running `epcflow dev`. Run by console_test.go, which starts
// the stack and places the order; by hand:
//
//   E2E_API=http://127.0.0.1:8080 E2E_SANDBOX=http://127.0.0.1:8090 E2E_TOKEN=… E2E_LOAN=… \
//   E2E_PDF=report.pdf E2E_SHOTS=out/ node console.mjs
//
// It signs in, finds the Appraisal by its loan number, schedules the inspection (and sees a
// second, stale form refused), delivers the report PDF, and reads the sandbox's record of the
// order: completed. Every step prints a line; any failure exits 1 with what the page showed.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (name, def) => {
  const v = process.env[name] ?? def;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const api = env("E2E_API");
const sandbox = env("E2E_SANDBOX");
const token = env("E2E_TOKEN");
const loan = env("E2E_LOAN");
const pdf = env("E2E_PDF");
const shots = env("E2E_SHOTS", "");
const chromiumPath = env("E2E_CHROMIUM", "/usr/bin/chromium");
const actor = "Ada Lovelace";
const step = (msg) => console.log(`e2e: ${msg}`);

// until polls fn (which reloads or reads) until it returns a truthy value or the deadline.
async function until(what, fn, ms = 60000) {
  const deadline = Date.now() + ms;
  let wait = 100;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 1000);
  }
}

const profile = mkdtempSync(join(tmpdir(), "epcflow-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: chromiumPath,
  headless: true,
  viewport: { width: 1360, height: 900 },
  timezoneId: "America/Los_Angeles",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = browser.pages()[0] ?? (await browser.newPage());
// Nothing the console loads may come from another host.
const foreign = [];
browser.on("request", (r) => { if (!r.url().startsWith(api) && !r.url().startsWith("data:")) foreign.push(r.url()); });
const consoleErrors = [];
// Refusals are part of the test: the browser logs each 4xx document; anything else counts.
page.on("console", (m) => {
  if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) consoleErrors.push(m.text());
});
page.on("pageerror", (e) => consoleErrors.push(String(e)));

try {
  // Sign in: the queue sends us to the sign-in form first.
  await page.goto(`${api}/console/`);
  await page.waitForURL(/\/console\/signin/);
  await page.fill("#name", actor);
  await page.fill("#token", "not-the-token");
  await page.click("button[type=submit]");
  await page.getByText("This is not the operator token.").waitFor();
  step("a wrong operator token is refused on the form");
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.getByRole("heading", { name: /Work queue/ }).waitFor();
  await page.getByText(`Signed in as ${actor}`).waitFor();
  step(`signed in as ${actor}`);
  if (shots) await page.screenshot({ path: join(shots, "console-queue.png"), fullPage: true });

  // Find the Appraisal by its loan number.
  await page.fill("input[name=q]", loan);
  await page.click(".filters button[type=submit]");
  const link = page.locator("a.loan", { hasText: loan });
  await link.first().waitFor();
  step(`found ${loan} by its loan number`);
  await link.first().click();
  await page.getByRole("heading", { name: new RegExp(`Loan ${loan}`) }).waitFor();
  const orderURL = page.url();
  const txID = orderURL.split("/").pop();
  step(`order page of transaction ${txID}`);

  // The schedule form, also open in a second tab that will go stale.
  await until("the schedule form", async () => (await page.locator("#schedule form").count()) > 0 || (await page.reload(), false));
  const stale = await browser.newPage();
  await stale.goto(orderURL);
  const when = "2030-07-01T10:00";
  for (const p of [page, stale]) {
    await p.fill("#schedule input[name=at]", when);
    await p.fill("#schedule input[name=appraiser]", "Scott Cooper");
  }
  await page.fill("#schedule textarea[name=comments]", "Gate code 4412");
  await page.click("#schedule button[type=submit]");
  await page.locator("#flash", { hasText: "Inspection scheduled for" }).waitFor();
  step("inspection scheduled: " + (await page.locator("#flash").textContent()));

  // The stale tab's form is refused by the workflow's validator (409), readably.
  await stale.click("#schedule button[type=submit]");
  const refusal = stale.locator("#schedule .error", { hasText: "Refused: the inspection is already scheduled" });
  await refusal.waitFor();
  step("a second scheduling is refused on its form: " + (await refusal.textContent()));
  await stale.close();

  // The order moves on to waiting for the report; deliver it.
  await until("the deliver form", async () => (await page.locator("#deliver form").count()) > 0 || (await page.reload(), false));
  await page.setInputFiles("#deliver input[name=report]", pdf);
  await page.fill("#deliver input[name=appraisedValue]", "512000");
  await page.click("#deliver button[type=submit]");
  await page.locator("#flash", { hasText: "Report accepted" }).waitFor({ timeout: 60000 });
  step("report delivered: " + (await page.locator("#flash").textContent()));

  // Follow the order to its end on the page.
  await until("the order to complete", async () => {
    await page.reload();
    return (await page.locator("h1 .stage", { hasText: "Completed" }).count()) > 0;
  });
  const timeline = await page.locator(".timeline").textContent();
  for (const want of ["Inspection scheduled", "Report delivered", "File to the lender: AppraisalReport.pdf", "PATCH response: completed"]) {
    if (!timeline.includes(want)) throw new Error(`the timeline lacks “${want}”`);
  }
  if ((await page.locator(".timeline li.k-operator .actor", { hasText: `by ${actor}` }).count()) < 2) {
    throw new Error("the timeline does not name who scheduled and delivered");
  }
  step("the order page shows it completed, with every step and who acted");
  if (shots) await page.screenshot({ path: join(shots, "console-order.png"), fullPage: true });

  // The lender's side: the sandbox records the order completed, with the report.
  const res = await fetch(`${sandbox}/sandbox/epc/transactions/${txID}`);
  if (!res.ok) throw new Error(`sandbox: ${res.status}`);
  const tx = await res.json();
  const files = (tx.resources || []).map((r) => r.name);
  if (tx.status !== "completed" || tx.response?.status !== "completed" || !files.includes("AppraisalReport.pdf")) {
    throw new Error(`sandbox record: status ${tx.status}, response ${tx.response?.status}, files ${files}`);
  }
  step(`the sandbox records ${txID} completed with ${files.join(", ")}`);

  if (foreign.length) throw new Error(`requests to other hosts: ${foreign.join(", ")}`);
  if (consoleErrors.length) throw new Error(`browser console errors: ${consoleErrors.join("; ")}`);
  step(`PASS (${txID})`);
} catch (err) {
  console.error(`e2e: FAIL: ${err.message}`);
  try {
    console.error(`e2e: at ${page.url()}; the page shows:\n` + (await page.locator("main").innerText()).slice(0, 3000));
  } catch {}
  process.exitCode = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
