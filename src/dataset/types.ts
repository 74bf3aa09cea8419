/** One benchmark request as every benchmark reads it from a dataset (the seed's JSONL schema, brief §2.3/§2.6). */
export interface DatasetRequest {
  /** `task_id` as written in the file (string or integer). */
  taskId: string | number;
  /** Token ids of the prompt; `input_ids` wins over `prompt` when both are present. */
  inputIds: Int32Array;
  /** The text prompt when the line had one (kept for text-only endpoints). */
  prompt: string | undefined;
  /** Requested number of output tokens. */
  outputTokens: number;
  /** 1-based line number in the file, for error messages. */
  line: number;
  loraRequest: LoraRequest | undefined;
}

export interface LoraRequest {
  lora_name: string;
  lora_int_id: number;
  lora_path: string;
}

/** trtllm-bench's PercentileStats: floor-index percentiles, no interpolation. */
export interface PercentileStats {
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  minimum: number;
  maximum: number;
  average: number;
}

/** Dataset statistics (brief §2.6, DatasetMetadata); key names match trtllm-bench's JSON. */
export interface DatasetMetadata {
  dataset_path: string;
  num_requests: number;
  isl_stats: PercentileStats;
  osl_stats: PercentileStats;
  seq_len_stats: PercentileStats;
  max_isl: number;
  max_osl: number;
  max_sequence_length: number;
  avg_isl: number;
  avg_osl: number;
  avg_sequence_length: number;
}
