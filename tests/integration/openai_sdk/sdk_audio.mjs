// Speech to text through the official SDK: prints what it observed as one JSON
// object for tests/integration/test_audio.py.
// usage: node sdk_audio.mjs BASE_URL MODEL WAV_FILE [refused]
//   (default)  transcriptions in json, text, verbose_json (with word timestamps)
//              and srt, and a translation, each of the given WAV
//   refused    one transcription, expected to fail: its status, code and param
import fs from 'node:fs';
import OpenAI from 'openai';

const [baseURL, model, wav, mode] = process.argv.slice(2);
if (!baseURL || !model || !wav) {
  console.error('usage: node sdk_audio.mjs BASE_URL MODEL WAV_FILE [refused]');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: process.env.COCOON_TEST_KEY ?? 'unused', maxRetries: 0,
                            timeout: 60_000 });
const out = {};
const file = () => fs.createReadStream(wav);

if (mode === 'refused') {
  try {
    await client.audio.transcriptions.create({ file: file(), model });
    out.refused = { status: 200 };
  } catch (e) {
    out.refused = { status: e.status ?? null, code: e.code ?? null, param: e.param ?? null,
                    message: e.message };
  }
} else {
  const j = await client.audio.transcriptions.create({ file: file(), model });
  out.json = { text: j.text };
  const p = await client.audio.transcriptions.create({
    file: file(), model, prompt: 'hello cocoon', language: 'en', temperature: 0 });
  out.prompted = { text: p.text };
  out.text = await client.audio.transcriptions.create({
    file: file(), model, response_format: 'text' });
  const v = await client.audio.transcriptions.create({
    file: file(), model, response_format: 'verbose_json',
    timestamp_granularities: ['word', 'segment'] });
  out.verbose = { text: v.text, duration: v.duration, words: v.words?.length ?? 0,
                  segments: v.segments?.length ?? 0 };
  out.srt = await client.audio.transcriptions.create({
    file: file(), model, response_format: 'srt' });
  const t = await client.audio.translations.create({ file: file(), model });
  out.translation = { text: t.text };
}
console.log(JSON.stringify(out));
