/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sig.c - the canonical form of a hook's or event's C signature, so that
 * the registry compares types, not text. See vbx__sig_normalise() in
 * core.h.
 *
 * The text comes from plugins (VBX_HOOK_DECLARE stringises "int" and the
 * parameter list; VBX_EVENT_DECLARE the payload type), so it is parsed as
 * untrusted input: bounded length and nesting, no recursion without a
 * depth check, and anything outside the small grammar below is refused.
 *
 *   decl       := specifier+ declarator
 *   specifier  := qualifier | type keyword | struct/union/enum TAG
 *               | typedef-name (only while no type was named)
 *   declarator := ('*' qualifier*)* direct? suffix*
 *   direct     := NAME (dropped) | '(' declarator ')'  when '(' is
 *                 followed by '*' or '('
 *   suffix     := '[' tokens ']' | '(' (decl (',' decl)* (',' '...')?
 *                 | '...' | nothing) ')'
 *
 * The canonical form drops each declarator's name, sorts the specifiers
 * of a declaration and the qualifiers after each '*' (their order means
 * nothing in C), and spaces tokens one way: "int(char const *, size_t)".
 */
#include "vbx_build.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define MAX_TEXT 4096 /* longer signatures are refused */
#define MAX_DEPTH 16  /* nested parentheses and brackets */
#define MAX_SPECS 16  /* specifiers in one declaration */

enum kind { T_WORD, T_PUNCT, T_END };

struct tok {
	enum kind kind;
	const char *s;
	size_t len;
};

struct parser {
	const char *pos;  /* the next byte to tokenize */
	struct tok cur;   /* the current token */
	struct tok ahead; /* the one after it */
	char *out;        /* the canonical form so far, NUL-terminated */
	size_t outlen;
	int depth;
	bool bad;
};

static bool word_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool word_char(char c)
{
	return word_start(c) || (c >= '0' && c <= '9');
}

/* The token at *pos, which is advanced past it; kind T_PUNCT with len 0
 * for a byte outside the grammar. */
static struct tok lex(const char **pos)
{
	const char *p = *pos;
	struct tok t = {T_END, p, 0};

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	t.s = p;
	if (!*p) {
		*pos = p;
		return t;
	}
	if (word_char(*p)) {
		while (word_char(p[t.len]))
			t.len++;
		t.kind = T_WORD;
	} else if (strncmp(p, "...", 3) == 0) {
		t.kind = T_PUNCT;
		t.len = 3;
	} else {
		t.kind = T_PUNCT;
		t.len = strchr("*()[],+-/%<>&|^~!?:", *p) ? 1 : 0;
	}
	*pos = p + (t.len ? t.len : 1);
	return t;
}

static void advance(struct parser *ps)
{
	ps->cur = ps->ahead;
	ps->ahead = lex(&ps->pos);
	if (ps->ahead.kind == T_PUNCT && ps->ahead.len == 0)
		ps->bad = true;
}

static bool is(const struct tok *t, const char *text)
{
	return t->kind != T_END && t->len == strlen(text) &&
	       memcmp(t->s, text, t->len) == 0;
}

static bool in_list(const struct tok *t, const char *const *list)
{
	for (; *list; list++)
		if (t->kind == T_WORD && is(t, *list))
			return true;
	return false;
}

static const char *const qualifiers[] = {
        "const",        "volatile", "restrict", "__restrict",
        "__restrict__", "_Atomic",  "register", NULL};

static const char *const type_keywords[] = {
        "void",   "char",   "short",    "int",   "long",     "float",
        "double", "signed", "unsigned", "_Bool", "_Complex", NULL};

static const char *const tag_keywords[] = {"struct", "union", "enum", NULL};

/* A word that can never be a declarator's name. */
static bool is_keyword(const struct tok *t)
{
	return in_list(t, qualifiers) || in_list(t, type_keywords) ||
	       in_list(t, tag_keywords);
}

/* Append text (len bytes) to the output, spaced the canonical way: one
 * space between two words, and between a word and a '*'. The output has
 * room: each input byte yields at most two output bytes. */
static void emit(struct parser *ps, const char *text, size_t len)
{
	char prev = ps->outlen ? ps->out[ps->outlen - 1] : '\0';
	if (word_char(prev) && (word_char(text[0]) || text[0] == '*'))
		ps->out[ps->outlen++] = ' ';
	memcpy(ps->out + ps->outlen, text, len);
	ps->outlen += len;
	ps->out[ps->outlen] = '\0';
}

static void emit_tok(struct parser *ps, const struct tok *t)
{
	emit(ps, t->s, t->len);
}

static bool expect(struct parser *ps, const char *text)
{
	if (!is(&ps->cur, text)) {
		ps->bad = true;
		return false;
	}
	emit(ps, text, strlen(text));
	advance(ps);
	return true;
}

static bool enter(struct parser *ps)
{
	if (++ps->depth > MAX_DEPTH)
		ps->bad = true;
	return !ps->bad;
}

/* One specifier or qualifier: a word, or a tag keyword and its tag. */
struct spec {
	struct tok word;
	struct tok tag; /* kind T_END unless word is struct, union or enum */
};

static int tok_cmp(const struct tok *x, const struct tok *y)
{
	size_t n = x->len < y->len ? x->len : y->len;
	int c = n ? memcmp(x->s, y->s, n) : 0;
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int spec_cmp(const void *a, const void *b)
{
	const struct spec *x = a, *y = b;
	int c = tok_cmp(&x->word, &y->word);
	return c ? c : tok_cmp(&x->tag, &y->tag);
}

/* Sort the n specifiers and emit them. */
static void emit_specs(struct parser *ps, struct spec *specs, size_t n)
{
	qsort(specs, n, sizeof(*specs), spec_cmp);
	for (size_t i = 0; i < n; i++) {
		emit_tok(ps, &specs[i].word);
		if (specs[i].tag.kind != T_END)
			emit_tok(ps, &specs[i].tag);
	}
}

/* Collect the specifiers of one declaration; false when there is none.
 * A typedef-name is a type of its own: no type keyword or tag goes with
 * it, and a word after any type is the declarator's name. */
static bool specifiers(struct parser *ps)
{
	struct spec specs[MAX_SPECS];
	size_t n = 0;
	bool typed = false, named_type = false;

	while (ps->cur.kind == T_WORD && !ps->bad) {
		struct spec sp = {ps->cur, {T_END, NULL, 0}};
		bool tag = in_list(&ps->cur, tag_keywords);
		if (n == MAX_SPECS || !word_start(ps->cur.s[0]) ||
		    (named_type && (tag || in_list(&ps->cur, type_keywords)))) {
			ps->bad = true;
			break;
		}
		if (tag) {
			advance(ps);
			if (ps->cur.kind != T_WORD || is_keyword(&ps->cur) ||
			    !word_start(ps->cur.s[0])) {
				ps->bad = true;
				break;
			}
			sp.tag = ps->cur;
			typed = true;
		} else if (in_list(&ps->cur, type_keywords)) {
			typed = true;
		} else if (!in_list(&ps->cur, qualifiers)) {
			if (typed)
				break; /* the declarator's name */
			typed = named_type = true;
		}
		advance(ps);
		specs[n++] = sp;
	}
	if (!typed)
		ps->bad = true;
	if (!ps->bad)
		emit_specs(ps, specs, n);
	return !ps->bad;
}

static void declarator(struct parser *ps);
static void declaration(struct parser *ps);

/* '*' and the sorted qualifiers after it. */
static void pointer(struct parser *ps)
{
	struct spec quals[MAX_SPECS];
	size_t n = 0;

	emit(ps, "*", 1);
	advance(ps);
	while (in_list(&ps->cur, qualifiers)) {
		if (n == MAX_SPECS) {
			ps->bad = true;
			return;
		}
		quals[n++] = (struct spec){ps->cur, {T_END, NULL, 0}};
		advance(ps);
	}
	emit_specs(ps, quals, n);
}

/* '[' tokens ']': an array's size, kept token by token. */
static void array(struct parser *ps)
{
	if (!enter(ps))
		return;
	expect(ps, "[");
	while (!ps->bad && ps->cur.kind != T_END && !is(&ps->cur, "]")) {
		if (is(&ps->cur, "[") || is(&ps->cur, ",") ||
		    is(&ps->cur, "...")) {
			ps->bad = true;
			break;
		}
		emit_tok(ps, &ps->cur);
		advance(ps);
	}
	expect(ps, "]");
	ps->depth--;
}

/* '(' parameter declarations ')'. */
static void parameters(struct parser *ps)
{
	if (!enter(ps))
		return;
	expect(ps, "(");
	if (!is(&ps->cur, ")")) {
		for (;;) {
			if (is(&ps->cur, "...")) {
				emit(ps, "...", 3);
				advance(ps);
				break;
			}
			declaration(ps);
			if (ps->bad || !is(&ps->cur, ","))
				break;
			emit(ps, ", ", 2);
			advance(ps);
		}
	}
	expect(ps, ")");
	ps->depth--;
}

static void declarator(struct parser *ps)
{
	while (!ps->bad && is(&ps->cur, "*"))
		pointer(ps);
	if (ps->cur.kind == T_WORD) {
		if (is_keyword(&ps->cur) || !word_start(ps->cur.s[0])) {
			ps->bad = true;
			return;
		}
		advance(ps); /* the name: it does not count */
	} else if (is(&ps->cur, "(") &&
	           (is(&ps->ahead, "*") || is(&ps->ahead, "("))) {
		if (!enter(ps))
			return;
		expect(ps, "(");
		declarator(ps);
		expect(ps, ")");
		ps->depth--;
	}
	while (!ps->bad) {
		if (is(&ps->cur, "["))
			array(ps);
		else if (is(&ps->cur, "("))
			parameters(ps);
		else
			break;
	}
}

static void declaration(struct parser *ps)
{
	if (specifiers(ps))
		declarator(ps);
}

int vbx__sig_normalise(const char *text, char **out)
{
	*out = NULL;
	if (!text)
		return VBX_EINVAL;
	size_t len = strnlen(text, MAX_TEXT + 1);
	if (len > MAX_TEXT)
		return VBX_EINVAL;

	struct parser ps = {.pos = text};
	ps.out = malloc(2 * len + 2);
	if (!ps.out)
		return VBX_ENOMEM;
	ps.out[0] = '\0';
	ps.ahead = lex(&ps.pos);
	ps.bad = ps.ahead.kind == T_PUNCT && ps.ahead.len == 0;
	advance(&ps);
	if (!ps.bad)
		declaration(&ps);
	if (ps.bad || ps.cur.kind != T_END) {
		free(ps.out);
		return VBX_EINVAL;
	}
	*out = ps.out;
	return VBX_OK;
}
