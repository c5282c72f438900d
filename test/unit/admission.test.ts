/** Call admission: global and per-connection limits, release, and draining for shutdown. */
import { status as Status } from "@grpc/grpc-js";
import { CallAdmission } from "../../src/api/admission";
import { ApiError } from "../../src/api/validate";

const codeOf = (fn: () => unknown): Status | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as ApiError).code;
  }
};

test("limits calls per connection and gateway-wide, and frees slots on release", () => {
  const a = new CallAdmission({ maxConcurrentCalls: 3, maxConcurrentCallsPerConnection: 2 });
  const refused: string[] = [];
  a.refusals.subscribe((why) => refused.push(why));
  const r1 = a.enter("peer-a");
  a.enter("peer-a");
  expect(codeOf(() => a.enter("peer-a"))).toBe(Status.RESOURCE_EXHAUSTED);
  const r3 = a.enter("peer-b");
  expect(codeOf(() => a.enter("peer-c"))).toBe(Status.RESOURCE_EXHAUSTED);
  expect(refused).toEqual(["connection", "global"]);
  r1();
  r1(); // releasing twice frees one slot only
  expect(a.active).toBe(2);
  expect(codeOf(() => a.enter("peer-a"))).toBeUndefined();
  expect(codeOf(() => a.enter("peer-c"))).toBe(Status.RESOURCE_EXHAUSTED);
  r3();
  expect(codeOf(() => a.enter("peer-c"))).toBeUndefined();
});

test("draining refuses new calls with UNAVAILABLE and resolves when the last call ends", async () => {
  const a = new CallAdmission({ maxConcurrentCalls: 10, maxConcurrentCallsPerConnection: 10 });
  const r1 = a.enter("p");
  const r2 = a.enter("p");
  let drained: boolean | undefined;
  const done = a.drain(5000).then((d) => (drained = d));
  expect(codeOf(() => a.enter("q"))).toBe(Status.UNAVAILABLE);
  r1();
  await new Promise((r) => setImmediate(r));
  expect(drained).toBeUndefined();
  r2();
  await done;
  expect(drained).toBe(true);
});

test("draining gives up after the grace period", async () => {
  const a = new CallAdmission({ maxConcurrentCalls: 10, maxConcurrentCallsPerConnection: 10 });
  a.enter("p");
  await expect(a.drain(30)).resolves.toBe(false);
  await expect(
    new CallAdmission({ maxConcurrentCalls: 1, maxConcurrentCallsPerConnection: 1 }).drain(1000),
  ).resolves.toBe(true);
});
