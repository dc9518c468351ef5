// The OpenAI surface through the official SDK, beyond plain text: prints what
// it observed as one JSON object for tests/integration/test_openai_sdk_surface.py.
// usage: node sdk_surface.mjs BASE_URL MODEL MODE [API_KEY]
//   passthrough  an OpenAI-compatible backend: tools, tool results, JSON output,
//                n, embeddings, models.retrieve, request ids
//   embedded     the embedded engine: the same requests refused by name
//   keys         API keys: 401 without or with a wrong key, then requests with
//                API_KEY until the budget runs out (429)
import OpenAI from 'openai';

const [baseURL, model, mode, apiKey] = process.argv.slice(2);
if (!baseURL || !model || !mode) {
  console.error('usage: node sdk_surface.mjs BASE_URL MODEL passthrough|embedded|keys [API_KEY]');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: apiKey ?? 'unused', maxRetries: 0, timeout: 60_000 });
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];
const out = {};

// An SDK error as {status, code, param, type}; a success as {status: 200}.
async function outcome(fn) {
  try {
    await fn();
    return { status: 200 };
  } catch (e) {
    return { status: e.status ?? null, code: e.code ?? null, param: e.param ?? null,
             type: e.type ?? null, message: e.message };
  }
}

async function commonChecks() {
  const { data: chat, response } = await client.chat.completions
    .create({ model, messages, max_tokens: 8 }, { headers: { 'X-Request-Id': 'sdk-trace-1' } })
    .withResponse();
  out.plain = { content: chat.choices[0].message.content,
                system_fingerprint: chat.system_fingerprint ?? null,
                request_id: response.headers.get('x-request-id') };
  const { response: r2 } = await client.chat.completions
    .create({ model, messages, max_tokens: 8 }).withResponse();
  out.generated_request_id = r2.headers.get('x-request-id');
  const m = await client.models.retrieve(model);
  out.retrieve = { id: m.id, object: m.object };
  out.retrieve_unknown = await outcome(() => client.models.retrieve('no-such-model'));
}

if (mode === 'passthrough') {
  await commonChecks();
  const tc = await client.chat.completions.create({ model, messages, tools, max_tokens: 16 });
  const call = tc.choices[0].message.tool_calls?.[0] ?? null;
  out.tools = { finish_reason: tc.choices[0].finish_reason, name: call?.function?.name ?? null,
                arguments: call?.function?.arguments ?? null, id: call?.id ?? null };
  // The tool's result goes back as a tool message.
  const follow = await client.chat.completions.create({
    model, max_tokens: 8, tools,
    messages: [...messages, tc.choices[0].message,
               { role: 'tool', tool_call_id: call?.id ?? 'x', content: '{"celsius":21}' }],
  });
  out.tool_result = { finish_reason: follow.choices[0].finish_reason,
                      content: follow.choices[0].message.content };
  const js = await client.chat.completions.create({
    model, messages, max_tokens: 8, response_format: { type: 'json_object' },
  });
  out.json = JSON.parse(js.choices[0].message.content);
  const many = await client.chat.completions.create({ model, messages, max_tokens: 4, n: 3 });
  out.n = many.choices.map((c) => c.index);
  const emb = await client.embeddings.create({ model, input: ['one', 'two'] });
  out.embeddings = { count: emb.data.length, dims: emb.data[0].embedding.length,
                     finite: emb.data.every((d) => d.embedding.every(Number.isFinite)),
                     differ: emb.data[0].embedding[0] !== emb.data[1].embedding[0],
                     prompt_tokens: emb.usage?.prompt_tokens ?? null };
} else if (mode === 'embedded') {
  await commonChecks();
  out.refusals = {
    tools: await outcome(() => client.chat.completions.create({ model, messages, tools })),
    response_format: await outcome(() => client.chat.completions.create({
      model, messages, response_format: { type: 'json_schema', json_schema: {
        name: 'p', schema: { type: 'string', pattern: '^a' } } } })),
    n: await outcome(() => client.chat.completions.create({ model, messages, n: 9 })),
    logit_bias: await outcome(() => client.chat.completions.create({
      model, messages, logit_bias: { 999999: 10 } })),
    logit_bias_ok: await outcome(() => client.chat.completions.create({
      model, messages, max_tokens: 4, logit_bias: { 5: 10 } })),
    suffix: await outcome(() => client.completions.create({ model, prompt: 'a', suffix: 'b' })),
    echo: await outcome(() => client.completions.create({ model, prompt: 'a', echo: true })),
    prompt: await outcome(() => client.completions.create({ model, prompt: ['a', 'b'] })),
    embeddings: await outcome(() => client.embeddings.create({ model, input: 'a' })),
  };
  // JSON output the engine enforces with a grammar: the content parses and follows the schema
  const schema = { type: 'object', additionalProperties: false, required: ['name', 'age'],
                   properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer' },
                                 happy: { type: 'boolean' } } };
  const js = await client.chat.completions.create({ model, messages, max_tokens: 200,
    temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'person', schema } } });
  const two = await client.chat.completions.create({ model, messages, n: 2, max_tokens: 4 });
  out.n_ok = two.choices.map((c) => c.index);
  out.json_schema = { finish_reason: js.choices[0].finish_reason, content: js.choices[0].message.content };
} else if (mode === 'keys') {
  const anonymous = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0,
                                 defaultHeaders: { Authorization: null } });
  out.no_key = await outcome(() => anonymous.chat.completions.create({ model, messages }));
  const wrong = new OpenAI({ baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
  out.wrong_key = await outcome(() => wrong.chat.completions.create({ model, messages }));
  out.models_wrong_key = await outcome(() => wrong.models.list());
  // Spend until the budget says no (the test sets it to a few requests' worth).
  out.ok = 0;
  out.last = null;
  for (let i = 0; i < 20; i++) {
    const r = await outcome(() => client.chat.completions.create({ model, messages, max_tokens: 8 }));
    if (r.status !== 200) {
      out.last = r;
      break;
    }
    out.ok++;
  }
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
console.log(JSON.stringify(out));
