// The dashboard's shell: sign-in box (token in localStorage), theme switch, and a hash
// router (#/fleet, #/queue, #/jobs?..., #/jobs/<id>) that mounts one page at a time.
// Each page module exports mount(container, params) returning an unmount function.
import { getJSON, setToken, token } from './api.js';
import * as fleet from './pages/fleet.js';
import * as queue from './pages/queue.js';
import * as jobs from './pages/jobs.js';
import * as job from './pages/job.js';

const main = document.getElementById('main');
const banner = document.getElementById('banner');
let unmount = null;

function route() {
  const hash = location.hash.replace(/^#/, '') || '/fleet';
  const [path, query = ''] = hash.split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean);
  let page = fleet;
  let name = 'fleet';
  if (parts[0] === 'queue') { page = queue; name = 'queue'; }
  else if (parts[0] === 'jobs' && parts[1]) { page = job; name = 'jobs'; params.set('id', decodeURIComponent(parts[1])); }
  else if (parts[0] === 'jobs') { page = jobs; name = 'jobs'; }
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === name);
  if (unmount) unmount();
  main.replaceChildren();
  main.dataset.page = parts[0] === 'jobs' && parts[1] ? 'job' : name;
  unmount = page.mount(main, params);
}

async function refreshWhoami() {
  const who = document.getElementById('whoami');
  try {
    const me = await getJSON('/api/v1/whoami');
    who.textContent = me.admin ? `admin${me.tenant ? ' · ' + me.tenant : ''}` : `tenant ${me.tenant}`;
    document.body.dataset.admin = me.admin ? '1' : '0';
    banner.hidden = true;
  } catch (error) {
    who.textContent = '';
    if (error.status === 401 || error.status === 403) {
      banner.textContent = `Sign in: ${error.message}`;
      banner.hidden = false;
    }
  }
}

document.getElementById('token').value = token();
document.getElementById('signin').addEventListener('submit', (event) => {
  event.preventDefault();
  setToken(document.getElementById('token').value.trim());
  refreshWhoami();
  route();
});

const THEME_KEY = 'kiln.theme';
function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}
applyTheme(localStorage.getItem(THEME_KEY));
document.getElementById('theme').addEventListener('click', () => {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === 'dark'
    : matchMedia('(prefers-color-scheme: dark)').matches;
  const next = dark ? 'light' : 'dark';
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
});

window.addEventListener('hashchange', route);
refreshWhoami();
route();
