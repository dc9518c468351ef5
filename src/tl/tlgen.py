#!/usr/bin/env python3
"""tlgen — generates the C coders for the TL schema in proto/*.tl.

usage: tlgen.py --out DIR schema.tl...

Writes DIR/tl_gen.h (ids, structs, typed helpers) and DIR/tl_gen.c (per
constructor size/write/read/sample functions and the sorted constructor table).
The runtime they build on is src/tl/tl.h and src/tl/tl_internal.h; the
representation is documented in tl.h.

Constructor ids are the CRC-32 (IEEE) of the normalised declaration
("name field:type ... = Result", the explicit id removed, parentheses of type
applications dropped, whitespace collapsed). An explicit `#id` must equal the
computed one unless the declaration is preceded by a `//@pinned-id` comment
(COCOON chose a few ids by hand); any other mismatch fails the generation.
"""

import argparse
import os
import re
import sys
import zlib

# Declarations of the TL built-in types themselves: skipped when a schema
# repeats them (they are handled by the runtime, not generated).
BUILTIN_DECLS = {
    "int", "long", "double", "string", "object", "function", "bytes", "true",
    "boolTrue", "boolFalse", "vector", "int128", "int256",
}
PRIMITIVES = {"#", "int", "long", "double", "int128", "int256", "string", "bytes", "true"}
C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "bool", "true", "false", "hdr",
}
VECTOR_ID = 0x1CB5C415


class SchemaError(Exception):
    pass


def cident(name):
    return name.replace(".", "_")


def field_ident(name):
    return name + "_" if name in C_KEYWORDS else name


def is_ctor_name(name):
    """lower-case last component: a constructor (bare) reference."""
    last = name.rsplit(".", 1)[-1]
    return last[:1].islower()


class Field:
    def __init__(self, name, type_text, cond, where):
        self.name = name
        self.cname = field_ident(name)
        self.type_text = type_text  # normalised type text (without condition)
        self.cond = cond  # (flags_field_name, bit) or None
        self.where = where
        self.t = None  # resolved type, a dict


class Ctor:
    def __init__(self, name, fields, result, is_function, explicit_id, pinned, normalised, where):
        self.name = name
        self.cname = cident(name)
        self.fields = fields
        self.result = result
        self.is_function = is_function
        self.normalised = normalised
        self.where = where
        computed = zlib.crc32(normalised.encode()) & 0xFFFFFFFF
        if explicit_id is not None and explicit_id != computed and not pinned:
            raise SchemaError(
                "%s: %s: explicit id %08x differs from computed %08x of '%s' "
                "(mark it //@pinned-id if the id is fixed by hand)"
                % (where, name, explicit_id, computed, normalised))
        if pinned and explicit_id is None:
            raise SchemaError("%s: %s: //@pinned-id without an explicit #id" % (where, name))
        self.id = explicit_id if explicit_id is not None else computed
        self.computed_id = computed


# ----------------------------------------------------------------- parsing

def strip_comments(text):
    """Removes // and /* */ comments; returns (text, pinned line numbers)."""
    out = []
    pinned_lines = set()
    i = 0
    line = 1
    n = len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            if text[i:j].strip() == "//@pinned-id":
                pinned_lines.add(line)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise SchemaError("line %d: unterminated comment" % line)
            line += text.count("\n", i, j)
            out.append(" " * 0 + "\n" * text.count("\n", i, j))
            i = j + 2
        else:
            c = text[i]
            if c == "\n":
                line += 1
            out.append(c)
            i += 1
    return "".join(out), pinned_lines


def normalise_type(t):
    """'(vector http.header)' -> 'vector http.header'; 'Vector<long>' -> 'Vector long'."""
    t = t.strip()
    m = re.fullmatch(r"([A-Za-z][\w.]*)<(.+)>", t)
    if m:
        return m.group(1) + " " + normalise_type(m.group(2))
    if t.startswith("(") and t.endswith(")"):
        inner = t[1:-1].split()
        return " ".join(normalise_type(x) for x in inner)
    return t


def tokenize_args(s, where):
    """Splits declaration arguments, keeping '(vector x)' groups together."""
    toks = []
    i = 0
    while i < len(s):
        if s[i].isspace():
            i += 1
            continue
        j = i
        depth = 0
        while j < len(s) and (depth > 0 or not s[j].isspace()):
            if s[j] == "(":
                depth += 1
            elif s[j] == ")":
                depth -= 1
                if depth < 0:
                    raise SchemaError("%s: unbalanced ')'" % where)
            j += 1
        if depth:
            raise SchemaError("%s: unbalanced '('" % where)
        toks.append(s[i:j])
        i = j
    return toks


def parse_decl(decl, is_function, pinned, where):
    if "=" not in decl:
        raise SchemaError("%s: missing '=' in '%s'" % (where, decl))
    lhs, rhs = decl.rsplit("=", 1)
    result = " ".join(rhs.split())
    toks = tokenize_args(lhs, where)
    if not toks:
        raise SchemaError("%s: empty declaration" % where)
    head = toks[0]
    m = re.fullmatch(r"([A-Za-z][\w.]*)(?:#([0-9a-fA-F]{1,8}))?", head)
    if not m:
        raise SchemaError("%s: bad constructor name '%s'" % (where, head))
    name = m.group(1)
    explicit = int(m.group(2), 16) if m.group(2) else None
    if name in BUILTIN_DECLS:
        return None
    fields = []
    norm_parts = [name]
    for tok in toks[1:]:
        if tok.startswith("{") or tok.startswith("["):
            raise SchemaError("%s: %s: type parameters are not supported" % (where, name))
        fm = re.fullmatch(r"(\w+):(.+)", tok)
        if not fm:
            raise SchemaError("%s: %s: bad field '%s'" % (where, name, tok))
        fname, ftype = fm.group(1), fm.group(2)
        cond = None
        cm = re.fullmatch(r"(\w+)\.(\d+)\?(.+)", ftype)
        if cm:
            cond = (cm.group(1), int(cm.group(2)))
            if cond[1] > 31:
                raise SchemaError("%s: %s.%s: flag bit %d > 31" % (where, name, fname, cond[1]))
            ftype = cm.group(3)
        ntype = normalise_type(ftype)
        if cond:
            norm_parts.append("%s:%s.%d?%s" % (fname, cond[0], cond[1], ntype))
        else:
            norm_parts.append("%s:%s" % (fname, ntype))
        fields.append(Field(fname, ntype, cond, "%s: %s.%s" % (where, name, fname)))
    norm = " ".join(norm_parts) + " = " + result
    seen = set()
    for f in fields:
        if f.name in seen:
            raise SchemaError("%s: %s: duplicate field %s" % (where, name, f.name))
        seen.add(f.name)
    return Ctor(name, fields, result, is_function, explicit, pinned, norm, where)


def parse_file(path):
    with open(path, encoding="utf-8") as fh:
        raw = fh.read()
    text, pinned_lines = strip_comments(raw)
    ctors = []
    is_function = False
    pos = 0
    line = 1
    buf = []
    buf_start = None
    pending_pin = False
    # Walk line by line to track section markers and pins; declarations end at ';'.
    for lineno, ln in enumerate(text.split("\n"), start=1):
        if lineno in pinned_lines and not buf:
            pending_pin = True
        stripped = ln.strip()
        if not buf and stripped in ("---functions---", "---types---"):
            is_function = stripped == "---functions---"
            continue
        rest = ln
        while rest:
            k = rest.find(";")
            if k < 0:
                if rest.strip():
                    if buf_start is None:
                        buf_start = lineno
                    buf.append(rest)
                rest = ""
            else:
                if buf_start is None:
                    buf_start = lineno
                buf.append(rest[:k])
                decl = " ".join(" ".join(buf).split())
                where = "%s:%d" % (os.path.basename(path), buf_start)
                if decl.startswith("---"):
                    raise SchemaError("%s: section marker must be on its own line" % where)
                if decl:
                    c = parse_decl(decl, is_function, pending_pin, where)
                    if c is not None:
                        ctors.append(c)
                buf, buf_start, pending_pin = [], None, False
                rest = rest[k + 1:]
    del pos, line
    if buf and " ".join(buf).strip():
        raise SchemaError("%s: declaration without ';' at end of file" % path)
    return ctors


# --------------------------------------------------------------- resolving

class Schema:
    def __init__(self, ctors):
        self.ctors = ctors
        self.by_name = {}
        for c in ctors:
            if c.name in self.by_name:
                raise SchemaError("%s: %s declared twice" % (c.where, c.name))
            self.by_name[c.name] = c
        by_id = {}
        for c in ctors:
            if c.id in by_id:
                raise SchemaError("%s: id %08x of %s collides with %s"
                                  % (c.where, c.id, c.name, by_id[c.id].name))
            by_id[c.id] = c
        # Boxed types: result types of constructors (functions are not members).
        self.types = {}
        for c in ctors:
            if not c.is_function:
                if not re.fullmatch(r"[A-Za-z][\w.]*", c.result) or is_ctor_name(c.result):
                    raise SchemaError("%s: %s: bad result type '%s'" % (c.where, c.name, c.result))
                if c.result in ("Bool", "Vector"):
                    raise SchemaError("%s: %s: cannot add constructors to %s"
                                      % (c.where, c.name, c.result))
                self.types.setdefault(c.result, []).append(c)
        self.type_names = sorted(self.types)
        self.type_index = {t: i + 1 for i, t in enumerate(self.type_names)}
        self.vec_tags = {}  # tag -> element item C type, in first-use order
        for c in ctors:
            for f in c.fields:
                f.t = self.resolve(f.type_text, f.where)
            self.check_flags(c)

    def resolve(self, text, where):
        parts = text.split()
        if len(parts) == 2 and parts[0] in ("vector", "Vector"):
            elem = self.resolve(parts[1], where)
            if elem["k"] == "true":
                raise SchemaError("%s: vector of true" % where)
            t = {"k": "vec", "boxed": parts[0] == "Vector", "elem": elem}
            tag = "vec_" + elem["tag"]
            t["tag"] = tag
            t["ctype"] = "tl_" + tag
            if tag not in self.vec_tags:
                self.vec_tags[tag] = elem
            return t
        if len(parts) != 1:
            raise SchemaError("%s: unsupported type '%s'" % (where, text))
        name = parts[0]
        simple = {
            "#": ("nat", "uint32_t"), "int": ("int", "int32_t"), "long": ("long", "int64_t"),
            "double": ("double", "double"), "int128": ("int128", "tl_int128"),
            "int256": ("int256", "tl_int256"), "string": ("string", "tl_bytes"),
            "bytes": ("bytes", "tl_bytes"), "Bool": ("bool", "bool"), "true": ("true", "bool"),
        }
        if name in simple:
            k, ctype = simple[name]
            return {"k": k, "ctype": ctype, "tag": k}
        if name.startswith("%"):
            tname = name[1:]
            cs = self.types.get(tname)
            if not cs or len(cs) != 1:
                raise SchemaError("%s: bare %%%s needs a type with one constructor" % (where, tname))
            name = cs[0].name
        if is_ctor_name(name):
            c = self.by_name.get(name)
            if c is None:
                raise SchemaError("%s: unknown constructor '%s'" % (where, name))
            if c.is_function:
                raise SchemaError("%s: '%s' is a function, not a type" % (where, name))
            return {"k": "bare", "ctor": c, "ctype": "tl_" + c.cname, "tag": c.cname}
        if name not in self.types:
            raise SchemaError("%s: unknown type '%s'" % (where, name))
        return {"k": "boxed", "type": name, "ctype": "tl_obj *", "tag": "obj"}

    def check_flags(self, c):
        known = {}
        for f in c.fields:
            if f.cond:
                fl, bit = f.cond
                if fl not in known:
                    raise SchemaError("%s: flags field '%s' must be a '#' declared before it"
                                      % (f.where, fl))
                known[fl] |= 1 << bit
            elif f.t["k"] == "true":
                raise SchemaError("%s: 'true' needs a flags condition" % f.where)
            if f.t["k"] == "nat" and not f.cond:
                known[f.name] = 0
        c.flag_masks = known


# ------------------------------------------------------------ C generation

def min_wire(t, schema, stack=()):
    k = t["k"]
    if k in ("nat", "int", "bool", "bytes", "string", "boxed"):
        return 4
    if k in ("long", "double"):
        return 8
    if k == "int128":
        return 16
    if k == "int256":
        return 32
    if k == "true":
        return 0
    if k == "vec":
        return 8 if t["boxed"] else 4
    if k == "bare":
        c = t["ctor"]
        if c.name in stack:
            raise SchemaError("%s: %s embeds itself by value" % (c.where, c.name))
        return sum(0 if f.cond else min_wire(f.t, schema, stack + (c.name,)) for f in c.fields)
    raise AssertionError(k)


FIXED = {"nat": ("u32", 4), "int": ("i32", 4), "long": ("i64", 8), "double": ("f64", 8)}


class Emitter:
    def __init__(self):
        self.lines = []
        self.ind = 1
        self.tmp = 0

    def __call__(self, s):
        self.lines.append("    " * self.ind + s)

    def var(self, base):
        self.tmp += 1
        return "%s%d" % (base, self.tmp)


def emit_size(e, t, lv, ctx):
    """Adds the wire size of lvalue lv (of type t) to *n; validates."""
    k = t["k"]
    if k in FIXED:
        e("*n += %d;" % FIXED[k][1])
    elif k == "bool":
        e("*n += 4;")
    elif k == "true":
        pass
    elif k == "int128":
        e("*n += 16;")
    elif k == "int256":
        e("*n += 32;")
    elif k in ("bytes", "string"):
        e("if (tl_sz_bytes(&%s, n, err)) return tl_fail(err, \"%s\");" % (lv, ctx))
    elif k == "bare":
        e("if (sz_%s(&%s, n, err)) return tl_fail(err, \"%s\");" % (t["ctor"].cname, lv, ctx))
    elif k == "boxed":
        e("if (tl_sz_boxed(%s, TL_TYPE_%s, n, err)) return tl_fail(err, \"%s\");"
          % (lv, cident(t["type"]), ctx))
    elif k == "vec":
        e("if (tl_sz_vec_check(%s.n, %s.items != NULL, err)) return tl_fail(err, \"%s\");"
          % (lv, lv, ctx))
        e("*n += %d;" % (8 if t["boxed"] else 4))
        el = t["elem"]
        if el["k"] in FIXED or el["k"] in ("bool", "int128", "int256"):
            size = {"bool": 4, "int128": 16, "int256": 32}.get(el["k"]) or FIXED[el["k"]][1]
            e("*n += %s.n * %d;" % (lv, size))
        else:
            i = e.var("i")
            e("for (size_t %s = 0; %s < %s.n; %s++) {" % (i, i, lv, i))
            e.ind += 1
            emit_size(e, el, "%s.items[%s]" % (lv, i), ctx + "[]")
            e.ind -= 1
            e("}")
    else:
        raise AssertionError(k)


def emit_write(e, t, lv):
    k = t["k"]
    if k in FIXED:
        e("p = tl_wr_%s(p, %s);" % (FIXED[k][0], lv))
    elif k == "bool":
        e("p = tl_wr_u32(p, %s ? TL_ID_boolTrue : TL_ID_boolFalse);" % lv)
    elif k == "true":
        pass
    elif k == "int128":
        e("memcpy(p, %s.b, 16); p += 16;" % lv)
    elif k == "int256":
        e("memcpy(p, %s.b, 32); p += 32;" % lv)
    elif k in ("bytes", "string"):
        e("p = tl_wr_bytes(p, %s);" % lv)
    elif k == "bare":
        e("p = wr_%s(&%s, p);" % (t["ctor"].cname, lv))
    elif k == "boxed":
        e("p = tl_wr_boxed(%s, p);" % lv)
    elif k == "vec":
        if t["boxed"]:
            e("p = tl_wr_u32(p, TL_ID_vector);")
        e("p = tl_wr_u32(p, (uint32_t)%s.n);" % lv)
        i = e.var("i")
        e("for (size_t %s = 0; %s < %s.n; %s++) {" % (i, i, lv, i))
        e.ind += 1
        emit_write(e, t["elem"], "%s.items[%s]" % (lv, i))
        e.ind -= 1
        e("}")
    else:
        raise AssertionError(k)


def emit_read(e, t, lv, ctx, schema):
    k = t["k"]
    fail = "return tl_fail(r->err, \"%s\");" % ctx
    if k in FIXED:
        e("if (tl_rd_%s(r, &%s)) %s" % (FIXED[k][0], lv, fail))
    elif k == "bool":
        e("if (tl_rd_bool(r, &%s)) %s" % (lv, fail))
    elif k == "true":
        pass
    elif k == "int128":
        e("if (tl_rd_raw(r, %s.b, 16)) %s" % (lv, fail))
    elif k == "int256":
        e("if (tl_rd_raw(r, %s.b, 32)) %s" % (lv, fail))
    elif k in ("bytes", "string"):
        e("if (tl_rd_bytes(r, &%s)) %s" % (lv, fail))
    elif k == "bare":
        e("%s.hdr.id = TL_ID_%s;" % (lv, t["ctor"].cname))
        e("if (rd_%s(r, &%s)) %s" % (t["ctor"].cname, lv, fail))
    elif k == "boxed":
        e("if (tl_rd_boxed(r, TL_TYPE_%s, &%s)) %s" % (cident(t["type"]), lv, fail))
    elif k == "vec":
        el = t["elem"]
        e("if (tl_rd_vec(r, %s, %d, sizeof(*%s.items), (void **)&%s.items, &%s.n)) %s"
          % ("true" if t["boxed"] else "false", max(1, min_wire(el, schema)), lv, lv, lv, fail))
        i = e.var("i")
        e("for (size_t %s = 0; %s < %s.n; %s++) {" % (i, i, lv, i))
        e.ind += 1
        emit_read(e, el, "%s.items[%s]" % (lv, i), ctx + "[]", schema)
        e.ind -= 1
        e("}")
        e("r->depth--;")
    else:
        raise AssertionError(k)


def emit_sample(e, t, lv, flag_mask):
    k = t["k"]
    if k == "nat":
        e("%s = tl_smp_flags(s, 0x%xu);" % (lv, flag_mask))
    elif k == "int":
        e("%s = (int32_t)tl_smp_u32(s);" % lv)
    elif k == "long":
        e("%s = (int64_t)tl_smp_u64(s);" % lv)
    elif k == "double":
        e("%s = tl_smp_double(s);" % lv)
    elif k in ("bool", "true"):
        e("%s = (tl_smp_u32(s) & 1) != 0;" % lv)
    elif k in ("int128", "int256"):
        e("tl_smp_fill(s, %s.b, sizeof(%s.b));" % (lv, lv))
    elif k in ("bytes", "string"):
        e("%s = tl_smp_bytes(s, %s);" % (lv, "true" if k == "string" else "false"))
    elif k == "bare":
        e("%s.hdr.id = TL_ID_%s;" % (lv, t["ctor"].cname))
        e("sm_%s(s, &%s);" % (t["ctor"].cname, lv))
    elif k == "boxed":
        e("%s = tl_smp_boxed(s, TL_TYPE_%s);" % (lv, cident(t["type"])))
    elif k == "vec":
        e("%s.n = tl_smp_count(s);" % lv)
        e("%s.items = tl_smp_alloc(s, %s.n * sizeof(*%s.items));" % (lv, lv, lv))
        i = e.var("i")
        e("for (size_t %s = 0; %s < %s.n; %s++) {" % (i, i, lv, i))
        e.ind += 1
        emit_sample(e, t["elem"], "%s.items[%s]" % (lv, i), 0)
        e.ind -= 1
        e("}")
    else:
        raise AssertionError(k)


def emit_dump(e, t, lv):
    k = t["k"]
    if k in ("nat", "int", "long"):
        e("tl_dp_int(d, (int64_t)%s);" % lv)
    elif k == "double":
        e("tl_dp_double(d, %s);" % lv)
    elif k in ("bool", "true"):
        e("tl_dp_bool(d, %s);" % lv)
    elif k in ("int128", "int256"):
        e("tl_dp_hex(d, %s.b, sizeof(%s.b));" % (lv, lv))
    elif k in ("bytes", "string"):
        e("tl_dp_bytes(d, %s);" % lv)
    elif k == "bare":
        e("dp_%s(d, &%s);" % (t["ctor"].cname, lv))
    elif k == "boxed":
        e("tl_dp_boxed(d, %s);" % lv)
    elif k == "vec":
        i = e.var("i")
        e("tl_dp_open(d, '[');")
        e("for (size_t %s = 0; %s < %s.n; %s++) {" % (i, i, lv, i))
        e.ind += 1
        e("tl_dp_sep(d, %s);" % i)
        emit_dump(e, t["elem"], "%s.items[%s]" % (lv, i))
        e.ind -= 1
        e("}")
        e("tl_dp_close(d, ']');")
    else:
        raise AssertionError(k)


def emit_eq(e, t, a, b):
    """Returns false from the generated function when a and b differ."""
    k = t["k"]
    if k in ("nat", "int", "long", "bool"):
        e("if (%s != %s) return false;" % (a, b))
    elif k == "true":
        pass  # follows from the flags field
    elif k == "double":
        e("if (memcmp(&%s, &%s, sizeof(double)) != 0) return false;" % (a, b))
    elif k in ("int128", "int256"):
        e("if (memcmp(%s.b, %s.b, sizeof(%s.b)) != 0) return false;" % (a, b, a))
    elif k in ("bytes", "string"):
        e("if (!tl_eq_bytes(%s, %s)) return false;" % (a, b))
    elif k == "bare":
        e("if (!eq_%s(&%s, &%s)) return false;" % (t["ctor"].cname, a, b))
    elif k == "boxed":
        e("if (!tl_obj_equal(%s, %s)) return false;" % (a, b))
    elif k == "vec":
        e("if (%s.n != %s.n) return false;" % (a, b))
        i = e.var("i")
        e("for (size_t %s = 0; %s < %s.n; %s++) {" % (i, i, a, i))
        e.ind += 1
        emit_eq(e, t["elem"], "%s.items[%s]" % (a, i), "%s.items[%s]" % (b, i))
        e.ind -= 1
        e("}")
    else:
        raise AssertionError(k)


def cond_open(e, c, f):
    if f.cond:
        fl = [x for x in c.fields if x.name == f.cond[0]][0]
        e("if (o->%s & (UINT32_C(1) << %d)) {" % (fl.cname, f.cond[1]))
        e.ind += 1


def cond_close(e, f):
    if f.cond:
        e.ind -= 1
        e("}")


def struct_order(schema):
    """Constructors ordered so that a struct embedded by value comes first."""
    order, done = [], set()

    def deps(t):
        if t["k"] == "bare":
            return [t["ctor"]]
        return []

    def visit(c, stack):
        if c.name in done:
            return
        if c.name in stack:
            raise SchemaError("%s: %s embeds itself by value" % (c.where, c.name))
        for f in c.fields:
            for d in deps(f.t):
                visit(d, stack | {c.name})
        done.add(c.name)
        order.append(c)

    for c in schema.ctors:
        visit(c, set())
    return order


def gen_header(schema):
    L = []
    w = L.append
    w("/* Generated by src/tl/tlgen.py from the proto/ schemas. Do not edit. */")
    w("#ifndef COCOON_TL_GEN_H")
    w("#define COCOON_TL_GEN_H")
    w("#ifndef COCOON_TL_H")
    w("#error \"include tl/tl.h, not tl/tl_gen.h\"")
    w("#endif")
    w("")
    w("/* Constructor ids (CRC-32 of the normalised declaration unless pinned). */")
    for c in schema.ctors:
        w("#define TL_ID_%s 0x%08xu /* %s%s */"
          % (c.cname, c.id, "function " if c.is_function else "", c.normalised[:70]))
    w("")
    w("#define TL_CTOR_COUNT %d" % len(schema.ctors))
    w("")
    w("/* Boxed types: the set of constructors a capitalised field type accepts. */")
    w("enum tl_type {")
    w("    TL_TYPE_NONE = 0, /* any constructor (tl_decode_opts.expect_type) */")
    for t in schema.type_names:
        w("    TL_TYPE_%s = %d," % (cident(t), schema.type_index[t]))
    w("    TL_TYPE_COUNT = %d" % (len(schema.type_names) + 1))
    w("};")
    w("")
    for c in schema.ctors:
        w("typedef struct tl_%s tl_%s;" % (c.cname, c.cname))
    w("")
    w("/* Vectors: n elements in items (decoded: allocated in the object's arena). */")
    for tag, el in schema.vec_tags.items():
        ctype = el["ctype"]
        w("typedef struct tl_%s {" % tag)
        w("    size_t n;")
        w("    %s%s*items;" % (ctype, "" if ctype.endswith("*") else " "))
        w("} tl_%s;" % tag)
    w("")
    for c in struct_order(schema):
        kind = "function" if c.is_function else "constructor"
        w("/* %s %s = %s */" % (kind, c.name, c.result))
        w("struct tl_%s {" % c.cname)
        w("    tl_obj hdr;")
        for f in c.fields:
            note = ""
            if f.cond:
                note = " /* present iff %s bit %d */" % (f.cond[0], f.cond[1])
            if f.t["k"] == "true":
                note = " /* decoded from %s bit %d; not written */" % (f.cond[0], f.cond[1])
            ctype = f.t["ctype"]
            sep = "" if ctype.endswith("*") else " "
            w("    %s%s%s;%s" % (ctype, sep, f.cname, note))
        w("};")
    w("")
    w("/* tl_as_<ctor>(o): o viewed as that constructor, or NULL if o is NULL or another one. */")
    for c in schema.ctors:
        w("static inline tl_%s *tl_as_%s(const tl_obj *o)" % (c.cname, c.cname))
        w("{")
        w("    return o && o->id == TL_ID_%s ? (tl_%s *)(uintptr_t)o : NULL;" % (c.cname, c.cname))
        w("}")
    w("")
    w("/* Typed wrappers: tl_encode_<ctor>, tl_decode_<ctor> (fails unless the whole")
    w(" * input is exactly that constructor; flags are TL_DECODE_*), tl_free_<ctor>. */")
    for c in schema.ctors:
        n = c.cname
        w("static inline int tl_encode_%s(const tl_%s *o, cc_buf *out, cc_err *err)" % (n, n))
        w("{")
        w("    return tl_encode(&o->hdr, out, err);")
        w("}")
        w("static inline tl_%s *tl_decode_%s(const uint8_t *p, size_t n, unsigned flags, "
          "cc_err *err)" % (n, n))
        w("{")
        w("    return (tl_%s *)tl_decode_as(p, n, TL_ID_%s, flags, err);" % (n, n))
        w("}")
        w("static inline void tl_free_%s(tl_%s *o)" % (n, n))
        w("{")
        w("    if (o)")
        w("        tl_obj_free(&o->hdr);")
        w("}")
    w("")
    w("#endif")
    return "\n".join(L) + "\n"


def gen_source(schema):
    L = []
    w = L.append
    w("/* Generated by src/tl/tlgen.py from the proto/ schemas. Do not edit. */")
    w("#include <string.h>")
    w("")
    w('#include "tl/tl_internal.h"')
    w("")
    for c in schema.ctors:
        w("static int sz_%s(const void *vo, size_t *n, cc_err *err);" % c.cname)
        w("static uint8_t *wr_%s(const void *vo, uint8_t *p);" % c.cname)
        w("static int rd_%s(tl_rd *r, void *vo);" % c.cname)
        w("static void sm_%s(tl_smp *s, void *vo);" % c.cname)
        w("static void dp_%s(tl_dump *d, const void *vo);" % c.cname)
        w("static bool eq_%s(const void *va, const void *vb);" % c.cname)
    w("")
    for c in schema.ctors:
        used = bool(c.fields)
        # size
        e = Emitter()
        for f in c.fields:
            cond_open(e, c, f)
            emit_size(e, f.t, "o->" + f.cname, "%s.%s" % (c.name, f.name))
            cond_close(e, f)
        w("static int sz_%s(const void *vo, size_t *n, cc_err *err)" % c.cname)
        w("{")
        if used:
            w("    const tl_%s *o = vo;" % c.cname)
            w("    (void)o, (void)err;")
        else:
            w("    (void)vo, (void)n, (void)err;")
        L.extend(e.lines)
        w("    return 0;")
        w("}")
        # write
        e = Emitter()
        for f in c.fields:
            cond_open(e, c, f)
            emit_write(e, f.t, "o->" + f.cname)
            cond_close(e, f)
        w("static uint8_t *wr_%s(const void *vo, uint8_t *p)" % c.cname)
        w("{")
        if used:
            w("    const tl_%s *o = vo;" % c.cname)
        else:
            w("    (void)vo;")
        L.extend(e.lines)
        w("    return p;")
        w("}")
        # read
        e = Emitter()
        for f in c.fields:
            if f.t["k"] == "true":
                fl = [x for x in c.fields if x.name == f.cond[0]][0]
                e("o->%s = (o->%s & (UINT32_C(1) << %d)) != 0;" % (f.cname, fl.cname, f.cond[1]))
                continue
            cond_open(e, c, f)
            emit_read(e, f.t, "o->" + f.cname, "%s.%s" % (c.name, f.name), schema)
            cond_close(e, f)
        w("static int rd_%s(tl_rd *r, void *vo)" % c.cname)
        w("{")
        if used:
            w("    tl_%s *o = vo;" % c.cname)
        else:
            w("    (void)vo;")
        w("    if (tl_rd_enter(r)) return tl_fail(r->err, \"%s\");" % c.name)
        L.extend(e.lines)
        w("    r->depth--;")
        w("    return 0;")
        w("}")
        # sample
        e = Emitter()
        for f in c.fields:
            emit_sample(e, f.t, "o->" + f.cname, c.flag_masks.get(f.name, 0))
        w("static void sm_%s(tl_smp *s, void *vo)" % c.cname)
        w("{")
        if used:
            w("    tl_%s *o = vo;" % c.cname)
        else:
            w("    (void)vo;")
        w("    (void)s;")
        L.extend(e.lines)
        w("}")
        # dump
        e = Emitter()
        for f in c.fields:
            cond_open(e, c, f)
            e("tl_dp_key(d, \"%s\");" % f.name)
            emit_dump(e, f.t, "o->" + f.cname)
            cond_close(e, f)
        w("static void dp_%s(tl_dump *d, const void *vo)" % c.cname)
        w("{")
        if used:
            w("    const tl_%s *o = vo;" % c.cname)
            w("    (void)o;")
        else:
            w("    (void)vo;")
        w("    tl_dp_begin(d, \"%s\");" % c.name)
        L.extend(e.lines)
        w("    tl_dp_close(d, '}');")
        w("}")
        # structural equality (flags compared first: conditional fields only when set)
        e = Emitter()
        for f in c.fields:
            if f.cond:
                fl = [x for x in c.fields if x.name == f.cond[0]][0]
                e("if (a->%s & (UINT32_C(1) << %d)) {" % (fl.cname, f.cond[1]))
                e.ind += 1
            emit_eq(e, f.t, "a->" + f.cname, "b->" + f.cname)
            if f.cond:
                e.ind -= 1
                e("}")
        w("static bool eq_%s(const void *va, const void *vb)" % c.cname)
        w("{")
        if used:
            w("    const tl_%s *a = va, *b = vb;" % c.cname)
            w("    (void)a, (void)b;")
        else:
            w("    (void)va, (void)vb;")
        L.extend(e.lines)
        w("    return true;")
        w("}")
        w("")
    w("/* Sorted by id for binary search. */")
    w("const tl_ctor_impl tl_ctor_table[] = {")
    for c in sorted(schema.ctors, key=lambda x: x.id):
        tidx = "TL_TYPE_NONE" if c.is_function else "TL_TYPE_" + cident(c.result)
        w("    {{TL_ID_%s, \"%s\", \"%s\", %s, %s, sizeof(tl_%s), %d},"
          % (c.cname, c.name, c.result, tidx, "true" if c.is_function else "false", c.cname,
             c.computed_id != c.id))
        w("     sz_%s, wr_%s, rd_%s, sm_%s, dp_%s, eq_%s},"
          % (c.cname, c.cname, c.cname, c.cname, c.cname, c.cname))
    w("};")
    w("const size_t tl_ctor_table_len = %d;" % len(schema.ctors))
    w("")
    w("const char *const tl_type_names[TL_TYPE_COUNT] = {")
    w("    \"(any)\",")
    for t in schema.type_names:
        w("    \"%s\"," % t)
    w("};")
    return "\n".join(L) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--list", action="store_true", help="print 'id name normalised' per ctor")
    ap.add_argument("schemas", nargs="+")
    a = ap.parse_args(argv)
    try:
        ctors = []
        for path in sorted(a.schemas):
            ctors.extend(parse_file(path))
        schema = Schema(ctors)
        struct_order(schema)
        for c in schema.ctors:
            for f in c.fields:
                min_wire(f.t, schema)
    except SchemaError as ex:
        print("tlgen: error: %s" % ex, file=sys.stderr)
        return 1
    if a.list:
        for c in ctors:
            print("%08x %s %s" % (c.id, c.name, c.normalised))
    os.makedirs(a.out, exist_ok=True)
    for name, text in (("tl_gen.h", gen_header(schema)), ("tl_gen.c", gen_source(schema))):
        path = os.path.join(a.out, name)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
