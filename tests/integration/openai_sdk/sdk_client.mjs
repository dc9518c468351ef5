// Drives a cocoon client endpoint with the official OpenAI SDK and prints what
// it received as one JSON object; the Python test compares it with the backend.
// usage: node sdk_client.mjs BASE_URL MODEL
import OpenAI from 'openai';

const [baseURL, model] = process.argv.slice(2);
if (!baseURL || !model) {
  console.error('usage: node sdk_client.mjs BASE_URL MODEL');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
const messages = [{ role: 'user', content: 'Tell me a story.' }];
const out = {};

const chat = await client.chat.completions.create({ model, messages, max_tokens: 64 });
out.chat = {
  object: chat.object,
  content: chat.choices[0].message.content,
  finish_reason: chat.choices[0].finish_reason,
  usage: chat.usage,
};

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 64, stream: true, stream_options: { include_usage: true },
});
let streamed = '';
let chunks = 0;
let streamUsage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.choices.length > 0) streamed += chunk.choices[0].delta?.content ?? '';
  if (chunk.usage) streamUsage = chunk.usage;
}
out.chat_stream = { content: streamed, chunks, usage: streamUsage };

const completion = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 64 });
out.completion = { object: completion.object, text: completion.choices[0].text, usage: completion.usage };

const models = [];
for await (const m of client.models.list()) models.push(m.id);
out.models = models;

let notFound = null;
try {
  await client.chat.completions.create({ model: 'no-such-model', messages });
} catch (e) {
  notFound = { status: e.status, type: e.error?.type ?? e.type ?? null };
}
out.unknown_model = notFound;

console.log(JSON.stringify(out));
