import { createParser } from 'eventsource-parser';

/**
 * Reading a /run_sse answer: Google ADK events (`content.parts[].text`, function calls and
 * responses, `errorCode`/`errorMessage`) and the older simple shape (`{type: "text"|"tool_call"|
 * "tool_result"|"heartbeat"}`). Empty `data:` lines are heartbeats; lines that are not JSON are
 * skipped. The stream closing ends the turn.
 */

export interface TurnResult {
  /** The agent's answer, in order, without thoughts, tool traffic and known noise. */
  texts: string[];
  toolCalls: number;
  heartbeats: number;
  /** Lines that could not be read as an event (skipped). */
  malformed: number;
  /** `{"error": ...}` or an event with errorCode arrived. */
  errored: boolean;
  /** The connection broke before the stream ended normally. */
  dropped: boolean;
  /** Our 15-minute cap ended the stream. */
  timedOut: boolean;
}

/** "I encountered a temporary issue" after a successful edit is noise (seed). */
export const NOISE = /I encountered a temporary issue/i;

export function newTurn(): TurnResult {
  return { texts: [], toolCalls: 0, heartbeats: 0, malformed: 0, errored: false, dropped: false, timedOut: false };
}

/** Folds one SSE `data` payload into the turn. */
export function handleEventData(turn: TurnResult, data: string): void {
  const d = data.trim();
  if (d === '') {
    turn.heartbeats++;
    return;
  }
  let ev: unknown;
  try {
    ev = JSON.parse(d);
  } catch {
    turn.malformed++;
    return;
  }
  if (!ev || typeof ev !== 'object' || Array.isArray(ev)) {
    turn.malformed++;
    return;
  }
  const e = ev as Record<string, unknown>;
  if ('error' in e && e.error) {
    turn.errored = true;
    return;
  }
  if (typeof e.errorCode === 'string' || typeof e.errorCode === 'number' || typeof e.errorMessage === 'string') {
    turn.errored = true;
  }
  // The older simple shape.
  if (typeof e.type === 'string') {
    if (e.type === 'heartbeat') turn.heartbeats++;
    else if (e.type === 'text' && typeof e.content === 'string') pushText(turn, e.content);
    else if (e.type === 'tool_call') turn.toolCalls++;
    return;
  }
  // ADK Event.
  const content = e.content && typeof e.content === 'object' ? (e.content as Record<string, unknown>) : undefined;
  const role = typeof content?.role === 'string' ? content.role : undefined;
  if (role === 'user') return;
  const parts = Array.isArray(content?.parts) ? (content.parts as unknown[]) : [];
  if (parts.length === 0 && !turn.errored) turn.heartbeats++;
  // A streamed turn repeats the final text in a non-partial event: keep only complete events' text
  // when partial ones are present (partial: true chunks are previews).
  if (e.partial === true) return;
  for (const p of parts) {
    if (!p || typeof p !== 'object') continue;
    const part = p as Record<string, unknown>;
    if (part.functionCall) turn.toolCalls++;
    else if (typeof part.text === 'string' && part.thought !== true) pushText(turn, part.text);
  }
}

function pushText(turn: TurnResult, text: string) {
  const t = text.trim();
  if (t) turn.texts.push(t);
}

/** The answer without trailing noise; an answer that is only noise counts as no text. */
export function meaningfulTexts(turn: TurnResult): string[] {
  return turn.texts.filter((t) => !NOISE.test(t));
}

/** Reads an SSE body to its end (or until `signal` aborts), feeding every event into a turn. */
export async function readTurn(body: ReadableStream<Uint8Array>, signal: AbortSignal, capMs: number, onEvent?: (turn: TurnResult) => void): Promise<TurnResult> {
  const turn = newTurn();
  const parser = createParser({
    onEvent: (msg) => {
      handleEventData(turn, msg.data);
      onEvent?.(turn);
    },
    onError: () => {
      turn.malformed++;
    },
  });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  const onAbort = () => reader.cancel().catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  const cap = setTimeout(() => {
    turn.timedOut = true;
    reader.cancel().catch(() => {});
  }, capMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    // A final event without its blank line still counts (a complete stream gains nothing from this).
    parser.feed(decoder.decode() + '\n\n');
  } catch (err) {
    if (!signal.aborted && !turn.timedOut) turn.dropped = true;
    else throw err;
  } finally {
    clearTimeout(cap);
    signal.removeEventListener('abort', onAbort);
  }
  if (signal.aborted) throw signal.reason;
  return turn;
}
