// Static checks of the deployment files against the tree and the built programs, so that
// they cannot name what does not exist:
//  - deploy/docker/Dockerfile: every COPY source exists in the build context, every
//    --from names a stage or an image, every program copied out of /opt/kiln/bin is a CMake
//    executable that deploy/docker/stage.sh installs, every CMD flag is a flag of the
//    ENTRYPOINT's program;
//  - deploy/compose/docker-compose.yml: every Kiln service builds a Dockerfile target that
//    exists, and its command's flags are flags of that target's program;
//  - deploy/systemd/*.service: ExecStart names a CMake executable, its flags exist,
//    TimeoutStopSec exceeds the worker's drain grace, stop signals go where they should;
//  - rendered Helm manifests (optional arguments): every flag of a Kiln container exists.
// Flags are read from `PROGRAM --helpfull` of the build (dashes and underscores alike).
// Usage: node deploy_files_check.js SOURCE_DIR BIN_DIR [RENDERED.yaml...]
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const YAML = require('yaml');

const [, , src, binDir, ...rendered] = process.argv;
if (!src || !binDir) {
  console.error('usage: node deploy_files_check.js SOURCE_DIR BIN_DIR [RENDERED.yaml...]');
  process.exit(2);
}
const failures = [];
let checks = 0;
function expect(condition, message) {
  checks++;
  if (!condition) failures.push(message);
}
const read = (rel) => fs.readFileSync(path.join(src, rel), 'utf8');

// CMake executables of the tree.
const cmakeTargets = new Set();
(function scan(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (/^(build|\.git|node_modules|kiln-demo)/.test(entry.name)) continue;
      scan(path.join(dir, entry.name));
    } else if (entry.name === 'CMakeLists.txt') {
      const text = fs.readFileSync(path.join(dir, entry.name), 'utf8');
      for (const m of text.matchAll(/add_executable\(\s*([A-Za-z0-9_.-]+)/g)) cmakeTargets.add(m[1]);
    }
  }
})(src);

// Flags each program accepts, from its --helpfull.
const flagCache = new Map();
function flagsOf(program) {
  if (!flagCache.has(program)) {
    const bin = path.join(binDir, program);
    let text = '';
    try {
      text = execFileSync(bin, ['--helpfull'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      text = `${e.stdout || ''}${e.stderr || ''}`;  // absl exits 1 after --helpfull.
    }
    const flags = new Set([...text.matchAll(/^\s+--([A-Za-z0-9_]+) \(/gm)].map((m) => m[1]));
    if (flags.size === 0) failures.push(`${bin} --helpfull listed no flags: is it built?`);
    flagCache.set(program, flags);
  }
  return flagCache.get(program);
}
function checkFlags(program, args, where) {
  if (!['kiln-scheduler', 'kiln-worker'].includes(program)) return;
  for (const arg of args) {
    const m = /^--([A-Za-z0-9_-]+)(=|$)/.exec(arg);
    if (!m) continue;
    const name = m[1].replace(/-/g, '_');
    expect(flagsOf(program).has(name), `${where}: ${program} has no flag --${m[1]}`);
  }
}
function splitArgs(text) {  // JSON array (exec form) of a Dockerfile instruction.
  try { return JSON.parse(text); } catch (e) { return null; }
}

// ---- Dockerfile
const dockerfile = 'deploy/docker/Dockerfile';
const lines = read(dockerfile).replace(/\\\n/g, ' ').split('\n');
const stages = new Map();  // name -> {entrypoint, cmd}
let stage = null;
const stagedPrograms = (read('deploy/docker/stage.sh').match(/programs=\(([^)]*)\)/) || [, ''])[1]
    .trim().split(/\s+/);
expect(stagedPrograms.length >= 4, 'deploy/docker/stage.sh: programs=(...) list not found');
for (const p of stagedPrograms) expect(cmakeTargets.has(p), `stage.sh installs ${p}, which is no CMake executable`);
for (const raw of lines) {
  const line = raw.trim();
  let m;
  if ((m = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line))) {
    stage = { name: m[2] || m[1], entrypoint: null, cmd: null };
    stages.set(stage.name, stage);
  } else if ((m = /^COPY\s+(.*)$/i.exec(line))) {
    const words = m[1].split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='));
    const paths = words.filter((w) => !w.startsWith('--'));
    const sources = paths.slice(0, -1);
    if (from) {
      const name = from.slice('--from='.length);
      expect(stages.has(name), `${dockerfile}: COPY --from=${name} names no earlier stage`);
      for (const s of sources) {
        const bm = /^\/opt\/kiln\/bin\/(.+)$/.exec(s);
        if (bm) {
          expect(stagedPrograms.includes(bm[1]), `${dockerfile}: copies ${s}, which stage.sh does not install`);
          expect(cmakeTargets.has(bm[1]), `${dockerfile}: ${bm[1]} is no CMake executable`);
        }
      }
    } else {
      for (const s of sources) expect(fs.existsSync(path.join(src, s)), `${dockerfile}: COPY source ${s} does not exist`);
    }
  } else if ((m = /^ENTRYPOINT\s+(.*)$/i.exec(line)) && stage) {
    stage.entrypoint = splitArgs(m[1]);
    expect(stage.entrypoint, `${dockerfile}: ENTRYPOINT of ${stage.name} is not exec form`);
  } else if ((m = /^CMD\s+(.*)$/i.exec(line)) && stage) {
    stage.cmd = splitArgs(m[1]);
    expect(stage.cmd, `${dockerfile}: CMD of ${stage.name} is not exec form`);
  } else if ((m = /RUN .*bash (\S+\.sh)/.exec(line))) {
    const script = m[1].replace(/^\/tmp\/setup-debian\.sh$/, 'scripts/setup-debian.sh');
    expect(fs.existsSync(path.join(src, script)), `${dockerfile}: runs ${script}, which does not exist`);
  }
}
const programOf = (s) => (s && s.entrypoint ? s.entrypoint[s.entrypoint.length - 1] : null);
for (const target of ['scheduler', 'worker-cpu', 'worker-cuda']) {
  const s = stages.get(target);
  expect(s, `${dockerfile}: no stage ${target}`);
  if (!s) continue;
  expect(cmakeTargets.has(programOf(s)), `${dockerfile}: ${target} runs ${programOf(s)}, no CMake executable`);
  checkFlags(programOf(s), s.cmd || [], `${dockerfile} ${target} CMD`);
}
// The CUDA image's architectures: SASS for 75..120 plus PTX of 120, as the tree's default.
const cmakeArchs = (/set\(CMAKE_CUDA_ARCHITECTURES "([^"]+)"\)/.exec(read('cmake/KilnCuda.cmake')) || [])[1];
const imageArchs = (/ARG KILN_CUDA_ARCHITECTURES="([^"]+)"/.exec(read(dockerfile)) || [])[1];
expect(imageArchs === '75-real;80-real;86-real;89-real;90-real;100-real;120',
       `${dockerfile}: KILN_CUDA_ARCHITECTURES is ${imageArchs}, not SASS 75..100 plus 120 with PTX`);
expect(imageArchs === cmakeArchs,
       `${dockerfile}: KILN_CUDA_ARCHITECTURES ${imageArchs} differs from cmake/KilnCuda.cmake's ${cmakeArchs}`);

// ---- compose
const composeFile = 'deploy/compose/docker-compose.yml';
const compose = YAML.parse(read(composeFile));
const composeDir = path.join(src, 'deploy/compose');
let kilnServices = 0;
for (const [name, service] of Object.entries(compose.services)) {
  if (!service.build) {
    expect(!/kiln/.test(service.image || ''), `${composeFile}: ${name} uses a Kiln image it does not build`);
    for (const v of service.volumes || []) {
      const host = String(v).split(':')[0];
      if (host.startsWith('.')) expect(fs.existsSync(path.join(composeDir, host)), `${composeFile}: ${name} mounts ${host}, which does not exist`);
    }
    continue;
  }
  kilnServices++;
  const context = path.join(composeDir, service.build.context);
  const file = path.join(context, service.build.dockerfile);
  expect(path.resolve(file) === path.resolve(src, dockerfile), `${composeFile}: ${name} builds ${file}, not ${dockerfile}`);
  const s = stages.get(service.build.target);
  expect(s, `${composeFile}: ${name} builds target ${service.build.target}, not in ${dockerfile}`);
  if (s) checkFlags(programOf(s), service.command || [], `${composeFile} ${name}`);
}
expect(kilnServices >= 2, `${composeFile}: expected the scheduler and a worker built from ${dockerfile}`);

// ---- systemd
function unitSettings(text) {
  const settings = new Map();
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    if (!settings.has(m[1])) settings.set(m[1], []);
    settings.get(m[1]).push(m[2]);
  }
  return settings;
}
const seconds = (d) => {
  const m = /^(\d+)(s|min)?$/.exec(d);
  return m ? Number(m[1]) * (m[2] === 'min' ? 60 : 1) : NaN;
};
for (const unit of ['kiln-scheduler', 'kiln-worker']) {
  const file = `deploy/systemd/${unit}.service`;
  const settings = unitSettings(read(file));
  const exec = (settings.get('ExecStart') || [''])[0].split(/\s+/);
  const program = path.basename(exec[0]);
  expect(program === unit && cmakeTargets.has(program), `${file}: ExecStart runs ${exec[0]}`);
  checkFlags(program, exec.slice(1), file);
  expect((settings.get('Restart') || [])[0] === 'on-failure', `${file}: Restart=on-failure`);
  expect((settings.get('KillSignal') || [])[0] === 'SIGTERM', `${file}: KillSignal=SIGTERM`);
  if (unit === 'kiln-worker') {
    const env = new Map((settings.get('Environment') || []).map((e) => e.split(/=(.*)/s).slice(0, 2)));
    const grace = seconds(env.get('KILN_DRAIN_GRACE') || '');
    const stop = seconds((settings.get('TimeoutStopSec') || [''])[0]);
    expect(grace > 0 && stop > grace, `${file}: TimeoutStopSec (${stop}) must exceed KILN_DRAIN_GRACE (${grace})`);
    expect((settings.get('KillMode') || [])[0] === 'mixed', `${file}: KillMode=mixed (SIGTERM to kiln-worker only, so running jobs can finish)`);
  }
}

// ---- rendered Helm manifests
for (const file of rendered) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
    const obj = doc.toJS();
    if (!obj || !obj.spec || !obj.spec.template) continue;
    for (const c of obj.spec.template.spec.containers) {
      const program = { scheduler: 'kiln-scheduler', worker: 'kiln-worker' }[c.name];
      expect(program, `${file}: container ${c.name} of ${obj.kind}/${obj.metadata.name} runs no known program`);
      if (program) checkFlags(program, c.args || [], `${file} ${obj.kind}/${obj.metadata.name}`);
    }
  }
}

for (const f of failures) console.error(`FAILED: ${f}`);
console.log(`deploy files: ${checks} checks, ${failures.length} failed`);
process.exitCode = failures.length === 0 ? 0 : 1;
