/**
 * `--server_metrics`: scrapes the server's Prometheus endpoint at a fixed interval through the run. Scraping must
 * never disturb the load: one scrape at a time on its own socket (never the benchmark's pool), a deadline on each,
 * a bounded body, a bounded timeline; a tick that finds the previous scrape still running is skipped, and a
 * failed scrape is counted, never fatal.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { nowNs } from "../util/clock.ts";
import { log } from "../util/log.ts";
import { parsePrometheusText } from "./prometheus-text.ts";
import {
  detectServer,
  isSourceName,
  readServerSample,
  SERVER_FIELDS,
  type ServerField,
  type ServerKind,
} from "./server-families.ts";
import { BoundedTimeline } from "./timeline.ts";

export interface ScraperOptions {
  url: string;
  intervalMs: number;
  /** Sent with each scrape (the API key, --header values) when the URL is the benchmarked server's. */
  headers?: Readonly<Record<string, string>> | undefined;
  /** Deadline of one scrape; default: twice the interval, between 1 and 10 s. */
  timeoutMs?: number | undefined;
  /** Largest body read; default 16 MiB. */
  maxBytes?: number | undefined;
  /** Rows kept before the timeline is thinned (timeline.ts); default 20,000. */
  maxRows?: number | undefined;
  /** Certificate checks of an https:// target (--ca_cert, --insecure of the openai backend). */
  tls?: { ca?: string | undefined; insecure?: boolean | undefined } | undefined;
}

export interface ServerScrapes {
  url: string;
  intervalMs: number;
  /** Recognised from the metric names of the first good scrape; undefined if none was recognised. */
  server: ServerKind | undefined;
  ok: number;
  failed: number;
  /** Ticks that found the previous scrape still running. */
  skipped: number;
  firstError: string | undefined;
  timeline: BoundedTimeline<ServerField>;
}

const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

export class ServerMetricsScraper {
  private readonly timeline: BoundedTimeline<ServerField>;
  private server: ServerKind | undefined;
  private ok = 0;
  private failed = 0;
  private skipped = 0;
  private firstError: string | undefined;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly agent: HttpAgent;
  private readonly target: URL;
  private readonly timeoutMs: number;

  constructor(private readonly opts: ScraperOptions) {
    this.target = new URL(opts.url);
    this.timeline = new BoundedTimeline(SERVER_FIELDS, opts.maxRows ?? 20_000);
    this.timeoutMs = opts.timeoutMs ?? Math.min(10_000, Math.max(1000, 2 * opts.intervalMs));
    // One kept-alive socket: a scrape a second costs no connection setup on the server.
    const agentOpts = { keepAlive: true, maxSockets: 1 };
    const tls = opts.tls;
    this.agent =
      this.target.protocol === "https:"
        ? new HttpsAgent({
            ...agentOpts,
            ...(tls?.ca !== undefined ? { ca: tls.ca } : {}),
            ...(tls?.insecure === true ? { rejectUnauthorized: false } : {}),
          })
        : new HttpAgent(agentOpts);
  }

  /** Takes one scrape now (the baseline before the load), then one every interval. */
  async start(): Promise<void> {
    await this.scrapeOnce();
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs);
  }

  private tick(): void {
    if (this.inFlight) {
      this.skipped++;
      return;
    }
    void this.scrapeOnce();
  }

  /** Stops the ticks, waits for a scrape in flight, takes the final one (after the load), and returns all. */
  async stop(): Promise<ServerScrapes> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.inFlight) await this.inFlight;
    await this.scrapeOnce();
    this.agent.destroy();
    return {
      url: this.opts.url,
      intervalMs: this.opts.intervalMs,
      server: this.server,
      ok: this.ok,
      failed: this.failed,
      skipped: this.skipped,
      firstError: this.firstError,
      timeline: this.timeline,
    };
  }

  /** Closes the socket without a final scrape (the run failed). */
  abort(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.agent.destroy();
  }

  private scrapeOnce(): Promise<void> {
    const run: Promise<void> = this.fetch()
      .then(
        ({ text, timeNs }) => this.take(text, timeNs),
        (err: unknown) => this.fail((err as Error).message),
      )
      .finally(() => {
        if (this.inFlight === run) this.inFlight = undefined;
      });
    this.inFlight = run;
    return run;
  }

  private take(text: string, timeNs: number): void {
    let sample: ReturnType<typeof readServerSample>;
    try {
      const exposition = parsePrometheusText(text, isSourceName);
      this.server ??= detectServer(exposition);
      if (this.server === undefined) {
        this.fail("no vllm:, sglang: or llamacpp: metrics in the exposition");
        return;
      }
      sample = readServerSample(exposition, this.server);
    } catch (err) {
      this.fail(`not Prometheus text: ${(err as Error).message}`);
      return;
    }
    this.ok++;
    this.timeline.push(timeNs, sample);
  }

  private fail(message: string): void {
    this.failed++;
    if (this.firstError === undefined) {
      this.firstError = message;
      const hint = message === "HTTP 404" ? " (llama-server needs --metrics, SGLang --enable-metrics)" : "";
      log.warn(
        `Server metrics: scraping ${this.opts.url} failed (${message}${hint}); failed scrapes are counted and the run goes on.`,
      );
    }
  }

  /** One GET under the deadline; resolves with the body and the time its headers came. */
  private fetch(): Promise<{ text: string; timeNs: number }> {
    const maxBytes = this.opts.maxBytes ?? DEFAULT_MAX_BYTES;
    const request = this.target.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (err: Error | undefined, value?: { text: string; timeNs: number }) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (err) reject(err);
        else resolve(value!);
      };
      const req = request(
        this.target,
        {
          method: "GET",
          agent: this.agent,
          headers: { accept: "text/plain;version=0.0.4;q=1,*/*;q=0.1", ...this.opts.headers },
        },
        (res: IncomingMessage) => {
          const timeNs = nowNs();
          if ((res.statusCode ?? 0) >= 300) {
            res.resume();
            done(new Error(`HTTP ${res.statusCode}`));
            return;
          }
          const parts: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > maxBytes) {
              req.destroy();
              done(new Error(`body larger than ${maxBytes} bytes`));
              return;
            }
            parts.push(c);
          });
          res.on("end", () => done(undefined, { text: Buffer.concat(parts).toString("utf8"), timeNs }));
          res.on("error", (e) => done(e));
        },
      );
      const deadline = setTimeout(() => {
        req.destroy();
        done(new Error(`no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      req.on("error", (e) => done(e));
      req.end();
    });
  }
}
