/**
 * Which proxy, if any, a target URL goes through, from the environment as curl, Python requests and undici read
 * it: `http_proxy` / `HTTP_PROXY` for http:// targets, `https_proxy` / `HTTPS_PROXY` for https:// ones (the
 * lower-case name first; an empty value is unset), and `no_proxy` / `NO_PROXY` to bypass the proxy:
 *
 * - comma- or space-separated entries; `*` alone bypasses every host;
 * - a name matches itself and its subdomains (`example.com`, `.example.com` and `*.example.com` all match
 *   `api.example.com` and `example.com`), case-insensitively;
 * - an IP address matches itself, a CIDR block (`10.0.0.0/8`, `fd00::/8`) every address in it;
 * - `:port` after an entry limits it to that port (`[::1]:8000` for IPv6).
 *
 * A proxy value without a scheme is http:// (as curl reads `proxy:3128`). Bad values are usage errors that name
 * the variable and show the value with any `user:password@` masked.
 */
import net from "node:net";
import { UsageError } from "../../errors.ts";
import { displayUrl } from "./secrets.ts";

export interface ProxyChoice {
  /** The proxy's URL as given (it may carry `user:password@`: never print it, use `shown`). */
  url: string;
  /** The URL with credentials masked, for logs and messages. */
  shown: string;
  /** The variable it came from, e.g. `HTTPS_PROXY`. */
  from: string;
}

type Env = Readonly<Record<string, string | undefined>>;

function read(env: Env, name: string): { name: string; value: string } | undefined {
  for (const n of [name.toLowerCase(), name.toUpperCase()]) {
    const v = env[n]?.trim();
    if (v) return { name: n, value: v };
  }
  return undefined;
}

/** The proxy for `target` (an http: or https: URL), or undefined for a direct connection. */
export function proxyFor(target: URL, env: Env = process.env): ProxyChoice | undefined {
  const v = read(env, target.protocol === "https:" ? "https_proxy" : "http_proxy");
  if (v === undefined) return undefined;
  const raw = /^[a-z][a-z0-9+.-]*:\/\//i.test(v.value) ? v.value : `http://${v.value}`;
  const shown = displayUrl(raw);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`${v.name} '${shown}' is not a URL (http://[user:password@]host:port)`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new UsageError(`${v.name} '${shown}': the proxy must be http:// or https://, not ${u.protocol}//`);
  if (u.hostname === "") throw new UsageError(`${v.name} '${shown}' has no host`);
  const noProxy = read(env, "no_proxy");
  if (noProxy !== undefined && bypasses(target, noProxy.value, noProxy.name)) return undefined;
  return { url: raw, shown, from: v.name };
}

/** Whether a NO_PROXY list names the target's host (and port). */
export function bypasses(target: URL, list: string, varName = "NO_PROXY"): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = Number(target.port) || (target.protocol === "https:" ? 443 : 80);
  for (const raw of list.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    const { name, port: p } = splitPort(entry, varName);
    if (p !== undefined && p !== port) continue;
    if (name.includes("/")) {
      if (inCidr(host, name, varName)) return true;
      continue;
    }
    if (net.isIP(name) !== 0) {
      if (net.isIP(host) !== 0 && sameAddress(host, name)) return true;
      continue;
    }
    const domain = name.replace(/^\*?\./, "");
    if (domain !== "" && (host === domain || host.endsWith(`.${domain}`))) return true;
  }
  return false;
}

function splitPort(entry: string, varName: string): { name: string; port: number | undefined } {
  let name = entry;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(entry);
  if (bracket) {
    name = bracket[1]!;
    portText = bracket[2];
  } else if ((entry.match(/:/g) ?? []).length === 1) {
    // One colon: host:port (a bare IPv6 address has several).
    const i = entry.indexOf(":");
    name = entry.slice(0, i);
    portText = entry.slice(i + 1);
  }
  if (portText === undefined) return { name, port: undefined };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535)
    throw new UsageError(`${varName} entry '${entry}': '${portText}' is not a port`);
  return { name, port };
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const list = new net.BlockList();
  list.addAddress(b, net.isIPv6(b) ? "ipv6" : "ipv4");
  return list.check(a, net.isIPv6(a) ? "ipv6" : "ipv4");
}

function inCidr(host: string, block: string, varName: string): boolean {
  const [addr = "", bitsText = ""] = block.split("/");
  const family = net.isIPv6(addr) ? "ipv6" : net.isIPv4(addr) ? "ipv4" : undefined;
  const bits = Number(bitsText);
  if (family === undefined || !/^\d+$/.test(bitsText) || bits > (family === "ipv6" ? 128 : 32))
    throw new UsageError(`${varName} entry '${block}' is not an address block (10.0.0.0/8, fd00::/8)`);
  if (net.isIP(host) === 0) return false;
  const list = new net.BlockList();
  list.addSubnet(addr, bits, family);
  return list.check(host, net.isIPv6(host) ? "ipv6" : "ipv4");
}
