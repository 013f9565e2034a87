/**
 * Routing: which targets a callback goes to. Patterns are exact event names, prefix wildcards
 * (`mix_*` matches every event starting with `mix_`) or `*`; `appIds`, when set, filters by app.
 */
import type { Target } from '../config/load.js';

export function eventMatches(pattern: string, event: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return event.startsWith(pattern.slice(0, -1));
  return pattern === event;
}

export function targetMatches(target: Target, event: string, appId: string): boolean {
  if (target.appIds && !target.appIds.includes(appId)) return false;
  return target.events.some((pattern) => eventMatches(pattern, event));
}

/** The targets a callback is delivered to, in configuration order. */
export function matchTargets(targets: readonly Target[], event: string, appId: string): Target[] {
  return targets.filter((target) => targetMatches(target, event, appId));
}
