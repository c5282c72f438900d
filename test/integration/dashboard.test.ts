/**
 * The dashboard in a real headless Chromium (Debian `chromium`, driven by
 * playwright-core): it loads, shows the simulated cluster's tasks newest first with
 * status counts, filters by status, key and time, shows a task's holders, and shows an
 * Executor taken down as down. Saves test-artifacts/dashboard.png.
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
  return page.$$eval("#tasks-table tbody tr", (rows) => rows.map((r) => r.getAttribute("data-task-id") ?? ""));
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
    viewport: { width: 1440, height: 900 },
    timezoneId: "UTC",
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on("pageerror", (e) => pageErrors.push(e.message));
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
    expect(await page.textContent("#banner")).toContain(down.address);
    await page.$eval("#tasks-wrap", (e) => {
      e.scrollTop = 0;
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "dashboard.png") });
    expect(existsSync(path.join(ARTIFACTS, "dashboard.png"))).toBe(true);
  } finally {
    await down.start();
  }
  expect(pageErrors).toEqual([]);
});
