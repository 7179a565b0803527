/** Bounds of one WS-Discovery round (the API refuses anything outside them). No imports: the page's types read this file too. */
export const DISCOVERY_TIMEOUT_MIN_MS = 500;
export const DISCOVERY_TIMEOUT_MAX_MS = 15_000;
