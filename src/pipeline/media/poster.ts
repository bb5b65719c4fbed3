/**
 * The poster: one frame of the finished video as a JPEG, the same for every engine.
 */

/** When the poster is taken: a second in, or halfway through videos shorter than 2 s. */
export function posterTime(durationMs: number): number {
  return Math.min(1, durationMs / 2000);
}

/**
 * ffmpeg arguments (without the binary) that write the frame at `atSeconds` of `video` to
 * `out` as a JPEG. JPEG's YCbCr is BT.601 full range and an H.264 video's is usually BT.709
 * limited, so the frame is converted from what the video is tagged with, not just relabelled:
 * relabelled, our 720p test frame came out ~9 levels off per channel on average (red most).
 */
export function posterArgs(video: string, atSeconds: number, out: string): string[] {
  return [
    '-nostdin', '-hide_banner', '-loglevel', 'error',
    '-ss', atSeconds.toFixed(3), '-i', video, '-frames:v', '1',
    '-vf', 'scale=out_color_matrix=bt601:out_range=pc,format=yuvj420p',
    '-q:v', '3', '-y', out,
  ];
}
