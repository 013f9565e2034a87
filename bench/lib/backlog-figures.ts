/**
 * The backlog section's result (bench/backlog.ts) as report tables: drain and enqueue rates, relay
 * RSS by phase, Redis bytes per queued delivery, and the healthy target's latency by phase.
 */
import type { BacklogResult, LatencyFigures } from '../backlog.js';
import { bytes, formatNumber, milliseconds, perSecond, type FigureRow, type SectionFigures } from '../report.js';

export function backlogFigures(result: BacklogResult): SectionFigures[] {
  const rss = result.rssMb;
  const range = (phase: keyof BacklogResult['rssMb']['phases']) => `${formatNumber(rss.phases[phase].min, 1)}-${formatNumber(rss.phases[phase].max, 1)} MB`;
  const latency = (figures: LatencyFigures) => `p50 ${milliseconds(figures.p50Ms)}, p99 ${milliseconds(figures.p99Ms)}, max ${milliseconds(figures.maxMs)}`;
  const rows: FigureRow[] = [
    { measure: 'deliveries queued for the down target', value: `${formatNumber(result.jobs)} in ${result.pileUpSeconds.toFixed(1)} s (${perSecond(result.enqueuedPerSecond)})` },
    { measure: 'drain after the target returned', value: `${result.drained ? '' : 'NOT ALL delivered: '}${result.drainSeconds.toFixed(1)} s, ${perSecond(result.drainedPerSecond, ' deliveries/s')}` },
    { measure: 'duplicate deliveries', value: formatNumber(result.duplicateDeliveries) },
    { measure: 'relay RSS start / peak / end', value: `${formatNumber(rss.start, 1)} / ${formatNumber(rss.peak, 1)} / ${formatNumber(rss.end, 1)} MB` },
    { measure: 'relay RSS by phase (min-max)', value: `baseline ${range('baseline')}; pile-up ${range('pileUp')}; drain ${range('drain')}` },
    { measure: 'Redis bytes per queued delivery (relay retrying)', value: bytes(result.redisBytesPerQueuedDelivery) },
    { measure: 'healthy target latency, baseline', value: latency(result.healthyLatency.baseline) },
    { measure: 'healthy target latency, pile-up', value: latency(result.healthyLatency.pileUp) },
    { measure: 'healthy target latency, drain', value: latency(result.healthyLatency.drain) },
  ];
  const notes = result.probesMissing > 0 ? [`${result.probesMissing} healthy-target callbacks never arrived.`] : [];
  if (!result.drained) notes.push('The backlog did not drain within the time limit.');
  if (result.probesRefused + result.enqueueRetries > 0) {
    notes.push(`Redis was too busy to confirm ${result.probesRefused} healthy-target callbacks and ${result.enqueueRetries} backlog writes within the store's deadline (the backlog writes were made again).`);
  }
  return [{ id: 'backlog', title: 'Backlog', rows, notes }];
}
