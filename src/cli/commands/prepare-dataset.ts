import type { Command } from "commander";

// PLACEHOLDER: replaced by the real command before landing.
export function registerPrepareDataset(program: Command): void {
  program.command("prepare-dataset").description("(in progress)");
}
