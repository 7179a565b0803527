/** Who asked: routes pass their request id, so the events they cause carry it (background work passes null). */
export interface Actor {
  requestId: string | null;
}
