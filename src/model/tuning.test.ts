import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { computeDatasetMetadata } from "../dataset/stats.ts";
import {
  bytesPerElem,
  datasetTargets,
  engineSizeGb,
  finetuneSetting,
  gbPerToken,
  type HeuristicInput,
  isTunedQuant,
  type KvGeometry,
  planEngineSetting,
  roundBatchSize,
  roundNumTokens,
} from "./tuning.ts";

const LLAMA_8B: KvGeometry = {
  numHiddenLayers: 32,
  numAttentionLayers: 32,
  numKeyValueHeads: 8,
  headSize: 128,
};
const LLAMA_8B_PARAMS = 8030261248;
/** NVML total of an H200 (143771 MiB): the log's 132.37 / 8048.16 follow from it. */
const H200_GIB = 143771 / 1024;

function input(over: Partial<HeuristicInput>): HeuristicInput {
  return {
    version: "B",
    geometry: LLAMA_8B,
    paramCount: LLAMA_8B_PARAMS,
    quantAlgo: "FP8",
    kvCacheQuantAlgo: "FP8",
    tpSize: 1,
    ppSize: 1,
    targetInputLen: 128,
    targetOutputLen: 128,
    deviceMemoryGb: H200_GIB,
    ...over,
  };
}

describe("brief §3.5 worked example (version A, the 0.17 docs log)", () => {
  it("reproduces 132.37 GB, 125.75 GB, 8048.16 requests and 4096 / 8192", () => {
    const plan = planEngineSetting(input({ version: "A" }));
    assert.equal(plan.estimate.engineSize, 8.030261248);
    assert.equal(plan.estimate.gbPerToken, 6.103515625e-5);
    assert.deepEqual(plan.logLines, [
      "Estimated total available memory for KV cache: 132.37 GB",
      "Estimated total KV cache memory: 125.75 GB",
      "Estimated max number of requests in KV cache memory: 8048.16",
      "Estimated max batch size (after fine-tune): 4096",
      "Estimated max num tokens (after fine-tune): 8192",
    ]);
    assert.equal(plan.rawBatchSize, 4096);
    assert.equal(plan.rawNumTokens, 8192);
    assert.deepEqual(plan.errors, []);
    assert.deepEqual(plan.warnings, []);
  });

  it("gives the brief's rounded figures with 140.40 GiB", () => {
    const plan = planEngineSetting(input({ version: "A", deviceMemoryGb: 140.4 }));
    assert.equal(plan.estimate.availableMemory.toFixed(2), "132.37");
    assert.equal(plan.estimate.kvCacheMemory.toFixed(2), "125.75");
    assert.equal(Math.floor(plan.estimate.kvMaxRequests), 8048);
    assert.equal(plan.maxBatchSize, 4096);
    assert.equal(plan.maxNumTokens, 8192);
  });
});

describe("version B (hand-computed)", () => {
  it("same H200 and FP8: engine 7.48 GiB, 132.92 / 126.28 GB, 8081.69 requests", () => {
    const plan = planEngineSetting(input({}));
    assert.deepEqual(plan.logLines, [
      "Number of attention layers: 32",
      "Estimated engine size: 7.48 GB",
      "Estimated total available memory for KV cache: 132.92 GB",
      "Estimated total KV cache memory: 126.28 GB",
      "Estimated kv cache max tokens: 2068913.74",
      "Estimated max number of requests in KV cache memory: 8081.69",
      "Estimated max batch size (after fine-tune): 4096",
      "Estimated max num tokens (after fine-tune): 8192",
    ]);
  });

  it("8B BF16 on a 24 GiB box: 274.89 requests → 384 / 2048 and the <10 GB warning", () => {
    const plan = planEngineSetting(input({ quantAlgo: null, kvCacheQuantAlgo: null, deviceMemoryGb: 24 }));
    assert.equal(plan.estimate.engineSize.toFixed(2), "14.96");
    assert.equal(plan.estimate.availableMemory.toFixed(2), "9.04");
    assert.equal(plan.estimate.kvCacheMemory.toFixed(2), "8.59");
    assert.equal(plan.estimate.kvMaxRequests.toFixed(2), "274.89");
    assert.equal(plan.maxBatchSize, 384);
    assert.equal(plan.maxNumTokens, 2048);
    assert.equal(plan.warnings.length, 1);
    assert.match(plan.warnings[0]!, /less than 10 GB/);
  });

  it("counts attention layers only and replicates KV heads under wide TP", () => {
    const hybridish: KvGeometry = { ...LLAMA_8B, numAttentionLayers: 4 };
    assert.equal(gbPerToken(hybridish, 1, 2, "B"), (2 * 4 * 8 * 128 * 2) / 1024 ** 3);
    assert.equal(gbPerToken(hybridish, 1, 2, "A"), (2 * 32 * 8 * 128 * 2) / 1024 ** 3);
    assert.equal(gbPerToken(LLAMA_8B, 16, 1, "B"), (2 * 32 * 16 * 128) / 1024 ** 3);
  });

  it("uses the MLA formula when kv_lora_rank and qk_rope_head_dim are known", () => {
    const mla: KvGeometry = { ...LLAMA_8B, numAttentionLayers: 61, kvLoraRank: 512, qkRopeHeadDim: 64 };
    assert.equal(gbPerToken(mla, 8, 1, "B"), (61 * 576) / 1024 ** 3);
  });

  it("squares the fraction and rounds down to even for hybrid (Mamba) models", () => {
    const plan = planEngineSetting(input({ extraCacheGbPerRequest: 0.01, deviceMemoryGb: 9 }));
    assert.equal(plan.estimate.kvCacheFraction, 0.95 * 0.95);
    const expected = (9 - LLAMA_8B_PARAMS / 1024 ** 3) * 0.9025;
    const perReq = 256 * 6.103515625e-5 + 0.01;
    assert.ok(Math.abs(plan.estimate.kvMaxRequests - expected / perReq) < 1e-9);
    assert.equal(plan.maxBatchSize, 2 * Math.floor(expected / perReq / 2));
  });
});

describe("byte tables", () => {
  it("version B: NO_QUANT 2, FP8 1, FP8_BLOCK_SCALES 1, NVFP4 0.5, others 2", () => {
    assert.equal(bytesPerElem(null), 2);
    assert.equal(bytesPerElem("FP8"), 1);
    assert.equal(bytesPerElem("FP8_BLOCK_SCALES"), 1);
    assert.equal(bytesPerElem("NVFP4"), 0.5);
    assert.equal(bytesPerElem("W4A16"), 2);
    assert.equal(bytesPerElem("INT8"), 2);
  });
  it("version A: FP8 is 1 byte, everything else (even NVFP4) 2", () => {
    assert.equal(bytesPerElem("FP8", "A"), 1);
    assert.equal(bytesPerElem("NVFP4", "A"), 2);
    assert.equal(bytesPerElem(null, "A"), 2);
  });
  it("engine size: decimal billions in A, GiB in B", () => {
    assert.equal(engineSizeGb(2e9, 2, "A"), 4);
    assert.equal(engineSizeGb(2 ** 30, 2, "B"), 2);
  });
  it("tuned quantizations", () => {
    assert.equal(isTunedQuant(null), true);
    assert.equal(isTunedQuant("NVFP4"), true);
    assert.equal(isTunedQuant("NVFP4", "A"), true);
    assert.equal(isTunedQuant("FP8_BLOCK_SCALES"), true);
    assert.equal(isTunedQuant("FP8_BLOCK_SCALES", "A"), false);
    assert.equal(isTunedQuant("W8A16"), false);
    assert.equal(isTunedQuant("W8A16", "A"), false);
  });
});

/**
 * 0.17 (`--compat 0.17`): figures from 0.17's tuning.py run side by side (NVFP4 tuned with version A's 2 bytes
 * per weight and the FP8 KV cache NVFP4 forces; dataset averages rounded up). H100: NVML total 81559 MiB.
 */
describe("version A as 0.17 builds (NVFP4, rounded-up averages)", () => {
  const H100_GIB = 81559 / 1024;
  it("Llama-3.1-8B NVFP4 on one H100 at 128/128: 3866.09 requests → 4096 / 8192", () => {
    const plan = planEngineSetting(
      input({ version: "A", quantAlgo: "NVFP4", kvCacheQuantAlgo: "FP8", deviceMemoryGb: H100_GIB }),
    );
    assert.equal(plan.estimate.engineSize, 16.060522496);
    assert.equal(plan.estimate.kvMaxRequests.toFixed(2), "3866.09");
    assert.deepEqual([plan.maxBatchSize, plan.maxNumTokens], [4096, 8192]);
  });
  it("Llama-3.1-70B NVFP4 at TP8 on H100 at 2048/128: 1536 / 24576", () => {
    const plan = planEngineSetting(
      input({
        version: "A",
        geometry: { numHiddenLayers: 80, numAttentionLayers: 80, numKeyValueHeads: 8, headSize: 128 },
        paramCount: 70553706496,
        quantAlgo: "NVFP4",
        kvCacheQuantAlgo: "FP8",
        tpSize: 8,
        targetInputLen: 2048,
        targetOutputLen: 128,
        deviceMemoryGb: H100_GIB,
      }),
    );
    assert.equal(plan.estimate.kvMaxRequests.toFixed(2), "1419.35");
    assert.deepEqual([plan.maxBatchSize, plan.maxNumTokens], [1536, 24576]);
  });
  it("fails (0.17's RuntimeError) when NVFP4 weights at 2 bytes do not fit", () => {
    const plan = planEngineSetting(
      input({
        version: "A",
        geometry: { numHiddenLayers: 126, numAttentionLayers: 126, numKeyValueHeads: 8, headSize: 128 },
        paramCount: 405853388800,
        quantAlgo: "NVFP4",
        kvCacheQuantAlgo: "FP8",
        tpSize: 4,
        deviceMemoryGb: H100_GIB,
      }),
    );
    assert.match(plan.errors[0]!, /^The model requires at least: 811\.71 GB/);
  });
  it("tunes for the rounded-up averages in A and the truncated ones in B", () => {
    const md = computeDatasetMetadata("d", [1000, 1000, 1001], [1001, 1001, 1000]);
    assert.deepEqual(datasetTargets(md, "A"), { targetInputLen: 1001, targetOutputLen: 1001 });
    assert.deepEqual(datasetTargets(md, "B"), { targetInputLen: 1000, targetOutputLen: 1000 });
    const whole = computeDatasetMetadata("d", [128, 128], [128, 128]);
    assert.deepEqual(datasetTargets(whole, "A"), { targetInputLen: 128, targetOutputLen: 128 });
  });
});

describe("rounding ladders (brief §3.4)", () => {
  it("batch size: 32-steps with a 64 floor, then 128, then 256", () => {
    const cases: [number, number][] = [
      [0.5, 64],
      [64, 64],
      [65, 96],
      [200, 224],
      [255, 256],
      [255.5, 256],
      [256, 256],
      [257, 384],
      [1023, 1024],
      [1024, 1024],
      [1025, 1280],
      [4095.9, 4096],
      [4096, 4096],
    ];
    for (const [raw, want] of cases) assert.equal(roundBatchSize(raw), want, `raw_bs ${raw}`);
  });
  it("batch size without optimistic tuning: 2 * floor(raw / 2)", () => {
    assert.equal(roundBatchSize(7.9, false), 6);
    assert.equal(roundBatchSize(1.5, false), 0);
    assert.equal(roundBatchSize(300, false), 300);
  });
  it("num tokens: 256-steps with a 2048 floor, then 512, then 1024", () => {
    const cases: [number, number][] = [
      [1, 2048],
      [2048, 2048],
      [2049, 2304],
      [4095, 4096],
      [4096, 4096],
      [4097, 4608],
      [8191, 8192],
      [8192, 8192],
      [8193, 9216],
      [32768, 32768],
    ];
    for (const [raw, want] of cases) assert.equal(roundNumTokens(raw), want, `raw_token ${raw}`);
  });
  it("caps requests at 4096 and tokens at 32768", () => {
    assert.deepEqual(finetuneSetting(1e6, 128, 128, 1), {
      rawBatchSize: 4096,
      rawNumTokens: 8192,
      maxBatchSize: 4096,
      maxNumTokens: 8192,
    });
    const long = finetuneSetting(1e6, 1024, 128, 1);
    assert.equal(long.rawNumTokens, 32768);
    assert.equal(long.maxNumTokens, 32768);
  });
  it("divides the batch by PP before rounding", () => {
    assert.deepEqual(finetuneSetting(10000, 128, 128, 2), {
      rawBatchSize: 2048,
      rawNumTokens: 4096,
      maxBatchSize: 2048,
      maxNumTokens: 4096,
    });
    const pp3 = finetuneSetting(10000, 128, 128, 3);
    assert.equal(pp3.maxBatchSize, 1536);
    assert.equal(pp3.maxNumTokens, 2816);
  });
});

describe("checks", () => {
  it("fails when the weights do not fit the devices", () => {
    const plan = planEngineSetting(input({ deviceMemoryGb: 4 }));
    assert.equal(plan.errors.length, 1);
    assert.match(
      plan.errors[0]!,
      /^The model requires at least: 7\.48 GB, the total device memory of 4\.00 GB/,
    );
  });
  it("fails when less than one request fits", () => {
    const plan = planEngineSetting(input({ deviceMemoryGb: 7.49 }));
    assert.deepEqual(plan.errors, [
      "The amount of KV cache memory is insufficient to run this model. Please try with more GPUs.",
    ]);
  });
  it("warns below 10 GB per GPU and below 32 requests", () => {
    const plan = planEngineSetting(input({ deviceMemoryGb: 7.6 }));
    assert.deepEqual(plan.errors, []);
    assert.equal(plan.warnings.length, 2);
    assert.match(plan.warnings[1]!, /maximum number of requests in the KV cache is too small/);
  });
  it("divides the KV memory by the GPU count for the 10 GB warning", () => {
    // 2 x 12 GiB, FP8: (24 - 7.48) * 0.95 = 15.69 GB total, 7.85 per GPU.
    const plan = planEngineSetting(input({ deviceMemoryGb: 12, tpSize: 2 }));
    assert.equal(plan.estimate.totalDeviceMemory, 24);
    assert.equal(plan.warnings.length, 1);
  });
});
