/** The part of dependency-cruiser's JSON result that the architecture test reads. */
export interface Cruise {
  modules: Array<{ source: string; dependencies: Array<{ resolved: string; coreModule?: boolean; couldNotResolve?: boolean }> }>;
  summary: { violations: Array<{ rule: { name: string }; from: string; to: string; cycle?: Array<string | { name: string }> }> };
}

/** The room of a module: its first folder under src/ (`src/app.ts` is the room `app.ts`). */
function roomOf(path: string): string | undefined {
  const m = /^src\/([^/]+)/.exec(path);
  return m?.[1];
}

/** Rooms and the rooms each imports (tests excluded by the cruise's own options). */
export function folderGraph(result: Cruise): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const mod of result.modules) {
    const from = roomOf(mod.source);
    if (from === undefined) continue;
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const dep of mod.dependencies) {
      const to = roomOf(dep.resolved);
      if (to !== undefined && to !== from) edges.add(to);
    }
  }
  return graph;
}

/** Each strongly connected set of two or more rooms (Tarjan), sorted: rooms that import each other. */
export function folderCycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) cycles.push(scc.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) visit(v);
  return cycles.sort((a, b) => a.join().localeCompare(b.join()));
}
