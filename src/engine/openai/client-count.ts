/**
 * The client half of token accounting, done after the measured run: each record's returned text is tokenized
 * (never per chunk: that adds tokens at chunk boundaries), giving `clientOutputTokens`, and `n` where the server
 * sent no usage. The text is dropped once counted. Records carry a text only where it is to be counted: the load
 * generator keeps those the server did not count and a bounded sample of the others (src/load/record-table.ts),
 * so the work here is O(1) per record without one.
 *
 * The work is bounded whatever a server sent. A request's text is already capped (stream.ts: 256 characters per
 * requested token). It reaches the tokenizer in pieces of at most PIECE_CHARS: its BPE costs ~17 µs and ~800 bytes
 * per character of a single long "word" (a one-word 2 MiB text took 31 s and 1.6 GB in one call), so no call may
 * get a long text. Pieces are cut where the tokenizer's pre-tokenization splits anyway (pieces.ts), so ordinary text
 * counts exactly as it would whole. Between pieces the loop yields to the event loop every SLICE_MS, so a Ctrl-C is
 * handled at once, and it stops when the run's signal is aborted.
 */
import type { RequestRecord } from "../../metrics/record.ts";
import type { Tokenizer } from "../../model/tokenizer.ts";
import { nowNs } from "../../util/clock.ts";
import { cutStyleOf, PIECE_CHARS, textPieces } from "./pieces.ts";

/** Counting work between two yields to the event loop. */
const SLICE_NS = 10e6;

export interface CountOptions {
  /** Keep the ids on the record (`--output_json`, `--request_json`). */
  keepOutputIds: boolean;
  /** The run's interrupt: counting stops at the next piece. */
  signal?: AbortSignal | undefined;
}

export interface CountOutcome {
  /** The signal stopped the count before every record was counted. */
  interrupted: boolean;
  /** Successful records left uncounted whose length no other source gives (the server sent no usage). */
  unknownLength: RequestRecord[];
}

export async function countClientTokens(
  records: readonly RequestRecord[],
  tokenizer: Tokenizer,
  opts: CountOptions,
): Promise<CountOutcome> {
  const style = cutStyleOf(tokenizer);
  let sliceStart = nowNs();
  const pause = async (): Promise<void> => {
    if (nowNs() - sliceStart < SLICE_NS) return;
    await new Promise((resolve) => setImmediate(resolve));
    sliceStart = nowNs();
  };
  const unknownLength: RequestRecord[] = [];
  let interrupted = false;
  for (const r of records) {
    const text = r.outputText;
    if (text === undefined) continue;
    // Cleared, not deleted: `delete` turns each record into a dictionary-mode object (about 2.5x its memory).
    r.outputText = undefined;
    // Counted from the ids the server streamed, or a failed request (its text is not reported).
    if (r.clientOutputTokens !== undefined || r.error !== undefined) continue;
    if (!interrupted && opts.signal?.aborted) interrupted = true;
    if (interrupted) {
      if (r.serverOutputTokens === undefined) unknownLength.push(r);
      continue;
    }
    let count = 0;
    const ids: number[] | undefined = opts.keepOutputIds ? [] : undefined;
    for (const piece of textPieces(text, style, PIECE_CHARS)) {
      const got = tokenizer.encode(piece, { addSpecialTokens: false });
      count += got.length;
      if (ids) for (const id of got) ids.push(id);
      await pause();
      if (opts.signal?.aborted) {
        interrupted = true;
        break;
      }
    }
    if (interrupted) {
      if (r.serverOutputTokens === undefined) unknownLength.push(r);
      continue;
    }
    r.clientOutputTokens = count;
    if (r.serverOutputTokens === undefined) r.numOutputTokens = count;
    if (ids) r.outputIds = ids;
  }
  return { interrupted, unknownLength };
}
