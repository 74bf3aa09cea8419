/** The file-system side of `build`: the pre-write checks, the GGUF copy and the atomic directory swap. */

import { copyFile, link, rename, rm, stat, statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { UnsupportedError } from "../../errors.ts";
import type { BuildPlan } from "./build.ts";
import { type DeviceMemory, GIB } from "./device-memory.ts";

const gib = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;

/** Refuses, before writing anything, a build this machine cannot hold or run. */
export async function checkFeasible(
  plan: BuildPlan,
  tpSize: number,
  ppSize: number,
  device: DeviceMemory,
  dir: string,
) {
  const world = tpSize * ppSize;
  if (world > 1 && device.gpuCount < world) {
    const here =
      device.gpuCount === 0
        ? "llama.cpp runs on the CPU here (no GPU backend)"
        : `llama.cpp sees ${device.gpuCount} ${device.backend} GPU(s) here`;
    throw new UnsupportedError(
      `TP${tpSize}-PP${ppSize} needs ${world} GPUs for llama.cpp to split the model over, but ${here}. ` +
        "Check the plan with --dry_run, or build with --tp_size 1 --pp_size 1.",
    );
  }
  const deviceBytes = device.totalGb * GIB * Math.max(1, world);
  if (plan.plannedGgufBytes > deviceBytes) {
    throw new UnsupportedError(
      `The engine would be ${gib(plan.plannedGgufBytes)} of ${plan.weightType} weights, more than the ` +
        `${gib(deviceBytes)} of device memory (${device.source}). Choose a smaller --quantization, ` +
        "or check the plan with --dry_run.",
    );
  }
  const fs = await statfs(await existingAncestor(dir));
  const free = fs.bavail * fs.bsize;
  const need = plan.weights.kind === "gguf" ? 0 : plan.plannedGgufBytes;
  if (need + 64 * 1024 ** 2 > free) {
    throw new UnsupportedError(
      `The engine needs about ${gib(need)} of disk but only ${gib(free)} is free under ${dir}. ` +
        "Free some space, use another --workspace, or check the plan with --dry_run.",
    );
  }
}

/** `dir` or its nearest existing parent: the engine's folders are created only once the build is known to fit. */
async function existingAncestor(dir: string): Promise<string> {
  let d = dir;
  for (;;) {
    try {
      await stat(d);
      return d;
    } catch {
      const up = dirname(d);
      if (up === d) return d;
      d = up;
    }
  }
}

export function progressPrinter(label: string): (done: number, total: number) => void {
  if (!process.stderr.isTTY) return () => {};
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done < total && now - last < 250) return;
    last = now;
    const pct = total > 0 ? ((100 * done) / total).toFixed(0) : "100";
    process.stderr.write(`\r${label}: ${pct}% (${gib(done)} / ${gib(total)})${done >= total ? "\n" : ""}`);
  };
}

/** Hard link when possible (instant, no extra disk), else a copy. */
export async function linkOrCopy(src: string, dest: string): Promise<void> {
  try {
    await link(src, dest);
  } catch {
    await copyFile(src, dest);
  }
}

/** Replaces `finalDir` by `tmpDir` so readers never see a half-written engine. */
export async function swapInto(tmpDir: string, finalDir: string): Promise<void> {
  const old = `${tmpDir}.old`;
  let hadOld = false;
  try {
    await rename(finalDir, old);
    hadOld = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  try {
    await rename(tmpDir, finalDir);
  } catch (err) {
    if (hadOld) await rename(old, finalDir);
    throw err;
  }
  if (hadOld) await rm(old, { recursive: true, force: true });
}
