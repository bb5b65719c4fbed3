import type { Plan } from '../../core/plan.js';

/** A fetched, validated photo on local disk, ready for an engine. */
export interface SourceImage {
  /** Position in the request's `images` (matches `plan.clips[].image.index`). */
  index: number;
  /** Local file an engine can decode with sharp: the fetched bytes, or a decoded copy for HEIC. */
  path: string;
  /** Detected by content: 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'tiff' | 'heic' ... */
  type: string;
  /** Pixel size after EXIF orientation is applied. */
  width: number;
  height: number;
  /** The http(s) URL the photo was fetched from, when it came from one (engines that can pass URLs on use it). */
  sourceUrl?: string;
}

/** The request's music, fetched and probed: it has an audio stream at least 0.2 s long. */
export interface SourceMusic {
  /** Local file ffmpeg reads (named by its type, e.g. music.mp3). */
  path: string;
  /** Detected by content: mp3 | wav | m4a | aac. */
  type: string;
  /** Probed length (looping and trimming to the plan happen in the engine). */
  durationMs: number;
}

/** Where an engine records its progress with a third party, so a redelivered job resumes instead of paying twice. */
export interface RenderCheckpoint {
  load(): Promise<Record<string, unknown> | null>;
  /** Replaces the saved state. Never put secrets (tokens) in it. */
  save(state: Record<string, unknown>): Promise<void>;
}

export interface RenderRequest {
  plan: Plan;
  /** One per distinct `plan.clips[].image.index`. */
  images: SourceImage[];
  /** A private scratch folder for this render; the caller deletes it afterwards. */
  workDir: string;
  /** Aborting stops the render (kills ffmpeg) and rejects with an AbortError. */
  signal: AbortSignal;
  /** Fraction 0..1 of the render done; called often, callers throttle. */
  onProgress(fraction: number): void;
  /** Optional: state kept on the job across attempts (the consumer stores it on the job record). */
  checkpoint?: RenderCheckpoint;
  /** The job's own instruction, as written (engines that take plain language use it). */
  prompt?: string;
  /** Music to mix in as `plan.audio` says (present only when `plan.audio.source` is); without it the MP4 has no audio track. */
  music?: SourceMusic;
}

export interface RenderOutput {
  /** MP4 in workDir: H.264 High, yuv420p, moov before mdat. */
  videoPath: string;
  /** JPEG poster frame in workDir. */
  posterPath: string;
  width: number;
  height: number;
  fps: number;
  durationMs: number;
  codec: 'h264';
  bytes: number;
}

/** An engine turns a plan and its photos into a video. `local` is ours (sharp + ffmpeg). */
export interface Engine {
  readonly name: string;
  render(req: RenderRequest): Promise<RenderOutput>;
  /** Optional: what GET /v1/engines shows about this engine (e.g. a credit balance). */
  status?(signal?: AbortSignal): Promise<EngineStatus>;
}

export interface EngineStatus {
  /** Credit balance at a hosted backend; null when it could not be read. */
  credits?: { available: number; frozen: number; total: number } | null;
}
