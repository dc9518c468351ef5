// Client contract: every operation's happy path (with exact amounts and value conservation checked in
// send()) and every rejection with its own exit code and no value moved.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { C, getter, send, expectReject, exitCode, network, toNano, keyPair, balanceOf } = require('./helpers');

const { OP, ERR, CONST } = C;

// A network plus alice's client contract topped up with `amount`.
async function withClient(amount = toNano('1')) {
  const n = await network();
  const alice = await n.bc.treasury('alice');
  const si = n.clientOf(alice);
  const s = await send(n.bc, alice, si.address, amount + toNano('0.5'), C.client.topUp(amount, alice.address, 7), si.init);
  assert.equal(exitCode(s.tx), 0);
  const c = getter(n.bc, si.address);
  const read = () => C.readClient(c);
  const charge = (tokens, opts = {}) => C.voucher({
    op: OP.clientChargeSigned, qid: opts.qid ?? 11, tokens, target: opts.target ?? si.address,
    excessTo: opts.excessTo ?? n.proxyOwner.address, secretKey: opts.secretKey ?? n.proxyKey.secretKey, ...opts,
  });
  return { ...n, alice, si, c, read, charge, topUpResult: s };
}

test('client: top-up deploys, credits the balance and returns the excess', async () => {
  const t = await withClient(toNano('1'));
  const st = await t.read();
  assert.equal(st.state, 0);
  assert.equal(st.balance, toNano('1'));
  assert.equal(st.stake, t.params.minClientStake);
  assert.equal(await balanceOf(t.bc, t.si.address), toNano('1') + CONST.RESERVE);
  // alice paid exactly the amount, the reserve and the fees
  assert.equal(t.topUpResult.delta(t.alice.address), -(toNano('1') + CONST.RESERVE + t.topUpResult.fees));
  // anyone can top up
  const bob = await t.bc.treasury('bob');
  const s = await send(t.bc, bob, t.si.address, toNano('0.6'), C.client.topUp(toNano('0.5'), bob.address, 8));
  assert.equal(exitCode(s.tx), 0);
  assert.equal((await t.read()).balance, toNano('1.5'));
  assert.equal(s.delta(t.si.address), toNano('0.5'));
  const p = await C.readClient(t.c);
  const parties = (await t.c.get('get_client_parties')).stack;
  assert.ok(parties.readAddress().equals(t.alice.address));
  assert.ok(parties.readAddress().equals(t.proxy.address));
  assert.equal(parties.readBigNumber(), C.u256(t.proxyKey.publicKey));
  const params = (await t.c.get('get_client_params')).stack;
  assert.equal(params.readBigNumber(), t.params.pricePerToken);
  assert.equal(params.readNumber(), t.params.clientDelayBeforeClose);
  assert.equal(p.balance, toNano('1.5'));
});

test('client: increase stake, change secret hash, register with nonce', async () => {
  const t = await withClient(toNano('1'));
  let s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.increaseStake(toNano('0.4'), t.alice.address));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.si.address), 0n);
  const hash = Buffer.alloc(32, 0xab);
  s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.changeSecretHash(hash, t.alice.address));
  assert.equal(exitCode(s.tx), 0);
  s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.register(0x1122334455667788n, t.alice.address));
  assert.equal(exitCode(s.tx), 0);
  const st = await t.read();
  assert.equal(st.stake, toNano('0.4'));
  assert.equal(st.secretHash, C.u256(hash));
  assert.equal(st.lastNonce, 0x1122334455667788n);
  assert.equal(st.balance, toNano('1'));
  assert.equal(await balanceOf(t.bc, t.si.address), toNano('1') + CONST.RESERVE);
});

test('client: withdraw above the stake pays the owner exactly', async () => {
  const t = await withClient(toNano('1'));
  const bob = await t.bc.treasury('bob');
  // alice withdraws 0.9 of 1 (stake 0.1) and sends the excess to bob: alice's payout is exact
  const s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.withdraw(toNano('0.9'), bob.address));
  assert.equal(exitCode(s.tx), 0);
  const payout = s.result.transactions.find((x) => x.inMessage?.body.beginParse().preloadUint(32) === OP.payout);
  assert.equal(payout.inMessage.info.value.coins, toNano('0.9'));
  assert.equal(s.delta(t.si.address), -toNano('0.9'));
  assert.equal((await t.read()).balance, toNano('0.1'));
  assert.equal(await balanceOf(t.bc, t.si.address), toNano('0.1') + CONST.RESERVE);
});

test('client: cumulative vouchers charge the difference and pay the proxy contract', async () => {
  const t = await withClient(toNano('1'));
  const price = t.params.pricePerToken;
  let s = await send(t.bc, t.proxyOwner, t.si.address, toNano('0.1'), t.charge(1000000n, { qid: 1 }));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.si.address), -1000000n * price);
  let st = await t.read();
  assert.equal(st.tokensCharged, 1000000n);
  assert.equal(st.balance, toNano('1') - 1000000n * price);
  // the proxy contract gained exactly the cost (the gas of the payment came from the relayer's value)
  assert.equal(s.delta(t.proxy.address), 1000000n * price);
  assert.equal((await C.readProxy(t.proxy)).earned, 1000000n * price);
  // a later voucher charges only the difference; a client can relay it too (excess to itself)
  s = await send(t.bc, t.alice, t.si.address, toNano('0.1'), t.charge(1500000n, { qid: 2, excessTo: t.alice.address }));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.si.address), -500000n * price);
  assert.equal(s.delta(t.proxy.address), 500000n * price);
  st = await t.read();
  assert.equal(st.tokensCharged, 1500000n);
  assert.equal(await balanceOf(t.bc, t.si.address), st.balance + CONST.RESERVE);
  assert.equal((await C.readProxy(t.proxy)).earned, 1500000n * price);
});

test('client: a charge above the balance takes the balance and no more', async () => {
  const t = await withClient(toNano('0.2'));
  const tokens = toNano('1') / t.params.pricePerToken;  // worth 1 TON
  const s = await send(t.bc, t.proxyOwner, t.si.address, toNano('0.1'), t.charge(tokens));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.si.address), -toNano('0.2'));
  assert.equal(s.delta(t.proxy.address), toNano('0.2'));
  const st = await t.read();
  assert.equal(st.balance, 0n);
  assert.equal(st.tokensCharged, tokens);
  assert.equal(await balanceOf(t.bc, t.si.address), CONST.RESERVE);
});

test('client: refund granted by the proxy charges the rest and closes', async () => {
  const t = await withClient(toNano('1'));
  const price = t.params.pricePerToken;
  await send(t.bc, t.proxyOwner, t.si.address, toNano('0.1'), t.charge(1000n));
  const grant = C.voucher({ op: OP.clientGrantRefundSigned, qid: 5, tokens: 3000n, target: t.si.address,
    excessTo: t.alice.address, secretKey: t.proxyKey.secretKey });
  const s = await send(t.bc, t.alice, t.si.address, toNano('0.1'), grant);
  assert.equal(exitCode(s.tx), 0);
  const payouts = s.result.transactions.filter((x) => x.inMessage?.body.beginParse().preloadUint(32) === OP.payout);
  assert.equal(payouts.length, 1);
  assert.equal(payouts[0].inMessage.info.value.coins, toNano('1') - 3000n * price);
  assert.equal(s.delta(t.proxy.address), 2000n * price);
  const st = await t.read();
  assert.equal(st.state, 2);
  assert.equal(st.balance, 0n);
  assert.equal(st.tokensCharged, 3000n);
  assert.equal((await C.readProxy(t.proxy)).earned, 3000n * price);
  assert.equal(await balanceOf(t.bc, t.si.address), CONST.RESERVE);
  // closed: top-ups and charges are refused
  await expectReject(t.bc, t.alice, t.si.address, toNano('1'), C.client.topUp(toNano('0.5'), t.alice.address),
    ERR.WRONG_STATE, t.read);
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.1'), t.charge(4000n), ERR.WRONG_STATE, t.read);
});

test('client: forced close returns the stake only after the delay', async () => {
  const t = await withClient(toNano('1'));
  const price = t.params.pricePerToken;
  // request: the part above the stake (0.9) comes back at once
  let s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.requestRefund(t.alice.address));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.si.address), -toNano('0.9'));
  let st = await t.read();
  assert.equal(st.state, 1);
  assert.equal(st.balance, toNano('0.1'));
  assert.equal(st.unlockTs, t.bc.now + t.params.clientDelayBeforeClose);
  // before the delay: refused, nothing moves
  t.bc.now += t.params.clientDelayBeforeClose - 10;
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.refundForce(t.alice.address),
    ERR.TOO_EARLY, t.read);
  // the proxy can still charge while closing
  s = await send(t.bc, t.proxyOwner, t.si.address, toNano('0.1'), t.charge(100000n));
  assert.equal(exitCode(s.tx), 0);
  assert.equal((await t.read()).balance, toNano('0.1') - 100000n * price);
  // after the delay the owner gets the rest
  t.bc.now += 10;
  s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.refundForce(t.alice.address));
  assert.equal(exitCode(s.tx), 0);
  const payout = s.result.transactions.find((x) => x.inMessage?.body.beginParse().preloadUint(32) === OP.payout);
  assert.equal(payout.inMessage.info.value.coins, toNano('0.1') - 100000n * price);
  st = await t.read();
  assert.equal(st.state, 2);
  assert.equal(st.balance, 0n);
});

test('client: adversarial vouchers are rejected and move nothing', async () => {
  const t = await withClient(toNano('1'));
  await send(t.bc, t.proxyOwner, t.si.address, toNano('0.1'), t.charge(1000n, { qid: 1 }));
  const mallory = await t.bc.treasury('mallory');
  const evilKey = keyPair('mallory-key');
  // forged signature: signed by another key
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.charge(9000n, { secretKey: evilKey.secretKey }),
    ERR.BAD_SIGNATURE, t.read);
  // a valid signature over different contents (signature of a smaller voucher reused)
  const small = C.voucherInner(OP.clientChargeSigned, 3, 10n, t.si.address);
  const { sign } = require('@ton/crypto');
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'),
    t.charge(9000n, { qid: 3, signature: sign(small.hash(), t.proxyKey.secretKey) }), ERR.BAD_SIGNATURE, t.read);
  // a voucher for another contract (bob's client contract), correctly signed
  const bob = await t.bc.treasury('bob');
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.charge(9000n, { target: t.clientOf(bob).address }),
    ERR.WRONG_TARGET, t.read);
  // replayed and smaller vouchers
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.charge(1000n, { qid: 1 }), ERR.OLD_VOUCHER, t.read);
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.charge(999n), ERR.OLD_VOUCHER, t.read);
  // a worker-payout voucher presented as a charge (inner op differs)
  await expectReject(t.bc, mallory, t.si.address, toNano('0.1'), t.charge(9000n, { innerOp: OP.workerPayoutSigned }),
    ERR.VOUCHER_MISMATCH, t.read);
  // too little value for a forwarding operation
  await expectReject(t.bc, mallory, t.si.address, CONST.MIN_GAS_FORWARD - 1n, t.charge(9000n), ERR.LOW_VALUE, t.read);
  assert.equal((await t.read()).tokensCharged, 1000n);
});

test('client: owner operations are refused to others and outside the rules', async () => {
  const t = await withClient(toNano('1'));
  const mallory = await t.bc.treasury('mallory');
  await expectReject(t.bc, mallory, t.si.address, toNano('0.05'), C.client.withdraw(toNano('0.1'), mallory.address),
    ERR.NOT_OWNER, t.read);
  await expectReject(t.bc, mallory, t.si.address, toNano('0.05'), C.client.requestRefund(mallory.address),
    ERR.NOT_OWNER, t.read);
  await expectReject(t.bc, mallory, t.si.address, toNano('0.05'), C.client.changeSecretHash(Buffer.alloc(32, 1),
    mallory.address), ERR.NOT_OWNER, t.read);
  // withdraw below the stake (1 - 0.95 < 0.1) and more than the balance
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.withdraw(toNano('0.95'), t.alice.address),
    ERR.BELOW_STAKE, t.read);
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.withdraw(toNano('2'), t.alice.address),
    ERR.INSUFFICIENT_FUNDS, t.read);
  // stake above the balance, or not increasing
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.increaseStake(toNano('2'), t.alice.address),
    ERR.BAD_STAKE, t.read);
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'),
    C.client.increaseStake(t.params.minClientStake, t.alice.address), ERR.BAD_STAKE, t.read);
  // too little attached value
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.5'), C.client.topUp(toNano('0.5'), t.alice.address),
    ERR.LOW_VALUE, t.read);
  await expectReject(t.bc, t.alice, t.si.address, CONST.MIN_GAS - 1n, C.client.withdraw(toNano('0.1'), t.alice.address),
    ERR.LOW_VALUE, t.read);
  // forced close without a refund request
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.refundForce(t.alice.address),
    ERR.WRONG_STATE, t.read);
  // unknown op and empty body
  const { beginCell } = require('@ton/core');
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), beginCell().storeUint(0x12345678, 32).storeUint(0, 64)
    .endCell(), ERR.UNKNOWN_OP, t.read);
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.05'), beginCell().endCell(), ERR.UNKNOWN_OP, t.read);
});

test('client: the documented minimum values are enough', async () => {
  const t = await withClient(toNano('1'));
  let s = await send(t.bc, t.proxyOwner, t.si.address, CONST.MIN_GAS_FORWARD, t.charge(1000n));
  assert.equal(exitCode(s.tx), 0);
  assert.equal((await t.read()).tokensCharged, 1000n);
  assert.equal((await C.readProxy(t.proxy)).earned, 1000n * t.params.pricePerToken);
  s = await send(t.bc, t.alice, t.si.address, toNano('0.1') + CONST.MIN_GAS, C.client.topUp(toNano('0.1'), t.alice.address));
  assert.equal(exitCode(s.tx), 0);
  s = await send(t.bc, t.alice, t.si.address, CONST.MIN_GAS, C.client.withdraw(toNano('0.5'), t.alice.address));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.si.address), -toNano('0.5'));
});

test('client: each owner operation checks the sender, the state and the attached value', async () => {
  const t = await withClient(toNano('1'));
  const mallory = await t.bc.treasury('mallory');
  const a = t.alice.address;
  const low = CONST.MIN_GAS - 1n;
  const ops = {
    increaseStake: () => C.client.increaseStake(toNano('0.2'), a),
    withdraw: () => C.client.withdraw(toNano('0.1'), a),
    changeSecretHash: () => C.client.changeSecretHash(Buffer.alloc(32, 7), a),
    register: () => C.client.register(99n, a),
    requestRefund: () => C.client.requestRefund(a),
    refundForce: () => C.client.refundForce(a),
  };
  const reject = (from, value, body, code) => expectReject(t.bc, from, t.si.address, value, body, code, t.read);
  // open: a stranger is refused every owner operation; the owner needs MIN_GAS
  for (const [name, body] of Object.entries(ops)) {
    await reject(mallory, toNano('0.05'), body(), ERR.NOT_OWNER);
    if (name !== 'refundForce' && name !== 'withdraw') await reject(t.alice, low, body(), ERR.LOW_VALUE);
  }
  // closing (refund requested): only the secret hash may still change (and vouchers, tested above)
  let s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), C.client.requestRefund(a));
  assert.equal(exitCode(s.tx), 0);
  assert.equal((await t.read()).state, 1);
  await reject(t.alice, toNano('1'), C.client.topUp(toNano('0.5'), a), ERR.WRONG_STATE);
  for (const name of ['increaseStake', 'withdraw', 'register', 'requestRefund']) {
    await reject(t.alice, toNano('0.05'), ops[name](), ERR.WRONG_STATE);
  }
  await reject(t.alice, low, ops.changeSecretHash(), ERR.LOW_VALUE);
  s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), ops.changeSecretHash());
  assert.equal(exitCode(s.tx), 0);
  assert.equal((await t.read()).secretHash, C.u256(Buffer.alloc(32, 7)));
  // after the delay the forced close still needs MIN_GAS and the owner
  t.bc.now += t.params.clientDelayBeforeClose;
  await reject(mallory, toNano('0.05'), ops.refundForce(), ERR.NOT_OWNER);
  await reject(t.alice, low, ops.refundForce(), ERR.LOW_VALUE);
  s = await send(t.bc, t.alice, t.si.address, toNano('0.05'), ops.refundForce());
  assert.equal(exitCode(s.tx), 0);
  // closed: nothing but reads
  assert.equal((await t.read()).state, 2);
  for (const body of Object.values(ops)) await reject(t.alice, toNano('0.05'), body(), ERR.WRONG_STATE);
  const grant = C.voucher({ op: OP.clientGrantRefundSigned, qid: 5, tokens: 10n, target: t.si.address,
    excessTo: a, secretKey: t.proxyKey.secretKey });
  await reject(t.alice, toNano('0.1'), grant, ERR.WRONG_STATE);
});

test('client: a refund grant below what was charged, or underfunded, is refused', async () => {
  const t = await withClient(toNano('1'));
  await send(t.bc, t.proxyOwner, t.si.address, toNano('0.1'), t.charge(1000n));
  const grant = (tokens) => C.voucher({ op: OP.clientGrantRefundSigned, qid: 6, tokens, target: t.si.address,
    excessTo: t.alice.address, secretKey: t.proxyKey.secretKey });
  await expectReject(t.bc, t.alice, t.si.address, toNano('0.1'), grant(999n), ERR.OLD_VOUCHER, t.read);
  await expectReject(t.bc, t.alice, t.si.address, CONST.MIN_GAS_FORWARD - 1n, grant(1000n), ERR.LOW_VALUE, t.read);
  // equal to what was charged: nothing more to charge, the rest is refunded and the contract closes
  const s = await send(t.bc, t.alice, t.si.address, toNano('0.1'), grant(1000n));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.proxy.address), 0n);
  const payout = s.result.transactions.find((x) => x.inMessage?.body.beginParse().preloadUint(32) === OP.payout);
  assert.equal(payout.inMessage.info.value.coins, toNano('1') - 1000n * t.params.pricePerToken);
  assert.equal((await t.read()).state, 2);
});
