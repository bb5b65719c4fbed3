import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, for spawning scripts with its tsx. */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Run one tsx child process per argument list. Each prints "ready" once set up and then
 * waits for "go" on stdin, so they all start their work at the same moment however
 * slowly each booted. Resolves with what each printed after "ready".
 */
export function runTogether(script: string, argLists: string[][]): Promise<string[]> {
  let ready = 0;
  const children = argLists.map((args) =>
    spawn(join(REPO, 'node_modules/.bin/tsx'), [script, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] }),
  );
  return Promise.all(
    children.map(
      (child) =>
        new Promise<string>((resolve, reject) => {
          let out = '';
          let err = '';
          let isReady = false;
          child.stdout!.on('data', (d: Buffer) => {
            out += d.toString();
            if (!isReady && out.startsWith('ready\n')) {
              isReady = true;
              out = out.slice('ready\n'.length);
              if (++ready === children.length) for (const c of children) c.stdin!.end('go\n');
            }
          });
          child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
          child.on('error', reject);
          child.on('close', (code) => {
            if (code === 0) resolve(out);
            else {
              for (const c of children) c.kill();
              reject(new Error(`child exited ${code}: ${err}`));
            }
          });
        }),
    ),
  );
}

/** Child-side: announce readiness and wait for the go signal. */
export const WAIT_FOR_GO = `process.stdout.write('ready\\n');
       await new Promise((r) => process.stdin.once('data', r));`;

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** `npm start`'s entry point as a real child process (its own process group, so ffmpeg dies with it on SIGKILL). */
export function spawnService(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/entry/node.ts'], {
    cwd: REPO,
    env: { ...process.env, LOG_LEVEL: 'warn', X264_PRESET: 'veryfast', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  return child;
}

export async function waitUp(base: string) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('service did not start');
}

export const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));
