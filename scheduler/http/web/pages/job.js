// Job: state, live progress, timeline of states and attempts (worker, device, tier,
// why each ended), the live log of the running attempt (or the stored log of an ended
// one), outputs to download, the preview image and a three.js view of a GLB output;
// Cancel and Retry. Polls /api/v1/jobs/<id> (ETag) and /log while an attempt runs.
import { ApiError, blobURL, download, fetchBlob, getJSON, poll, post } from '../api.js';
import { bytes, duration, errorBox, h, isTerminal, progressBar, stateBadge, stateName, time } from '../util.js';

const EXIT = (r) => String(r || '').replace(/^EXIT_REASON_/, '').replaceAll('_', ' ').toLowerCase();

function timeline(job) {
  const events = [h('li', {}, h('b', {}, 'submitted'), ' ', time(job.created_at))];
  for (const a of job.attempts || []) {
    const ended = a.ended_at && new Date(a.ended_at).getTime() > 0;
    const where = `${a.worker_id} · slot ${a.slot || 0} · ${a.device || ''} · tier ${a.tier || 'default'}`;
    events.push(h('li.attempt', { dataset: { attempt: a.number } },
      h('b', {}, `attempt ${a.number}`), ' ', h('span.muted', {}, where),
      h('div', {}, `assigned ${time(a.assigned_at)}`,
        a.started_at ? ` · started ${time(a.started_at)}` : '',
        ended ? ` · ended ${time(a.ended_at)} (${duration((new Date(a.ended_at) - new Date(a.started_at || a.assigned_at)) / 1000)})` : ''),
      ended ? h('div', {}, h(`span.exit.${a.exit_reason === 'EXIT_REASON_SUCCEEDED' ? 'ok' : 'bad'}`, {}, EXIT(a.exit_reason)),
        a.not_counted ? h('span.muted', {}, ' (not counted)') : '', a.message ? ` — ${a.message}` : '') : null));
  }
  if (job.finished_at) events.push(h('li', {}, h('b', {}, stateName(job.state)), ' ', time(job.finished_at)));
  return h('ol.timeline', {}, events);
}

function fileUrl(job, ref) { return `/api/v1/jobs/${job.id}/files/${ref.sha256}`; }

export function mount(container, params) {
  const id = params.get('id');
  const head = h('div');
  const actions = h('div.actions');
  const progress = h('div.card');
  const lineage = h('section.card', {}, h('h2', {}, 'Timeline'));
  const outputs = h('section.card', {}, h('h2', {}, 'Outputs'));
  const media = h('div.media');
  const logBox = h('pre.log', { id: 'log' });
  const logSection = h('section.card', {}, h('h2', {}, 'Log'), logBox);
  const result = h('section.card', { hidden: true });
  container.append(head, actions, progress, media, h('div.columns', {}, lineage, outputs), result, logSection);

  let current = null;
  let stopped = false;
  let mediaKey = '';
  let viewer = null;
  // The log being shown; `reading` while a poll loop of the live tail runs (one at a time).
  const log = { attempt: 0, offset: 0, timer: null, reading: false, shownBlob: '' };

  async function act(kind) {
    try {
      const answer = await post(`/api/v1/jobs/${id}/${kind}`);
      if (kind === 'retry' && answer.job) location.hash = `#/jobs/${answer.job.id}`;
    } catch (error) {
      actions.append(errorBox(error));
    }
  }

  function renderMedia(job) {
    const outs = job.outputs || [];
    const key = outs.map((o) => o.sha256).join(',');
    if (key === mediaKey) return;
    mediaKey = key;
    media.replaceChildren();
    const preview = outs.find((o) => /^preview\.gif$/i.test(o.name)) || outs.find((o) => /^preview\.png$/i.test(o.name)) ||
      outs.find((o) => /\.(png|gif)$/i.test(o.name));
    if (preview) {
      const img = h('img.preview', { id: 'preview', alt: preview.name });
      media.append(h('figure.card', {}, img, h('figcaption.muted', {}, preview.name)));
      blobURL(fileUrl(job, preview)).then((url) => { img.src = url; }).catch((e) => media.append(errorBox(e)));
    }
    const glb = outs.find((o) => /\.glb$/i.test(o.name));
    if (glb) {
      const holder = h('figure.card.viewer', { id: 'viewer' }, h('figcaption.muted', {}, `${glb.name} — drag to orbit, scroll to zoom`));
      media.append(holder);
      Promise.all([import('../viewer.js'), fetchBlob(fileUrl(job, glb)).then((b) => b.arrayBuffer())])
        .then(([module, buffer]) => { if (!stopped) viewer = module.showGlb(holder, buffer); })
        .catch((e) => holder.append(errorBox(e)));
    }
  }

  function render(job) {
    current = job;
    const terminal = isTerminal(job.state);
    head.replaceChildren(h('h1', {}, job.id, ' ', stateBadge(job.state)),
      h('p', {}, h('b', {}, job.spec.task), job.spec.model ? ` · model ${job.spec.model}` : '',
        ` · priority ${job.spec.priority || 0}`,
        Object.entries(job.spec.labels || {}).map(([k, v]) => h('span.tag', {}, `${k}=${v}`))));
    // replaceChildren would print null: pass only the nodes shown.
    actions.replaceChildren(terminal
      ? h('button', { id: 'retry', onclick: () => act('retry') }, 'Retry as a new job')
      : h('button.danger', { id: 'cancel', onclick: () => act('cancel') }, 'Cancel'));
    progress.replaceChildren(...[progressBar(terminal && job.state === 'JOB_STATE_SUCCEEDED' ? 1 : job.progress),
      h('span', { id: 'progress-message' }, ' ', job.progress_message || ''),
      job.status_message ? h('div.muted', { id: 'status-message' }, job.status_message) : null].filter(Boolean));
    lineage.replaceChildren(h('h2', {}, 'Timeline'), timeline(job));
    const outs = job.outputs || [];
    outputs.replaceChildren(h('h2', {}, 'Outputs'), outs.length === 0 ? h('p.muted', {}, terminal ? 'None.' : 'Not yet.') :
      h('ul.files', {}, outs.map((o) => h('li', {},
        h('a', { href: '#', dataset: { name: o.name }, onclick: (e) => { e.preventDefault(); download(`${fileUrl(job, o)}?download=1`, o.name); } }, o.name),
        h('span.muted', {}, ` ${bytes(o.size_bytes)}`)))));
    if (job.result && Object.keys(job.result).length) {
      result.hidden = false;
      result.replaceChildren(h('h2', {}, 'Result'), h('pre', {}, JSON.stringify(job.result, null, 2)));
    }
    renderMedia(job);
    followLog(job);
  }

  function followLog(job) {
    const attempts = job.attempts || [];
    if (!attempts.length) { logBox.textContent = '(no attempt yet)'; return; }
    const last = attempts[attempts.length - 1];
    if (last.number !== log.attempt) {
      log.attempt = last.number;
      log.offset = 0;
      log.shownBlob = '';
      logBox.textContent = '';
    }
    if (last.log && last.log.sha256) {
      if (log.shownBlob === last.log.sha256) return;
      log.shownBlob = last.log.sha256;
      fetchBlob(fileUrl(job, last.log)).then((b) => b.text()).then((text) => { logBox.textContent = text; });
      return;
    }
    if (!log.reading) {
      log.reading = true;
      readLog();
    }
  }

  async function readLog() {
    log.timer = null;
    if (stopped) return;
    const attempt = log.attempt;
    try {
      const r = await getJSON(`/api/v1/jobs/${id}/log?attempt=${attempt}&offset=${log.offset}`);
      if (attempt !== log.attempt) { /* a newer attempt started meanwhile: read that */ } else if (r.data) {
        const text = new TextDecoder().decode(Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0)));
        if (Number(r.offset || 0) > log.offset) logBox.textContent += `\n[… ${Number(r.offset) - log.offset} bytes no longer kept …]\n`;
        logBox.textContent += text;
        logBox.scrollTop = logBox.scrollHeight;
      }
      if (attempt === log.attempt) log.offset = Number(r.next_offset || log.offset);
      if (r.ended && attempt === log.attempt) {
        log.reading = false;  // the job poll shows the stored log once it is recorded
        return;
      }
    } catch (error) {
      // 409: no attempt yet; others (a restart, a dropped connection): try again below.
      if (!(error instanceof ApiError)) console.warn('log', error);
    }
    if (stopped) return;
    log.timer = setTimeout(readLog, 1000);
  }

  const stop = poll(`/api/v1/jobs/${encodeURIComponent(id)}`, render,
    (error) => head.replaceChildren(h('h1', {}, id), errorBox(error)), 1000);
  return () => {
    stopped = true;
    stop();
    clearTimeout(log.timer);
    if (viewer) viewer.dispose();
    void current;
  };
}
