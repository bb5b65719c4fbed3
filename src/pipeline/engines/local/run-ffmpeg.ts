import { spawn } from 'node:child_process';
import { AppError } from '../../../core/errors.js';
import { abortError } from './prepare-images.js';

export interface RunFfmpegOptions {
  ffmpegPath: string;
  args: string[];
  cwd?: string;
  signal: AbortSignal;
  /** With `-progress pipe:1` in args: called with the output frame count as it grows. */
  onFrame?(frame: number): void;
  /** Short description for error messages ("encoding the video"). */
  what: string;
  /** Called with the child's pid once spawned (tests check that it is gone after an abort). */
  onSpawn?(pid: number): void;
}

/** SIGTERM first (ffmpeg then stops cleanly), SIGKILL if it is still there after this. */
export const KILL_GRACE_MS = 300;
const STDERR_TAIL_LINES = 15;

/**
 * Run ffmpeg to completion. Resolves on exit 0; an abort kills it and rejects with an
 * AbortError once the process is gone; a failure rejects with AppError('render_failed')
 * whose cause carries the last stderr lines (the message stays short: it reaches clients).
 */
export function runFfmpeg(o: RunFfmpegOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (o.signal.aborted) {
      reject(abortError());
      return;
    }
    const child = spawn(o.ffmpegPath, o.args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stderr: string[] = [];
    let stderrPartial = '';
    let stdoutPartial = '';

    const onAbort = () => {
      aborted = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    };
    o.signal.addEventListener('abort', onAbort, { once: true });
    if (child.pid !== undefined) o.onSpawn?.(child.pid);

    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdoutPartial += chunk;
      const lines = stdoutPartial.split('\n');
      stdoutPartial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('frame=')) {
          const n = Number(line.slice(6));
          if (Number.isFinite(n)) o.onFrame?.(n);
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderrPartial += chunk;
      const lines = stderrPartial.split('\n');
      stderrPartial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        stderr.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
        if (stderr.length > STDERR_TAIL_LINES) stderr.shift();
      }
    });

    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      o.signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      return true;
    };
    child.on('error', (err) => {
      // Spawn failures ('close' may not follow); errors of a running child come with 'close'.
      if (child.pid !== undefined || !settle()) return;
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(new AppError('render_failed', missing ? 'The video encoder is not installed.' : 'The video encoder could not start.', { retryable: !missing, cause: err }));
    });
    child.on('close', (code, sig) => {
      if (!settle()) return;
      if (stderrPartial.trim()) stderr.push(stderrPartial.trim());
      if (aborted) {
        reject(abortError());
        return;
      }
      if (code === 0) {
        resolve();
        return;
      }
      const detail = `ffmpeg exited with ${code === null ? `signal ${sig}` : `code ${code}`} while ${o.what}:\n${stderr.join('\n')}`;
      reject(new AppError('render_failed', `The video encoder failed while ${o.what}.`, { retryable: true, cause: new Error(detail) }));
    });
  });
}
