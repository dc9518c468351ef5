// The committed build/ artifacts are exactly what the pinned compiler makes of src/.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const fs = require('node:fs');
const { Cell } = require('@ton/core');

test('build: committed code is reproducible from the sources', () => {
  execFileSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'build.js'), '--check'], { stdio: 'pipe' });
  for (const name of ['root', 'proxy', 'client', 'worker']) {
    const j = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'build', `${name}.json`), 'utf8'));
    const cell = Cell.fromBoc(Buffer.from(j.codeBoc64, 'base64'))[0];
    assert.equal(cell.hash().toString('hex').toUpperCase(), j.codeHashHex.toUpperCase());
  }
});

test('build: vectors.json matches the builders and the compiled code', () => {
  execFileSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'vectors.js'), '--check'], { stdio: 'pipe' });
});
