/** One MQTT publication waiting for the broker. */
export interface OutgoingMessage {
  topic: string;
  payload: string | Buffer;
  retain: boolean;
  qos: 0 | 1;
}

/**
 * What waits for the broker, in bounded memory, so that a broker that is down or slow costs nothing
 * but dropped events. Retained messages are state (availability, camera state, discovery configs,
 * snapshots): only the newest per topic matters, so they are kept by topic and never dropped — their
 * number is bounded by the topics. Other messages (events) are kept in order up to `maxMessages`;
 * beyond it the oldest is dropped and counted.
 */
export class PublishQueue {
  private readonly retained = new Map<string, OutgoingMessage>();
  private readonly others: OutgoingMessage[] = [];
  private droppedCount = 0;

  constructor(private readonly maxMessages: number) {}

  /** Adds a message; returns true when an older event had to be dropped for it. */
  push(m: OutgoingMessage): boolean {
    if (m.retain) {
      // Replacing keeps the topic's place: availability, queued first, stays first.
      this.retained.set(m.topic, m);
      return false;
    }
    this.others.push(m);
    if (this.others.length <= this.maxMessages) return false;
    this.others.shift();
    this.droppedCount++;
    return true;
  }

  /** The next message to send: state before events, each in the order queued. */
  shift(): OutgoingMessage | undefined {
    const first = this.retained.entries().next();
    if (!first.done) {
      this.retained.delete(first.value[0]);
      return first.value[1];
    }
    return this.others.shift();
  }

  get size(): number {
    return this.retained.size + this.others.length;
  }

  /** Events dropped since the queue was made (never reset: a counter that only moves forward). */
  get dropped(): number {
    return this.droppedCount;
  }
}
