/**
 * A user value as an error message quotes it: its kind for containers (never their contents, which may be
 * nested arbitrarily deep or be huge: stringifying them recurses once per level), strings cut to 40 characters
 * and JSON-quoted (so control characters show escaped), numbers and booleans as they are.
 */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}
