/**
 * A strict parser of the Prometheus text exposition format 0.0.4 (what `/metrics` serves), for
 * tests: no maintained parser is among the installed packages. It throws on anything the format does
 * not allow — a bad metric or label name, a broken escape, a duplicate series, a sample before or
 * outside its family's TYPE, two TYPE or HELP lines for one family, histogram buckets that are not
 * cumulative or whose +Inf bucket differs from `_count` — so a malformed scrape fails the test.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, … for a histogram family `x`). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string | undefined;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES: readonly string[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const helpSeen = new Set<string>();
  let current: Family | undefined;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${line.slice(0, 120)}`;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest = ''] = m as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
      if (!METRIC_NAME.test(name)) throw new Error(`bad metric name in ${where}`);
      const fam = families.get(name) ?? { name, type: 'untyped' as MetricType, help: undefined, samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.includes(rest.trim())) throw new Error(`unknown type in ${where}`);
        if (families.has(name) && (families.get(name) as Family).samples.length > 0) throw new Error(`TYPE after samples in ${where}`);
        if (seen.has(`type:${name}`)) throw new Error(`second TYPE for ${name} in ${where}`);
        seen.add(`type:${name}`);
        fam.type = rest.trim() as MetricType;
      } else {
        if (helpSeen.has(name)) throw new Error(`second HELP for ${name} in ${where}`);
        helpSeen.add(name);
        fam.help = unescapeHelp(rest, where);
      }
      families.set(name, fam);
      current = fam;
      continue;
    }
    const sample = parseSample(line, where);
    const fam = familyOf(sample.name, current, families);
    if (!fam) throw new Error(`sample outside its family in ${where}`);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seen.has(key)) throw new Error(`duplicate series in ${where}`);
    seen.add(key);
    fam.samples.push(sample);
  }
  for (const fam of families.values()) if (fam.type === 'histogram') checkHistogram(fam);
  return families;
}

/** The family a sample belongs to: the one being read, by its own name or a histogram/summary suffix. */
function familyOf(name: string, current: Family | undefined, families: Map<string, Family>): Family | undefined {
  if (current && (name === current.name || ((current.type === 'histogram' || current.type === 'summary') && /_(bucket|sum|count)$/.test(name) && name.replace(/_(bucket|sum|count)$/, '') === current.name))) return current;
  // A family without a TYPE line is untyped; no family may continue after another one began.
  const base = name.replace(/_(bucket|sum|count)$/, '');
  if (families.has(name) || families.get(base)?.type === 'histogram' || families.get(base)?.type === 'summary') {
    throw new Error(`family ${base} is interleaved with another`);
  }
  const fam: Family = { name, type: 'untyped', help: undefined, samples: [] };
  families.set(name, fam);
  return fam;
}

function parseSample(line: string, where: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
  if (!m) throw new Error(`bad sample name in ${where}`);
  const name = m[1] as string;
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos++;
    for (;;) {
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const ln = /^([^=\s]+)="/.exec(line.slice(pos));
      if (!ln || !LABEL_NAME.test(ln[1] as string)) throw new Error(`bad label name in ${where}`);
      const labelName = ln[1] as string;
      if (labelName in labels) throw new Error(`duplicate label ${labelName} in ${where}`);
      pos += ln[0].length;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) throw new Error(`unterminated label value in ${where}`);
        pos++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos++];
          if (e === '\\') value += '\\';
          else if (e === '"') value += '"';
          else if (e === 'n') value += '\n';
          else throw new Error(`bad escape in label value in ${where}`);
        } else value += c;
      }
      labels[labelName] = value;
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') throw new Error(`expected , or } in ${where}`);
    }
  }
  const rest = line.slice(pos);
  const v = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!v) throw new Error(`bad value in ${where}`);
  return { name, labels, value: parseValue(v[1] as string, where) };
}

function parseValue(s: string, where: string): number {
  if (s === 'NaN') return NaN;
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad number in ${where}`);
  return Number(s);
}

function unescapeHelp(s: string, where: string): string {
  return s.replace(/\\(.)/g, (_m, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    throw new Error(`bad escape in HELP in ${where}`);
  });
}

/** Per label set (without `le`): buckets cumulative in `le` order, ending at +Inf = `_count`. */
function checkHistogram(fam: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
  for (const s of fam.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    if (s.name === `${fam.name}_bucket`) {
      if (le === undefined) throw new Error(`${fam.name}: bucket without le`);
      g.buckets.push([parseValue(le, `${fam.name} le`), s.value]);
    } else if (s.name === `${fam.name}_count`) g.count = s.value;
    groups.set(key, g);
  }
  for (const [key, g] of groups) {
    const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < sorted.length; i++) if ((sorted[i] as [number, number])[1] < (sorted[i - 1] as [number, number])[1]) throw new Error(`${fam.name}${key}: buckets not cumulative`);
    const inf = sorted.at(-1);
    if (!inf || inf[0] !== Infinity) throw new Error(`${fam.name}${key}: no +Inf bucket`);
    if (g.count !== inf[1]) throw new Error(`${fam.name}${key}: +Inf bucket ${inf[1]} differs from _count ${g.count}`);
  }
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when none, an error when several. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const matches = [...families.values()]
    .flatMap((f) => f.samples)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length > 1) throw new Error(`${matches.length} series of ${name} match ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}

export function seriesCount(families: Map<string, Family>): number {
  let n = 0;
  for (const f of families.values()) n += f.samples.length;
  return n;
}
