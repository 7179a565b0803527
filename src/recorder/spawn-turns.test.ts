import { describe, expect, it } from 'vitest';
import { spawnTurn } from './spawn-turns.js';

describe('spawnTurn', () => {
  it('gives each caller a turn of the event loop of its own, in the order asked, with I/O callbacks between', async () => {
    // A loop turn counter: one increment per check phase.
    let turn = 0;
    let running = true;
    const tick = () => {
      turn++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const seen: Array<{ who: number; turn: number }> = [];
    // Asked all at once, as sixteen recorders starting together do.
    await Promise.all([0, 1, 2, 3].map((who) => spawnTurn().then(() => seen.push({ who, turn }))));
    running = false;
    expect(seen.map((s) => s.who)).toEqual([0, 1, 2, 3]);
    // Never two in one turn: the loop went round (timers, sockets) between any two.
    const turns = seen.map((s) => s.turn);
    expect(new Set(turns).size).toBe(4);
    for (let i = 1; i < turns.length; i++) expect(turns[i]!).toBeGreaterThan(turns[i - 1]!);
  });
});
