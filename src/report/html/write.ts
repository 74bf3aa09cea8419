import { writeFileAtomic } from "../../util/atomic-write.ts";
import { buildHtmlReport, type HtmlReportInput } from "./page.ts";
import { loadRun, uniqueNames } from "./run-data.ts";

/** `report RUN.json [RUN2.json …] --html out.html`: loads every run and writes the page atomically. */
export async function writeHtmlReport(
  runPaths: readonly string[],
  htmlPath: string,
  opts: Omit<HtmlReportInput, "runs" | "title"> & { title?: string | undefined } = {},
): Promise<void> {
  const runs = await Promise.all(runPaths.map((p) => loadRun(p)));
  const names = uniqueNames(runs.map((r) => r.name));
  runs.forEach((r, i) => {
    r.name = names[i]!;
  });
  const title =
    opts.title ??
    (runs.length === 1 ? `llm-bench report: ${runs[0]!.name}` : `llm-bench: ${runs.length} runs`);
  await writeFileAtomic(htmlPath, buildHtmlReport({ ...opts, title, runs }));
}
