/**
 * The dashboard in a real headless Chromium (Debian `chromium`, driven by
 * playwright-core): it loads, shows the simulated cluster's tasks newest first with
 * status counts, filters by status, key and time, shows a task's holders, and shows an
 * Executor taken down as down; at 1400 and 800 px wide. The page runs under a strict CSP
 * (its script and style are files), keeps its view in the URL, highlights the chosen
 * status bar, prints 24-hour times, opens a task's detail under its row when narrow, and
 * clears the rows when a list fails. Screenshots go to test-artifacts/dashboard-*.png.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { FLTask } from "../../src/gen/task/task";
import { compareListOrder } from "../../src/merge/merge";
import { decodeTaskView } from "../../src/wire/task-view";
import { startPeopleCluster, type PeopleCluster } from "../helpers/people-cluster";

const CHROMIUM = "/usr/bin/chromium";

// What the page functions below use of the DOM (this file is compiled without the DOM
// library; functions, not strings, because the page's CSP forbids eval).
declare const document: {
  body: { getAttribute(name: string): string | null };
  getElementById(id: string): { textContent: string | null } | null;
};
const ARTIFACTS = path.join(__dirname, "..", "..", "test-artifacts");

let c: PeopleCluster;
let profile: string;
let browser: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

function ledgerInListOrder(): FLTask[] {
  return c.sim.ledger.tasks
    .map((t) => decodeTaskView(Buffer.from(FLTask.encode(t).finish())))
    .sort(compareListOrder)
    .map((v) => FLTask.decode(v.raw));
}

/** Task IDs in the table, top to bottom. */
async function shownIds(): Promise<string[]> {
  return page.$$eval("#tasks-table > tbody > tr[data-task-id]", (rows) =>
    rows.map((r) => r.getAttribute("data-task-id") ?? ""),
  );
}

/** Waits for a refresh that started after now to finish (the screen is settled). */
async function settled(): Promise<void> {
  const since = Date.now();
  await page.waitForFunction((t) => Number(document.body.getAttribute("data-refreshed") ?? 0) > t, since, {
    timeout: 15_000,
  });
}

async function screenshot(name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: false });
  expect(existsSync(file)).toBe(true);
}

/** Waits until the table shows exactly these IDs (the page refreshes asynchronously). */
async function expectShown(ids: string[]): Promise<void> {
  const until = Date.now() + 10_000;
  let got = await shownIds();
  while (JSON.stringify(got) !== JSON.stringify(ids) && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    got = await shownIds();
  }
  expect(got).toEqual(ids);
}

/** A Date as the value of <input type="datetime-local" step="1"> in UTC (the page runs in UTC). */
function localInput(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)`);
  c = await startPeopleCluster({
    executors: 4,
    seed: 41,
    trainingTasks: 14,
    config: { http: { probeIntervalMs: 100 } },
  });
  profile = mkdtempSync(path.join(os.tmpdir(), "dai-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
    viewport: { width: 1400, height: 900 },
    timezoneId: "UTC",
    // A 12-hour locale: the page must still print 24-hour times, as the table and the CLI do.
    locale: "en-US",
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) pageErrors.push(m.text());
  });
  await page.goto(`${c.httpBase}/?refresh=1`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await c?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test("shows every task of the cluster, newest first, with status counts", async () => {
  const want = ledgerInListOrder();
  await expectShown(want.map((t) => t.iD));
  const counts = new Map<string, number>();
  for (const t of want) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const chart = await page.$$eval("#status-chart g[data-status]", (gs) =>
    gs.map((g) => [g.getAttribute("data-status"), g.querySelectorAll("text")[1]?.textContent]),
  );
  expect(new Map(chart.map(([s, n]) => [s!, Number(n)]))).toEqual(counts);
  expect(await page.textContent("#t-exec")).toBe("4 / 4");
  // The first status may predate any cached answer ("n/a"); the next refresh has counts.
  let ratio = await page.textContent("#cache-ratio");
  for (let i = 0; i < 50 && !/^\d{1,3}\.\d %$/.test(ratio ?? ""); i++) {
    await new Promise((r) => setTimeout(r, 100));
    ratio = await page.textContent("#cache-ratio");
  }
  expect(ratio).toMatch(/^\d{1,3}\.\d %$/);
  const circuits = await page.$$eval("#executors-table tbody tr td:nth-child(4)", (tds) =>
    tds.map((t) => t.textContent),
  );
  expect(circuits).toEqual(["closed", "closed", "closed", "closed"]);
});

test("filters by status, by requester key and by publish time", async () => {
  const all = ledgerInListOrder();
  await page.selectOption("#f-status", "Finished");
  await expectShown(all.filter((t) => t.status === "Finished").map((t) => t.iD));
  await page.selectOption("#f-status", "");

  const key = c.sim.ledger.requesters[2]!.publicKey;
  await page.fill("#f-key", key.toString("hex"));
  await page.click("#apply");
  await expectShown(all.filter((t) => t.requester.equals(key)).map((t) => t.iD));
  await page.fill("#f-key", "");

  const startNs = (all[9]!.publishTime / 1_000_000_000n) * 1_000_000_000n;
  const endNs = (all[3]!.publishTime / 1_000_000_000n) * 1_000_000_000n;
  await page.fill("#f-from", localInput(startNs));
  await page.fill("#f-to", localInput(endNs));
  await page.click("#apply");
  const inWindow = all.filter((t) => t.publishTime >= startNs && t.publishTime <= endNs).map((t) => t.iD);
  expect(inWindow.length).toBeGreaterThan(2);
  await expectShown(inWindow);

  // A date alone as "to" is the whole day, as the CLI's --end.
  const day = localInput(all[0]!.publishTime).slice(0, 10);
  await page.fill("#f-from", day);
  await page.fill("#f-to", day);
  await page.click("#apply");
  const thatDay = all.filter((t) => localInput(t.publishTime).startsWith(day)).map((t) => t.iD);
  expect(thatDay.length).toBeGreaterThan(0);
  await expectShown(thatDay);

  await page.click("#clear");
  await expectShown(all.map((t) => t.iD));
});

test("a task's detail lists its data sets and the Executors holding it", async () => {
  const t = c.sim.ledger.tasks.find((x) => x.dataSets.length >= 2)!;
  await page.click(`#tasks-table tbody tr[data-task-id="${t.iD}"]`);
  await page.waitForSelector(`#detail[data-task-id="${t.iD}"] #datasets-table`);
  const holders = await page.$$eval("#holders li[data-address]", (lis) => lis.map((l) => l.textContent ?? ""));
  expect(holders.sort()).toEqual(
    c.sim.executors
      .filter((e) => e.taskIds().includes(t.iD))
      .map((e) => e.address)
      .sort(),
  );
  const dsAddresses = await page.$$eval("#datasets-table tbody tr", (rows) =>
    rows.map((r) => r.getAttribute("data-address")),
  );
  expect(dsAddresses).toEqual(t.dataSets.map((d) => d.address));
});

test("an Executor taken down shows as down; screenshot saved", async () => {
  const down = c.sim.executors[2]!;
  await page.waitForSelector(`#executors-table tr[data-address="${down.address}"][data-health="up"]`);
  await down.stop();
  try {
    await page.waitForSelector(`#executors-table tr[data-address="${down.address}"][data-health="down"]`, {
      timeout: 15_000,
    });
    const health = await page.$$eval("#executors-table tbody tr", (rows) =>
      rows.map((r) => r.getAttribute("data-health")),
    );
    expect(health.filter((h) => h === "down")).toHaveLength(1);
    expect(await page.textContent("#t-exec")).toBe("3 / 4");
    await page.waitForSelector("#banner:not(:empty)");
    await page.waitForFunction(
      (a) => (document.getElementById("banner")?.textContent ?? "").includes(`${a} (`),
      down.address,
      { timeout: 15_000 },
    );
    // The partial-answer reason is in words, without grpc-js's framing (or "circuit open", later);
    // a refused connection may carry the reconnect backoff it is waiting out.
    expect(await page.textContent("#banner")).toMatch(
      new RegExp(
        `failed: ${down.address.replace(/\./g, "\\.")} \\(((connection to ${down.address.replace(/\./g, "\\.")} failed: )?connect ECONNREFUSED ${down.address.replace(/\./g, "\\.")}( \\(reconnecting in \\d+ ms\\))?|circuit open)\\)`,
      ),
    );
    await page.$eval("#tasks-wrap", (e) => {
      e.scrollTop = 0;
    });
    await settled();
    await screenshot("dashboard-1400-down.png");
  } finally {
    await down.start();
  }
  expect(pageErrors).toEqual([]);
});

test("served under a strict CSP: script and style are files, nothing inline", async () => {
  const res = await fetch(`${c.httpBase}/`);
  const csp = res.headers.get("content-security-policy")!;
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("style-src 'self'");
  expect(csp).not.toContain("unsafe-inline");
  const html = await res.text();
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect(html).not.toMatch(/<style|\sstyle=/);
  const js = await fetch(`${c.httpBase}/dashboard.js`);
  expect(js.status).toBe(200);
  expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
  expect(await js.text()).toContain("/v1/task/list");
  const css = await fetch(`${c.httpBase}/dashboard.css`);
  expect(css.status).toBe(200);
  expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
  // The page ran with it: no CSP refusal reached the console.
  expect(pageErrors).toEqual([]);
});

test("a settled screen: 24-hour 'updated' time, filled tiles, no 'loading…' (1400 px screenshot)", async () => {
  await page.goto(`${c.httpBase}/?refresh=1`);
  // The Executor the previous test stopped is back: wait for the page to see it.
  await page.waitForFunction(() => document.getElementById("t-exec")?.textContent === "4 / 4", null, {
    timeout: 15_000,
  });
  await settled();
  expect(await page.textContent("#updated")).toMatch(/^updated \d{2}:\d{2}:\d{2}$/);
  expect(await page.textContent("body")).not.toContain("loading…");
  for (const tile of ["#t-tasks", "#t-exec", "#t-answered"]) expect(await page.textContent(tile)).not.toBe("–");
  await screenshot("dashboard-1400.png");
});

test("the filters and the selected task are in the URL: a link restores the view, Back the previous one", async () => {
  const all = ledgerInListOrder();
  await page.goto(`${c.httpBase}/?refresh=1`);
  await settled();
  await page.selectOption("#f-status", "Finished");
  await page.waitForURL(/[?&]status=Finished/);
  const finished = all.filter((t) => t.status === "Finished");
  await expectShown(finished.map((t) => t.iD));
  const key = c.sim.ledger.requesters[1]!.publicKey.toString("hex");
  await page.fill("#f-key", key);
  await page.click("#apply");
  await page.waitForURL(new RegExp(`key=${key}`));
  const both = finished.filter((t) => t.requester.toString("hex") === key);
  await expectShown(both.map((t) => t.iD));

  await page.goBack();
  await page.waitForURL((u) => !u.search.includes("key="));
  expect(await page.inputValue("#f-key")).toBe("");
  expect(await page.inputValue("#f-status")).toBe("Finished");
  await expectShown(finished.map((t) => t.iD));

  // A shared link opens on the same view, with the task's detail.
  const t = finished[0]!;
  await page.goto(`${c.httpBase}/?refresh=1&status=Finished&limit=50&task=${t.iD}`);
  await page.waitForSelector(`#detail[data-task-id="${t.iD}"]`);
  expect(await page.inputValue("#f-status")).toBe("Finished");
  expect(await page.inputValue("#f-limit")).toBe("50");
  await expectShown(finished.map((x) => x.iD));
  expect(await page.getAttribute(`#tasks-table tr[data-task-id="${t.iD}"]`, "class")).toContain("selected");
});

test("the status bar clicked is highlighted (the others dimmed); clicking it again clears the filter", async () => {
  const all = ledgerInListOrder();
  await page.goto(`${c.httpBase}/?refresh=1`);
  await settled();
  await page.click('#status-chart g[data-status="Finished"] rect');
  await expectShown(all.filter((t) => t.status === "Finished").map((t) => t.iD));
  await page.waitForSelector('#status-chart g[data-status="Finished"].selected');
  const bars = await page.$$eval("#status-chart g[data-status]", (gs) =>
    gs.map((g) => [g.getAttribute("data-status"), g.getAttribute("class"), g.getAttribute("aria-pressed")]),
  );
  for (const [s, cls, pressed] of bars) {
    expect(pressed).toBe(String(s === "Finished"));
    expect(cls).toContain(s === "Finished" ? "selected" : "dimmed");
  }
  const stroke = await page.$eval(
    '#status-chart g[data-status="Finished"] rect',
    (r) =>
      (
        r.ownerDocument.defaultView as unknown as { getComputedStyle(e: unknown): { strokeWidth: string } }
      ).getComputedStyle(r).strokeWidth,
  );
  expect(stroke).toBe("2px");
  await settled();
  await screenshot("dashboard-1400-status.png");
  await page.click('#status-chart g[data-status="Finished"] rect');
  await expectShown(all.map((t) => t.iD));
  expect(await page.$$eval("#status-chart g.selected, #status-chart g.dimmed", (gs) => gs.length)).toBe(0);
});

test("at 800 px the detail opens right under the clicked row, on screen (screenshots)", async () => {
  await page.setViewportSize({ width: 800, height: 900 });
  try {
    await page.goto(`${c.httpBase}/?refresh=1`);
    await settled();
    await screenshot("dashboard-800.png");
    const all = ledgerInListOrder();
    const t = all[Math.min(10, all.length - 1)]!;
    const row = page.locator(`#tasks-table > tbody > tr[data-task-id="${t.iD}"]`);
    await row.scrollIntoViewIfNeeded();
    await row.click();
    await page.waitForSelector(`#detail[data-task-id="${t.iD}"] #datasets-table`);
    // The detail is the row right after the clicked one, and it is in the viewport.
    const next = await page.$eval(
      `#tasks-table > tbody > tr[data-task-id="${t.iD}"]`,
      (r) => r.nextElementSibling?.id ?? "",
    );
    expect(next).toBe("detail-row");
    const rowBox = (await row.boundingBox())!;
    const detailBox = (await page.locator("#detail-card").boundingBox())!;
    expect(detailBox.y - (rowBox.y + rowBox.height)).toBeLessThan(20);
    expect(detailBox.y).toBeGreaterThanOrEqual(-1);
    expect(detailBox.y).toBeLessThan(900);
    await settled();
    // Still under its row after a timed refresh redraws the table.
    expect(
      await page.$eval(`#tasks-table > tbody > tr[data-task-id="${t.iD}"]`, (r) => r.nextElementSibling?.id ?? ""),
    ).toBe("detail-row");
    await screenshot("dashboard-800-detail.png");
  } finally {
    await page.setViewportSize({ width: 1400, height: 900 });
  }
  // Back at full width the detail returns to the right-hand column.
  await page.waitForSelector("#right > #detail-card");
  expect(pageErrors).toEqual([]);
});

test("a failed list clears the old rows and says why (bad limit; no Executor answering)", async () => {
  await page.goto(`${c.httpBase}/?refresh=1`);
  await settled();
  expect((await shownIds()).length).toBeGreaterThan(0);
  await page.fill("#f-limit", "-5");
  await page.click("#apply");
  await page.waitForSelector("#tasks-empty.err:not([hidden])");
  expect(await shownIds()).toEqual([]);
  expect(await page.textContent("#tasks-empty")).toContain("limit must be");
  expect(await page.textContent("#t-tasks")).toBe("–");

  await page.fill("#f-limit", "200");
  await page.click("#apply");
  await expectShown(ledgerInListOrder().map((t) => t.iD));
  // Every Executor failing, for a key no cached answer covers: the gateway answers UNAVAILABLE.
  for (const e of c.sim.executors) e.mode = "error";
  try {
    await page.fill("#f-key", c.sim.keys[0]!.publicKey.toString("hex"));
    await page.click("#apply");
    await page.waitForSelector("#tasks-empty.err:not([hidden])");
    expect(await shownIds()).toEqual([]);
    expect(await page.textContent("#tasks-empty")).toMatch(/^Could not list tasks: /);
    expect(await page.textContent("#banner")).toMatch(/Tasks: /);
    await settled();
    await screenshot("dashboard-1400-error.png");
  } finally {
    for (const e of c.sim.executors) e.mode = "ok";
  }
});
