// Validates .glb files with the Khronos glTF validator (npm gltf-validator, pinned in
// package-lock.json). Usage: node validate.js FILE.glb...
// Prints each file's issues and exits 1 when any file has an error (or cannot be read),
// 2 on bad usage. Warnings and infos are printed but do not fail.
'use strict';

const fs = require('fs');
const path = require('path');
const validator = require('gltf-validator');

async function validateFile(file) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const report = await validator.validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 100,
    // A .glb from Kiln must be self-contained.
    externalResourceFunction: (uri) =>
      Promise.reject(new Error(`external resource ${uri} in a .glb`)),
  });
  const issues = report.issues;
  console.log(`${file}: ${issues.numErrors} errors, ${issues.numWarnings} warnings, ` +
              `${issues.numInfos} infos, ${issues.numHints} hints ` +
              `(validator ${report.validatorVersion})`);
  for (const m of issues.messages) {
    const severity = ['error', 'warning', 'info', 'hint'][m.severity] || m.severity;
    console.log(`  ${severity} ${m.code} at ${m.pointer || m.offset || '/'}: ${m.message}`);
  }
  return issues.numErrors === 0;
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node validate.js FILE.glb...');
    process.exit(2);
  }
  let ok = true;
  for (const file of files) {
    try {
      ok = (await validateFile(file)) && ok;
    } catch (e) {
      console.log(`${file}: cannot validate: ${e && e.message ? e.message : e}`);
      ok = false;
    }
  }
  process.exit(ok ? 0 : 1);
}

main();
