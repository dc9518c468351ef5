// tonsim uses the npm packages installed for contracts/ (one pinned copy of @ton/* for both, so
// cells built by contracts/lib and by the sandbox are the same classes).
'use strict';
const path = require('path');
const { createRequire } = require('module');

const contractsDir = path.join(__dirname, '..', '..', 'contracts');
const req = createRequire(path.join(contractsDir, 'package.json'));

module.exports = {
  core: req('@ton/core'),
  crypto: req('@ton/crypto'),
  sandbox: req('@ton/sandbox'),
  ton: req('@ton/ton'),
  cocoon: req(path.join(contractsDir, 'lib', 'cocoon.js')),
};
