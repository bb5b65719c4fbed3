/**
 * Entry of the child process that prepares a render's stills and plans their motion (see
 * prepare-in-child.ts): one request over IPC, progress messages back, the prepared clips, then
 * exit, which returns every byte libvips and the planning used to the system.
 */
import sharp from 'sharp';
import { prepareStills, type StillJob } from './prepare-images.js';

interface Request {
  jobs: StillJob[];
  workDir: string;
  concurrency: number;
}

sharp.cache(false);
const send = (msg: object) => new Promise<void>((resolve) => process.send!(msg, () => resolve()));

process.once('message', (req: Request) => {
  const run = async () => {
    try {
      const clips = await prepareStills(req.jobs, {
        workDir: req.workDir,
        signal: new AbortController().signal,
        concurrency: req.concurrency,
        onStillDone: (done, total) => void send({ type: 'progress', done, total }),
      });
      await send({ type: 'done', clips });
      process.exit(0);
    } catch (err) {
      await send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    }
  };
  void run();
});
// The parent went away: nothing to prepare for.
process.once('disconnect', () => process.exit(1));
