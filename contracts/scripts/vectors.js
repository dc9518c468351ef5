#!/usr/bin/env node
// Writes contracts/vectors.json: fixed inputs and the exact cells the C library must reproduce
// (initial data and addresses of every contract, every message body, signed vouchers and notes).
// `--check` compares with the committed file instead (run by test/vectors.test.js).
'use strict';
const fs = require('fs');
const path = require('path');
const { Address } = require('@ton/core');
const { keyPairFromSeed } = require('@ton/crypto');
const C = require('../lib/cocoon');

function build() {
  const codes = C.loadCodes();
  const proxyKey = keyPairFromSeed(Buffer.alloc(32, 0x11));
  const addr = (b) => new Address(0, Buffer.alloc(32, b));
  const rootOwner = addr(0xa1);
  const proxyOwner = addr(0xa2);
  const clientOwner = addr(0xa3);
  const workerOwner = addr(0xa4);
  const params = { ...C.DEFAULT_PARAMS, proxyCode: codes.proxy, workerCode: codes.worker, clientCode: codes.client };
  const rootSi = C.stateInit(codes.root, C.rootInitData(rootOwner, params));
  const proxySi = C.stateInit(codes.proxy, C.proxyInitData({ owner: proxyOwner, root: rootSi.address,
    pubkey: proxyKey.publicKey, params }));
  const clientSi = C.stateInit(codes.client, C.clientInitData({ owner: clientOwner, proxy: proxySi.address,
    pubkey: proxyKey.publicKey, params }));
  const workerSi = C.stateInit(codes.worker, C.workerInitData({ owner: workerOwner, proxy: proxySi.address,
    pubkey: proxyKey.publicKey, params }));
  const hex = (cell) => cell.toBoc({ idx: false, crc32: true }).toString('hex');
  const cellOut = (cell) => ({ hash: cell.hash().toString('hex'), boc_hex: hex(cell) });
  const contract = (si) => ({ address: si.address.toRawString(), data: cellOut(si.init.data),
    code_hash: si.init.code.hash().toString('hex') });
  const qid = 0x0102030405060708n;
  const h32 = Buffer.alloc(32, 0x5a);
  const messages = {
    root_add_proxy_type: C.root.addProxyType(h32, qid),
    root_del_proxy_type: C.root.delProxyType(h32, qid),
    root_add_worker_type: C.root.addWorkerType(h32, qid),
    root_del_worker_type: C.root.delWorkerType(h32, qid),
    root_add_model_type: C.root.addModelType(h32, qid),
    root_del_model_type: C.root.delModelType(h32, qid),
    root_register_proxy: C.root.registerProxy('127.0.0.1:11001 127.0.0.1:11002', qid),
    root_unregister_proxy: C.root.unregisterProxy(3, qid),
    root_update_proxy: C.root.updateProxy(3, '10.0.0.1:11001', qid),
    root_change_price: C.root.changePrice(25n, 20n, qid),
    root_change_params: C.root.changeParams({ pricePerToken: 25n, workerFeePerToken: 20n, proxyDelayBeforeClose: 3600,
      clientDelayBeforeClose: 1800, minProxyStake: 2000000000n, minClientStake: 100000000n }, qid),
    root_change_owner: C.root.changeOwner(proxyOwner, qid),
    client_top_up: C.client.topUp(1000000000n, clientOwner, qid),
    client_increase_stake: C.client.increaseStake(500000000n, clientOwner, qid),
    client_withdraw: C.client.withdraw(clientOwner, qid),
    client_top_up_reopen: C.client.topUpReopen(300000000n, clientOwner, qid),
    client_change_secret_hash_and_top_up: C.client.changeSecretHashAndTopUp(400000000n, h32, clientOwner, qid),
    client_change_secret_hash: C.client.changeSecretHash(h32, clientOwner, qid),
    client_register: C.client.register(0x1122334455667788n, clientOwner, qid),
    client_request_refund: C.client.requestRefund(clientOwner, qid),
    client_charge_signed: C.voucher({ op: C.OP.clientChargeSigned, qid, tokens: 123456n, target: clientSi.address,
      excessTo: proxyOwner, secretKey: proxyKey.secretKey }),
    client_grant_refund_signed: C.voucher({ op: C.OP.clientGrantRefundSigned, qid, tokens: 200000n,
      target: clientSi.address, excessTo: clientOwner, secretKey: proxyKey.secretKey }),
    worker_payout_signed: C.voucher({ op: C.OP.workerPayoutSigned, qid, tokens: 987654n, target: workerSi.address,
      excessTo: workerOwner, secretKey: proxyKey.secretKey }),
    worker_last_payout_signed: C.voucher({ op: C.OP.workerLastPayoutSigned, qid, tokens: 987655n,
      target: workerSi.address, excessTo: workerOwner, secretKey: proxyKey.secretKey }),
    proxy_increase_stake: C.proxy.increaseStake(2000000000n, proxyOwner, qid),
    worker_register: C.worker.register(workerOwner, qid),
    proxy_save_state: C.proxy.saveState(42, h32, qid),
    proxy_payout_request: C.proxy.payoutRequest(proxyOwner, qid),
    proxy_close: C.proxy.close(proxyOwner, qid),
    proxy_close_signed: C.proxy.closeSigned({ qid, target: proxySi.address, excessTo: proxyOwner,
      secretKey: proxyKey.secretKey }),
    proxy_close_complete_signed: C.proxy.closeSigned({ qid, target: proxySi.address, excessTo: proxyOwner,
      secretKey: proxyKey.secretKey, complete: true }),
    // what the client and worker contracts send to the proxy contract
    client_proxy_request_top_up: C.toProxy.clientRequest(clientOwner, C.clientStateCell({ state: 0,
      balance: 1000000000n, stake: 100000000n, tokensUsed: 0n, secretHash: 0n }),
    C.toProxy.clientTopUp(1000000000n, clientOwner), qid),
    client_proxy_request_register: C.toProxy.clientRequest(clientOwner, C.clientStateCell({ state: 0,
      balance: 0n, stake: 100000000n, tokensUsed: 0n, secretHash: 0n }), C.toProxy.clientRegister(7n), qid),
    client_proxy_request_refund_force: C.toProxy.clientRequest(clientOwner, C.clientStateCell({ state: 2,
      balance: 0n, stake: 100000000n, tokensUsed: 5n, secretHash: C.u256(h32) }),
    C.toProxy.clientRefund(90000000n, clientOwner, true), qid),
    worker_proxy_request_payout: C.toProxy.workerRequest(workerOwner, 0, 987654n,
      C.toProxy.workerPayout(15802464n, 3950616n, workerOwner), qid),
    worker_proxy_request_register: C.toProxy.workerRequest(workerOwner, 0, 0n, null, qid),
  };
  return {
    note: 'Generated by contracts/scripts/vectors.js from contracts/lib/cocoon.js; layouts in contracts/SPEC.md. ' +
      'BoCs: no index, with crc32c. Signatures: Ed25519 over the inner cell hash (deterministic).',
    inputs: {
      proxy_key_seed_hex: Buffer.alloc(32, 0x11).toString('hex'),
      proxy_public_key_hex: proxyKey.publicKey.toString('hex'),
      root_owner: rootOwner.toRawString(), proxy_owner: proxyOwner.toRawString(),
      client_owner: clientOwner.toRawString(), worker_owner: workerOwner.toRawString(),
      query_id: qid.toString(), hash_arg_hex: h32.toString('hex'),
      params: Object.fromEntries(Object.entries(C.DEFAULT_PARAMS).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v])),
    },
    root_params: cellOut(C.rootParamsCell(params)),
    contracts: { root: contract(rootSi), proxy: contract(proxySi), client: contract(clientSi), worker: contract(workerSi) },
    messages: Object.fromEntries(Object.entries(messages).map(([k, c]) => [k, cellOut(c)])),
  };
}

const file = path.join(__dirname, '..', 'vectors.json');
const text = JSON.stringify(build(), null, 2) + '\n';
if (process.argv.includes('--check')) {
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) {
    console.error('vectors.json is stale (run node scripts/vectors.js)');
    process.exit(1);
  }
} else {
  fs.writeFileSync(file, text);
}
