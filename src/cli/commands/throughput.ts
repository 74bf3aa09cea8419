import type { Command } from "commander";

// PLACEHOLDER: replaced by the real command before landing.
export function registerThroughput(program: Command): void {
  program.command("throughput").description("(in progress)");
}
