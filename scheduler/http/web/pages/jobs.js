// Jobs: filters (state, tenant, model, label) and paging by page token, newest first;
// the current page refreshes live (ETag polling). Filters live in the URL hash.
import { poll } from '../api.js';
import { ago, errorBox, h, progressBar, stateBadge } from '../util.js';

const FILTERS = ['state', 'tenant', 'model', 'label'];

export function mount(container, params) {
  const filters = {};
  for (const f of FILTERS) filters[f] = params.get(f) || '';
  const pageSize = Number(params.get('page_size')) || 50;
  // Tokens of the pages before the current one, for "Previous".
  const tokens = (params.get('trail') || '').split(',').filter(Boolean);
  const pageToken = params.get('page_token') || '';

  const form = h('form.filters', {
    onsubmit: (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const next = new URLSearchParams();
      for (const f of FILTERS) if (data.get(f)) next.set(f, data.get(f));
      location.hash = `#/jobs?${next}`;
    },
  },
  h('label', {}, 'state ', h('select', { name: 'state' },
    ['', 'queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled'].map((s) =>
      h('option', { value: s, selected: s === filters.state }, s || 'any')))),
  h('label', {}, 'tenant ', h('input', { name: 'tenant', value: filters.tenant, size: 10 })),
  h('label', {}, 'model ', h('input', { name: 'model', value: filters.model, size: 14 })),
  h('label', {}, 'label ', h('input', { name: 'label', value: filters.label, placeholder: 'key=value', size: 14 })),
  h('button', { type: 'submit' }, 'Filter'));
  const body = h('div', {}, h('p.muted', {}, 'Loading…'));
  container.append(h('h1', {}, 'Jobs'), form, body);

  const query = new URLSearchParams();
  for (const f of FILTERS) if (filters[f]) query.set(f, filters[f]);
  query.set('page_size', pageSize);
  if (pageToken) query.set('page_token', pageToken);

  function pageLink(label, token, trail) {
    const next = new URLSearchParams();
    for (const f of FILTERS) if (filters[f]) next.set(f, filters[f]);
    if (token) next.set('page_token', token);
    if (trail.length) next.set('trail', trail.join(','));
    return h('a.button', { href: `#/jobs?${next}` }, label);
  }

  return poll(`/api/v1/jobs?${query}`, (data) => {
    const jobs = data.jobs || [];
    body.replaceChildren(
      jobs.length === 0 ? h('p.muted', {}, 'No jobs match.') :
        h('table.jobs', {},
          h('thead', {}, h('tr', {}, ['job', 'task', 'model', 'state', 'progress', 'created', 'labels'].map((t) => h('th', {}, t)))),
          h('tbody', {}, jobs.map((j) => h('tr', { dataset: { jobId: j.id } },
            h('td', {}, h('a', { href: `#/jobs/${j.id}` }, j.id)),
            h('td', {}, j.spec.task), h('td', {}, j.spec.model || ''),
            h('td', {}, stateBadge(j.state), j.status_message && j.state === 'JOB_STATE_QUEUED' ? h('div.muted.small', {}, j.status_message) : null),
            h('td', {}, progressBar(j.progress)),
            h('td', { title: j.created_at }, ago(j.created_at)),
            h('td', {}, Object.entries(j.spec.labels || {}).map(([k, v]) => h('span.tag', {}, `${k}=${v}`))))))),
      h('div.pager', {},
        tokens.length || pageToken ? pageLink('← Previous', tokens[tokens.length - 1] || '', tokens.slice(0, -1)) : null,
        data.next_page_token ? pageLink('Next →', data.next_page_token, pageToken ? [...tokens, pageToken] : [...tokens, '']) : null,
        h('span.muted.small', { id: 'jobs-loaded' }, `${jobs.length} shown`)));
  }, (error) => body.replaceChildren(errorBox(error)), 2000);
}
