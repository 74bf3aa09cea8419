/**
 * The dataset file of trtllm-bench 0.17's `prepare_dataset.py --output` (without `--stdout`): one JSON document
 * `{"metadata": {...}, "samples": [{"input_len", "input_ids", "output_len", "task_id"}, ...]}` written by
 * `json.dump(Workload.model_dump())`, i.e. Python's default separators (", " and ": "), on one line, no final
 * newline. `--compat 0.17` writes it; the reader accepts it (workload-document-reader.ts).
 */
import { UsageError } from "../errors.ts";
import { type ChunkSink, type DatasetLengths, JsonlWriter, writeIdList } from "./jsonl-writer.ts";
import type { WorkloadSpec } from "./prepare.ts";
import type { LoraRequest } from "./types.ts";

export type WorkloadMetadata = Record<string, string | number>;

function maxOf(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, values[i]!);
  return m;
}

/**
 * The metadata 0.17 writes for each generator (`prepare_synthetic_data.py`, `prepare_real_data.py`), in its key
 * order, then `workload_name` = `'__'.join(f'{k}:{v}')` over every key but `tokenizer`. `prefix-shared` has no
 * 0.17 counterpart and follows the synthetic shape.
 */
export function workloadMetadata(
  spec: WorkloadSpec,
  vocabSize: number,
  lengths: DatasetLengths,
): WorkloadMetadata {
  const n = lengths.isl.length;
  const maxes = { max_input_len: maxOf(lengths.isl), max_output_len: maxOf(lengths.osl) };
  let m: WorkloadMetadata;
  switch (spec.kind) {
    case "token-norm-dist":
      m = {
        workload_type: spec.kind,
        input_mean: spec.inputMean,
        input_stdev: spec.inputStdev,
        output_mean: spec.outputMean,
        output_stdev: spec.outputStdev,
        num_requests: spec.numRequests,
        tokenize_vocabsize: vocabSize,
        ...maxes,
      };
      break;
    case "token-unif-dist":
      m = {
        workload_type: spec.kind,
        input_min: spec.inputMin,
        input_max: spec.inputMax,
        output_min: spec.outputMin,
        output_max: spec.outputMax,
        num_requests: spec.numRequests,
        tokenize_vocabsize: vocabSize,
        ...maxes,
      };
      break;
    case "real-dataset":
      // 0.17 records the tokenizer's class; llm-bench reads tokenizer.json, which transformers loads as this.
      m = { workload_type: "dataset", tokenizer: "PreTrainedTokenizerFast", num_requests: n, ...maxes };
      break;
    case "prefix-shared":
      m = {
        workload_type: spec.kind,
        num_groups: spec.numGroups,
        prompts_per_group: spec.promptsPerGroup,
        prefix_len: spec.prefixLen,
        suffix_mean: spec.suffixMean,
        suffix_stdev: spec.suffixStdev,
        output_mean: spec.outputMean,
        output_stdev: spec.outputStdev,
        order: spec.order,
        num_requests: n,
        tokenize_vocabsize: vocabSize,
        ...maxes,
      };
      break;
  }
  m["workload_name"] = Object.entries(m)
    .filter(([k]) => k !== "tokenizer")
    .map(([k, v]) => `${k}:${v}`)
    .join("__");
  return m;
}

/** Python's `json.dumps` of a flat dict of ASCII strings and integers (default separators). */
function pyDict(m: WorkloadMetadata): string {
  return `{${Object.entries(m)
    .map(([k, v]) => `${JSON.stringify(k)}: ${typeof v === "number" ? String(v) : pyString(v)}`)
    .join(", ")}}`;
}

/** `json.dumps(s)` with `ensure_ascii=True`: non-ASCII as \uXXXX (JSON.stringify would keep it raw). */
export function pyString(s: string): string {
  return JSON.stringify(s).replace(
    /[\u007f-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * Streams the document: metadata as soon as the lengths are known (`begin`), then one sample per request.
 * Sample text is assembled in the same reused chunks as JSONL lines.
 */
export class WorkloadDocumentWriter extends JsonlWriter {
  private started = false;

  constructor(
    sink: ChunkSink,
    private readonly metadataFor: (lengths: DatasetLengths) => WorkloadMetadata,
  ) {
    super(sink);
  }

  override async begin(lengths: DatasetLengths): Promise<void> {
    const head = `{"metadata": ${pyDict(this.metadataFor(lengths))}, "samples": [`;
    await this.ensure(head.length);
    this.ascii(head);
    this.bytes += head.length;
    this.started = true;
  }

  /** `{"input_len": L, "input_ids": [a, b], "output_len": O, "task_id": T}` */
  override async writeIds(
    _index: number,
    ids: Int32Array,
    len: number,
    outputTokens: number,
    _lora?: LoraRequest,
    loraTaskId = -1,
  ): Promise<void> {
    if (!this.started) throw new Error("WorkloadDocumentWriter: begin() must come first");
    const tail = `], "output_len": ${outputTokens}, "task_id": ${loraTaskId}}`;
    await this.ensure(64 + len * 12 + tail.length);
    const start = this.pos;
    this.ascii(`${this.lines > 0 ? ", " : ""}{"input_len": ${len}, "input_ids": [`);
    let p = writeIdList(this.chunk, this.pos, ids, len, true);
    if (len > 0) p -= 2; // drop the trailing ", "
    this.pos = p;
    this.ascii(tail);
    this.bytes += this.pos - start;
    this.lines++;
  }

  override async writePrompt(): Promise<void> {
    throw new UsageError(
      "the 0.17 {metadata, samples} document holds token ids only: use --prompt-mode ids, or --stdout for prompts",
    );
  }

  override async close(): Promise<void> {
    if (!this.started) throw new Error("WorkloadDocumentWriter: begin() must come first");
    await this.ensure(2);
    this.ascii("]}");
    this.bytes += 2;
    await super.close();
  }
}
