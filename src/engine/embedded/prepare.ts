/**
 * The embedded backend's factory: an engine directory (or one built from --model with the heuristic, as
 * trtllm-bench's PyTorch flow does), its tokenizer, then llama.cpp with our scheduler.
 */
import { join } from "node:path";
import { UnsupportedError, UsageError } from "../../errors.ts";
import { parseModelConfig } from "../../model/config-reader.ts";
import { loadTokenizerFromFiles } from "../../model/hf-tokenizer.ts";
import { log } from "../../util/log.ts";
import type { CommonBackendOptions, PreparedBackend, Speculation } from "../backend.ts";
import { probeVisibleGpus } from "../machine.ts";
import type { EngineInfo } from "../types.ts";
import { buildEngine } from "./build.ts";
import { EmbeddedEngine } from "./embedded-engine.ts";
import { type EngineConfig, readEngineConfig } from "./engine-dir.ts";
import { checkSplitDevices, describeSplit, planGpuSplit } from "./gpu-split.ts";
import { gpuChoice, nodeLlamaCppVersion, resolveDevice } from "./llama-native.ts";
import { defaultThreads, kvBytesPerToken, resolveRuntimeSettings } from "./runtime-settings.ts";
import { EmbeddedSpeculation } from "./speculative/resolve.ts";
import type { SpeculativeConfig } from "./speculative/speculator.ts";

/** The config inside a Speculation this backend's resolveSpeculation made. */
function speculativeConfig(s: Speculation | undefined): SpeculativeConfig | undefined {
  if (s === undefined) return undefined;
  if (!(s instanceof EmbeddedSpeculation)) {
    throw new UnsupportedError(
      "speculative decoding set up for another backend cannot run on the embedded engine",
    );
  }
  return s.config;
}

async function engineFor(opts: CommonBackendOptions): Promise<{ dir: string; config: EngineConfig }> {
  if (opts.engineDir) return { dir: opts.engineDir, config: await readEngineConfig(opts.engineDir) };
  if (opts.model === undefined)
    throw new UsageError("no --engine_dir and no --model to build an engine from");
  // Built under its own workspace folder so it never replaces an engine the user built.
  log.info(
    "No --engine_dir: building an engine from --model with the tuning heuristic (trtllm-bench's PyTorch flow).",
  );
  const built = await buildEngine({
    model: opts.model,
    modelPath: opts.modelPath,
    workspace: join(opts.workspace, ".llm-bench-auto"),
    revision: opts.revision,
    dataset: opts.dataset,
    compat: opts.compat,
    out: (line) => log.info(line),
  });
  return { dir: built.engineDir, config: await readEngineConfig(built.engineDir) };
}

export async function prepareEmbedded(opts: CommonBackendOptions): Promise<PreparedBackend> {
  const { dir, config } = await engineFor(opts);
  const lb = config.llm_bench;
  const modelCfg = parseModelConfig(lb.model_config, lb.model_name, join(dir, "config.json"));
  if (!lb.tokenizer_files.includes("tokenizer.json")) {
    throw new UsageError(`${join(dir, "config.json")}: the engine directory has no tokenizer.json`);
  }
  const tokenizer = await loadTokenizerFromFiles(
    join(dir, "tokenizer.json"),
    lb.tokenizer_files.includes("tokenizer_config.json") ? join(dir, "tokenizer_config.json") : undefined,
  );
  return {
    tokenizer,
    vocabSize: Math.max(modelCfg.vocabSize, tokenizer.totalVocabSize),
    built: {
      modelName: lb.model_name,
      limits: {
        maxInputLength: config.build_config.max_input_len,
        maxSequenceLength: config.build_config.max_seq_len,
      },
    },
    async start(limits) {
      const kvType = lb.kv_cache_type.toUpperCase();
      const rt = opts.runtime;
      const threads =
        rt.threads ?? defaultThreads(undefined, rt.maxBatchSize ?? config.build_config.max_batch_size);
      const configPath = join(dir, "config.json");
      const { tp_size: tpSize, pp_size: ppSize } = config.pretrained_config.mapping;
      // Which GPUs, before llama.cpp's CUDA backend starts: it reads CUDA_VISIBLE_DEVICES once.
      const split = planGpuSplit({
        tpSize,
        ppSize,
        configPath,
        device: rt.device ?? "auto",
        visible: await probeVisibleGpus(),
        cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES,
      });
      if (
        split.cudaVisibleDevices !== undefined &&
        split.cudaVisibleDevices !== process.env.CUDA_VISIBLE_DEVICES
      ) {
        log.info(
          `GPUs for world size ${split.worldSize}: CUDA_VISIBLE_DEVICES=${split.cudaVisibleDevices} ` +
            `(${split.gpus.map((g) => `${g.index}: ${g.name}`).join("; ")}).`,
        );
        process.env.CUDA_VISIBLE_DEVICES = split.cudaVisibleDevices;
      }
      const device = await resolveDevice(threads, gpuChoice(rt.device));
      // No GPU backend at all: refuse before loading the weights.
      if (device.gpu === false) checkSplitDevices(split, "cpu", [], configPath);
      const settings = resolveRuntimeSettings({
        engine: {
          maxBatchSize: config.build_config.max_batch_size,
          maxNumTokens: config.build_config.max_num_tokens,
          maxSeqLen: config.build_config.max_seq_len,
        },
        cli: { maxBatchSize: rt.maxBatchSize, maxNumTokens: rt.maxNumTokens, maxSeqLen: rt.maxSeqLen },
        dataset: { maxSequenceLength: limits.maxSequenceLength, maxIsl: limits.maxInputLength },
        policy: rt.schedulerPolicy,
        chunkedContext: rt.enableChunkedContext,
        kvFraction: rt.kvCacheFreeGpuMemFraction,
        // The weights are mapped before the KV cache is allocated; what is left is the KV cache's to take.
        freeMemoryBytes: Math.max(0, device.freeBytes - lb.gguf_bytes),
        kvBytesPerToken: kvBytesPerToken(
          modelCfg.numAttentionLayers,
          modelCfg.numKeyValueHeads,
          modelCfg.headSize,
          kvType,
        ),
        kvMaxTokens: rt.kvMaxTokens,
      });
      for (const note of settings.notes) log.warn(note);
      const q = config.pretrained_config.quantization;
      const info: EngineInfo = {
        backend: "llama.cpp (embedded)",
        model: opts.model ?? lb.model_name,
        modelPath: opts.modelPath,
        engineDir: dir,
        version: `llm-bench ${config.version} / node-llama-cpp ${await nodeLlamaCppVersion()}`,
        dtype: config.pretrained_config.dtype,
        kvCacheDtype: `${q.kv_cache_quant_algo ?? "None"} (llama.cpp ${lb.kv_cache_type})`,
        quantization: `${q.quant_algo ?? "None"} (llama.cpp ${lb.weight_type} weights)`,
        maxInputLength: config.build_config.max_input_len,
        maxSequenceLength: config.build_config.max_seq_len,
        tpSize: config.pretrained_config.mapping.tp_size,
        ppSize: config.pretrained_config.mapping.pp_size,
        maxBatchSize: settings.scheduler.maxBatchSize,
        maxNumTokens: settings.scheduler.maxNumTokens,
        schedulingPolicy: settings.scheduler.policy.toUpperCase(),
        kvCacheFraction: rt.kvCacheFreeGpuMemFraction,
      };
      const s = settings.scheduler;
      log.info(
        `Embedded engine: max batch ${s.maxBatchSize}, max tokens ${s.maxNumTokens}, KV ${s.kvCacheTokens} tokens, ` +
          `${s.policy}, chunked context ${s.chunkedContext ? "on" : "off"}, ${threads} threads.`,
      );
      const engine = await EmbeddedEngine.start({
        ggufPath: join(dir, lb.gguf_file),
        info,
        scheduler: s,
        threads,
        gpu: device.gpu,
        gpuLayers: rt.gpuLayers,
        kvCacheType: kvType,
        onIteration: opts.onIteration,
        speculative: speculativeConfig(opts.speculative),
        split: describeSplit(split),
      });
      try {
        const used = engine.info.device;
        checkSplitDevices(split, used?.backend ?? "cpu", used?.devices ?? [], configPath);
      } catch (err) {
        await engine.stop();
        throw err;
      }
      return { engine, info: engine.info };
    },
  };
}
