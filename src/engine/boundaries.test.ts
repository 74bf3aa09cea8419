/**
 * The backend seam, checked on the source tree: every folder under src/engine/ is a backend, and code outside
 * it imports only its public entry (`index.ts`); outside the registry and the backends' own folders no code
 * compares a value with a backend's name (it asks the plugin's capabilities instead). Test files may reach a
 * backend's fixtures (e.g. gguf/test-support.ts).
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative, resolve, sep } from "node:path";
import { before, describe, it } from "node:test";
import { packageRoot } from "../model/known-models.ts";
import { BACKEND_NAMES } from "./registry.ts";

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Every violation in `files` (path relative to src/ -> text), as "file: reason". */
export function seamViolations(
  files: ReadonlyMap<string, string>,
  backendFolders: readonly string[],
  backendNames: readonly string[],
): string[] {
  const out: string[] = [];
  const folderOf = (p: string) => backendFolders.find((b) => p.startsWith(`engine/${b}/`));
  const names = backendNames.map(escapeRe).join("|");
  const q = `["'\`](?:${names})["'\`]`;
  const comparison = new RegExp(`(?:[!=]==?\\s*${q})|(?:${q}\\s*[!=]==?)|(?:\\bcase\\s+${q}\\s*:)`);
  for (const [file, text] of files) {
    if (file.endsWith(".test.ts")) continue;
    const own = folderOf(file);
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1]!;
      if (!spec.startsWith(".")) continue;
      const target = relative("/src", resolve("/src", dirname(file), spec))
        .split(sep)
        .join("/");
      const folder = folderOf(target);
      if (folder !== undefined && folder !== own && target !== `engine/${folder}/index.ts`) {
        out.push(
          `${file}: imports ${spec}, inside the ${folder} backend (only engine/${folder}/index.ts is public)`,
        );
      }
    }
    if (own === undefined && file !== "engine/registry.ts") {
      text.split("\n").forEach((line, i) => {
        if (comparison.test(line)) out.push(`${file}:${i + 1}: compares with a backend name: ${line.trim()}`);
      });
    }
  }
  return out;
}

async function sourceFiles(dir: string, base: string, out = new Map<string, string>()) {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await sourceFiles(p, base, out);
    else if (e.name.endsWith(".ts") || e.name.endsWith(".cts"))
      out.set(relative(base, p).split(sep).join("/"), await readFile(p, "utf8"));
  }
  return out;
}

describe("backend seam", { timeout: 30_000 }, () => {
  let src = "";
  before(async () => {
    src = join(await packageRoot(), "src");
  });

  it("finds an import of a backend's internals and a comparison with a backend name", () => {
    const files = new Map([
      ["benchmarks/a.ts", 'import { x } from "../engine/openai/client.ts";\nif (b === "pytorch") {}\n'],
      [
        "cli/b.ts",
        'import { openaiBackend } from "../engine/openai/index.ts";\nswitch (n) { case "openai": }\n',
      ],
      ["engine/openai/c.ts", 'import { y } from "./pool.ts";\nif (e === "openai") {}\n'],
      ["engine/embedded/d.ts", 'import { z } from "../openai/sse.ts";\n'],
      ["server/e.test.ts", 'import { t } from "../engine/embedded/gguf/test-support.ts";\n'],
      ["engine/registry.ts", 'if (name === "embedded") {}\n'],
    ]);
    assert.deepEqual(seamViolations(files, ["embedded", "openai"], ["embedded", "pytorch", "openai"]), [
      "benchmarks/a.ts: imports ../engine/openai/client.ts, inside the openai backend (only engine/openai/index.ts is public)",
      'benchmarks/a.ts:2: compares with a backend name: if (b === "pytorch") {}',
      'cli/b.ts:2: compares with a backend name: switch (n) { case "openai": }',
      "engine/embedded/d.ts: imports ../openai/sse.ts, inside the openai backend (only engine/openai/index.ts is public)",
    ]);
  });

  it("holds in src/: backends are reached through their public entry, never by name", async () => {
    const folders = (await readdir(join(src, "engine"), { withFileTypes: true }))
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    assert.ok(folders.includes("embedded") && folders.includes("openai"), folders.join(", "));
    const violations = seamViolations(await sourceFiles(src, src), folders, BACKEND_NAMES);
    assert.deepEqual(violations, []);
  });
});
