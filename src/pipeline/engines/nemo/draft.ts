/**
 * The Nemo draft (compact keys): `t` tracks, `tt` track type (0 video, 1 audio/BGM, 7 text),
 * `sg` segments, `d` duration in ms, `m` metadata. Unknown keys are opaque and passed back
 * unchanged on export.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

function tracks(draft: unknown): Obj[] {
  if (!isObj(draft) || !Array.isArray(draft.t)) return [];
  return draft.t.filter(isObj);
}

/** Exportable when at least one track has a non-empty `sg`. */
export function isExportable(draft: unknown): boolean {
  return tracks(draft).some((t) => Array.isArray(t.sg) && t.sg.length > 0);
}

const KIND: Record<number, string> = { 0: 'Video', 1: 'BGM', 7: 'Text' };

/** A one-line summary of the timeline (counts and times only: no backend text). */
export function summariseDraft(draft: unknown): string {
  const ts = tracks(draft);
  if (ts.length === 0) return 'Timeline: empty';
  const items = ts.map((t, i) => {
    const sg = Array.isArray(t.sg) ? t.sg.filter(isObj) : [];
    const ms = trackDurationMs(t, sg);
    return `${i + 1}. ${KIND[Number(t.tt)] ?? `Track type ${String(t.tt)}`}: ${sg.length} segment${sg.length === 1 ? '' : 's'}${ms ? ` (0-${Math.round(ms / 100) / 10}s)` : ''}`;
  });
  return `Timeline (${ts.length} track${ts.length === 1 ? '' : 's'}): ${items.join(' ')}`;
}

function trackDurationMs(t: Obj, sg: Obj[]): number {
  if (typeof t.d === 'number') return t.d;
  return sg.reduce((sum, s) => sum + (typeof s.d === 'number' ? s.d : 0), 0);
}

/**
 * Drafts may name internal paths (`/mnt/userdata/...`); like the vendor's CLI, replace each
 * with the `cdn_url` of the uploaded file of the same name. Returns a new draft.
 */
export function replaceInternalPaths(draft: unknown, uploads: { filename: string; cdnUrl: string }[]): unknown {
  const byName = new Map<string, string>();
  for (const u of uploads) {
    if (u.filename) byName.set(basename(u.filename), u.cdnUrl);
    byName.set(basename(new URL(u.cdnUrl, 'http://x/').pathname), u.cdnUrl);
  }
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return v.startsWith('/mnt/userdata/') ? (byName.get(basename(v)) ?? v) : v;
    if (Array.isArray(v)) return v.map(walk);
    if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(draft);
}

const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/**
 * The backend talks as if a GUI existed ("click Export", "open the panel", "drag ..."). We have
 * no GUI and always go on with API actions (state, export), so its wording is only classified
 * for the logs: what would a user have been asked to do?
 */
export function guiIntent(texts: string[]): 'export' | 'state' | 'edit' | 'none' {
  const all = texts.join('\n');
  if (/export|导出|click|点击/i.test(all)) return 'export';
  if (/open .*panel|打开|preview in timeline/i.test(all)) return 'state';
  if (/drag|drop|拖拽/i.test(all)) return 'edit';
  return 'none';
}
