import { describe, expect, it } from 'vitest';
import { PublishQueue, type OutgoingMessage } from './publish-queue.js';

const ev = (n: number): OutgoingMessage => ({ topic: 'v/events/e', payload: String(n), retain: false, qos: 1 });
const state = (topic: string, payload: string): OutgoingMessage => ({ topic, payload, retain: true, qos: 1 });

function drain(q: PublishQueue): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  for (let m = q.shift(); m; m = q.shift()) out.push(m);
  return out;
}

describe('the MQTT publish queue', () => {
  it('keeps at most maxMessages events, dropping the oldest and counting every drop', () => {
    const q = new PublishQueue(3);
    const dropped = [1, 2, 3, 4, 5].map((n) => q.push(ev(n)));
    expect(dropped).toEqual([false, false, false, true, true]);
    expect(q.dropped).toBe(2);
    expect(drain(q).map((m) => m.payload)).toEqual(['3', '4', '5']);
    expect(q.dropped).toBe(2);
  });

  it('keeps only the newest retained message per topic, never drops one, and sends state before events', () => {
    const q = new PublishQueue(1);
    q.push(state('v/availability', 'online'));
    q.push(ev(1));
    q.push(state('v/cameras/a/state', '{"n":1}'));
    q.push(ev(2));
    for (let i = 2; i <= 100; i++) q.push(state('v/cameras/a/state', `{"n":${i}}`));
    q.push(state('v/availability', 'offline'));
    expect(q.size).toBe(3);
    expect(drain(q).map((m) => [m.topic, String(m.payload)])).toEqual([
      // availability keeps the place it was first queued at: it goes first.
      ['v/availability', 'offline'],
      ['v/cameras/a/state', '{"n":100}'],
      ['v/events/e', '2'],
    ]);
    expect(q.dropped).toBe(1);
  });

  it('an empty retained payload (a removal) replaces the state it removes', () => {
    const q = new PublishQueue(10);
    q.push(state('ha/camera/n/a_snapshot/config', '{}'));
    q.push(state('ha/camera/n/a_snapshot/config', ''));
    expect(drain(q)).toEqual([state('ha/camera/n/a_snapshot/config', '')]);
  });
});
