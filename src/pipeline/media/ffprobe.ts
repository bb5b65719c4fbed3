import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';

/** What a rendered video really is (measured, not what we asked for). */
export interface VideoProbe {
  /** Video codec, e.g. 'h264'. */
  codec: string;
  /** Codec profile as ffprobe names it, e.g. 'High'. */
  profile: string;
  pixFmt: string;
  width: number;
  height: number;
  /** Frames per second (the stream's r_frame_rate, else avg_frame_rate). */
  fps: number;
  /** Video stream duration (container duration if the stream has none), milliseconds. */
  durationMs: number;
  /** Frame count from the container index, when it has one (MP4 does). */
  frames: number | null;
  hasAudio: boolean;
  /** MP4/MOV: the `moov` box comes before `mdat` (fast start); false when it does not or is not found. */
  moovBeforeMdat: boolean;
  /** File size. */
  bytes: number;
}

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  pix_fmt?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  duration?: string;
  nb_frames?: string;
}

interface FfprobeJson {
  streams?: FfprobeStream[];
  format?: { duration?: string };
}

/** Probe a video file with ffprobe plus a look at its MP4 box order. Throws if there is no video stream. */
export async function probeVideo(path: string, ffprobePath = 'ffprobe'): Promise<VideoProbe> {
  const [json, stat, order] = await Promise.all([
    runFfprobe(ffprobePath, ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', path]),
    fs.stat(path),
    topLevelBoxes(path),
  ]);
  const data = JSON.parse(json) as FfprobeJson;
  const streams = data.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video');
  if (!v) throw new Error(`probeVideo: no video stream in ${path}`);
  const fps = parseRate(v.r_frame_rate) || parseRate(v.avg_frame_rate);
  const seconds = Number(v.duration ?? data.format?.duration ?? NaN);
  const moov = order.indexOf('moov');
  const mdat = order.indexOf('mdat');
  return {
    codec: v.codec_name ?? '',
    profile: v.profile ?? '',
    pixFmt: v.pix_fmt ?? '',
    width: v.width ?? 0,
    height: v.height ?? 0,
    fps,
    durationMs: Number.isFinite(seconds) ? Math.round(seconds * 1000) : 0,
    frames: v.nb_frames !== undefined && /^\d+$/.test(v.nb_frames) ? Number(v.nb_frames) : null,
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
    moovBeforeMdat: moov >= 0 && (mdat < 0 || moov < mdat),
    bytes: stat.size,
  };
}

/**
 * The types of the top-level boxes of an ISO BMFF (MP4/MOV) file, in order, reading only the
 * 8/16-byte box headers. Stops at the first malformed header (non-MP4 input gives garbage
 * or an empty list, never a throw for a readable file).
 */
export async function topLevelBoxes(path: string, maxBoxes = 64): Promise<string[]> {
  const fh = await fs.open(path, 'r');
  try {
    const { size } = await fh.stat();
    const header = Buffer.alloc(16);
    const types: string[] = [];
    let pos = 0;
    while (pos + 8 <= size && types.length < maxBoxes) {
      const { bytesRead } = await fh.read(header, 0, 16, pos);
      if (bytesRead < 8) break;
      let boxSize = header.readUInt32BE(0);
      const type = header.toString('latin1', 4, 8);
      if (!/^[\x20-\x7e]{4}$/.test(type)) break;
      types.push(type);
      if (boxSize === 1) {
        if (bytesRead < 16) break;
        const big = header.readBigUInt64BE(8);
        if (big > BigInt(Number.MAX_SAFE_INTEGER)) break;
        boxSize = Number(big);
        if (boxSize < 16) break;
      } else if (boxSize === 0) {
        break; // extends to the end of the file
      } else if (boxSize < 8) {
        break;
      }
      pos += boxSize;
    }
    return types;
  } finally {
    await fh.close();
  }
}

function parseRate(r: string | undefined): number {
  if (!r) return 0;
  const [n, d] = r.split('/').map(Number);
  if (!n || !Number.isFinite(n)) return 0;
  const den = d === undefined ? 1 : d;
  return den ? n / den : 0;
}

function runFfprobe(ffprobePath: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(ffprobePath, args, { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ffprobe failed: ${String(stderr).trim().split('\n').slice(-3).join(' | ') || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });
}
