import type { Logger } from 'pino';
import type { User } from '../auth/user-store.js';

/** What middleware puts on `ctx.state` for the handlers after it. */
export interface AppState {
  requestId: string;
  /** The request's child logger: carries worker and request id. */
  log: Logger;
  user?: User;
  token?: string;
}
