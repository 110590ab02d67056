// Fleet: devices grouped by architecture (sm_XX, cpu), runnable or not with the reason,
// slots busy, memory; and the workers. Polls /api/v1/fleet (ETag).
import { poll } from '../api.js';
import { ago, bytes, errorBox, h } from '../util.js';

function deviceRow(row) {
  const d = row.device;
  const total = Number(d.total_memory_bytes || 0);
  const free = Number(d.free_memory_bytes || 0);
  const runnable = d.runnable && !row.worker_lost;
  return h('tr', { dataset: { runnable: runnable ? '1' : '0' } },
    h('td', {}, row.worker_id, row.worker_lost ? h('span.badge.state-failed', {}, 'lost') : null,
      row.worker_draining ? h('span.badge', {}, 'draining') : null),
    h('td', {}, d.id, h('div.muted', {}, d.name || '')),
    h('td.num', {}, `${row.busy_slots}/${row.slots}`),
    h('td.num', {}, total ? `${bytes(total - free)} / ${bytes(total)}` : ''),
    h('td', {}, (d.features || []).join(' ')),
    h('td', {}, runnable ? h('span.ok', {}, 'runnable')
      : h('span.bad', {}, row.worker_lost ? 'worker lost' : (d.unrunnable_reason || 'not runnable'))));
}

function render(container, data) {
  const groups = data.architectures.map((g) => h('section.card.arch', { dataset: { arch: g.architecture } },
    h('h2', {}, g.architecture,
      h('span.muted', {}, ` ${g.devices} device${g.devices === 1 ? '' : 's'} · ${g.runnable} runnable · ${g.busy_slots}/${g.slots} slots busy`)),
    h('table', {},
      h('thead', {}, h('tr', {}, ['worker', 'device', 'slots busy', 'memory used', 'features', 'status'].map((t) => h('th', {}, t)))),
      h('tbody', {}, g.device_list.map(deviceRow)))));
  const workers = h('section.card', {},
    h('h2', {}, 'Workers', h('span.muted', {}, ` ${data.workers.length}`)),
    h('table', {},
      h('thead', {}, h('tr', {}, ['id', 'host', 'version', 'slots busy', 'last seen', 'state'].map((t) => h('th', {}, t)))),
      h('tbody', {}, data.workers.map(({ worker: w, busy_slots: busy }) => h('tr', {},
        h('td', {}, w.id), h('td', {}, (w.capabilities || {}).hostname || ''), h('td', {}, (w.capabilities || {}).version || ''),
        h('td.num', {}, `${busy}/${((w.capabilities || {}).slots || []).length}`), h('td', {}, ago(w.last_seen_at)),
        h('td', {}, w.lost ? h('span.bad', {}, 'lost') : w.draining ? 'draining' : h('span.ok', {}, 'alive')))))));
  container.replaceChildren(h('h1', {}, 'Fleet'),
    data.architectures.length ? h('div.grid', {}, groups) : h('p.muted', {}, 'No workers have registered.'),
    workers);
}

export function mount(container) {
  container.append(h('h1', {}, 'Fleet'), h('p.muted', {}, 'Loading…'));
  return poll('/api/v1/fleet', (data) => render(container, data),
    (error) => container.replaceChildren(h('h1', {}, 'Fleet'), errorBox(error)), 2000);
}
