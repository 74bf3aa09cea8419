import type { Command } from "commander";
import { UsageError } from "../../errors.ts";
import { log } from "../../util/log.ts";
import { checkOutputPaths, writingOutput } from "../../util/output-paths.ts";

interface ReportFlags {
  html?: string;
  title?: string;
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .description(
      "Render one or more --report_json runs as a self-contained HTML page (charts need each run's --request_log).",
    )
    .argument("<runs...>", "report JSON files written with --report_json")
    .option("--html <path>", "write the HTML report here")
    .option("--title <text>", "page title")
    .action(async (runs: string[], flags: ReportFlags) => {
      const html = flags.html;
      if (!html) throw new UsageError("report: give --html <path> (the only output format for now)");
      await checkOutputPaths(
        [{ flag: "--html", path: html }],
        runs.map((r) => ({ flag: "report input", path: r })),
      );
      // Loaded on use: the chart library takes longer to import than the rest of the CLI together.
      const { writeHtmlReport } = await import("../../report/html/write.ts");
      await writingOutput("--html", html, () => writeHtmlReport(runs, html, { title: flags.title }));
      log.info(`Wrote ${flags.html} (${runs.length} run${runs.length === 1 ? "" : "s"}).`);
    });
}
