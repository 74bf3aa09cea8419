/**
 * Input tokens as the server counted them (`usage.prompt_tokens`) beside the dataset's ISL. They differ when the
 * server adds a chat template or a BOS token, or re-tokenizes a prompt sent as text; the report shows both so
 * such a difference is never silent. Formulas: docs/metrics.md ("token accounting").
 */
import type { RequestRecord } from "./record.ts";

export interface InputTokenCounts {
  /** Successful requests whose server reported `prompt_tokens`. */
  serverCounted: number;
  /** Σ server prompt tokens over those requests. */
  serverInputTokens: number;
  /** Σ dataset ISL over the same requests. */
  datasetInputTokens: number;
  /** Σ (server − dataset) over them, and how many differ. */
  difference: number;
  differingRequests: number;
}

/** Over successful requests; undefined when no request carried a server count. */
export function inputTokenCounts(ok: readonly RequestRecord[]): InputTokenCounts | undefined {
  const c: InputTokenCounts = {
    serverCounted: 0,
    serverInputTokens: 0,
    datasetInputTokens: 0,
    difference: 0,
    differingRequests: 0,
  };
  for (const r of ok) {
    if (r.error !== undefined || r.serverInputTokens === undefined) continue;
    c.serverCounted++;
    c.serverInputTokens += r.serverInputTokens;
    c.datasetInputTokens += r.numInputTokens;
    c.difference += r.serverInputTokens - r.numInputTokens;
    if (r.serverInputTokens !== r.numInputTokens) c.differingRequests++;
  }
  return c.serverCounted > 0 ? c : undefined;
}

/** The warning to log when the server counted other input lengths than the dataset's, else undefined. */
export function inputTokenWarning(c: InputTokenCounts | undefined): string | undefined {
  if (!c || c.differingRequests === 0) return undefined;
  const sign = c.difference > 0 ? "+" : "";
  return (
    `The server counted other input lengths than the dataset: ${c.differingRequests} of ${c.serverCounted} ` +
    `requests differ, ${c.serverInputTokens} tokens for ${c.datasetInputTokens} (${sign}${c.difference}; a chat ` +
    "template, a BOS token or a re-tokenized text prompt). Input figures of the report use the dataset's lengths; " +
    "the server's are under LLM-BENCH DETAILS."
  );
}
