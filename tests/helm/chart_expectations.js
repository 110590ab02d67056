// Checks what the chart renders for each values file in helm/kiln/ci/ (beyond schema
// validity): the objects a values file asks for are there, with the settings it gave.
// Usage: node chart_expectations.js CASE RENDERED.yaml   (CASE: the values file's stem)
'use strict';
const fs = require('fs');
const YAML = require('yaml');

const [, , testCase, file] = process.argv;
const objects = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'))
    .map((d) => d.toJS()).filter((o) => o);
const failures = [];
function expect(condition, message) {
  if (!condition) failures.push(message);
}
const ofKind = (kind) => objects.filter((o) => o.kind === kind);
const named = (kind, suffix) => ofKind(kind).find((o) => o.metadata.name.endsWith(suffix));
const container = (workload) => workload.spec.template.spec.containers[0];
const args = (workload) => container(workload).args;
const flag = (workload, name) => {
  const prefix = `--${name}=`;
  const found = args(workload).filter((a) => a.startsWith(prefix));
  return found.length === 1 ? found[0].slice(prefix.length) : undefined;
};

// Every case: one scheduler StatefulSet with its volume, probes and security settings.
const sts = ofKind('StatefulSet');
expect(sts.length === 1, `one StatefulSet, got ${sts.length}`);
const scheduler = sts[0];
if (scheduler) {
  expect(scheduler.spec.replicas === 1, 'scheduler replicas 1');
  expect(scheduler.spec.volumeClaimTemplates[0].metadata.name === 'data', 'data PVC template');
  expect(container(scheduler).volumeMounts.some((m) => m.name === 'data' && m.mountPath === '/var/lib/kiln'),
         'data volume at /var/lib/kiln');
  expect(flag(scheduler, 'data-dir') === '/var/lib/kiln', 'scheduler --data-dir');
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    expect(container(scheduler)[probe] && container(scheduler)[probe].grpc &&
           container(scheduler)[probe].grpc.port === 7072, `scheduler ${probe} is gRPC health on 7072`);
  }
  expect(flag(scheduler, 'health-listen') === '0.0.0.0:7072', 'scheduler --health-listen on the probes\' port');
  expect(container(scheduler).securityContext.readOnlyRootFilesystem === true, 'scheduler read-only root');
  expect(scheduler.spec.template.spec.securityContext.runAsNonRoot === true, 'scheduler non-root');
  const svc = named('Service', '-scheduler');
  expect(svc && svc.spec.ports[0].port === 7070, 'scheduler gRPC Service on 7070');
  expect(named('Service', '-scheduler-metrics'), 'scheduler metrics Service');
  expect(svc && scheduler.spec.serviceName === `${svc.metadata.name}-headless`, 'StatefulSet serviceName is the headless Service');
}
const workers = ofKind('Deployment');
for (const w of workers) {
  const spec = w.spec.template.spec;
  const grace = Number(flag(w, 'drain-grace').replace(/s$/, ''));
  expect(spec.terminationGracePeriodSeconds > grace,
         `${w.metadata.name}: terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} must exceed --drain-grace ${grace}s`);
  expect(container(w).securityContext.readOnlyRootFilesystem === true, `${w.metadata.name}: read-only root`);
  expect(container(w).volumeMounts.some((m) => m.mountPath === '/tmp'), `${w.metadata.name}: /tmp volume`);
  expect(flag(w, 'scheduler') && flag(w, 'scheduler').endsWith('-scheduler.default.svc:7070'),
         `${w.metadata.name}: --scheduler names the scheduler Service`);
}
const pool = (name) => workers.find((w) => w.metadata.labels['kiln.dev/pool'] === name);
const gpuLimit = (w) => (container(w).resources.limits || {})['nvidia.com/gpu'];

switch (testCase) {
  case 'single-cpu-values': {
    expect(args(scheduler).includes('--plaintext'), 'TLS off: the scheduler is told --plaintext explicitly');
    expect(workers.length === 1, `one worker pool, got ${workers.length}`);
    const cpu = pool('cpu');
    expect(flag(scheduler, 'auth-tokens') === undefined && flag(cpu, 'token-file') === undefined, 'tokens off by default');
    expect(flag(scheduler, 'sharing-policy') === undefined, 'no sharing policy by default');
    expect(cpu && cpu.spec.replicas === 2, 'cpu pool: 2 replicas');
    expect(cpu && flag(cpu, 'slots') === '4' && flag(cpu, 'gpus') === 'none', 'cpu pool: --slots=4 --gpus=none');
    expect(cpu && gpuLimit(cpu) === undefined, 'cpu pool: no GPU limit');
    expect(cpu && container(cpu).image === 'kiln/worker-cpu:0.1.0', 'cpu pool: CPU image');
    expect(ofKind('ServiceMonitor').length === 0 && ofKind('ConfigMap').length === 0, 'monitoring off by default');
    break;
  }
  case 'mixed-gpu-values': {
    expect(workers.length === 3, `three worker pools, got ${workers.length}`);
    const blackwell = pool('rtx5090');
    const hopper = pool('h100');
    const cpu = pool('cpu');
    expect(blackwell && gpuLimit(blackwell) === 1 && flag(blackwell, 'gpus') === 'auto', 'rtx5090: 1 GPU, --gpus=auto');
    expect(blackwell && blackwell.spec.template.spec.nodeSelector['nvidia.com/gpu.compute.major'] === '12',
           'rtx5090: nodeSelector compute.major "12"');
    expect(blackwell && container(blackwell).image === 'kiln/worker-cuda:0.1.0', 'rtx5090: default CUDA image');
    expect(blackwell && blackwell.spec.template.spec.tolerations.length === 1, 'rtx5090: toleration');
    expect(hopper && gpuLimit(hopper) === 8 && flag(hopper, 'slots') === '0', 'h100: 8 GPUs, no CPU slot');
    expect(hopper && container(hopper).image === 'registry.example.com/kiln/worker-cuda:0.1.0-cuda13', 'h100: own image');
    expect(hopper && flag(hopper, 'model-repo') === '/models', 'h100: --model-repo');
    expect(hopper && hopper.spec.template.spec.terminationGracePeriodSeconds === 135 &&
           flag(hopper, 'drain-grace') === '120s', 'h100: drain grace 120s, termination grace 135');
    expect(hopper && hopper.spec.strategy.rollingUpdate.maxSurge === 0, 'GPU pool: no surge');
    expect(cpu && gpuLimit(cpu) === undefined && flag(cpu, 'slots') === '8', 'cpu: 8 slots, no GPU');
    const pdbs = ofKind('PodDisruptionBudget').map((p) => p.metadata.labels['kiln.dev/pool']).sort();
    expect(JSON.stringify(pdbs) === JSON.stringify(['h100', 'rtx5090']), `PDBs for rtx5090 and h100 only, got ${pdbs}`);
    expect(scheduler && scheduler.spec.volumeClaimTemplates[0].spec.storageClassName === 'fast-ssd' &&
           scheduler.spec.volumeClaimTemplates[0].spec.resources.requests.storage === '200Gi', 'scheduler PVC 200Gi fast-ssd');
    break;
  }
  case 'monitoring-values': {
    const monitors = ofKind('ServiceMonitor');
    expect(monitors.length === 1 && monitors[0].spec.jobLabel === 'kiln.dev/job', 'one ServiceMonitor with jobLabel');
    const jobs = ofKind('Service').filter((s) => s.metadata.labels['kiln.dev/metrics'] === 'true')
        .map((s) => s.metadata.labels['kiln.dev/job']).sort();
    expect(JSON.stringify(jobs) === '["kiln-scheduler","kiln-worker"]', `metrics Services for both jobs, got ${jobs}`);
    const dashboards = ofKind('ConfigMap').find((c) => c.metadata.labels.grafana_dashboard === '1');
    expect(dashboards && Object.keys(dashboards.data).length === 4, 'dashboards ConfigMap with 4 dashboards');
    if (dashboards) {
      for (const [key, text] of Object.entries(dashboards.data)) {
        try { JSON.parse(text); } catch (e) { failures.push(`dashboard ${key} is not JSON: ${e.message}`); }
      }
    }
    const rules = ofKind('PrometheusRule');
    expect(rules.length === 1 && rules[0].spec.groups.length > 0, 'PrometheusRule with groups');
    const schedulerPdb = ofKind('PodDisruptionBudget').find((p) => p.metadata.labels['app.kubernetes.io/component'] === 'scheduler');
    expect(schedulerPdb && schedulerPdb.spec.maxUnavailable === 0, 'scheduler PDB');
    const demo = pool('demo-gpus');
    expect(demo && flag(demo, 'fake-devices') === 'sm_120:32GiB,sm_86:24GiB' && flag(demo, 'gpus') === 'auto' &&
           gpuLimit(demo) === undefined, 'demo pool: fake devices, no GPU limit');
    expect(demo && flag(demo, 'log-format') === 'text', 'logFormat reaches the workers');
    expect(named('Service', '-scheduler').spec.type === 'LoadBalancer', 'scheduler Service type');
    break;
  }
  case 'tls-tokens-values': {
    const tlsFlags = (w) => args(w).filter((a) => a.startsWith('--tls-') || a === '--plaintext').sort();
    expect(JSON.stringify(tlsFlags(scheduler)) === JSON.stringify(
        ['--tls-cert=/etc/kiln/tls/tls.crt', '--tls-client-ca=/etc/kiln/tls/ca.crt', '--tls-key=/etc/kiln/tls/tls.key']),
           `scheduler: TLS flags, mutual, no --plaintext; got ${tlsFlags(scheduler)}`);
    const secretVolume = (w, name) => (w.spec.template.spec.volumes.find((v) => v.name === name) || {}).secret;
    expect(secretVolume(scheduler, 'tls') && secretVolume(scheduler, 'tls').secretName === 'kiln-scheduler-tls',
           'scheduler mounts the TLS Secret');
    expect(container(scheduler).volumeMounts.some((m) => m.name === 'tls' && m.mountPath === '/etc/kiln/tls' && m.readOnly),
           'scheduler: TLS Secret read-only at /etc/kiln/tls');
    expect(flag(scheduler, 'auth-tokens') === '/etc/kiln/auth/tokens.json', 'scheduler --auth-tokens');
    expect(flag(scheduler, 'sharing-policy') === '/etc/kiln/sharing/sharing-policy.json', 'scheduler --sharing-policy');
    const sharing = named('ConfigMap', '-sharing');
    let policy;
    try { policy = sharing && JSON.parse(sharing.data['sharing-policy.json']); } catch (e) { policy = undefined; }
    expect(policy && policy.tenants[0].tenant === 'team-a' && policy.tenants[0].weight === 2 &&
           policy.tenants[0].max_running === 16 && policy.label_limits[0].max_running === 4,
           `sharing policy ConfigMap holds the policy as JSON; got ${sharing && sharing.data['sharing-policy.json']}`);
    const sharingVolume = scheduler.spec.template.spec.volumes.find((v) => v.name === 'sharing');
    expect(sharing && sharingVolume && sharingVolume.configMap.name === sharing.metadata.name,
           'scheduler mounts the sharing policy ConfigMap');
    expect(container(scheduler).volumeMounts.some((m) => m.name === 'sharing' && m.mountPath === '/etc/kiln/sharing' && m.readOnly),
           'scheduler: sharing policy read-only at /etc/kiln/sharing');
    const auth = secretVolume(scheduler, 'auth');
    expect(auth && auth.secretName === 'kiln-tokens' && auth.items[0].key === 'tokens.json',
           'scheduler mounts the token file Secret');
    expect(workers.length === 2, `two pools, got ${workers.length}`);
    for (const w of workers) {
      expect(JSON.stringify(tlsFlags(w)) === JSON.stringify(
          ['--tls-ca=/etc/kiln/tls/ca.crt', '--tls-cert=/etc/kiln/worker-tls/tls.crt', '--tls-key=/etc/kiln/worker-tls/tls.key']),
             `${w.metadata.name}: worker TLS flags; got ${tlsFlags(w)}`);
      const ca = secretVolume(w, 'tls');
      expect(ca && ca.secretName === 'kiln-scheduler-tls' && ca.items.length === 1 && ca.items[0].key === 'ca.crt',
             `${w.metadata.name}: only ca.crt of the scheduler's Secret (not its key)`);
      expect(secretVolume(w, 'worker-tls') && secretVolume(w, 'worker-tls').secretName === 'kiln-worker-tls',
             `${w.metadata.name}: the workers' client certificate`);
      expect(flag(w, 'token-file') === '/etc/kiln/worker-token/token', `${w.metadata.name}: --token-file`);
      const token = secretVolume(w, 'worker-token');
      expect(token && token.secretName === 'kiln-worker-token' && !secretVolume(w, 'auth'),
             `${w.metadata.name}: the worker token Secret, not the scheduler's token file`);
    }
    break;
  }
  default:
    failures.push(`no expectations for case ${testCase}: add them to chart_expectations.js`);
}

for (const f of failures) console.error(`FAILED: ${testCase}: ${f}`);
console.log(`${testCase}: ${objects.length} objects, ${failures.length} failed expectation(s)`);
process.exitCode = failures.length === 0 ? 0 : 1;
