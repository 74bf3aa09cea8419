// Builds dist/native/greedy.node (native/greedy.cc): one native call that greedy-samples every position of a
// decode. Optional: without a C++ compiler, or off Linux, it says so and the engine samples through
// node-llama-cpp's per-position call instead (docs/performance.md has both figures). Headers come from what is
// installed: node's own (or node-api-headers), node-addon-api, node-llama-cpp's addon sources and the llama.cpp
// release node-llama-cpp bundles (its git bundle), so the object layout matches the installed node-llama-cpp.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "native", "greedy.node");
const src = join(root, "native", "greedy.cc");

function skip(why) {
  console.log(
    `native greedy sampler not built (${why}); the embedded engine samples through node-llama-cpp instead`,
  );
  process.exit(0);
}

if (process.platform !== "linux") skip(`${process.platform} is not supported yet`);
const cxx =
  process.env.CXX ||
  ["c++", "g++", "clang++"].find((c) => {
    try {
      execFileSync(c, ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
if (!cxx) skip("no C++ compiler (c++, g++ or clang++) on PATH");

const require = createRequire(import.meta.url);
let nlc = dirname(require.resolve("node-llama-cpp"));
while (!existsSync(join(nlc, "llama", "addon", "AddonContext.h"))) {
  if (dirname(nlc) === nlc) skip("node-llama-cpp's addon headers are missing");
  nlc = dirname(nlc);
}
const nlcRequire = createRequire(join(nlc, "package.json"));
const addonApi = dirname(nlcRequire.resolve("node-addon-api/package.json"));
let nodeInclude = resolve(dirname(process.execPath), "..", "include", "node");
if (!existsSync(join(nodeInclude, "node_api.h"))) {
  try {
    nodeInclude = join(dirname(nlcRequire.resolve("node-api-headers/package.json")), "include");
  } catch {
    skip("no Node-API headers (node's include/node or the node-api-headers package)");
  }
}

const tag = JSON.parse(readFileSync(join(nlc, "llama", "llama.cpp.info.json"), "utf8")).tag;
const stamp = `${tag} ${createHash("sha256").update(readFileSync(src)).digest("hex")} ${process.version} ${cxx}`;
const stampFile = `${out}.stamp`;
if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) process.exit(0);

const tmp = mkdtempSync(join(tmpdir(), "llm-bench-native-"));
try {
  const bundle = join(nlc, "llama", "gitRelease.bundle");
  // LLAMA_CPP_SRC: the same release's source, where the git bundle is not installed (the GPU machine's pack).
  const llama = process.env.LLAMA_CPP_SRC || join(tmp, "llama.cpp");
  if (!process.env.LLAMA_CPP_SRC)
    try {
      execFileSync("git", ["clone", "-q", "--depth", "1", bundle, llama], { stdio: "ignore" });
    } catch {
      try {
        execFileSync("git", ["clone", "-q", bundle, llama], { stdio: "ignore" });
      } catch {
        skip("cannot read node-llama-cpp's bundled llama.cpp source (git)");
      }
    }
  const inc = join(tmp, "include");
  mkdirSync(inc);
  cpSync(join(llama, "include"), inc, { recursive: true });
  cpSync(join(llama, "ggml", "include"), inc, { recursive: true });
  mkdirSync(dirname(out), { recursive: true });
  const args = [
    "-std=c++17",
    "-O3",
    "-shared",
    "-fPIC",
    "-pthread",
    "-DNAPI_VERSION=8",
    "-DNODE_ADDON_API_DISABLE_CPP_EXCEPTIONS",
    `-I${inc}`,
    `-I${nodeInclude}`,
    `-I${addonApi}`,
    `-I${join(nlc, "llama", "addon")}`,
    src,
    "-o",
    out,
    "-ldl",
  ];
  try {
    execFileSync(cxx, args, { stdio: ["ignore", "inherit", "inherit"] });
  } catch {
    rmSync(out, { force: true });
    skip(`${cxx} failed`);
  }
  writeFileSync(stampFile, stamp);
  console.log(`native greedy sampler built: ${out}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
