import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommanderError } from "commander";
import { UsageError } from "../../errors.ts";
import { createProgram } from "../program.ts";

/** The command tree with commander's exits turned into exceptions and its output silenced. */
function parse(args: string[]): Promise<unknown> {
  const program = createProgram();
  for (const c of [program, ...program.commands]) {
    c.exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  }
  return program.parseAsync(["--model", "llm-bench/tiny-llama", "build", ...args], { from: "user" });
}

describe("llm-bench build options", () => {
  it("accepts trtllm-bench's -tp / -pp short forms", async () => {
    await assert.rejects(parse(["-tp", "4", "-pp", "4", "--dataset", "x.jsonl"]), (e: unknown) => {
      return (
        e instanceof UsageError &&
        e.message ===
          "Parallelism mapping of TP4-PP4 is currently unsupported. Please try with a mapping with <=8 GPUs."
      );
    });
    await assert.rejects(
      parse(["-tp=3", "--pp_size", "3", "--max_seq_len", "9"]),
      /TP3-PP3 is currently unsupported/,
    );
  });
  it("rejects unknown options, bad choices and bad numbers", async () => {
    const code = (c: string) => (e: unknown) => e instanceof CommanderError && e.code === c;
    await assert.rejects(parse(["--bogus"]), code("commander.unknownOption"));
    await assert.rejects(parse(["-q", "FP4"]), code("commander.invalidArgument"));
    await assert.rejects(parse(["--device_memory", "0"]), code("commander.invalidArgument"));
    await assert.rejects(parse(["--max_seq_len", "0"]), code("commander.invalidArgument"));
    await assert.rejects(parse(["--heuristic_version", "C"]), code("commander.invalidArgument"));
  });
  it("applies the build-mode rules", async () => {
    await assert.rejects(
      parse(["--max_batch_size", "8"]),
      /--max_batch_size and --max_num_tokens must be given together/,
    );
    await assert.rejects(parse([]), /Unspecified max_seq_len for engine build\. Exiting\./);
    await assert.rejects(
      parse(["--dataset", "d", "--target_input_len", "1", "--target_output_len", "1"]),
      /Multiple engine build options detected/,
    );
  });
});
