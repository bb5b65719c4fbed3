import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, isFinal, serveFolder, startService, tempDir, waitForJob } from '../helpers/servers.js';
import { makePhoto } from '../helpers/images.js';

/**
 * Music through the real service: tones made with ffmpeg, served from a loopback "CDN",
 * rendered by the local engine, and the MP4s measured with ffprobe and ffmpeg's ebur128.
 * Renders are short (720p, 2 photos x 2 s) to keep the file cheap on two cores.
 */
const run = promisify(execFile);

let dir: string;
let cdn: Awaited<ReturnType<typeof serveFolder>>;
let svc: Awaited<ReturnType<typeof startService>>;
/** Small, so a 6 MB WAV is "too large" without megabytes of test data. */
const MAX_MUSIC_BYTES = 5_000_000;
/** Figures printed at the end, for the record (no assertions depend on them beyond the tolerances). */
const measured: Record<string, unknown> = {};

async function ff(args: string[]): Promise<void> {
  await run('ffmpeg', ['-nostdin', '-v', 'error', '-y', ...args]);
}
const tone = (hz: number, seconds: number, rate = 44100) => ['-f', 'lavfi', '-i', `sine=frequency=${hz}:duration=${seconds}:sample_rate=${rate}`];

beforeAll(async () => {
  dir = await tempDir('photoreel-music-');
  await makePhoto(path.join(dir, 'a.jpg'), { width: 1280, height: 720, colour: [200, 40, 40] });
  await makePhoto(path.join(dir, 'b.jpg'), { width: 1280, height: 720, colour: [40, 40, 200], seed: 2 });
  await Promise.all([
    // 1.5 s: shorter than the 4 s videos, so it has to loop.
    ff([...tone(440, 1.5), '-c:a', 'libmp3lame', '-b:a', '128k', path.join(dir, 'short.mp3')]),
    // 20 s stereo: longer than the video, so it is trimmed.
    ff([...tone(330, 20, 48000), '-ac', '2', path.join(dir, 'long.wav')]),
    ff([...tone(550, 6), '-c:a', 'aac', path.join(dir, 'tone.m4a')]),
    // Plain MP4 brand (isom), as many tools write audio-only MP4.
    ff([...tone(550, 6), '-c:a', 'aac', '-f', 'mp4', path.join(dir, 'tone-isom.mp4')]),
    ff([...tone(660, 3), '-c:a', 'aac', '-f', 'adts', path.join(dir, 'tone.aac')]),
    // 32 s stereo 48 kHz 16-bit WAV: 6.1 MB, over MAX_MUSIC_BYTES.
    ff([...tone(220, 32, 48000), '-ac', '2', path.join(dir, 'big.wav')]),
    // 31 minutes at 8 kb/s: small, but over the 30-minute cap.
    ff([...tone(220, 31 * 60, 8000), '-c:a', 'libmp3lame', '-b:a', '8k', path.join(dir, 'too-long.mp3')]),
    ff(['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=2', '-c:v', 'libx264', '-preset', 'ultrafast', path.join(dir, 'no-audio.mp4')]),
    ff([...tone(440, 2), '-c:a', 'flac', path.join(dir, 'tone.flac')]),
  ]);
  const m4a = await fs.readFile(path.join(dir, 'tone.m4a'));
  // moov is at the end (no faststart): the first half has no index at all.
  await fs.writeFile(path.join(dir, 'truncated.m4a'), m4a.subarray(0, Math.floor(m4a.length / 2)));
  const mp3 = await fs.readFile(path.join(dir, 'short.mp3'));
  await fs.writeFile(path.join(dir, 'truncated.mp3'), mp3.subarray(0, 700));
  await fs.writeFile(path.join(dir, 'doc.pdf'), '%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
  cdn = await serveFolder(dir);
  svc = await startService({ FETCH_ALLOW_HOSTS: cdn.hostPort, MAX_MUSIC_BYTES: String(MAX_MUSIC_BYTES) });
}, 120_000);

afterAll(async () => {
  await svc?.stop();
  await cdn?.close();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
  console.log('music measurements', JSON.stringify(measured, null, 1));
});

const images = () => [`${cdn.origin}/a.jpg`, `${cdn.origin}/b.jpg`];

async function render(body: Record<string, unknown>, name: string): Promise<{ job: any; file: string }> {
  const { options, ...rest } = body;
  const res = await api(svc.url, 'POST', '/v1/jobs', { images: images(), options: { resolution: '720p', secondsPerImage: 2, ...(options as object) }, ...rest });
  expect(res.status, JSON.stringify(res.json)).toBe(202);
  const job = await waitForJob(svc.url, res.json.id, isFinal, 120_000);
  expect(job.error).toBeNull();
  expect(job.status).toBe('succeeded');
  const file = path.join(dir, `${name}.out.mp4`);
  await fs.writeFile(file, Buffer.from(await (await fetch(job.result.video.url)).arrayBuffer()));
  return { job, file };
}

interface Stream {
  codec_type: string;
  codec_name: string;
  profile?: string;
  sample_rate?: string;
  channels?: number;
  duration: string;
  bit_rate?: string;
}
async function streams(file: string): Promise<{ video: Stream; audio?: Stream }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_streams', file]);
  const all = (JSON.parse(stdout) as { streams: Stream[] }).streams;
  return { video: all.find((s) => s.codec_type === 'video')!, audio: all.find((s) => s.codec_type === 'audio') };
}

/** Integrated loudness (LUFS) by ffmpeg's ebur128 filter: an independent meter from the one the engine used. */
async function integratedLufs(file: string): Promise<number> {
  const { stderr } = await run('ffmpeg', ['-nostdin', '-hide_banner', '-nostats', '-i', file, '-map', '0:a', '-af', 'ebur128', '-f', 'null', '-'], { maxBuffer: 64 * 1024 * 1024 });
  const m = /Integrated loudness:\s*\n\s*I:\s*(-?[\d.]+) LUFS/.exec(stderr);
  if (!m) throw new Error(`no ebur128 summary:\n${stderr.slice(-500)}`);
  return Number(m[1]);
}

/** Decoded mono PCM (float, 48 kHz) of the audio track. */
async function pcm(file: string): Promise<Float32Array> {
  const { stdout } = await run('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-map', '0:a', '-ac', '1', '-ar', '48000', '-f', 'f32le', '-'], { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 });
  const b = stdout as Buffer;
  return new Float32Array(b.buffer, b.byteOffset, Math.floor(b.length / 4));
}
function rmsDb(x: Float32Array, fromS: number, toS: number): number {
  const a = Math.max(0, Math.round(fromS * 48000));
  const b = Math.min(x.length, Math.round(toS * 48000));
  let sum = 0;
  for (let i = a; i < b; i++) sum += x[i]! * x[i]!;
  return 10 * Math.log10(sum / Math.max(1, b - a) + 1e-20);
}

/** Video, audio and plan lengths agree within one frame. */
async function expectInSync(file: string, job: any, name: string) {
  const { video, audio } = await streams(file);
  expect(audio).toBeDefined();
  expect(audio!.codec_name).toBe('aac');
  expect(audio!.profile).toBe('LC');
  expect(audio!.sample_rate).toBe('48000');
  expect(audio!.channels).toBe(2);
  // One frame, plus float slack in ffprobe's decimal seconds.
  const frame = 1 / job.plan.output.fps + 1e-6;
  const planS = job.plan.durationMs / 1000;
  const v = Number(video.duration);
  const a = Number(audio!.duration);
  expect(Math.abs(v - planS)).toBeLessThanOrEqual(frame);
  expect(Math.abs(a - v)).toBeLessThanOrEqual(frame);
  expect(job.result.video.durationMs).toBe(job.plan.durationMs);
  measured[`${name}.durations`] = { plan: planS, video: v, audio: a, audioKbps: Math.round(Number(audio!.bit_rate) / 1000) };
}

describe('music from a URL', () => {
  it('loops a short MP3 to the video length, faded, at -14 LUFS', async () => {
    const { job, file } = await render({ music: { url: `${cdn.origin}/short.mp3` } }, 'mp3');
    expect(job.plan.audio).toEqual({ source: `${cdn.origin}/short.mp3`, volume: 1, fadeInMs: 1000, fadeOutMs: 1500, loudnessLufs: -14 });
    expect(job.music).toEqual({ url: `${cdn.origin}/short.mp3` });
    await expectInSync(file, job, 'mp3');
    const lufs = await integratedLufs(file);
    measured['mp3.lufs'] = lufs;
    expect(Math.abs(lufs - -14)).toBeLessThanOrEqual(1);

    // Fades: the first and last 100 ms are far quieter than the middle; the middle is full level
    // past the 1.5 s loop seam (it loops, not stops).
    const x = await pcm(file);
    const d = x.length / 48000;
    const head = rmsDb(x, 0, 0.1);
    const mid = rmsDb(x, 1.6, 2.2);
    const tail = rmsDb(x, d - 0.1, d);
    measured['mp3.rmsDb'] = { head, mid, tail };
    expect(mid - head).toBeGreaterThan(15);
    expect(mid - tail).toBeGreaterThan(15);
    expect(rmsDb(x, 1.45, 1.55)).toBeGreaterThan(mid - 6);
  });

  it('trims a long WAV, at a custom loudness target, at 25 fps', async () => {
    const { job, file } = await render({ music: { url: `${cdn.origin}/long.wav`, loudnessLufs: -20, fadeInMs: 0, fadeOutMs: 0 }, options: { fps: 25 } }, 'wav');
    expect(job.plan.audio).toMatchObject({ loudnessLufs: -20, fadeInMs: 0, fadeOutMs: 0 });
    expect(job.plan.output.fps).toBe(25);
    await expectInSync(file, job, 'wav');
    const lufs = await integratedLufs(file);
    measured['wav.lufs'] = lufs;
    expect(Math.abs(lufs - -20)).toBeLessThanOrEqual(1);
    // No fades asked: full level from the first 100 ms.
    const x = await pcm(file);
    expect(rmsDb(x, 0.02, 0.1)).toBeGreaterThan(rmsDb(x, 1.5, 2.5) - 3);
  });

  it('ADTS AAC, with the prompt setting the fades', async () => {
    const { job, file } = await render({ music: { url: `${cdn.origin}/tone.aac` }, prompt: 'music fades in and out over 1 second' }, 'aac');
    expect(job.plan.audio).toMatchObject({ fadeInMs: 1000, fadeOutMs: 1000, volume: 1 });
    await expectInSync(file, job, 'aac');
    const lufs = await integratedLufs(file);
    measured['aac.lufs'] = lufs;
    expect(Math.abs(lufs - -14)).toBeLessThanOrEqual(1);
  });

  it('a job without music has no audio stream', async () => {
    const { job, file } = await render({}, 'silent');
    expect((await streams(file)).audio).toBeUndefined();
    expect(job.plan.audio).toBeUndefined();
    expect(job.music).toBeNull();
  });
});

describe('music uploads', () => {
  it('an uploaded M4A plays at volume 0.5: about 6 dB under the target', async () => {
    const body = await fs.readFile(path.join(dir, 'tone.m4a'));
    const up = await fetch(`${svc.url}/v1/uploads`, { method: 'POST', body, headers: { 'content-type': 'audio/mp4' } });
    const upload = (await up.json()) as any;
    expect(up.status).toBe(201);
    expect(upload).toMatchObject({ type: 'm4a', width: null, height: null, bytes: body.length });
    expect(Math.abs(upload.durationMs - 6000)).toBeLessThan(50);

    const { job, file } = await render({ music: { upload: upload.id, volume: 0.5 }, prompt: 'quiet music' }, 'm4a-upload');
    // The explicit volume wins over "quiet music" (30%).
    expect(job.plan.audio).toMatchObject({ source: `upload:${upload.id}`, volume: 0.5 });
    await expectInSync(file, job, 'm4a-upload');
    const lufs = await integratedLufs(file);
    measured['m4a-upload.lufs'] = lufs;
    expect(Math.abs(lufs - (-14 + 20 * Math.log10(0.5)))).toBeLessThanOrEqual(1);
  });

  it('an audio-only MP4 (brand isom) is taken as M4A', async () => {
    const body = await fs.readFile(path.join(dir, 'tone-isom.mp4'));
    const res = await fetch(`${svc.url}/v1/uploads`, { method: 'POST', body });
    expect(res.status).toBe(201);
    expect(((await res.json()) as any).type).toBe('m4a');
  });

  it('refuses bad music uploads with the music codes', async () => {
    const send = async (name: string) => {
      const res = await fetch(`${svc.url}/v1/uploads`, { method: 'POST', body: await fs.readFile(path.join(dir, name)) });
      return { status: res.status, code: ((await res.json()) as any).error?.code };
    };
    expect(await send('big.wav')).toEqual({ status: 413, code: 'music_too_large' });
    expect(await send('truncated.mp3')).toEqual({ status: 422, code: 'music_unreadable' });
    expect(await send('too-long.mp3')).toEqual({ status: 422, code: 'music_too_long' });
  });

  it('a photo upload is not music (400 naming music.upload)', async () => {
    const photo = await fs.readFile(path.join(dir, 'a.jpg'));
    const up = (await (await fetch(`${svc.url}/v1/uploads`, { method: 'POST', body: photo })).json()) as any;
    const res = await api(svc.url, 'POST', '/v1/plans', { images: images(), music: { upload: up.id } });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'validation_error', field: 'music.upload' });
  });
});

describe('bad music fails the job with a stable code', () => {
  it.each([
    ['a PDF', 'doc.pdf', 'unsupported_music_type'],
    ['a FLAC', 'tone.flac', 'unsupported_music_type'],
    ['a truncated MP3 (700 bytes)', 'truncated.mp3', 'music_unreadable'],
    ['a truncated M4A (no index)', 'truncated.m4a', 'music_unreadable'],
    ['an MP4 without audio', 'no-audio.mp4', 'music_unreadable'],
    ['a file over MAX_MUSIC_BYTES', 'big.wav', 'music_too_large'],
    ['over 30 minutes', 'too-long.mp3', 'music_too_long'],
    ['a 404', 'missing.mp3', 'fetch_failed'],
  ])('%s -> %s', async (_what, name, code) => {
    const res = await api(svc.url, 'POST', '/v1/jobs', { images: images(), options: { resolution: '720p', secondsPerImage: 1 }, music: { url: `${cdn.origin}/${name}` } });
    expect(res.status).toBe(202);
    const job = await waitForJob(svc.url, res.json.id, isFinal, 60_000);
    expect(job.status).toBe('failed');
    expect(job.error.code).toBe(code);
    expect(job.error.message).toMatch(/^music: /);
  });

  it('a private address is refused like a photo URL', async () => {
    const res = await api(svc.url, 'POST', '/v1/jobs', { images: images(), music: { url: 'http://169.254.169.254/latest/meta-data' } });
    const job = await waitForJob(svc.url, res.json.id, isFinal, 60_000);
    expect(job.error.code).toBe('url_not_allowed');
  });
});

describe('the music field', () => {
  it.each([
    [{ url: 'https://example.com/a.mp3', upload: 'upl_01jdx5v6m8q3c2r1t0e9w8y7x6' }, 'music'],
    [{ url: 'https://example.com/a.mp3', volume: 3 }, 'music.volume'],
    [{ url: 'https://example.com/a.mp3', loudnessLufs: -40 }, 'music.loudnessLufs'],
    [{ url: 'file:///etc/passwd' }, 'music.url'],
    [{ url: 'https://example.com/a.mp3', gain: 2 }, 'music'],
  ])('%j -> 400 naming %s', async (music, field) => {
    const res = await api(svc.url, 'POST', '/v1/plans', { images: images(), music });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('validation_error');
    expect(res.json.error.field).toBe(field);
  });

  it('the dry run shows the music that will play, prompt words under explicit fields', async () => {
    const res = await api(svc.url, 'POST', '/v1/plans', {
      images: images(),
      prompt: 'quiet background music, music fades out over 3 seconds, 2 s per photo',
      music: { url: 'https://example.com/track.mp3', fadeInMs: 500 },
    });
    expect(res.status).toBe(200);
    expect(res.json.plan.audio).toEqual({ source: 'https://example.com/track.mp3', volume: 0.3, fadeInMs: 500, fadeOutMs: 3000, loudnessLufs: -14 });
    expect(res.json.plan.notes.join('\n')).toMatch(/music: volume 30%, fade in 0.5 s, fade out 3 s, loudness -14 LUFS/);
  });
});
