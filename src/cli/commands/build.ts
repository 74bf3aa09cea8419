import type { Command } from "commander";

// PLACEHOLDER: replaced by the real command before landing.
export function registerBuild(program: Command): void {
  program.command("build").description("(in progress)");
}
