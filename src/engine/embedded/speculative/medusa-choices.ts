/**
 * `--medusa_choices`: a YAML list of index paths (trtllm-bench loads it with PyYAML's SafeLoader, i.e. YAML 1.1),
 * e.g. `- [0]`, `- [0, 0]`, `- [1]`. Each path names a node of the draft tree: `[0, 1]` is the second candidate
 * after the first candidate of the first step. The list must describe a tree: every path's parent (the path
 * without its last index) is listed too, indices are non-negative integers, and no path appears twice.
 */
import { readFile } from "node:fs/promises";
import { isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ConfigError } from "../../../errors.ts";

export interface MedusaTree {
  /** The paths in file order. */
  paths: number[][];
  /** Longest path: the number of draft tokens verified per step on a linear chain. */
  depth: number;
  /** Nodes per depth (index 0 = depth 1): the tree's width at each step. */
  widthPerDepth: number[];
}

/** Parses and validates medusa_choices text; `file` only names the source in errors. */
export function parseMedusaChoices(text: string, file: string): MedusaTree {
  const lines = new LineCounter();
  const doc = parseDocument(text, { version: "1.1", lineCounter: lines, prettyErrors: false });
  const lineOf = (node: Node | null | undefined): number =>
    node?.range ? lines.linePos(node.range[0]).line : 1;
  const fail = (line: number, msg: string): never => {
    throw new ConfigError(`line ${line}: ${msg}`, file);
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    fail(e.linePos?.[0]?.line ?? 1, `not valid YAML: ${e.message.split("\n")[0]}`);
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null))
    fail(1, "empty: expected a list of index paths");
  if (!isSeq(root)) fail(lineOf(root as Node), "expected a list of index paths such as `- [0, 1]`");
  const seq = root as import("yaml").YAMLSeq;
  if (seq.items.length === 0) fail(lineOf(seq), "the list of index paths is empty");

  const paths: number[][] = [];
  const firstLine = new Map<string, number>();
  for (let i = 0; i < seq.items.length; i++) {
    const item = seq.items[i] as Node;
    const line = lineOf(item);
    const where = `entry ${i + 1}`;
    if (!isSeq(item)) fail(line, `${where}: expected a list of indices such as [0, 1]`);
    const indices = (item as import("yaml").YAMLSeq).items as Node[];
    if (indices.length === 0) fail(line, `${where}: empty path (the root is implicit)`);
    const path: number[] = [];
    for (const idx of indices) {
      const v = isScalar(idx) ? idx.value : undefined;
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
        fail(lineOf(idx) || line, `${where}: index ${idx?.toString() ?? "?"} is not a non-negative integer`);
      }
      path.push(v as number);
    }
    const key = path.join(",");
    const dup = firstLine.get(key);
    if (dup !== undefined) fail(line, `${where}: path [${key}] duplicates line ${dup}`);
    firstLine.set(key, line);
    paths.push(path);
  }
  for (let i = 0; i < paths.length; i++) {
    const p = paths[i]!;
    if (p.length < 2) continue;
    const parent = p.slice(0, -1).join(",");
    if (!firstLine.has(parent)) {
      fail(
        firstLine.get(p.join(","))!,
        `entry ${i + 1}: path [${p.join(", ")}] has no parent: [${parent.replaceAll(",", ", ")}] is missing`,
      );
    }
  }
  // A loop, not Math.max(...): spreading a long list overflows the call stack.
  let depth = 0;
  for (const p of paths) depth = Math.max(depth, p.length);
  const widthPerDepth = new Array<number>(depth).fill(0);
  for (const p of paths) widthPerDepth[p.length - 1]!++;
  return { paths, depth, widthPerDepth };
}

export async function loadMedusaChoices(file: string): Promise<MedusaTree> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read medusa_choices: ${(err as Error).message}`, file, { cause: err });
  }
  return parseMedusaChoices(text, file);
}
