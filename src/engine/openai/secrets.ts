/**
 * What the client must never print: the API key, credentials in the base URL (`user:password@`), the values of
 * auth-like request headers. URLs are stored without their credentials (splitCredentials), so no log line can
 * show them; what a server sends back (error messages, malformed headers) may quote a secret, so every failure
 * text passes through a Redactor before it reaches a log, a report or the console.
 */

/** Header names whose values are secrets: Authorization, X-Api-Key, Cookie, X-Auth-Token, ... */
const SECRET_HEADER = /auth|key|token|secret|passw|cookie|session|signature|credential/i;

export function isSecretHeader(name: string): boolean {
  return SECRET_HEADER.test(name);
}

/** The URL without `user:password@`, and those credentials as an HTTP Basic authorization value, if any. */
export function splitCredentials(url: string): { url: string; basic: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, basic: undefined };
  }
  if (u.username === "" && u.password === "") return { url, basic: undefined };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  u.username = "";
  u.password = "";
  return { url: u.toString(), basic: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` };
}

/** A URL as it may be printed: credentials masked, also in text that does not parse as a URL. */
export function displayUrl(raw: string): string {
  return raw.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, "$1***@");
}

/** Replaces every known secret in a text with `***`. */
export class Redactor {
  private readonly secrets: string[];

  constructor(secrets: Iterable<string | undefined>) {
    const found = new Set<string>();
    for (const s of secrets) {
      if (s === undefined) continue;
      found.add(s);
      // A bearer or basic value is also a secret without its scheme; basic credentials also as user:password.
      const m = /^(?:bearer|basic)\s+(.+)$/i.exec(s);
      if (m) {
        found.add(m[1]!);
        if (/^basic/i.test(s)) {
          const plain = Buffer.from(m[1]!, "base64").toString("utf8");
          found.add(plain);
          const colon = plain.indexOf(":");
          if (colon >= 0) found.add(plain.slice(colon + 1));
        }
      }
    }
    // Very short values would mask ordinary text; longest first, so a secret's parts do not break its masking.
    this.secrets = [...found].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join("***");
    return out;
  }
}
