import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { abortError, shareIdenticalStills, throwIfAborted, type PrepareOptions, type PreparedClip, type StillJob } from './prepare-images.js';

/**
 * Still preparation in a short-lived child process (prepare-child-main.ts) instead of the
 * service's own. Why: decoding 12-24 MP photos grows the process by ~200 MB (libvips buffers in
 * glibc's per-thread arenas), which a long-running Node process keeps for good, so it sat
 * beside ffmpeg for the whole encode and for every later job. A child's memory goes back to
 * the system when it exits, and a photo that crashes the decoder takes only the child down.
 * The child also plans the clips' motion (prepareStills does, beside libvips): that grows a
 * Node heap by ~60 MB for W1, which the service would keep as well.
 * The cost is starting Node with sharp, ~0.3-0.5 s, so small jobs prepare in-process (see
 * CHILD_MIN_PIXELS in index.ts).
 */

const CHILD_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'prepare-child-main.ts');

/** tsx's loader, resolved from this package (the child may start in any working directory). */
function tsxLoader(): string {
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
}

type ChildMessage = { type: 'progress'; done: number; total: number } | { type: 'done'; clips: PreparedClip[] } | { type: 'error'; message: string };

export async function prepareStillsInChild(jobs: StillJob[], opts: PrepareOptions): Promise<PreparedClip[]> {
  const { signal } = opts;
  throwIfAborted(signal);
  // File names are settled here too, so `jobs` names the same files as the clips that come back.
  shareIdenticalStills(jobs);
  const child = fork(CHILD_MAIN, [], {
    execArgv: ['--import', tsxLoader()],
    // libvips decodes on several threads, and glibc gives each its own malloc arena, where freed
    // photo buffers linger: with 2 arenas the child peaked at 319 instead of 410 MB on W1
    // (bench/, 10 photos of 12-24 MP) and 350 instead of 423 MB on W3 (50 photos), for
    // +0.3 / +1.3 s of preparation. It had become the render's peak, above ffmpeg's.
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'json',
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  return new Promise<PreparedClip[]>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null, clips?: PreparedClip[]) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else if (clips?.length === jobs.length) resolve(clips);
      else reject(new Error(`still preparation returned ${clips?.length ?? 'no'} clips for ${jobs.length}`));
    };
    const onAbort = () => {
      child.kill('SIGKILL');
      finish(abortError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'progress') opts.onStillDone?.(m.done, m.total);
      else if (m.type === 'done') finish(null, m.clips);
      else finish(new Error(m.message));
    });
    child.on('error', (err) => finish(err));
    child.on('exit', (code, sig) => {
      if (code !== 0) return finish(new Error(`still preparation exited (${sig ?? `code ${code}`})${stderr ? `: ${stderr.trim()}` : ''}`));
      // The child exits once its result is sent, but 'exit' can be seen before that message is
      // read; the channel's end ('disconnect') comes after every message in it.
      const noResult = () => finish(new Error('still preparation ended without its result'));
      if (child.connected) child.once('disconnect', noResult);
      else noResult();
    });
    child.send({ jobs, workDir: opts.workDir, concurrency: opts.concurrency ?? 2 });
  });
}
