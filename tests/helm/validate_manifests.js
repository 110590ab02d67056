// Validates rendered Kubernetes manifests (multi-document YAML files) offline, against
// the Kubernetes 1.29 API:
//  1. strict structure: every field must exist in the 1.29 API types with the right JSON
//     type (the models of @kubernetes/client-node 0.21, generated from Kubernetes 1.29);
//     an unknown or misspelt field, a number where a string is required (a label value
//     of 12 instead of "12"), or an unknown apiVersion/kind is an error;
//  2. schema rules (required fields, formats, enums) through the JSON-schema validators
//     of kubernetes-models (core types) and @kubernetes-models/prometheus-operator
//     (ServiceMonitor, PrometheusRule).
// Usage: node validate_manifests.js FILE.yaml...   Exit 0: all valid; 1: errors (listed).
'use strict';
const fs = require('fs');
const YAML = require('yaml');
const k8s = require('@kubernetes/client-node');

// Fields of type resource.Quantity accept numbers too (the API server parses them).
const QUANTITY_FIELDS = new Set([
  'V1ResourceRequirements.limits', 'V1ResourceRequirements.requests',
  'V1VolumeResourceRequirements.limits', 'V1VolumeResourceRequirements.requests',
  'V1EmptyDirVolumeSource.sizeLimit',
]);
// Custom resources: no client-node model; kubernetes-models checks their schema.
const CUSTOM_KINDS = {
  'monitoring.coreos.com/v1/ServiceMonitor':
      '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
  'monitoring.coreos.com/v1/PrometheusRule':
      '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
};

function typeName(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

// Checks `value` against client-node type `type`; pushes "path: message" into errors.
function checkType(value, type, path, errors, quantity) {
  if (value === null || value === undefined) return;  // Null means "unset" in the API.
  if (quantity) {
    if (typeof value === 'string' || typeof value === 'number') return;
    if (/^\{ \[key: string\]/.test(type) && typeName(value) === 'object') {  // limits/requests
      for (const [key, item] of Object.entries(value)) {
        checkType(item, 'string', `${path}.${key}`, errors, true);
      }
      return;
    }
    errors.push(`${path}: expected a quantity (string or number), got ${typeName(value)}`);
    return;
  }
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (!Array.isArray(value)) {
      errors.push(`${path}: expected a list, got ${typeName(value)}`);
      return;
    }
    value.forEach((item, i) => checkType(item, m[1], `${path}[${i}]`, errors, false));
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (typeName(value) !== 'object') {
      errors.push(`${path}: expected a map, got ${typeName(value)}`);
      return;
    }
    for (const [key, item] of Object.entries(value)) {
      checkType(item, m[1], `${path}.${key}`, errors, false);
    }
    return;
  }
  switch (type) {
    case 'string':
    case 'Date':
      if (typeof value !== 'string') errors.push(`${path}: expected a string, got ${typeName(value)} (${JSON.stringify(value)})`);
      return;
    case 'number':
      if (typeof value !== 'number') errors.push(`${path}: expected a number, got ${typeName(value)} (${JSON.stringify(value)})`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${path}: expected a boolean, got ${typeName(value)}`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && typeof value !== 'number') {
        errors.push(`${path}: expected an integer or a string, got ${typeName(value)}`);
      }
      return;
    case 'any':
    case 'object':
      return;
  }
  const model = k8s[type];
  if (!model || typeof model.getAttributeTypeMap !== 'function') {
    errors.push(`${path}: validator has no model for type ${type}`);
    return;
  }
  if (typeName(value) !== 'object') {
    errors.push(`${path}: expected an object (${type}), got ${typeName(value)}`);
    return;
  }
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [key, item] of Object.entries(value)) {
    if (!fields.has(key)) {
      errors.push(`${path}.${key}: unknown field in ${type} (Kubernetes 1.29)`);
      continue;
    }
    checkType(item, fields.get(key), `${path}.${key}`, errors,
              QUANTITY_FIELDS.has(`${type}.${key}`));
  }
}

function schemaModelPath(apiVersion, kind) {
  const custom = CUSTOM_KINDS[`${apiVersion}/${kind}`];
  if (custom) return custom;
  return `kubernetes-models/${apiVersion}/${kind}`;  // "v1" is the core group's path.
}

function validateObject(obj, where) {
  const errors = [];
  if (typeName(obj) !== 'object' || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
    return [`${where}: not a Kubernetes object (apiVersion and kind are required)`];
  }
  const name = obj.metadata && obj.metadata.name;
  const label = `${where} ${obj.kind}/${name}`;
  if (typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
    errors.push(`${label}: metadata.name must be a DNS subdomain`);
  }
  const custom = CUSTOM_KINDS[`${obj.apiVersion}/${obj.kind}`];
  if (!custom) {
    const version = obj.apiVersion.split('/').pop();
    const type = version.charAt(0).toUpperCase() + version.slice(1) + obj.kind;
    if (!k8s[type] || typeof k8s[type].getAttributeTypeMap !== 'function') {
      return [`${label}: ${obj.apiVersion} ${obj.kind} is not a Kubernetes 1.29 API type`];
    }
    checkType(obj, type, label, errors, false);
  }
  let cls;
  try {
    const mod = require(schemaModelPath(obj.apiVersion, obj.kind));
    cls = mod[obj.kind];
  } catch (e) {
    errors.push(`${label}: no schema for ${obj.apiVersion} ${obj.kind}: ${e.message}`);
  }
  if (cls) {
    try {
      new cls(obj).validate();
    } catch (e) {
      const details = (e.errors || []).map((d) => `${d.instancePath || '/'} ${d.message}`);
      errors.push(`${label}: schema: ${details.length ? details.join('; ') : e.message}`);
    }
  }
  return errors;
}

function main(files) {
  if (files.length === 0) {
    console.error('usage: node validate_manifests.js FILE.yaml...');
    return 2;
  }
  let errors = [];
  let count = 0;
  for (const file of files) {
    let docs;
    try {
      docs = YAML.parseAllDocuments(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      errors.push(`${file}: ${e.message}`);
      continue;
    }
    docs.forEach((doc, i) => {
      if (doc.errors.length) {
        errors.push(`${file} document ${i + 1}: YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
        return;
      }
      const obj = doc.toJS();
      if (obj === null || obj === undefined) return;  // An empty document.
      count++;
      errors = errors.concat(validateObject(obj, `${file}#${i + 1}`));
    });
  }
  for (const e of errors) console.error(`invalid: ${e}`);
  console.log(`validated ${count} objects in ${files.length} file(s): ${errors.length} error(s)`);
  if (count === 0) {
    console.error('no objects found');
    return 1;
  }
  return errors.length === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
