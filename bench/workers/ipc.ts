/** The worker side of lib/child.ts: one handler per message type, replies over IPC. */
export type Handler = (msg: Record<string, unknown>) => Promise<Record<string, unknown>>;

export function serveIpc(handlers: Record<string, Handler>, onStop: () => Promise<void>): void {
  process.on("message", (msg: Record<string, unknown>) => {
    const type = String(msg.type);
    if (type === "stop") {
      onStop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
      return;
    }
    const h = handlers[type];
    if (!h) {
      process.send!({ type: "error", message: `unknown command ${type}` });
      return;
    }
    h(msg).then(
      (reply) => process.send!({ type: "ok", ...reply }),
      (err: Error) => process.send!({ type: "error", message: err.stack ?? err.message }),
    );
  });
  process.on("disconnect", () => {
    void onStop().finally(() => process.exit(0));
  });
}
