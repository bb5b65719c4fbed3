import { loadConfig } from '../../src/config.js';
import { describe, expect, it } from 'vitest';
import type { Clip, Motion, Plan, TransitionType } from '../../src/core/plan.js';
import { XFADE_PAD, blendedFades, buildFfmpegArgs, buildFilterGraph, fadeOpacity, planSegments, segmentOf, type GraphClip } from '../../src/pipeline/engines/local/filtergraph.js';
import { MAX_UPSCALE, frameWindows, lookupExpr, motionGraph, planStill, solveAxis, swscaleStep, type PlaneMotion } from '../../src/pipeline/engines/local/motion.js';
import { escapePango, safeArea } from '../../src/pipeline/engines/local/overlays.js';
import { frameTimeline, totalFrames } from '../../src/pipeline/engines/local/timeline.js';

const KB: Motion = { type: 'kenburns', from: { zoom: 1, x: 0.5, y: 0.5 }, to: { zoom: 1.2, x: 0.6, y: 0.4 }, easing: 'easeInOut' };

/** A plan built by the timeline maths of plan.ts: clip i starts when clip i-1's transition begins. */
function makePlan(spec: { durationMs: number; transition?: { type: TransitionType; durationMs: number }; motion?: Motion }[], fps = 30, size = { width: 1280, height: 720 }): Plan {
  const clips: Clip[] = [];
  let start = 0;
  spec.forEach((s, i) => {
    const last = i === spec.length - 1;
    const transition = last ? { type: 'cut' as const, durationMs: 0 } : (s.transition ?? { type: 'fade' as const, durationMs: 500 });
    clips.push({
      image: { index: i, source: `img${i}`, width: 1600, height: 1200 },
      startMs: start,
      durationMs: s.durationMs,
      fit: 'cover',
      motion: s.motion ?? { type: 'none' },
      transition,
    });
    start += s.durationMs - transition.durationMs;
  });
  const last = clips[clips.length - 1]!;
  return {
    output: { ...size, fps, aspect: '16:9' },
    durationMs: last.startMs + last.durationMs,
    clips,
    overlays: [],
    background: '#000000',
    notes: [],
  };
}

function stillsFor(plan: Plan): GraphClip[] {
  const tl = frameTimeline(plan);
  const out = { width: plan.output.width, height: plan.output.height };
  return plan.clips.map((c, i) => {
    const fitted = { width: 960 * (out.height / 720) * (4 / 3) * (720 / 960), height: out.height };
    const f = { width: Math.max(out.width, fitted.width), height: out.height * Math.max(1, out.width / fitted.width) };
    return { file: `c${i}.jpg`, still: planStill(frameWindows(c.motion, tl.clips[i]!.frames, f, out), out, 2) };
  });
}

/** `xfade=...:offset=S` values in order. */
function xfadeOffsets(script: string): number[] {
  return [...script.matchAll(/xfade=transition=\w+:duration=([\d.]+):offset=([\d.]+)/g)].map((m) => Number(m[2]));
}

function loopCounts(script: string): number[] {
  return [...script.matchAll(/^movie=c\d+\.jpg[^\n]*?loop=loop=(\d+)/gm)].map((m) => Number(m[1]) + 1);
}

describe('frame timeline', () => {
  it('rounds the total to whole frames: round(durationMs * fps / 1000)', () => {
    expect(totalFrames(makePlan([{ durationMs: 1000 }]))).toBe(30);
    expect(totalFrames(makePlan([{ durationMs: 1001 }]))).toBe(30);
    expect(totalFrames(makePlan([{ durationMs: 1017 }]))).toBe(31);
    expect(totalFrames(makePlan([{ durationMs: 2000 }], 24))).toBe(48);
    expect(totalFrames(makePlan([{ durationMs: 1990 }], 25))).toBe(50);
    expect(totalFrames(makePlan([{ durationMs: 16 }], 60))).toBe(1);
  });

  it('clip frames minus transition overlaps add up to the total', () => {
    const plan = makePlan([
      { durationMs: 3750, transition: { type: 'fade', durationMs: 750 } },
      { durationMs: 3500, transition: { type: 'wipeleft', durationMs: 500 } },
      { durationMs: 3000, transition: { type: 'cut', durationMs: 0 } },
      { durationMs: 3000 },
    ]);
    const tl = frameTimeline(plan);
    expect(tl.totalFrames).toBe(Math.round((plan.durationMs * 30) / 1000));
    const sum = tl.clips.reduce((s, c) => s + c.frames - (c.xfade?.frames ?? 0), 0);
    expect(sum).toBe(tl.totalFrames);
    // 750 ms = 22.5 frames: the clip's end (112.5 -> 113) and the next start (90) are rounded on the global grid
    expect(tl.clips.map((c) => c.xfade?.frames ?? 0)).toEqual([23, 15, 0, 0]);
    // each clip starts where the previous one's transition begins
    tl.clips.forEach((c, i) => expect(c.startFrame).toBe(Math.round((plan.clips[i]!.startMs * 30) / 1000)));
  });
});

describe('buildFilterGraph', () => {
  it('1 clip: one chain of exactly the total frames, no transitions', () => {
    const plan = makePlan([{ durationMs: 2500 }]);
    const g = buildFilterGraph(plan, stillsFor(plan));
    expect(g.frames).toBe(75);
    expect(loopCounts(g.script)).toEqual([75]);
    expect(g.script).not.toContain('xfade');
    expect(g.script).not.toContain('concat');
    expect(g.script.trim().endsWith('format=yuv420p[vout]')).toBe(true);
    // static clip: no motion filters, scaled once before the loop
    expect(g.script).not.toContain('eval=frame');
  });

  it('2 clips with a crossfade: blended, the fade\'s frames split off both clips, opacity falling by 1/(F+1) per frame', () => {
    const plan = makePlan([{ durationMs: 3500, transition: { type: 'fade', durationMs: 500 } }, { durationMs: 3000 }]);
    expect(plan.clips[1]!.startMs).toBe(3000);
    const g = buildFilterGraph(plan, stillsFor(plan));
    expect(g.script).not.toContain('xfade');
    expect(loopCounts(g.script)).toEqual([105, 90]);
    // clip 0: 90 frames alone, its last 15 blended with clip 1's first 15
    expect(g.script).toContain('[c0s0]trim=start_frame=0:end_frame=90,setpts=PTS-STARTPTS[c0m]');
    expect(g.script).toMatch(/\[c0s1\]trim=start_frame=90,setpts=PTS-STARTPTS,sendcmd=c='0\.016667 blend@f1 all_opacity 0\.875000;/);
    expect(g.script).toContain('[c1s0]trim=end_frame=15,setpts=PTS-STARTPTS[c1h]');
    expect(g.script).toContain('[c0t][c1h]blend@f1=all_mode=normal:all_opacity=0.937500[f1]');
    expect(g.script).toContain('[c0m][f1][c1m]concat=n=3:v=1:a=0,settb=1/30,setpts=N[cat]');
    expect(g.frames).toBe(180); // 6.5 s - 0.5 s overlap
  });

  it('fade weights: (F - j) / (F + 1), never 0 or 1 inside the transition; a clip too short for two blends keeps an xfade', () => {
    expect([0, 7, 14].map((j) => fadeOpacity(j, 15))).toEqual(['0.937500', '0.500000', '0.062500']);
    // 1 s clips with 0.5 s fades on both sides: no frame of the middle clip alone, so its fade out is an xfade
    const plan = makePlan([
      { durationMs: 1000, transition: { type: 'fade', durationMs: 500 } },
      { durationMs: 1000, transition: { type: 'fade', durationMs: 500 } },
      { durationMs: 1000 },
    ]);
    expect(blendedFades(frameTimeline(plan))).toEqual([true, false, false]);
    const g = buildFilterGraph(plan, stillsFor(plan));
    expect(g.script).toContain('blend@f1');
    expect(g.script).toContain('xfade=transition=fade');
    expect(g.frames).toBe(Math.round((plan.durationMs * 30) / 1000));
  });

  it('3 clips: each xfade offset equals the next clip\'s startMs, per-clip transition lengths', () => {
    const plan = makePlan([
      { durationMs: 2750, transition: { type: 'slideleft', durationMs: 750 } },
      { durationMs: 2400, transition: { type: 'circleopen', durationMs: 400 } },
      { durationMs: 2000 },
    ]);
    const g = buildFilterGraph(plan, stillsFor(plan));
    expect(xfadeOffsets(g.script)).toEqual([plan.clips[1]!.startMs / 1000, plan.clips[2]!.startMs / 1000]);
    // 750 ms is 22.5 frames at 30 fps: the overlap is whole frames (rounded on the global grid)
    expect(g.script).toMatch(/\[c0\]\[c1\]xfade=transition=slideleft:duration=0\.766667:offset=2\.000000\[x1\]/);
    expect(g.script).toMatch(/\[x1\]\[c2\]xfade=transition=circleopen:duration=0\.400000:offset=4\.000000\[x2\]/);
    expect(g.frames).toBe(Math.round((plan.durationMs * 30) / 1000));
  });

  it('3 clips with a cut: concat with no overlap, the clip before the cut ends where the next starts', () => {
    const plan = makePlan([
      { durationMs: 2500, transition: { type: 'wipeleft', durationMs: 500 } },
      { durationMs: 2000, transition: { type: 'cut', durationMs: 0 } },
      { durationMs: 2000 },
    ]);
    const g = buildFilterGraph(plan, stillsFor(plan));
    expect(xfadeOffsets(g.script)).toEqual([2]);
    expect(g.script).toContain('[x1][c2]concat=n=2:v=1:a=0,settb=1/30,setpts=N[cat]');
    const tl = frameTimeline(plan);
    expect(tl.clips[1]!.startFrame + tl.clips[1]!.frames).toBe(tl.clips[2]!.startFrame);
    // the clip going into the xfade runs XFADE_PAD frames longer (xfade drops them)
    expect(loopCounts(g.script)).toEqual([75 + XFADE_PAD, 60, 60]);
    expect(g.frames).toBe(180);
  });

  it('an xfade after a cut is offset from the start of its run, not of the video', () => {
    const plan = makePlan([
      { durationMs: 2000, transition: { type: 'cut', durationMs: 0 } },
      { durationMs: 2500, transition: { type: 'dissolve', durationMs: 500 } },
      { durationMs: 2000 },
    ]);
    const g = buildFilterGraph(plan, stillsFor(plan));
    // clip 2 starts at 4.0 s; its run (clips 1-2) starts at 2.0 s
    expect(plan.clips[2]!.startMs).toBe(4000);
    expect(xfadeOffsets(g.script)).toEqual([2]);
    expect(g.script).toContain('[c0][x2]concat=n=2');
  });

  it('Ken Burns clips get per-frame crop/scale/crop with as many lookup entries as frames', () => {
    const plan = makePlan([{ durationMs: 2000, motion: KB }]);
    const g = buildFilterGraph(plan, stillsFor(plan));
    expect(g.script).toContain('eval=frame');
    expect(g.script).toMatch(/crop=w=1280:h=720:x=/);
  });

  it('overlays are composited for their frames only, with fades', () => {
    const plan = makePlan([{ durationMs: 4000 }]);
    const g = buildFilterGraph(plan, stillsFor(plan), [{ file: 'o0.png', x: 10, y: 20, startMs: 1000, durationMs: 2000 }]);
    expect(g.script).toContain('movie=o0.png,format=rgba,scale=out_color_matrix=bt709:out_range=tv,format=yuva420p,loop=loop=59:size=1:start=0,settb=1/30,setpts=N+30');
    expect(g.script).toContain('fade=t=in:st=1.000000:d=0.300:alpha=1');
    expect(g.script).toContain('fade=t=out:st=2.700000:d=0.300:alpha=1');
    expect(g.script).toContain('overlay=x=10:y=20:eof_action=pass');
  });
});

describe('segments', () => {
  const plan = makePlan(Array.from({ length: 11 }, (_, i) => ({ durationMs: 1500, transition: { type: (i % 3 === 2 ? 'cut' : 'fade') as TransitionType, durationMs: i % 3 === 2 ? 0 : 500 } })));
  const tl = frameTimeline(plan);

  it('cover the timeline exactly, never split a transition, and hold at most maxClips clips', () => {
    for (const max of [2, 3, 4, 100]) {
      const segs = planSegments(tl, max);
      expect(segs[0]!.startFrame).toBe(0);
      expect(segs[segs.length - 1]!.endFrame).toBe(tl.totalFrames);
      for (let k = 1; k < segs.length; k++) expect(segs[k]!.startFrame).toBe(segs[k - 1]!.endFrame);
      for (const s of segs) {
        const inside = tl.clips.filter((c) => c.startFrame < s.endFrame && c.startFrame + c.frames > s.startFrame);
        expect(inside.length).toBeLessThanOrEqual(max);
        for (const c of tl.clips) {
          if (!c.xfade) continue;
          const t0 = c.startFrame + c.frames - c.xfade.frames;
          const t1 = c.startFrame + c.frames;
          // a boundary may not fall strictly inside a transition
          expect(s.startFrame <= t0 || s.startFrame >= t1).toBe(true);
        }
      }
      const graphs = segs.map((s) => buildFilterGraph(plan, stillsFor(plan), [], s));
      expect(graphs.reduce((n, g) => n + g.frames, 0)).toBe(tl.totalFrames);
      if (max >= 11) expect(segs).toHaveLength(1);
    }
  });
});

describe('motion', () => {
  it('solveAxis hits the ideal mapping to hundredths of a pixel', () => {
    const errors: number[] = [];
    for (let k = 0; k < 200; k++) {
      const w = 1700 + ((k * 37) % 500);
      const a = 100 + ((k * 53) % 100) / 7;
      const s = solveAxis(a, w, 2500, 1920);
      // Within ~0.5 % of ratio 1 swscale snaps to an unscaled copy (whole pixels only);
      // planStill's resampled copy of the still covers those frames.
      if (Math.abs(w / 1920 - 1) > 0.005) errors.push(s.error);
      // the modelled mapping (swscale's fixed-point step) must be consistent with the reported error
      const r = swscaleStep(s.cropSize, s.scaled);
      const e0 = s.crop + (s.offset + 0.5) * r - (a + (0.5 * w) / 1920);
      const e1 = e0 + 1919 * (r - w / 1920);
      expect(Math.abs(e0)).toBeLessThanOrEqual(s.error + 1e-9);
      expect(Math.abs(e1)).toBeLessThanOrEqual(s.error + 1e-9);
      // the crop covers the window and stays inside the still; the output fits the scaled frame
      expect(s.crop).toBeLessThan(a);
      expect(s.crop + s.cropSize).toBeGreaterThan(a + w);
      expect(s.crop + s.cropSize).toBeLessThanOrEqual(2500);
      expect(s.offset + 1920).toBeLessThanOrEqual(s.scaled);
    }
    errors.sort((x, y) => x - y);
    // (the old fixed-size crop: up to ~0.25 px)
    expect(errors[errors.length >> 1]!).toBeLessThan(0.01);
    expect(errors[errors.length - 1]!).toBeLessThan(0.05);
  });

  it('planStill places every Ken Burns frame within hundredths of a pixel, luma and chroma', () => {
    const out = { width: 1920, height: 1080 };
    for (const motion of [KB, { ...KB, from: KB.to, to: KB.from }, { ...KB, from: { zoom: 1.2, x: 0.4, y: 0.5 }, to: { zoom: 1.2, x: 0.6, y: 0.5 } }]) {
      const still = planStill(frameWindows(motion, 90, out, out), out, 2);
      expect(still.width % 2).toBe(0);
      expect(still.height % 2).toBe(0);
      expect(still.motion!.luma.maxErrorPx).toBeLessThan(0.05);
      expect(still.motion!.chroma.maxErrorPx).toBeLessThan(0.05);
    }
  });

  it('planStill enlarges every frame a little (half the taps of shrinking), and shrinks only zooms deeper than MAX_UPSCALE^2', () => {
    const out = { width: 1920, height: 1080 };
    const steps = (pm: PlaneMotion) => pm.cropW.map((c, n) => swscaleStep(c, pm.scaleW[n]!));
    for (const motion of [
      { ...KB, to: { zoom: 1.15, x: 0.55, y: 0.45 } },
      { ...KB, from: { zoom: 1.08, x: 0.5, y: 0.5 }, to: KB.from },
      { ...KB, from: { zoom: 1.25, x: 0.4, y: 0.5 }, to: { zoom: 1.25, x: 0.6, y: 0.5 } },
    ]) {
      const m = planStill(frameWindows(motion, 90, out, out), out, 2).motion!;
      const all = [...steps(m.luma), ...steps(m.chroma)];
      // swscale's ratio (source px per output px): always an enlargement, for almost every
      // frame by at most MAX_UPSCALE over the margin (~1.11); a frame that the smaller copy
      // places much better may take it (at most MAX_UPSCALE^2)
      for (const s of all) {
        expect(s).toBeLessThan(1);
        expect(s).toBeGreaterThan(0.97 / MAX_UPSCALE ** 2);
      }
      expect(all.filter((s) => s < 0.97 / MAX_UPSCALE - 1e-3).length).toBeLessThan(all.length * 0.05);
      // the still and its copy both serve frames of a zoom
      if (motion.from.zoom !== motion.to.zoom) expect(new Set(m.luma.alt).size).toBe(2);
    }
    // zoom 1 -> 1.3 (> 1.08^2): the shallowest frames shrink from the copy, the rest enlarge
    const deep = planStill(frameWindows({ ...KB, to: { zoom: 1.3, x: 0.5, y: 0.5 } }, 90, out, out), out, 2).motion!;
    const shrinks = steps(deep.luma).map((s) => s > 1);
    expect(shrinks[0]).toBe(true);
    expect(shrinks[89]).toBe(false);
    expect(shrinks.filter(Boolean).length).toBeLessThan(45);
    expect(Math.min(...steps(deep.luma))).toBeGreaterThan(1 / (MAX_UPSCALE / 0.97) - 1e-3);
  });

  it('lookupExpr returns values[n] for every n', () => {
    const values = [5, 5, 6, 8, 8, 8, 9, 12, 12, 3, 4];
    const js = lookupExpr(values)
      .replace(/\\,/g, ',')
      .replace(/if\(lt\(n,(\d+)\),/g, '(n < $1 ? ')
      .replace(/,/g, ' : ');
    values.forEach((v, n) => expect(Function('n', `return ${js}`)(n)).toBe(v));
  });

  it('static clips need no motion filters; Ken Burns frames go from `from` to `to`', () => {
    const out = { width: 1280, height: 720 };
    const fitted = { width: 1280, height: 960 };
    const none = frameWindows({ type: 'none' }, 10, fitted, out);
    expect(motionGraph(planStill(none, out, 2), out, { fps: 30, id: 'k0' })).toBeNull();
    const w = frameWindows({ ...KB, to: { zoom: 1.2, x: 0.55, y: 0.4 } }, 61, fitted, out);
    expect(w[0]).toEqual({ x: 0, y: 120, w: 1280, h: 720 });
    expect(w[60]!.w).toBeCloseTo(1280 / 1.2, 6);
    expect(w[60]!.x + w[60]!.w / 2).toBeCloseTo(0.55 * 1280, 6);
    expect(w[60]!.y + w[60]!.h / 2).toBeCloseTo(0.4 * 960, 6);
    // views are kept inside the fitted photo
    const edge = frameWindows({ ...KB, to: { zoom: 1.2, x: 1, y: 0 } }, 10, fitted, out)[9]!;
    expect(edge.x + edge.w).toBeCloseTo(1280, 6);
    expect(edge.y).toBe(0);
    // smoothstep: slow at the ends
    expect(Math.abs(w[1]!.w - w[0]!.w)).toBeLessThan(Math.abs(w[31]!.w - w[30]!.w) / 5);
  });
});

describe('ffmpeg args and overlays', () => {
  it('encodes H.264 High yuv420p with an exact frame count and faststart', () => {
    const args = buildFfmpegArgs({ scriptPath: 'g.txt', outPath: 'o.mp4', fps: 30, totalFrames: 123, preset: 'veryfast', crf: 20, threads: 2 });
    const at = (k: string) => args[args.indexOf(k) + 1];
    expect(at('-filter_complex_script')).toBe('g.txt');
    expect(at('-c:v')).toBe('libx264');
    expect(at('-profile:v')).toBe('high');
    expect(at('-pix_fmt')).toBe('yuv420p');
    expect(at('-frames:v')).toBe('123');
    expect(at('-r')).toBe('30');
    expect(at('-movflags')).toBe('+faststart');
    expect(args).toContain('-an');
    expect(args.slice(0, 5)).toEqual(['-nostdin', '-hide_banner', '-loglevel', 'error', '-nostats']);
    // No scene-cut guessing, and veryfast's motion search lightened; no forced keyframes without cuts.
    expect(at('-x264-params')).toBe('8x8dct=1:scenecut=0:me=dia:subme=1:partitions=none');
    expect(args).not.toContain('-force_key_frames');
    // Cuts at frames 30 and 61: each time half a frame early (the first frame at or after it).
    const cut = buildFfmpegArgs({ scriptPath: 'g.txt', outPath: 'o.mp4', fps: 30, totalFrames: 123, preset: 'veryfast', crf: 20, threads: 2, keyFrames: [30, 61] });
    expect(cut[cut.indexOf('-force_key_frames') + 1]).toBe('0.983333,2.016667');
  });

  it('lightens the motion search of the fast presets only, and takes the operator\'s options instead', () => {
    const params = (preset: string, x264Tuning?: string) => {
      const args = buildFfmpegArgs({ scriptPath: 'g.txt', outPath: 'o.mp4', fps: 30, totalFrames: 1, preset, crf: 20, threads: 2, x264Tuning });
      return args[args.indexOf('-x264-params') + 1];
    };
    expect(params('superfast')).toBe('8x8dct=1:scenecut=0:me=dia:subme=1:partitions=none');
    expect(params('medium')).toBe('8x8dct=1:scenecut=0');
    expect(params('slow')).toBe('8x8dct=1:scenecut=0');
    expect(params('veryfast', '')).toBe('8x8dct=1:scenecut=0');
    expect(params('medium', 'me=umh:subme=7')).toBe('8x8dct=1:scenecut=0:me=umh:subme=7');
    // The config takes key=value pairs only: unset is the default, empty the plain preset.
    expect(loadConfig({}).X264_PARAMS).toBeUndefined();
    expect(loadConfig({ X264_PARAMS: '' }).X264_PARAMS).toBe('');
    expect(loadConfig({ X264_PARAMS: 'me=umh:subme=7' }).X264_PARAMS).toBe('me=umh:subme=7');
    expect(() => loadConfig({ X264_PARAMS: 'me=dia -y /etc/passwd' })).toThrow(/X264_PARAMS/);
    expect(() => loadConfig({ X264_PARAMS: 'subme' })).toThrow(/X264_PARAMS/);
    // CRF: 20.5 by default (x264-settings.ts says why); fractions allowed, as x264 takes them.
    expect(loadConfig({}).X264_CRF).toBe(20.5);
    expect(loadConfig({ X264_CRF: '18' }).X264_CRF).toBe(18);
    expect(loadConfig({ X264_CRF: '22.5' }).X264_CRF).toBe(22.5);
    expect(() => loadConfig({ X264_CRF: '52' })).toThrow(/X264_CRF/);
    expect(() => loadConfig({ X264_CRF: 'high' })).toThrow(/X264_CRF/);
  });

  it('finds the segment that holds a frame (the poster is taken from it)', () => {
    const segs = [{ startFrame: 0, endFrame: 113 }, { startFrame: 113, endFrame: 203 }, { startFrame: 203, endFrame: 360 }];
    expect(segmentOf(segs, 30)).toEqual({ index: 0, offset: 30 });
    expect(segmentOf(segs, 112)).toEqual({ index: 0, offset: 112 });
    expect(segmentOf(segs, 113)).toEqual({ index: 1, offset: 0 });
    expect(segmentOf(segs, 250)).toEqual({ index: 2, offset: 47 });
    // Past the end (a frame rounded up at the last frame) or before the start: clamped.
    expect(segmentOf(segs, 360)).toEqual({ index: 2, offset: 156 });
    expect(segmentOf(segs, -1)).toEqual({ index: 0, offset: 0 });
  });

  it('escapes text for Pango markup', () => {
    expect(escapePango(`<b>Tom & "Jerry's"</b>`)).toBe('&lt;b&gt;Tom &amp; &quot;Jerry&#39;s&quot;&lt;/b&gt;');
    expect(escapePango('a\u0001b\nc')).toBe('ab\nc');
  });

  it('keeps vertical video text out of the top 12 % and bottom 20 %', () => {
    const s = safeArea('9:16', 1080, 1920);
    expect(s.top).toBeGreaterThanOrEqual(0.12 * 1920 - 1);
    expect(s.top + s.height).toBeLessThanOrEqual(0.8 * 1920 + 1);
  });
});
