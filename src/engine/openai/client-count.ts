/**
 * The client half of token accounting, done after the measured run: each record's returned text is tokenized
 * once, whole (never per chunk), giving `clientOutputTokens`, and `n` where the server sent no usage.
 * Yields to the event loop between batches; the text is dropped once counted.
 */
import type { RequestRecord } from "../../metrics/record.ts";
import type { Tokenizer } from "../../model/tokenizer.ts";

const BATCH = 256;

export async function countClientTokens(
  records: readonly RequestRecord[],
  tokenizer: Tokenizer,
  keepOutputIds: boolean,
): Promise<void> {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.outputText === undefined) continue;
    if (r.clientOutputTokens !== undefined) {
      // Counted from the ids the server streamed.
      r.outputText = undefined;
      continue;
    }
    const ids = tokenizer.encode(r.outputText, { addSpecialTokens: false });
    r.clientOutputTokens = ids.length;
    if (r.serverOutputTokens === undefined && r.error === undefined) r.numOutputTokens = ids.length;
    if (keepOutputIds) r.outputIds = ids;
    // Cleared, not deleted: `delete` turns each record into a dictionary-mode object (about 2.5x its memory).
    r.outputText = undefined;
    if (i % BATCH === BATCH - 1) await new Promise((resolve) => setImmediate(resolve));
  }
}
