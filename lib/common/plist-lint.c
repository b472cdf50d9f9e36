/* SPDX-License-Identifier: MIT */
/*
 * plist-lint.c - strict checking of XML property lists, with line numbers.
 *
 * libplist (which converts the plist) is lenient: "12abc" becomes 12, a key
 * without a value or a repeated key is silently dropped, an unknown element
 * is skipped.  In a driver manifest each of those is a bug the developer
 * wants to hear about, with the line.  So XML plists are first read with
 * libxml2 (no network, no entity expansion) and walked here.
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
};

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
		off = snprintf(l->reason, l->reason_len, "line %ld: ", (long)xmlGetLineNo(n));
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

static int
lint_dict(struct lint *l, xmlNode *dict, int depth)
{
	xmlNode *c = next_element(dict->children, l);

	while (c && !l->failed) {
		xmlChar *key;
		xmlNode *val;

		if (!xmlStrEqual(c->name, BAD_CAST "key"))
			return lint_fail(l, c, "<%s> inside <dict> where a <key> was expected", (const char *)c->name);
		if (has_element_children(c))
			return lint_fail(l, c, "<key> must hold plain text");
		key = xmlNodeGetContent(c);
		val = next_element(c->next, l);
		if (l->failed) {
			xmlFree(key);
			return -EBADMSG;
		}
		if (!val || xmlStrEqual(val->name, BAD_CAST "key")) {
			lint_fail(l, c, "key \"%s\" has no value", key ? (const char *)key : "");
			xmlFree(key);
			return -EBADMSG;
		}
		/* duplicate keys: CoreFoundation keeps one silently; we refuse */
		for (xmlNode *p = dict->children; p && p != c; p = p->next) {
			if (p->type != XML_ELEMENT_NODE || !xmlStrEqual(p->name, BAD_CAST "key"))
				continue;
			xmlChar *pk = xmlNodeGetContent(p);
			bool same = xmlStrEqual(pk, key);
			long first = (long)xmlGetLineNo(p);
			xmlFree(pk);
			if (same) {
				lint_fail(l, c, "key \"%s\" appears twice in this dictionary (first on line %ld)",
					  (const char *)key, first);
				xmlFree(key);
				return -EBADMSG;
			}
		}
		xmlFree(key);
		if (lint_value(l, val, depth + 1) < 0)
			return -EBADMSG;
		c = next_element(val->next, l);
	}
	return l->failed ? -EBADMSG : 0;
}

static int
lint_value(struct lint *l, xmlNode *n, int depth)
{
	const char *name = (const char *)n->name;
	char text[128];

	if (depth > VALUE_MAX_DEPTH)
		return lint_fail(l, n, "values nested deeper than %d levels", VALUE_MAX_DEPTH);
	if (streq(name, "dict"))
		return lint_dict(l, n, depth);
	if (streq(name, "array")) {
		for (xmlNode *c = next_element(n->children, l); c && !l->failed; c = next_element(c->next, l))
			if (lint_value(l, c, depth + 1) < 0)
				return -EBADMSG;
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
				XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
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
