// Regenerates contract_vectors.json: message bodies, initial data and vouchers
// built by contracts/lib/cocoon.js (the JavaScript side the contract tests use),
// which test_ton_contracts.c must reproduce byte for byte.
//   cd contracts && node ../tests/unit/ton/gen_contract_vectors.js > ../tests/unit/ton/contract_vectors.json
'use strict';
const path = require('path');
const lib = require(path.join(__dirname, '..', '..', '..', 'contracts', 'lib', 'cocoon.js'));
const { Address, beginCell } = require(require.resolve('@ton/core', { paths: [path.join(__dirname, '..', '..', '..', 'contracts')] }));
const { WalletContractV5R1, internal, SendMode } = require(require.resolve('@ton/ton', { paths: [path.join(__dirname, '..', '..', '..', 'contracts')] }));
const { keyPairFromSeed } = require(require.resolve('@ton/crypto', { paths: [path.join(__dirname, '..', '..', '..', 'contracts')] }));

const kp = keyPairFromSeed(Buffer.from('0001020304050607080910111213141516171819202122232425262728293031', 'hex').subarray(0, 32));
const A = Address.parse('0:' + '11'.repeat(32));
const B = Address.parse('0:' + '22'.repeat(32));
const C = Address.parse('-1:' + '33'.repeat(32));
const H = Buffer.from('ab'.repeat(32), 'hex');
const hex = (c) => c.toBoc({ idx: false, crc32: true }).toString('hex');
const codes = lib.loadCodes();
const params = { ...lib.DEFAULT_PARAMS, proxyCode: codes.proxy, workerCode: codes.worker, clientCode: codes.client };

const out = {
  seed_hex: Buffer.from(kp.secretKey.subarray(0, 32)).toString('hex'),
  pub_hex: kp.publicKey.toString('hex'),
  a: A.toRawString(), b: B.toRawString(), c: C.toRawString(), h: H.toString('hex'),
  codes: { proxy: hex(codes.proxy), client: hex(codes.client), worker: hex(codes.worker) },
  code_hashes: { root: codes.root.hash().toString('hex'), proxy: codes.proxy.hash().toString('hex'),
    client: codes.client.hash().toString('hex'), worker: codes.worker.hash().toString('hex') },
  bodies: {
    root_add_proxy_type: hex(lib.root.addProxyType(H, 1)),
    root_del_proxy_type: hex(lib.root.delProxyType(H, 2)),
    root_add_worker_type: hex(lib.root.addWorkerType(H, 3)),
    root_del_worker_type: hex(lib.root.delWorkerType(H, 4)),
    root_add_model_type: hex(lib.root.addModelType(H, 5)),
    root_del_model_type: hex(lib.root.delModelType(H, 6)),
    root_register_proxy: hex(lib.root.registerProxy('127.0.0.1:11001 127.0.0.1:11002', 7)),
    root_unregister_proxy: hex(lib.root.unregisterProxy(3, 8)),
    root_update_proxy: hex(lib.root.updateProxy(3, 'proxy.example:443', 9)),
    root_change_price: hex(lib.root.changePrice(25n, 17n, 10)),
    root_change_params_full: hex(lib.root.changeParamsFull(lib.rootParamsCell(lib.DEFAULT_PARAMS), 11)),
    root_change_params: hex(lib.root.changeParams({ pricePerToken: 25n, workerFeePerToken: 17n,
      proxyDelayBeforeClose: 3600, clientDelayBeforeClose: 1800, minProxyStake: 2000000000n,
      minClientStake: 100000000n }, 27)),
    root_upgrade_contracts: hex(lib.root.upgradeContracts(codes.proxy, codes.worker, codes.client, 12)),
    root_change_owner: hex(lib.root.changeOwner(C, 13)),
    client_top_up: hex(lib.client.topUp(1500000000n, A, 14)),
    client_increase_stake: hex(lib.client.increaseStake(200000000n, A, 15)),
    client_withdraw: hex(lib.client.withdraw(B, 16)),
    client_change_secret_hash: hex(lib.client.changeSecretHash(H, A, 17)),
    client_register: hex(lib.client.register(0x1122334455667788n, A, 18)),
    client_request_refund: hex(lib.client.requestRefund(A, 19)),
    client_top_up_reopen: hex(lib.client.topUpReopen(700000000n, B, 20)),
    client_change_secret_hash_and_top_up: hex(lib.client.changeSecretHashAndTopUp(300000000n, H, A, 28)),
    worker_register: hex(lib.worker.register(B, 29)),
    proxy_increase_stake: hex(lib.proxy.increaseStake(1000000000n, A, 21)),
    proxy_payout_request: hex(lib.proxy.payoutRequest(A, 22)),
    proxy_close: hex(lib.proxy.close(A, 23)),
    proxy_save_state: hex(lib.proxy.saveState(5, H, 24)),
    // contract-to-contract bodies (SPEC §2.2 and §3.2)
    client_proxy_request_top_up: hex(lib.toProxy.clientRequest(A, lib.clientStateCell({ state: 1,
      balance: 1500000000n, stake: 100000000n, tokensUsed: 4242n, secretHash: lib.u256(H) }),
    lib.toProxy.clientTopUp(1500000000n, C), 25)),
    client_proxy_request_refund_granted: hex(lib.toProxy.clientRequest(A, lib.clientStateCell({ state: 2,
      balance: 0n, stake: 100000000n, tokensUsed: 4242n, secretHash: lib.u256(H) }),
    lib.toProxy.clientRefund(77n, C, false), 25)),
    client_proxy_request_refund_force: hex(lib.toProxy.clientRequest(A, lib.clientStateCell({ state: 2,
      balance: 0n, stake: 100000000n, tokensUsed: 4242n, secretHash: lib.u256(H) }),
    lib.toProxy.clientRefund(78n, C, true), 25)),
    client_proxy_request_register: hex(lib.toProxy.clientRequest(A, lib.clientStateCell({ state: 0,
      balance: 0n, stake: 100000000n, tokensUsed: 0n, secretHash: 0n }), lib.toProxy.clientRegister(99n), 25)),
    client_proxy_request_note: hex(lib.toProxy.clientRequest(A, lib.clientStateCell({ state: 0,
      balance: 5n, stake: 100000000n, tokensUsed: 1n, secretHash: 0n }), null, 25)),
    worker_proxy_request_payout: hex(lib.toProxy.workerRequest(B, 2, 250n,
      lib.toProxy.workerPayout(2500n, 1250n, C), 26)),
    worker_proxy_request_note: hex(lib.toProxy.workerRequest(B, 0, 100n, null, 26)),
  },
  ops: lib.OP,
  root_params_default: hex(lib.rootParamsCell(params)),
  root_init_data: hex(lib.rootInitData(A, params)),
  proxy_init_data: hex(lib.proxyInitData({ owner: A, root: B, pubkey: kp.publicKey, params })),
  client_init_data: hex(lib.clientInitData({ owner: A, proxy: B, pubkey: kp.publicKey, params })),
  worker_init_data: hex(lib.workerInitData({ owner: A, proxy: B, pubkey: kp.publicKey, params })),
  // addresses as @ton/core derives them from code + data (C must agree)
  client_address: lib.stateInit(codes.client, lib.clientInitData({ owner: A, proxy: B, pubkey: kp.publicKey,
    params })).address.toRawString(),
  worker_address: lib.stateInit(codes.worker, lib.workerInitData({ owner: A, proxy: B, pubkey: kp.publicKey,
    params })).address.toRawString(),
  proxy_address: lib.stateInit(codes.proxy, lib.proxyInitData({ owner: A, root: B, pubkey: kp.publicKey,
    params })).address.toRawString(),
  voucher_charge: hex(lib.voucher({ op: lib.OP.clientChargeSigned, qid: 99, tokens: 123456n, target: B,
    excessTo: A, secretKey: kp.secretKey })),
  voucher_payout: hex(lib.voucher({ op: lib.OP.workerPayoutSigned, qid: 100, tokens: 7n, target: C,
    excessTo: A, secretKey: kp.secretKey })),
  voucher_close: hex(lib.proxy.closeSigned({ qid: 101, target: B, excessTo: A, secretKey: kp.secretKey })),
  voucher_close_complete: hex(lib.proxy.closeSigned({ qid: 102, target: B, excessTo: A, secretKey: kp.secretKey,
    complete: true })),
};
// A v5r1 transfer of three messages (the out list order and modes as @ton/ton builds them).
{
  const wk = keyPairFromSeed(Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex'));
  const w = WalletContractV5R1.create({ publicKey: wk.publicKey, workChain: 0 });
  out.wallet_v5r1_three_messages = {
    seed_hex: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    seqno: 5, valid_until: 1700000060, mode: 3,
    body: hex(w.createTransfer({ seqno: 5, secretKey: wk.secretKey, timeout: 1700000060,
      sendMode: SendMode.PAY_GAS_SEPARATELY, messages: [
        internal({ to: A, value: 1500000000n, bounce: true, body: 'first' }),
        internal({ to: B, value: 1n, bounce: false, body: lib.client.topUp(0n, A, 7) }),
        internal({ to: C, value: 0n, bounce: true }),
      ] })),
  };
}
console.log(JSON.stringify(out, null, 1));
