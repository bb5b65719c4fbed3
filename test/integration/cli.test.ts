import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import { makePhoto } from '../helpers/images.js';
import { tempDir } from '../helpers/servers.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/photoreel.js');
let dir: string;

async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, X264_PRESET: 'superfast' } });
    return { code: 0, stdout, stderr };
  } catch (err: any) {
    return { code: err.code as number, stdout: err.stdout as string, stderr: err.stderr as string };
  }
}

beforeAll(async () => {
  dir = await tempDir('photoreel-cli-');
  await makePhoto(path.join(dir, 'a.jpg'), { width: 1600, height: 1200, colour: [200, 40, 40] });
  await makePhoto(path.join(dir, 'b.png'), { width: 900, height: 1600, colour: [40, 40, 200] });
  await fs.writeFile(path.join(dir, 'notes.jpg'), 'this is not a photo');
});

describe('photoreel CLI', () => {
  it('renders local photos to an MP4 matching the options', async () => {
    const res = await cli(['render', 'a.jpg', 'b.png', '-o', 'out.mp4', '--prompt', 'vertical, 1.5 s per photo', '--resolution', '720p', '--poster', 'poster.jpg']);
    expect(res.stderr).toContain('out.mp4: 720x1280 30 fps, 3.00 s');
    expect(res.code).toBe(0);
    const probe = await probeVideo(path.join(dir, 'out.mp4'));
    expect([probe.codec, probe.pixFmt, probe.width, probe.height]).toEqual(['h264', 'yuv420p', 720, 1280]);
    expect(Math.abs(probe.durationMs - 3000)).toBeLessThanOrEqual(34);
    expect(probe.moovBeforeMdat).toBe(true);
    expect((await fs.stat(path.join(dir, 'poster.jpg'))).size).toBeGreaterThan(1000);
  });

  it('prints the plan without rendering', async () => {
    const res = await cli(['render', 'a.jpg', 'b.png', '--plan', '--prompt', 'square, hard cuts']);
    expect(res.code).toBe(0);
    const plan = JSON.parse(res.stdout);
    expect(plan.output).toMatchObject({ aspect: '1:1', width: 1080, height: 1080 });
    expect(plan.clips[0].transition).toEqual({ type: 'cut', durationMs: 0 });
  });

  it('explains a bad input with its code and exits 1', async () => {
    const res = await cli(['render', 'a.jpg', 'notes.jpg', '-o', 'bad.mp4']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/images\[1\] \(notes\.jpg\): .*\(unsupported_type\)/);
    const missing = await cli(['render', 'nope.jpg']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file: nope.jpg');
    const badOpt = await cli(['render', 'a.jpg', '--fps', '29']);
    expect(badOpt.stderr).toContain('--fps');
  });

  it('prints usage for --help and exits 2 on an unknown command', async () => {
    expect((await cli(['--help'])).stdout).toContain('photoreel render');
    expect((await cli(['explode'])).code).toBe(2);
  });
});
