import cliProgress from 'cli-progress';
import type { Progress } from '@vouchflow/pipeline';

export interface ProgressBar {
  onProgress: Progress;
  stop(): void;
}

/**
 * A progress bar on stderr for bulk work, drawn only on a terminal so that
 * stdout stays clean for scripts and `--json`.
 */
export function createProgressBar(stream: NodeJS.WritableStream & { isTTY?: boolean }, label: string, enabled: boolean): ProgressBar {
  if (!enabled || !stream.isTTY) return { onProgress: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream, format: `${label} [{bar}] {value}/{total} ({percentage}%) {eta_formatted} left`, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    onProgress(done, total) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
