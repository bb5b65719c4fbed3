import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { abortError, shareIdenticalStills, throwIfAborted, type PrepareOptions, type StillJob } from './prepare-images.js';

/**
 * Still preparation in a short-lived child process (prepare-child-main.ts) instead of the
 * service's own. Why: decoding 12-24 MP photos grows the process by ~200 MB (libvips buffers in
 * glibc's per-thread arenas), which a long-running Node process keeps for good, so it sat
 * beside ffmpeg for the whole encode and for every later job. A child's memory goes back to
 * the system when it exits, and a photo that crashes the decoder takes only the child down.
 * The cost is starting Node with sharp, ~0.3-0.5 s, so small jobs prepare in-process (see
 * CHILD_MIN_PIXELS in index.ts).
 */

const CHILD_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'prepare-child-main.ts');

/** tsx's loader, resolved from this package (the child may start in any working directory). */
function tsxLoader(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}

type ChildMessage = { type: 'progress'; done: number; total: number } | { type: 'done' } | { type: 'error'; message: string };

export async function prepareStillsInChild(jobs: StillJob[], opts: PrepareOptions): Promise<void> {
  const { signal } = opts;
  throwIfAborted(signal);
  // File names are settled here: the caller builds the graph from `jobs`, not from the child.
  shareIdenticalStills(jobs);
  // Only what prepareStill reads: the per-frame motion tables can be large.
  const slim = jobs.map((j) => ({ ...j, still: { ...j.still, motion: null } }));
  const child = fork(CHILD_MAIN, [], {
    execArgv: ['--import', tsxLoader()],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'json',
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => {
      child.kill('SIGKILL');
      finish(abortError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'progress') opts.onStillDone?.(m.done, m.total);
      else if (m.type === 'done') finish();
      else finish(new Error(m.message));
    });
    child.on('error', (err) => finish(err));
    // A clean exit is the child's 'done' (which may be read after the exit is seen).
    child.on('exit', (code, sig) => (code === 0 ? finish() : finish(new Error(`still preparation exited (${sig ?? `code ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`))));
    child.send({ jobs: slim, workDir: opts.workDir, concurrency: opts.concurrency ?? 2 });
  });
}
