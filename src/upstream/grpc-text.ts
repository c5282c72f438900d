/**
 * grpc-js's failure texts made readable for people: "No connection established. Last
 * error: Error: connect ECONNREFUSED 127.0.0.1:1 (2026-12-01T21:43:07.123Z). Resolution
 * note: " becomes "connect ECONNREFUSED 127.0.0.1:1". Pure, so the CLI and the Executor
 * status (LAST ERROR) say the same thing. Cut only at sentence ends and known noise, never
 * inside a word, an address or a time.
 */

/** The SSL reason of an OpenSSL error string ("wrong version number"), if there is one. */
function sslReason(text: string): string | undefined {
  // error:0A00010B:SSL routines:ssl3_get_record:wrong version number
  // or, OpenSSL 3 without the function name: error:0A00010B:SSL routines::wrong version number
  const m = /SSL routines:[^:\s]*:([^:\n]+?)(?::[^\n]*)?(?:\s*\(|\.\s|\.$|\n|$)/.exec(text);
  const reason = m?.[1]?.trim();
  return reason ? reason : undefined;
}

/** One line saying what went wrong, from a grpc-js `details` text. */
export function cleanGrpcDetails(details: string): string {
  let s = details.replace(/\s+/g, " ").trim();
  const ssl = sslReason(details);
  if (ssl) return `TLS handshake failed (${ssl})`;
  // "... Resolution note: <nothing or a note>" — keep a note that says something.
  const note = /\.?\s*Resolution note:\s*(.*)$/.exec(s);
  if (note) s = s.slice(0, note.index) + (note[1]!.trim() ? ` (resolution: ${note[1]!.trim()})` : "");
  s = s
    .replace(/^No connection established\.?\s*/i, "")
    .replace(/^Last error:?\s*/i, "")
    .replace(/^(?:Error:\s*)+/, "")
    // grpc-js appends when it happened: " (2026-12-01T21:43:07.123Z)".
    .replace(/\s*\(\d{4}-\d{2}-\d{2}T[\d:.]+Z\)/g, "")
    .replace(/\s*\.\s*$/, "")
    .trim();
  if (/^Protocol error$/i.test(s)) s = "Protocol error (not a gRPC server: is this the HTTP port?)";
  return s || details.trim();
}

/** True for the UNAVAILABLE texts grpc-js uses when it reached no server at all. */
export function isNoConnection(details: string): boolean {
  return /No connection established|Connection dropped|Failed to connect|connect E[A-Z]+|SSL routines|getaddrinfo|Name resolution failed/i.test(
    details,
  );
}

/** At most `max` characters, cut at a word boundary with an ellipsis. */
export function shortText(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.slice(0, max - 1);
  const space = cut.lastIndexOf(" ");
  return `${space > max / 2 ? cut.slice(0, space) : cut}…`;
}
