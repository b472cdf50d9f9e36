/* SPDX-License-Identifier: MIT */
/*
 * plist-lint.c - strict checking of XML property lists, with line numbers.
 *
 * libplist (which converts the plist) is lenient: "12abc" becomes 12, a key
 * without a value or a repeated key is silently dropped, an unknown element
 * is skipped.  In a driver manifest each of those is a bug the developer
 * wants to hear about, with the line and the key.  So XML plists are first
 * read with libxml2 (no network, no entity expansion) and walked here.
 *
 * The walk is bounded before libplist parses anything: nesting at most
 * VALUE_MAX_DEPTH levels (checked before each recursion), at most
 * PLIST_MAX_NODES values, no references to declared entities (an entity
 * that expands to others is the "billion laughs"; declarations alone are
 * harmless and ignored), and duplicate keys found with a hash set
 * per dictionary, so a dictionary of n keys costs O(n), not O(n^2).
 */
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "util.h"
#include "value-private.h"

struct lint {
	char *reason;
	size_t reason_len;
	bool failed;
	size_t nodes;
	char path[256];		/* keys from the root to the value being read, "A.B.3.C" */
	size_t path_len;
};

/* Append one component to l->path; returns the length to restore. */
static size_t
path_push(struct lint *l, const char *component)
{
	size_t was = l->path_len;
	int n = snprintf(l->path + was, sizeof(l->path) - was, "%s%s", was ? "." : "", component);

	if (n < 0 || (size_t)n >= sizeof(l->path) - was)
		l->path[was] = '\0'; /* too long to be useful: keep the prefix */
	else
		l->path_len = was + (size_t)n;
	return was;
}

static void
path_pop(struct lint *l, size_t was)
{
	l->path_len = was;
	l->path[was] = '\0';
}

static int
lint_fail(struct lint *l, const xmlNode *n, const char *fmt, ...) UDK_PRINTF(3, 4);

static int
lint_fail(struct lint *l, const xmlNode *n, const char *fmt, ...)
{
	va_list ap;
	int off = 0;

	if (l->failed)
		return -EBADMSG;
	l->failed = true;
	if (n)
		off = snprintf(l->reason, l->reason_len, "line %ld: %s%s", (long)xmlGetLineNo(n), l->path,
			       l->path_len ? ": " : "");
	else if (l->path_len)
		off = snprintf(l->reason, l->reason_len, "%s: ", l->path);
	if (off < 0 || (size_t)off >= l->reason_len)
		off = 0;
	va_start(ap, fmt);
	vsnprintf(l->reason + off, l->reason_len - (size_t)off, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static bool
is_blank(const xmlChar *s)
{
	for (; s && *s; s++)
		if (!isspace(*s))
			return false;
	return true;
}

/* Skip comments and whitespace text; anything else is returned. */
static xmlNode *
next_element(xmlNode *n, struct lint *l)
{
	for (; n; n = n->next) {
		if (n->type == XML_ELEMENT_NODE)
			return n;
		if (n->type == XML_TEXT_NODE && !is_blank(n->content)) {
			lint_fail(l, n, "stray text \"%.40s\" between elements", (const char *)n->content);
			return NULL;
		}
		if (n->type == XML_ENTITY_REF_NODE || n->type == XML_ENTITY_NODE) {
			lint_fail(l, n, "entity reference &%s; between elements", (const char *)n->name);
			return NULL;
		}
	}
	return NULL;
}

static bool
has_element_children(const xmlNode *n)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return true;
	return false;
}

/* A reference to a declared entity: its text would be expanded by xmlNodeGetContent(). */
static const xmlNode *
entity_child(const xmlNode *n)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ENTITY_REF_NODE || c->type == XML_ENTITY_NODE)
			return c;
	return NULL;
}

static const char *
trimmed(const xmlChar *s, char *out, size_t outlen)
{
	size_t n;

	while (s && *s && isspace(*s))
		s++;
	n = s ? strlen((const char *)s) : 0;
	while (n && isspace(s[n - 1]))
		n--;
	if (n >= outlen)
		n = outlen - 1;
	if (n)
		memcpy(out, s, n);
	out[n] = '\0';
	return out;
}

static int
lint_value(struct lint *l, xmlNode *n, int depth);

/* The keys of one dictionary: open addressing on their hash. */
struct keyset {
	struct keyslot {
		uint32_t hash;
		xmlChar *key;	/* owned */
		long line;
	} *slots;
	size_t n, cap;
};

static uint32_t
key_hash(const xmlChar *s)
{
	uint32_t h = 2166136261u;

	for (; s && *s; s++)
		h = (h ^ *s) * 16777619u;
	return h;
}

static void
keyset_clear(struct keyset *ks)
{
	for (size_t i = 0; i < ks->cap; i++)
		xmlFree(ks->slots[i].key);
	free(ks->slots);
	memset(ks, 0, sizeof(*ks));
}

/* Take @key; returns 0, or the line of its first appearance (>0), or -ENOMEM. */
static long
keyset_add(struct keyset *ks, xmlChar *key, long line)
{
	uint32_t h = key_hash(key);
	size_t i;

	if (2 * (ks->n + 1) > ks->cap) {
		size_t cap = ks->cap ? 2 * ks->cap : 16;
		struct keyslot *ns = calloc(cap, sizeof(*ns));
		if (!ns) {
			xmlFree(key);
			return -ENOMEM;
		}
		for (size_t j = 0; j < ks->cap; j++) {
			if (!ks->slots[j].key)
				continue;
			for (i = ks->slots[j].hash & (cap - 1); ns[i].key; i = (i + 1) & (cap - 1))
				;
			ns[i] = ks->slots[j];
		}
		free(ks->slots);
		ks->slots = ns;
		ks->cap = cap;
	}
	for (i = h & (ks->cap - 1); ks->slots[i].key; i = (i + 1) & (ks->cap - 1))
		if (ks->slots[i].hash == h && xmlStrEqual(ks->slots[i].key, key)) {
			xmlFree(key);
			return ks->slots[i].line > 0 ? ks->slots[i].line : 1;
		}
	ks->slots[i] = (struct keyslot){ .hash = h, .key = key, .line = line };
	ks->n++;
	return 0;
}

static int
lint_dict(struct lint *l, xmlNode *dict, int depth)
{
	xmlNode *c = next_element(dict->children, l);
	struct keyset seen = { 0 };

	while (c && !l->failed) {
		xmlChar *key;
		xmlNode *val;
		size_t was;
		long first;

		if (!xmlStrEqual(c->name, BAD_CAST "key")) {
			keyset_clear(&seen);
			return lint_fail(l, c, "<%s> inside <dict> where a <key> was expected", (const char *)c->name);
		}
		if (has_element_children(c) || entity_child(c)) {
			keyset_clear(&seen);
			return lint_fail(l, c, "<key> must hold plain text (no elements, no &entity; references)");
		}
		key = xmlNodeGetContent(c);
		val = next_element(c->next, l);
		if (l->failed) {
			xmlFree(key);
			keyset_clear(&seen);
			return -EBADMSG;
		}
		if (!val || xmlStrEqual(val->name, BAD_CAST "key")) {
			lint_fail(l, c, "key \"%s\" has no value", key ? (const char *)key : "");
			xmlFree(key);
			keyset_clear(&seen);
			return -EBADMSG;
		}
		/* duplicate keys: CoreFoundation keeps one silently; we refuse */
		if (key) {
			xmlChar *copy = xmlStrdup(key);
			first = copy ? keyset_add(&seen, copy, (long)xmlGetLineNo(c)) : -ENOMEM;
		} else {
			first = 0;
		}
		if (first != 0) {
			if (first < 0)
				lint_fail(l, c, "out of memory");
			else
				lint_fail(l, c, "key \"%s\" appears twice in this dictionary (first on line %ld)",
					  (const char *)key, first);
			xmlFree(key);
			keyset_clear(&seen);
			return -EBADMSG;
		}
		was = path_push(l, key ? (const char *)key : "");
		xmlFree(key);
		if (lint_value(l, val, depth + 1) < 0) {
			keyset_clear(&seen);
			return -EBADMSG;
		}
		path_pop(l, was);
		c = next_element(val->next, l);
	}
	keyset_clear(&seen);
	return l->failed ? -EBADMSG : 0;
}

static int
lint_value(struct lint *l, xmlNode *n, int depth)
{
	const char *name = (const char *)n->name;
	char text[128];

	if (depth > VALUE_MAX_DEPTH)
		return lint_fail(l, n, "values nested deeper than %d levels", VALUE_MAX_DEPTH);
	if (++l->nodes > PLIST_MAX_NODES)
		return lint_fail(l, n, "the property list holds more than %u values; udk reads at most that many",
				 PLIST_MAX_NODES);
	if (streq(name, "dict"))
		return lint_dict(l, n, depth);
	if (streq(name, "array")) {
		size_t i = 0;
		for (xmlNode *c = next_element(n->children, l); c && !l->failed; c = next_element(c->next, l), i++) {
			char idx[24];
			size_t was;
			snprintf(idx, sizeof(idx), "%zu", i);
			was = path_push(l, idx);
			if (lint_value(l, c, depth + 1) < 0)
				return -EBADMSG;
			path_pop(l, was);
		}
		return l->failed ? -EBADMSG : 0;
	}
	if (streq(name, "true") || streq(name, "false")) {
		if (n->children)
			return lint_fail(l, n, "<%s/> must be empty", name);
		return 0;
	}
	if (!streq(name, "string") && !streq(name, "integer") && !streq(name, "real") && !streq(name, "data") &&
	    !streq(name, "date"))
		return lint_fail(l, n,
				 "unknown element <%s>; a plist value is one of dict, array, string, integer, real, "
				 "true, false, date, data",
				 name);
	if (has_element_children(n))
		return lint_fail(l, n, "<%s> must hold plain text, not elements", name);
	if (entity_child(n))
		return lint_fail(l, n, "<%s> holds the entity reference &%s;; property lists hold the text itself", name,
				 (const char *)entity_child(n)->name);

	xmlChar *content = xmlNodeGetContent(n);
	int r = 0;

	if (streq(name, "integer")) {
		const char *t = trimmed(content, text, sizeof(text));
		const char *p = t;
		char *end = NULL;

		if (*p == '-' || *p == '+')
			p++;
		errno = 0;
		if (!*p || isspace((unsigned char)*p) || *p == '-' || *p == '+')
			r = lint_fail(l, n, "<integer> \"%s\" is not a number", t);
		else {
			(void)strtoull(p, &end, 0);
			if (errno || !end || *end)
				r = lint_fail(l, n,
					      "<integer> \"%s\" is not a 64-bit number (write decimal, or hex with 0x)",
					      t);
		}
	} else if (streq(name, "real")) {
		const char *t = trimmed(content, text, sizeof(text));
		char *end = NULL;

		errno = 0;
		(void)strtod(t, &end);
		if (!*t || errno || !end || *end)
			r = lint_fail(l, n, "<real> \"%s\" is not a number", t);
	} else if (streq(name, "data")) {
		for (const xmlChar *p = content; p && *p; p++)
			if (!isalnum(*p) && *p != '+' && *p != '/' && *p != '=' && !isspace(*p)) {
				r = lint_fail(l, n, "<data> holds '%c', which is not base64", *p);
				break;
			}
	} else if (streq(name, "date")) {
		const char *t = trimmed(content, text, sizeof(text));
		int y, mo, d, h, mi, s;
		char z = 0;

		if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z) != 7 || z != 'Z')
			r = lint_fail(l, n, "<date> \"%s\" is not of the form YYYY-MM-DDTHH:MM:SSZ", t);
	}
	xmlFree(content);
	return r;
}

static void
copy_xml_error(struct lint *l, const xmlError *e)
{
	size_t n;

	l->failed = true;
	if (!e) {
		snprintf(l->reason, l->reason_len, "not well-formed XML");
		return;
	}
	snprintf(l->reason, l->reason_len, "line %d: XML error: %s", e->line, e->message ? e->message : "?");
	/* libxml2 messages end with a newline */
	n = strlen(l->reason);
	while (n && (l->reason[n - 1] == '\n' || l->reason[n - 1] == ' '))
		l->reason[--n] = '\0';
}

int
plist_xml_lint(const char *buf, size_t len, char *reason, size_t reason_len);

int
plist_xml_lint(const char *buf, size_t len, char *reason, size_t reason_len)
{
	struct lint l = { .reason = reason, .reason_len = reason_len };
	xmlParserCtxtPtr ctxt;
	xmlDocPtr doc;
	xmlNode *root, *v;
	int r = 0;

	if (len > INT32_MAX)
		return -EFBIG;
	ctxt = xmlNewParserCtxt();
	if (!ctxt)
		return -ENOMEM;
	doc = xmlCtxtReadMemory(ctxt, buf, (int)len, "plist", NULL,
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA |
					XML_PARSE_BIG_LINES);
	if (!doc || !ctxt->wellFormed) {
		copy_xml_error(&l, xmlCtxtGetLastError(ctxt));
		r = -EBADMSG;
		goto out;
	}
	root = xmlDocGetRootElement(doc);
	if (!root || !xmlStrEqual(root->name, BAD_CAST "plist")) {
		r = lint_fail(&l, root, "the root element must be <plist>, not <%s>",
			      root ? (const char *)root->name : "nothing");
		goto out;
	}
	v = next_element(root->children, &l);
	if (l.failed) {
		r = -EBADMSG;
		goto out;
	}
	if (!v) {
		r = lint_fail(&l, root, "<plist> holds no value");
		goto out;
	}
	r = lint_value(&l, v, 0);
	if (r >= 0 && next_element(v->next, &l))
		r = lint_fail(&l, v->next, "<plist> holds more than one value");
	if (l.failed)
		r = -EBADMSG;
out:
	if (doc)
		xmlFreeDoc(doc);
	xmlFreeParserCtxt(ctxt);
	return r;
}
