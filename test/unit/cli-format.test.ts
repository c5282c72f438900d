/** The CLI's formatting helpers: local times, tables, CSV, the derived HTTP URL. */
import fc from "fast-check";
import { httpBase, httpUrlFor } from "../../src/cli/executors";
import { localTime, parseLocalTime, table, toCsv } from "../../src/cli/format";

describe("local date-times", () => {
  test("parseLocalTime reads back what localTime prints (whatever the zone, DST included)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4_000_000_000 }), (sec) => {
        const shown = localTime(BigInt(sec) * 1_000_000_000n);
        return localTime(parseLocalTime(shown, "--start")) === shown;
      }),
    );
  });

  test("an ISO time with a zone is taken as written; 0 prints as '-'", () => {
    expect(parseLocalTime("2026-11-28T10:00:00Z", "--end")).toBe(BigInt(Date.UTC(2026, 10, 28, 10)) * 1_000_000n);
    expect(parseLocalTime("2026-11-28T10:00:00+05:30", "--end")).toBe(
      BigInt(Date.UTC(2026, 10, 28, 4, 30)) * 1_000_000n,
    );
    expect(localTime(0n)).toBe("-");
    expect(() => parseLocalTime("28/11/2026", "--start")).toThrow(/--start: expected a local date-time/);
  });
});

describe("table and CSV", () => {
  test("columns line up at two-space gaps", () => {
    const out = table(
      ["A", "LONGER"],
      [
        ["xyz", "1"],
        ["q", "22"],
      ],
    );
    expect(out).toBe("A    LONGER\nxyz  1\nq    22\n");
  });

  test("CSV quotes exactly the cells that need it and round-trips through a reader", () => {
    const rows = [
      ["id", "note"],
      ["1", 'say "hi", twice'],
      ["2", "line\nbreak"],
    ];
    expect(toCsv(rows)).toBe('id,note\r\n1,"say ""hi"", twice"\r\n2,"line\nbreak"\r\n');
  });
});

test("the executors command derives the HTTP URL from --host", () => {
  expect(httpUrlFor("gw.example:8184", false)).toBe("http://gw.example:9184");
  expect(httpUrlFor("[::1]:8184", true)).toBe("https://[::1]:9184");
  expect(httpUrlFor("10.0.0.5", false)).toBe("http://10.0.0.5:9184");
});

test("--http takes a URL as given, or a bare host:port with the scheme --tls implies", () => {
  expect(httpBase("http://gw.example:9184/", false)).toBe("http://gw.example:9184");
  expect(httpBase("gw.example:9184", false)).toBe("http://gw.example:9184");
  expect(httpBase("[::1]:9184", true)).toBe("https://[::1]:9184");
  // Another scheme stays, for getJson to name it.
  expect(httpBase("ftp://10.0.0.1:9184", false)).toBe("ftp://10.0.0.1:9184");
});
