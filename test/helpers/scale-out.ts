import { spawn, type ChildProcess } from 'node:child_process';
import { exited, REPO } from './processes.js';

/**
 * Photoreel processes for the scale-out tests: `photoreel serve` (API only) and
 * `photoreel worker`, each a real child process in its own process group (so SIGKILL
 * takes its ffmpeg with it), with its JSON log lines collected for the assertions.
 */
export interface RoleProcess {
  name: string;
  child: ChildProcess;
  /** Parsed JSON log lines, in order. */
  logs: Record<string, any>[];
  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (line: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnRole(role: 'serve' | 'worker', name: string, env: Record<string, string>): RoleProcess {
  const entry = role === 'serve' ? 'src/entry/node.ts' : 'src/entry/worker.ts';
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: REPO,
    env: { ...process.env, LOG_LEVEL: 'info', X264_PRESET: 'superfast', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const logs: Record<string, any>[] = [];
  const waiters = new Set<() => void>();
  let pending = '';
  child.stdout!.on('data', (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line));
      } catch {
        logs.push({ msg: line });
      }
    }
    for (const w of waiters) w();
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  child.on('exit', () => {
    for (const w of waiters) w();
  });
  return {
    name,
    child,
    logs,
    waitForLog(match, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`${name}: no matching log line after ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        const check = () => {
          const hit = logs.find(match);
          if (hit) done(undefined, hit);
          else if (child.exitCode !== null || child.signalCode !== null) done(new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before the log line; stderr: ${stderr}`));
        };
        function done(err?: Error, hit?: Record<string, any>) {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve(hit!);
        }
        waiters.add(check);
        check();
      });
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      try {
        process.kill(signal === 'SIGKILL' ? -child.pid! : child.pid!, signal);
      } catch {
        /* already gone */
      }
      return exited(child);
    },
  };
}
