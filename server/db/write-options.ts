/** What a store's write takes besides its input. */
export interface WriteOptions {
  /** The request's cancellation (request-deadline.ts), passed to every statement of the write. */
  readonly signal?: AbortSignal | undefined;
}
