// The catalog page in a real headless browser (Debian's chromium, driven by playwright-core),
// with the axe-core accessibility check on every page. Driven by crates/nestor/tests/browser.rs,
// which starts the server, publishes the catalog, and kills and restarts the server when this
// script prints "KILL" (it answers "RESTARTED" on stdin).
//
//   node run.mjs BASE_URL SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import readline from "node:readline";

const require = createRequire(import.meta.url);
const axePath = require.resolve("axe-core/axe.min.js");
const [base, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const browserPath = process.env.NESTOR_CHROMIUM || "/usr/bin/chromium";
const stdin = readline.createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

const step = (name) => console.log(`ok ${name}`);
const fail = (message) => {
  console.error(`FAIL ${message}`);
  process.exit(1);
};

async function publish(spec) {
  const res = await fetch(`${base}/api/v1/components`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(spec),
  });
  if (res.status !== 201) { fail(`publish ${spec.name} ${spec.version}: ${res.status} ${await res.text()}`); }
}

// A new version of a published component with the same interface (a minor release).
async function publishNext(name, from, version) {
  const res = await fetch(`${base}/api/v1/components/${name}/versions/${from}`);
  const spec = await res.json();
  for (const k of ["content_hash", "published_at", "revision", "deprecated", "yanked", "published_by", "changed_by"]) { delete spec[k]; }
  spec.version = version;
  await publish(spec);
}

async function accessible(page, name) {
  await page.addScriptTag({ path: axePath });
  const result = await page.evaluate(async () => await window.axe.run(document));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) {
    fail(`axe on ${name}: ${JSON.stringify(bad.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map((n) => n.html) })))}`);
  }
}

async function visit(page, path, name) {
  const res = await page.goto(`${base}${path}`);
  if (!res || res.status() !== 200) { fail(`${path}: ${res && res.status()}`); }
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  await accessible(page, name);
}

const browser = await chromium.launch({ executablePath: browserPath, args: ["--no-sandbox"] });
try {
  for (const scheme of ["light", "dark"]) {
    const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 900 }, bypassCSP: true });
    const page = await context.newPage();
    await visit(page, "/", `home-${scheme}`);
    await visit(page, "/components/aws-rds-postgres", `component-${scheme}`);
    await visit(page, "/components/aws-rds-postgres/diff?from=1.0.0&to=2.0.0", `diff-${scheme}`);
    await visit(page, "/sources", `sources-${scheme}`);
    await visit(page, "/engines", `engines-${scheme}`);
    const missing = await page.goto(`${base}/no/such/page`);
    if (missing.status() !== 404) { fail(`a missing page answers ${missing.status()}`); }
    await accessible(page, `404-${scheme}`);
    await context.close();
  }
  step("every page renders, light and dark, with no serious or critical axe-core violation");

  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, bypassCSP: true });
  const small = await phone.newPage();
  await visit(small, "/components/aws-rds-postgres", "component-phone");
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) { fail(`the component page is ${overflow}px wider than a phone`); }
  await phone.close();
  step("a phone's width needs no horizontal scrolling");

  // Without bypassing the CSP: what a user's browser enforces. (axe-core is injected as an
  // inline script, which the page's CSP rightly refuses; the pages above bypass it for that.)
  // The <script> probe below must be inert by escaping alone, so it runs with the CSP bypassed.
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  // Search as you type narrows the results without a reload.
  await page.goto(`${base}/`);
  const all = await page.locator("ol.results > li").count();
  await page.locator("#q").pressSequentially("postg", { delay: 30 });
  await page.waitForFunction(() => !document.querySelector("#results").textContent.includes("base-vpc"), null, { timeout: 5000 });
  const narrowed = await page.locator("ol.results > li").count();
  if (!(narrowed > 0 && narrowed < all)) { fail(`search as you type: ${all} results, then ${narrowed}`); }
  if (!(await page.locator("ol.results mark").first().isVisible())) { fail("matched words are not highlighted"); }
  if (!page.url().includes("q=postg")) { fail(`the address does not follow the search: ${page.url()}`); }
  step("search as you type narrows the results and highlights the matches");

  // A facet click filters.
  await page.goto(`${base}/`);
  await page.locator("aside.facets a", { hasText: "gcp" }).first().click();
  await page.waitForURL(/provider=gcp/);
  const providers = await page.locator("ol.results > li").allTextContents();
  if (!providers.length || providers.some((t) => !t.includes("gcp"))) { fail(`facet gcp: ${providers}`); }
  step("a facet click filters");

  // A component page shows its interface and its dependents; compare shows a breaking change.
  await page.goto(`${base}/components/base-vpc`);
  if (!(await page.locator("#dependents ~ * a", { hasText: "aws-rds-postgres" }).count())) { fail("dependents of base-vpc"); }
  await page.goto(`${base}/components/aws-rds-postgres/2.0.0`);
  if (!(await page.locator("table td", { hasText: "instance_class" }).count())) { fail("the interface table"); }
  await page.goto(`${base}/components/aws-rds-postgres/diff?from=1.0.0&to=2.0.0`);
  if (!(await page.locator("tr.major").count())) { fail("compare shows no major change"); }
  step("a component page shows its interface and dependents; compare shows the breaking change");

  // A definition's markup is text, never code: even with the CSP out of the way.
  const open = await browser.newContext({ bypassCSP: true });
  const probe = await open.newPage();
  await probe.goto(`${base}/components/xss-probe`);
  if (await probe.evaluate(() => window.__pwned === 1)) { fail("a description's <script> ran"); }
  if (!(await probe.locator("main", { hasText: "<script>window.__pwned=1</script>" }).count())) { fail("the <script> text is not shown as text"); }
  await probe.goto(`${base}/?q=probe`);
  if (await probe.evaluate(() => window.__pwned === 1)) { fail("a description's <script> ran in the results"); }
  await open.close();
  step("a <script> in a definition is inert text");

  // Live: a publish appears on an open page within a second, without a reload.
  await page.goto(`${base}/components/live-probe`);
  await page.waitForTimeout(500); // the event stream connects
  const marker = await page.evaluate(() => { window.__same = true; return true; });
  const t0 = Date.now();
  await publishNext("live-probe", "1.0.0", "1.1.0");
  await page.locator("ol.timeline a", { hasText: "1.1.0" }).waitFor({ timeout: 1000 });
  if (!marker || !(await page.evaluate(() => window.__same === true))) { fail("the page reloaded"); }
  step(`a publish appears on the open page in ${Date.now() - t0} ms, without a reload`);

  // The server is killed and restarted: the open page is live again.
  console.log("KILL");
  const answer = await lines.next();
  if (answer.value !== "RESTARTED") { fail(`expected RESTARTED, got ${answer.value}`); }
  await publishNext("live-probe", "1.0.0", "1.2.0");
  await page.locator("ol.timeline a", { hasText: "1.2.0" }).waitFor({ timeout: 15000 });
  step("after a kill and restart, the open page is live again");

  if (errors.length) { fail(`script errors: ${errors}`); }
  await context.close();
} finally {
  await browser.close();
}
console.log("DONE");
process.exit(0);
