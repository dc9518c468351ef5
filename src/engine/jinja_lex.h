/*
 * The Jinja lexer (jinja_lex.c), used by the parser only: text between tags
 * comes out with Hugging Face's whitespace rules already applied
 * (trim_blocks, lstrip_blocks, `-` and `+` markers), tags as tokens.
 */
#ifndef COCOON_ENGINE_JINJA_LEX_H
#define COCOON_ENGINE_JINJA_LEX_H

#include "engine/jinja_int.h"

typedef enum {
    T_EOF = 0,
    T_TEXT,
    T_VAR_BEGIN,
    T_VAR_END,
    T_BLOCK_BEGIN,
    T_BLOCK_END,
    T_NAME,
    T_STRING,
    T_INT,
    T_FLOAT,
    T_OP
} jtok_type;

typedef struct jtok {
    jtok_type t;
    uint32_t line, col;
    const char *s; /* T_TEXT, T_NAME, T_STRING (escapes decoded), T_OP: bytes in the arena */
    size_t n;
    int64_t i;
    double f;
} jtok;

typedef struct jtoks {
    jtok *v;
    size_t n, cap;
} jtoks;

/* Tokens of src into out (arrays and strings in ar). */
int jinja_lex(jinja_arena *ar, const char *src, size_t len, jtoks *out, cc_err *err);

#endif
