/**
 * Output paths are checked before a run starts, so a typo or a read-only folder fails in a second with the flag
 * named instead of after an hour of benchmarking. Files are written through a temporary name and a rename
 * (atomic-write.ts), so what matters is the folder: it must exist (or be creatable: its nearest existing
 * ancestor is a writable folder) and accept a new file. The target itself must not be a folder or a device
 * (a rename would replace `/dev/null` itself), and no two outputs, nor an output and an input, may share a path.
 */
import { open, stat, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { BenchError, OutputError, UsageError } from "../errors.ts";

export interface NamedPath {
  /** The flag that gave the path, e.g. "--report_json". */
  flag: string;
  path: string | undefined;
}

export interface OutputPath extends NamedPath {
  /** "file" (default): written whole. "dir": a folder the run writes files into. */
  kind?: "file" | "dir";
}

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: a component of the path is a file; nearestExisting then finds it.
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ? `${e.code}${e.syscall ? ` (${e.syscall})` : ""}` : String((err as Error).message ?? err);
}

/** The nearest existing ancestor of `dir` (itself included), and whether it is a folder. */
async function nearestExisting(dir: string): Promise<{ path: string; isDir: boolean }> {
  let p = dir;
  for (;;) {
    const s = await statOrUndefined(p);
    if (s) return { path: p, isDir: s.isDirectory() };
    const up = dirname(p);
    if (up === p) return { path: p, isDir: false };
    p = up;
  }
}

/**
 * Creates and removes a probe file in `dir`: unlike access(2), this sees read-only mounts, ACLs and file systems
 * that refuse even root. undefined when it worked, else the reason.
 */
async function probeDir(dir: string): Promise<string | undefined> {
  const probe = join(dir, `.llm-bench-probe-${process.pid}-${Date.now()}`);
  try {
    const fh = await open(probe, "wx");
    await fh.close();
  } catch (err) {
    return reasonOf(err);
  }
  await unlink(probe).catch(() => undefined);
  return undefined;
}

async function checkOne(o: OutputPath, shown: string, abs: string): Promise<void> {
  const target = await statOrUndefined(abs);
  const kind = o.kind ?? "file";
  if (kind === "file" && target?.isDirectory()) throw new UsageError(`${o.flag} ${shown} is a directory`);
  if (kind === "file" && target && !target.isFile()) {
    throw new UsageError(`${o.flag} ${shown} exists and is not a regular file (it would be replaced)`);
  }
  if (kind === "dir" && target && !target.isDirectory()) {
    throw new UsageError(`${o.flag} ${shown} exists and is not a directory`);
  }
  // The folder that receives the file (or, for "dir", the folder itself).
  const folder = kind === "dir" ? abs : dirname(abs);
  const existing = await nearestExisting(folder);
  if (!existing.isDir) {
    throw new UsageError(`${o.flag} ${shown}: ${existing.path} is not a directory`);
  }
  const refused = await probeDir(existing.path);
  if (refused === undefined) return;
  // The run creates missing folders itself (nothing is created now): their nearest existing ancestor must let it.
  throw new UsageError(
    existing.path === folder
      ? `${o.flag} ${shown}: cannot create files in ${folder} (${refused})`
      : `${o.flag} ${shown}: cannot create ${folder} (${existing.path} refuses new entries: ${refused})`,
  );
}

/**
 * Throws a UsageError naming the flag and path when an output cannot be written, or would overwrite an input or
 * another output. Nothing is created or left behind.
 */
export async function checkOutputPaths(
  outputs: readonly OutputPath[],
  inputs: readonly NamedPath[] = [],
): Promise<void> {
  const seen = new Map<string, string>();
  for (const i of inputs) if (i.path !== undefined && i.path !== "-") seen.set(resolve(i.path), i.flag);
  for (const o of outputs) {
    if (o.path === undefined) continue;
    if (o.path === "") throw new UsageError(`${o.flag}: the path is empty`);
    const abs = resolve(o.path);
    const other = seen.get(abs);
    if (other !== undefined) {
      throw new UsageError(`${o.flag} ${o.path} is also the ${other} path: each output needs its own file`);
    }
    seen.set(abs, o.flag);
    try {
      await checkOne(o, o.path, abs);
    } catch (err) {
      if (err instanceof BenchError) throw err;
      throw new UsageError(`${o.flag} ${o.path}: cannot be checked for writing (${reasonOf(err)})`, {
        cause: err,
      });
    }
  }
}

/** Runs one output's write, turning a file-system failure into an OutputError naming the flag and path. */
export async function writingOutput<T>(flag: string, path: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof BenchError || !(err as NodeJS.ErrnoException).code) throw err;
    throw new OutputError(`cannot write ${flag} ${path}: ${(err as Error).message}`, { cause: err });
  }
}
