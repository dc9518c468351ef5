#!/usr/bin/env node
// Compiles contracts/src/<name>.tolk with @ton/tolk-js into contracts/build/<name>.json and .boc.
// `node scripts/build.js --check` compiles in memory and exits 1 if build/ differs (used by the tests).
'use strict';
const fs = require('fs');
const path = require('path');
const { compileAll, CONTRACTS } = require('./compile');

const buildDir = path.join(__dirname, '..', 'build');

async function main() {
  const check = process.argv.includes('--check');
  const results = await compileAll();
  let stale = [];
  if (!check) fs.mkdirSync(buildDir, { recursive: true });
  for (const name of CONTRACTS) {
    const r = results[name];
    const json = JSON.stringify({ name, codeBoc64: r.codeBoc64, codeHashHex: r.codeHashHex }, null, 2) + '\n';
    const jsonPath = path.join(buildDir, `${name}.json`);
    const bocPath = path.join(buildDir, `${name}.boc`);
    const boc = Buffer.from(r.codeBoc64, 'base64');
    if (check) {
      const same = fs.existsSync(jsonPath) && fs.readFileSync(jsonPath, 'utf8') === json &&
        fs.existsSync(bocPath) && fs.readFileSync(bocPath).equals(boc);
      if (!same) stale.push(name);
    } else {
      fs.writeFileSync(jsonPath, json);
      fs.writeFileSync(bocPath, boc);
      console.log(`${name}: ${r.codeHashHex}`);
    }
  }
  if (stale.length) {
    console.error(`build/ is stale for: ${stale.join(', ')} (run npm run build)`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
