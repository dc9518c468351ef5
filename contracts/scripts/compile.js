// Compiles the Tolk sources with the pinned @ton/tolk-js (no file system access of its own).
'use strict';
const fs = require('fs');
const path = require('path');
const { runTolkCompiler } = require('@ton/tolk-js');

const srcDir = path.join(__dirname, '..', 'src');
const CONTRACTS = ['root', 'proxy', 'client', 'worker'];

async function compileOne(name) {
  const r = await runTolkCompiler({
    entrypointFileName: `${name}.tolk`,
    fsReadCallback: (p) => fs.readFileSync(path.join(srcDir, p), 'utf8'),
  });
  if (r.status === 'error') throw new Error(`${name}.tolk: ${r.message}`);
  return r;
}

async function compileAll() {
  const out = {};
  for (const name of CONTRACTS) out[name] = await compileOne(name);
  return out;
}

module.exports = { compileAll, compileOne, CONTRACTS };
