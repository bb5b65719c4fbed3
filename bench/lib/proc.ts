/** Process helpers for the render bench: peak RSS sampling from /proc and timed ffmpeg runs. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

/** RSS (bytes) of a process and all its descendants, from /proc. */
export function treeRss(root: number): number {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  let sum = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    sum += selfRss(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return sum;
}

export function selfRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples every 100 ms: peak RSS of the whole tree, and of the root's descendants alone. */
export function sampler(root: number) {
  let peak = 0;
  let peakChildren = 0;
  const sample = () => {
    const all = treeRss(root);
    peak = Math.max(peak, all);
    peakChildren = Math.max(peakChildren, all - selfRss(root));
  };
  sample();
  const t = setInterval(sample, 100);
  return {
    stop: () => {
      clearInterval(t);
      sample();
      return { peak, peakChildren };
    },
  };
}

export interface RunResult {
  wallMs: number;
  peakRssBytes: number;
  stderr: string;
}

/** Run a command to completion, timing it and sampling its peak RSS (the process and its children). */
export async function timedRun(cmd: string, args: string[], opts: { cwd?: string; what: string }): Promise<RunResult> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: opts.cwd });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 1e6) stderr = stderr.slice(-5e5);
  });
  const s = sampler(child.pid!);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  const wallMs = performance.now() - t0;
  const peak = s.stop();
  if (code !== 0) throw new Error(`${opts.what}: ${cmd} exited with ${code}: ${stderr.slice(-3000)}`);
  return { wallMs, peakRssBytes: peak.peak, stderr };
}
