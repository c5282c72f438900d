/**
 * The one notification style of the code base: a typed topic that subscribers join
 * and leave. Publishing calls every subscriber synchronously, in subscription order;
 * a subscriber that throws does not stop the others (its error is reported to
 * `onError`, by default rethrown asynchronously so it is never silently lost).
 */
export type Unsubscribe = () => void;

export class Topic<E> {
  private readonly subscribers = new Set<(event: E) => void>();

  constructor(
    private readonly onError: (err: unknown) => void = (err) =>
      queueMicrotask(() => {
        throw err;
      }),
  ) {}

  subscribe(fn: (event: E) => void): Unsubscribe {
    const wrapped = (e: E): void => fn(e);
    this.subscribers.add(wrapped);
    return () => {
      this.subscribers.delete(wrapped);
    };
  }

  publish(event: E): void {
    for (const fn of this.subscribers) {
      try {
        fn(event);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  get size(): number {
    return this.subscribers.size;
  }
}
