// Queue: depth and oldest wait per requirement class with why it waits, counters and
// throughput. Polls /api/v1/queue (ETag).
import { poll } from '../api.js';
import { duration, errorBox, h } from '../util.js';

function requirements(spec) {
  if (spec.tiers && spec.tiers.length) return spec.tiers.map((t) => t.name || 'tier').join(' → ');
  const r = spec.requirements || {};
  const parts = [String(r.accelerator || 'ACCELERATOR_ANY').replace('ACCELERATOR_', '').toLowerCase()];
  if (r.min_compute_capability) parts.push(`cc ≥ ${r.min_compute_capability}`);
  if (r.max_compute_capability) parts.push(`cc ≤ ${r.max_compute_capability}`);
  if (r.architectures && r.architectures.length) parts.push(r.architectures.join('|'));
  if (r.min_device_memory_bytes) parts.push(`≥ ${Math.round(Number(r.min_device_memory_bytes) / 2 ** 30)} GiB`);
  if (r.features && r.features.length) parts.push(r.features.join('+'));
  return parts.join(', ');
}

function render(container, q) {
  const stat = (label, value) => h('div.stat', {}, h('div.value', {}, value), h('div.label', {}, label));
  container.replaceChildren(
    h('h1', {}, 'Queue'),
    h('div.stats', {},
      stat('queued', q.queued), stat('running', q.leased), stat('workers', q.workers),
      stat('succeeded', q.succeeded), stat('failed', q.failed), stat('cancelled', q.cancelled),
      stat('finished / min', Number(q.throughput_per_minute).toFixed(1))),
    h('section.card', {},
      h('h2', {}, 'Waiting by requirement class'),
      q.classes.length === 0 ? h('p.muted', {}, 'Nothing is waiting.') :
        h('table', {},
          h('thead', {}, h('tr', {}, ['tenant', 'task', 'model', 'requirements', 'jobs', 'oldest wait', 'why'].map((t) => h('th', {}, t)))),
          h('tbody', {}, q.classes.map((c) => h('tr', {},
            h('td', {}, c.tenant || ''), h('td', {}, c.task), h('td', {}, c.model || ''),
            h('td', {}, requirements(c.representative)),
            h('td.num', {}, h('a', { href: `#/jobs?state=queued&tenant=${encodeURIComponent(c.tenant || '')}&model=${encodeURIComponent(c.model || '')}` }, c.jobs)),
            h('td.num', {}, duration(c.oldest_wait_seconds)),
            h('td', {}, h(`span.placement.p-${c.placement.toLowerCase()}`, {}, c.placement.replaceAll('_', ' ').toLowerCase()),
              h('div.muted', {}, c.reason || ''))))))));
}

export function mount(container) {
  container.append(h('h1', {}, 'Queue'), h('p.muted', {}, 'Loading…'));
  return poll('/api/v1/queue', (q) => render(container, q),
    (error) => container.replaceChildren(h('h1', {}, 'Queue'), errorBox(error)), 2000);
}
