// Small DOM and formatting helpers shared by the pages.

// h('tag.class', {attr: value, onclick: fn}, ...children): an element; strings become text.
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function bytes(n) {
  n = Number(n || 0);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function duration(seconds) {
  seconds = Math.max(0, Math.round(Number(seconds || 0)));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

export function time(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) || d.getTime() <= 0 ? '' : d.toLocaleString();
}

export function ago(ts) {
  if (!ts) return '';
  const s = (Date.now() - new Date(ts).getTime()) / 1000;
  return `${duration(s)} ago`;
}

// "JOB_STATE_RUNNING" -> "running".
export function stateName(state) {
  return String(state || 'JOB_STATE_UNSPECIFIED').replace(/^JOB_STATE_/, '').toLowerCase();
}

export function stateBadge(state) {
  const name = stateName(state);
  return h(`span.badge.state-${name}`, { 'data-state': name }, name);
}

export function progressBar(fraction) {
  const pct = Math.round(Math.min(1, Math.max(0, Number(fraction || 0))) * 100);
  return h('span.progress', { title: `${pct}%` },
    h('span.track', {}, h('span.bar', { style: `width:${pct}%` })), h('span.pct', {}, `${pct}%`));
}

export function isTerminal(state) {
  return ['succeeded', 'failed', 'cancelled'].includes(stateName(state));
}

export function errorBox(error) {
  return h('div.error', { role: 'alert' }, error && error.message ? error.message : String(error));
}
