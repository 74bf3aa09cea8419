/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4, and the OpenMetrics text that servers
 * send for the same request): every sample line becomes { name, labels, value }, `# TYPE` lines give the
 * families' types, and any line that is not valid fails the whole body with its line number. Written here
 * rather than taken from npm: see docs/architecture.md ("Dependencies").
 */

export interface PromSample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface PromExposition {
  samples: PromSample[];
  /** `# TYPE` declarations: family name → counter, gauge, histogram, summary, untyped (lower case). */
  types: Map<string, string>;
}

export class PromParseError extends Error {
  constructor(
    readonly line: number,
    detail: string,
  ) {
    super(`line ${line}: ${detail}`);
    this.name = "PromParseError";
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set([
  "counter",
  "gauge",
  "histogram",
  "summary",
  "untyped",
  "gaugehistogram",
  "info",
  "stateset",
  "unknown",
]);
/** Go's strconv.ParseFloat forms that Prometheus writes, plus plain decimal and exponent numbers. */
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseValue(raw: string, line: number): number {
  if (NUMBER.test(raw)) return Number(raw);
  switch (raw) {
    case "NaN":
      return Number.NaN;
    case "+Inf":
    case "Inf":
      return Number.POSITIVE_INFINITY;
    case "-Inf":
      return Number.NEGATIVE_INFINITY;
    default:
      throw new PromParseError(line, `'${raw.slice(0, 40)}' is not a sample value`);
  }
}

const LABEL = /[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*(,[ \t]*\}|,|\})/y;

function unescapeLabel(v: string, name: string, line: number): string {
  if (!v.includes("\\")) return v;
  return v.replace(/\\(.)/g, (_, e: string) => {
    if (e === "\\" || e === '"') return e;
    if (e === "n") return "\n";
    throw new PromParseError(line, `label '${name}': invalid escape '\\${e}'`);
  });
}

/** The label set after `{` at `start`: the labels and the index after `}`. */
function parseLabels(
  s: string,
  start: number,
  line: number,
): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  const empty = /[ \t]*\}/y;
  empty.lastIndex = start;
  if (empty.test(s)) return { labels, end: empty.lastIndex };
  let at = start;
  for (;;) {
    LABEL.lastIndex = at;
    const m = LABEL.exec(s);
    if (m === null) throw new PromParseError(line, `invalid label set at column ${at + 1}`);
    at = LABEL.lastIndex;
    const name = m[1]!;
    if (Object.hasOwn(labels, name)) throw new PromParseError(line, `label '${name}' repeated`);
    labels[name] = unescapeLabel(m[2]!, name, line);
    // A trailing comma before the brace is allowed by the text format.
    if (m[3] !== ",") return { labels, end: at };
  }
}

function parseSample(s: string, line: number): PromSample {
  let i = 0;
  while (i < s.length && s[i] !== "{" && s[i] !== " " && s[i] !== "\t") i++;
  const name = s.slice(0, i);
  if (!NAME.test(name)) throw new PromParseError(line, `'${name.slice(0, 60)}' is not a metric name`);
  let labels: Record<string, string> = {};
  if (s[i] === "{") {
    const r = parseLabels(s, i + 1, line);
    labels = r.labels;
    i = r.end;
  }
  // OpenMetrics exemplars (` # {...} v`) follow the value; they are not part of it.
  const hash = s.indexOf(" # ", i);
  const rest = (hash >= 0 ? s.slice(i, hash) : s.slice(i)).trim();
  if (rest.length === 0) throw new PromParseError(line, `'${name}' has no value`);
  const parts = rest.split(/[ \t]+/);
  if (parts.length > 2) throw new PromParseError(line, `'${name}': unexpected text after the value`);
  const value = parseValue(parts[0]!, line);
  if (parts.length === 2 && !NUMBER.test(parts[1]!)) {
    throw new PromParseError(line, `'${name}': '${parts[1]!.slice(0, 40)}' is not a timestamp`);
  }
  return { name, labels, value };
}

const L = String.raw`[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"(?:[^"\\\n]|\\[\\"n])*"`;
const V = String.raw`[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]?Inf`;
/**
 * A whole valid sample line in one match, so the lines a caller does not keep are validated without building
 * anything (a vLLM exposition is mostly histogram buckets). Lines it does not match take the detailed path, which
 * either reads them or names what is wrong.
 */
const SAMPLE_LINE = new RegExp(
  String.raw`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[ \t]*(?:${L}(?:[ \t]*,[ \t]*${L})*[ \t]*,?[ \t]*)?\})?[ \t]+(?:${V})(?:[ \t]+[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)?(?:[ \t]+# .*)?[ \t]*$`,
);

/**
 * Parses a whole exposition body; throws PromParseError naming the first invalid line. With `keep`, only the
 * samples whose name it accepts are returned (every line is still validated; repeated label names are checked
 * on the samples returned).
 */
export function parsePrometheusText(text: string, keep?: (name: string) => boolean): PromExposition {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  const lines = text.split("\n");
  for (let k = 0; k < lines.length; k++) {
    const raw = lines[k]!;
    const s = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const line = k + 1;
    if (s.trim().length === 0) continue;
    if (s.startsWith("#")) {
      const m = /^#\s+(TYPE|HELP|UNIT)\s+(\S+)(?:\s+(.*))?$/.exec(s);
      if (!m) continue; // a plain comment (or OpenMetrics' `# EOF`)
      if (!NAME.test(m[2]!)) throw new PromParseError(line, `'${m[2]!.slice(0, 60)}' is not a metric name`);
      if (m[1] === "TYPE") {
        const type = (m[3] ?? "").trim().toLowerCase();
        if (!TYPES.has(type)) throw new PromParseError(line, `unknown metric type '${type.slice(0, 20)}'`);
        types.set(m[2]!, type);
      }
      continue;
    }
    const t = s.trimStart();
    if (keep) {
      const m = SAMPLE_LINE.exec(t);
      if (m && !keep(m[1]!)) continue;
      if (!m) {
        const sample = parseSample(t, line);
        if (keep(sample.name)) samples.push(sample);
        continue;
      }
    }
    samples.push(parseSample(t, line));
  }
  return { samples, types };
}
