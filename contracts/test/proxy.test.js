// Proxy contract (COCOON's layouts and rules): stake, the earned share paid to the owner, save-state
// notes, the two-phase close (by the owner or signed with the proxy key), and every refusal with its own
// exit code and no value moved.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { beginCell } = require('@ton/core');
const { C, send, expectReject, exitCode, network, toNano, keyPair, balanceOf, txOn, valueTo } = require('./helpers');

const { OP, ERR } = C;

async function withProxy(opts) {
  const n = await network(opts);
  const read = () => C.readProxy(n.proxy);
  const close = (o = {}) => C.proxy.closeSigned({ qid: o.qid ?? 31, target: o.target ?? n.proxy.address,
    excessTo: o.excessTo ?? n.proxyOwner.address, secretKey: o.secretKey ?? n.proxyKey.secretKey, ...o });
  return { ...n, read, close };
}

// Lets a worker earn the proxy a share: one payout of `tokens`.
async function earn(t, tokens) {
  const wally = await t.bc.treasury('wally');
  const si = t.workerOf(wally);
  const v = C.voucher({ op: OP.workerPayoutSigned, qid: 1, tokens, target: si.address, excessTo: wally.address,
    secretKey: t.proxyKey.secretKey });
  const s = await send(t.bc, wally, si.address, toNano('0.1'), v, si.init);
  assert.equal(exitCode(txOn(s, t.proxy.address)), 0);
  return tokens * (t.params.pricePerToken - t.params.workerFeePerToken);
}

test('proxy: deployed with its stake, parties and params', async () => {
  const t = await withProxy();
  const st = await t.read();
  assert.deepEqual([st.state, st.balance, st.stake, st.unlockTs], [0, 0n, toNano('2'), 0]);
  const parties = (await t.proxy.get('get_proxy_parties')).stack;
  assert.ok(parties.readAddress().equals(t.proxyOwner.address));
  assert.ok(parties.readAddress().equals(t.root.address));
  assert.equal(parties.readBigNumber(), C.u256(t.proxyKey.publicKey));
  const p = (await t.proxy.get('get_proxy_params')).stack;
  assert.equal(p.readBigNumber(), t.params.pricePerToken);
  assert.equal(p.readBigNumber(), t.params.workerFeePerToken);
  assert.equal(p.readNumber(), t.params.proxyDelayBeforeClose);
  // anyone may add to the stake; the value must cover it
  const bob = await t.bc.treasury('bob');
  const s = await send(t.bc, bob, t.proxy.address, toNano('1.1'), C.proxy.increaseStake(toNano('1'), bob.address));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.proxy.address), toNano('1'));
  assert.equal((await t.read()).stake, toNano('3'));
  await expectReject(t.bc, bob, t.proxy.address, toNano('1'), C.proxy.increaseStake(toNano('1'), bob.address),
    ERR.LOW_VALUE, t.read);
});

test('proxy: the earned share goes to the owner, whoever asks', async () => {
  const t = await withProxy();
  const share = await earn(t, 1000000n);
  assert.equal((await t.read()).balance, share);
  const bob = await t.bc.treasury('bob');
  await expectReject(t.bc, bob, t.proxy.address, toNano('0.01'), C.proxy.payoutRequest(bob.address), ERR.LOW_VALUE,
    t.read);
  const s = await send(t.bc, bob, t.proxy.address, toNano('0.05'), C.proxy.payoutRequest(bob.address));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(valueTo(s, OP.payout, t.proxyOwner.address), share);
  assert.equal(s.delta(t.proxy.address), -share);
  assert.equal((await t.read()).balance, 0n);
});

test('proxy: an earned share larger than what the proxy holds above its stake is not paid (110)', async () => {
  // workers took nearly all the money above the stake; the share credited with them is larger than the rest
  const t = await withProxy();
  const free = (await balanceOf(t.bc, t.proxy.address)) - (await t.read()).stake;
  const tokens = (free - toNano('0.05')) / t.params.workerFeePerToken;
  const share = await earn(t, tokens);
  const rest = (await balanceOf(t.bc, t.proxy.address)) - (await t.read()).stake;
  assert.ok(share > rest, `share ${share} rest ${rest}`);
  const bob = await t.bc.treasury('bob');
  await expectReject(t.bc, bob, t.proxy.address, toNano('0.05'), C.proxy.payoutRequest(bob.address),
    ERR.INSUFFICIENT_FUNDS, t.read);
});

test('proxy: save-state notes and plain transfers are accepted and change nothing', async () => {
  const t = await withProxy();
  const before = await t.read();
  let s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.saveState(3, Buffer.alloc(32, 7)));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.proxy.address), toNano('0.05') - s.tx.totalFees.coins);
  s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), beginCell().endCell());
  assert.equal(exitCode(s.tx), 0);
  assert.deepEqual(await t.read(), before);
});

test('proxy: the owner closes in two phases; workers are still paid while closing', async () => {
  const t = await withProxy();
  const stranger = await t.bc.treasury('stranger');
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.05'), C.proxy.close(stranger.address), ERR.NOT_OWNER,
    t.read);
  await expectReject(t.bc, t.proxyOwner, t.proxy.address, toNano('0.01'), C.proxy.close(t.proxyOwner.address),
    ERR.LOW_VALUE, t.read);
  // close-complete before any close
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.05'), t.close({ complete: true }), ERR.WRONG_STATE,
    t.read);
  let s = await send(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.close(t.proxyOwner.address));
  assert.equal(exitCode(s.tx), 0);
  let st = await t.read();
  assert.equal(st.state, 1);
  assert.equal(st.unlockTs, t.bc.now + t.params.proxyDelayBeforeClose);
  await expectReject(t.bc, t.proxyOwner, t.proxy.address, toNano('0.05'), C.proxy.close(t.proxyOwner.address),
    ERR.WRONG_STATE, t.read);
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.05'), t.close(), ERR.WRONG_STATE, t.read);
  await earn(t, 1000n);
  // a top-up to a closing proxy goes back to the client's owner
  const alice = await t.bc.treasury('alice');
  const csi = t.clientOf(alice);
  s = await send(t.bc, alice, csi.address, toNano('0.6'), C.client.topUp(toNano('0.5'), alice.address), csi.init);
  assert.equal(exitCode(txOn(s, t.proxy.address)), 0);
  assert.equal(valueTo(s, OP.payout, alice.address), toNano('0.5'));
  assert.equal(s.delta(t.proxy.address), 0n);
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.05'), t.close({ complete: true }), ERR.TOO_EARLY,
    t.read);
  t.bc.now += t.params.proxyDelayBeforeClose;
  // anyone may relay the signed completion; forged or foreign ones are refused
  const mallory = keyPair('mallory');
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.05'), t.close({ complete: true,
    secretKey: mallory.secretKey }), ERR.BAD_SIGNATURE, t.read);
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.05'), t.close({ complete: true,
    target: stranger.address }), ERR.WRONG_TARGET, t.read);
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.05'), t.close({ complete: true,
    innerOp: OP.proxyCloseSigned }), ERR.VOUCHER_MISMATCH, t.read);
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.01'), t.close({ complete: true }), ERR.LOW_VALUE,
    t.read);
  const all = await balanceOf(t.bc, t.proxy.address);
  s = await send(t.bc, stranger, t.proxy.address, toNano('0.05'), t.close({ complete: true }));
  assert.equal(exitCode(s.tx), 0);
  assert.ok(valueTo(s, OP.payout, t.proxyOwner.address) >= all);
  assert.equal(await balanceOf(t.bc, t.proxy.address), 0n);
  st = await t.read();
  assert.deepEqual([st.state, st.balance, st.stake], [2, 0n, 0n]);
  // nothing but notes once closed
  await expectReject(t.bc, stranger, t.proxy.address, toNano('1.1'), C.proxy.increaseStake(toNano('1'),
    stranger.address), ERR.WRONG_STATE, t.read);
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.05'), C.proxy.payoutRequest(stranger.address),
    ERR.WRONG_STATE, t.read);
  await expectReject(t.bc, stranger, t.proxy.address, toNano('0.05'), t.close({ complete: true, qid: 40 }),
    ERR.WRONG_STATE, t.read);
});

test('proxy: a close signed with the proxy key starts the close for anyone who relays it', async () => {
  const t = await withProxy();
  const relay = await t.bc.treasury('relay');
  await expectReject(t.bc, relay, t.proxy.address, toNano('0.05'), t.close({ secretKey: keyPair('x').secretKey }),
    ERR.BAD_SIGNATURE, t.read);
  await expectReject(t.bc, relay, t.proxy.address, toNano('0.05'), t.close({ innerQid: 1 }), ERR.VOUCHER_MISMATCH,
    t.read);
  const s = await send(t.bc, relay, t.proxy.address, toNano('0.05'), t.close({ excessTo: relay.address }));
  assert.equal(exitCode(s.tx), 0);
  assert.equal(s.delta(t.proxy.address), 0n);
  assert.equal((await t.read()).state, 1);
  await expectReject(t.bc, relay, t.proxy.address, toNano('0.05'), beginCell().storeUint(0xdeadbeef, 32)
    .storeUint(0, 64).endCell(), ERR.UNKNOWN_OP, t.read);
});
