/**
 * Bounds what `JSON.parse` will face before it runs. `JSON.parse` is one synchronous call, and its cost
 * depends on the body's shape, not only its size: 8 MB of `[[[[…]]]]` takes V8 seconds, 8 MB of `1,1,1,…`
 * (4 million values) half a second on a loaded 2-core machine (docs/performance.md). This scanner walks the
 * body as its chunks arrive (outside strings it only counts brackets and commas; strings are skipped with
 * `indexOf`), and stops it at the first byte past the nesting or value limit.
 */
import { HttpError } from "./openai-error.ts";

export interface JsonShapeLimits {
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
  /** Most values: array elements and object members (counted by commas) plus containers. */
  maxValues: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

function indexOr(chunk: Uint8Array, byte: number, from: number, none: number): number {
  const at = chunk.indexOf(byte, from);
  return at < 0 ? none : at;
}

export class JsonShapeGuard {
  private depth = 0;
  private values = 0;
  private inString = false;
  /** The previous chunk ended inside a string right after a backslash. */
  private escaped = false;

  constructor(private readonly limits: JsonShapeLimits) {}

  /** Scans the next chunk; throws at the first byte that passes a limit. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    let depth = this.depth;
    let values = this.values;
    // The next quote and backslash at or after i (n: none left). Found once each, so a chunk of many escapes
    // is still one pass.
    let quote = -1;
    let backslash = -1;
    try {
      while (i < n) {
        if (this.inString) {
          if (this.escaped) {
            this.escaped = false;
            i++;
            continue;
          }
          if (quote < i) quote = indexOr(chunk, QUOTE, i, n);
          if (backslash < i) backslash = indexOr(chunk, BACKSLASH, i, n);
          if (backslash < quote) {
            this.escaped = true;
            i = backslash + 1;
          } else if (quote === n) {
            i = n;
          } else {
            this.inString = false;
            i = quote + 1;
          }
          continue;
        }
        const c = chunk[i++];
        if (c === QUOTE) this.inString = true;
        else if (c === COMMA) {
          if (++values > this.limits.maxValues) throw this.tooMany();
        } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
          if (++depth > this.limits.maxDepth) throw this.tooDeep();
          if (++values > this.limits.maxValues) throw this.tooMany();
        } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
      }
    } finally {
      this.depth = depth;
      this.values = values;
    }
  }

  /** Nesting and value count so far (tests). */
  get counts(): { depth: number; values: number } {
    return { depth: this.depth, values: this.values };
  }

  private tooDeep(): HttpError {
    return new HttpError(
      400,
      `The request body nests arrays and objects deeper than ${this.limits.maxDepth} levels.`,
      "invalid_request_error",
      null,
      "json_too_deep",
    );
  }

  private tooMany(): HttpError {
    return new HttpError(
      413,
      `The request body holds more than ${this.limits.maxValues} JSON values, more than any request this ` +
        "engine can take.",
      "invalid_request_error",
      null,
      "request_too_large",
    );
  }
}
