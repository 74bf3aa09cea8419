/**
 * The local Hugging Face cache layout (`models--org--name/{refs,snapshots}`) and plain-file downloads from the
 * Hub into it. Downloaded files are written as regular files in the snapshot folder (the layout
 * huggingface_hub uses where symlinks are unavailable), so Python tools read them too.
 */
import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomic-write.ts";
import { log } from "../util/log.ts";

export type HubFailure = "offline" | "unreachable" | "unauthorized" | "not-found" | "http" | "invalid-repo";

/** The Hub could not supply a file. Callers turn it into a message that says which files to provide. */
export class HubError extends ConfigError {
  constructor(
    readonly kind: HubFailure,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, undefined, options);
  }
}

export interface HubFile {
  name: string;
  /** Optional files (e.g. tokenizer_config.json) may be missing from the repo. */
  optional?: boolean;
}

const COMMIT_RE = /^[0-9a-f]{40}$/;
const REPO_RE = /^(?:[\w.-]+\/)?[\w.-]+$/;

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HUGGINGFACE_HUB_CACHE) return env.HUGGINGFACE_HUB_CACHE;
  const home = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface");
  return join(home, "hub");
}

export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
}

export function isHubOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return ["1", "true", "yes", "on"].includes((env.HF_HUB_OFFLINE ?? "").trim().toLowerCase());
}

export function isRepoId(name: string): boolean {
  return REPO_RE.test(name) && !name.includes("..") && !name.startsWith(".");
}

export function repoCacheDir(repo: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(hubCacheDir(env), `models--${repo.split("/").join("--")}`);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The snapshot folder a revision points at, from `refs/<revision>` (or the commit itself). */
export async function snapshotDir(repoDir: string, revision = "main"): Promise<string | undefined> {
  if (COMMIT_RE.test(revision)) return join(repoDir, "snapshots", revision);
  try {
    const commit = (await readFile(join(repoDir, "refs", revision), "utf8")).trim();
    return commit ? join(repoDir, "snapshots", commit) : undefined;
  } catch {
    return undefined;
  }
}

/** The cached snapshot that holds every required file, or undefined. */
export async function findCachedSnapshot(
  repo: string,
  revision: string | undefined,
  files: readonly HubFile[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  if (!isRepoId(repo)) return undefined;
  const dir = await snapshotDir(repoCacheDir(repo, env), revision ?? "main");
  if (!dir) return undefined;
  for (const f of files) {
    if (!f.optional && !(await isFile(join(dir, f.name)))) return undefined;
  }
  return dir;
}

function timeoutMs(env: NodeJS.ProcessEnv): number {
  const s = Number(env.HF_HUB_DOWNLOAD_TIMEOUT);
  return Number.isFinite(s) && s > 0 ? s * 1000 : 10_000;
}

interface Fetched {
  body: Uint8Array | undefined;
  commit: string | undefined;
}

/**
 * GET one file. Redirects are followed by hand so the token goes to the Hub's own origin only (LFS files
 * redirect to a signed CDN URL) and so `X-Repo-Commit` is read from the Hub's first answer.
 * The timeout covers the wait for headers and every stall while reading the body.
 */
async function fetchFile(url: string, env: NodeJS.ProcessEnv, optional: boolean): Promise<Fetched> {
  const origin = new URL(hubEndpoint(env)).origin;
  const limit = timeoutMs(env);
  let commit: string | undefined;
  let target = url;
  for (let hop = 0; hop < 6; hop++) {
    const controller = new AbortController();
    let timer = setTimeout(() => controller.abort(), limit);
    const headers: Record<string, string> = { "user-agent": "llm-bench" };
    if (env.HF_TOKEN && new URL(target).origin === origin) headers.authorization = `Bearer ${env.HF_TOKEN}`;
    try {
      let res: Response;
      try {
        res = await fetch(target, { headers, redirect: "manual", signal: controller.signal });
      } catch (err) {
        const why = controller.signal.aborted ? `no answer within ${limit / 1000} s` : describeNetError(err);
        throw new HubError("unreachable", `cannot reach ${origin} (${why})`, { cause: err });
      }
      commit ??= res.headers.get("x-repo-commit") ?? undefined;
      if (res.status >= 300 && res.status < 400 && res.headers.get("location")) {
        await res.body?.cancel();
        target = new URL(res.headers.get("location") as string, target).toString();
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        const hint = env.HF_TOKEN
          ? "HF_TOKEN is set but has no access to this repository (gated models need the license accepted)"
          : "the repository is gated or private; set HF_TOKEN to a token with access";
        throw new HubError("unauthorized", `access denied (HTTP ${res.status}) for ${url}: ${hint}`);
      }
      if (res.status === 404) {
        await res.body?.cancel();
        if (optional) return { body: undefined, commit };
        throw new HubError("not-found", `not found (HTTP 404): ${url}`);
      }
      if (!res.ok || !res.body) {
        await res.body?.cancel();
        throw new HubError("http", `HTTP ${res.status} for ${url}`);
      }
      const chunks: Uint8Array[] = [];
      const reader = res.body.getReader();
      try {
        for (;;) {
          clearTimeout(timer);
          timer = setTimeout(() => controller.abort(), limit);
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
        }
      } catch (err) {
        throw new HubError("unreachable", `download of ${url} stalled or failed (${describeNetError(err)})`, {
          cause: err,
        });
      }
      return { body: Buffer.concat(chunks), commit };
    } finally {
      clearTimeout(timer);
    }
  }
  throw new HubError("http", `too many redirects for ${url}`);
}

function describeNetError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

/**
 * Download `files` of `repo` at `revision` into the cache and return the snapshot folder.
 * Throws HubError (kind "offline" when HF_HUB_OFFLINE is set) without touching the network then.
 */
export async function downloadToCache(
  repo: string,
  revision: string | undefined,
  files: readonly HubFile[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (!isRepoId(repo)) throw new HubError("invalid-repo", `'${repo}' is not a Hugging Face repository id`);
  if (isHubOffline(env)) throw new HubError("offline", "HF_HUB_OFFLINE is set, so the Hub is not contacted");
  const rev = revision ?? "main";
  const base = `${hubEndpoint(env)}/${repo}/resolve/${encodeURIComponent(rev)}`;
  const fetched: { name: string; body: Uint8Array }[] = [];
  let commit: string | undefined;
  for (const f of files) {
    log.info(`Downloading ${repo}/${f.name} (revision ${rev}) from ${hubEndpoint(env)}`);
    const r = await fetchFile(`${base}/${f.name}`, env, f.optional === true);
    commit ??= r.commit;
    if (r.body) fetched.push({ name: f.name, body: r.body });
  }
  // Without the Hub's commit header, the revision name keys the snapshot (refs still resolve to it).
  const snapshot = COMMIT_RE.test(rev) ? rev : (commit ?? rev);
  const repoDir = repoCacheDir(repo, env);
  const dir = join(repoDir, "snapshots", snapshot);
  for (const f of fetched) await writeFileAtomic(join(dir, f.name), f.body);
  if (!COMMIT_RE.test(rev)) await writeFileAtomic(join(repoDir, "refs", rev), snapshot);
  return dir;
}

/**
 * The cached snapshot holding `files`, downloading them when missing. Every failure becomes a ConfigError
 * that says which files to provide and where, since that is the user's way out when offline.
 */
export async function cachedOrDownloaded(
  repo: string,
  revision: string | undefined,
  files: readonly HubFile[],
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const cached = await findCachedSnapshot(repo, revision, files, env);
  if (cached) {
    log.verbose(`Using ${what} for ${repo} from the Hugging Face cache: ${cached}`);
    return cached;
  }
  try {
    return await downloadToCache(repo, revision, files, env);
  } catch (err) {
    if (!(err instanceof HubError)) throw err;
    throw new ConfigError(
      `cannot load the ${what} for '${repo}': ${err.detail}.\n${provideFilesHint(repo, files, env)}`,
      undefined,
      {
        cause: err,
      },
    );
  }
}

/** What to put where so that no download is needed. */
export function provideFilesHint(
  repo: string,
  files: readonly HubFile[],
  env: NodeJS.ProcessEnv = process.env,
): string {
  const names = files.map((f) => f.name).join(" and ");
  const cache = isRepoId(repo)
    ? `, or place them in the Hugging Face cache as ${repoCacheDir(repo, env)}/snapshots/<commit>/ with refs/main containing <commit>`
    : "";
  return `Provide the files offline: put ${names} in a directory and pass --model_path DIR${cache}.`;
}
