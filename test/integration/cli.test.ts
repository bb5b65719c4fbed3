import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/pipeline/media/ffprobe.js';
import { makePhoto } from '../helpers/images.js';
import { serveFolder, tempDir } from '../helpers/servers.js';

const run = promisify(execFile);
const BIN = path.resolve(import.meta.dirname, '../../bin/photoreel.js');
let dir: string;

async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, X264_PRESET: 'superfast', ...env } });
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
  // 1.3 s of 440 Hz: shorter than the video, so the engine must loop it.
  await run(process.env.FFMPEG_PATH ?? 'ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=1.3', path.join(dir, 'tone.wav')]);
});

/** The audio streams of a file, as ffprobe sees them. */
async function audioStreams(file: string) {
  const { stdout } = await run(process.env.FFPROBE_PATH ?? 'ffprobe', ['-v', 'error', '-select_streams', 'a', '-show_entries', 'stream=codec_name,profile,sample_rate,channels,duration', '-of', 'json', file]);
  return (JSON.parse(stdout) as { streams: { codec_name: string; profile: string; sample_rate: string; channels: number; duration: string }[] }).streams;
}

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

  it('--preview writes an animated WebP of at most 2 MB; a wrong extension is explained', async () => {
    const res = await cli(['render', 'a.jpg', 'b.png', '-o', 'p.mp4', '--resolution', '720p', '--seconds-per-image', '1', '--preview', 'p.webp']);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/preview p\.webp: 480x270, \d+ kB/);
    const meta = await sharp(path.join(dir, 'p.webp'), { animated: true }).metadata();
    expect(meta.format).toBe('webp');
    expect(meta.pages).toBeGreaterThan(10);
    expect([meta.width, meta.pageHeight]).toEqual([480, 270]);
    expect((await fs.stat(path.join(dir, 'p.webp'))).size).toBeLessThanOrEqual(2_000_000);
    const bad = await cli(['render', 'a.jpg', '-o', 'q.mp4', '--preview', 'q.png']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--preview: the file must end in .webp or .gif');
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

  it('--music mixes a local audio file in: an AAC track exactly as long as the video', async () => {
    const res = await cli(['render', 'a.jpg', 'b.png', '-o', 'music.mp4', '--resolution', '720p', '--fps', '24', '--seconds-per-image', '1.5', '--music', 'tone.wav', '--music-volume', '0.5', '--music-fade-out', '0.5']);
    expect(res.stderr).toContain('music.mp4: 1280x720 24 fps, 3.00 s, music at 50% (AAC)');
    expect(res.code).toBe(0);
    const probe = await probeVideo(path.join(dir, 'music.mp4'));
    expect([probe.codec, probe.width, probe.height, probe.hasAudio]).toEqual(['h264', 1280, 720, true]);
    const [audio, ...more] = await audioStreams(path.join(dir, 'music.mp4'));
    expect(more).toHaveLength(0);
    expect(audio).toMatchObject({ codec_name: 'aac', profile: 'LC', sample_rate: '48000', channels: 2 });
    // Looped from 1.3 s to the video's 3 s, ending on the video's last frame (within one frame at 24 fps).
    expect(Math.abs(Number(audio!.duration) * 1000 - probe.durationMs)).toBeLessThanOrEqual(1000 / 24);
    expect(Math.abs(probe.durationMs - 3000)).toBeLessThanOrEqual(1000 / 24);
  });

  it('--music takes an http(s) URL, fetched with the service\'s rules', async () => {
    const cdn = await serveFolder(dir);
    try {
      const refused = await cli(['render', 'a.jpg', '--music', `${cdn.origin}/tone.wav`, '-o', 'url.mp4']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/music: URL not allowed: .*private address.*\(url_not_allowed\)/);
      const res = await cli(['render', 'a.jpg', '--music', `${cdn.origin}/tone.wav`, '-o', 'url.mp4', '--resolution', '720p', '--seconds-per-image', '1', '--motion', 'none'], { FETCH_ALLOW_HOSTS: cdn.hostPort });
      expect(res.code, res.stderr).toBe(0);
      const probe = await probeVideo(path.join(dir, 'url.mp4'));
      expect(probe.hasAudio).toBe(true);
      expect((await audioStreams(path.join(dir, 'url.mp4')))[0]).toMatchObject({ codec_name: 'aac' });
    } finally {
      await cdn.close();
    }
  });

  it('--music settings reach the plan; bad music is explained and exits 1', async () => {
    const plan = await cli(['render', 'a.jpg', '--plan', '--music', 'tone.wav', '--music-fade-in', '0.25', '--loudness', '-16', '--prompt', 'quiet music']);
    expect(plan.code).toBe(0);
    expect(JSON.parse(plan.stdout).audio).toEqual({ source: 'tone.wav', volume: 0.3, fadeInMs: 250, fadeOutMs: 1500, loudnessLufs: -16 });

    const missing = await cli(['render', 'a.jpg', '--music', 'nope.mp3', '-o', 'x.mp4']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('music: no such file: nope.mp3 (validation_error)');
    const notAudio = await cli(['render', 'a.jpg', '--music', 'notes.jpg', '-o', 'x.mp4']);
    expect(notAudio.code).toBe(1);
    expect(notAudio.stderr).toMatch(/music \(notes\.jpg\): unsupported music type.*\(unsupported_music_type\)/);
    const loud = await cli(['render', 'a.jpg', '--music', 'tone.wav', '--music-volume', 'loud']);
    expect(loud.stderr).toContain('--music-volume: must be a number from 0 to 2 (got "loud")');
    const orphan = await cli(['render', 'a.jpg', '--music-volume', '0.5']);
    expect(orphan.stderr).toContain('--music-volume needs --music <file-or-url>');
    const noValue = await cli(['render', 'a.jpg', '--music']);
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toContain("Option '--music <value>' argument missing");
    await expect(fs.stat(path.join(dir, 'x.mp4'))).rejects.toThrow();
  });

  it('--transition random with --seed plans the same picks every time', async () => {
    const args = ['render', 'a.jpg', 'b.png', 'a.jpg', 'b.png', '--plan', '--transition', 'random', '--seed', '7'];
    const [one, two] = [await cli(args), await cli(args)];
    const types = (r: { stdout: string }) => JSON.parse(r.stdout).clips.map((c: { transition: { type: string } }) => c.transition.type);
    expect(types(one)).toEqual(types(two));
    expect(new Set(types(one).slice(0, -1)).size).toBe(3);
    expect((await cli(['render', 'a.jpg', '--seed', '-1'])).stderr).toContain('--seed: must be a whole number');
  });

  it('prints usage for --help and exits 2 on an unknown command', async () => {
    const help = (await cli(['--help'])).stdout;
    expect(help).toContain('photoreel render');
    for (const flag of ['--music <file|url>', '--music-volume', '--music-fade-in', '--music-fade-out', '--loudness', '--seed', '2160p', 'random']) expect(help).toContain(flag);
    expect((await cli(['explode'])).code).toBe(2);
    expect((await cli(['render', 'a.jpg', '--no-such-flag'])).code).toBe(2);
  });
});
