/** The fields of a Hugging Face `config.json` that llm-bench uses (brief §3.1), normalised. */
export type ModelDtype = "float16" | "bfloat16" | "float32";

export interface ModelConfig {
  /** Model name as the user gave it (e.g. `meta-llama/Llama-3.1-8B`). */
  name: string;
  /** HF `model_type` (llama, mistral, mixtral, gptj, falcon, ...). */
  modelType: string;
  /** HF `architectures[0]` when present. */
  architecture: string | undefined;
  numHiddenLayers: number;
  /** Layers that hold a KV cache; equals numHiddenLayers except for hybrid models. */
  numAttentionLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  hiddenSize: number;
  headSize: number;
  intermediateSize: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  dtype: ModelDtype;
  /** Total parameter count (all dtypes), when known. */
  paramCount: number | undefined;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  /** Mixture of experts: experts per layer and experts used per token (undefined for dense models). */
  numLocalExperts: number | undefined;
  numExpertsPerTok: number | undefined;
  /** The parsed config.json as read, for architecture-specific fields. */
  raw: Record<string, unknown>;
}
