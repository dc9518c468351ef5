// Reference ids from @lenml/tokenizers (a JavaScript port of Hugging Face's tokenizers):
// node encode.mjs PACKAGE IN.inp OUT.out tokenizes each string of a llama.cpp-style .inp
// file (separated by "\n__ggml_vocab_test__\n") without special tokens and writes one
// line of space-separated ids per string, the .out format.
import { createRequire } from "module";
import fs from "fs";

const require = createRequire(import.meta.url);
const [pkg, inp, out] = process.argv.slice(2);
const { fromPreTrained } = require(`@lenml/tokenizer-${pkg}`);
const tokenizer = fromPreTrained();
const parts = fs.readFileSync(inp, "utf8").split("\n__ggml_vocab_test__\n");
if (parts[parts.length - 1] === "") parts.pop();
const lines = parts.map((text) => tokenizer.encode(text, { add_special_tokens: false }).join(" "));
fs.writeFileSync(out, lines.join("\n") + "\n");
