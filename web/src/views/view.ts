import type { Session } from '../session.js';

/** A page of the app: it owns its DOM and everything it started (sockets, players, timers) until unmounted. */
export interface View {
  readonly el: HTMLElement;
  unmount(): void;
}

export interface ViewContext {
  session: Session;
  setTitle(title: string): void;
}
