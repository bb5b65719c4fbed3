import { spawn } from 'node:child_process';
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
