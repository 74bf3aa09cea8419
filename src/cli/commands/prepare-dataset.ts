/**
 * `llm-bench --model <m> prepare-dataset [root options] <generator> [options]`: the shape of trtllm-bench's
 * prepare-dataset (hyphenated option names, same defaults); all the work happens in `prepareDataset`.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { PREFIX_ORDERS, type PrefixOrder } from "../../dataset/prefix-shared.ts";
import {
  DEFAULT_OUTPUT,
  DEFAULT_SEED,
  type PrepareDatasetOptions,
  type PromptMode,
  prepareDataset,
  type WorkloadSpec,
} from "../../dataset/prepare.ts";
import { parseOutputLenDist, REAL_FORMATS, type RealDatasetFormat } from "../../dataset/real-dataset.ts";
import { resolveTokenizer } from "../../model/tokenizer-resolve.ts";
import { checkOutputPaths } from "../../util/output-paths.ts";
import { benchEnv } from "../env.ts";
import { bigIntArg, intArg } from "../parsers.ts";

interface RootOpts {
  tokenizer?: string;
  output: string;
  stdout?: boolean;
  randomSeed: number | bigint;
  taskId: number;
  randTaskId?: [number, number];
  loraDir?: string;
}

const PROMPT_MODE_HELP =
  "'ids' writes input_ids (trtllm-bench's format); 'text' writes a \"prompt\" for text-only endpoints, " +
  "checked by re-encoding to have exactly the sampled number of tokens (special tokens such as BOS not counted)";

function promptModeOption(): Option {
  return new Option("--prompt-mode <mode>", PROMPT_MODE_HELP).choices(["ids", "text"]).default("ids");
}

/** "MIN,MAX" (the CLI rewrites `--rand-task-id MIN MAX` into this form). */
function taskRange(raw: string): [number, number] {
  const m = /^\s*(-?\d+)\s*,\s*(-?\d+)\s*$/.exec(raw);
  if (!m) throw new InvalidArgumentError(`expected MIN MAX (two integers), got '${raw}'`);
  const range: [number, number] = [Number(m[1]), Number(m[2])];
  // Task ids are written as JSON numbers and drawn with random.randint on at most 53 bits.
  if (!range.every(Number.isSafeInteger)) {
    throw new InvalidArgumentError(`MIN and MAX must lie within ±${Number.MAX_SAFE_INTEGER}, got '${raw}'`);
  }
  if (range[0] > range[1])
    throw new InvalidArgumentError(`MIN (${range[0]}) is larger than MAX (${range[1]})`);
  if (range[1] - range[0] >= Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError(`MAX − MIN must be below ${Number.MAX_SAFE_INTEGER}, got '${raw}'`);
  }
  return range;
}

function lenDist(raw: string): [number, number] {
  try {
    return parseOutputLenDist(raw);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** commander has no two-value options: join `--rand-task-id MIN MAX` into one argument before parsing. */
function joinRandTaskId(args: string[]): string[] {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    if (out[i] === "--") break;
    if (out[i] === "--rand-task-id" && /^-?\d+$/.test(out[i + 1] ?? "") && /^-?\d+$/.test(out[i + 2] ?? "")) {
      out.splice(i + 1, 2, `${out[i + 1]},${out[i + 2]}`);
    }
  }
  return out;
}

async function run(sub: Command, workload: WorkloadSpec): Promise<void> {
  const env = benchEnv(sub);
  const root = sub.parent!.opts<RootOpts>();
  // Before the tokenizer loads: an unwritable --output fails at once.
  if (root.stdout !== true) {
    await checkOutputPaths(
      [{ flag: "--output", path: root.output }],
      workload.kind === "real-dataset" ? [{ flag: "--dataset-path", path: workload.datasetPath }] : [],
    );
  }
  const tokenizer = await resolveTokenizer({
    model: env.model,
    modelPath: env.modelPath,
    tokenizer: root.tokenizer,
    revision: env.revision,
  });
  const opts: PrepareDatasetOptions = {
    tokenizer,
    workload,
    output: root.output,
    // trtllm-bench 0.17 wrote its {metadata, samples} document to --output; newer releases write JSONL.
    outputFormat: env.compat === "0.17" ? "document" : "jsonl",
    stdout: root.stdout === true,
    randomSeed: root.randomSeed,
    taskId: root.taskId,
  };
  if (root.randTaskId) opts.randTaskId = root.randTaskId;
  if (root.loraDir !== undefined) opts.loraDir = root.loraDir;
  await prepareDataset(opts);
}

export function registerPrepareDataset(program: Command): void {
  const cmd = program
    .command("prepare-dataset")
    .description(
      "Generate a JSONL dataset (one {task_id, input_ids | prompt, output_tokens} object per line) for the benchmarks.",
    )
    .option(
      "--tokenizer <name|dir>",
      "tokenizer: HF name, directory or tokenizer.json (default: the model's)",
    )
    .option(
      "--output <file>",
      "output file, written atomically (unless --stdout): JSONL, or 0.17's {metadata, samples} JSON with --compat 0.17",
      DEFAULT_OUTPUT,
    )
    .option("--stdout", "print the dataset on stdout, one JSON entry per line (logs go to stderr)")
    .option(
      "--random-seed <n>",
      "random seed for lengths and token ids (token-norm-dist, prefix-shared: 0 to 2**32 - 1; token-unif-dist: ≥ 0)",
      bigIntArg,
      DEFAULT_SEED,
    )
    .option("--task-id <n>", "LoRA task id for every request (-1: no LoRA)", intArg(-1), -1)
    .option("--rand-task-id <MIN MAX>", "random LoRA task id per request, inclusive range", taskRange)
    .option("--lora-dir <dir>", "LoRA adapter root: lora_path = <dir>/<task id>");
  const parse = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (args: string[]) => parse(joinRandTaskId(args));

  cmd
    .command("token-norm-dist")
    .description(
      "Random token ids, lengths max(1, ceil(N(mean, stdev))) (same draws as trtllm-bench for a seed).",
    )
    .requiredOption("--num-requests <n>", "number of requests", intArg(1))
    .requiredOption("--input-mean <n>", "normal mean of input tokens", intArg())
    .requiredOption("--input-stdev <n>", "normal stdev of input tokens", intArg(0))
    .requiredOption("--output-mean <n>", "normal mean of output tokens", intArg())
    .requiredOption("--output-stdev <n>", "normal stdev of output tokens", intArg(0))
    .addOption(promptModeOption())
    .action(async (o: Record<string, number | string>, sub: Command) => {
      await run(sub, {
        kind: "token-norm-dist",
        numRequests: o.numRequests as number,
        inputMean: o.inputMean as number,
        inputStdev: o.inputStdev as number,
        outputMean: o.outputMean as number,
        outputStdev: o.outputStdev as number,
        promptMode: o.promptMode as PromptMode,
      });
    });

  cmd
    .command("token-unif-dist")
    .description(
      "Random token ids, lengths uniform in [min, max] inclusive (same draws as trtllm-bench for a seed).",
    )
    .requiredOption("--num-requests <n>", "number of requests", intArg(1))
    .requiredOption("--input-min <n>", "uniform (inclusive) min of input tokens", intArg(1))
    .requiredOption("--input-max <n>", "uniform (inclusive) max of input tokens", intArg(1))
    .requiredOption("--output-min <n>", "uniform (inclusive) min of output tokens", intArg(1))
    .requiredOption("--output-max <n>", "uniform (inclusive) max of output tokens", intArg(1))
    .addOption(promptModeOption())
    .action(async (o: Record<string, number | string>, sub: Command) => {
      await run(sub, {
        kind: "token-unif-dist",
        numRequests: o.numRequests as number,
        inputMin: o.inputMin as number,
        inputMax: o.inputMax as number,
        outputMin: o.outputMin as number,
        outputMax: o.outputMax as number,
        promptMode: o.promptMode as PromptMode,
      });
    });

  cmd
    .command("real-dataset")
    .description(
      "Prompts from a local file: ShareGPT JSON (first turn = input, second = golden output), JSON/JSONL records " +
        "with a prompt key, or plain text lines. Prompts are encoded with the tokenizer (special tokens included).",
    )
    .requiredOption("--dataset-path <file>", "local dataset file")
    .addOption(
      new Option("--dataset-format <format>", "file format (auto: from the extension and content)")
        .choices(REAL_FORMATS)
        .default("auto"),
    )
    .option("--dataset-input-key <key>", "JSON key of the input text", "prompt")
    .option(
      "--dataset-prompt-key <key>",
      "JSON key of an instruction put before the input (joined with a space)",
    )
    .option("--dataset-prompt <text>", "literal instruction put before every input (joined with a space)")
    .option(
      "--dataset-output-key <key>",
      "JSON key of the golden output; its token count is the output length",
    )
    .option("--num-requests <n>", "stop after this many requests", intArg(1))
    .option("--max-input-len <n>", "drop requests with more input tokens than this", intArg(1))
    .option("--output-len-dist <mean,stdev>", "draw output lengths from N(mean, stdev) instead", lenDist)
    .addOption(promptModeOption())
    .action(async (o: Record<string, unknown>, sub: Command) => {
      const spec: WorkloadSpec = {
        kind: "real-dataset",
        datasetPath: o.datasetPath as string,
        format: o.datasetFormat as RealDatasetFormat,
        inputKey: o.datasetInputKey as string,
        promptMode: o.promptMode as PromptMode,
      };
      if (o.datasetPromptKey !== undefined) spec.promptKey = o.datasetPromptKey as string;
      if (o.datasetPrompt !== undefined) spec.prompt = o.datasetPrompt as string;
      if (o.datasetOutputKey !== undefined) spec.outputKey = o.datasetOutputKey as string;
      if (o.numRequests !== undefined) spec.numRequests = o.numRequests as number;
      if (o.maxInputLen !== undefined) spec.maxInputLen = o.maxInputLen as number;
      if (o.outputLenDist !== undefined) spec.outputLenDist = o.outputLenDist as [number, number];
      await run(sub, spec);
    });

  cmd
    .command("prefix-shared")
    .description(
      "Prefix-caching workload: --num-groups random prefixes of --prefix-len tokens, each shared by " +
        "--prompts-per-group prompts with unique random suffixes.",
    )
    .requiredOption("--num-groups <n>", "number of distinct shared prefixes", intArg(1))
    .requiredOption("--prompts-per-group <n>", "prompts sharing each prefix", intArg(1))
    .requiredOption("--prefix-len <n>", "shared prefix length in tokens", intArg(1))
    .requiredOption("--suffix-mean <n>", "normal mean of the unique suffix length", intArg(1))
    .option("--suffix-stdev <n>", "normal stdev of the suffix length", intArg(0), 0)
    .requiredOption("--output-mean <n>", "normal mean of output tokens", intArg(1))
    .option("--output-stdev <n>", "normal stdev of output tokens", intArg(0), 0)
    .addOption(
      new Option(
        "--order <order>",
        "line order: grouped (a group's prompts back to back), interleaved (round-robin), random (seeded shuffle)",
      )
        .choices(PREFIX_ORDERS)
        .default("random"),
    )
    .addOption(promptModeOption())
    .action(async (o: Record<string, number | string>, sub: Command) => {
      await run(sub, {
        kind: "prefix-shared",
        numGroups: o.numGroups as number,
        promptsPerGroup: o.promptsPerGroup as number,
        prefixLen: o.prefixLen as number,
        suffixMean: o.suffixMean as number,
        suffixStdev: o.suffixStdev as number,
        outputMean: o.outputMean as number,
        outputStdev: o.outputStdev as number,
        order: o.order as PrefixOrder,
        promptMode: o.promptMode as PromptMode,
      });
    });
}
